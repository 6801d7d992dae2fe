"""Compare a board's whole rank index with the database, and repair the players that drifted.

Both sides are streamed in batches (keyset over the entries' unique index, HSCAN/ZSCAN over Redis),
so a board of a million players never sits in memory. Writes committed during the pass can make
a player look drifted for an instant: every suspect is compared again at the end, and only those
that still differ are reported.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from leaderboard.models import LeaderboardEntry, RankIndexDebt
from leaderboard.ranking import redis_index

# Longer than the time from a commit to its index write, so a publish in flight is not drift.
SETTLE_SECONDS = 0.5


@dataclass
class BoardAudit:
    board_id: int
    checked: int = 0
    indexed: int = 0
    drifted: list[int] = field(default_factory=list)


def audit_board(*, board_id: int, batch: int = 5000) -> BoardAudit:
    """Every database entry against the index, then every indexed player against the database."""
    suspects: set[int] = set()
    checked = in_set = 0
    last = 0
    while True:
        rows = list(
            LeaderboardEntry.objects.filter(board_id=board_id, user_id__gt=last)
            .order_by("user_id")
            .values_list("user_id", "total_score", "session_count", "username")[:batch]
        )
        if not rows:
            break
        ids = [row[0] for row in rows]
        suspects |= _differing(board_id, rows)
        in_set += sum(
            1 for score in redis_index.read_scores(board_id=board_id, user_ids=ids) if score is not None
        )
        checked += len(rows)
        last = ids[-1]
    for live in redis_index.scan_entries(board_id=board_id, count=batch):
        suspects |= set(live) - _in_database(board_id, live)
    indexed = redis_index.count_indexed(board_id=board_id)
    if indexed != in_set:  # the sorted set holds players the database does not know
        for members in redis_index.scan_members(board_id=board_id, count=batch):
            suspects |= set(members) - _in_database(board_id, members)
    if suspects:
        time.sleep(SETTLE_SECONDS)
    return BoardAudit(
        board_id=board_id, checked=checked, indexed=indexed, drifted=sorted(recheck(board_id, suspects))
    )


def recheck(board_id: int, user_ids: Iterable[int]) -> set[int]:
    """Those of these players whose index entry differs from the database now."""
    ids = sorted(user_ids)
    drifted: set[int] = set()
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        rows = list(
            LeaderboardEntry.objects.filter(board_id=board_id, user_id__in=chunk).values_list(
                "user_id", "total_score", "session_count", "username"
            )
        )
        drifted |= _differing(board_id, rows)
        missing = set(chunk) - {row[0] for row in rows}
        if missing:  # no entry in the database: any live entry or member in the index is drift
            gone = sorted(missing)
            held = redis_index.read_entries(board_id=board_id, user_ids=gone)
            scores = redis_index.read_scores(board_id=board_id, user_ids=gone)
            drifted |= {
                uid
                for uid, score in zip(gone, scores, strict=True)
                if held[uid] is not None or score is not None
            }
    return drifted


def _differing(board_id: int, rows: list[tuple[int, int, int, str]]) -> set[int]:
    if not rows:
        return set()
    ids = [row[0] for row in rows]
    held = redis_index.read_entries(board_id=board_id, user_ids=ids)
    scores = redis_index.read_scores(board_id=board_id, user_ids=ids)
    return {
        uid
        for (uid, total, sessions, username), score in zip(rows, scores, strict=True)
        if held[uid] != (total, sessions, username) or score != total
    }


def _in_database(board_id: int, user_ids: list[int]) -> set[int]:
    return set(
        LeaderboardEntry.objects.filter(board_id=board_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )


def count_debt() -> int:
    return RankIndexDebt.objects.count()
