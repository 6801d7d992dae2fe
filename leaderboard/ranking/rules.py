"""The ranking rules every path shares: competition ranks, percentile, listing order."""

from dataclasses import dataclass

# Total desc, then who reached that total first, then user id.
LISTING_ORDER = ("-total_score", "last_updated", "user_id")


class _Ranked:
    rank: int
    total_players: int

    @property
    def percentile(self) -> float:
        return percentile(rank=self.rank, total_players=self.total_players)


@dataclass(frozen=True)
class Standing(_Ranked):
    user_id: int
    username: str
    total_score: int
    session_count: int
    rank: int
    total_players: int


@dataclass(frozen=True)
class Placement(_Ranked):
    rank: int
    total_players: int


@dataclass(frozen=True)
class TopPlayers:
    rows: list[Standing]
    total_players: int


@dataclass(frozen=True)
class EntryState:
    """A player's entry on a board as committed; `total_score` None means it no longer exists."""

    board_id: int
    user_id: int
    version: int
    total_score: int | None = None
    session_count: int = 0
    username: str = ""


def percentile(*, rank: int, total_players: int) -> float:
    """Share of ranked players strictly behind this rank, in percent, 2 decimals."""
    if total_players <= 0:
        return 0.0
    return round(100 * (total_players - rank) / total_players, 2)


def competition_ranks(totals: list[int], *, first_rank: int = 1) -> list[int]:
    """Ranks ("1224") for totals already in listing order, starting at the first row's rank."""
    ranks: list[int] = []
    for position, total in enumerate(totals):
        if position and total == totals[position - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(first_rank + position)
    return ranks
