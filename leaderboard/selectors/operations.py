"""Reads for operators: where ranks come from, cache figures, and the health page's counts."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import connection, models
from django.utils import timezone

from leaderboard import ranking
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.models import GameSession
from leaderboard.selectors.boards import get_default_board_ref, list_active_boards
from users.models import User


def list_rank_sources() -> list[tuple[BoardRef, BoardPeriod, str]]:
    """Every active board's current period and where its ranks come from now ("redis" or "sql")."""
    now = timezone.now()
    current = [(board, board.period_at(now)) for board in list_active_boards()]
    return [(board, bp, ranking.rank_source(board_period=bp)) for board, bp in current]


def get_stats() -> dict[str, object]:
    cache = ranking.cache_stats()
    return {
        "boards": [
            {"slug": board.slug, "period": bp.period, "rank_source": source}
            for board, bp, source in list_rank_sources()
        ],
        "top_cache_hits": cache["top_hits"],
        "top_cache_misses": cache["top_misses"],
        "top_cache_hit_ratio": cache["top_hit_ratio"],
    }


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
    board = get_default_board_ref().period_at(timezone.now())
    since = timezone.now() - timedelta(minutes=1)
    cache = ranking.cache_stats()
    return Health(
        players=estimate_row_count(model=User),
        sessions=estimate_row_count(model=GameSession),
        ranked_players=ranking.get_top(board_period=board, limit=1).total_players,
        submits_last_minute=GameSession.objects.filter(played_at__gte=since).count(),
        rank_source=ranking.rank_source(board_period=board),
        cache_hits=int(cache["top_hits"] or 0),
        cache_misses=int(cache["top_misses"] or 0),
        cache_hit_ratio=cache["top_hit_ratio"],
    )
