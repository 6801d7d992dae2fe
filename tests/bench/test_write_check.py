"""The bench's write check and board count, on PostgreSQL: every active board, its own game mode, hidden
players left out, and a point lost or counted twice on any board reported as a mismatch."""

from urllib.parse import quote

import pytest
from django.db import connection

from bench.run import check_writes, read_boards, snapshot_writes
from leaderboard import selectors, services
from leaderboard.models import Board, LeaderboardEntry
from tests.factories import make_player, submit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture
def database_url() -> str:
    s = connection.settings_dict
    password = f":{quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    return f"postgresql://{quote(s['USER'])}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def duel_board() -> Board:
    board = Board.objects.create(slug="duel", name="Duel", game_mode="duel")
    selectors.forget_rarely_changing()
    return board


def test_points_match_the_growth_of_every_board_they_count_towards(database_url: str) -> None:
    duel_board()
    alice, bob, hidden = make_player(), make_player(), make_player()
    submit(alice, 100)
    before = snapshot_writes(database_url)

    submit(alice, 7)  # solo: the global board only
    submit(bob, 30, game_mode="duel")  # global and duel
    hidden.is_hidden = True
    hidden.save(update_fields=["is_hidden"])
    submit(hidden, 1000)  # recorded, counted nowhere

    check = check_writes(database_url, before)
    assert check["ok"], check
    assert check["sessions"] == 2
    assert {b["board"]: (b["points"], b["board_growth"]) for b in check["boards"]} == {
        "global": (37, 37),
        "duel": (30, 30),
    }


def test_a_point_counted_twice_on_any_board_is_a_mismatch(database_url: str) -> None:
    board = duel_board()
    player = make_player()
    before = snapshot_writes(database_url)
    submit(player, 30, game_mode="duel")
    LeaderboardEntry.objects.filter(board=board, user=player).update(total_score=31)

    check = check_writes(database_url, before)

    assert not check["ok"]
    assert {b["board"]: b["ok"] for b in check["boards"]} == {"global": True, "duel": False}


def test_boards_fed_by_a_submit_are_counted_per_game_mode(database_url: str) -> None:
    assert read_boards(database_url).fewest_feeds == 1
    assert read_boards(database_url).most_feeds == 1

    duel_board()
    for slug in ("duel-weekly", "duel-monthly"):
        Board.objects.create(slug=slug, name=slug, game_mode="duel")
    Board.objects.create(slug="everything", name="Everything")  # every mode counts
    Board.objects.create(slug="old-duel", name="Old", game_mode="duel", is_active=False)

    boards = read_boards(database_url)
    assert (boards.fewest_feeds, boards.fewest_mode) == (2, "solo")  # global and everything
    assert (boards.most_feeds, boards.most_mode) == (5, "duel")


def test_best_and_latest_boards_are_checked_against_their_periods_sessions(database_url: str) -> None:
    services.create_board(slug="weekly-best", name="Weekly best", aggregation="best", window="weekly")
    services.create_board(
        slug="daily-latest-low",
        name="Daily latest",
        aggregation="latest",
        order="lower",
        window="daily",
        time_zone="America/New_York",
    )
    selectors.forget_rarely_changing()
    alice, bob = make_player(), make_player()
    submit(alice, 50)
    before = snapshot_writes(database_url)
    submit(alice, 20)
    submit(bob, 70)
    submit(bob, 10)

    check = check_writes(database_url, before)
    assert check["ok"], check
    assert {b["board"]: b["sessions"] for b in check["boards"]} == {
        "global": 3,
        "weekly-best": 3,
        "daily-latest-low": 3,
    }

    # A best entry that lost its value, and a session counted twice on a latest board.
    best = Board.objects.get(slug="weekly-best")
    LeaderboardEntry.objects.filter(board=best, user=bob).update(total_score=10)
    LeaderboardEntry.objects.filter(board__slug="daily-latest-low", user=alice).update(session_count=3)

    results = {b["board"]: b for b in check_writes(database_url, before)["boards"]}
    assert results["weekly-best"]["entries_differing"] == 1 and not results["weekly-best"]["ok"]
    assert results["daily-latest-low"]["session_count_growth"] == 4 and not results["daily-latest-low"]["ok"]
    assert results["global"]["ok"]
