"""Batch submits: the sessions of a finished match in one transaction, one entry statement, one index write."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import FilteredRelation, Q
from django.utils import timezone

from leaderboard import entries, plausibility, ranking, selectors
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.entries import CountedSession, EntryTotals
from leaderboard.errors import PlayerNotFound, TotalScoreLimit
from leaderboard.models import GameSession
from leaderboard.services.scores import MAX_TOTAL_SCORE, ScoreStanding, refuse_if_limited
from users.models import User

# The most sessions one batch may hold (the API refuses more).
MAX_BATCH_SESSIONS = 100


@dataclass(frozen=True)
class NewSession:
    user_id: int
    score: int
    game_mode: str
    played_at: datetime | None = None


@dataclass(frozen=True)
class BatchAnswer:
    """One session of a batch: where its player stands on the default board once the whole batch counts."""

    session: GameSession
    standing: ScoreStanding


@dataclass(frozen=True)
class _Player:
    username: str
    is_hidden: bool
    # The default board entry before the batch: (value, rank value, sessions), or None.
    before: tuple[int, int, int] | None

    @property
    def rank_value_before(self) -> int | None:
        return None if self.before is None else self.before[1]


@ranking.guard_commit
@transaction.atomic
def submit_batch(*, sessions: list[NewSession]) -> list[BatchAnswer]:
    """Record every session, or none: each counts on every board and period it feeds, as a submit does.

    An unknown player refuses the whole batch (PlayerNotFound names the item). Hidden players'
    sessions are recorded and count nowhere, as for a single submit.
    """
    now = timezone.now()
    all_boards = selectors.list_boards_taking_sessions()  # fold() keeps each session to its boards
    default = next(b for b in all_boards if b.slug == selectors.default_board_slug())
    default_period = default.period_at(now)
    players = _lock_players(sessions, default_period)

    created = _insert_sessions(
        [
            _session(s, now, players, previous)
            for s, previous in zip(sessions, _running_totals(sessions, players), strict=True)
        ]
    )
    counted = [
        CountedSession(row.pk, row.user_id, row.score, row.game_mode, row.played_at)
        for row in created
        if not players[row.user_id].is_hidden
    ]
    usernames = {uid: p.username for uid, p in players.items()}
    totals = entries.merge_entries(
        candidates=entries.fold(counted, all_boards), usernames=usernames, changed_at=now
    )
    by_id = {board.id: board for board in all_boards}
    totals = [_with_period(t, by_id[t.board_period.board_id]) for t in totals]
    over = [t for t in totals if t.total_score > MAX_TOTAL_SCORE]
    if over:
        raise TotalScoreLimit(
            f"This batch would take player {over[0].user_id}'s total past {MAX_TOTAL_SCORE}, the largest "
            "total a board counts exactly; nothing was recorded."
        )
    standings = _standings(default_period, players, totals)
    states = [
        ranking.EntryState(
            board_period=t.board_period,
            user_id=t.user_id,
            version=t.version,
            rank_value=t.rank_value,
            total_score=t.total_score,
            session_count=t.session_count,
            username=usernames[t.user_id],
        )
        for t in totals
    ]
    # Last thing before COMMIT, as for a single submit; one index write for the whole batch after it.
    intent = ranking.announce_changes(board_periods={t.board_period for t in totals})
    refuse_if_limited(intent)  # the batch's limits went with the announcement
    transaction.on_commit(lambda: ranking.record_entries(states, intent=intent), robust=True)
    return [BatchAnswer(session=row, standing=standings[row.user_id]) for row in created]


def _lock_players(sessions: list[NewSession], default_period: BoardPeriod) -> dict[int, _Player]:
    """Lock every player of the batch, in id order (two batches never wait on each other in a circle),
    reading each one's default-board entry in the same statement."""
    ids = sorted({s.user_id for s in sessions})
    entry = FilteredRelation(
        "entries",
        condition=Q(entries__board_id=default_period.board_id, entries__period=default_period.period),
    )
    rows = {
        pk: _Player(username, hidden, None if count is None else (total, rank_value, count))
        for pk, username, hidden, total, rank_value, count in User.objects.select_for_update(
            no_key=True, of=("self",)
        )
        .filter(pk__in=ids)
        .alias(default_entry=entry)
        .order_by("pk")
        .values_list(
            "pk",
            "username",
            "is_hidden",
            "default_entry__total_score",
            "default_entry__rank_value",
            "default_entry__session_count",
        )
    }
    for index, session in enumerate(sessions):
        if session.user_id not in rows:
            raise PlayerNotFound(
                f"sessions[{index}]: no player with id {session.user_id}; nothing was recorded."
            )
    return rows


