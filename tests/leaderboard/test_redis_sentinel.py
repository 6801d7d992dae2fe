"""The app behind Redis Sentinel: the index works through the master the sentinels name, and after a
failover the app writes to the new master within a bound, with ranks exact once rebuilt."""

import time
from collections.abc import Iterator

import pytest
from django.test import Client
from redis import Redis
from redis.sentinel import SentinelConnectionPool

from leaderboard import redis_client, selectors
from leaderboard.boards import BoardPeriod
from leaderboard.ranking import redis_index, sql
from leaderboard.ranking.redis_index import BoardKeys
from tests.factories import make_player
from tests.leaderboard.fault_load import assert_index_matches_sql
from tests.redis_cluster import PrivateSentinels, point_app_at, started, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# Sentinel's switch (about 1.3 s here) plus the breaker's 5 s pauses after the demoted master's
# refusals: about 11.5 s measured here, bounded with room for a busy machine.
FOLLOW_BOUND_SECONDS = 20


@pytest.fixture
def sentinels(settings) -> Iterator[PrivateSentinels]:  # type: ignore[no-untyped-def]
    with started(PrivateSentinels) as deployment:
        point_app_at(settings, deployment)
        yield deployment


def submit(client: Client, player, score: int) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/leaderboard/submit", {"user_id": player.pk, "score": score}, content_type="application/json"
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("failover", ["SENTINEL FAILOVER", "master killed"])
def test_the_index_follows_the_master_through_a_sentinel_failover(
    failover: str, sentinels: PrivateSentinels, api_key_headers: dict[str, str]
) -> None:
    assert isinstance(redis_client.client().connection_pool, SentinelConnectionPool)
    client = Client(headers=api_key_headers)
    players = [make_player() for _ in range(8)]
    for n, player in enumerate(players):
        submit(client, player, n)
    board_id = selectors.get_default_board_ref().id
    redis_index.rebuild(board_period=BoardPeriod(board_id))
    for n, player in enumerate(players):
        submit(client, player, n * 2)  # live writes on the first master
    assert_index_matches_sql(board_id, players)
    h = BoardKeys.for_period(BoardPeriod(board_id)).h
    assert Redis(port=sentinels.master_port).hexists(h, str(players[0].pk))

    started = time.monotonic()
    if failover == "master killed":
        sentinels.kill(sentinels.master_port)  # noticed after down-after-milliseconds (1 s)
    else:
        sentinels.sentinel(sentinels.sentinel_ports[0]).execute_command(
            "SENTINEL", "FAILOVER", sentinels.master_name
        )
    wait_until(lambda: sentinels.current_master_port() == sentinels.replica_port, 30, "the sentinels' switch")

    # The app's writes land on the new master within the bound.
    new_master = Redis(port=sentinels.replica_port, decode_responses=True)
    score = 1
    while True:
        submit(client, players[0], score)
        entry = new_master.hget(h, str(players[0].pk))
        expected = sql.get_standing(board_period=BoardPeriod(board_id), user_id=players[0].pk)
        assert expected is not None
        if entry and str(entry).split("|")[1] == str(expected.total_score):
            break
        assert time.monotonic() - started < FOLLOW_BOUND_SECONDS, "the app did not follow the new master"
        time.sleep(0.2)
    followed_after = time.monotonic() - started
    assert new_master.info("replication")["role"] == "master"
    assert followed_after < FOLLOW_BOUND_SECONDS

    # Writes refused by the old master were noticed: the index is rebuilt before it is trusted again.
    redis_index.close_breaker()
    redis_index.rebuild(board_period=BoardPeriod(board_id))
    for n, player in enumerate(players):
        submit(client, player, n + 1)
    assert_index_matches_sql(board_id, players)
