"""Players and moderators: one custom user model, moderators are staff."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    class Meta:
        db_table = "users"
        indexes = [
            # Serves "username starts with ..." search on PostgreSQL (the unique
            # index uses the database collation, which LIKE 'abc%' cannot use).
            models.Index(
                fields=["username"], name="users_username_prefix", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return self.username
