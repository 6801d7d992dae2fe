"""Writes: every change to sessions and leaderboard entries goes through here."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import connection, transaction
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from leaderboard import selectors
from leaderboard.errors import PlayerNotFound
from leaderboard.models import GameSession
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
    entries: dict[int, EntryTotals]  # by board id


# The arithmetic happens in the database so concurrent submits never lose points.
# A submit that leaves the total unchanged (score 0) keeps the player's place in ties.
_UPSERT_ENTRY_SQL = """
INSERT INTO leaderboard
    (board_id, user_id, username, total_score, session_count, last_updated, version)
VALUES (%s, %s, %s, %s, 1, %s, 1)
ON CONFLICT (board_id, user_id) DO UPDATE SET
    total_score = leaderboard.total_score + EXCLUDED.total_score,
    session_count = leaderboard.session_count + 1,
    last_updated = CASE
        WHEN EXCLUDED.total_score <> 0 AND EXCLUDED.last_updated > leaderboard.last_updated
        THEN EXCLUDED.last_updated ELSE leaderboard.last_updated END,
    version = leaderboard.version + 1
RETURNING total_score, session_count, version
"""


@transaction.atomic
def submit_score(*, user_id: int, score: int, game_mode: str) -> SubmittedScore:
    """Record one game session and add it to every board it counts towards."""
    username = User.objects.filter(pk=user_id).values_list("username", flat=True).first()
    if username is None:
        raise PlayerNotFound(f"No player with id {user_id}.")
    now = timezone.now()
    session = GameSession.objects.create(user_id=user_id, score=score, game_mode=game_mode, played_at=now)
    entries = {
        board.id: _add_to_entry(board_id=board.id, user_id=user_id, username=username, score=score, at=now)
        for board in selectors.list_boards_for_mode(game_mode=game_mode)
    }
    return SubmittedScore(session=session, username=username, entries=entries)


def _add_to_entry(*, board_id: int, user_id: int, username: str, score: int, at: datetime) -> EntryTotals:
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT_ENTRY_SQL,
            [board_id, user_id, username, score, connection.ops.adapt_datetimefield_value(at)],
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
       COALESCE(MAX(s.played_at) FILTER (WHERE s.score > 0), MIN(s.played_at)), 1
FROM game_session s JOIN users u ON u.id = s.user_id
WHERE NOT s.is_void AND (%(game_mode)s = '' OR s.game_mode = %(game_mode)s) {user_filter}
GROUP BY s.user_id, u.username
ON CONFLICT (board_id, user_id) DO UPDATE SET
    total_score = EXCLUDED.total_score,
    session_count = EXCLUDED.session_count,
    last_updated = CASE WHEN EXCLUDED.total_score <> leaderboard.total_score
        THEN EXCLUDED.last_updated ELSE leaderboard.last_updated END,
    version = leaderboard.version + 1
"""


@transaction.atomic
def rebuild_entries(*, board_id: int, game_mode: str, user_ids: list[int] | None = None) -> None:
    """Make a board's entries equal to the sums of counted sessions."""
    params: dict[str, Any] = {"board_id": board_id, "game_mode": game_mode}
    user_filter = ""
    if user_ids is not None:
        placeholders = ", ".join(f"%(u{i})s" for i in range(len(user_ids)))
        user_filter = f"AND s.user_id IN ({placeholders})"
        params.update({f"u{i}": uid for i, uid in enumerate(user_ids)})
    with connection.cursor() as cursor:
        cursor.execute(_REBUILD_ENTRIES_SQL.format(user_filter=user_filter), params)


def create_api_key(*, name: str) -> tuple[APIKey, str]:
    """Create a game server's key; the plain key is returned this once and stored only hashed."""
    api_key, key = APIKey.objects.create_key(name=name)
    return cast(APIKey, api_key), key


@transaction.atomic
def rotate_api_key(*, name: str) -> tuple[APIKey, str]:
    """Revoke every usable key with this name and create a new one in its place."""
    APIKey.objects.filter(name=name, revoked=False).update(revoked=True)
    return create_api_key(name=name)
