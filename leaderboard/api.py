"""The JSON API: one view per operation; each validates, calls a service or selector, serializes."""

import re

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard import selectors, serializers, services
from leaderboard.api_auth import StaffBasicAuthentication
from leaderboard.api_schema import ERROR_HEADERS, error_responses
from leaderboard.api_throttles import SubmitThrottle
from leaderboard.db_router import stale_reads_ok
from leaderboard.errors import NotRanked, PlayerNotFound
from users import services as user_services

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,255}")
REPLAYED_HEADER = "Idempotent-Replayed"

# The hot paths' output serializers are built once: building one per request copies every
# declared field, which costs more than the rank lookup itself. to_representation keeps no state.
SUBMIT_OUTPUT = serializers.SubmitScoreOutput()
TOP_OUTPUT = serializers.TopPlayersOutput()
RANK_OUTPUT = serializers.PlayerRankOutput()

USER_ID_PATH = OpenApiParameter(
    "user_id",
    {"type": "integer", "minimum": 1, "maximum": serializers.MAX_ID},
    OpenApiParameter.PATH,
    description="The player's id.",
)


class SubmitScoreApi(APIView):
    throttle_classes = [SubmitThrottle]

    @extend_schema(
        operation_id="submit_score",
        summary="Record one game session and return the player's new total and rank",
        request=serializers.SubmitScoreInput,
        responses={
            201: serializers.SubmitScoreOutput,
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429, 503),
        },
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
                OpenApiParameter.HEADER,
                description=(
                    "Optional. A retry with the same key and body is applied once and gets the first "
                    "answer again; the same key with another body is 422. Keys are scoped per API key "
                    "and remembered for 24 hours (configurable)."
                ),
            ),
            OpenApiParameter(
                REPLAYED_HEADER,
                str,
                OpenApiParameter.HEADER,
                response=[201],
                enum=["true"],
                description="Present when this is the stored answer to an earlier request with the same key.",
            ),
            *ERROR_HEADERS,
        ],
    )
    def post(self, request: Request) -> Response:
        idempotency_key = _idempotency_key(request)
        data = _validated(serializers.SubmitScoreInput, request.data)
        if idempotency_key is None:
            status_code, body = _submit(data)
            return Response(body, status=status_code)
        answer = services.run_idempotently(
            api_key_id=request.auth.pk,
            idempotency_key=idempotency_key,
            fingerprint=services.fingerprint_request(operation="submit_score", data=data),
            operation=lambda: _submit(data),
        )
        headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
        return Response(answer.body, status=answer.status, headers=headers)


def _submit(data: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
    submitted = services.submit_score(**data)
    standing = submitted.standing
    assert standing is not None
    body = {
        "session_id": submitted.session.pk,
        "user_id": data["user_id"],
        "score": data["score"],
        "game_mode": data["game_mode"],
        "total_score": standing.total_score,
        "session_count": standing.session_count,
        "rank": standing.placement.rank,
        "percentile": standing.placement.percentile,
        "total_players": standing.placement.total_players,
    }
    return status.HTTP_201_CREATED, SUBMIT_OUTPUT.to_representation(body)


def _idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header: absent, or 1..255 visible ASCII characters."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_FORMAT.fullmatch(key):
        raise ValidationError(
            {IDEMPOTENCY_HEADER: ["Must be 1 to 255 visible ASCII characters (no spaces), e.g. a UUID."]}
        )
    return key


class TopPlayersApi(APIView):
    @extend_schema(
        operation_id="get_top_players",
        summary="The top players of the default board, best first",
        parameters=[serializers.TopPlayersInput, *ERROR_HEADERS],
        responses={200: serializers.TopPlayersOutput, **error_responses(400, 401, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request) -> Response:
        data = _validated(serializers.TopPlayersInput, request.query_params)
        top = selectors.get_top(limit=data["limit"])
        return Response(TOP_OUTPUT.to_representation(top))


class PlayerRankApi(APIView):
    @extend_schema(
        operation_id="get_player_rank",
        summary="A player's rank, total and percentile on the default board",
        parameters=[USER_ID_PATH, *ERROR_HEADERS],
        responses={200: serializers.PlayerRankOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, user_id: str) -> Response:
        player_id = _user_id_from_path(user_id)
        standing = selectors.get_player_rank(user_id=player_id)
        if standing is None:
            if selectors.get_visible_player(user_id=player_id) is None:
                raise PlayerNotFound(f"No player with id {player_id}.")
            raise NotRanked(f"Player {player_id} has no score on this board yet.")
        return Response(RANK_OUTPUT.to_representation(standing))


class RegisterPlayerApi(APIView):
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
        data = _validated(serializers.RegisterPlayerInput, request.data)
        player = user_services.register_player(**data)
        return Response(serializers.RegisteredPlayerOutput(player).data, status=status.HTTP_201_CREATED)


class PlayerDetailApi(APIView):
    @extend_schema(
        operation_id="get_player",
        summary="A player's profile and standing (null before their first score)",
        parameters=[USER_ID_PATH, *ERROR_HEADERS],
        responses={200: serializers.PlayerDetailOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    @stale_reads_ok
    def get(self, request: Request, user_id: str) -> Response:
        player_id = _user_id_from_path(user_id)
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


class FollowingApi(APIView):
    @extend_schema(
        operation_id="list_following",
        summary="The players a player follows (their friends board lists them and the player)",
        parameters=[USER_ID_PATH, *ERROR_HEADERS],
        responses={200: serializers.FollowingOutput, **error_responses(400, 401, 404, 429, 503)},
    )
    def get(self, request: Request, user_id: str) -> Response:
        player_id = _user_id_from_path(user_id)
        if selectors.get_visible_player(user_id=player_id) is None:
            raise PlayerNotFound(f"No player with id {player_id}.")
        body = {
            "user_id": player_id,
            "following": selectors.list_following(user_id=player_id),
            "limit": settings.LEADERBOARD_FOLLOW_LIMIT,
        }
        return Response(serializers.FollowingOutput(body).data)


class FollowApi(APIView):
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
        follower, followed = _user_id_from_path(user_id), _user_id_from_path(followed_id, name="followed_id")
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
        follower, followed = _user_id_from_path(user_id), _user_id_from_path(followed_id, name="followed_id")
        user_services.unfollow_player(follower_id=follower, followed_id=followed)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StatsApi(APIView):
    """Operational figures for staff: where ranks come from and how well the cache does."""

    # Basic first: DRF challenges a 401 with the first class's WWW-Authenticate (Session has none: 403).
    authentication_classes = [StaffBasicAuthentication, SessionAuthentication]
    permission_classes = [IsAdminUser]

    @extend_schema(
        operation_id="get_stats",
        summary="Operational figures for staff (admin login or HTTP Basic, not an API key)",
        parameters=ERROR_HEADERS,
        responses={200: serializers.StatsOutput, **error_responses(401, 403, 429, 503)},
    )
    def get(self, request: Request) -> Response:
        return Response(serializers.StatsOutput(selectors.get_stats()).data)


def _validated(serializer_class: type[serializers.serializers.Serializer], data: object) -> dict:  # type: ignore[type-arg]
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# The path's user id is checked by UserIdInput's own field, built once: a serializer per request
# would copy its declared fields each time, and a field's validation keeps no state.
_USER_ID_FIELD = serializers.UserIdInput().fields["user_id"]


def _user_id_from_path(value: str, name: str = "user_id") -> int:
    try:
        return int(_USER_ID_FIELD.run_validation(value))
    except ValidationError as exc:
        raise ValidationError({name: exc.detail}) from exc
