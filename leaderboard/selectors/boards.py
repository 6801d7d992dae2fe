"""Reads of boards and standings: which boards exist and feed on what, their periods, a player's rank,
top pages, around-me and friends listings."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from leaderboard import apm, entries, periods, ranking
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.errors import InvalidPeriodParameter
from leaderboard.models import Board, ScoreBaseline
from leaderboard.plausibility import Baseline
from users.models import Follow

# Boards and score baselines change rarely; each process re-reads them this often for its reads.
# Writes never use this cache: a submit reads the boards it feeds inside its transaction.
RARELY_CHANGING_SECONDS = 10.0
T = TypeVar("T")


class _Remembered(Generic[T]):
    """A value loaded from the database at most every RARELY_CHANGING_SECONDS per process."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: tuple[float, T] | None = None

    def get(self) -> T:
        now = time.monotonic()
        if self._value is None or self._value[0] < now:
            self._value = (now + RARELY_CHANGING_SECONDS, self._load())
        return self._value[1]

    def forget(self) -> None:
        self._value = None


def _load_boards() -> dict[str, BoardRef]:
    return {board.slug: BoardRef.of(board) for board in Board.objects.order_by("slug")}


def _load_score_baselines() -> dict[str, Baseline]:
    return {
        b.game_mode: Baseline(p99_score=b.p99_score, sample_size=b.sample_size)
        for b in ScoreBaseline.objects.all()
    }


_boards = _Remembered(_load_boards)
_score_baselines = _Remembered(_load_score_baselines)


def forget_rarely_changing() -> None:
    """Re-read boards and baselines on next use (after they change, and between tests)."""
    _boards.forget()
    _score_baselines.forget()


def get_score_baseline(*, game_mode: str) -> Baseline | None:
    return _score_baselines.get().get(game_mode)


def default_board_slug() -> str:
    return settings.LEADERBOARD_DEFAULT_BOARD


class DefaultBoardMissing(Exception):
    """Reads never create it: the migrations do (`manage.py migrate`), and it cannot be deleted."""

    def __init__(self) -> None:
        super().__init__(
            f"The default board {settings.LEADERBOARD_DEFAULT_BOARD!r} is missing: run `manage.py migrate`."
        )


def list_active_boards() -> list[BoardRef]:
    """Boards that take new sessions, the default board first (it always counts, even deactivated)."""
    boards = [b for b in _boards.get().values() if b.is_active or b.slug == default_board_slug()]
    return sorted(boards, key=lambda b: (b.slug != default_board_slug(), b.slug))


def get_board(*, slug: str) -> BoardRef | None:
    """Any board by slug, active or retired (a retired board's archives stay readable)."""
    return _boards.get().get(slug)


def get_default_board() -> Board:
    try:
        return Board.objects.get(slug=settings.LEADERBOARD_DEFAULT_BOARD)
    except Board.DoesNotExist:
        raise DefaultBoardMissing() from None


def get_default_board_ref() -> BoardRef:
    board = get_board(slug=default_board_slug())
    if board is None:
        raise DefaultBoardMissing()
    return board


def list_boards() -> list[BoardRef]:
    """Every board, active or not, read now (moderation recounts them all)."""
    boards = [BoardRef.of(board) for board in Board.objects.order_by("id")]
    if not any(b.slug == default_board_slug() for b in boards):
        raise DefaultBoardMissing()
    return boards


def list_boards_taking_sessions() -> list[BoardRef]:
    """The boards new sessions count on (active ones and the default), read now: submits call it in
    their transaction, so a board created a moment ago gets their sessions."""
    boards = [
        BoardRef.of(board)
        for board in Board.objects.filter(Q(is_active=True) | Q(slug=default_board_slug())).order_by("id")
    ]
    if not any(b.slug == default_board_slug() for b in boards):
        raise DefaultBoardMissing()
    return boards


def list_boards_fed_by(*, game_mode: str) -> list[BoardRef]:
    """The boards a session of `game_mode` counts on, read now."""
    return [
        b
        for b in list_boards_taking_sessions()
        if entries.counts_on_board(board_game_mode=b.game_mode, game_mode=game_mode)
    ]


# --- periods ------------------------------------------------------------------

CURRENT = "current"
PREVIOUS = "previous"


def resolve_period(*, board: BoardRef, period: str | None = None, now: datetime | None = None) -> BoardPeriod:
    """The board period a request names: "current" (the default), "previous", or a period key.

    InvalidPeriodParameter for a key that is not one of this board's, or a period that has not begun.
    """
    now = now or timezone.now()
    current = board.period_at(now)
    if period in (None, "", CURRENT):
        return current
    if period == PREVIOUS:
        previous = board.previous_period_key(current.period)
        if previous is None:
            raise InvalidPeriodParameter("An all-time board has no previous period.")
        return board.period(previous)
    try:
        bounds = board.period_bounds(period)
    except periods.InvalidPeriod as exc:
        raise InvalidPeriodParameter(str(exc)) from exc
    if bounds.starts_at is not None and bounds.starts_at > now:
        raise InvalidPeriodParameter(f"The period {period!r} has not begun yet.")
    return board.period(period)


@dataclass(frozen=True)
class PeriodInfo:
    key: str
    starts_at: datetime | None
    ends_at: datetime | None
    is_current: bool
    previous: str | None  # the key of the period before (None on all-time boards)
    next: str | None  # the key of the period after, once it has begun
    # When this board next resets (the current period's end); None on all-time boards.
    next_reset_at: datetime | None


