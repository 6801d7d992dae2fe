"""A TCP proxy a test puts in front of a real server to play its faults: a dead server or a cut link.

`stop()` refuses new connections and cuts the open ones, as a dead server would; `start()` again on the
same port ends the outage. Given a private network (tests/network_partition.py), the proxy listens
inside it and `blackhole()` plays a cut link instead: every socket stays open, nothing more is
forwarded or read, and the namespace's loopback goes down so the kernel drops the packets too.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from tests.network_partition import PrivateNetwork


class TcpProxy:
    """Forward 127.0.0.1:<port> to an upstream address until stopped; restartable on the same port.

    Upstream connections are made from the caller's namespace (the real server); with a `network`, the
    listener and the connections it accepts live in that namespace.
    """

    def __init__(self, upstream: tuple[str, int], network: PrivateNetwork | None = None) -> None:
        self.upstream = upstream
        self.network = network
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._blackholed = threading.Event()

    def start(self) -> None:
        listener = self._listen() if self.network is None else self.network.socket_inside(self._listen)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one, as a dead server would."""
        with self._lock:
            to_close = [s for s in [self._listener, *self._sockets] if s is not None]
            self._listener, self._sockets = None, []
        for sock in to_close:
            shutdown(sock)

    def blackhole(self) -> None:
        """Forward and read nothing more, close nothing, and unplug the network: a cut link."""
        if self.network is None:
            raise RuntimeError("a blackhole needs the proxy in a private network")
        self._blackholed.set()
        self.network.unplug()

    def _listen(self) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                shutdown(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while (data := source.recv(65536)) and not self._blackholed.is_set():
                target.sendall(data)
        if self._blackholed.is_set():
            return  # a cut link neither forwards nor closes: stop() closes the sockets
        shutdown(source)
        shutdown(target)


def shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


P = TypeVar("P", bound=TcpProxy)


@contextlib.contextmanager
def database_behind(make_proxy: Callable[[tuple[str, int]], P]) -> Iterator[P]:
    """Point the default database at a proxy (made for the real server's address) for the block."""
    from django.db import connections

    database = connections["default"]
    original = {"HOST": database.settings_dict["HOST"], "PORT": database.settings_dict["PORT"]}
    proxy = make_proxy((original["HOST"] or "127.0.0.1", int(original["PORT"] or 5432)))
    proxy.start()
    database.close()
    database.settings_dict.update(HOST="127.0.0.1", PORT=str(proxy.port))
    try:
        yield proxy
    finally:
        database.close()
        database.settings_dict.update(original)
        proxy.stop()
