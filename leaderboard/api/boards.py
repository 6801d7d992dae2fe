"""Boards under /api/v1/boards/: list, detail, cursor pages of the top, a player's rank, around-me and
friends; every answer names its period and when the board next resets."""

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from leaderboard import selectors
from leaderboard.api import serializers
from leaderboard.api.common import USER_ID_PATH, ApiView, user_id_from_path, validated
from leaderboard.api.cursors import Cursor, InvalidCursor, read_walk_page
from leaderboard.api.schema import ERROR_HEADERS, error_responses
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.db_router import stale_reads_ok
from leaderboard.errors import BoardNotFound, InvalidPeriodParameter, NotRanked, PlayerNotFound

SLUG_PATH = OpenApiParameter(
    "slug",
    {"type": "string", "pattern": "^[-a-zA-Z0-9_]{1,64}$"},
    OpenApiParameter.PATH,
    description="The board's slug, e.g. `global`.",
)
# The read paths' output serializers are built once (see compatible.py); to_representation keeps no state.
PAGE_OUTPUT = serializers.BoardPageOutput()
STANDING_OUTPUT = serializers.BoardStandingOutput()
AROUND_OUTPUT = serializers.AroundOutput()


def _board(slug: str) -> BoardRef:
    board = selectors.get_board(slug=slug)
    if board is None:
        raise BoardNotFound(f"No board {slug!r}.")
    return board


def _period(board: BoardRef, period: str | None) -> BoardPeriod:
    try:
        return selectors.resolve_period(board=board, period=period)
    except InvalidPeriodParameter as exc:
        raise ValidationError({"period": [exc.message]}) from exc


def _board_read(
    request: Request, slug: str, inputs: type[serializers.PeriodInput]
) -> tuple[dict[str, Any], BoardRef, BoardPeriod]:
    """A board read's query (checked first: a bad one is a 400 whatever the path names), board and period."""
    data = validated(inputs, request.query_params)
    board = _board(slug)
    return data, board, _period(board, data.get("period"))


def _period_body(board: BoardRef, board_period: BoardPeriod) -> selectors.PeriodInfo:
    return selectors.describe_period(board=board, board_period=board_period)


def _board_body(board: BoardRef) -> dict[str, Any]:
    return {
        **{name: getattr(board, name) for name in ("slug", "name", "game_mode", "aggregation", "order")},
        **{name: getattr(board, name) for name in ("window", "time_zone", "week_start", "is_active")},
        "period": _period_body(board, board.period_at(timezone.now())),
    }


def _visible_player(user_id: str) -> int:
    player_id = user_id_from_path(user_id)
    if selectors.get_visible_player(user_id=player_id) is None:
        raise PlayerNotFound(f"No player with id {player_id}.")
    return player_id


def _not_listed(player_id: int) -> Exception:
    """Why a player has no row: hidden players and unknown ids do not exist, the others are unranked.

    Asked only then: a hidden player has no entries, so a row found is always a visible player's.
    """
    if selectors.get_visible_player(user_id=player_id) is None:
        return PlayerNotFound(f"No player with id {player_id}.")
    return NotRanked(f"Player {player_id} has no score on this board in this period.")


