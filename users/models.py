"""Players and moderators: one custom user model, moderators are staff."""

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone

from users import usernames


class PlayerManager(UserManager["User"]):
    def _create_user_object(
        self, username: str, email: str | None, password: str | None, **extra_fields: Any
    ) -> "User":
        # create_user / createsuperuser: the same skeleton the services store, so staff names are guarded too.
        user: User = super()._create_user_object(username, email, password, **extra_fields)  # type: ignore[misc]
        user.username_skeleton = usernames.skeleton(user.username)
        return user


class User(AbstractUser):
    # A hidden player (a cheater) keeps their sessions but has no leaderboard entries.
    is_hidden = models.BooleanField(default=False, db_default=False)
    # What the name looks like (users.usernames.skeleton): unique, so no two names look alike or
    # differ only in case, even when registered at the same instant. NULL only for names that
    # already looked alike when the rule came in (the older one of them keeps the skeleton).
    username_skeleton = models.CharField(max_length=450, null=True, unique=True, editable=False)  # noqa: DJ001 (NULLs never collide in a unique index)

    objects: ClassVar[PlayerManager] = PlayerManager()  # type: ignore[assignment]

    class Meta:
        db_table = "users"
        # Moderation is its own permission: "change" on users would also reach staff flags and passwords.
        permissions = [("moderate_player", "Can hide and restore players")]
        indexes = [
            # Serves "username starts with ..." search on PostgreSQL (the unique
            # index uses the database collation, which LIKE 'abc%' cannot use).
            models.Index(
                fields=["username"], name="users_username_prefix", opclasses=["varchar_pattern_ops"]
            ),
            # Hidden players are few: moderators list them without scanning every player.
            models.Index(fields=["username"], condition=models.Q(is_hidden=True), name="users_hidden"),
        ]

    def __str__(self) -> str:
        return self.username


class Follow(models.Model):
    """A player follows another: the friends board is a player and the players they follow."""

    follower = models.ForeignKey(User, on_delete=models.CASCADE, related_name="following")
    followed = models.ForeignKey(User, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "follow"
        constraints = [
            models.UniqueConstraint(fields=["follower", "followed"], name="follow_once"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followed")), name="follow_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.followed_id}"
