"""Players and moderators: one custom user model, moderators are staff."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    # A hidden player (a cheater) keeps their sessions but has no leaderboard entries.
    is_hidden = models.BooleanField(default=False, db_default=False)

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
