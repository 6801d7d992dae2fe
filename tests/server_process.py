"""Run a server process for a test: pick a free port, start it, wait until it is ready, end it after.

Every private server a test starts (gunicorn, nginx, runserver) goes through `running`, so each waits the same
bounded way, fails at once when the process dies while starting, and is always ended.
"""

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepts_connections(port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection on 127.0.0.1:port (an OSError when not)."""
    socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
    return True


def wait_until_ready(
    ready: Callable[[], bool],
    process: subprocess.Popen[bytes] | None,
    *,
    name: str,
    seconds: float,
    interval: float,
) -> None:
    """Poll ready() (an OSError counts as not yet) until it holds; raise if the process exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(OSError):
            if ready():
                return
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} was not ready within {seconds:g} s")
        time.sleep(interval)


@contextlib.contextmanager
def running(
    command: Sequence[str],
    *,
    name: str,
    ready: Callable[[], bool] | None = None,
    seconds: float = 30.0,
    interval: float = 0.2,
    stop_seconds: float = 30.0,
    **popen: Any,
) -> Iterator[subprocess.Popen[bytes]]:
    """The process for the block, ready() first if given; terminated after, killed if it lingers."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, **popen)
    try:
        if ready is not None:
            wait_until_ready(ready, process, name=name, seconds=seconds, interval=interval)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=stop_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
