"""Redis killed in the middle of a concurrent submit load: nothing accepted is lost, reads never fail,
and once Redis is back the rebuilt index equals PostgreSQL."""

import time

import pytest
from django.test import Client

from leaderboard import ranking, selectors
from leaderboard.boards import BoardPeriod
from leaderboard.ranking import redis_index
from tests.factories import make_player
from tests.leaderboard.fault_load import SubmitLoad, assert_index_matches_sql, assert_nothing_lost
from tests.leaderboard.test_concurrency import run_in_threads
from tests.redis_server import PrivateRedis

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SUBMITTERS = 6
READERS = 2
# Far more than the 3.5 s of load reaches: only a conductor that fails before stopping it meets the bound.
MAX_SUBMITS_PER_THREAD = 10_000


def test_redis_killed_during_concurrent_submits_loses_nothing(
    private_redis: PrivateRedis, api_key_headers: dict[str, str]
) -> None:
    players = [make_player() for _ in range(30)]
    board_id = selectors.get_default_board_ref().id
    redis_index.rebuild(board_period=BoardPeriod(board_id))
    load = SubmitLoad(
        players, api_key_headers, stride=11, score_cycle=7, max_per_thread=MAX_SUBMITS_PER_THREAD
    )
    read_statuses: list[int] = []

    def read_until_stopped(index: int) -> None:
        client = Client()
        n = 0
        while not load.stop.is_set():
            player = players[(index + n) % len(players)]
            read_statuses.append(client.get(f"/api/leaderboard/rank/{player.pk}").status_code)
            read_statuses.append(client.get("/api/leaderboard/top").status_code)
            n += 1

    def conduct(_: int) -> None:
        time.sleep(1.0)
        private_redis.stop()  # killed mid-load
        time.sleep(1.5)
        private_redis.start()  # back, empty, as a Redis without persistence restarts
        time.sleep(1.0)
        load.stop.set()

    def role(index: int) -> None:
        if index == 0:
            conduct(index)
        elif index <= SUBMITTERS:
            load.submit_until_stopped(index)
        else:
            read_until_stopped(index)

    errors = run_in_threads(1 + SUBMITTERS + READERS, role)

    assert errors == [] and load.failures == []
    assert load.accepted_points, "the load never ran"
    assert_nothing_lost(load.accepted_points)
    assert read_statuses and set(read_statuses) <= {200, 404}
    assert not any(status >= 500 for status in read_statuses)

    # The restarted Redis holds no complete index: reads stay on SQL until it is rebuilt.
    assert ranking.rank_source(board_period=BoardPeriod(board_id)) == "sql"
    redis_index.close_breaker()
    redis_index.rebuild(board_period=BoardPeriod(board_id))
    assert_index_matches_sql(board_id, players)
