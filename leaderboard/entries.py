"""Leaderboard entries in SQL, and the rules that make them from sessions: each lives here once.

Which sessions count on a board: not void, of the board's game mode (or any, on an all-modes board),
played by a player who is not hidden. A session counts in the board period its time falls in.

What an entry holds, on each kind of board:
- sum: the total of the counted scores; reached when the last non-zero score was played (or, while
  every score is 0, when the first session was);
- best: the best single score (highest, or lowest on a lower-is-better board); reached when the
  earliest session with that score was played;
- latest: the score of the newest session (by time played, then id); reached when it was played.
Ties in a listing go to whoever reached the value first.

`fold` computes entries from sessions: a whole session list (recounts, backfills, the seed; stored by
`write_recount`), or just the new ones, which `merge_entries` merges into the stored entries in one
statement (the live path, one submit or a batch). Both run under the player's row lock (`services.scores.lock_player`); nothing here publishes to
the rank index.
"""

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.models import GameSession


@dataclass(frozen=True)
class EntryTotals:
    board_period: BoardPeriod
    user_id: int
    total_score: int  # the board's value
    rank_value: int
    session_count: int
    version: int


@dataclass(frozen=True)
class CountedSession:
    id: int
    user_id: int
    score: int
    game_mode: str
    played_at: datetime


def version_at(moment: datetime) -> int:
    """The entry version of a change made at `moment` (microseconds since the epoch)."""
    return int(moment.timestamp() * 1_000_000)


def counts_on_board(*, board_game_mode: str, game_mode: str) -> bool:
    """Whether a session of `game_mode` counts on a board of `board_game_mode` ("" = every mode)."""
    return board_game_mode in ("", game_mode)


def counted_sessions(
    *, user_ids: Iterable[int], game_mode: str = "", as_if_visible: bool = False
) -> QuerySet[GameSession]:
    """These players' sessions that count on a board of `game_mode` ("" = every mode).

    Hidden players' sessions are left out (they count nowhere while the player stays hidden),
    unless `as_if_visible`: what they would count if the player were restored.
    """
    sessions = GameSession.objects.counted().filter(user_id__in=list(user_ids))
    if not as_if_visible:
        sessions = sessions.filter(user__is_hidden=False)
    return sessions.filter(game_mode=game_mode) if game_mode else sessions


def load_counted_sessions(
    *, user_ids: Iterable[int], game_mode: str = "", as_if_visible: bool = False
) -> list[CountedSession]:
    rows = counted_sessions(user_ids=user_ids, game_mode=game_mode, as_if_visible=as_if_visible).values_list(
        "id", "user_id", "score", "game_mode", "played_at"
    )
    return [CountedSession(*row) for row in rows]


# --- the live path: new sessions merged into the entries they feed --------------

# New sessions are folded (below) into one candidate entry per board period and player, then merged
# with the stored entry by the database, from the row as it is when the statement writes it: the
# arithmetic never works from a stale read. Merging folds is folding the union, so the result is the
# entry a recount would make. Rank values compare the same way on every board (greater is better).
# A sum board's candidate holds no session: the value belongs to no single one.
_IS_SUM = "excluded.value_session_id IS NULL"
# On a best or latest board, whether the candidate's session holds the value instead of the stored
# one. Each row comparison is the whole tie-break: best, the greater rank value, then the value
# reached first, then the older session; latest, the session played last, then the newer one.
_CANDIDATE_TAKES_OVER = """CASE b.aggregation
    WHEN 'latest' THEN (excluded.last_updated, excluded.value_session_id)
        > (leaderboard.last_updated, leaderboard.value_session_id)
    ELSE (excluded.rank_value, leaderboard.last_updated, leaderboard.value_session_id)
        > (leaderboard.rank_value, excluded.last_updated, excluded.value_session_id) END"""
_SUM_REACHED = """CASE
    WHEN excluded.total_score > 0 AND leaderboard.total_score > 0 THEN
        CASE WHEN excluded.last_updated > leaderboard.last_updated
             THEN excluded.last_updated ELSE leaderboard.last_updated END
    WHEN excluded.total_score > 0 THEN excluded.last_updated
    WHEN leaderboard.total_score > 0 THEN leaderboard.last_updated
    WHEN excluded.last_updated < leaderboard.last_updated THEN excluded.last_updated
    ELSE leaderboard.last_updated END"""

