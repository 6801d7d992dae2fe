"""Compare a board period's whole rank index with the database, and repair the players that drifted.

Both sides are streamed in batches (keyset over the entries' unique index, HSCAN/ZSCAN over Redis),
so a board of a million players never sits in memory. Writes committed during the pass can make
a player look drifted for an instant: every suspect is compared again at the end, and only those
that still differ are reported.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet

from leaderboard.boards import BoardPeriod
from leaderboard.models import LeaderboardEntry
from leaderboard.ranking import redis_index

# Longer than the time from a commit to its index write, so a publish in flight is not drift.
SETTLE_SECONDS = 0.5


ENTRY_FIELDS = ("user_id", "total_score", "session_count", "username", "rank_value")


def _entries(board_period: BoardPeriod) -> QuerySet[LeaderboardEntry]:
    return LeaderboardEntry.objects.filter(board_id=board_period.board_id, period=board_period.period)


@dataclass
class BoardAudit:
    board_period: BoardPeriod
    checked: int = 0
    indexed: int = 0
    drifted: list[int] = field(default_factory=list)


def audit_board(*, board_period: BoardPeriod, batch: int = 2000) -> BoardAudit:
    """Every database entry against the index, then the index's own counts against the database's.

    Players only the index knows are looked for (a slower pass) only when the counts say some exist.
    """
    suspects: set[int] = set()
    checked = in_hash = in_set = 0
    last = 0
    while True:
        rows = list(
            _entries(board_period)
            .filter(user_id__gt=last)
            .order_by("user_id")
            .values_list(*ENTRY_FIELDS)[:batch]
        )
        if not rows:
            break
        held, scores = redis_index.read_entries(board_period=board_period, user_ids=[row[0] for row in rows])
        suspects |= _differing(rows, held, scores)
        in_hash += sum(1 for entry in held.values() if entry is not None)
        in_set += sum(1 for score in scores if score is not None)
        checked += len(rows)
        last = rows[-1][0]
    indexed = redis_index.count_indexed(board_period=board_period)
    if redis_index.count_live_entries(board_period=board_period, count=batch) != in_hash:
        for live in redis_index.scan_entries(board_period=board_period, count=batch):
            suspects |= set(live) - _in_database(board_period, live)
    if indexed != in_set:
        for members in redis_index.scan_members(board_period=board_period, count=batch):
            suspects |= set(members) - _in_database(board_period, members)
    if suspects:
        time.sleep(SETTLE_SECONDS)
    drifted = sorted(recheck(board_period, suspects))
    return BoardAudit(board_period=board_period, checked=checked, indexed=indexed, drifted=drifted)


def recheck(board_period: BoardPeriod, user_ids: Iterable[int]) -> set[int]:
    """Those of these players whose index entry differs from the database now."""
    ids = sorted(user_ids)
    drifted: set[int] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        rows = list(_entries(board_period).filter(user_id__in=chunk).values_list(*ENTRY_FIELDS))
        if rows:
            drifted |= _differing(
                rows, *redis_index.read_entries(board_period=board_period, user_ids=[r[0] for r in rows])
            )
        gone = sorted(set(chunk) - {row[0] for row in rows})
        if gone:  # no entry in the database: any live entry or member in the index is drift
            held, scores = redis_index.read_entries(board_period=board_period, user_ids=gone)
            drifted |= {
                uid
                for uid, score in zip(gone, scores, strict=True)
                if held[uid] is not None or score is not None
            }
    return drifted


def _differing(
    rows: list[tuple[int, int, int, str, int]],
    held: dict[int, tuple[int, int, str] | None],
    scores: list[int | None],
) -> set[int]:
    return {
        uid
        for (uid, total, sessions, username, rank_value), score in zip(rows, scores, strict=True)
        if held[uid] != (total, sessions, username) or score != rank_value
    }


def _in_database(board_period: BoardPeriod, user_ids: list[int]) -> set[int]:
    return set(_entries(board_period).filter(user_id__in=user_ids).values_list("user_id", flat=True))
