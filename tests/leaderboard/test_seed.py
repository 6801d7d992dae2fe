"""The seed command: exact counts, entries equal to the session sums, determinism, --if-empty and --reset."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Max, Min, Sum

from leaderboard import selectors, services
from leaderboard.models import Board, GameSession, LeaderboardEntry
from users.models import Follow, User

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed", *args, "--until", "2026-01-01", verbosity=0, stdout=out)
    return out.getvalue()


def sums_by_player(sessions) -> dict[int, tuple[int, int]]:  # type: ignore[no-untyped-def]
    rows = sessions.values("user_id").annotate(total=Sum("score"), count=Count("id"))
    return {r["user_id"]: (r["total"], r["count"]) for r in rows}


def entries_by_player(board_id: int) -> dict[int, tuple[int, int]]:
    rows = LeaderboardEntry.objects.filter(board_id=board_id).values_list(
        "user_id", "total_score", "session_count"
    )
    return {user_id: (total, count) for user_id, total, count in rows}


def session_rows() -> list[tuple[object, ...]]:
    return list(
        GameSession.objects.order_by("id").values_list("id", "user_id", "score", "game_mode", "played_at")
    )


@pytest.mark.parametrize(("users", "sessions"), [(200, 1000), (1000, 200)])
def test_seed_creates_exactly_the_players_and_sessions_asked_for(users: int, sessions: int) -> None:
    output = seed("--users", str(users), "--sessions", str(sessions))

    assert User.objects.filter(is_staff=False).count() == users
    assert GameSession.objects.count() == sessions
    assert f"Seeded {users} players and {sessions} sessions" in output
    first = User.objects.order_by("id").first()
    assert first is not None and first.username == "user_1"
    assert not first.has_usable_password() and first.email == ""
    assert User.objects.filter(username=f"user_{users}").exists()


def test_seeded_sessions_follow_the_documented_distribution() -> None:
    seed("--users", "200", "--sessions", "1000")

    stats = GameSession.objects.aggregate(
        low=Min("score"), high=Max("score"), first=Min("played_at"), last=Max("played_at")
    )
    until = datetime(2026, 1, 1, tzinfo=UTC)
    assert stats["low"] >= 1 and stats["high"] <= 10_000
    assert until - timedelta(days=365) <= stats["first"] and stats["last"] < until
    modes = set(GameSession.objects.values_list("game_mode", flat=True).distinct())
    assert modes == {"solo", "team"}
    assert not GameSession.objects.filter(is_void=True).exists()


def test_entries_equal_the_sums_of_the_sessions_on_every_active_board() -> None:
    team = Board.objects.create(slug="team", name="Team games", game_mode="team")
    selectors.forget_rarely_changing()

    seed("--users", "200", "--sessions", "1000")

    everything = sums_by_player(GameSession.objects.all())
    assert entries_by_player(selectors.get_default_board().id) == everything
    assert entries_by_player(team.id) == sums_by_player(GameSession.objects.filter(game_mode="team"))
    totals = LeaderboardEntry.objects.filter(board=selectors.get_default_board()).aggregate(
        total=Sum("total_score"), count=Sum("session_count")
    )
    assert totals == GameSession.objects.aggregate(total=Sum("score"), count=Count("id"))


def test_the_same_seed_gives_the_same_data() -> None:
    seed("--users", "200", "--sessions", "1000", "--seed", "7")
    first = session_rows()
    seed("--users", "200", "--sessions", "1000", "--seed", "7", "--reset")
    assert session_rows() == first
    seed("--users", "200", "--sessions", "1000", "--seed", "8", "--reset")
    assert session_rows() != first


def test_if_empty_keeps_existing_players() -> None:
    seed("--users", "200", "--sessions", "1000")
    before = session_rows()

    output = seed("--users", "50", "--sessions", "50", "--if-empty")

    assert "already holds 200 players" in output
    assert session_rows() == before


def test_existing_players_need_reset_or_if_empty() -> None:
    seed("--users", "200", "--sessions", "1000")

    with pytest.raises(CommandError, match="--reset"):
        seed("--users", "50", "--sessions", "50")
    assert GameSession.objects.count() == 1000


def test_reset_replaces_players_sessions_and_entries_but_keeps_moderators() -> None:
    moderator = User.objects.create_user(username="mod", is_staff=True)
    seed("--users", "200", "--sessions", "1000")

    seed("--users", "50", "--sessions", "300", "--reset")

    assert User.objects.filter(is_staff=False).count() == 50
    assert User.objects.filter(pk=moderator.pk).exists()
    assert GameSession.objects.count() == 300
    assert entries_by_player(selectors.get_default_board().id) == sums_by_player(GameSession.objects.all())


def test_seeded_players_carry_their_username_skeleton() -> None:
    from users.usernames import skeleton

    call_command("seed", users=20, sessions=50, stdout=StringIO())
    rows = list(User.objects.values_list("username", "username_skeleton"))
    assert len(rows) == 20
    assert all(key == skeleton(name) for name, key in rows)


def test_demo_boards_and_follows_are_seeded_as_the_live_rules_would_make_them() -> None:
    seed("--users", "60", "--sessions", "400", "--demo-boards", "--follows", "3")

    slugs = set(Board.objects.values_list("slug", flat=True))
    assert {"global", "solo", "weekly-best", "daily-lowest"} <= slugs
    assert Follow.objects.count() == 60 * 3
    assert not Follow.objects.filter(follower=F("followed")).exists()
    # A recount from the session log changes nothing: the bulk load made exactly those entries.
    for board in selectors.list_boards():
        assert services.rebuild_board(board=board) == 0, board.slug
    daily = Board.objects.get(slug="daily-lowest")
    assert LeaderboardEntry.objects.filter(board=daily).values("period").distinct().count() > 1
