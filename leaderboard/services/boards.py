"""Boards: the default board every deployment has."""

from django.conf import settings

from leaderboard.models import Board


def ensure_default_board() -> Board:
    """Create the default board if it is missing (a migration creates it; a flushed database lacks it)."""
    board, _ = Board.objects.get_or_create(
        slug=settings.LEADERBOARD_DEFAULT_BOARD, defaults={"name": "All time"}
    )
    return board
