"""Start the real gunicorn (gunicorn.conf.py) with production-like settings for a test, and talk to it.

The production settings need their variables; these are the throwaway values a test gives them.
HTTPS redirects are off because tests speak plain HTTP to 127.0.0.1, as compose's local stack does.
"""

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def production_env(**overrides: str) -> dict[str, str]:
    """The environment of a DEBUG=false process, with rate limits off so only the fault under test shows."""
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "test-only-secret-key-for-a-private-gunicorn",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_HSTS_SECONDS": "0",
        "SECURE_COOKIES": "false",
        "LEADERBOARD_SUBMIT_RATE_PER_PLAYER": "off",
        "LEADERBOARD_SUBMIT_RATE_PER_API_KEY": "off",
        "LEADERBOARD_READ_RATE_PER_CLIENT": "off",
        "RANK_INDEX_AUTO_REBUILD": "false",
        "GUNICORN_LOG_LEVEL": "warning",
    }
    env.update(overrides)
    return env


def get(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """One GET: (status, headers, body); raises OSError when the server does not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_until_serving(
    port: int, process: subprocess.Popen[bytes] | None = None, seconds: float = 30.0
) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if get(port, "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing answered /healthz on port {port} within {seconds} s")
        time.sleep(0.2)


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], *, prefix: Sequence[str] = (), pass_fds: Sequence[int] = (), port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run gunicorn with gunicorn.conf.py until the block ends; `prefix` wraps the command (e.g. nsenter)."""
    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "leaderforge.wsgi:application"],
        cwd=ROOT,
        env=env,
        pass_fds=pass_fds,
        stdout=subprocess.DEVNULL,
    )
    try:
        if port is not None:
            wait_until_serving(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
