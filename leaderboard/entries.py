"""Leaderboard entries in SQL, and the rule of which sessions count on a board: each lives here once.

A session counts on a board when it is not void and the board takes every game mode or the session's
own; a hidden player's sessions count nowhere while they stay hidden. `counts_on_board` is the rule in
Python, `counted_sessions` as a queryset, and the recount statements below spell it in SQL. Services
call these inside their transactions (under the player's lock); nothing here publishes to the index.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from leaderboard.models import GameSession

# Entry versions only grow, even across delete and re-insert: at least the previous one plus
# one, and at least the change's time in microseconds. The rank index keeps the newest.
NEXT_VERSION = "CASE WHEN leaderboard.version + 1 > EXCLUDED.version THEN leaderboard.version + 1 ELSE EXCLUDED.version END"


@dataclass(frozen=True)
class EntryTotals:
    board_id: int
    total_score: int
    session_count: int
    version: int


def version_at(moment: datetime) -> int:
    """The entry version of a change made at `moment` (microseconds since the epoch)."""
    return int(moment.timestamp() * 1_000_000)


def counts_on_board(*, board_game_mode: str, game_mode: str) -> bool:
    """Whether a session of `game_mode` counts on a board of `board_game_mode` ("" = every mode)."""
    return board_game_mode in ("", game_mode)


def counted_sessions(*, user_id: int, board_game_mode: str) -> QuerySet[GameSession]:
    """A player's sessions that count on a board of `board_game_mode`, whether or not they are hidden."""
    sessions = GameSession.objects.counted().filter(user_id=user_id)
    return sessions.filter(game_mode=board_game_mode) if board_game_mode else sessions


# The arithmetic happens in the database so concurrent submits never lose points.
# A submit that leaves the total unchanged (score 0) keeps the player's place in ties.
_ADD_SESSION_SQL = """
INSERT INTO leaderboard
    (board_id, user_id, username, total_score, session_count, last_updated, version)
VALUES (%s, %s, %s, %s, 1, %s, %s)
ON CONFLICT (board_id, user_id) DO UPDATE SET
    username = EXCLUDED.username,
    total_score = leaderboard.total_score + EXCLUDED.total_score,
    session_count = leaderboard.session_count + 1,
    last_updated = CASE
        WHEN EXCLUDED.total_score <> 0 AND EXCLUDED.last_updated > leaderboard.last_updated
        THEN EXCLUDED.last_updated ELSE leaderboard.last_updated END,
    version = {NEXT_VERSION}
RETURNING total_score, session_count, version
""".replace("{NEXT_VERSION}", NEXT_VERSION)


def add_session(
    *, board_id: int, user_id: int, username: str, score: int, played_at: datetime, changed_at: datetime
) -> EntryTotals:
    """Add one session's score to the player's entry on a board (creating it); return the new totals.

    The tie-break time is when the session was played (who reached the total first); the
    version is when the entry changed, so the index orders writes as they happened.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            _ADD_SESSION_SQL,
            [
                board_id,
                user_id,
                username,
                score,
                connection.ops.adapt_datetimefield_value(played_at),
                version_at(changed_at),
            ],
        )
        total_score, session_count, version = cursor.fetchone()
    return EntryTotals(
        board_id=board_id, total_score=total_score, session_count=session_count, version=version
    )


# Recompute entries from the sessions themselves: the seed uses it for whole boards,
# moderation for single players. Players left with no counted session lose their entry.
_RECOUNT_SQL = """
INSERT INTO leaderboard
    (board_id, user_id, username, total_score, session_count, last_updated, version)
SELECT %(board_id)s, s.user_id, u.username, SUM(s.score), COUNT(*),
       COALESCE(MAX(s.played_at) FILTER (WHERE s.score > 0), MIN(s.played_at)), %(version)s
FROM game_session s JOIN users u ON u.id = s.user_id
WHERE NOT s.is_void AND NOT u.is_hidden
    AND (%(game_mode)s = '' OR s.game_mode = %(game_mode)s) {user_filter}
GROUP BY s.user_id, u.username
ON CONFLICT (board_id, user_id) DO UPDATE SET
    username = EXCLUDED.username,
    total_score = EXCLUDED.total_score,
    session_count = EXCLUDED.session_count,
    last_updated = CASE WHEN EXCLUDED.total_score <> leaderboard.total_score
        THEN EXCLUDED.last_updated ELSE leaderboard.last_updated END,
    version = {NEXT_VERSION}
""".replace("{NEXT_VERSION}", NEXT_VERSION)

_DELETE_STALE_SQL = """
DELETE FROM leaderboard
WHERE board_id = %(board_id)s {user_filter}
    AND NOT EXISTS (
        SELECT 1 FROM game_session s JOIN users u ON u.id = s.user_id
        WHERE s.user_id = leaderboard.user_id AND NOT s.is_void AND NOT u.is_hidden
            AND (%(game_mode)s = '' OR s.game_mode = %(game_mode)s)
    )
"""


def recount(
    *, board_id: int, game_mode: str, changed_at: datetime, user_ids: list[int] | None = None
) -> None:
    """Make a board's entries (of every player, or of these) equal to their counted sessions."""
    params: dict[str, Any] = {"board_id": board_id, "game_mode": game_mode, "version": version_at(changed_at)}
    session_filter = entry_filter = ""
    if user_ids is not None:
        if not user_ids:
            return
        placeholders = ", ".join(f"%(u{i})s" for i in range(len(user_ids)))
        session_filter = f"AND s.user_id IN ({placeholders})"
        entry_filter = f"AND user_id IN ({placeholders})"
        params.update({f"u{i}": uid for i, uid in enumerate(user_ids)})
    with connection.cursor() as cursor:
        cursor.execute(_RECOUNT_SQL.replace("{user_filter}", session_filter), params)
        cursor.execute(_DELETE_STALE_SQL.replace("{user_filter}", entry_filter), params)
