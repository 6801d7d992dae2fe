"""Ranks straight from the database: the embedded default, archived periods, and the fallback when
Redis is away. Every query walks the entry_listing_order index (board, period, rank value desc, ...)."""

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

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


def _before(key: ListingKey) -> Q:
    return Q(rank_value__gte=key.rank_value) & (
        Q(rank_value__gt=key.rank_value)
        | Q(last_updated__lt=key.reached_at)
        | Q(last_updated=key.reached_at, user_id__lt=key.user_id)
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


def list_rows_before(*, board_period: BoardPeriod, before: ListingKey, limit: int) -> list[dict[str, Any]]:
    """The `limit` rows just above `before`, in listing order."""
    reverse = ("rank_value", "-last_updated", "-user_id")
    rows = _entries(board_period).filter(_before(before)).order_by(*reverse).values(*LISTING_FIELDS)[:limit]
    return list(reversed(rows))


def get_listing_row(*, board_period: BoardPeriod, user_id: int) -> dict[str, Any] | None:
    return _entries(board_period).filter(user_id=user_id).values(*LISTING_FIELDS).first()


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
