"""Time every request into the Prometheus latency histogram, labelled by route name (not path).

The route is the URL pattern's name, so the number of series stays bounded whatever paths clients
send. Kept lean: it runs on every request of the hot paths.
"""

import sys
import time
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from leaderboard import metrics

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The pool and breaker gauges are refreshed at most this often per process.
GAUGE_REFRESH_SECONDS = 1.0


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else "unmatched"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Histogram children by labels: labels() takes a lock and builds a key on every call.
        self._children: dict[tuple[str, str, str, str], Any] = {}
        self._gauges_refreshed = 0.0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        method = request.method if request.method in _METHODS else "other"
        key = (route_of(request), method or "other", str(response.status_code), metrics.take_top_lookup())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metrics.REQUEST_SECONDS.labels(*key)
        child.observe(elapsed)
        now = time.monotonic()
        if now - self._gauges_refreshed >= GAUGE_REFRESH_SECONDS:
            self._gauges_refreshed = now
            metrics.refresh_process_gauges()
        return response


@receiver(got_request_exception)
def _count_exception(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    exception = sys.exc_info()[1]
    name = type(exception).__name__ if exception is not None else "unknown"
    metrics.EXCEPTIONS.labels(route_of(request) if request is not None else "unmatched", name).inc()
