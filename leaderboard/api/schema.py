"""How the API describes itself in OpenAPI: error responses, the API-key scheme, canonical paths."""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from leaderboard.api.auth import HasApiKeyOrPublicRead

ERROR_DESCRIPTIONS = {
    400: "Malformed or out-of-range input; `fields` says which field and why.",
    401: "Not authenticated: no valid credentials (missing, unknown, revoked or expired API key).",
    403: "Authenticated, but not allowed: staff only.",
    404: "No such board or player, or the player has no score on this board (in this period) yet.",
    409: "Conflict: the username is taken, or the same Idempotency-Key is still being processed.",
    413: "The request body is larger than the configured limit.",
    415: "The body is not `application/json`.",
    422: "This Idempotency-Key was already used with a different request body.",
    429: "Too many requests; wait for `Retry-After` seconds.",
    503: "The database is unavailable; retry after `Retry-After` seconds.",
}


class ErrorDetailOutput(serializers.Serializer):
    code = serializers.CharField(
        help_text="Stable machine-readable code, e.g. `invalid`, `player_not_found`."
    )
    message = serializers.CharField(help_text="Human-readable explanation.")
    # DRF's metaclass takes declared fields out of the class, so this does not shadow `.fields`.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(),
        help_text="For `invalid`: messages per input field (or `non_field_errors`); empty otherwise.",
    )


class ErrorOutput(serializers.Serializer):
    error = ErrorDetailOutput()


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for these error statuses, all with the one error body."""
    return {
        status: OpenApiResponse(ErrorOutput, description=ERROR_DESCRIPTIONS[status]) for status in statuses
    }


# Response headers the error statuses carry; none is promised on every response.
ERROR_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        response=[429, 503],
        description="Seconds to wait before retrying.",
    ),
    OpenApiParameter(
        "WWW-Authenticate",
        str,
        OpenApiParameter.HEADER,
        response=[401],
        description="The scheme to authenticate with, e.g. `Api-Key`.",
    ),
]


class AutoSchema(SpectacularAutoSchema):
    def get_auth(self) -> list[dict[str, Any]]:
        auths = super().get_auth()
        public = any(
            isinstance(permission, HasApiKeyOrPublicRead) and permission.allows_anonymous(self.method)
            for permission in self.view.get_permissions()
        )
        if public and {} not in auths:
            auths.append({})  # the key is optional here
        return auths


def drop_trailing_slashes(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Publish each path as the contract spells it (`/submit`); the server accepts both forms."""
    result["paths"] = {
        (path.rstrip("/") or "/"): operations for path, operations in result.get("paths", {}).items()
    }
    return result


def allow_empty_query_values(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Mark optional query parameters that have a default as allowing an empty value.

    DRF reads `?limit=` like a missing `limit`, so the default applies; the schema says so.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and "default" in parameter.get("schema", {}):
                    parameter["allowEmptyValue"] = True
    return result
