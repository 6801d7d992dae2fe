"""A request id on every log record of a request and on its response (X-Request-ID).

An incoming X-Request-ID is kept when it is short and made of safe characters, so one id follows a
request through the proxy, the app and the logs; otherwise the app makes one.
"""

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# Safe in a log line and a header: no spaces, quotes or control characters; bounded length.
_SANE = re.compile(r"[A-Za-z0-9._:@+=-]{1,128}")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current() -> str:
    """The id of the request being served, or "" outside a request."""
    return _current.get()


def choose(incoming: str | None) -> str:
    if incoming and _SANE.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = choose(request.headers.get(HEADER))
        # Kept until the request finishes, not only while below this middleware: Django logs a 4xx
        # or 5xx ("Not Found: ...") after the middleware chain has returned.
        _current.set(request_id)
        # Django turns errors raised below into responses (500, 503...), so each one gets the header.
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


@receiver(request_finished)
def _forget(sender: object, **kwargs: object) -> None:
    _current.set("")


class RequestIdFilter(logging.Filter):
    """Put `request_id` on every record (\"-\" outside a request), for the formatters to show."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True
