"""Start the real gunicorn (gunicorn.conf.py) with production-like settings for a test, and talk to it.

The production settings need their variables; these are the throwaway values a test gives them.
HTTPS redirects are off because tests speak plain HTTP to 127.0.0.1, as compose's local stack does.
"""

import contextlib
import http.client
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.server_process import running, wait_until_ready

ROOT = Path(__file__).resolve().parents[1]


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


def healthz_answers(port: int) -> bool:
    return bool(get(port, "/healthz", timeout=2)[0] == 200)


def wait_until_serving(
    port: int, process: subprocess.Popen[bytes] | None = None, seconds: float = 30.0
) -> None:
    """Until /healthz on the port answers 200; fails early if the process exits."""
    wait_until_ready(
        lambda: healthz_answers(port),
        process,
        name=f"gunicorn on port {port}",
        seconds=seconds,
        interval=0.2,
    )


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str],
    *,
    prefix: Sequence[str] = (),
    pass_fds: Sequence[int] = (),
    port: int | None = None,
    stderr: int | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run gunicorn with gunicorn.conf.py until the block ends; `prefix` wraps the command (e.g. nsenter).

    With a `port`, the block starts once /healthz answers there.
    """
    with running(
        [*prefix, sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "leaderforge.wsgi:application"],
        name="gunicorn",
        ready=None if port is None else (lambda: healthz_answers(port)),
        cwd=ROOT,
        env=env,
        pass_fds=pass_fds,
        stderr=stderr,
    ) as process:
        yield process
