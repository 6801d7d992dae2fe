"""A submit load for fault tests (threads through the API until stopped) and the checks that follow a fault.

A fault test kills or fails over Redis while `SubmitLoad` runs, then asks whether PostgreSQL holds
exactly the accepted points and whether the index, once trusted again, ranks every player as SQL does.
"""

import threading
from typing import Any

from django.db.models import Sum
from django.test import Client

from leaderboard import ranking
from leaderboard.boards import BoardPeriod
from leaderboard.models import GameSession, LeaderboardEntry
from leaderboard.ranking import sql


class SubmitLoad:
    """Submits from each thread until `stop` is set or `max_per_thread` were sent, keeping the accepted points.

    Thread `index` sends its n-th submit for player `(index * stride + n) % len(players)` with the score
    `n % score_cycle + 1`; a refused submit is recorded in `failures`.
    """

    def __init__(
        self,
        players: list[Any],
        headers: dict[str, str],
        *,
        stride: int,
        score_cycle: int,
        max_per_thread: int,
    ) -> None:
        self.players = players
        self.headers = headers
        self.stride = stride
        self.score_cycle = score_cycle
        self.max_per_thread = max_per_thread
        self.accepted_points: list[int] = []
        self.failures: list[str] = []
        self.stop = threading.Event()

    def submit_until_stopped(self, index: int) -> None:
        client = Client(headers=self.headers)
        for n in range(self.max_per_thread):
            if self.stop.is_set():
                return
            player = self.players[(index * self.stride + n) % len(self.players)]
            score = (n % self.score_cycle) + 1
            response = client.post(
                "/api/leaderboard/submit",
                {"user_id": player.pk, "score": score},
                content_type="application/json",
            )
            if response.status_code == 201:
                self.accepted_points.append(score)
            else:
                self.failures.append(f"submit {response.status_code}")


def assert_nothing_lost(accepted_points: list[int]) -> None:
    """PostgreSQL's view: every accepted submit counted once."""
    assert GameSession.objects.count() == len(accepted_points)
    assert LeaderboardEntry.objects.aggregate(total=Sum("total_score"))["total"] == sum(accepted_points)


def assert_standings_match_sql(board_id: int, players: list[Any]) -> None:
    """Whatever serves the read, every player's standing is PostgreSQL's."""
    for player in players:
        assert ranking.get_standing(
            board_period=BoardPeriod(board_id), user_id=player.pk
        ) == sql.get_standing(board_period=BoardPeriod(board_id), user_id=player.pk)


def assert_index_matches_sql(board_id: int, players: list[Any]) -> None:
    """The Redis index serves the ranks, and every standing and the top 100 are exactly PostgreSQL's."""
    assert ranking.rank_source(board_period=BoardPeriod(board_id)) == "redis"
    assert_standings_match_sql(board_id, players)
    assert ranking.get_top(board_period=BoardPeriod(board_id), limit=100) == sql.get_top(
        board_period=BoardPeriod(board_id), limit=100
    )
