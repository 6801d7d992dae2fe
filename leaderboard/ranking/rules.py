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


def competition_ranks(values: list[int], *, better_than_first: int = 0, tied_before: int = 0) -> list[int]:
    """Ranks ("1224") of rows in listing order, for a window that starts anywhere in the listing.

    `better_than_first`: players with a strictly better value than the window's first row;
    `tied_before`: players sharing the first row's value but listed before the window. Both are 0 from
    the top. A window that starts inside a tie needs both: [10, 9, 9, 9, 8, 8] seen from the third 9
    (better 1, tied before 2) ranks [9, 8, 8] as [2, 5, 5].
    """
    ranks: list[int] = []
    for position, value in enumerate(values):
        if value == values[0]:
            ranks.append(better_than_first + 1)
        elif value == values[position - 1]:
            ranks.append(ranks[-1])
        else:
            ranks.append(better_than_first + tied_before + position + 1)
    return ranks
