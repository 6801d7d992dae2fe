"""Reads reused across the API, the web pages and the commands."""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from django.conf import settings
from django.db import connection, models
from django.db.models import F, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from leaderboard import apm, entries, ranking
from leaderboard.models import Board, GameSession, ScoreBaseline
from leaderboard.plausibility import Baseline
from users.models import Follow, User

# Boards and score baselines change rarely; each process re-reads them this often.
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


@dataclass(frozen=True)
class BoardRef:
    id: int
    slug: str
    game_mode: str
    name: str = ""


def _load_active_boards() -> list[BoardRef]:
    return [
        BoardRef(id=b.id, slug=b.slug, game_mode=b.game_mode, name=b.name)
        for b in Board.objects.filter(Q(is_active=True) | Q(slug=settings.LEADERBOARD_DEFAULT_BOARD)).only(
            "id", "slug", "game_mode", "name"
        )
    ]


def _load_score_baselines() -> dict[str, Baseline]:
    return {
        b.game_mode: Baseline(p99_score=b.p99_score, sample_size=b.sample_size)
        for b in ScoreBaseline.objects.all()
    }


_active_boards = _Remembered(_load_active_boards)
_score_baselines = _Remembered(_load_score_baselines)


def list_active_boards() -> list[BoardRef]:
    return _active_boards.get()


def list_boards() -> list[BoardRef]:
    """Every board, active or not, read now (moderation recounts them all)."""
    get_default_board()
    return [
        BoardRef(id=b.id, slug=b.slug, game_mode=b.game_mode, name=b.name)
        for b in Board.objects.only("id", "slug", "game_mode", "name")
    ]


def get_score_baseline(*, game_mode: str) -> Baseline | None:
    return _score_baselines.get().get(game_mode)


def forget_rarely_changing() -> None:
    """Re-read boards and baselines on next use (after they change, and between tests)."""
    _active_boards.forget()
    _score_baselines.forget()


def list_boards_for_mode(*, game_mode: str) -> list[BoardRef]:
    return [
        b
        for b in list_active_boards()
        if entries.counts_on_board(board_game_mode=b.game_mode, game_mode=game_mode)
    ]


def get_default_board() -> Board:
    try:
        return Board.objects.get(slug=settings.LEADERBOARD_DEFAULT_BOARD)
    except Board.DoesNotExist:
        raise DefaultBoardMissing() from None


def get_default_board_ref() -> BoardRef:
    slug = settings.LEADERBOARD_DEFAULT_BOARD
    board = next((b for b in list_active_boards() if b.slug == slug), None)
    if board is None:
        raise DefaultBoardMissing()
    return board


class DefaultBoardMissing(Exception):
    """Reads never create it: the migrations do (`manage.py migrate`), and it cannot be deleted."""

    def __init__(self) -> None:
        super().__init__(
            f"The default board {settings.LEADERBOARD_DEFAULT_BOARD!r} is missing: run `manage.py migrate`."
        )


def get_player_rank(*, user_id: int, board: BoardRef | None = None) -> ranking.Standing | None:
    board = board or get_default_board_ref()
    apm.annotate_board(board_id=board.id, slug=board.slug)
    return ranking.get_standing(board_id=board.id, user_id=user_id)


def get_top(*, limit: int, board: BoardRef | None = None) -> ranking.TopPlayers:
    board = board or get_default_board_ref()
    apm.annotate_board(board_id=board.id, slug=board.slug)
    return ranking.get_top(board_id=board.id, limit=limit)


def get_placement(*, user_id: int, total_score: int, board: BoardRef | None = None) -> ranking.Placement:
    """The rank a total has on a board right now."""
    board = board or get_default_board_ref()
    return ranking.get_placement(board_id=board.id, user_id=user_id, total_score=total_score)


@dataclass(frozen=True)
class UnlistedStanding:
    total_score: int
    session_count: int
    placement: ranking.Placement


def get_unlisted_standing(*, user_id: int, board: BoardRef | None = None) -> UnlistedStanding:
    """Where a player's counted sessions would place them on a board they are not listed on."""
    board = board or get_default_board_ref()
    sessions = entries.counted_sessions(user_id=user_id, board_game_mode=board.game_mode)
    totals = sessions.aggregate(total=Sum("score", default=0), count=models.Count("id"))
    return UnlistedStanding(
        total_score=totals["total"],
        session_count=totals["count"],
        # A player without an entry is counted among the players, as if they were listed.
        placement=ranking.get_placement(board_id=board.id, user_id=user_id, total_score=totals["total"]),
    )


# --- Players ------------------------------------------------------------------

SEARCH_LIMIT = 10


def get_visible_player(*, user_id: int) -> User | None:
    """A player anyone may look at: hidden players do not exist for the public pages."""
    return User.objects.filter(pk=user_id, is_hidden=False).only("id", "username", "date_joined").first()


