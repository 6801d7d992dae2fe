"""Boards of every kind by example: period resets in the board's time zone, archives, aggregations,
game modes, voids, hidden players, around-me, friends and standings. Expected values are worked out
by hand in each test."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from leaderboard import selectors, services
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.models import LeaderboardEntry
from tests.factories import make_moderator, make_player, submit
from users import services as user_services
from users.models import User

pytestmark = pytest.mark.django_db

TICK = timedelta(microseconds=1)
# A day far from any reset of the boards below; sessions are placed in hours after it.
BASE = datetime(2026, 6, 10, 8, tzinfo=UTC)


def at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


def make_board(slug: str, **definition: object) -> BoardRef:
    services.create_board(slug=slug, name=slug, **definition)  # type: ignore[arg-type]
    selectors.forget_rarely_changing()
    board = selectors.get_board(slug=slug)
    assert board is not None
    return board


def listing(board_period: BoardPeriod) -> list[tuple[str, int, int]]:
    """(username, value, rank) best first."""
    return [
        (r.username, r.total_score, r.rank)
        for r in selectors.get_top(limit=100, board_period=board_period).rows
    ]


def periods_of(board: BoardRef) -> set[str]:
    return set(LeaderboardEntry.objects.filter(board_id=board.id).values_list("period", flat=True))


def value_on(board_period: BoardPeriod, player: User) -> int | None:
    standing = selectors.get_player_rank(user_id=player.pk, board_period=board_period)
    return None if standing is None else standing.total_score


# --- periods --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "time_zone", "week_start", "reset_at", "before", "after"),
    [
        # Paris springs forward on 2026-03-29: that day starts at 23:00Z and lasts 23 hours.
        ("daily", "Europe/Paris", 0, datetime(2026, 3, 28, 23, tzinfo=UTC), "2026-03-28", "2026-03-29"),
        ("daily", "Europe/Paris", 0, datetime(2026, 3, 29, 22, tzinfo=UTC), "2026-03-29", "2026-03-30"),
        # Paris falls back on 2026-10-25: that day starts at 22:00Z and lasts 25 hours.
        ("daily", "Europe/Paris", 0, datetime(2026, 10, 24, 22, tzinfo=UTC), "2026-10-24", "2026-10-25"),
        ("daily", "Europe/Paris", 0, datetime(2026, 10, 25, 23, tzinfo=UTC), "2026-10-25", "2026-10-26"),
        # New York springs forward on 2026-03-08: 05:00Z to 04:00Z the next day.
        ("daily", "America/New_York", 0, datetime(2026, 3, 8, 5, tzinfo=UTC), "2026-03-07", "2026-03-08"),
        ("daily", "America/New_York", 0, datetime(2026, 3, 9, 4, tzinfo=UTC), "2026-03-08", "2026-03-09"),
        ("daily", "UTC", 0, datetime(2026, 3, 29, tzinfo=UTC), "2026-03-28", "2026-03-29"),
        # The Monday week of the spring change ends at local midnight, CEST by then.
        ("weekly", "Europe/Paris", 0, datetime(2026, 3, 29, 22, tzinfo=UTC), "2026-03-23", "2026-03-30"),
        # Sunday weeks: the week starting on the change day starts at its local midnight, before it.
        ("weekly", "America/New_York", 6, datetime(2026, 3, 8, 5, tzinfo=UTC), "2026-03-01", "2026-03-08"),
        ("weekly", "Europe/Paris", 6, datetime(2026, 10, 24, 22, tzinfo=UTC), "2026-10-18", "2026-10-25"),
        ("weekly", "UTC", 2, datetime(2026, 3, 25, tzinfo=UTC), "2026-03-18", "2026-03-25"),
        # October in Paris ends in winter time.
        ("monthly", "Europe/Paris", 0, datetime(2026, 10, 31, 23, tzinfo=UTC), "2026-10", "2026-11"),
        ("monthly", "America/New_York", 0, datetime(2026, 4, 1, 4, tzinfo=UTC), "2026-03", "2026-04"),
        ("monthly", "UTC", 0, datetime(2026, 4, 1, tzinfo=UTC), "2026-03", "2026-04"),
    ],
)
def test_sessions_either_side_of_a_reset_land_in_their_own_period(
    window: str, time_zone: str, week_start: int, reset_at: datetime, before: str, after: str
) -> None:
    board = make_board("windowed", window=window, time_zone=time_zone, week_start=week_start)
    player = make_player()

    submit(player, 3, played_at=reset_at - TICK)
    submit(player, 5, played_at=reset_at)

    assert periods_of(board) == {before, after}
    assert value_on(selectors.resolve_period(board=board, period=before), player) == 3
    assert value_on(selectors.resolve_period(board=board, period=after), player) == 5
    assert value_on(board.period_at(reset_at - TICK), player) == 3
    assert value_on(board.period_at(reset_at), player) == 5


def test_both_passes_through_the_repeated_hour_count_on_the_same_local_day() -> None:
    board = make_board("daily-paris", window="daily", time_zone="Europe/Paris")
    player = make_player()

    submit(player, 2, played_at=datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # 02:30 CEST
    submit(player, 4, played_at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 02:30 CET

    assert periods_of(board) == {"2026-10-25"}
    assert value_on(board.period("2026-10-25"), player) == 6


def test_a_closed_period_keeps_its_final_standings() -> None:
    board = make_board("daily", window="daily", time_zone="UTC", aggregation="best")
    a, b = make_player("a"), make_player("b")
    submit(a, 5, played_at=datetime(2026, 3, 10, 9, tzinfo=UTC))
    submit(b, 7, played_at=datetime(2026, 3, 10, 10, tzinfo=UTC))
    final = [("b", 7, 1), ("a", 5, 2)]

    submit(a, 50, played_at=datetime(2026, 3, 11, tzinfo=UTC))  # the next day
    submit(b, 1)  # now

    archived = selectors.resolve_period(board=board, period="2026-03-10")
    assert listing(archived) == final
    assert listing(selectors.resolve_period(board=board, period="2026-03-11")) == [("a", 50, 1)]
    assert listing(selectors.resolve_period(board=board)) == [("b", 1, 1)]
    assert not selectors.describe_period(board=board, board_period=archived).is_current


def test_the_previous_period_is_the_local_day_before_even_when_it_lasted_25_hours() -> None:
    board = make_board("daily-ny", window="daily", time_zone="America/New_York")
    now = datetime(2026, 11, 2, 15, tzinfo=UTC)  # Monday 10:00 EST; New York fell back on Sunday
    player = make_player()
    submit(player, 4, played_at=datetime(2026, 11, 1, 4, 30, tzinfo=UTC))  # Sunday 00:30 EDT
    submit(player, 1, played_at=datetime(2026, 11, 2, 4, 59, tzinfo=UTC))  # Sunday 23:59 EST
    submit(player, 6, played_at=datetime(2026, 11, 2, 5, tzinfo=UTC))  # Monday 00:00 EST

    previous = selectors.resolve_period(board=board, period="previous", now=now)
    current = selectors.resolve_period(board=board, period="current", now=now)

    assert (previous.period, current.period) == ("2026-11-01", "2026-11-02")
    assert (value_on(previous, player), value_on(current, player)) == (5, 6)


# --- aggregations and orders ----------------------------------------------------


def play_five() -> None:
    """Five players, sessions submitted out of played order:
    a: 5@1h, 0@2h, 7@3h    b: 12@0h, 2@7h    c: 9@5h then 3@4h    d: 1@6h    e: 9@1h"""
    a, b, c, d, e = (make_player(name) for name in "abcde")
    for player, score, hours in [
        (a, 5, 1),
        (a, 0, 2),
        (a, 7, 3),
        (b, 12, 0),
        (b, 2, 7),
        (c, 9, 5),
        (c, 3, 4),
        (d, 1, 6),
        (e, 9, 1),
    ]:
        submit(player, score, played_at=at(hours))


@pytest.mark.parametrize(
    ("aggregation", "order", "expected"),
    [
        # sums 12 (reached 3h), 14, 12 (reached 5h), 1, 9
        ("sum", "higher", [("b", 14, 1), ("a", 12, 2), ("c", 12, 2), ("e", 9, 4), ("d", 1, 5)]),
        ("sum", "lower", [("d", 1, 1), ("e", 9, 2), ("a", 12, 3), ("c", 12, 3), ("b", 14, 5)]),
        # e's 9 (1h) came before c's 9 (5h)
        ("best", "higher", [("b", 12, 1), ("e", 9, 2), ("c", 9, 2), ("a", 7, 4), ("d", 1, 5)]),
        ("best", "lower", [("a", 0, 1), ("d", 1, 2), ("b", 2, 3), ("c", 3, 4), ("e", 9, 5)]),
        # newest by time played: c's 9 at 5h, though its 3 was submitted after it
        ("latest", "higher", [("e", 9, 1), ("c", 9, 1), ("a", 7, 3), ("b", 2, 4), ("d", 1, 5)]),
        ("latest", "lower", [("d", 1, 1), ("b", 2, 2), ("a", 7, 3), ("e", 9, 4), ("c", 9, 4)]),
    ],
)
def test_each_aggregation_and_order_ranks_by_its_value_then_who_reached_it_first(
    aggregation: str, order: str, expected: list[tuple[str, int, int]]
) -> None:
    board = make_board("kind", aggregation=aggregation, order=order)
    play_five()

    board_period = board.period("all")
    assert listing(board_period) == expected
    counts = {
        r.username: r.session_count for r in selectors.get_top(limit=10, board_period=board_period).rows
    }
    assert counts == {"a": 3, "b": 2, "c": 2, "d": 1, "e": 1}
    for name, value, rank in expected:
        user_id = User.objects.get(username=name).pk
        standing = selectors.get_player_rank(user_id=user_id, board_period=board_period)
        assert standing is not None
        assert (standing.total_score, standing.rank, standing.total_players) == (value, rank, 5)
        assert standing.percentile == {1: 80.0, 2: 60.0, 3: 40.0, 4: 20.0, 5: 0.0}[rank]


def test_a_sum_of_zeros_is_reached_at_its_first_session_and_a_zero_later_does_not_move_it() -> None:
    board = make_board("sums")
    late_zero, early_zero, scored_first, scored_second = (make_player(n) for n in ("lz", "ez", "s1", "s2"))
    submit(late_zero, 0, played_at=at(1.5))
    submit(early_zero, 0, played_at=at(2))
    submit(early_zero, 0, played_at=at(1))  # its first session, submitted last
    submit(scored_first, 5, played_at=at(1))
    submit(scored_second, 5, played_at=at(2))
    submit(scored_first, 0, played_at=at(3))  # the total does not change

    assert listing(board.period("all")) == [("s1", 5, 1), ("s2", 5, 1), ("ez", 0, 3), ("lz", 0, 3)]


def test_a_game_mode_board_counts_only_its_modes_sessions() -> None:
    board = make_board("solo-only", game_mode="solo")
    both, team_only = make_player("both"), make_player("team")
    submit(both, 5, game_mode="solo")
    submit(both, 7, game_mode="team")
    submit(team_only, 9, game_mode="team")

    solo = board.period("all")
    standing = selectors.get_player_rank(user_id=both.pk, board_period=solo)
    assert standing is not None and (standing.total_score, standing.session_count) == (5, 1)
    assert selectors.get_player_rank(user_id=team_only.pk, board_period=solo) is None
    assert listing(selectors.get_default_board_ref().period("all")) == [("both", 12, 1), ("team", 9, 2)]


# --- voids ------------------------------------------------------------------------


def test_voiding_on_a_best_board_changes_nothing_unless_it_voids_the_best() -> None:
    board = make_board("best", aggregation="best")
    moderator = make_moderator()
    a, b = make_player("a"), make_player("b")
    first_ten = submit(a, 10, played_at=at(1)).session
    seven = submit(a, 7, played_at=at(2)).session
    second_ten = submit(a, 10, played_at=at(4)).session
    submit(b, 10, played_at=at(3))
    board_period = board.period("all")
    assert listing(board_period) == [("a", 10, 1), ("b", 10, 1)]

    services.void_session(session_id=seven.pk, moderator=moderator, reason="not the best")
    assert listing(board_period) == [("a", 10, 1), ("b", 10, 1)]

    # The next best is the other 10, reached at 4h: after b's.
    services.void_session(session_id=first_ten.pk, moderator=moderator, reason="the best")
    assert listing(board_period) == [("b", 10, 1), ("a", 10, 1)]

    services.void_session(session_id=second_ten.pk, moderator=moderator, reason="the best again")
    services.restore_session(session_id=seven.pk, moderator=moderator, reason="it was fine")
    assert listing(board_period) == [("b", 10, 1), ("a", 7, 2)]


def test_a_latest_board_keeps_the_newest_session_by_time_played_then_by_id() -> None:
    board = make_board("latest", aggregation="latest", order="lower")
    moderator = make_moderator()
    player, other = make_player("p"), make_player("o")
    submit(player, 5, played_at=at(2))
    submit(player, 8, played_at=at(1))  # arrives later, was played earlier: not the latest
    board_period = board.period("all")
    assert value_on(board_period, player) == 5

    same_time = submit(player, 3, played_at=at(2)).session  # same time, higher id: the latest
    submit(other, 4, played_at=at(0))
    assert listing(board_period) == [("p", 3, 1), ("o", 4, 2)]

    services.void_session(session_id=same_time.pk, moderator=moderator, reason="void")
    assert listing(board_period) == [("o", 4, 1), ("p", 5, 2)]


# --- hidden players -----------------------------------------------------------------


def test_a_hidden_player_leaves_every_board_and_period_and_returns_on_restore() -> None:
    daily = make_board("daily", window="daily", time_zone="Europe/Paris")
    best = make_board("best-lower", aggregation="best", order="lower")
    moderator = make_moderator()
    cheat, honest = make_player("cheat"), make_player("honest")
    now = timezone.now()
    for player, score in ((cheat, 9), (honest, 4)):
        submit(player, score, played_at=datetime(2026, 3, 29, 12, tzinfo=UTC))
        submit(player, score, played_at=now)
    board_periods = [
        selectors.get_default_board_ref().period("all"),
        best.period("all"),
        daily.period("2026-03-29"),
        daily.period_at(now),
    ]
    before = [listing(bp) for bp in board_periods]
    assert before[1] == [("honest", 4, 1), ("cheat", 9, 2)]
    assert before[2] == [("cheat", 9, 1), ("honest", 4, 2)]

    services.hide_player(user_id=cheat.pk, moderator=moderator, reason="cheating")
    submit(cheat, 100, played_at=now)  # recorded while hidden, counted on restore

    for board_period in board_periods:
        assert selectors.get_player_rank(user_id=cheat.pk, board_period=board_period) is None
        standing = selectors.get_player_rank(user_id=honest.pk, board_period=board_period)
        assert standing is not None and (standing.rank, standing.total_players) == (1, 1)
    assert [s.board.slug for s in selectors.list_standings(user_id=cheat.pk) if s.standing] == []

    services.restore_player(user_id=cheat.pk, moderator=moderator, reason="appeal upheld")

    assert listing(board_periods[0]) == [("cheat", 118, 1), ("honest", 8, 2)]
    assert listing(board_periods[1]) == before[1]  # best lower: 4 beats 9; 100 changes nothing
    assert listing(board_periods[2]) == before[2]  # the archive is back as it was
    assert listing(board_periods[3]) == [("cheat", 109, 1), ("honest", 4, 2)]


# --- around-me, friends, standings -----------------------------------------------------


@pytest.fixture
def ties() -> tuple[BoardRef, list[User]]:
    """A weekly board whose current week reads [10, 9, 9, 9, 8, 8]; p0..p5 in listing order."""
    board = make_board("weekly", window="weekly", time_zone="UTC")
    players = [make_player(f"p{n}") for n in range(6)]
    for n, (player, score) in enumerate(zip(players, [10, 9, 9, 9, 8, 8], strict=True)):
        submit(player, score, played_at=at(n))  # reached in listing order
    return board, players


@pytest.mark.parametrize(
    ("who", "count", "expected"),
    [
        (0, 1, [("p0", 1), ("p1", 2)]),  # the top: nothing above
        (0, 2, [("p0", 1), ("p1", 2), ("p2", 2)]),
        (2, 1, [("p1", 2), ("p2", 2), ("p3", 2)]),  # the middle of a tie
        (3, 1, [("p2", 2), ("p3", 2), ("p4", 5)]),  # the third 9: true ranks, not positions
        (3, 2, [("p1", 2), ("p2", 2), ("p3", 2), ("p4", 5), ("p5", 5)]),
        (4, 1, [("p3", 2), ("p4", 5), ("p5", 5)]),
        (5, 2, [("p3", 2), ("p4", 5), ("p5", 5)]),  # the bottom: nothing below
    ],
)
def test_around_me_shows_true_ranks_at_the_edges_and_inside_ties(
    ties: tuple[BoardRef, list[User]], who: int, count: int, expected: list[tuple[str, int]]
) -> None:
    board, players = ties
    board_period = board.period_at(BASE)

    around = selectors.get_around(board_period=board_period, user_id=players[who].pk, count=count)

    assert around is not None
    assert [(r.username, r.rank) for r in around.rows] == expected
    assert around.total_players == 6


def test_around_me_of_an_unranked_player_is_none(ties: tuple[BoardRef, list[User]]) -> None:
    board, _ = ties
    board_period = board.period_at(BASE)
    assert selectors.get_around(board_period=board_period, user_id=make_player().pk, count=2) is None


def test_a_friends_board_ranks_within_the_group_and_keeps_global_ranks(
    ties: tuple[BoardRef, list[User]],
) -> None:
    board, p = ties
    board_period = board.period_at(BASE)
    unranked, hidden = make_player("unranked"), make_player("hidden")
    for followed in (p[1], p[2], unranked, hidden):
        user_services.follow_player(follower_id=p[4].pk, followed_id=followed.pk)
    services.hide_player(user_id=hidden.pk, moderator=make_moderator(), reason="hidden")

    friends = selectors.get_friends(board=board, board_period=board_period, user_id=p[4].pk)

    assert [(r.standing.username, r.group_rank, r.standing.rank) for r in friends.rows] == [
        ("p1", 1, 2),
        ("p2", 1, 2),
        ("p4", 3, 5),
    ]
    assert (friends.group_size, friends.total_players) == (4, 6)  # the unranked friend is in the group


def test_a_lower_is_better_friends_board_ranks_the_lowest_first() -> None:
    board = make_board("low", aggregation="best", order="lower")
    me, fast, slow, outsider = (make_player(n) for n in ("me", "fast", "slow", "outsider"))
    for player, score in ((me, 30), (fast, 20), (slow, 40), (outsider, 10)):
        submit(player, score)
    for followed in (fast, slow):
        user_services.follow_player(follower_id=me.pk, followed_id=followed.pk)

    friends = selectors.get_friends(board=board, board_period=board.period("all"), user_id=me.pk)

    assert [(r.standing.username, r.group_rank, r.standing.rank) for r in friends.rows] == [
        ("fast", 1, 2),
        ("me", 2, 3),
        ("slow", 3, 4),
    ]


def test_standings_list_the_current_period_of_every_active_board() -> None:
    make_board("solo-daily", game_mode="solo", window="daily", time_zone="Asia/Tokyo")
    make_board("team-best", game_mode="team", aggregation="best")
    make_board("retired", is_active=False)
    player, rival = make_player("player"), make_player("rival")
    now = timezone.now()
    submit(rival, 50, game_mode="solo", played_at=now)
    submit(player, 7, game_mode="solo", played_at=now)
    submit(player, 3, game_mode="solo", played_at=now - timedelta(days=2))

    standings = selectors.list_standings(user_id=player.pk)

    by_slug = {s.board.slug: s for s in standings}
    assert list(by_slug) == ["global", "solo-daily", "team-best"]
    assert by_slug["solo-daily"].period == by_slug["solo-daily"].board.period_at(timezone.now())
    solo = by_slug["solo-daily"].standing
    assert solo is not None and (solo.total_score, solo.session_count, solo.rank) == (7, 1, 2)
    total = by_slug["global"].standing
    assert total is not None and (total.total_score, total.session_count, total.rank) == (10, 2, 2)
    assert by_slug["team-best"].standing is None
