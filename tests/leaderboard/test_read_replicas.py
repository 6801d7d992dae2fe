"""Read replicas for real: a private primary and a streaming replica made by pg_basebackup -R.

The app's migrations run on the primary only and reach the replica by replication. With the app
pointed at both (`default` and `replica_1`, as DATABASE_REPLICA_URLS sets them up), routed reads
must run on the standby, writes never, submits must replicate, a submitting request must read
its own writes while the replica lags, and a stopped replica must cost its readers a bounded delay.
"""

import json
import time
from collections.abc import Iterator

import pytest
from django.db import connections
from django.test import Client

from leaderboard import db_router, selectors, services
from tests.leaderboard.test_db_router import Captured
from tests.leaderforge.test_database_unavailable import call_wsgi
from tests.pg_cluster import PrivateCluster, cluster_root, database_settings, databases_at, migrate
from users import services as user_services
from users.models import User

pytestmark = pytest.mark.postgres
DB = "leaderforge"


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[PrivateCluster, PrivateCluster]]:
    with cluster_root("lf-replica-") as root:
        primary = PrivateCluster(root, "primary").init(wal_level="replica", hot_standby=True)
        primary.start()
        try:
            primary.create_database(DB)
            replica = primary.make_replica("replica")
            try:
                migrate(primary.url(DB))  # the primary only: the schema reaches the replica by WAL
                replica.wait_for_replay(primary)
                yield primary, replica
            finally:
                replica.stop(mode="immediate")
        finally:
            primary.stop(mode="immediate")


@pytest.fixture
def app(clusters, settings, django_db_blocker) -> Iterator[tuple[PrivateCluster, PrivateCluster]]:  # type: ignore[no-untyped-def]
    """The app on the private primary, with the replica as its one read replica."""
    primary, replica = clusters
    settings.REDIS_URL = ""  # ranks from SQL: the rank SQL fallback is what reads the replica
    settings.DATABASE_REPLICAS = ["replica_1"]
    db_router.forget_down_replicas()
    with (
        django_db_blocker.unblock(),
        databases_at(
            {"default": database_settings(primary.url(DB)), "replica_1": database_settings(replica.url(DB))}
        ),
    ):
        selectors.list_active_boards()
        yield primary, replica
    db_router.forget_down_replicas()


def make_players(prefix: str, n: int) -> list[User]:
    return [user_services.register_player(username=f"{prefix}_{i}") for i in range(n)]


def submit_json(client: Client, user_id: int, score: int, **headers: str) -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/leaderboard/submit",
        {"user_id": user_id, "score": score},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def test_migrations_ran_on_the_primary_and_replicated(app) -> None:  # type: ignore[no-untyped-def]
    primary, replica = app
    applied = "SELECT app, name FROM django_migrations ORDER BY id"
    assert replica.query(applied, dbname=DB) == primary.query(applied, dbname=DB)
    assert replica.value("SELECT pg_is_in_recovery()")
    with connections["replica_1"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,)
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (False,)


def test_routed_reads_run_on_the_standby_and_submits_on_the_primary(app, api_key_headers) -> None:  # type: ignore[no-untyped-def]
    primary, replica = app
    players = make_players("routed", 3)
    client = Client(headers=api_key_headers)
    with Captured("default", "replica_1") as captured:
        totals = [submit_json(client, p.pk, 10 * (i + 1))["total_score"] for i, p in enumerate(players)]
    assert totals == [10, 20, 30]
    assert captured.sql("replica_1") == []

    replica.wait_for_replay(primary)  # replication carries the submits
    with Captured("default", "replica_1") as captured:
        top = client.get("/api/leaderboard/top?limit=100").json()
        rank = client.get(f"/api/leaderboard/rank/{players[0].pk}").json()
        page = client.get(f"/players/{players[2].pk}/")
    assert captured.sql("default") == []
    assert any('"leaderboard"' in sql for sql in captured.sql("replica_1"))
    ours = [row for row in top["top_players"] if row["user_id"] in {p.pk for p in players}]
    assert [(row["user_id"], row["total_score"]) for row in ours] == [
        (players[2].pk, 30),
        (players[1].pk, 20),
        (players[0].pk, 10),
    ]
    assert rank["total_score"] == 10 and rank["rank"] == top["total_players"]
    assert page.status_code == 200


