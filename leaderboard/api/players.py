"""Players: registration, profile, follows."""

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from leaderboard import selectors
from leaderboard.api import serializers
from leaderboard.api.common import USER_ID_PATH, ApiView, user_id_from_path, validated
from leaderboard.api.schema import ERROR_HEADERS, error_responses
from leaderboard.api.throttles import SubmitThrottle
from leaderboard.db_router import stale_reads_ok
from leaderboard.errors import PlayerNotFound
from users import services as user_services


class RegisterPlayerApi(ApiView):
    @extend_schema(
        operation_id="register_player",
        summary="Register a player who can then have scores submitted",
        request=serializers.RegisterPlayerInput,
        parameters=ERROR_HEADERS,
        responses={
            201: serializers.RegisteredPlayerOutput,
            **error_responses(400, 401, 409, 413, 415, 429, 503),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated(serializers.RegisterPlayerInput, request.data)
        player = user_services.register_player(**data)
        return Response(serializers.RegisteredPlayerOutput(player).data, status=status.HTTP_201_CREATED)


class PlayerDetailApi(ApiView):
    @extend_schema(
        operation_id="get_player",
        summary="A player's profile and standing (null before their first score)",
        parameters=[USER_ID_PATH, *ERROR_HEADERS],
        responses={200: serializers.PlayerDetailOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, user_id: str) -> Response:
        player_id = user_id_from_path(user_id)
        # The same rule as the pages: a hidden player does not exist for the public.
        player = selectors.get_visible_player(user_id=player_id)
        if player is None:
            raise PlayerNotFound(f"No player with id {player_id}.")
        body = {
            "id": player.pk,
            "username": player.username,
            "date_joined": player.date_joined,
            "standing": selectors.get_player_rank(user_id=player.pk),
        }
        return Response(serializers.PlayerDetailOutput(body).data)


FOLLOWED_ID_PATH = OpenApiParameter(
    "followed_id",
    {"type": "integer", "minimum": 1, "maximum": serializers.MAX_ID},
    OpenApiParameter.PATH,
    description="The followed player's id.",
)


class FollowingApi(ApiView):
    @extend_schema(
        operation_id="list_following",
        summary="The players a player follows (their friends board lists them and the player)",
        parameters=[USER_ID_PATH, *ERROR_HEADERS],
        responses={200: serializers.FollowingOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    def get(self, request: Request, user_id: str) -> Response:
        player_id = user_id_from_path(user_id)
        if selectors.get_visible_player(user_id=player_id) is None:
            raise PlayerNotFound(f"No player with id {player_id}.")
        body = {
            "user_id": player_id,
            "following": selectors.list_following(user_id=player_id),
            "limit": settings.LEADERBOARD_FOLLOW_LIMIT,
        }
        return Response(serializers.FollowingOutput(body).data)


class FollowApi(ApiView):
    # Game servers record follows; the per-key write limit applies as to submits.
    throttle_classes = [SubmitThrottle]

    @extend_schema(
        operation_id="follow_player",
        summary="Record that a player follows another (idempotent)",
        request=None,
        parameters=[USER_ID_PATH, FOLLOWED_ID_PATH, *ERROR_HEADERS],
        responses={
            200: serializers.FollowOutput,
            201: serializers.FollowOutput,
            **error_responses(400, 401, 404, 409, 422, 429, 503),
        },
    )
    def put(self, request: Request, user_id: str, followed_id: str) -> Response:
        follower, followed = user_id_from_path(user_id), user_id_from_path(followed_id, name="followed_id")
        created = user_services.follow_player(follower_id=follower, followed_id=followed)
        body = {"user_id": follower, "followed_id": followed, "created": created}
        return Response(
            serializers.FollowOutput(body).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        operation_id="unfollow_player",
        summary="Stop following a player (idempotent)",
        parameters=[USER_ID_PATH, FOLLOWED_ID_PATH, *ERROR_HEADERS],
        responses={204: None, **error_responses(400, 401, 404, 429, 503)},
    )
    def delete(self, request: Request, user_id: str, followed_id: str) -> Response:
        follower, followed = user_id_from_path(user_id), user_id_from_path(followed_id, name="followed_id")
        user_services.unfollow_player(follower_id=follower, followed_id=followed)
        return Response(status=status.HTTP_204_NO_CONTENT)
