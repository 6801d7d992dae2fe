"""The compatible reads of the default board: top players and a player's rank (paths existing clients use)."""

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from leaderboard import selectors
from leaderboard.api import serializers
from leaderboard.api.common import USER_ID_PATH, ApiView, user_id_from_path, validated
from leaderboard.api.schema import ERROR_HEADERS, error_responses
from leaderboard.db_router import stale_reads_ok
from leaderboard.errors import NotRanked, PlayerNotFound

# Built once (see scores.py): the hot paths' output serializers.
TOP_OUTPUT = serializers.TopPlayersOutput()
RANK_OUTPUT = serializers.PlayerRankOutput()


class TopPlayersApi(ApiView):
    @extend_schema(
        operation_id="get_top_players",
        summary="The top players of the default board, best first",
        parameters=[serializers.TopPlayersInput, *ERROR_HEADERS],
        responses={200: serializers.TopPlayersOutput, **error_responses(400, 401, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request) -> HttpResponse:
        data = validated(serializers.TopPlayersInput, request.query_params)
        if request.accepted_renderer.format != "json":
            return Response(TOP_OUTPUT.to_representation(selectors.get_top(limit=data["limit"])))
        # The rows come ready to send from the cache: byte for byte what TOP_OUTPUT would render.
        rows, players = selectors.get_top_json(limit=data["limit"])
        body = b'{"top_players":' + rows + b',"total_players":' + str(players).encode() + b"}"
        return HttpResponse(body, content_type="application/json")


class PlayerRankApi(ApiView):
    @extend_schema(
        operation_id="get_player_rank",
        summary="A player's rank, total and percentile on the default board",
        parameters=[USER_ID_PATH, *ERROR_HEADERS],
        responses={200: serializers.PlayerRankOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, user_id: str) -> Response:
        player_id = user_id_from_path(user_id)
        standing = selectors.get_player_rank(user_id=player_id)
        if standing is None:
            if selectors.get_visible_player(user_id=player_id) is None:
                raise PlayerNotFound(f"No player with id {player_id}.")
            raise NotRanked(f"Player {player_id} has no score on this board yet.")
        return Response(RANK_OUTPUT.to_representation(standing))
