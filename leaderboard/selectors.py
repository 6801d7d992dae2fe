"""Reads reused across the API, the web pages and the commands."""

import time
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from leaderboard import ranking
from leaderboard.models import Board

BOARD_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class BoardRef:
    id: int
    slug: str
    game_mode: str


_active_boards: tuple[float, list[BoardRef]] | None = None


def list_active_boards() -> list[BoardRef]:
    """Active boards, remembered in-process for a few seconds (they change rarely)."""
    global _active_boards
    now = time.monotonic()
    if _active_boards is None or _active_boards[0] < now:
        get_default_board()  # the default board always exists
        boards = [
            BoardRef(id=b.id, slug=b.slug, game_mode=b.game_mode)
            for b in Board.objects.filter(
                Q(is_active=True) | Q(slug=settings.LEADERBOARD_DEFAULT_BOARD)
            ).only("id", "slug", "game_mode")
        ]
        _active_boards = (now + BOARD_CACHE_SECONDS, boards)
    return _active_boards[1]


def forget_boards() -> None:
    """Drop the in-process board list (after boards change, and between tests)."""
    global _active_boards
    _active_boards = None


def list_boards_for_mode(*, game_mode: str) -> list[BoardRef]:
    return [b for b in list_active_boards() if b.game_mode in ("", game_mode)]


def get_default_board() -> Board:
    board, _ = Board.objects.get_or_create(
        slug=settings.LEADERBOARD_DEFAULT_BOARD,
        defaults={"name": "All time"},
    )
    return board


def get_default_board_ref() -> BoardRef:
    slug = settings.LEADERBOARD_DEFAULT_BOARD
    return next(b for b in list_active_boards() if b.slug == slug)


def get_player_rank(*, user_id: int, board: BoardRef | None = None) -> ranking.Standing | None:
    board = board or get_default_board_ref()
    return ranking.get_standing(board_id=board.id, user_id=user_id)


def get_top(*, limit: int, board: BoardRef | None = None) -> ranking.TopPlayers:
    board = board or get_default_board_ref()
    return ranking.get_top(board_id=board.id, limit=limit)


def get_placement(*, user_id: int, total_score: int, board: BoardRef | None = None) -> ranking.Placement:
    """The rank a total has on a board right now."""
    board = board or get_default_board_ref()
    return ranking.get_placement(board_id=board.id, user_id=user_id, total_score=total_score)


def get_stats() -> dict[str, object]:
    cache = ranking.cache_stats()
    return {
        "boards": [
            {"slug": b.slug, "rank_source": ranking.rank_source(board_id=b.id)} for b in list_active_boards()
        ],
        "top_cache_hits": cache["top_hits"],
        "top_cache_misses": cache["top_misses"],
        "top_cache_hit_ratio": cache["top_hit_ratio"],
    }
