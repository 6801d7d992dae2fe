"""Writing scores: one session (the compatible submit) or a batch; game servers only, each with an
optional Idempotency-Key."""

import re
from collections.abc import Callable

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from leaderboard import services
from leaderboard.api import serializers
from leaderboard.api.common import ApiView, validated
from leaderboard.api.schema import ERROR_HEADERS, error_responses
from leaderboard.api.throttles import BatchSubmitThrottle, SubmitThrottle

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,255}")
REPLAYED_HEADER = "Idempotent-Replayed"

# The hot path's output serializer is built once: building one per request copies every
# declared field, which costs more than the rank lookup itself. to_representation keeps no state.
SUBMIT_OUTPUT = serializers.SubmitScoreOutput()


IDEMPOTENCY_PARAMETERS = [
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
]


def _answer(
    request: Request,
    *,
    operation: str,
    data: dict,
    run: Callable[[dict], tuple[int, dict]],  # type: ignore[type-arg]
) -> Response:
    """Run a write once per Idempotency-Key (when the request has one) and answer it."""
    idempotency_key = _idempotency_key(request)
    if idempotency_key is None:
        status_code, body = run(data)
        return Response(body, status=status_code)
    answer = services.run_idempotently(
        api_key_id=request.auth.pk,
        idempotency_key=idempotency_key,
        fingerprint=services.fingerprint_request(operation=operation, data=data),
        operation=lambda: run(data),
    )
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
    return Response(answer.body, status=answer.status, headers=headers)


class SubmitScoreApi(ApiView):
    throttle_classes = [SubmitThrottle]
    limit_before_commit = True  # the service checks the limits with its announcement

    @extend_schema(
        operation_id="submit_score",
        summary="Record one game session and return the player's new total and rank",
        request=serializers.SubmitScoreInput,
        responses={
            201: serializers.SubmitScoreOutput,
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429, 503),
        },
        parameters=[*IDEMPOTENCY_PARAMETERS, *ERROR_HEADERS],
    )
    def post(self, request: Request) -> Response:
        _idempotency_key(request)  # a malformed key is refused before the body is read
        data = validated(serializers.SubmitScoreInput, request.data)
        return _answer(request, operation="submit_score", data=data, run=_submit)


class SubmitBatchApi(ApiView):
    throttle_classes = [BatchSubmitThrottle]
    limit_before_commit = True

    @extend_schema(
        operation_id="submit_batch",
        summary="Record up to 100 game sessions in one transaction (all or none)",
        description=(
            "Each session counts as a single submit would. A bad item refuses the whole batch and the "
            "error names its index (`fields.sessions.<index>`); an unknown player is a 404 naming it. "
            "Every answer gives the player's total and rank on the default board once the whole batch "
            "counts. Per-player and per-key limits count every session of the batch."
        ),
        request=serializers.BatchSubmitInput,
        responses={
            201: serializers.BatchSubmitOutput,
            **error_responses(400, 401, 404, 409, 413, 415, 422, 429, 503),
        },
        parameters=[*IDEMPOTENCY_PARAMETERS, *ERROR_HEADERS],
    )
    def post(self, request: Request) -> Response:
        _idempotency_key(request)
        data = {"sessions": serializers.validated_batch(request.data)}
        return _answer(request, operation="submit_batch", data=data, run=_submit_batch)


def _submit_batch(data: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
    answers = services.submit_batch(sessions=[services.NewSession(**item) for item in data["sessions"]])
    # Plain values already (ints, the mode's text, a float percentile): the dicts are what
    # SUBMIT_OUTPUT would render, without its per-field walk a hundred times over.
    rows = [
        {
            "session_id": answer.session.pk,
            "user_id": answer.session.user_id,
            "score": answer.session.score,
            "game_mode": answer.session.game_mode,
            "total_score": answer.standing.total_score,
            "session_count": answer.standing.session_count,
            "rank": answer.standing.placement.rank,
            "percentile": answer.standing.placement.percentile,
            "total_players": answer.standing.placement.total_players,
        }
        for answer in answers
    ]
    return status.HTTP_201_CREATED, {"sessions": rows}


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
