"""A private redis-server for tests that stop and start Redis (never the shared one)."""

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.server_process import accepts_connections, free_port, wait_until_ready


class PrivateRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until_ready(
            lambda: accepts_connections(self.port, timeout=0.2),
            self.process,
            name="private redis-server",
            seconds=10,
            interval=0.05,
        )

    def stop(self) -> None:
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None


def mark_redis_long_lived() -> None:
    """Tell the rank index this Redis did not just lose its data, so a rebuild need not wait out
    announcements made before the loss (no test transaction spans a flush)."""
    from django.conf import settings
    from django_redis import get_redis_connection

    from leaderboard.ranking import redis_index

    if settings.REDIS_URL:
        get_redis_connection("default").set(redis_index.epoch_key(), 0)


def private_redis_fixture(settings) -> Iterator[PrivateRedis]:  # type: ignore[no-untyped-def]
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    server.start()
    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": server.url,
            "OPTIONS": {
                **settings.CACHES["default"]["OPTIONS"],
                "SOCKET_TIMEOUT": 0.2,
                "SOCKET_CONNECT_TIMEOUT": 0.2,
            },
        }
    }
    mark_redis_long_lived()
    yield server
    server.stop()
