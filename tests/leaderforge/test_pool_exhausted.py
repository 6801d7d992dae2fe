"""A full connection pool answers 503 after the pool timeout instead of hanging.

gunicorn serves the app with Django's psycopg pool of one connection. A submit holds that connection
while it waits for a row lock this test holds; a second request then finds no free connection.
"""

import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection, transaction

from tests.factories import make_api_key, make_player
from tests.gunicorn_server import gunicorn
from tests.server_process import free_port
from users.models import User

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

POOL_TIMEOUT = 1.0


def request(
    url: str, body: dict[str, int] | None = None, key: str = ""
) -> tuple[int, dict[str, object], str]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"} if body else {}
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers.get("Retry-After", "")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Retry-After", "")


def test_an_exhausted_pool_is_a_503_after_the_pool_timeout() -> None:
    player = make_player()
    key = make_api_key()
    port = free_port()
    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}",
        "DATABASE_POOL": "true",
        "DATABASE_POOL_MIN_SIZE": "1",
        "DATABASE_POOL_MAX_SIZE": "1",
        "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKER_CLASS": "gthread",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
        "LEADERBOARD_SUBMIT_RATE_PER_PLAYER": "off",
    }
    env.pop("REDIS_URL", None)
    base = f"http://127.0.0.1:{port}"
    with gunicorn(env, port=port, stderr=subprocess.DEVNULL):
        submit_result: list[int] = []
        with transaction.atomic():
            # Hold the player's row: the server's submit waits on it, keeping the pool's only connection.
            User.objects.select_for_update().get(pk=player.pk)
            submitter = threading.Thread(
                target=lambda: submit_result.append(
                    request(f"{base}/api/leaderboard/submit", {"user_id": player.pk, "score": 5}, key)[0]
                )
            )
            submitter.start()
            time.sleep(1.0)

            started = time.monotonic()
            status, body, retry_after = request(f"{base}/api/v1/players/{player.pk}")
            waited = time.monotonic() - started

        submitter.join(timeout=30)
        assert status == 503
        assert body["error"]["code"] == "service_unavailable"  # type: ignore[index]
        assert retry_after
        assert POOL_TIMEOUT * 0.8 <= waited < POOL_TIMEOUT + 5
        # Once the lock is gone the held submit completes, and the pool serves again.
        assert submit_result == [201]
        assert request(f"{base}/api/v1/players/{player.pk}")[0] == 200
