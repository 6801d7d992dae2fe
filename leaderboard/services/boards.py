"""Boards: creating them, changing what may change, and the default board every deployment has."""

from typing import Any

from django.conf import settings
from django.db import transaction

from leaderboard import periods, selectors
from leaderboard.errors import InvalidBoard
from leaderboard.models import Board


def ensure_default_board() -> Board:
    """Create the default board if it is missing (a migration creates it; a flushed database lacks it)."""
    board, _ = Board.objects.get_or_create(
        slug=settings.LEADERBOARD_DEFAULT_BOARD, defaults={"name": "All time"}
    )
    return board


def check_board_definition(fields: dict[str, Any]) -> None:
    """InvalidBoard unless the choices and the time zone are ones a board can have."""
    choices: dict[str, list[Any]] = {
        "aggregation": Board.Aggregation.values,
        "order": Board.Order.values,
        "window": Board.Window.values,
        "week_start": Board.WeekStart.values,
    }
    for name, allowed in choices.items():
        if name in fields and fields[name] not in allowed:
            raise InvalidBoard(f"{name} must be one of {', '.join(str(a) for a in allowed)}.")
    if "time_zone" in fields and not periods.is_valid_time_zone(fields["time_zone"]):
        raise InvalidBoard(f"{fields['time_zone']!r} is not an IANA time zone (e.g. Europe/Paris).")


@transaction.atomic
def create_board(
    *,
    slug: str,
    name: str,
    game_mode: str = "",
    aggregation: str = Board.Aggregation.SUM,
    order: str = Board.Order.HIGHER,
    window: str = Board.Window.ALL_TIME,
    time_zone: str = "UTC",
    week_start: int = Board.WeekStart.MONDAY,
    is_active: bool = True,
) -> Board:
    """Create a board. It takes sessions submitted from now on; `rebuild_board` fills in the past."""
    definition = {
        "aggregation": aggregation,
        "order": order,
        "window": window,
        "time_zone": time_zone,
        "week_start": week_start,
    }
    check_board_definition(definition)
    if Board.objects.filter(slug=slug).exists():
        raise InvalidBoard(f"A board with the slug {slug!r} exists already.")
    board = Board.objects.create(slug=slug, name=name, game_mode=game_mode, is_active=is_active, **definition)
    transaction.on_commit(selectors.forget_rarely_changing)
    return board


@transaction.atomic
def update_board(*, board_id: int, **changes: Any) -> Board:
    """Change a board's name or whether it takes new sessions.

    The fields that define its history (which sessions count, how, which way is better, when it
    resets) never change: entries already made under them would no longer match.
    """
    board = Board.objects.select_for_update().get(pk=board_id)
    fixed = [
        name for name in Board.HISTORY_FIELDS if name in changes and changes[name] != getattr(board, name)
    ]
    if fixed:
        raise InvalidBoard(
            f"{', '.join(fixed)} cannot change once a board exists; create a new board instead."
        )
    if "slug" in changes and changes["slug"] != board.slug:
        raise InvalidBoard("A board's slug is its address in the API and cannot change.")
    for name in ("name", "is_active"):
        if name in changes:
            setattr(board, name, changes[name])
    board.save(update_fields=["name", "is_active"])
    transaction.on_commit(selectors.forget_rarely_changing)
    return board