def test_a_submitting_request_reads_its_own_writes_while_the_replica_lags(app, api_key_headers) -> None:  # type: ignore[no-untyped-def]
    primary, replica = app
    (player,) = make_players("ryw", 1)
    client = Client(headers=api_key_headers)
    submit_json(client, player.pk, 100)
    replica.wait_for_replay(primary)
    replica.query("SELECT pg_wal_replay_pause()")
    try:
        answer = submit_json(client, player.pk, 5, **{"Idempotency-Key": "ryw-1"})
        assert answer["total_score"] == 105 and answer["session_count"] == 2
        # The replica is behind: a plain read shows the old total, which proves reads go there...
        assert client.get(f"/api/leaderboard/rank/{player.pk}").json()["total_score"] == 100
        # ...while the submitting request, its idempotent replay, and a read after a write in the same
        # unit of work all see the primary.
        with Captured("default", "replica_1") as captured:
            replay = submit_json(client, player.pk, 5, **{"Idempotency-Key": "ryw-1"})
            with db_router.stale_reads():
                services.submit_score(user_id=player.pk, score=1, game_mode="solo")
                standing = selectors.get_player_rank(user_id=player.pk)
        assert replay == answer
        assert standing is not None and standing.total_score == 106
        assert captured.sql("replica_1") == []
    finally:
        replica.query("SELECT pg_wal_replay_resume()")
    replica.wait_for_replay(primary)
    assert client.get(f"/api/leaderboard/rank/{player.pk}").json()["total_score"] == 106


def test_reads_fall_back_to_the_primary_within_a_bound_while_the_replica_is_down(app, settings) -> None:  # type: ignore[no-untyped-def]
    primary, replica = app
    settings.DATABASE_REPLICA_RETRY_SECONDS = 1
    (player,) = make_players("fallback", 1)
    services.submit_score(user_id=player.pk, score=7, game_mode="solo")
    replica.wait_for_replay(primary)
    path = f"/api/leaderboard/rank/{player.pk}"

    def rank_from(alias: str) -> bool:
        """One request as gunicorn makes it; True when it read from `alias`."""
        with Captured(alias) as captured:
            status, _, body = call_wsgi("GET", path)
        assert status == 200, body
        assert json.loads(body)["total_score"] == 7
        return any('"leaderboard"' in sql for sql in captured.sql(alias))

    assert rank_from("replica_1")  # the replica's connection is open when it dies
    replica.stop(mode="immediate")
    try:
        started = time.monotonic()
        assert all(rank_from("default") for _ in range(5))
        assert time.monotonic() - started < settings.DATABASE_REPLICA_CONNECT_TIMEOUT + 2
    finally:
        replica.start()
    # Back up: once the retry interval has passed, reads return to the replica by themselves.
    replica.wait_for_replay(primary)
    deadline = time.monotonic() + 30
    while not rank_from("replica_1"):
        assert time.monotonic() < deadline, "reads never returned to the restarted replica"
        time.sleep(0.2)


def test_a_replica_that_dies_under_an_open_connection_fails_one_request_then_reads_use_the_primary(
    app, settings
) -> None:  # type: ignore[no-untyped-def]
    """The test client keeps connections across requests without Django's per-request health check,
    as a replica dying in the middle of a request looks: that request fails, the next ones do not."""
    primary, replica = app
    settings.DATABASE_REPLICA_RETRY_SECONDS = 30
    (player,) = make_players("midway", 1)
    services.submit_score(user_id=player.pk, score=3, game_mode="solo")
    replica.wait_for_replay(primary)
    client = Client()
    path = f"/api/leaderboard/rank/{player.pk}"
    assert client.get(path).status_code == 200
    replica.stop(mode="immediate")
    try:
        first = client.get(path)
        assert first.status_code == 503 and first.json()["error"]["code"] == "service_unavailable"
        later = [client.get(path) for _ in range(3)]
        assert [r.status_code for r in later] == [200] * 3
        assert {r.json()["total_score"] for r in later} == {3}
    finally:
        replica.start()
