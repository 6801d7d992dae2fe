"""Redis going away and coming back, with a private redis-server this test starts and stops."""

import time

import pytest
from django.test import Client, TestCase

from leaderboard import ranking, selectors
from leaderboard.models import LeaderboardEntry
from leaderboard.ranking import redis_index
from tests.factories import make_player, submit
from tests.redis_server import PrivateRedis

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def post_score(client: Client, player, score: int):  # type: ignore[no-untyped-def]
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            "/api/leaderboard/submit", {"user_id": player.pk, "score": score}, content_type="application/json"
        )


def test_redis_down_reads_answer_from_sql_and_submits_commit(
    private_redis: PrivateRedis, api_client: Client
) -> None:
    leader, chaser = make_player(), make_player()
    submit(leader, 100)
    submit(chaser, 50)
    bid = selectors.get_default_board_ref().id
    redis_index.rebuild(board_id=bid)
    assert ranking.rank_source(board_id=bid) == "redis"

    private_redis.stop()

    started = time.monotonic()
    for _ in range(5):
        assert api_client.get(f"/api/leaderboard/rank/{chaser.pk}").json()["rank"] == 2
        assert api_client.get("/api/leaderboard/top").status_code == 200
    response = post_score(api_client, chaser, 70)
    assert response.status_code == 201
    assert response.json()["rank"] == 1
    assert LeaderboardEntry.objects.get(user=chaser).total_score == 120
    # The circuit breaker stops requests from each waiting for a socket timeout.
    assert redis_index.breaker_is_open()
    assert time.monotonic() - started < 3


def test_index_is_rebuilt_when_redis_returns_after_missed_writes(
    private_redis: PrivateRedis, api_client: Client, settings, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    player = make_player()
    submit(player, 10)
    bid = selectors.get_default_board_ref().id
    redis_index.rebuild(board_id=bid)

    private_redis.stop()
    assert post_score(api_client, player, 5).status_code == 201  # the index misses this write
    private_redis.start()  # an empty Redis, as after a restart without persistence
    redis_index.close_breaker()  # as it does by itself once its reset timeout has passed

    rebuilt: list[int] = []
    monkeypatch.setattr(redis_index, "request_rebuild", rebuilt.append)
    assert api_client.get(f"/api/leaderboard/rank/{player.pk}").json()["total_score"] == 15
    assert bid in rebuilt

    redis_index.rebuild(board_id=bid)
    standing = ranking.get_standing(board_id=bid, user_id=player.pk)
    assert ranking.rank_source(board_id=bid) == "redis"
    assert standing is not None and standing.total_score == 15


def test_missed_write_on_a_surviving_redis_stops_the_index_being_trusted(
    private_redis: PrivateRedis, client: Client, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    player, other = make_player(), make_player()
    submit(player, 10)
    submit(other, 20)
    bid = selectors.get_default_board_ref().id
    redis_index.rebuild(board_id=bid)
    monkeypatch.setattr(redis_index, "request_rebuild", lambda board_id: None)

    # Redis stays up with its data, but this write never reached it.
    redis_index._missed_writes.set()
    assert client.get(f"/api/leaderboard/rank/{other.pk}").status_code == 200

    assert ranking.rank_source(board_id=bid) == "sql"
