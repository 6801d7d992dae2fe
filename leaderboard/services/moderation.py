"""Moderation: every action needs a reason and leaves a ModerationLog row."""

from django.db import transaction

from leaderboard import ranking
from leaderboard.errors import ModerationError
from leaderboard.models import GameSession, ModerationLog
from leaderboard.services.scores import lock_player, rebuild_player_entries
from users.models import User


def _require_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ModerationError("A moderation action needs a reason.")
    return reason


@ranking.guard_commit
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


@ranking.guard_commit
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
    lock_player(user_id=user_id)
    session = GameSession.objects.select_for_update().get(pk=session_id)
    if session.is_void == is_void:
        state = "void" if is_void else "counted"
        raise ModerationError(f"Session {session_id} is already {state}.")
    GameSession.objects.filter(pk=session_id).update(is_void=is_void)
    session.is_void = is_void
    rebuild_player_entries(user_id=user_id)
    ModerationLog.objects.create(
        moderator=moderator, action=action, target_user_id=user_id, session=session, reason=reason
    )
    return session


@ranking.guard_commit
@transaction.atomic
def hide_player(*, user_id: int, moderator: User, reason: str) -> None:
    """Take a player off every board; everyone below them moves up. Their sessions stay."""
    reason = _require_reason(reason)
    if lock_player(user_id=user_id).is_hidden:
        raise ModerationError(f"Player {user_id} is already hidden.")
    User.objects.filter(pk=user_id).update(is_hidden=True)
    # A hidden player's sessions count nowhere: the recount removes every entry they have.
    rebuild_player_entries(user_id=user_id)
    ModerationLog.objects.create(
        moderator=moderator, action=ModerationLog.Action.HIDE_PLAYER, target_user_id=user_id, reason=reason
    )


@ranking.guard_commit
@transaction.atomic
def restore_player(*, user_id: int, moderator: User, reason: str) -> None:
    """Put a hidden player back, with totals recounted from their counted sessions."""
    reason = _require_reason(reason)
    if not lock_player(user_id=user_id).is_hidden:
        raise ModerationError(f"Player {user_id} is not hidden.")
    User.objects.filter(pk=user_id).update(is_hidden=False)
    rebuild_player_entries(user_id=user_id)
    ModerationLog.objects.create(
        moderator=moderator, action=ModerationLog.Action.RESTORE_PLAYER, target_user_id=user_id, reason=reason
    )
