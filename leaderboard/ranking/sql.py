"""Ranks straight from the database: the embedded default and the fallback when Redis is away."""

from typing import Any

from django.db.models import QuerySet

from leaderboard.models import Board, LeaderboardEntry
from leaderboard.ranking.rules import (
    LISTING_ORDER,
    EntryState,
    Placement,
    Standing,
    TopPlayers,
    competition_ranks,
)

ROW_FIELDS = ("user_id", "username", "total_score", "session_count")


def _entries(board_id: int) -> QuerySet[LeaderboardEntry]:
    return LeaderboardEntry.objects.filter(board_id=board_id)


def list_board_ids() -> list[int]:
    """Every board, active or not: an entry change or a lost index concerns them all."""
    return list(Board.objects.values_list("id", flat=True))


def count_players(*, board_id: int) -> int:
    return _entries(board_id).count()


def rank_for_total(*, board_id: int, total_score: int) -> int:
    return 1 + _entries(board_id).filter(total_score__gt=total_score).count()


def get_placement(*, board_id: int, user_id: int, total_score: int) -> Placement:
    has_entry = _entries(board_id).filter(user_id=user_id).exists()
    return Placement(
        rank=rank_for_total(board_id=board_id, total_score=total_score),
        total_players=count_players(board_id=board_id) + (0 if has_entry else 1),
    )


def get_standing(*, board_id: int, user_id: int) -> Standing | None:
    entry = _entries(board_id).filter(user_id=user_id).values(*ROW_FIELDS).first()
    if entry is None:
        return None
    return Standing(
        **entry,
        rank=rank_for_total(board_id=board_id, total_score=entry["total_score"]),
        total_players=count_players(board_id=board_id),
    )


def list_top_rows(*, board_id: int, limit: int) -> list[dict[str, Any]]:
    return list(_entries(board_id).order_by(*LISTING_ORDER).values(*ROW_FIELDS)[:limit])


def ranked(rows: list[dict[str, Any]], *, total_players: int) -> TopPlayers:
    ranks = competition_ranks([row["total_score"] for row in rows])
    return TopPlayers(
        rows=[
            Standing(**row, rank=rank, total_players=total_players)
            for row, rank in zip(rows, ranks, strict=True)
        ],
        total_players=total_players,
    )


def get_top(*, board_id: int, limit: int) -> TopPlayers:
    rows = list_top_rows(board_id=board_id, limit=limit)
    return ranked(rows, total_players=count_players(board_id=board_id) if rows else 0)


def list_entry_states(*, user_ids: list[int], board_ids: list[int], version: int) -> list[EntryState]:
    """Current entries of these players; a missing one comes back as a removal at `version`."""
    found = {
        (e["board_id"], e["user_id"]): EntryState(**e)
        for e in LeaderboardEntry.objects.filter(user_id__in=user_ids, board_id__in=board_ids).values(
            "board_id", "user_id", "version", "total_score", "session_count", "username"
        )
    }
    return [
        found.get((board_id, user_id), EntryState(board_id=board_id, user_id=user_id, version=version))
        for board_id in board_ids
        for user_id in user_ids
    ]
