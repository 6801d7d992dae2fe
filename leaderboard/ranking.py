"""Ranking: the tie rules, the listing order and how a rank is computed.

Every read path (API, web page, cache) goes through here, so they all agree.
Rank is standard competition ranking ("1224"): 1 + players with a strictly higher total.
"""

from dataclasses import dataclass

from leaderboard.models import LeaderboardEntry

# Total desc, then who reached that total first, then user id.
LISTING_ORDER = ("-total_score", "last_updated", "user_id")


@dataclass(frozen=True)
class Standing:
    user_id: int
    username: str
    total_score: int
    session_count: int
    rank: int
    total_players: int

    @property
    def percentile(self) -> float:
        return percentile(rank=self.rank, total_players=self.total_players)


@dataclass(frozen=True)
class Placement:
    rank: int
    total_players: int

    @property
    def percentile(self) -> float:
        return percentile(rank=self.rank, total_players=self.total_players)


@dataclass(frozen=True)
class TopPlayers:
    rows: list[Standing]
    total_players: int


def percentile(*, rank: int, total_players: int) -> float:
    """Share of ranked players strictly behind this rank, in percent, 2 decimals."""
    if total_players <= 0:
        return 0.0
    return round(100 * (total_players - rank) / total_players, 2)


def competition_ranks(totals: list[int], *, first_rank: int = 1) -> list[int]:
    """Ranks for totals already in listing order, starting at the first row's rank."""
    ranks: list[int] = []
    for position, total in enumerate(totals):
        if position and total == totals[position - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(first_rank + position)
    return ranks


def _entries(board_id: int):  # type: ignore[no-untyped-def]
    return LeaderboardEntry.objects.filter(board_id=board_id)


def count_players(*, board_id: int) -> int:
    return _entries(board_id).count()


def rank_for_total(*, board_id: int, total_score: int) -> int:
    return 1 + _entries(board_id).filter(total_score__gt=total_score).count()


def get_placement(*, board_id: int, total_score: int) -> Placement:
    return Placement(
        rank=rank_for_total(board_id=board_id, total_score=total_score),
        total_players=count_players(board_id=board_id),
    )


def get_standing(*, board_id: int, user_id: int) -> Standing | None:
    entry = (
        _entries(board_id)
        .filter(user_id=user_id)
        .values("user_id", "username", "total_score", "session_count")
        .first()
    )
    if entry is None:
        return None
    return Standing(
        **entry,
        rank=rank_for_total(board_id=board_id, total_score=entry["total_score"]),
        total_players=count_players(board_id=board_id),
    )


def get_top(*, board_id: int, limit: int) -> TopPlayers:
    entries = list(
        _entries(board_id)
        .order_by(*LISTING_ORDER)
        .values("user_id", "username", "total_score", "session_count")[:limit]
    )
    ranks = competition_ranks([e["total_score"] for e in entries])
    total_players = count_players(board_id=board_id) if entries else 0
    return TopPlayers(
        rows=[
            Standing(**e, rank=r, total_players=total_players) for e, r in zip(entries, ranks, strict=True)
        ],
        total_players=total_players,
    )


def on_entries_changed(*, user_ids: list[int]) -> None:
    """Bring derived ranking data in line after these players' entries changed.

    Services call it through `transaction.on_commit`. With SQL-only ranking there is
    nothing derived to refresh yet; the Redis rank index and the top-N cache hook in here.
    """


def rank_source() -> str:
    """Where ranks are read from right now: "sql" (the leaderboard table)."""
    return "sql"


def cache_hit_ratio() -> float | None:
    """Share of ranking reads served from cache since start-up; None while nothing is cached."""
    return None
