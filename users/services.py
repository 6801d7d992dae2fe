"""Writes to players."""

from django.db import IntegrityError, transaction

from leaderboard.errors import UsernameTaken
from users.models import User


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
