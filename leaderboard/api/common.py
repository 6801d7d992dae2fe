"""What every API view shares: its base class, input validation, path ids, and their schema parameters."""

from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard import rate_limits
from leaderboard.api import serializers

USER_ID_PATH = OpenApiParameter(
    "user_id",
    {"type": "integer", "minimum": 1, "maximum": serializers.MAX_ID},
    OpenApiParameter.PATH,
    description="The player's id.",
)


def validated(serializer_class: type[serializers.InputSerializer], data: object) -> dict[str, Any]:
    """The input's validated data, or a 400 with DRF's errors."""
    errors, values = serializers.check(serializer_class, data)
    if errors is not None:
        raise ValidationError(errors)
    return values


# The path's user id is checked by UserIdInput's own field, built once: a serializer per request
# would copy its declared fields each time, and a field's validation keeps no state.
_USER_ID_FIELD = serializers.UserIdInput().fields["user_id"]


def user_id_from_path(value: str, name: str = "user_id") -> int:
    try:
        return int(_USER_ID_FIELD.run_validation(value))
    except ValidationError as exc:
        raise ValidationError({name: exc.detail}) from exc


class ApiView(APIView):
    """A DRF view whose limits ride along with its own first Redis call (see throttles).

    Reads learn the verdict here, after they ran; writes that opt in (`limit_before_commit`) ask
    for it in their service, just before COMMIT.
    """

    limit_before_commit = False

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Response:
        wait = rate_limits.refused_later()
        rate_limits.forget_later()
        if wait is not None and request.method in SAFE_METHODS:
            response = self.handle_exception(Throttled(wait=wait))
        return super().finalize_response(request, response, *args, **kwargs)