def describe_period(*, board: BoardRef, board_period: BoardPeriod, now: datetime | None = None) -> PeriodInfo:
    now = now or timezone.now()
    bounds = board.period_bounds(board_period.period)
    current = board.period_bounds(board.period_key_at(now))
    following = board.next_period_key(board_period.period)
    return PeriodInfo(
        key=board_period.period,
        starts_at=bounds.starts_at,
        ends_at=bounds.ends_at,
        is_current=bounds.key == current.key,
        previous=board.previous_period_key(board_period.period),
        next=following if bounds.key != current.key else None,
        next_reset_at=current.ends_at,
    )


# --- standings ----------------------------------------------------------------


def _current(board: BoardRef | None, board_period: BoardPeriod | None) -> BoardPeriod:
    if board_period is not None:
        return board_period
    return (board or get_default_board_ref()).period_at(timezone.now())


def _annotate(board_period: BoardPeriod) -> None:
    board = next((b for b in _boards.get().values() if b.id == board_period.board_id), None)
    if board is not None:
        apm.annotate_board(board_period=board_period, slug=board.slug)


def get_player_rank(
    *, user_id: int, board: BoardRef | None = None, board_period: BoardPeriod | None = None
) -> ranking.Standing | None:
    """A player's standing on a board period (default: the default board, now)."""
    target = _current(board, board_period)
    _annotate(target)
    return ranking.get_standing(board_period=target, user_id=user_id)


def get_top(
    *, limit: int, board: BoardRef | None = None, board_period: BoardPeriod | None = None
) -> ranking.TopPlayers:
    target = _current(board, board_period)
    _annotate(target)
    return ranking.get_top(board_period=target, limit=limit)


def get_top_json(*, limit: int, board: BoardRef | None = None) -> tuple[bytes, int]:
    """The top rows of a board's current period as the JSON array the API sends, and the players."""
    target = _current(board, None)
    _annotate(target)
    return ranking.get_top_json(board_period=target, limit=limit)


def get_top_page(
    *, board_period: BoardPeriod, limit: int, after: ranking.ListingKey | None, changed_until: int | None
) -> ranking.TopPlayers:
    """A page of the listing: the first one (after None), or the rows after a cursor's position."""
    _annotate(board_period)
    if after is None:
        return ranking.get_top(board_period=board_period, limit=limit)
    return ranking.list_after(
        board_period=board_period, after=after, limit=limit, changed_until=changed_until
    )


def get_around(*, board_period: BoardPeriod, user_id: int, count: int) -> ranking.TopPlayers | None:
    """The player with `count` players above and below, with true ranks (None: not on the board)."""
    _annotate(board_period)
    return ranking.list_around(board_period=board_period, user_id=user_id, count=count)


@dataclass(frozen=True)
class FriendRow:
    group_rank: int
    standing: ranking.Standing  # its rank is the rank on the whole board period


@dataclass(frozen=True)
class FriendsBoard:
    rows: list[FriendRow]
    group_size: int  # the player and the visible players they follow, listed or not
    total_players: int


def get_friends(*, board: BoardRef, board_period: BoardPeriod, user_id: int) -> FriendsBoard:
    """The player and the players they follow on a board period, ranked within the group and overall."""
    followed = list(
        Follow.objects.filter(follower_id=user_id, followed__is_hidden=False).values_list(
            "followed_id", flat=True
        )
    )
    group = [user_id, *followed]
    listed = ranking.list_members(board_period=board_period, user_ids=group)
    group_ranks = ranking.competition_ranks([board.rank_value(row.total_score) for row in listed.rows])
    return FriendsBoard(
        rows=[FriendRow(group_rank=r, standing=row) for r, row in zip(group_ranks, listed.rows, strict=True)],
        group_size=len(group),
        total_players=listed.total_players,
    )


@dataclass(frozen=True)
class BoardStanding:
    board: BoardRef
    period: BoardPeriod
    standing: ranking.Standing | None


def list_standings(*, user_id: int) -> list[BoardStanding]:
    """The player's standing in the current period of every active board (None where unranked)."""
    now = timezone.now()
    result = []
    for board in list_active_boards():
        board_period = board.period_at(now)
        result.append(
            BoardStanding(
                board=board,
                period=board_period,
                standing=ranking.get_standing(board_period=board_period, user_id=user_id),
            )
        )
    return result


def get_placement(*, user_id: int, total_score: int, board: BoardRef | None = None) -> ranking.Placement:
    """The rank a value has on a board's current period right now."""
    board = board or get_default_board_ref()
    return ranking.get_placement(
        board_period=board.period_at(timezone.now()),
        user_id=user_id,
        rank_value=board.rank_value(total_score),
    )


@dataclass(frozen=True)
class UnlistedStanding:
    total_score: int
    session_count: int
    placement: ranking.Placement


def get_unlisted_standing(*, user_id: int, board: BoardRef | None = None) -> UnlistedStanding:
    """Where a (hidden) player's counted sessions would place them on a board's current period."""
    board = board or get_default_board_ref()
    board_period = board.period_at(timezone.now())
    sessions = entries.load_counted_sessions(
        user_ids=[user_id], game_mode=board.game_mode, as_if_visible=True
    )
    mine = [e for e in entries.fold(sessions, [board]) if e.period == board_period.period]
    value, count = (mine[0].value, mine[0].session_count) if mine else (0, 0)
    # A player without an entry is counted among the players, as if they were listed.
    placement = ranking.get_placement(
        board_period=board_period, user_id=user_id, rank_value=board.rank_value(value)
    )
    return UnlistedStanding(total_score=value, session_count=count, placement=placement)
