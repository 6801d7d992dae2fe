"""Scores: record sessions and keep leaderboard entries equal to their sums."""

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from leaderboard import plausibility, ranking, selectors
from leaderboard.errors import PlayerNotFound, TotalScoreLimit
from leaderboard.models import GameSession, ScoreBaseline
from users.models import User


@dataclass(frozen=True)
class EntryTotals:
    board_id: int
    total_score: int
    session_count: int
    version: int


@dataclass(frozen=True)
class SubmittedScore:
    session: GameSession
    username: str
    entries: dict[int, EntryTotals]  # by board id; empty for a hidden player
    is_hidden: bool = False
    # Filled at commit with the player's placement per board, where the rank index answered it.
    placements: dict[int, ranking.Placement] = field(default_factory=dict)


# Entry versions only grow, even across delete and re-insert: at least the previous one plus
# one, and at least the change's time in microseconds. The rank index keeps the newest.
NEXT_VERSION = "CASE WHEN leaderboard.version + 1 > EXCLUDED.version THEN leaderboard.version + 1 ELSE EXCLUDED.version END"


# The largest total any path counts exactly: the rank index keeps totals as Redis sorted-set
# scores (doubles), exact up to 2**53. Far below BIGINT's 2**63 - 1, so the SQL sum cannot overflow.
MAX_TOTAL_SCORE = 2**53 - 1


