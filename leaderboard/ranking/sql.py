"""Ranks straight from the database: the embedded default, archived periods, and the fallback when
Redis is away. Every query walks the entry_listing_order index (board, period, rank value desc, ...)."""

from datetime import UTC, datetime
from typing import Any

from django.db import connections, router
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.models import Board, LeaderboardEntry
from leaderboard.ranking.rules import (
    LISTING_ORDER,
    EntryState,
    ListingKey,
    Placement,
    Standing,
    TopPlayers,
    competition_ranks,
)

ROW_FIELDS = ("user_id", "username", "total_score", "session_count")
# A listing row also says where it sits in the listing (for cursors and ranks).
LISTING_FIELDS = (*ROW_FIELDS, "rank_value", "last_updated")


def _entries(board_period: BoardPeriod) -> QuerySet[LeaderboardEntry]:
    return LeaderboardEntry.objects.filter(board_id=board_period.board_id, period=board_period.period)


def list_boards() -> list[BoardRef]:
    """Every board, active or not: an entry change or a lost index concerns them all."""
    return [BoardRef.of(board) for board in Board.objects.order_by("id")]


def list_indexed_periods(*, at: datetime | None = None) -> list[BoardPeriod]:
    """Every board period the rank index keeps now (current periods, and previous ones in their grace)."""
    moment = at or timezone.now()
    return [bp for board in list_boards() for bp in board.indexed_periods(moment)]


def count_players(*, board_period: BoardPeriod) -> int:
    return _entries(board_period).count()


def count_better(*, board_period: BoardPeriod, rank_value: int) -> int:
    return _entries(board_period).filter(rank_value__gt=rank_value).count()


def get_placement(*, board_period: BoardPeriod, user_id: int, rank_value: int) -> Placement:
    has_entry = _entries(board_period).filter(user_id=user_id).exists()
    return Placement(
        rank=1 + count_better(board_period=board_period, rank_value=rank_value),
        total_players=count_players(board_period=board_period) + (0 if has_entry else 1),
    )


def get_standing(*, board_period: BoardPeriod, user_id: int) -> Standing | None:
    entry = _entries(board_period).filter(user_id=user_id).values(*ROW_FIELDS, "rank_value").first()
    if entry is None:
        return None
    rank_value = entry.pop("rank_value")
    return Standing(
        **entry,
        rank=1 + count_better(board_period=board_period, rank_value=rank_value),
        total_players=count_players(board_period=board_period),
    )


def list_top_rows(*, board_period: BoardPeriod, limit: int) -> list[dict[str, Any]]:
    return list(_entries(board_period).order_by(*LISTING_ORDER).values(*LISTING_FIELDS)[:limit])


def listing_key(row: dict[str, Any]) -> ListingKey:
    return ListingKey.of(rank_value=row["rank_value"], reached_at=row["last_updated"], user_id=row["user_id"])


def standings(rows: list[dict[str, Any]], *, ranks: list[int], total_players: int) -> list[Standing]:
    return [
        Standing(**{field: row[field] for field in ROW_FIELDS}, rank=rank, total_players=total_players)
        for row, rank in zip(rows, ranks, strict=True)
    ]


def ranked(rows: list[dict[str, Any]], *, total_players: int) -> TopPlayers:
    """The first rows of a listing, ranked from the top."""
    ranks = competition_ranks([row["rank_value"] for row in rows])
    return TopPlayers(
        rows=standings(rows, ranks=ranks, total_players=total_players),
        total_players=total_players,
        last_key=listing_key(rows[-1]) if rows else None,
    )


def get_top(*, board_period: BoardPeriod, limit: int) -> TopPlayers:
    rows = list_top_rows(board_period=board_period, limit=limit)
    return ranked(rows, total_players=count_players(board_period=board_period) if rows else 0)


def _after(key: ListingKey) -> Q:
    # `rank_value <= x` first: the index range starts there instead of at the top of the board.
    return Q(rank_value__lte=key.rank_value) & (
        Q(rank_value__lt=key.rank_value)
        | Q(last_updated__gt=key.reached_at)
        | Q(last_updated=key.reached_at, user_id__gt=key.user_id)
    )


def list_rows_after(
    *, board_period: BoardPeriod, after: ListingKey, limit: int, changed_until: int | None = None
) -> list[dict[str, Any]]:
    """Rows that follow `after` in the listing; with `changed_until`, only entries whose version
    (time of their last change) is not later than it."""
    rows = _entries(board_period).filter(_after(after))
    if changed_until is not None:
        rows = rows.filter(version__lte=changed_until)
    return list(rows.order_by(*LISTING_ORDER).values(*LISTING_FIELDS)[:limit])


_LISTING_COLUMNS = "l.user_id, l.username, l.total_score, l.session_count, l.rank_value, l.last_updated"
_PLAYER_ROW = f"""SELECT {_LISTING_COLUMNS} FROM leaderboard l
    WHERE l.board_id = %(board)s AND l.period = %(period)s AND l.user_id = %(user)s"""


def _player(column: str) -> str:
    # A scalar subquery, so the planner takes the player's key as a constant and starts the range scan
    # there (joined to the row instead, it walked the listing from the top).
    return (
        f"(SELECT {column} FROM leaderboard WHERE board_id = %(board)s AND period = %(period)s"
        " AND user_id = %(user)s)"
    )


