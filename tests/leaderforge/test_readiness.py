"""/readyz against real servers: each dependency state gives the answer an orchestrator needs."""

import json
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

from leaderboard import selectors
from leaderboard.boards import BoardPeriod
from leaderboard.ranking import redis_index
from leaderforge import health
from tests.leaderforge.test_database_unavailable import call_wsgi, postgres_proxy  # noqa: F401
from tests.redis_server import PrivateRedis
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ask_about_migrations_again() -> Iterator[None]:
    health.forget_migrations()
    yield
    health.forget_migrations()


def readyz(client: Client) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, json.loads(response.content)


def test_ready_when_database_migrations_and_redis_are_fine(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    status, body = readyz(client)

    assert status == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"
    assert body["checks"]["redis"] == ("ok" if settings.REDIS_URL else "absent")
    assert set(body["rank_index"]) == {b.slug for b in selectors.list_active_boards()}


def test_embedded_default_without_redis_is_ready_with_ranks_from_sql(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = ""

    status, body = readyz(client)

    assert status == 200 and body["checks"]["redis"] == "absent"
    assert set(body["rank_index"].values()) == {"sql"}


def test_unapplied_migrations_make_it_unready_and_applied_ones_are_remembered(client: Client) -> None:
    recorder = MigrationRecorder(connection)
    last = recorder.migration_qs.filter(app="leaderboard").order_by("-name").first()
    assert last is not None
    recorder.record_unapplied("leaderboard", last.name)

    status, body = readyz(client)
    assert status == 503
    assert body["status"] == "unavailable" and body["checks"]["migrations"] == "pending"

    recorder.record_applied("leaderboard", last.name)
    assert readyz(client)[0] == 200
    # Once all are applied the answer is kept: no migration graph is loaded on later probes.
    recorder.record_unapplied("leaderboard", last.name)
    assert readyz(client)[0] == 200
    recorder.record_applied("leaderboard", last.name)


@pytest.mark.redis
def test_incomplete_index_is_reported_but_still_ready_then_ready_once_rebuilt(
    client: Client, private_redis: PrivateRedis
) -> None:
    board = selectors.get_default_board_ref()

    status, body = readyz(client)
    assert status == 200, body
    assert body["checks"]["redis"] == "ok"
    assert body["rank_index"][board.slug] == "rebuilding"

    redis_index.rebuild(board_period=BoardPeriod(board.id))
    status, body = readyz(client)
    assert status == 200 and body["rank_index"][board.slug] == "ready"


@pytest.mark.redis
def test_redis_down_is_unready_unless_told_to_serve_from_sql(
    client: Client, private_redis: PrivateRedis, settings
) -> None:  # type: ignore[no-untyped-def]
    redis_index.rebuild(board_period=BoardPeriod(selectors.get_default_board_ref().id))
    private_redis.stop()

    status, body = readyz(client)
    assert status == 503, body
    assert body["checks"] == {"database": "ok", "migrations": "ok", "redis": "unavailable"}
    assert set(body["rank_index"].values()) == {"sql"}

    settings.READYZ_REQUIRE_REDIS = False
    status, body = readyz(client)
    assert status == 200 and body["checks"]["redis"] == "unavailable"

    settings.READYZ_REQUIRE_REDIS = True
    private_redis.start()
    redis_index.close_breaker()
    assert readyz(client)[0] == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_down_is_unready_with_json_detail_then_ready_again(postgres_proxy: TcpProxy) -> None:  # noqa: F811
    assert call_wsgi("GET", "/readyz")[0] == 200

    postgres_proxy.stop()
    status, headers, content = call_wsgi("GET", "/readyz")
    assert status == 503
    assert headers["Content-Type"] == "application/json" and headers["X-Request-ID"]
    body = json.loads(content)
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unavailable" and body["checks"]["migrations"] == "unknown"
    # Liveness does not care.
    assert call_wsgi("GET", "/healthz")[0] == 200

    postgres_proxy.start()
    assert call_wsgi("GET", "/readyz")[0] == 200


def test_readiness_is_exempt_from_the_https_redirect(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 301