def get_visible_player_id_by_username(*, username: str) -> int | None:
    return User.objects.filter(username=username, is_hidden=False).values_list("id", flat=True).first()


# On PostgreSQL, ORDER BY ... USING ~<~ is the order of the users_username_prefix index
# (varchar_pattern_ops), so the scan starts at the prefix and stops after `limit` rows.
# A plain ORDER BY username may walk the whole unique index when the prefix is rare.
_SEARCH_PLAYERS_SQL = """
SELECT id, username FROM users
WHERE username LIKE %s AND NOT is_hidden
ORDER BY username USING ~<~
LIMIT %s
"""


def search_players(*, prefix: str, limit: int = SEARCH_LIMIT) -> list[User]:
    """Players whose username starts with `prefix`, in name order (served by users_username_prefix)."""
    prefix = prefix.strip()
    if not prefix:
        return []
    if connection.vendor == "postgresql":
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return list(User.objects.raw(_SEARCH_PLAYERS_SQL, [pattern, limit]))
    return list(
        User.objects.filter(username__startswith=prefix, is_hidden=False)
        .order_by("username")
        .only("id", "username")[:limit]
    )


@dataclass(frozen=True)
class FollowedPlayer:
    user_id: int
    username: str
    since: datetime


def list_following(*, user_id: int) -> list[FollowedPlayer]:
    """The visible players this player follows, in the order they were followed."""
    rows = (
        Follow.objects.filter(follower_id=user_id, followed__is_hidden=False)
        .order_by("created_at", "followed_id")
        .values_list("followed_id", "followed__username", "created_at")
    )
    return [FollowedPlayer(user_id=uid, username=name, since=since) for uid, name, since in rows]


def list_counted_sessions(*, user_id: int) -> models.QuerySet[GameSession]:
    """A player's counted sessions, newest first (the session_user_played index order)."""
    return (
        GameSession.objects.counted()
        .filter(user_id=user_id)
        .order_by("-played_at", "-id")
        .only("id", "score", "game_mode", "played_at")
    )


@dataclass(frozen=True)
class HistoryPoint:
    played_at: datetime
    total_score: int


def get_score_history(*, user_id: int, max_points: int = 60) -> list[HistoryPoint]:
    """The player's running total over their counted sessions, at most `max_points` points.

    With more sessions than points, every k-th session's running total is kept (always the
    first and the last), so the curve keeps its shape and the page stays small.
    """
    order = [F("played_at").asc(), F("id").asc()]
    sessions = GameSession.objects.counted().filter(user_id=user_id)
    count = sessions.count()
    if count == 0:
        return []
    step = max(1, math.ceil(count / max_points))
    positions = sorted({1, count, *range(step, count + 1, step)})
    rows = (
        sessions.annotate(
            running_total=Window(Sum("score"), order_by=order),
            position=Window(RowNumber(), order_by=order),
        )
        .filter(position__in=positions)
        .order_by("position")
        .values_list("played_at", "running_total")
    )
    return [HistoryPoint(played_at=played_at, total_score=total) for played_at, total in rows]


def get_stats() -> dict[str, object]:
    cache = ranking.cache_stats()
    return {
        "boards": [
            {"slug": b.slug, "rank_source": ranking.rank_source(board_id=b.id)} for b in list_active_boards()
        ],
        "top_cache_hits": cache["top_hits"],
        "top_cache_misses": cache["top_misses"],
        "top_cache_hit_ratio": cache["top_hit_ratio"],
    }


# --- Operations ---------------------------------------------------------------

# Below this many rows an exact COUNT is cheap enough; above it PostgreSQL's estimate serves.
EXACT_COUNT_BELOW = 100_000


def estimate_row_count(*, model: type[models.Model]) -> int:
    """Rows in a model's table: the planner's estimate on PostgreSQL when large, else exact."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
            )
            row = cursor.fetchone()
        if row is not None and row[0] >= EXACT_COUNT_BELOW:
            return int(row[0])
    return model._default_manager.count()


@dataclass(frozen=True)
class Health:
    players: int
    sessions: int
    ranked_players: int
    submits_last_minute: int
    rank_source: str
    cache_hits: int
    cache_misses: int
    cache_hit_ratio: float | None  # None before the first lookup or without a cache


def get_health() -> Health:
    board = get_default_board_ref()
    since = timezone.now() - timedelta(minutes=1)
    cache = ranking.cache_stats()
    return Health(
        players=estimate_row_count(model=User),
        sessions=estimate_row_count(model=GameSession),
        ranked_players=ranking.get_top(board_id=board.id, limit=1).total_players,
        submits_last_minute=GameSession.objects.filter(played_at__gte=since).count(),
        rank_source=ranking.rank_source(board_id=board.id),
        cache_hits=int(cache["top_hits"] or 0),
        cache_misses=int(cache["top_misses"] or 0),
        cache_hit_ratio=cache["top_hit_ratio"],
    )
