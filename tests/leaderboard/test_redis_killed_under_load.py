"""Redis killed in the middle of a concurrent submit load: nothing accepted is lost, reads never fail,
and once Redis is back the rebuilt index equals PostgreSQL."""

import threading
import time

import pytest
from django.db.models import Sum
from django.test import Client

from leaderboard import ranking, selectors
from leaderboard.models import GameSession, LeaderboardEntry
from leaderboard.ranking import redis_index, sql
from tests.factories import make_player
from tests.leaderboard.test_concurrency import run_in_threads
from tests.redis_server import PrivateRedis

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SUBMITTERS = 6
READERS = 2


def test_redis_killed_during_concurrent_submits_loses_nothing(
    private_redis: PrivateRedis, api_key_headers: dict[str, str]
) -> None:
    players = [make_player() for _ in range(30)]
    board_id = selectors.get_default_board_ref().id
    redis_index.rebuild(board_id=board_id)
    accepted_points: list[int] = []
    read_statuses: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def submit_until_stopped(index: int) -> None:
        client = Client(headers=api_key_headers)
        n = 0
        while not stop.is_set():
            player = players[(index * 11 + n) % len(players)]
            score = (n % 7) + 1
            response = client.post(
                "/api/leaderboard/submit",
                {"user_id": player.pk, "score": score},
                content_type="application/json",
            )
            if response.status_code == 201:
                accepted_points.append(score)
            else:
                failures.append(f"submit {response.status_code}")
            n += 1

    def read_until_stopped(index: int) -> None:
        client = Client()
        n = 0
        while not stop.is_set():
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
        stop.set()

    def role(index: int) -> None:
        if index == 0:
            conduct(index)
        elif index <= SUBMITTERS:
            submit_until_stopped(index)
        else:
            read_until_stopped(index)

    errors = run_in_threads(1 + SUBMITTERS + READERS, role)

    assert errors == [] and failures == []
    assert accepted_points, "the load never ran"
    # Every accepted submit is in PostgreSQL, counted once.
    assert GameSession.objects.count() == len(accepted_points)
    assert LeaderboardEntry.objects.aggregate(total=Sum("total_score"))["total"] == sum(accepted_points)
    assert read_statuses and set(read_statuses) <= {200, 404}
    assert not any(status >= 500 for status in read_statuses)

    # The restarted Redis holds no complete index: reads stay on SQL until it is rebuilt.
    assert ranking.rank_source(board_id=board_id) == "sql"
    redis_index.close_breaker()
    redis_index.rebuild(board_id=board_id)
    assert ranking.rank_source(board_id=board_id) == "redis"
    for player in players:
        assert ranking.get_standing(board_id=board_id, user_id=player.pk) == sql.get_standing(
            board_id=board_id, user_id=player.pk
        )
    assert ranking.get_top(board_id=board_id, limit=100) == sql.get_top(board_id=board_id, limit=100)
