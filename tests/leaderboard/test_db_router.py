"""The database router on any backend: which reads may go to a replica, and what a dead replica costs.

`replica_1` here is a second connection to the test database itself, so every query can be seen
landing on one alias or the other; the real streaming replica is in test_read_replicas.py.
"""

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.db import connections, router, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext

from leaderboard import db_router, selectors
from leaderboard.models import LeaderboardEntry
from tests.factories import make_player, submit
from users.models import User

REPLICA, HUNG = "replica_1", "replica_hung"
pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA, HUNG])


class SilentServer:
    """Accepts TCP connections and never answers: a replica that hangs rather than refuses."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture(scope="module", autouse=True)
def _replica_aliases(django_db_setup, django_db_blocker) -> Iterator[SilentServer]:  # type: ignore[no-untyped-def]
    """Two replica aliases, known before the tests' database access is checked.

    `replica_1` is a second connection to the test database; `replica_hung` a PostgreSQL
    server that accepts connections and never answers. Both mirror the test database, so
    nothing is created or flushed through them.
    """
    server = SilentServer()
    hung = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "leaderforge",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": server.port,
        "OPTIONS": {"connect_timeout": 2},
    }
    for alias, config in ((REPLICA, {**connections.settings["default"]}), (HUNG, hung)):
        config = connections.configure_settings({"default": config})["default"]
        config["TEST"] = {**config["TEST"], "MIRROR": "default"}
        connections.settings[alias] = config
    yield server
    with django_db_blocker.unblock():
        for alias in (REPLICA, HUNG):
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]
    server.close()


@pytest.fixture
def replica(settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.DATABASE_REPLICAS = [REPLICA]
    db_router.forget_down_replicas()
    yield REPLICA
    db_router.forget_down_replicas()


@pytest.fixture
def players() -> list[User]:
    made = [make_player(f"router_{i}") for i in range(3)]
    for i, p in enumerate(made):
        submit(p, 100 * (i + 1))
    selectors.list_active_boards()  # boards are loaded (and cached) before any routed request
    return made


class Captured:
    """Queries each alias ran during a block."""

    def __init__(self, *aliases: str) -> None:
        self.contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in aliases}

    def __enter__(self) -> "Captured":
        for context in self.contexts.values():
            context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        for context in self.contexts.values():
            context.__exit__(*exc)

    def sql(self, alias: str) -> list[str]:
        return [q["sql"] for q in self.contexts[alias].captured_queries]


def test_without_replicas_every_read_uses_the_primary(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATABASE_REPLICAS = []
    with db_router.stale_reads():
        assert router.db_for_read(LeaderboardEntry) == "default"
        assert LeaderboardEntry.objects.all().db == "default"


def test_pages_and_rank_reads_go_to_the_replica(replica: str, players: list[User]) -> None:
    client = Client()
    with Captured("default", replica) as captured:
        assert client.get("/api/leaderboard/top?limit=3").status_code == 200
        assert client.get(f"/api/leaderboard/rank/{players[0].pk}").status_code == 200
        assert client.get(f"/api/v1/players/{players[0].pk}").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get(f"/players/{players[1].pk}/").status_code == 200
        assert client.get("/players/search/?q=router_").status_code == 200
    assert captured.sql("default") == []
    assert any('"leaderboard"' in sql for sql in captured.sql(replica))
    assert any("router_" in sql or "LIKE" in sql for sql in captured.sql(replica))


def test_submits_never_touch_the_replica(replica: str, players: list[User], api_key_headers) -> None:  # type: ignore[no-untyped-def]
    client = Client(headers=api_key_headers)
    body = {"user_id": players[0].pk, "score": 5}
    with Captured("default", replica) as captured:
        first = client.post("/api/leaderboard/submit", body, content_type="application/json")
        replayed = client.post(
            "/api/leaderboard/submit",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": "k-1"},
        )
        again = client.post(
            "/api/leaderboard/submit",
            body,
            content_type="application/json",
            headers={"Idempotency-Key": "k-1"},
        )
    assert (first.status_code, replayed.status_code, again.status_code) == (201, 201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert captured.sql(replica) == []
    assert any("INSERT INTO leaderboard" in sql for sql in captured.sql("default"))


def test_reads_in_a_transaction_or_after_a_write_use_the_primary(replica: str, players: list[User]) -> None:
    with db_router.stale_reads():
        assert LeaderboardEntry.objects.all().db == replica
        with transaction.atomic():
            assert LeaderboardEntry.objects.all().db == "default"
        assert User.objects.select_for_update().db == "default"
        # select_for_update asked for the primary as for a write: the rest of the block reads it.
        assert LeaderboardEntry.objects.all().db == "default"
    with db_router.stale_reads():
        assert LeaderboardEntry.objects.all().db == replica
        submit(players[0], 1)  # a write: every later read of this block sees it
        assert LeaderboardEntry.objects.all().db == "default"
        with Captured("default", replica) as captured:
            standing = selectors.get_player_rank(user_id=players[0].pk)
        assert standing is not None and standing.total_score == 101
        assert captured.sql(replica) == []
    # Outside a stale-reads view (API keys, the admin, commands) every read is the primary's.
    assert LeaderboardEntry.objects.all().db == "default"


def test_a_write_anywhere_earlier_in_the_request_pins_its_reads_and_the_next_request_starts_afresh(
    replica: str, players: list[User]
) -> None:
    """A write made before the view (by a middleware, say) counts for the request; never for the next one."""

    @db_router.stale_reads_ok
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(LeaderboardEntry.objects.all().db)

    def write_then_view(request: HttpRequest) -> HttpResponse:
        submit(players[0], 1)
        return view(request)

    request = RequestFactory().get("/")
    assert db_router.ReplicaRoutingMiddleware(write_then_view)(request).content == b"default"
    assert db_router.ReplicaRoutingMiddleware(view)(request).content == replica.encode()


def test_migrations_never_reach_a_replica(replica: str) -> None:
    for model in apps.get_models():
        assert router.allow_migrate_model("default", model)
        assert not router.allow_migrate_model(replica, model)


def test_a_hung_replica_costs_one_connect_timeout_then_reads_use_the_primary(
    settings, players: list[User], _replica_aliases: SilentServer
) -> None:  # type: ignore[no-untyped-def]
    server = _replica_aliases
    settings.DATABASE_REPLICAS = [HUNG]
    settings.DATABASE_REPLICA_RETRY_SECONDS = 3
    db_router.forget_down_replicas()
    client = Client()
    tried = len(server.accepted)
    started = time.monotonic()
    first = client.get("/api/leaderboard/top?limit=3")
    first_took = time.monotonic() - started
    assert first.status_code == 200
    assert [row["user_id"] for row in first.json()["top_players"]] == [p.pk for p in reversed(players)]
    assert first_took < 4  # one connect timeout (2 s) and the primary's answer
    assert len(server.accepted) == tried + 1

    started = time.monotonic()
    for _ in range(5):
        assert client.get("/api/leaderboard/top?limit=3").status_code == 200
    assert time.monotonic() - started < 1.5  # none of them waits for the replica
    assert len(server.accepted) == tried + 1

    time.sleep(3.1)
    assert client.get("/api/leaderboard/top?limit=3").status_code == 200
    assert len(server.accepted) == tried + 2  # tried again once the retry interval passed
    db_router.forget_down_replicas()