# The board is read and the take-over decided once per merged row, in the sub-select that sets the
# four value columns together.
MERGE_ON_CONFLICT = f"""
ON CONFLICT (board_id, period, user_id) DO UPDATE SET
    username = excluded.username,
    session_count = leaderboard.session_count + excluded.session_count,
    version = CASE WHEN leaderboard.version + 1 > excluded.version
        THEN leaderboard.version + 1 ELSE excluded.version END,
    (total_score, rank_value, last_updated, value_session_id) = (
        SELECT CASE WHEN m.is_sum THEN leaderboard.total_score + excluded.total_score
                    WHEN m.takes_over THEN excluded.total_score ELSE leaderboard.total_score END,
               CASE WHEN m.is_sum THEN leaderboard.rank_value + excluded.rank_value
                    WHEN m.takes_over THEN excluded.rank_value ELSE leaderboard.rank_value END,
               CASE WHEN m.is_sum THEN {_SUM_REACHED}
                    WHEN m.takes_over THEN excluded.last_updated ELSE leaderboard.last_updated END,
               CASE WHEN m.is_sum THEN NULL
                    WHEN m.takes_over THEN excluded.value_session_id ELSE leaderboard.value_session_id END
        FROM (SELECT {_IS_SUM} AS is_sum, {_CANDIDATE_TAKES_OVER} AS takes_over
              FROM leaderboard_board b WHERE b.id = leaderboard.board_id) AS m)
RETURNING board_id, period, user_id, total_score, rank_value, session_count, version"""

ENTRY_COLUMNS = (
    "board_id, period, user_id, username, total_score, rank_value, session_count, last_updated, "
    "value_session_id, version"
)
ROW_PLACEHOLDERS = "(" + ", ".join(["%s"] * len(ENTRY_COLUMNS.split(","))) + ")"
# PostgreSQL takes the candidates as one array per column: the statement's text is the same for any
# number of rows, and ten parameters quote faster than ten per row (a batch's hundred rows: 4.2 ms to
# 1.4 ms on the client, and half the planning).
_ENTRY_ARRAYS = (
    "unnest(%s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::integer[], "
    "%s::timestamptz[], %s::bigint[], %s::bigint[])"
)


