"""Writes to players: registration, renames (under the username rules of users.usernames) and follows."""

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from leaderboard import entries, ranking
from leaderboard.errors import CannotFollowSelf, FollowLimitReached, PlayerNotFound, UsernameTaken
from leaderboard.models import LeaderboardEntry
from leaderboard.services.scores import lock_player, publish_entries_changed
from users import usernames
from users.models import Follow, User


def _taken(name: str) -> UsernameTaken:
    return UsernameTaken(f"The username {name!r} is already taken, or looks like one that is.")


def register_player(*, username: str, email: str = "") -> User:
    """Create a player who can submit scores (no password: players do not log in here)."""
    name = usernames.check_username(username)
    user = User(username=name, email=email, username_skeleton=usernames.skeleton(name))
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise _taken(name) from exc
    return user


def check_username_available(*, username: str, user_id: int | None = None) -> str:
    """The name as it would be stored, if no other player's name looks like it; else UsernameTaken."""
    name = usernames.check_username(username)
    others = User.objects.exclude(pk=user_id) if user_id is not None else User.objects.all()
    if (
        others.filter(username_skeleton=usernames.skeleton(name)).exists()
        or others.filter(username=name).exists()
    ):
        raise _taken(name)
    return name


@ranking.guard_commit
@transaction.atomic
def rename_player(*, user_id: int, username: str) -> User:
    """Rename a player, and their name on every board and in the rank index with them.

    Under the player's lock, so a submit (which writes the name into the entries) runs wholly
    before or after; the entries' versions move on so the index takes the new name.
    """
    name = usernames.check_username(username)
    lock_player(user_id=user_id)
    try:
        with transaction.atomic():
            User.objects.filter(pk=user_id).update(username=name, username_skeleton=usernames.skeleton(name))
    except IntegrityError as exc:
        raise _taken(name) from exc
    now_version = entries.version_at(timezone.now())
    LeaderboardEntry.objects.filter(user_id=user_id).update(
        username=name, version=Greatest(F("version") + 1, Value(now_version))
    )
    publish_entries_changed(user_ids=[user_id])
    return User.objects.get(pk=user_id)


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
