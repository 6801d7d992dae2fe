"""The ranking rules every path shares: competition ranks, percentile, listing order."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leaderboard.boards import BoardPeriod

# Best value first (rank_value is the value, negated on lower-is-better boards), then who reached
# it first, then user id.
LISTING_ORDER = ("-rank_value", "last_updated", "user_id")


class _Ranked:
    rank: int
    total_players: int

    @property
    def percentile(self) -> float:
        return percentile(rank=self.rank, total_players=self.total_players)


@dataclass(frozen=True)
class Standing(_Ranked):
    """A player's place on a board period; `total_score` is the board's value (sum, best or latest)."""

    user_id: int
    username: str
    total_score: int
    session_count: int
    rank: int
    total_players: int


@dataclass(frozen=True, order=True)
class ListingKey:
    """A row's place in the listing order, compared as the listing sorts (smaller comes first)."""

    neg_rank_value: int
    reached_at: datetime
    user_id: int

    @classmethod
    def of(cls, *, rank_value: int, reached_at: datetime, user_id: int) -> "ListingKey":
        return cls(-rank_value, reached_at, user_id)

    @property
    def rank_value(self) -> int:
        return -self.neg_rank_value


@dataclass(frozen=True)
class Placement(_Ranked):
    rank: int
    total_players: int


@dataclass(frozen=True)
class TopPlayers:
    rows: list[Standing]
    total_players: int
    # Where the last row sits in the listing (None when there are no rows): a page's cursor.
    last_key: ListingKey | None = None


@dataclass(frozen=True)
class EntryState:
    """A player's entry on a board period as committed; `rank_value` None means it no longer exists."""

    board_period: BoardPeriod
    user_id: int
    version: int
    rank_value: int | None = None
    total_score: int = 0
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


# The fields of a listing row as the API sends them, in this order.
ROW_JSON_FIELDS = ("rank", "user_id", "username", "total_score", "session_count")


def ranked_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first rows of a listing (dicts with `rank_value`) with their ranks from the top."""
    ranks = competition_ranks([row["rank_value"] for row in rows])
    return [{**row, "rank": rank} for row, rank in zip(rows, ranks, strict=True)]


def encode_rows(rows: list[dict[str, Any]]) -> bytes:
    """Ranked rows as the JSON array the API sends, headed by where each row ends in it.

    `b"12,25\n[{...},{...}]"`: a listing of the first n rows is the array cut after the n-th row's
    end, closed with "]" (`rows_prefix`), so a cached listing is sent without decoding it.
    """
    parts = [
        json.dumps(
            {name: row[name] for name in ROW_JSON_FIELDS}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        for row in rows
    ]
    ends, text = [], b"["
    for index, part in enumerate(parts):
        text += (b"," if index else b"") + part
        ends.append(len(text))
    return b",".join(str(end).encode() for end in ends) + b"\n" + text + b"]"


def rows_prefix(encoded: bytes, limit: int) -> bytes:
    """The JSON array of the first `limit` rows of `encode_rows`' output."""
    header, _, text = encoded.partition(b"\n")
    ends = header.split(b",") if header else []
    if limit >= len(ends):
        return text
    return text[: int(ends[limit - 1])] + b"]" if limit > 0 else b"[]"
