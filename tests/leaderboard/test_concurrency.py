"""Concurrent submits against real PostgreSQL with real threads: no point lost or counted twice."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from leaderboard.boards import BoardPeriod
from leaderboard.models import GameSession, LeaderboardEntry
from tests.factories import make_player

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def run_in_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Start `count` threads together; return what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def body(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:  # collected and asserted by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors


def test_concurrent_submits_lose_no_points(api_key_headers: dict[str, str]) -> None:
    player = make_player()
    client_body = {"user_id": player.pk, "score": 1}
    statuses: list[int] = []

    def fifty_submits(_: int) -> None:
        client = Client(headers=api_key_headers)
        for _ in range(50):
            statuses.append(
                client.post(
                    "/api/leaderboard/submit", client_body, content_type="application/json"
                ).status_code
            )

    errors = run_in_threads(32, fifty_submits)

    assert errors == []
    assert statuses == [201] * 1600
    entry = LeaderboardEntry.objects.get(user=player)
    assert (entry.total_score, entry.session_count) == (1600, 1600)
    assert GameSession.objects.filter(user=player).count() == 1600


def test_concurrent_first_submits_create_one_entry(api_key_headers: dict[str, str]) -> None:
    player = make_player()
    statuses: list[int] = []

    def first_submit(index: int) -> None:
        response = Client(headers=api_key_headers).post(
            "/api/leaderboard/submit",
            {"user_id": player.pk, "score": index + 1},
            content_type="application/json",
        )
        statuses.append(response.status_code)

    errors = run_in_threads(32, first_submit)

    assert errors == []
    assert statuses == [201] * 32
    entry = LeaderboardEntry.objects.get(user=player)
    assert entry.total_score == sum(range(1, 33))
    assert entry.session_count == 32


@pytest.mark.redis
def test_rebuild_during_concurrent_submits_loses_nothing(api_key_headers: dict[str, str]) -> None:
    from leaderboard import ranking, selectors
    from leaderboard.ranking import redis_index, sql

    players = [make_player() for _ in range(40)]
    client = Client(headers=api_key_headers)
    for p in players:
        client.post("/api/leaderboard/submit", {"user_id": p.pk, "score": 1}, content_type="application/json")
    board_id = selectors.get_default_board_ref().id
    redis_index.rebuild(board_period=BoardPeriod(board_id))
    stop = threading.Event()

    def submit_until_stopped(index: int) -> None:
        thread_client = Client(headers=api_key_headers)
        n = 0
        while not stop.is_set() or n < 20:
            player = players[(index * 7 + n) % len(players)]
            body = {"user_id": player.pk, "score": (n % 5) + 1}
            assert (
                thread_client.post(
                    "/api/leaderboard/submit", body, content_type="application/json"
                ).status_code
                == 201
            )
            n += 1

    def rebuild_twice(_: int) -> None:
        for _ in range(2):
            redis_index.rebuild(board_period=BoardPeriod(board_id))
        stop.set()

    errors = run_in_threads(5, lambda i: rebuild_twice(i) if i == 0 else submit_until_stopped(i))

    assert errors == []
    assert ranking.rank_source(board_period=BoardPeriod(board_id)) == "redis"
    for p in players:
        assert ranking.get_standing(board_period=BoardPeriod(board_id), user_id=p.pk) == sql.get_standing(
            board_period=BoardPeriod(board_id), user_id=p.pk
        )
    assert ranking.get_top(board_period=BoardPeriod(board_id), limit=100) == sql.get_top(
        board_period=BoardPeriod(board_id), limit=100
    )