_RV, _AT, _ID = _player("rank_value"), _player("last_updated"), _player("user_id")
# The player's row, then up to `count` rows each side of it in listing order, in one round trip: each
# side is a range scan of entry_listing_order starting at the player's key.
_AROUND_SQL = f"""
SELECT 0, m.* FROM ({_PLAYER_ROW}) m
UNION ALL
SELECT -1, b.* FROM (
    SELECT {_LISTING_COLUMNS} FROM leaderboard l
    WHERE l.board_id = %(board)s AND l.period = %(period)s AND l.rank_value >= {_RV}
        AND (l.rank_value > {_RV} OR l.last_updated < {_AT} OR (l.last_updated = {_AT} AND l.user_id < {_ID}))
    ORDER BY l.rank_value, l.last_updated DESC, l.user_id DESC LIMIT %(count)s) b
UNION ALL
SELECT 1, a.* FROM (
    SELECT {_LISTING_COLUMNS} FROM leaderboard l
    WHERE l.board_id = %(board)s AND l.period = %(period)s AND l.rank_value <= {_RV}
        AND (l.rank_value < {_RV} OR l.last_updated > {_AT} OR (l.last_updated = {_AT} AND l.user_id > {_ID}))
    ORDER BY l.rank_value DESC, l.last_updated, l.user_id LIMIT %(count)s) a
"""


def list_rows_around(*, board_period: BoardPeriod, user_id: int, count: int) -> list[dict[str, Any]] | None:
    """The player's row with up to `count` rows above and below, in listing order (None: not listed)."""
    params: dict[str, Any] = {
        "board": board_period.board_id,
        "period": board_period.period,
        "user": user_id,
        "count": count,
    }
    # Raw SQL skips the router on its own: ask it, so around-me reads from a replica like the rest.
    alias = router.db_for_read(LeaderboardEntry)
    with connections[alias].cursor() as cursor:
        cursor.execute(_AROUND_SQL, params)
        fetched = cursor.fetchall()
    if not fetched:
        return None
    parts: dict[int, list[dict[str, Any]]] = {-1: [], 0: [], 1: []}
    for part, *values in fetched:
        row = dict(zip(LISTING_FIELDS, values, strict=True))
        row["last_updated"] = _aware(row["last_updated"])
        parts[part].append(row)
    # The rows above come nearest first; listing order is the reverse.
    return [*reversed(parts[-1]), *parts[0], *parts[1]]


def _aware(value: datetime | str) -> datetime:
    """A timestamp read by raw SQL: aware from PostgreSQL, UTC text from SQLite."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = parse_datetime(value)
    assert parsed is not None, value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def list_member_rows(*, board_period: BoardPeriod, user_ids: list[int]) -> list[dict[str, Any]]:
    """These players' rows (those who have one), in listing order."""
    return list(
        _entries(board_period).filter(user_id__in=user_ids).order_by(*LISTING_ORDER).values(*LISTING_FIELDS)
    )


def count_tied_before(*, board_period: BoardPeriod, key: ListingKey) -> int:
    """Players sharing the row's value but listed before it."""
    return (
        _entries(board_period)
        .filter(rank_value=key.rank_value)
        .filter(Q(last_updated__lt=key.reached_at) | Q(last_updated=key.reached_at, user_id__lt=key.user_id))
        .count()
    )


def rank_window(*, board_period: BoardPeriod, rows: list[dict[str, Any]]) -> list[int]:
    """Ranks of consecutive listing rows, wherever the window starts (even inside a tie)."""
    if not rows:
        return []
    first = listing_key(rows[0])
    return competition_ranks(
        [row["rank_value"] for row in rows],
        better_than_first=count_better(board_period=board_period, rank_value=first.rank_value),
        tied_before=count_tied_before(board_period=board_period, key=first),
    )


def count_better_each(*, board_period: BoardPeriod, rank_values: list[int]) -> dict[int, int]:
    """Players with a strictly greater rank value than each of these.

    Best value first, each count adds the players between it and the previous value, so the rows
    scanned in all are those above the lowest value, once.
    """
    better: dict[int, int] = {}
    previous: int | None = None
    for value in sorted(set(rank_values), reverse=True):
        if previous is None:
            better[value] = count_better(board_period=board_period, rank_value=value)
        else:
            between = _entries(board_period).filter(rank_value__gt=value, rank_value__lte=previous).count()
            better[value] = better[previous] + between
        previous = value
    return better


def list_entry_states(
    *, user_ids: list[int], board_periods: list[BoardPeriod], version: int
) -> list[EntryState]:
    """Current entries of these players; a missing one comes back as a removal at `version`."""
    if not board_periods or not user_ids:
        return []
    by_key = {(bp.board_id, bp.period): bp for bp in board_periods}
    wanted = Q()
    for bp in board_periods:
        wanted |= Q(board_id=bp.board_id, period=bp.period)
    found = {
        (e["board_id"], e["period"], e["user_id"]): e
        for e in LeaderboardEntry.objects.filter(wanted, user_id__in=user_ids).values(
            "board_id",
            "period",
            "user_id",
            "version",
            "rank_value",
            "total_score",
            "session_count",
            "username",
        )
    }
    states = []
    for (board_id, period), bp in by_key.items():
        for user_id in user_ids:
            entry = found.get((board_id, period, user_id))
            if entry is None:
                states.append(EntryState(board_period=bp, user_id=user_id, version=version))
            else:
                states.append(
                    EntryState(
                        board_period=bp,
                        user_id=user_id,
                        version=entry["version"],
                        rank_value=entry["rank_value"],
                        total_score=entry["total_score"],
                        session_count=entry["session_count"],
                        username=entry["username"],
                    )
                )
    return states
