"""Reads about players: who is visible, search, follows, sessions and score history."""

import math
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models
from django.db.models import F, Sum, Window
from django.db.models.functions import RowNumber

from leaderboard.models import GameSession
from users.models import Follow, User

SEARCH_LIMIT = 10


def get_visible_player(*, user_id: int) -> User | None:
    """A player anyone may look at: hidden players do not exist for the public pages."""
    return User.objects.filter(pk=user_id, is_hidden=False).only("id", "username", "date_joined").first()


def get_visible_player_id_by_username(*, username: str) -> int | None:
    return User.objects.filter(username=username, is_hidden=False).values_list("id", flat=True).first()


# On PostgreSQL, ORDER BY ... USING ~<~ is the order of the users_username_prefix index
# (varchar_pattern_ops), so the scan starts at the prefix and stops after `limit` rows.
# A plain ORDER BY username may walk the whole unique index when the prefix is rare.
_SEARCH_PLAYERS_SQL = """
SELECT id, username FROM users
WHERE username LIKE %s AND NOT is_hidden
ORDER BY username USING ~<~
LIMIT %s
"""


def search_players(*, prefix: str, limit: int = SEARCH_LIMIT) -> list[User]:
    """Players whose username starts with `prefix`, in name order (served by users_username_prefix)."""
    prefix = prefix.strip()
    if not prefix:
        return []
    if connection.vendor == "postgresql":
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return list(User.objects.raw(_SEARCH_PLAYERS_SQL, [pattern, limit]))
    return list(
        User.objects.filter(username__startswith=prefix, is_hidden=False)
        .order_by("username")
        .only("id", "username")[:limit]
    )


@dataclass(frozen=True)
class FollowedPlayer:
    user_id: int
    username: str
    since: datetime


def list_following(*, user_id: int) -> list[FollowedPlayer]:
    """The visible players this player follows, in the order they were followed."""
    rows = (
        Follow.objects.filter(follower_id=user_id, followed__is_hidden=False)
        .order_by("created_at", "followed_id")
        .values_list("followed_id", "followed__username", "created_at")
    )
    return [FollowedPlayer(user_id=uid, username=name, since=since) for uid, name, since in rows]


def list_counted_sessions(*, user_id: int) -> models.QuerySet[GameSession]:
    """A player's counted sessions, newest first (the session_user_played index order)."""
    return (
        GameSession.objects.counted()
        .filter(user_id=user_id)
        .order_by("-played_at", "-id")
        .only("id", "score", "game_mode", "played_at")
    )


@dataclass(frozen=True)
class HistoryPoint:
    played_at: datetime
    total_score: int


def get_score_history(*, user_id: int, max_points: int = 60) -> list[HistoryPoint]:
    """The player's running total over their counted sessions, at most `max_points` points.

    With more sessions than points, every k-th session's running total is kept (always the
    first and the last), so the curve keeps its shape and the page stays small.
    """
    order = [F("played_at").asc(), F("id").asc()]
    sessions = GameSession.objects.counted().filter(user_id=user_id)
    count = sessions.count()
    if count == 0:
        return []
    step = max(1, math.ceil(count / max_points))
    positions = sorted({1, count, *range(step, count + 1, step)})
    rows = (
        sessions.annotate(
            running_total=Window(Sum("score"), order_by=order),
            position=Window(RowNumber(), order_by=order),
        )
        .filter(position__in=positions)
        .order_by("position")
        .values_list("played_at", "running_total")
    )
    return [HistoryPoint(played_at=played_at, total_score=total) for played_at, total in rows]
