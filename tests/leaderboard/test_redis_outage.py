"""Redis going away and coming back, with a private redis-server this test starts and stops."""

import io
import time

import pytest
from django.core.management import call_command
from django.test import Client, TestCase

from leaderboard import ranking, redis_client, selectors
from leaderboard.boards import BoardPeriod
from leaderboard.models import LeaderboardEntry, RankIndexDebt
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
    redis_index.rebuild(board_period=BoardPeriod(bid))
    assert ranking.rank_source(board_period=BoardPeriod(bid)) == "redis"

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


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_index_is_rebuilt_by_the_worker_when_redis_returns_after_missed_writes(
    private_redis: PrivateRedis, api_client: Client, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.RANK_INDEX_INTENT_SECONDS = 0.5  # the restarted Redis makes the rebuild wait this long
    player = make_player()
    submit(player, 10)
    bid = selectors.get_default_board_ref().id
    redis_index.rebuild(board_period=BoardPeriod(bid))

    private_redis.stop()
    assert post_score(api_client, player, 5).status_code == 201  # the index misses this write
    assert RankIndexDebt.objects.filter(board_id=bid).exists()
    private_redis.start()  # an empty Redis, as after a restart without persistence
    redis_index.close_breaker()  # as it does by itself once its reset timeout has passed

    assert api_client.get(f"/api/leaderboard/rank/{player.pk}").json()["total_score"] == 15
    assert ranking.rank_source(board_period=BoardPeriod(bid)) == "sql"

    call_command("rank_index_worker", "--once", stdout=io.StringIO())

    standing = ranking.get_standing(board_period=BoardPeriod(bid), user_id=player.pk)
    assert ranking.rank_source(board_period=BoardPeriod(bid)) == "redis"
    assert standing is not None and standing.total_score == 15
    assert not RankIndexDebt.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_missed_write_on_a_surviving_redis_stops_the_index_being_trusted(
    private_redis: PrivateRedis, client: Client
) -> None:
    player, other = make_player(), make_player()
    submit(player, 10)
    submit(other, 20)
    bid = selectors.get_default_board_ref().id
    redis_index.rebuild(board_period=BoardPeriod(bid))

    # Redis stays up with its data, but this process cannot reach it for one submit.
    redis_client._breaker.open()
    submit(player, 30)
    assert RankIndexDebt.objects.filter(board_id=bid).count() == 1
    redis_index.close_breaker()

    # The process's next good Redis call settles what it left: the index is no longer trusted.
    assert client.get(f"/api/leaderboard/rank/{other.pk}").json()["rank"] == 2
    assert ranking.rank_source(board_period=BoardPeriod(bid)) == "sql"
    assert not RankIndexDebt.objects.exists()
