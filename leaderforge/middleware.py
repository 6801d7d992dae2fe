"""HTTP edge middleware: refuse URLs no view can take, and turn an unreachable database into a 503.

An unreachable database gets a 503 with Retry-After instead of a traceback.
"""

from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from leaderboard.api.errors import error_body

RETRY_AFTER_SECONDS = 5


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {
                "error": {
                    "code": "service_unavailable",
                    "message": "The database is unavailable. Retry shortly.",
                    "fields": {},
                }
            },
            status=503,
        )
    else:
        response = HttpResponse(render_to_string("503.html", request=None), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            return database_unavailable_response(request)
        return None


class RejectNulBytesMiddleware:
    """A NUL character in the path or the query string is a 400 before any view sees it.

    No name, key or parameter here may contain one, and PostgreSQL refuses it in any text value:
    passed on to a query it would fail there with a 500.
    """

    MESSAGE = "The URL contains a NUL character."

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.GET
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in values) for key, values in query.lists()
        ):
            return _bad_request(request, self.MESSAGE)
        return self.get_response(request)


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("bad_request", message), status=400)
    return render(request, "400.html", {"message": message}, status=400)