def _version_at(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


# The arithmetic happens in the database so concurrent submits never lose points.
# A submit that leaves the total unchanged (score 0) keeps the player's place in ties.
_UPSERT_ENTRY_SQL = """
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


@ranking.guard_commit
@transaction.atomic
def submit_score(
    *, user_id: int, score: int, game_mode: str, played_at: datetime | None = None
) -> SubmittedScore:
    """Record one game session, played at `played_at` (None: now), on every board it counts towards.

    A hidden player's session is recorded (nothing is lost if they are restored) but
    counts towards no board while they stay hidden.
    """
    player = lock_player(user_id=user_id)
    now = timezone.now()
    played_at = played_at or now
    username = player.username
    entries = {}
    if not player.is_hidden:
        entries = {
            board.id: _add_to_entry(
                board_id=board.id,
                user_id=user_id,
                username=username,
                score=score,
                played_at=played_at,
                changed_at=now,
            )
            for board in selectors.list_boards_for_mode(game_mode=game_mode)
        }
    over = [e for e in entries.values() if e.total_score > MAX_TOTAL_SCORE]
    if over:
        # Raised inside the transaction: the upserts roll back and nothing is recorded.
        raise TotalScoreLimit(
            f"This score would take the player's total past {MAX_TOTAL_SCORE}, the largest total "
            f"a board counts exactly (it is {over[0].total_score - score} now)."
        )
    history = entries.get(selectors.get_default_board_ref().id)
    reason = plausibility.flag_reason(
        score=score,
        game_mode=game_mode,
        baseline=selectors.get_score_baseline(game_mode=game_mode),
        previous_total=history.total_score - score if history else 0,
        previous_count=history.session_count - 1 if history else 0,
    )
    session = GameSession.objects.create(
        user_id=user_id,
        score=score,
        game_mode=game_mode,
        played_at=played_at,
        is_flagged=bool(reason),
        flag_reason=reason,
    )
    if player.is_hidden:
        return SubmittedScore(session=session, username=username, entries={}, is_hidden=True)
    states = [
        ranking.EntryState(
            board_id=e.board_id,
            user_id=user_id,
            version=e.version,
            total_score=e.total_score,
            session_count=e.session_count,
            username=username,
        )
        for e in entries.values()
    ]
    submitted = SubmittedScore(session=session, username=username, entries=entries)
    # Last thing before COMMIT: from here on the index knows a change of these boards is in flight.
    intent = ranking.announce_changes(board_ids=list(entries))

    def publish() -> None:
        submitted.placements.update(ranking.record_entries(states, intent=intent))

    transaction.on_commit(publish, robust=True)
    return submitted


@dataclass(frozen=True)
class _LockedPlayer:
    username: str
    is_hidden: bool


def lock_player(*, user_id: int) -> _LockedPlayer:
    """Read the player and hold their row until commit.

    Submits and moderation of one player take turns on this lock, so a recount never
    misses a session committed meanwhile and a hidden player never regains an entry.
    `no_key` keeps the lock compatible with the key-share locks of foreign-key checks.
    """
    player = (
        User.objects.select_for_update(no_key=True)
        .filter(pk=user_id)
        .values_list("username", "is_hidden")
        .first()
    )
    if player is None:
        raise PlayerNotFound(f"No player with id {user_id}.")
    return _LockedPlayer(username=player[0], is_hidden=player[1])


def _add_to_entry(
    *, board_id: int, user_id: int, username: str, score: int, played_at: datetime, changed_at: datetime
) -> EntryTotals:
    # The tie-break time is when the session was played (who reached the total first); the
    # version is when the entry changed, so the index orders writes as they happened.
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_ENTRY_SQL,
            [
                board_id,
                user_id,
                username,
                score,
                connection.ops.adapt_datetimefield_value(played_at),
                _version_at(changed_at),
            ],
        )
        total_score, session_count, version = cursor.fetchone()
    return EntryTotals(
        board_id=board_id, total_score=total_score, session_count=session_count, version=version
    )


# Recompute entries from the sessions themselves: the seed uses it for whole boards,
# moderation for single players. Players left with no counted session lose their entry.
_REBUILD_ENTRIES_SQL = """
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


_DELETE_STALE_ENTRIES_SQL = """
DELETE FROM leaderboard
WHERE board_id = %(board_id)s {user_filter}
    AND NOT EXISTS (
        SELECT 1 FROM game_session s JOIN users u ON u.id = s.user_id
        WHERE s.user_id = leaderboard.user_id AND NOT s.is_void AND NOT u.is_hidden
            AND (%(game_mode)s = '' OR s.game_mode = %(game_mode)s)
    )
"""


@ranking.guard_commit
@transaction.atomic
def rebuild_entries(*, board_id: int, game_mode: str, user_ids: list[int] | None = None) -> None:
    """Make a board's entries equal to the sums of counted sessions (of all players, or these)."""
    _rebuild_board(board_id=board_id, game_mode=game_mode, user_ids=user_ids)
    if user_ids is not None:
        publish_entries_changed(user_ids=user_ids)
    else:
        # Too many players to publish one by one: the board's index is rebuilt instead.
        intent = ranking.announce_changes(board_ids=[board_id])
        transaction.on_commit(partial(ranking.mark_incomplete, intent=intent), robust=True)


def _rebuild_board(*, board_id: int, game_mode: str, user_ids: list[int] | None) -> None:
    params: dict[str, Any] = {
        "board_id": board_id,
        "game_mode": game_mode,
        "version": _version_at(timezone.now()),
    }
    session_filter = entry_filter = ""
    if user_ids is not None:
        if not user_ids:
            return
        placeholders = ", ".join(f"%(u{i})s" for i in range(len(user_ids)))
        session_filter = f"AND s.user_id IN ({placeholders})"
        entry_filter = f"AND user_id IN ({placeholders})"
        params.update({f"u{i}": uid for i, uid in enumerate(user_ids)})
    with connection.cursor() as cursor:
        cursor.execute(_REBUILD_ENTRIES_SQL.replace("{user_filter}", session_filter), params)
        cursor.execute(_DELETE_STALE_ENTRIES_SQL.replace("{user_filter}", entry_filter), params)


def rebuild_player_entries(*, user_id: int) -> None:
    """Recount one player on every board from their counted sessions.

    Every board, inactive ones too: their entries stay readable, and a hidden player's removal
    took them off all boards, so a restore or a void must reach all of them.
    """
    for board in selectors.list_boards():
        _rebuild_board(board_id=board.id, game_mode=board.game_mode, user_ids=[user_id])
    publish_entries_changed(user_ids=[user_id])


def publish_entries_changed(*, user_ids: list[int]) -> None:
    """Announce the players' entry changes to the index now and publish them after commit.

    Callers run it at the end of their transaction and are wrapped in `ranking.guard_commit`.
    """
    intent = ranking.announce_changes()
    # robust: a failing index update must not turn a committed change into an error.
    transaction.on_commit(
        partial(ranking.on_entries_changed, user_ids=list(user_ids), intent=intent), robust=True
    )


def repair_index_entries(*, board_id: int, user_ids: list[int]) -> None:
    """Make these players' rank index entries equal to the database's (check_rank_index --repair).

    Each chunk of players is locked as a submit locks them, so no change of theirs commits between
    reading the entry and writing it over the index's.
    """
    ids = sorted(set(user_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        with transaction.atomic():
            list(
                User.objects.select_for_update(no_key=True)
                .filter(pk__in=chunk)
                .order_by("pk")
                .values_list("pk")
            )
            ranking.repair_entries(board_id=board_id, user_ids=chunk)


@transaction.atomic
def refresh_score_baselines() -> list[ScoreBaseline]:
    """Recompute each game mode's 99th-percentile score from its counted sessions."""
    counted = GameSession.objects.counted()
    baselines = []
    for game_mode, sample_size in counted.values_list("game_mode").annotate(n=Count("id")).order_by():
        # percentile_disc(0.99): the smallest score with at least 99% of scores at or below it.
        position = max(math.ceil(0.99 * sample_size) - 1, 0)
        p99 = counted.filter(game_mode=game_mode).order_by("score").values_list("score", flat=True)[position]
        baseline, _ = ScoreBaseline.objects.update_or_create(
            game_mode=game_mode,
            defaults={"p99_score": p99, "sample_size": sample_size, "computed_at": timezone.now()},
        )
        baselines.append(baseline)
    return baselines
