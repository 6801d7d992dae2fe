"""A blackholed link to PostgreSQL: the request in flight gets the JSON 503 in seconds, /healthz keeps answering.

gunicorn (sync workers, DEBUG=false) runs in a private network namespace and reaches the real
PostgreSQL and Redis through proxies listening there. A submit is left waiting on a row lock this test
holds, then the namespace's link is cut: packets are dropped, no connection is reset. Without TCP
keepalives and `tcp_user_timeout` the worker would wait until gunicorn kills it at its 30 s timeout and
the client would see a dropped connection.
"""

import http.client
import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection, transaction

from leaderboard.models import GameSession
from tests.factories import make_api_key, make_player
from tests.gunicorn_server import get, gunicorn, production_env, wait_until_serving
from tests.network_partition import private_network
from tests.tcp_proxy import TcpProxy
from users.models import User

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

GUNICORN_TIMEOUT = 30
# Noticing the dead link (tcp_user_timeout, 6 s) plus the one reconnect Django tries on leaving the
# transaction (the pool timeout, 5 s): well inside gunicorn's timeout.
BOUND_SECONDS = 15


def test_a_blackholed_postgres_link_is_a_json_503_within_the_bound_and_healthz_keeps_answering() -> None:
    player = make_player()
    key = make_api_key()
    db = connection.settings_dict
    redis = urlsplit(settings.REDIS_URL)
    with private_network() as network:
        db_proxy = TcpProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)), network)
        redis_proxy = TcpProxy((redis.hostname or "127.0.0.1", redis.port or 6379), network)
        db_proxy.start()
        redis_proxy.start()
        # The HTTP socket lives outside the namespace (this test reaches it); gunicorn inherits it.
        listener = socket.create_server(("127.0.0.1", 0))
        listener.set_inheritable(True)
        port = listener.getsockname()[1]
        env = production_env(
            DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{db_proxy.port}/{db['NAME']}",
            REDIS_URL=f"redis://127.0.0.1:{redis_proxy.port}{redis.path}",
            GUNICORN_BIND=f"fd://{listener.fileno()}",
            GUNICORN_WORKER_CLASS="sync",
            GUNICORN_WORKERS="3",
            GUNICORN_TIMEOUT=str(GUNICORN_TIMEOUT),
        )
        if db.get("PASSWORD"):
            env["PGPASSWORD"] = db["PASSWORD"]
        try:
            with gunicorn(env, prefix=network.nsenter(), pass_fds=[listener.fileno()]) as server:
                wait_until_serving(port, server)
                assert get(port, f"/api/v1/players/{player.pk}")[0] == 200

                outcome: dict[str, object] = {}

                def submit_in_flight() -> None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GUNICORN_TIMEOUT + 10)
                    body = json.dumps({"user_id": player.pk, "score": 5})
                    headers = {
                        "Content-Type": "application/json",
                        "Authorization": f"Api-Key {key}",
                        "Idempotency-Key": "partition-1",
                    }
                    try:
                        conn.request("POST", "/api/leaderboard/submit", body=body, headers=headers)
                        response = conn.getresponse()
                        outcome.update(status=response.status, body=response.read(), at=time.monotonic())
                    except OSError as error:
                        outcome.update(error=repr(error), at=time.monotonic())
                    finally:
                        conn.close()

                healthz: list[tuple[int | str, float]] = []
                with transaction.atomic():
                    # Hold the player's row: the server's submit is left waiting on PostgreSQL for it.
                    User.objects.select_for_update().get(pk=player.pk)
                    submitter = threading.Thread(target=submit_in_flight)
                    submitter.start()
                    time.sleep(1.0)
                    assert submitter.is_alive(), outcome

                    db_proxy.blackhole()
                    redis_proxy.blackhole()
                    cut_at = time.monotonic()
                    # A sync worker stuck on the dead link serves nothing; the other workers serve /healthz.
                    while submitter.is_alive() and time.monotonic() - cut_at < GUNICORN_TIMEOUT + 10:
                        started = time.monotonic()
                        try:
                            status: int | str = get(port, "/healthz", timeout=5)[0]
                        except OSError as error:
                            status = repr(error)
                        healthz.append((status, time.monotonic() - started))
                        time.sleep(0.5)
                    submitter.join(timeout=GUNICORN_TIMEOUT + 15)

                assert "error" not in outcome, outcome
                waited = float(outcome["at"]) - cut_at  # type: ignore[arg-type]
                assert outcome["status"] == 503, outcome
                assert json.loads(outcome["body"])["error"]["code"] == "service_unavailable"  # type: ignore[arg-type]
                assert waited < BOUND_SECONDS, f"the 503 came {waited:.1f} s after the cut"
                assert healthz and all(status == 200 and took < 3 for status, took in healthz), healthz
        finally:
            listener.close()
            db_proxy.stop()
            redis_proxy.stop()
    # The cut submit never reached COMMIT: PostgreSQL rolled it back, nothing was counted.
    assert not GameSession.objects.filter(user_id=player.pk).exists()
