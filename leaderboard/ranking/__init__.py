"""Ranking: the rank index in Redis, its SQL fallback, and the cached top listing.

This package owns the tie rules, the Redis keys and the rebuild; it is the only code that
talks to Redis directly. Every answer is the same whichever path produced it: the Redis index
when it is known to be complete, otherwise SQL (correct, slower). Services announce a change before
its COMMIT (`announce_changes`) and publish it after (`record_entries`, `on_entries_changed`).
"""

import contextlib
import logging
import time

from leaderboard import db_router, metrics
from leaderboard.ranking import intents, redis_index, sql
from leaderboard.ranking.intents import Intent, guard_commit
from leaderboard.ranking.redis_index import IndexUnavailable
from leaderboard.ranking.rules import (
    LISTING_ORDER,
    EntryState,
    Placement,
    Standing,
    TopPlayers,
    competition_ranks,
    percentile,
)

__all__ = [
    "LISTING_ORDER",
    "EntryState",
    "Intent",
    "Placement",
    "Standing",
    "TopPlayers",
    "competition_ranks",
    "guard_commit",
    "percentile",
]

log = logging.getLogger(__name__)


def _settled_here() -> bool:
    """False while this process owes the index a settlement it could not make yet.

    It left a change out of the index (a debt row, a failed write): until the boards are marked
    incomplete, nothing this process reads from the index is trusted.
    """
    if intents.has_pending():
        intents.settle_own()
    return not intents.has_pending()


def get_standing(*, board_id: int, user_id: int) -> Standing | None:
    if not _settled_here():
        return sql.get_standing(board_id=board_id, user_id=user_id)
    try:
        indexed = redis_index.read_standing(board_id=board_id, user_id=user_id)
    except IndexUnavailable:
        return sql.get_standing(board_id=board_id, user_id=user_id)
    if indexed is None:
        # A first score committed an instant ago may not have reached the index yet.
        return sql.get_standing(board_id=board_id, user_id=user_id)
    return Standing(
        user_id=user_id,
        username=indexed.username,
        total_score=indexed.total_score,
        session_count=indexed.session_count,
        rank=1 + indexed.players_above,
        total_players=indexed.total_players,
    )


def get_placement(*, board_id: int, user_id: int, total_score: int) -> Placement:
    """Where this player stands with this total, whether or not the total is committed yet."""
    if not _settled_here():
        return sql.get_placement(board_id=board_id, user_id=user_id, total_score=total_score)
    try:
        above, players = redis_index.read_placement(
            board_id=board_id, user_id=user_id, total_score=total_score
        )
    except IndexUnavailable:
        return sql.get_placement(board_id=board_id, user_id=user_id, total_score=total_score)
    return Placement(rank=1 + above, total_players=players)


def get_top(*, board_id: int, limit: int) -> TopPlayers:
    if limit > redis_index.TOP_CACHE_ROWS or not _settled_here():
        return sql.get_top(board_id=board_id, limit=limit)
    try:
        cached = redis_index.read_top(board_id=board_id)
    except IndexUnavailable:
        return sql.get_top(board_id=board_id, limit=limit)
    rows = cached.rows
    metrics.note_top_lookup(cached=rows is not None)
    if rows is None:
        # The cached listing is served as current until the next write: read it from the primary,
        # never from a replica that may not have replayed the write that emptied the cache yet.
        with db_router.primary_reads():
            rows = sql.list_top_rows(board_id=board_id, limit=redis_index.TOP_CACHE_ROWS)
        redis_index.fill_top(board_id=board_id, generation=cached.generation, rows=rows)
    return sql.ranked(rows[:limit], total_players=cached.total_players)


def announce_changes(*, board_ids: list[int] | None = None) -> Intent | None:
    """Tell the index, just before COMMIT, that these boards (None: all) are about to change."""
    if not redis_index.is_enabled():
        return None
    ids = sql.list_board_ids() if board_ids is None else board_ids
    return intents.announce(board_ids=ids) if ids else None


def record_entries(states: list[EntryState], *, intent: Intent | None = None) -> dict[int, Placement]:
    """Publish entry states a transaction committed (services call it via on_commit).

    Returns the last state's placement on each board whose index is complete, read in the
    same round trip as the write; boards answered by SQL are left out.
    """
    if not redis_index.is_enabled():
        return {}
    try:
        written = redis_index.apply_changes(states, token=intent.token if intent else "")
    except IndexUnavailable:
        intents.publish_failed(intent, board_ids={s.board_id for s in states})
        return {}
    intents.published(intent)
    if not _settled_here():
        return {}
    return {
        board_id: Placement(rank=1 + above, total_players=players)
        for board_id, (above, players) in written.items()
    }


def on_entries_changed(*, user_ids: list[int], intent: Intent | None = None) -> None:
    """Publish these players' current entries on every board, read back from the database."""
    if not redis_index.is_enabled() or not user_ids:
        return
    board_ids = sql.list_board_ids()
    # A removal needs a version newer than the entry it removes; time in microseconds is.
    removal_version = time.time_ns() // 1000
    record_entries(
        sql.list_entry_states(user_ids=user_ids, board_ids=board_ids, version=removal_version),
        intent=intent,
    )


def mark_incomplete(*, intent: Intent | None) -> None:
    """After commit: the intent's boards changed wholesale and need a rebuild."""
    if intent is None:
        return
    intents.published(intent)
    # If Redis is away, the announcement stays and counts as a loss once older than the bound.
    with contextlib.suppress(IndexUnavailable):
        redis_index.mark_incomplete(board_ids=intent.board_ids, tokens=[intent.token])


def repair_entries(*, board_id: int, user_ids: list[int]) -> None:
    """Write these players' database entries over the index's (the caller holds their row locks)."""
    removal_version = time.time_ns() // 1000
    redis_index.force_entries(
        sql.list_entry_states(user_ids=user_ids, board_ids=[board_id], version=removal_version)
    )


def rank_source(*, board_id: int) -> str:
    """Where ranks of this board come from right now: "redis" or "sql"."""
    return "redis" if redis_index.is_enabled() and redis_index.is_ready(board_id) else "sql"


def cache_stats() -> dict[str, float | int | None]:
    """Top-listing cache hits and misses since the counters were last reset (all processes)."""
    try:
        counts = redis_index.cache_stats(board_ids=sql.list_board_ids()) if redis_index.is_enabled() else {}
    except IndexUnavailable:
        counts = {}
    hits, misses = counts.get("top_hits", 0), counts.get("top_misses", 0)
    lookups = hits + misses
    return {
        "top_hits": hits,
        "top_misses": misses,
        "top_hit_ratio": round(hits / lookups, 4) if lookups else None,
    }
