"""One exception handler: every API error is JSON {"error": {"code", "message", "fields"}}."""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from leaderboard.errors import LeaderboardError, RateLimited


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(int(exc.wait) + 1)}
        return Response(error_body(exc.code, exc.message), status=exc.status, headers=headers)
    if isinstance(exc, LeaderboardError):
        return Response(error_body(exc.code, exc.message), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", too_large_message()), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # unexpected: let Django's own handling (and the middleware) take it

    headers = {}
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(int(wait) + 1)
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        body = error_body("invalid", "The request has invalid fields.", fields)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else "error"
        body = error_body(str(code), str(exc.detail))
    return Response(body, status=exc.status_code or status.HTTP_400_BAD_REQUEST, headers=headers)


def too_large_message() -> str:
    return f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