def merge_entries(
    *, candidates: list["FoldedEntry"], usernames: dict[int, str], changed_at: datetime
) -> list[EntryTotals]:
    """Merge folded new sessions into the stored entries (creating missing ones), in one statement.

    The tie-break time follows when sessions were played; the version is when the entry changed,
    so the index orders writes as they happened. Returns the entries as written, in `candidates` order.
    """
    if not candidates:
        return []
    version = version_at(changed_at)
    rows = [c.row(usernames[c.user_id], version) for c in candidates]
    if connection.vendor == "postgresql":
        statement = f"INSERT INTO leaderboard ({ENTRY_COLUMNS}) SELECT * FROM {_ENTRY_ARRAYS}"
        params: list[Any] = [list(column) for column in zip(*rows, strict=True)]
    else:
        statement = (
            f"INSERT INTO leaderboard ({ENTRY_COLUMNS}) VALUES {', '.join([ROW_PLACEHOLDERS] * len(rows))}"
        )
        params = [value for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(statement + MERGE_ON_CONFLICT, params)
        written = {(row[0], row[1], row[2]): row[3:] for row in cursor.fetchall()}
    return [
        EntryTotals(
            board_period=BoardPeriod(c.board_id, c.period),
            user_id=c.user_id,
            total_score=written[(c.board_id, c.period, c.user_id)][0],
            rank_value=written[(c.board_id, c.period, c.user_id)][1],
            session_count=written[(c.board_id, c.period, c.user_id)][2],
            version=written[(c.board_id, c.period, c.user_id)][3],
        )
        for c in candidates
    ]


# --- recounts: entries from the whole session list ----------------------------


@dataclass(frozen=True)
class FoldedEntry:
    board_id: int
    period: str
    user_id: int
    value: int
    rank_value: int
    session_count: int
    reached_at: datetime
    value_session_id: int | None

    def row(self, username: str, version: int, *, adapt: bool = True) -> tuple[Any, ...]:
        """The entry's values in ENTRY_COLUMNS order (`adapt`: the time as the connection stores it)."""
        reached_at = connection.ops.adapt_datetimefield_value(self.reached_at) if adapt else self.reached_at
        return (
            self.board_id,
            self.period,
            self.user_id,
            username,
            self.value,
            self.rank_value,
            self.session_count,
            reached_at,
            self.value_session_id,
            version,
        )


class _Accumulator:
    """One player's entry on one board period, built session by session in any order."""

    def __init__(self, board: BoardRef) -> None:
        self.board = board
        self.count = 0
        self.total = 0
        self.first_played: datetime | None = None
        self.last_nonzero: datetime | None = None
        self.chosen: CountedSession | None = None  # best / latest: the session holding the value

    def add(self, session: CountedSession) -> None:
        self.count += 1
        self.total += session.score
        if self.first_played is None or session.played_at < self.first_played:
            self.first_played = session.played_at
        if session.score > 0 and (self.last_nonzero is None or session.played_at > self.last_nonzero):
            self.last_nonzero = session.played_at
        if self.chosen is None or self._takes_over(session, self.chosen):
            self.chosen = session

    def _takes_over(self, new: CountedSession, held: CountedSession) -> bool:
        if self.board.aggregation == "latest":
            return (new.played_at, new.id) > (held.played_at, held.id)
        if new.score != held.score:
            return (new.score < held.score) if self.board.lower_is_better else (new.score > held.score)
        return (new.played_at, new.id) < (held.played_at, held.id)

    def value_and_reached(self) -> tuple[int, datetime, int | None]:
        assert self.chosen is not None and self.first_played is not None
        if self.board.aggregation == "sum":
            return self.total, self.last_nonzero or self.first_played, None
        return self.chosen.score, self.chosen.played_at, self.chosen.id


class PeriodLocator:
    """The period key of an instant on one board, by bisecting the period starts seen so far.

    Exact (each boundary comes from `periods`), and far cheaper than zone arithmetic per session.
    """

    def __init__(self, board: BoardRef) -> None:
        self.board = board
        self.starts: list[datetime] = []
        self.keys: list[str] = []
        self.ends: list[datetime] = []

    def key(self, moment: datetime) -> str:
        if not self.board.is_windowed:
            return "all"
        i = bisect.bisect_right(self.starts, moment) - 1
        if i >= 0 and moment < self.ends[i]:
            return self.keys[i]
        key = self.board.period_key_at(moment)
        bounds = self.board.period_bounds(key)
        assert bounds.starts_at is not None and bounds.ends_at is not None
        at = bisect.bisect_left(self.starts, bounds.starts_at)
        self.starts.insert(at, bounds.starts_at)
        self.keys.insert(at, key)
        self.ends.insert(at, bounds.ends_at)
        return key


def fold(
    sessions: Iterable[CountedSession],
    boards: list[BoardRef],
    locators: dict[int, PeriodLocator] | None = None,
) -> list[FoldedEntry]:
    """The entries these counted sessions make on these boards, in every period they fall in."""
    locators = locators if locators is not None else {}
    for board in boards:
        locators.setdefault(board.id, PeriodLocator(board))
    accumulators: dict[tuple[int, str, int], _Accumulator] = {}
    for session in sessions:
        for board in boards:
            if not counts_on_board(board_game_mode=board.game_mode, game_mode=session.game_mode):
                continue
            key = (board.id, locators[board.id].key(session.played_at), session.user_id)
            accumulator = accumulators.get(key)
            if accumulator is None:
                accumulator = accumulators[key] = _Accumulator(board)
            accumulator.add(session)
    folded = []
    for (board_id, period, user_id), accumulator in accumulators.items():
        value, reached_at, value_session_id = accumulator.value_and_reached()
        folded.append(
            FoldedEntry(
                board_id=board_id,
                period=period,
                user_id=user_id,
                value=value,
                rank_value=accumulator.board.rank_value(value),
                session_count=accumulator.count,
                reached_at=reached_at,
                value_session_id=value_session_id,
            )
        )
    return folded


@dataclass(frozen=True)
class ChangedEntry:
    """An entry a recount wrote or removed (`total_score` None: removed)."""

    board_id: int
    period: str
    user_id: int
    version: int
    total_score: int | None
    rank_value: int | None
    session_count: int
    username: str


# Rows equal to what is stored are left alone (the WHERE), so only real changes come back.
_WRITE_RECOUNT_SQL = f"""
INSERT INTO leaderboard ({ENTRY_COLUMNS})
VALUES {{rows}}
ON CONFLICT (board_id, period, user_id) DO UPDATE SET
    username = EXCLUDED.username,
    total_score = EXCLUDED.total_score,
    rank_value = EXCLUDED.rank_value,
    session_count = EXCLUDED.session_count,
    last_updated = EXCLUDED.last_updated,
    value_session_id = EXCLUDED.value_session_id,
    version = CASE WHEN leaderboard.version + 1 > EXCLUDED.version
                   THEN leaderboard.version + 1 ELSE EXCLUDED.version END
WHERE leaderboard.total_score <> EXCLUDED.total_score
    OR leaderboard.rank_value <> EXCLUDED.rank_value
    OR leaderboard.session_count <> EXCLUDED.session_count
    OR leaderboard.last_updated <> EXCLUDED.last_updated
    OR leaderboard.username <> EXCLUDED.username
    OR COALESCE(leaderboard.value_session_id, 0) <> COALESCE(EXCLUDED.value_session_id, 0)
RETURNING board_id, period, user_id, version, total_score, rank_value, session_count, username
"""
_WRITE_BATCH = 500


def write_recount(
    *,
    user_ids: list[int],
    board_ids: list[int],
    folded: list[FoldedEntry],
    usernames: dict[int, str],
    changed_at: datetime,
) -> list[ChangedEntry]:
    """Make these players' entries on these boards (every period) equal to `folded`.

    Entries `folded` does not hold are removed. Returns what changed, removals included.
    """
    version = version_at(changed_at)
    changed: list[ChangedEntry] = []
    with connection.cursor() as cursor:
        for start in range(0, len(folded), _WRITE_BATCH):
            batch = folded[start : start + _WRITE_BATCH]
            params = [value for e in batch for value in e.row(usernames[e.user_id], version)]
            rows = ", ".join([ROW_PLACEHOLDERS] * len(batch))
            cursor.execute(_WRITE_RECOUNT_SQL.replace("{rows}", rows), params)
            changed += [ChangedEntry(*row) for row in cursor.fetchall()]
        changed += _delete_stale(
            cursor, user_ids, board_ids, {(e.board_id, e.period, e.user_id) for e in folded}, version
        )
    return changed


def _delete_stale(
    cursor: Any, user_ids: list[int], board_ids: list[int], kept: set[tuple[int, str, int]], version: int
) -> list[ChangedEntry]:
    if not user_ids or not board_ids:
        return []
    users = ", ".join(["%s"] * len(user_ids))
    boards = ", ".join(["%s"] * len(board_ids))
    cursor.execute(
        f"SELECT id, board_id, period, user_id FROM leaderboard "
        f"WHERE user_id IN ({users}) AND board_id IN ({boards})",
        [*user_ids, *board_ids],
    )
    stale = [row[0] for row in cursor.fetchall() if tuple(row[1:]) not in kept]
    removed = []
    for start in range(0, len(stale), _WRITE_BATCH):
        ids = stale[start : start + _WRITE_BATCH]
        cursor.execute(
            f"DELETE FROM leaderboard WHERE id IN ({', '.join(['%s'] * len(ids))}) "
            "RETURNING board_id, period, user_id, version, username",
            ids,
        )
        removed += [
            # A removal needs a version newer than the entry it removes.
            ChangedEntry(board_id, period, user_id, max(old + 1, version), None, None, 0, username)
            for board_id, period, user_id, old, username in cursor.fetchall()
        ]
    return removed


def group_by_user(sessions: Iterable[CountedSession], users_per_group: int) -> Iterator[list[CountedSession]]:
    """Sessions ordered by player, cut into groups that never split one player's sessions."""
    group: list[CountedSession] = []
    users = 0
    last_user = None
    for session in sessions:
        if session.user_id != last_user:
            if users == users_per_group:
                yield group
                group, users = [], 0
            users += 1
            last_user = session.user_id
        group.append(session)
    if group:
        yield group
