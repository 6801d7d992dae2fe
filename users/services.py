"""Writes to players: registration and follows."""

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from leaderboard.errors import CannotFollowSelf, FollowLimitReached, PlayerNotFound, UsernameTaken
from leaderboard.services.scores import lock_player
from users.models import Follow, User


def register_player(*, username: str, email: str = "") -> User:
    """Create a player who can submit scores (no password: players do not log in here)."""
    user = User(username=username, email=email)
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise UsernameTaken(f"The username {username!r} is already taken.") from exc
    return user


@transaction.atomic
def follow_player(*, follower_id: int, followed_id: int, at: datetime | None = None) -> bool:
    """Record that a player follows another; False if they already did.

    The follower's row is locked while the follows are counted, so concurrent requests cannot
    push a player past the cap. Hidden players cannot be followed: they do not exist publicly.
    """
    if follower_id == followed_id:
        raise CannotFollowSelf("A player cannot follow themselves.")
    lock_player(user_id=follower_id)
    if not User.objects.filter(pk=followed_id, is_hidden=False).exists():
        raise PlayerNotFound(f"No player with id {followed_id}.")
    if Follow.objects.filter(follower_id=follower_id, followed_id=followed_id).exists():
        return False
    limit = settings.LEADERBOARD_FOLLOW_LIMIT
    if Follow.objects.filter(follower_id=follower_id).count() >= limit:
        raise FollowLimitReached(f"A player can follow at most {limit} players.")
    Follow.objects.create(follower_id=follower_id, followed_id=followed_id, created_at=at or timezone.now())
    return True


@transaction.atomic
def unfollow_player(*, follower_id: int, followed_id: int) -> bool:
    """Stop following; False if the player did not follow them."""
    lock_player(user_id=follower_id)
    deleted, _ = Follow.objects.filter(follower_id=follower_id, followed_id=followed_id).delete()
    return bool(deleted)
