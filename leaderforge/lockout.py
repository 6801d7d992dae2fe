"""What a locked-out sign-in gets: JSON 429 under /api/, a page elsewhere (the admin login).

Both carry Retry-After. Nothing here checks a password: django-axes refused the attempt before any hashing.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKED_OUT_CODE = "locked_out"


def lockout_seconds() -> int:
    """The longest a lockout can still last (it runs from the last counted failure)."""
    return max(int(settings.AXES_COOLOFF_TIME.total_seconds()), 1)


def lockout_message() -> str:
    minutes = max(lockout_seconds() // 60, 1)
    return f"Too many failed sign-ins: locked for up to {minutes} minutes. Try again later."


def lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    response: HttpResponse
    if request.path.startswith("/api/"):
        body = {"error": {"code": LOCKED_OUT_CODE, "message": lockout_message(), "fields": {}}}
        response = JsonResponse(body, status=429)
    else:
        response = render(request, "locked_out.html", {"message": lockout_message()}, status=429)
    response["Retry-After"] = str(lockout_seconds())
    return response
