"""Ranking: the rank index in Redis, its SQL fallback, and the cached top listing.

This package owns the tie rules, the Redis keys and the rebuild; it is the only code that
talks to Redis directly. Every answer is the same whichever path produced it: the Redis index
when it is known to be complete, otherwise SQL (correct, slower). Everything is keyed by a
`BoardPeriod`; a period past its archive grace time is answered by SQL alone. Services announce a
change before its COMMIT (`announce_changes`) and publish it after (`record_entries`,
`on_entries_changed`).
"""

import contextlib
import logging
import time
from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from leaderboard import apm, db_router, metrics
from leaderboard.boards import BoardPeriod
from leaderboard.ranking import intents, redis_index, sql
from leaderboard.ranking.intents import Intent, guard_commit
from leaderboard.ranking.redis_index import IndexUnavailable
from leaderboard.ranking.rules import (
    LISTING_ORDER,
    EntryState,
    ListingKey,
    Placement,
    Standing,
    TopPlayers,
    competition_ranks,
    encode_rows,
    percentile,
    ranked_rows,
    rows_prefix,
)

__all__ = [
    "LISTING_ORDER",
    "BoardPeriod",
    "EntryState",
    "Intent",
    "ListingKey",
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


def _indexed(board_period: BoardPeriod) -> bool:
    """Whether the rank index keeps this period now (archived periods are SQL only)."""
    return redis_index.is_enabled() and board_period.is_indexed_at(timezone.now())


def _readable(board_period: BoardPeriod) -> bool:
    return _indexed(board_period) and _settled_here()


def get_standing(*, board_period: BoardPeriod, user_id: int) -> Standing | None:
    indexed = None
    if _readable(board_period):
        # None too when a first score committed an instant ago has not reached the index yet.
        with contextlib.suppress(IndexUnavailable):
            indexed = redis_index.read_standing(board_period=board_period, user_id=user_id)
    if indexed is None:
        apm.annotate_rank_source("sql")
        return sql.get_standing(board_period=board_period, user_id=user_id)
    apm.annotate_rank_source("redis")
    return Standing(
        user_id=user_id,
        username=indexed.username,
        total_score=indexed.total_score,
        session_count=indexed.session_count,
        rank=1 + indexed.players_above,
        total_players=indexed.total_players,
    )


def get_placement(*, board_period: BoardPeriod, user_id: int, rank_value: int) -> Placement:
    """Where this player stands with this rank value, whether or not it is committed yet."""
    if _readable(board_period):
        try:
            above, players = redis_index.read_placement(
                board_period=board_period, user_id=user_id, rank_value=rank_value
            )
        except IndexUnavailable:
            pass
        else:
            apm.annotate_rank_source("redis")
            return Placement(rank=1 + above, total_players=players)
    apm.annotate_rank_source("sql")
    return sql.get_placement(board_period=board_period, user_id=user_id, rank_value=rank_value)


def get_top(*, board_period: BoardPeriod, limit: int) -> TopPlayers:
    if limit <= redis_index.TOP_CACHE_ROWS and _readable(board_period):
        try:
            cached = redis_index.read_top(board_period=board_period)
        except IndexUnavailable:
            pass
        else:
            apm.annotate_rank_source("redis")
            metrics.note_top_lookup(cached=cached.rows is not None)
            rows = cached.rows if cached.rows is not None else _fill_top(board_period, cached)
            return sql.ranked(rows[:limit], total_players=cached.total_players)
    apm.annotate_rank_source("sql")
    return sql.get_top(board_period=board_period, limit=limit)


def get_top_json(*, board_period: BoardPeriod, limit: int) -> tuple[bytes, int]:
    """The top `limit` rows as the JSON array the API sends (`rules.encode_rows`), and the players.

    A cache hit is sent as Redis holds it: nothing is decoded or serialized again.
    """
    if limit <= redis_index.TOP_CACHE_ROWS and _readable(board_period):
        try:
            cached = redis_index.read_top(board_period=board_period, body=True)
        except IndexUnavailable:
            pass
        else:
            apm.annotate_rank_source("redis")
            metrics.note_top_lookup(cached=cached.body is not None)
            if cached.body is not None:
                return rows_prefix(cached.body, limit), cached.total_players
            rows = _fill_top(board_period, cached)
            return rows_prefix(encode_rows(ranked_rows(rows)), limit), cached.total_players
    apm.annotate_rank_source("sql")
    top = sql.get_top(board_period=board_period, limit=limit)
    rows = [{**vars(row), "rank": row.rank} for row in top.rows]
    return rows_prefix(encode_rows(rows), limit), top.total_players


def _fill_top(board_period: BoardPeriod, cached: redis_index.CachedTop) -> list[dict[str, Any]]:
    # The cached listing is served as current until the next write: read it from the primary,
    # never from a replica that may not have replayed the write that emptied the cache yet.
    with db_router.primary_reads():
        rows = sql.list_top_rows(board_period=board_period, limit=redis_index.TOP_CACHE_ROWS)
    redis_index.fill_top(board_period=board_period, generation=cached.generation, rows=rows)
    return rows


def _rank_rows(
    board_period: BoardPeriod, rows: list[dict[str, Any]], *, consecutive: bool
) -> tuple[list[Standing], int]:
    """Standings of listing rows with their true ranks on the whole board period.

    `consecutive`: the rows are one stretch of the listing, so SQL needs two counts, not one per value.
    """
    values = [row["rank_value"] for row in rows]
    if _readable(board_period):
        try:
            above, players = redis_index.read_ranks(board_period=board_period, rank_values=values)
        except IndexUnavailable:
            pass
        else:
            apm.annotate_rank_source("redis")
            ranks = [1 + above[value] for value in values]
            return sql.standings(rows, ranks=ranks, total_players=players), players
    apm.annotate_rank_source("sql")
    players = sql.count_players(board_period=board_period)
    if consecutive:
        ranks = sql.rank_window(board_period=board_period, rows=rows)
    else:
        better = sql.count_better_each(board_period=board_period, rank_values=values)
        ranks = [1 + better[value] for value in values]
    return sql.standings(rows, ranks=ranks, total_players=players), players


def list_after(
    *, board_period: BoardPeriod, after: ListingKey, limit: int, changed_until: int | None = None
) -> TopPlayers:
    """The `limit` rows after `after` in the listing (a cursor page), with true ranks.

    With `changed_until` (an entry version), entries changed later are left out: see
    docs/decisions/0012-boards-and-periods.md for what a walk of pages guarantees.
    """
    rows = sql.list_rows_after(
        board_period=board_period, after=after, limit=limit, changed_until=changed_until
    )
    standings, players = _rank_rows(board_period, rows, consecutive=changed_until is None)
    return TopPlayers(
        rows=standings, total_players=players, last_key=sql.listing_key(rows[-1]) if rows else None
    )


def list_around(*, board_period: BoardPeriod, user_id: int, count: int) -> TopPlayers | None:
    """The player's row with `count` rows above and below it, with true ranks (None: not listed)."""
    rows = sql.list_rows_around(board_period=board_period, user_id=user_id, count=count)
    if rows is None:
        return None
    standings, players = _rank_rows(board_period, rows, consecutive=True)
    return TopPlayers(rows=standings, total_players=players, last_key=sql.listing_key(rows[-1]))


def list_members(*, board_period: BoardPeriod, user_ids: list[int]) -> TopPlayers:
    """These players' rows in listing order, each with their true rank on the whole board period."""
    rows = sql.list_member_rows(board_period=board_period, user_ids=user_ids)
    standings, players = _rank_rows(board_period, rows, consecutive=False)
    return TopPlayers(
        rows=standings, total_players=players, last_key=sql.listing_key(rows[-1]) if rows else None
    )


def get_placements_after(
    *, board_period: BoardPeriod, changes: list[tuple[int, int | None, int]]
) -> dict[int, Placement]:
    """Placements of players whose rank values change together, read before their COMMIT.

    `changes` are (user id, rank value before or None, rank value after). The index still holds the
    values before, so each count is corrected by the other changes; SQL, inside the transaction,
    already sees them all.
    """
    after = [new for _, _, new in changes]
    if _readable(board_period):
        try:
            above, players = redis_index.read_ranks(board_period=board_period, rank_values=after)
        except IndexUnavailable:
            pass
        else:
            # The index counts changed players at their old values: take out those above, add those
            # above at their new ones. Sorted, each correction is a binary search, not a pass.
            leaving = sorted(old for _, old, _ in changes if old is not None)
            arriving = sorted(after)
            newcomers = len(changes) - len(leaving)
            return {
                uid: Placement(
                    rank=1
                    + above[new]
                    - (len(leaving) - bisect_right(leaving, new))
                    + (len(arriving) - bisect_right(arriving, new)),
                    total_players=players + newcomers,
                )
                for uid, _, new in changes
            }
    better = sql.count_better_each(board_period=board_period, rank_values=after)
    players = sql.count_players(board_period=board_period)
    return {uid: Placement(rank=1 + better[new], total_players=players) for uid, _, new in changes}


def announce_changes(*, board_periods: Iterable[BoardPeriod] | None = None) -> Intent | None:
    """Tell the index, just before COMMIT, that these board periods (None: all) are about to change."""
    if not redis_index.is_enabled():
        return None
    candidates = sql.list_indexed_periods() if board_periods is None else board_periods
    indexed = [bp for bp in candidates if _indexed(bp)]
    return intents.announce(board_periods=indexed) if indexed else None


def withdraw(intent: Intent | None) -> None:
    """Call before raising out of a transaction that announced: it rolls back, nothing was changed."""
    intents.withdraw(intent)


def record_entries(states: list[EntryState], *, intent: Intent | None = None) -> dict[BoardPeriod, Placement]:
    """Publish entry states a transaction committed (services call it via on_commit).

    Returns the last state's placement on each board period whose index is complete, read in the
    same round trip as the write; periods answered by SQL are left out.
    """
    if not redis_index.is_enabled():
        return {}
    states = [s for s in states if _indexed(s.board_period)]
    try:
        written = redis_index.apply_changes(states, token=intent.token if intent else "")
    except IndexUnavailable:
        intents.publish_failed(intent, board_periods={s.board_period for s in states})
        return {}
    intents.published(intent)
    if not _settled_here():
        return {}
    return {bp: Placement(rank=1 + above, total_players=players) for bp, (above, players) in written.items()}


def on_entries_changed(*, user_ids: list[int], intent: Intent | None = None) -> None:
    """Publish these players' current entries on every indexed board period, read back from the database."""
    if not redis_index.is_enabled() or not user_ids:
        return
    # A removal needs a version newer than the entry it removes; time in microseconds is.
    removal_version = time.time_ns() // 1000
    record_entries(
        sql.list_entry_states(
            user_ids=user_ids, board_periods=sql.list_indexed_periods(), version=removal_version
        ),
        intent=intent,
    )


def mark_incomplete(*, intent: Intent | None) -> None:
    """After commit: the intent's board periods changed wholesale and need a rebuild."""
    if intent is None:
        return
    intents.published(intent)
    # If Redis is away, the announcement stays and counts as a loss once older than the bound.
    with contextlib.suppress(IndexUnavailable):
        redis_index.mark_incomplete(board_periods=intent.board_periods, tokens=[intent.token])


def repair_entries(*, board_period: BoardPeriod, user_ids: list[int]) -> None:
    """Write these players' database entries over the index's (the caller holds their row locks)."""
    removal_version = time.time_ns() // 1000
    redis_index.force_entries(
        sql.list_entry_states(user_ids=user_ids, board_periods=[board_period], version=removal_version)
    )


def rank_source(*, board_period: BoardPeriod) -> str:
    """Where ranks of this board period come from right now: "redis" or "sql"."""
    return "redis" if _indexed(board_period) and redis_index.is_ready(board_period) else "sql"


def cache_stats() -> dict[str, float | int | None]:
    """Top-listing cache hits and misses since the counters were last reset (all processes)."""
    try:
        counts = (
            redis_index.cache_stats(board_periods=sql.list_indexed_periods())
            if redis_index.is_enabled()
            else {}
        )
    except IndexUnavailable:
        counts = {}
    hits, misses = counts.get("top_hits", 0), counts.get("top_misses", 0)
    lookups = hits + misses
    return {
        "top_hits": hits,
        "top_misses": misses,
        "top_hit_ratio": round(hits / lookups, 4) if lookups else None,
    }
