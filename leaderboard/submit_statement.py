"""PostgreSQL: a submit's whole write in one statement (one round trip instead of four).

It locks the player, inserts the session, picks the boards and periods the session counts on (the
period keys computed in SQL by `periods.period_sql`, the twin of the Python the other paths use) and
merges the session into each entry with `entries.MERGE_ON_CONFLICT`, which works from each stored row
as it is written. Services call it inside their transaction; the embedded SQLite default takes the
portable steps in `services.scores` instead, and the same tests prove both. Its text stays within
the 4,096 characters psycopg caches the conversion of (a test holds it there): a longer one is
converted again on every submit.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leaderboard import db_router, entries, periods, prepared
from leaderboard.boards import BOARD_FIELDS, BoardRef
from leaderboard.entries import EntryTotals


def _period_case() -> str:
    """The period key of the session on each board, by the board's window, zone and week start."""
    whens = " ".join(
        f"WHEN '{window.value}' THEN "
        + periods.period_sql(
            window=window,
            time_zone_param="b.time_zone",
            week_start_param="b.week_start",
            column="%(played_at)s",
        )
        for window in periods.Window
    )
    return f'CASE b."window" {whens} END'


_BOARD_COLUMNS = ", ".join(f'b."{name}"' for name in BOARD_FIELDS)
_TARGET_COLUMNS = ", ".join(f't."{name}"' for name in BOARD_FIELDS)

_STATEMENT = f"""
WITH player AS (
    SELECT id, username, is_hidden FROM users WHERE id = %(user_id)s FOR NO KEY UPDATE
), session AS (
    INSERT INTO game_session (user_id, score, game_mode, played_at, is_void, is_flagged, flag_reason)
    SELECT id, %(score)s, %(game_mode)s, %(played_at)s, false, false, '' FROM player
    RETURNING id
), target AS (
    SELECT {_BOARD_COLUMNS}, {_period_case()} AS period
    FROM leaderboard_board b, player
    WHERE NOT player.is_hidden AND (b.is_active OR b.slug = %(default_board)s)
        AND (b.game_mode = '' OR b.game_mode = %(game_mode)s)
), entry AS (
    INSERT INTO leaderboard ({entries.ENTRY_COLUMNS})
    SELECT t.id, t.period, player.id, player.username, %(score)s,
           CASE WHEN t."order" = 'lower' THEN -%(score)s ELSE %(score)s END, 1, %(played_at)s,
           CASE WHEN t.aggregation = 'sum' THEN NULL ELSE session.id END, %(version)s
    FROM target t, player, session
    {entries.MERGE_ON_CONFLICT}
)
SELECT session.id, player.username, player.is_hidden, (SELECT COUNT(*) FROM target WHERE slug = %(default_board)s),
       e.period, e.total_score, e.rank_value, e.session_count, e.version, {_TARGET_COLUMNS}
FROM player CROSS JOIN session
LEFT JOIN entry e ON true
LEFT JOIN target t ON t.id = e.board_id AND t.period = e.period
"""


@dataclass(frozen=True)
class WrittenSession:
    session_id: int
    username: str
    is_hidden: bool
    default_board_counted: bool  # false when the default board is missing (it must never be)
    entries: list[tuple[BoardRef, EntryTotals]]


def write_session(
    *,
    user_id: int,
    score: int,
    game_mode: str,
    played_at: datetime,
    changed_at: datetime,
    default_board: str,
) -> WrittenSession | None:
    """Record the session and merge it into every entry it feeds; None if there is no such player."""
    params: dict[str, Any] = {
        "user_id": user_id,
        "score": score,
        "game_mode": game_mode,
        "played_at": played_at,
        "version": entries.version_at(changed_at),
        "default_board": default_board,
    }
    db_router.note_write()
    with prepared.cursor() as cursor:
        cursor.execute(_STATEMENT, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    session_id, username, is_hidden, default_counted = rows[0][:4]
    written = []
    for row in rows:
        period, total, rank_value, sessions, version = row[4:9]
        if period is None:
            continue  # a hidden player: the session is recorded, no entry is made
        board = BoardRef(*row[9:])
        written.append(
            (board, EntryTotals(board.period(period), user_id, total, rank_value, sessions, version))
        )
    return WrittenSession(session_id, username, is_hidden, bool(default_counted) or is_hidden, written)
