"""A private network namespace whose loopback a test can unplug: a real blackhole, not a refusal.

On a shared loopback a peer that merely stops reading still has its kernel acknowledge every packet,
so TCP on the other end never notices anything. Taking the namespace's `lo` down makes the kernel drop
the packets instead, as a cut link does: no RST, no FIN, just silence. Only processes and sockets the
test puts in the namespace are affected; the machine's own network is not touched. A `TcpProxy`
(tests/tcp_proxy.py) given the namespace listens inside it and can blackhole its link.
"""

import contextlib
import ctypes
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class PrivateNetwork:
    """A network namespace held open by a sleeping process; `lo` is up until `unplug()`."""

    def __init__(self, holder: subprocess.Popen[bytes]) -> None:
        self._holder = holder
        self.path = f"/proc/{holder.pid}/ns/net"

    def nsenter(self) -> list[str]:
        """The command prefix that runs a program inside the namespace."""
        return ["nsenter", f"--net={self.path}"]

    def unplug(self) -> None:
        subprocess.run([*self.nsenter(), "ip", "link", "set", "lo", "down"], check=True)

    def socket_inside(self, build) -> socket.socket:  # type: ignore[no-untyped-def]
        """Call build() on a thread that joined the namespace, so the socket it makes lives there."""
        made: list[object] = []

        def enter_and_build() -> None:
            # A network namespace is per thread: this thread joins it and ends, the caller's stays put.
            with open(self.path) as ns:
                if _libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    made.append(OSError(ctypes.get_errno(), "setns failed"))
                    return
            try:
                made.append(build())
            except OSError as error:
                made.append(error)

        thread = threading.Thread(target=enter_and_build)
        thread.start()
        thread.join(timeout=10)
        result = made[0]
        if isinstance(result, BaseException):
            raise result
        assert isinstance(result, socket.socket)
        return result


@contextlib.contextmanager
def private_network(seconds: int = 300) -> Iterator[PrivateNetwork]:
    """A fresh namespace for the block; the holder sleeps a bounded time and is ended afterwards."""
    holder = subprocess.Popen(["unshare", "--net", "sh", "-c", f"ip link set lo up && exec sleep {seconds}"])
    try:
        network = PrivateNetwork(holder)
        deadline = time.monotonic() + 10
        while "LOWER_UP" not in _lo_state(network):
            if time.monotonic() > deadline:
                raise TimeoutError("the private namespace's loopback did not come up")
            time.sleep(0.05)
        yield network
    finally:
        holder.terminate()
        holder.wait(timeout=10)


def _lo_state(network: PrivateNetwork) -> str:
    result = subprocess.run([*network.nsenter(), "ip", "link", "show", "lo"], capture_output=True, text=True)
    return result.stdout