def _running_totals(sessions: list[NewSession], players: dict[int, _Player]) -> list[tuple[int, int]]:
    """Each session's player's default-board (total, sessions) just before it, in batch order."""
    running = {uid: (p.before[0], p.before[2]) if p.before else (0, 0) for uid, p in players.items()}
    previous = []
    for session in sessions:
        total, count = running[session.user_id]
        previous.append((total, count))
        running[session.user_id] = (total + session.score, count + 1)
    return previous


def _session(
    new: NewSession, now: datetime, players: dict[int, _Player], previous: tuple[int, int]
) -> GameSession:
    reason = plausibility.flag_reason(
        score=new.score,
        game_mode=new.game_mode,
        baseline=selectors.get_score_baseline(game_mode=new.game_mode),
        previous_total=previous[0],
        previous_count=previous[1],
    )
    return GameSession(
        user_id=new.user_id,
        score=new.score,
        game_mode=new.game_mode,
        played_at=new.played_at or now,
        is_flagged=bool(reason),
        flag_reason=reason,
    )


# PostgreSQL takes the sessions as one array per column (as the entries' merge does); ordered by
# their place in the batch, so the ids the sequence hands out ascend in batch order.
_INSERT_SESSIONS = """
INSERT INTO game_session (user_id, score, game_mode, played_at, is_void, is_flagged, flag_reason)
SELECT user_id, score, game_mode, played_at, false, is_flagged, flag_reason
FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::timestamptz[], %s::boolean[], %s::text[])
    WITH ORDINALITY AS s(user_id, score, game_mode, played_at, is_flagged, flag_reason, place)
ORDER BY place
RETURNING id"""


def _insert_sessions(rows: list[GameSession]) -> list[GameSession]:
    """The batch's sessions, inserted in one statement; each object gets its id."""
    if connection.vendor != "postgresql":
        return GameSession.objects.bulk_create(rows)
    columns: list[Any] = [
        [row.user_id for row in rows],
        [row.score for row in rows],
        [row.game_mode for row in rows],
        [row.played_at for row in rows],
        [row.is_flagged for row in rows],
        [row.flag_reason for row in rows],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SESSIONS, columns)
        ids = sorted(session_id for (session_id,) in cursor.fetchall())
    for row, session_id in zip(rows, ids, strict=True):
        row.pk = session_id
        row._state.adding = False
        row._state.db = connection.alias
    return rows


def _with_period(totals: EntryTotals, board: BoardRef) -> EntryTotals:
    return EntryTotals(
        board.period(totals.board_period.period),
        totals.user_id,
        totals.total_score,
        totals.rank_value,
        totals.session_count,
        totals.version,
    )


def _standings(
    default_period: BoardPeriod, players: dict[int, _Player], totals: list[EntryTotals]
) -> dict[int, ScoreStanding]:
    """Every player's default-board standing once the whole batch counts, read before COMMIT."""
    after = {t.user_id: t for t in totals if t.board_period == default_period}
    changes = [(uid, players[uid].rank_value_before, entry.rank_value) for uid, entry in after.items()]
    placements = ranking.get_placements_after(board_period=default_period, changes=changes)
    standings = {
        uid: ScoreStanding(entry.total_score, entry.session_count, placements[uid])
        for uid, entry in after.items()
    }
    for uid, player in players.items():
        if player.is_hidden:
            unlisted = selectors.get_unlisted_standing(user_id=uid)
            standings[uid] = ScoreStanding(unlisted.total_score, unlisted.session_count, unlisted.placement)
    return standings
