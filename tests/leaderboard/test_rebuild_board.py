"""services.rebuild_board: a board created after its sessions is filled from the session log, and a
rebuild racing live submits ends exactly where live updates alone would have."""

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models import Sum

from leaderboard import selectors, services
from leaderboard.boards import BoardRef
from leaderboard.models import Board, GameSession, LeaderboardEntry
from tests.factories import make_moderator, make_player, submit
from tests.leaderboard.test_concurrency import run_in_threads

pytestmark = pytest.mark.django_db


def make_board(slug: str, **definition: Any) -> BoardRef:
    services.create_board(slug=slug, name=slug, **definition)
    selectors.forget_rarely_changing()
    return BoardRef.of(Board.objects.get(slug=slug))


def entries_of(board: BoardRef) -> dict[tuple[str, str], tuple[int, int]]:
    """(period, username) -> (value, session count)."""
    rows = LeaderboardEntry.objects.filter(board_id=board.id).values_list(
        "period", "username", "total_score", "session_count"
    )
    return {(period, name): (value, count) for period, name, value, count in rows}


def listing(board: BoardRef, key: str) -> list[tuple[str, int, int]]:
    rows = selectors.get_top(limit=100, board_period=board.period(key)).rows
    return [(r.username, r.total_score, r.rank) for r in rows]


def test_a_board_created_after_its_sessions_is_filled_by_a_rebuild() -> None:
    moderator = make_moderator()
    a, b, c, hidden = (make_player(name) for name in ("a", "b", "c", "hidden"))
    # Week of Monday 2026-03-23 in Paris: it ends at 2026-03-29T22:00Z, after the clocks went forward.
    submit(a, 12, played_at=datetime(2026, 3, 25, 10, tzinfo=UTC))
    submit(a, 8, played_at=datetime(2026, 3, 29, 21, 30, tzinfo=UTC))  # Sunday 23:30 CEST
    submit(a, 3, played_at=datetime(2026, 3, 29, 22, tzinfo=UTC))  # Monday 00:00 CEST: next week
    submit(a, 1, game_mode="team", played_at=datetime(2026, 3, 26, tzinfo=UTC))  # another mode
    submit(b, 8, played_at=datetime(2026, 3, 24, 9, tzinfo=UTC))
    submit(b, 20, played_at=datetime(2026, 3, 31, tzinfo=UTC))
    voided = submit(b, 2, played_at=datetime(2026, 3, 30, 12, tzinfo=UTC)).session
    services.void_session(session_id=voided.pk, moderator=moderator, reason="void")
    submit(c, 5, game_mode="team", played_at=datetime(2026, 3, 25, tzinfo=UTC))
    submit(hidden, 1, played_at=datetime(2026, 3, 25, tzinfo=UTC))
    services.hide_player(user_id=hidden.pk, moderator=moderator, reason="hidden")

    board = make_board(
        "weekly-best-low",
        game_mode="solo",
        aggregation="best",
        order="lower",
        window="weekly",
        time_zone="Europe/Paris",
        week_start=0,
    )
    assert entries_of(board) == {}

    changed = services.rebuild_board(board=board, batch=2)

    assert entries_of(board) == {
        ("2026-03-23", "a"): (8, 2),
        ("2026-03-23", "b"): (8, 1),
        ("2026-03-30", "a"): (3, 1),
        ("2026-03-30", "b"): (20, 1),
    }
    assert changed == 4
    assert listing(board, "2026-03-23") == [("b", 8, 1), ("a", 8, 1)]  # b's 8 came first
    assert listing(board, "2026-03-30") == [("a", 3, 1), ("b", 20, 2)]
    assert services.rebuild_board(board=board, batch=2) == 0  # nothing left to change

    submit(b, 1, played_at=datetime(2026, 4, 1, tzinfo=UTC))  # live again once rebuilt
    assert listing(board, "2026-03-30") == [("b", 1, 1), ("a", 3, 2)]


def test_a_rebuild_replaces_entries_that_disagree_with_the_session_log() -> None:
    board = make_board("sum")
    player, other = make_player("p"), make_player("o")
    submit(player, 5)
    submit(other, 3)
    LeaderboardEntry.objects.filter(board_id=board.id, user=player).update(total_score=50, rank_value=50)
    LeaderboardEntry.objects.filter(board_id=board.id, user=other).delete()

    assert services.rebuild_board(board=board, batch=1) == 2

    assert entries_of(board) == {("all", "p"): (5, 1), ("all", "o"): (3, 1)}


# --- a rebuild racing live submits ------------------------------------------------------

PLAYERS = 70  # ten batches of 7
SUBMITTERS = 5
REBUILDS = 10
DEFINITION = {"aggregation": "sum", "window": "daily", "time_zone": "Europe/Paris"}
SPAN_START = datetime(2026, 3, 27, tzinfo=UTC)  # across the night Paris springs forward


def comparable(board: BoardRef) -> dict[tuple[str, int], tuple[Any, ...]]:
    rows = LeaderboardEntry.objects.filter(board_id=board.id).values_list(
        "period",
        "user_id",
        "username",
        "total_score",
        "rank_value",
        "session_count",
        "last_updated",
        "value_session_id",
    )
    return {(row[0], row[1]): row[2:] for row in rows}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rebuilding_a_board_while_submits_arrive_ends_where_live_updates_end() -> None:
    """`live` exists before any session and is fed only by submits; `rebuilt`, of the same definition,
    is created mid-stream and rebuilt (several times, 7 players a batch) while submits keep coming.
    Both must end with the same entries."""
    live = make_board("live", **DEFINITION)
    rng = random.Random(5)
    players = [make_player() for _ in range(PLAYERS)]
    for player in players:
        submit(player, rng.randint(0, 20), played_at=SPAN_START + timedelta(minutes=rng.randint(0, 5760)))

    submits = [0] * (SUBMITTERS + 1)
    during_rebuilds: list[int] = []
    rebuilt_done = threading.Event()

    def submitted() -> int:
        return sum(submits)

    def rebuild(_: int) -> None:
        try:
            while submitted() < 40:  # the board is created mid-stream
                rebuilt_done.wait(0.001)
            board = make_board("rebuilt", **DEFINITION)
            for _ in range(REBUILDS):
                before = submitted()
                services.rebuild_board(board=board, batch=7)
                during_rebuilds.append(submitted() - before)
        finally:
            rebuilt_done.set()

    def submit_until_done(index: int) -> None:
        local = random.Random(index)
        after_done = 0
        while after_done < 20:  # and a few more once every rebuild is over
            player = local.choice(players)
            services.submit_score(
                user_id=player.pk,
                score=local.randint(0, 20),
                game_mode=local.choice(("solo", "team")),
                played_at=SPAN_START + timedelta(minutes=local.randint(0, 5760)),
            )
            submits[index] += 1
            after_done += rebuilt_done.is_set()

    errors = run_in_threads(
        SUBMITTERS + 1, lambda index: rebuild(index) if index == 0 else submit_until_done(index)
    )

    assert errors == []
    assert len(during_rebuilds) == REBUILDS and all(during_rebuilds), "no submit arrived during a rebuild"
    expected = comparable(live)
    # The live board is complete: it counts every session.
    totals = LeaderboardEntry.objects.filter(board_id=live.id).aggregate(
        Sum("total_score"), Sum("session_count")
    )
    sessions = GameSession.objects.aggregate(Sum("score"))["score__sum"]
    assert (totals["total_score__sum"], totals["session_count__sum"]) == (
        sessions,
        GameSession.objects.count(),
    )
    assert comparable(BoardRef.of(Board.objects.get(slug="rebuilt"))) == expected
