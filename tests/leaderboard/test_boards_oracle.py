"""Boards of every kind against an independent oracle: listings, ranks, around-me and cursor pages.

The oracle below is plain Python over the list of sessions the test submitted. It shares no code with
`leaderboard/` (no periods, no entries, no ranking): it finds each session's period with zoneinfo,
aggregates per DESIGN.md "Ranking rules" and ranks by counting strictly better values.
"""

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import TestCase, override_settings
from django.utils import timezone
from django_redis import get_redis_connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard import ranking, selectors, services
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.models import LeaderboardEntry
from leaderboard.ranking import redis_index, sql
from tests.factories import make_moderator, make_player, submit
from tests.redis_server import mark_redis_long_lived

pytestmark = pytest.mark.django_db

TIME_ZONES = ("UTC", "Europe/Paris", "America/New_York")
KINDS = list(
    itertools.product(
        ("sum", "best", "latest"), ("higher", "lower"), ("all_time", "daily", "weekly", "monthly")
    )
)
# Spans of played_at around daylight-saving changes (and month ends): Paris springs forward on
# 2026-03-29, New York on 2026-03-08; Paris falls back on 2026-10-25, New York on 2026-11-01.
DST_SPANS = (
    (datetime(2026, 3, 27, tzinfo=UTC), timedelta(days=6)),
    (datetime(2026, 3, 6, tzinfo=UTC), timedelta(days=5)),
    (datetime(2026, 10, 23, tzinfo=UTC), timedelta(days=10)),
)
SLOT = timedelta(minutes=30)
TICK = timedelta(microseconds=1)


# --- the oracle -----------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    slug: str
    aggregation: str
    order: str
    window: str
    time_zone: str = "UTC"
    week_start: int = 0
    game_mode: str = ""


@dataclass
class Played:
    id: int
    user_id: int
    score: int
    game_mode: str
    played_at: datetime
    void: bool = False


# (user_id, username, value, session_count, rank, total_players, percentile)
Row = tuple[int, str, int, int, int, int, float]


def oracle_period(spec: Spec, at: datetime) -> str:
    if spec.window == "all_time":
        return "all"
    day = at.astimezone(ZoneInfo(spec.time_zone)).date()
    if spec.window == "daily":
        return day.isoformat()
    if spec.window == "monthly":
        return f"{day.year:04d}-{day.month:02d}"
    while day.weekday() != spec.week_start:
        day -= timedelta(days=1)
    return day.isoformat()


def oracle_value(spec: Spec, sessions: list[Played]) -> tuple[int, datetime]:
    """The board's value for one player's sessions in one period, and when it was reached."""
    if spec.aggregation == "sum":
        scored = [s.played_at for s in sessions if s.score > 0]
        reached = max(scored) if scored else min(s.played_at for s in sessions)
        return sum(s.score for s in sessions), reached
    if spec.aggregation == "best":
        sign = -1 if spec.order == "higher" else 1
        held = min(sessions, key=lambda s: (sign * s.score, s.played_at, s.id))
    else:
        held = max(sessions, key=lambda s: (s.played_at, s.id))
    return held.score, held.played_at


def oracle_listings(
    spec: Spec, sessions: list[Played], hidden: set[int], usernames: dict[int, str]
) -> dict[str, list[Row]]:
    """Every period with entries -> its full listing, best first, with true ranks."""
    grouped: dict[str, dict[int, list[Played]]] = defaultdict(lambda: defaultdict(list))
    for s in sessions:
        if s.void or s.user_id in hidden or spec.game_mode not in ("", s.game_mode):
            continue
        grouped[oracle_period(spec, s.played_at)][s.user_id].append(s)
    sign = -1 if spec.order == "higher" else 1
    listings = {}
    for key, by_user in grouped.items():
        entries = []
        for user_id, mine in by_user.items():
            value, reached = oracle_value(spec, mine)
            entries.append((sign * value, reached, user_id, value, len(mine)))
        entries.sort()
        n = len(entries)
        rows = []
        for better_first, _, user_id, value, count in entries:
            rank = 1 + sum(1 for other in entries if other[0] < better_first)
            rows.append((user_id, usernames[user_id], value, count, rank, n, round(100 * (n - rank) / n, 2)))
        listings[key] = rows
    return listings