class BoardListApi(ApiView):
    @extend_schema(
        operation_id="list_boards",
        summary="The boards taking scores now, the default board first, each with its current period",
        parameters=ERROR_HEADERS,
        responses={200: serializers.BoardListOutput, **error_responses(401, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request) -> Response:
        boards = [_board_body(board) for board in selectors.list_active_boards()]
        return Response(serializers.BoardListOutput({"boards": boards}).data)


class BoardDetailApi(ApiView):
    @extend_schema(
        operation_id="get_board",
        summary="A board (active or retired) with its current period and next reset",
        parameters=[SLUG_PATH, *ERROR_HEADERS],
        responses={200: serializers.BoardOutput, **error_responses(401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, slug: str) -> Response:
        return Response(serializers.BoardOutput(_board_body(_board(slug))).data)


class BoardTopApi(ApiView):
    @extend_schema(
        operation_id="get_board_top",
        summary="A page of a board period's listing, best first, with true ranks and the next page's cursor",
        description=(
            "Follow `next_cursor` to walk the listing. While scores arrive, a walk never shows a player "
            "twice, and shows exactly once every player whose entry did not change since the first page; "
            "a player whose entry changed during the walk is shown at most once (only on pages read "
            "before the change)."
        ),
        parameters=[SLUG_PATH, serializers.BoardTopInput, *ERROR_HEADERS],
        responses={200: serializers.BoardPageOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, slug: str) -> Response:
        board = _board(slug)
        data = validated(serializers.BoardTopInput, request.query_params)
        cursor = _cursor(data.get("cursor"))
        if cursor is not None and data.get("period") not in (None, cursor.period):
            raise ValidationError({"cursor": ["This cursor belongs to another period."]})
        board_period = _period(board, cursor.period if cursor else data.get("period"))
        page, next_cursor = read_walk_page(
            board_period=board_period, limit=data["limit"], cursor=cursor, now=timezone.now()
        )
        body = {
            "board": board.slug,
            "period": _period_body(board, board_period),
            "players": page.rows,
            "total_players": page.total_players,
            "next_cursor": next_cursor.encode() if next_cursor else None,
        }
        return Response(PAGE_OUTPUT.to_representation(body))


def _cursor(token: str | None) -> Cursor | None:
    if token is None:
        return None
    try:
        return Cursor.decode(token)
    except InvalidCursor as exc:
        raise ValidationError({"cursor": [str(exc)]}) from exc


class BoardPlayerApi(ApiView):
    @extend_schema(
        operation_id="get_board_player",
        summary="A player's rank, value and percentile on a board period",
        parameters=[SLUG_PATH, USER_ID_PATH, serializers.PeriodInput, *ERROR_HEADERS],
        responses={200: serializers.BoardStandingOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, slug: str, user_id: str) -> Response:
        _, board, board_period = _board_read(request, slug, serializers.PeriodInput)
        player_id = user_id_from_path(user_id)
        standing = selectors.get_player_rank(user_id=player_id, board_period=board_period)
        if standing is None:
            raise _not_listed(player_id)
        body = {
            "board": board.slug,
            "period": _period_body(board, board_period),
            **{name: getattr(standing, name) for name in ("user_id", "username", "rank", "total_score")},
            **{name: getattr(standing, name) for name in ("session_count", "percentile", "total_players")},
        }
        return Response(STANDING_OUTPUT.to_representation(body))


class BoardAroundApi(ApiView):
    @extend_schema(
        operation_id="get_board_around_player",
        summary="The player with k players above and below, in listing order, with their true ranks",
        parameters=[SLUG_PATH, USER_ID_PATH, serializers.AroundInput, *ERROR_HEADERS],
        responses={200: serializers.AroundOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, slug: str, user_id: str) -> Response:
        data, board, board_period = _board_read(request, slug, serializers.AroundInput)
        player_id = user_id_from_path(user_id)
        around = selectors.get_around(board_period=board_period, user_id=player_id, count=data["k"])
        if around is None:
            raise _not_listed(player_id)
        body = {
            "board": board.slug,
            "period": _period_body(board, board_period),
            "user_id": player_id,
            "players": around.rows,
            "total_players": around.total_players,
        }
        return Response(AROUND_OUTPUT.to_representation(body))


class BoardFriendsApi(ApiView):
    @extend_schema(
        operation_id="get_board_friends",
        summary="The player and the players they follow: ranks within the group and on the whole board",
        parameters=[SLUG_PATH, USER_ID_PATH, serializers.PeriodInput, *ERROR_HEADERS],
        responses={200: serializers.FriendsOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, slug: str, user_id: str) -> Response:
        _, board, board_period = _board_read(request, slug, serializers.PeriodInput)
        player_id = _visible_player(user_id)
        friends = selectors.get_friends(board=board, board_period=board_period, user_id=player_id)
        players = [
            {
                **{name: getattr(row.standing, name) for name in ("rank", "user_id", "username")},
                "total_score": row.standing.total_score,
                "session_count": row.standing.session_count,
                "group_rank": row.group_rank,
            }
            for row in friends.rows
        ]
        body = {
            "board": board.slug,
            "period": _period_body(board, board_period),
            "user_id": player_id,
            "players": players,
            "group_size": friends.group_size,
            "total_players": friends.total_players,
        }
        return Response(serializers.FriendsOutput(body).data)


class PlayerStandingsApi(ApiView):
    @extend_schema(
        operation_id="get_player_standings",
        summary="A player's standing in the current period of every active board",
        parameters=[USER_ID_PATH, *ERROR_HEADERS],
        responses={200: serializers.PlayerStandingsOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, user_id: str) -> Response:
        player_id = _visible_player(user_id)
        standings = [
            {
                "board": item.board.slug,
                "name": item.board.name,
                "period": _period_body(item.board, item.period),
                "standing": item.standing,
            }
            for item in selectors.list_standings(user_id=player_id)
        ]
        return Response(
            serializers.PlayerStandingsOutput({"user_id": player_id, "standings": standings}).data
        )
