"""Writes: every change to sessions and leaderboard entries goes through here."""

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from leaderboard import plausibility, ranking, selectors
from leaderboard.errors import IdempotencyKeyBusy, IdempotencyKeyReused, ModerationError, PlayerNotFound
from leaderboard.models import GameSession, IdempotentRequest, LeaderboardEntry, ModerationLog, ScoreBaseline
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


# Entry versions only grow, even across delete and re-insert: at least the previous one plus
# one, and at least the change's time in microseconds. The rank index keeps the newest.
NEXT_VERSION = "CASE WHEN leaderboard.version + 1 > EXCLUDED.version THEN leaderboard.version + 1 ELSE EXCLUDED.version END"


def _version_at(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


# The arithmetic happens in the database so concurrent submits never lose points.
# A submit that leaves the total unchanged (score 0) keeps the player's place in ties.
_UPSERT_ENTRY_SQL = """
INSERT INTO leaderboard
    (board_id, user_id, username, total_score, session_count, last_updated, version)
VALUES (%s, %s, %s, %s, 1, %s, %s)
ON CONFLICT (board_id, user_id) DO UPDATE SET
    total_score = leaderboard.total_score + EXCLUDED.total_score,
    session_count = leaderboard.session_count + 1,
    last_updated = CASE
        WHEN EXCLUDED.total_score <> 0 AND EXCLUDED.last_updated > leaderboard.last_updated
        THEN EXCLUDED.last_updated ELSE leaderboard.last_updated END,
    version = {NEXT_VERSION}
RETURNING total_score, session_count, version
""".replace("{NEXT_VERSION}", NEXT_VERSION)


@transaction.atomic
def submit_score(*, user_id: int, score: int, game_mode: str) -> SubmittedScore:
    """Record one game session and add it to every board it counts towards.

    A hidden player's session is recorded (nothing is lost if they are restored) but
    counts towards no board while they stay hidden.
    """
    player = _lock_player(user_id=user_id)
    now = timezone.now()
    username = player.username
    entries = {}
    if not player.is_hidden:
        entries = {
            board.id: _add_to_entry(
                board_id=board.id, user_id=user_id, username=username, score=score, at=now
            )
            for board in selectors.list_boards_for_mode(game_mode=game_mode)
        }
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
        played_at=now,
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
    transaction.on_commit(partial(ranking.record_entries, states), robust=True)
    return SubmittedScore(session=session, username=username, entries=entries)


@dataclass(frozen=True)
class _LockedPlayer:
    username: str
    is_hidden: bool


def _lock_player(*, user_id: int) -> _LockedPlayer:
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


def _add_to_entry(*, board_id: int, user_id: int, username: str, score: int, at: datetime) -> EntryTotals:
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_ENTRY_SQL,
            [
                board_id,
                user_id,
                username,
                score,
                connection.ops.adapt_datetimefield_value(at),
                _version_at(at),
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


@transaction.atomic
def rebuild_entries(*, board_id: int, game_mode: str, user_ids: list[int] | None = None) -> None:
    """Make a board's entries equal to the sums of counted sessions (of all players, or these)."""
    _rebuild_board(board_id=board_id, game_mode=game_mode, user_ids=user_ids)
    if user_ids is not None:
        _entries_changed(user_ids=user_ids)


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


def _rebuild_player(*, user_id: int) -> None:
    """Recount one player on every board from their counted sessions."""
    for board in selectors.list_active_boards():
        _rebuild_board(board_id=board.id, game_mode=board.game_mode, user_ids=[user_id])
    _entries_changed(user_ids=[user_id])


def _entries_changed(*, user_ids: list[int]) -> None:
    # robust: a failing index update must not turn a committed change into an error.
    transaction.on_commit(partial(ranking.on_entries_changed, user_ids=list(user_ids)), robust=True)


# --- Moderation: every action needs a reason and leaves a ModerationLog row. ---


def _require_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ModerationError("A moderation action needs a reason.")
    return reason


@transaction.atomic
def void_session(*, session_id: int, moderator: User, reason: str) -> GameSession:
    """Exclude a session from every total; the player's ranks follow at once."""
    return _set_session_void(
        session_id=session_id,
        is_void=True,
        moderator=moderator,
        reason=reason,
        action=ModerationLog.Action.VOID_SESSION,
    )


@transaction.atomic
def restore_session(*, session_id: int, moderator: User, reason: str) -> GameSession:
    """Count a voided session again."""
    return _set_session_void(
        session_id=session_id,
        is_void=False,
        moderator=moderator,
        reason=reason,
        action=ModerationLog.Action.RESTORE_SESSION,
    )


def _set_session_void(
    *, session_id: int, is_void: bool, moderator: User, reason: str, action: str
) -> GameSession:
    reason = _require_reason(reason)
    user_id = GameSession.objects.filter(pk=session_id).values_list("user_id", flat=True).first()
    if user_id is None:
        raise ModerationError(f"No game session with id {session_id}.")
    _lock_player(user_id=user_id)
    session = GameSession.objects.select_for_update().get(pk=session_id)
    if session.is_void == is_void:
        state = "void" if is_void else "counted"
        raise ModerationError(f"Session {session_id} is already {state}.")
    GameSession.objects.filter(pk=session_id).update(is_void=is_void)
    session.is_void = is_void
    _rebuild_player(user_id=user_id)
    ModerationLog.objects.create(
        moderator=moderator, action=action, target_user_id=user_id, session=session, reason=reason
    )
    return session


@transaction.atomic
def hide_player(*, user_id: int, moderator: User, reason: str) -> None:
    """Take a player off every board; everyone below them moves up. Their sessions stay."""
    reason = _require_reason(reason)
    if _lock_player(user_id=user_id).is_hidden:
        raise ModerationError(f"Player {user_id} is already hidden.")
    User.objects.filter(pk=user_id).update(is_hidden=True)
    LeaderboardEntry.objects.filter(user_id=user_id).delete()
    _entries_changed(user_ids=[user_id])
    ModerationLog.objects.create(
        moderator=moderator, action=ModerationLog.Action.HIDE_PLAYER, target_user_id=user_id, reason=reason
    )


@transaction.atomic
def restore_player(*, user_id: int, moderator: User, reason: str) -> None:
    """Put a hidden player back, with totals recounted from their counted sessions."""
    reason = _require_reason(reason)
    if not _lock_player(user_id=user_id).is_hidden:
        raise ModerationError(f"Player {user_id} is not hidden.")
    User.objects.filter(pk=user_id).update(is_hidden=False)
    _rebuild_player(user_id=user_id)
    ModerationLog.objects.create(
        moderator=moderator, action=ModerationLog.Action.RESTORE_PLAYER, target_user_id=user_id, reason=reason
    )


def create_api_key(*, name: str) -> tuple[APIKey, str]:
    """Create a game server's key; the plain key is returned this once and stored only hashed."""
    api_key, key = APIKey.objects.create_key(name=name)
    return cast(APIKey, api_key), key


@transaction.atomic
def rotate_api_key(*, name: str) -> tuple[APIKey, str]:
    """Revoke every usable key with this name and create a new one in its place."""
    APIKey.objects.filter(name=name, revoked=False).update(revoked=True)
    return create_api_key(name=name)


@dataclass(frozen=True)
class Answer:
    """What an idempotent write answered: the status and JSON body, and whether it was a replay."""

    status: int
    body: dict[str, Any]
    replayed: bool


def fingerprint_request(*, operation: str, data: Mapping[str, Any]) -> str:
    """SHA-256 of the operation and its validated input in canonical JSON."""
    canonical = json.dumps({"operation": operation, "input": data}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@transaction.atomic
def run_idempotently(
    *,
    api_key_id: str,
    idempotency_key: str,
    fingerprint: str,
    operation: Callable[[], tuple[int, dict[str, Any]]],
) -> Answer:
    """Run `operation` once per (API key, idempotency key); a retry gets the first answer back.

    The key is claimed with an INSERT before the work, in the same transaction. A concurrent
    duplicate blocks on the unique index until the first transaction ends: if it committed, the
    duplicate replays its answer; if it rolled back (the write failed, nothing was stored), the
    duplicate claims the key and does the work itself.
    """
    for _ in range(3):
        claimed = _claim_idempotency_key(
            api_key_id=api_key_id, idempotency_key=idempotency_key, fingerprint=fingerprint
        )
        if claimed is not None:
            status, body = operation()
            IdempotentRequest.objects.filter(pk=claimed.pk).update(
                status_code=status, response_json=json.dumps(body)
            )
            return Answer(status=status, body=body, replayed=False)
        earlier = IdempotentRequest.objects.filter(api_key_id=api_key_id, key=idempotency_key).first()
        if earlier is None:
            continue  # purged since the conflict: claim it again
        if earlier.created_at < _idempotency_cutoff():
            # Expired but not purged yet: forget it and start afresh.
            IdempotentRequest.objects.filter(pk=earlier.pk, created_at__lt=_idempotency_cutoff()).delete()
            continue
        if earlier.fingerprint != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
        assert earlier.status_code is not None  # committed rows always hold their answer
        return Answer(status=earlier.status_code, body=json.loads(earlier.response_json), replayed=True)
    raise IdempotencyKeyBusy("This Idempotency-Key is being used by another request; retry shortly.")


def _claim_idempotency_key(
    *, api_key_id: str, idempotency_key: str, fingerprint: str
) -> IdempotentRequest | None:
    try:
        # A savepoint: losing the race must not abort the surrounding transaction.
        with transaction.atomic():
            return IdempotentRequest.objects.create(
                api_key_id=api_key_id, key=idempotency_key, fingerprint=fingerprint
            )
    except IntegrityError:
        return None


def _idempotency_cutoff() -> datetime:
    return timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_SECONDS)


def purge_idempotency_keys() -> int:
    """Delete idempotency keys older than IDEMPOTENCY_KEY_TTL_SECONDS; return how many."""
    deleted, _ = IdempotentRequest.objects.filter(created_at__lt=_idempotency_cutoff()).delete()
    return deleted


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