# --- driving the implementation ---------------------------------------------------


def row(standing: ranking.Standing) -> Row:
    return (
        standing.user_id,
        standing.username,
        standing.total_score,
        standing.session_count,
        standing.rank,
        standing.total_players,
        standing.percentile,
    )


def walk_pages(board_period: BoardPeriod, limit: int) -> list[Row]:
    walked: list[Row] = []
    page = selectors.get_top_page(board_period=board_period, limit=limit, after=None, changed_until=None)
    while page.rows:
        assert len(page.rows) <= limit
        walked += [row(s) for s in page.rows]
        page = selectors.get_top_page(
            board_period=board_period, limit=limit, after=page.last_key, changed_until=None
        )
    return walked


def assert_period_matches(
    board_period: BoardPeriod, expected: list[Row], user_ids: list[int], *, with_index: bool
) -> None:
    """SQL always; with the index on, the selectors read it (where it is complete) and SQL is read too."""
    where = f"{board_period}"
    full = sql.get_top(board_period=board_period, limit=1000)
    assert [row(s) for s in full.rows] == expected, where
    assert full.total_players == len(expected), where
    if with_index:
        top = selectors.get_top(limit=100, board_period=board_period)  # the cached listing
        assert [row(s) for s in top.rows] == expected, where
        assert top.total_players == len(expected), where

    by_user = {r[0]: r for r in expected}
    for user_id in user_ids:
        standing = selectors.get_player_rank(user_id=user_id, board_period=board_period)
        assert (row(standing) if standing else None) == by_user.get(user_id), (where, user_id)
        if with_index:
            from_sql = sql.get_standing(board_period=board_period, user_id=user_id)
            assert (row(from_sql) if from_sql else None) == by_user.get(user_id), (where, user_id)

    last = len(expected) - 1
    # The first and the last row (windows cut by the edges), and one in the middle.
    for position, count in sorted({(0, 1), (0, 2), (last // 2, 1), (last, 1), (last, 2)}):
        around = selectors.get_around(board_period=board_period, user_id=expected[position][0], count=count)
        assert around is not None, where
        window = expected[max(0, position - count) : position + count + 1]
        assert [row(s) for s in around.rows] == window, (where, position, count)
        assert around.total_players == len(expected), where

    assert walk_pages(board_period, limit=2) == expected, where


@dataclass(frozen=True)
class Plan:
    players: int
    # (player index, score, game mode, instant: (at a period edge?, which, just before it?))
    sessions: list[tuple[int, int, str, tuple[bool, int, bool]]]
    # How many sessions are submitted before the rank index is rebuilt (the rest arrive live).
    before_rebuild: int
    voids: list[int]
    hidden: int | None
    # Per kind of board: (time zone, game mode, week start).
    boards: list[tuple[str, str, int]]


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    players = draw(st.integers(2, 6))
    instants = st.tuples(st.booleans(), st.integers(0, 10_000), st.booleans())
    session = st.tuples(
        st.integers(0, players - 1), st.integers(0, 20), st.sampled_from(("solo", "team")), instants
    )
    board = st.tuples(st.sampled_from(TIME_ZONES), st.sampled_from(("", "solo")), st.integers(0, 6))
    return Plan(
        players=players,
        sessions=draw(st.lists(session, min_size=1, max_size=24)),
        before_rebuild=draw(st.integers(0, 24)),
        voids=draw(st.lists(st.integers(0, 10_000), max_size=3)),
        hidden=draw(st.one_of(st.none(), st.integers(0, players - 1))),
        boards=draw(st.lists(board, min_size=len(KINDS), max_size=len(KINDS))),
    )


def local_midnights(start: datetime, span: timedelta) -> list[datetime]:
    """Every local midnight of every test time zone within the span, as instants."""
    edges = set()
    for name in TIME_ZONES:
        zone = ZoneInfo(name)
        day = (start - timedelta(days=1)).astimezone(zone).date()
        while (midnight := datetime(day.year, day.month, day.day, tzinfo=zone)) < start + span:
            if midnight >= start:
                edges.add(midnight.astimezone(UTC))
            day += timedelta(days=1)
    return sorted(edges)


def instant(start: datetime, span: timedelta, edges: list[datetime], at: tuple[bool, int, bool]) -> datetime:
    at_edge, which, just_before = at
    if at_edge and edges:
        return edges[which % len(edges)] - (TICK if just_before else timedelta(0))
    return start + SLOT * (which % (span // SLOT))


def run_plan(plan: Plan, start: datetime, span: timedelta, *, with_index: bool) -> None:
    """Submit the plan's sessions, moderate, then compare every board period with the oracle."""
    selectors.forget_rarely_changing()
    specs = [
        Spec(f"{agg}-{order}-{window}", agg, order, window, tz, week_start, mode)
        for (agg, order, window), (tz, mode, week_start) in zip(KINDS, plan.boards, strict=True)
    ]
    for spec in specs:
        services.create_board(
            slug=spec.slug,
            name=spec.slug,
            game_mode=spec.game_mode,
            aggregation=spec.aggregation,
            order=spec.order,
            window=spec.window,
            time_zone=spec.time_zone,
            week_start=spec.week_start,
        )
    selectors.forget_rarely_changing()
    specs.append(Spec(selectors.default_board_slug(), "sum", "higher", "all_time"))
    boards = {spec.slug: selectors.get_board(slug=spec.slug) for spec in specs}
    players = [make_player() for _ in range(plan.players)]
    usernames = {p.pk: p.username for p in players}
    moderator = make_moderator()
    edges = local_midnights(start, span)
    played: list[Played] = []

    def play(index: int, score: int, mode: str, at: tuple[bool, int, bool]) -> None:
        played_at = instant(start, span, edges, at)
        with TestCase.captureOnCommitCallbacks(execute=True):
            session = submit(players[index], score, game_mode=mode, played_at=played_at).session
        played.append(Played(session.pk, players[index].pk, score, mode, played_at))

    for session in plan.sessions[: plan.before_rebuild]:
        play(*session)
    rebuilt: list[BoardPeriod] = []
    if with_index:
        for board in boards.values():
            assert board is not None
            for key in set(
                LeaderboardEntry.objects.filter(board_id=board.id).values_list("period", flat=True)
            ):
                board_period = board.period(key)
                if board_period.is_indexed_at(timezone.now()):
                    redis_index.rebuild(board_period=board_period)
                    rebuilt.append(board_period)
    for session in plan.sessions[plan.before_rebuild :]:
        play(*session)
    for index in sorted({n % len(played) for n in plan.voids}):
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.void_session(session_id=played[index].id, moderator=moderator, reason="test")
        played[index].void = True
    hidden = set()
    if plan.hidden is not None:
        with TestCase.captureOnCommitCallbacks(execute=True):
            services.hide_player(user_id=players[plan.hidden].pk, moderator=moderator, reason="test")
        hidden.add(players[plan.hidden].pk)

    for board_period in rebuilt:
        assert ranking.rank_source(board_period=board_period) == "redis", board_period
    user_ids = [p.pk for p in players]
    for spec in specs:
        board = boards[spec.slug]
        assert isinstance(board, BoardRef)
        expected = oracle_listings(spec, played, hidden, usernames)
        stored = set(LeaderboardEntry.objects.filter(board_id=board.id).values_list("period", flat=True))
        assert stored == set(expected), spec
        for key, listing in expected.items():
            assert_period_matches(board.period(key), listing, user_ids, with_index=with_index)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans(), span=st.sampled_from(DST_SPANS))
def test_every_kind_of_board_ranks_as_the_oracle_across_daylight_saving_on_sql(
    plan: Plan, span: tuple[datetime, timedelta]
) -> None:
    with override_settings(REDIS_URL=""), transaction.atomic():
        run_plan(plan, *span, with_index=False)
        transaction.set_rollback(True)


@pytest.mark.redis
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans())
def test_every_kind_of_board_ranks_as_the_oracle_on_the_rank_index(plan: Plan) -> None:
    """Recent sessions, so current periods (and previous ones in their grace time) are indexed:
    the index is rebuilt, then live submits, voids and a hide reach it after commit."""
    get_redis_connection("default").flushdb()
    mark_redis_long_lived()
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    span = timedelta(days=3)
    with transaction.atomic():
        run_plan(plan, now - span, span, with_index=True)
        transaction.set_rollback(True)
