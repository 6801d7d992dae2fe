"""The per-address read limit on the public HTML pages: the same counter as the API's anonymous reads.

Over it, a page gets the site's 429 page and an htmx request a small fragment, both with Retry-After.
htmx does not swap a 4xx response, so a polling table keeps what it shows and polls again. While Redis
is away the limit is open, as the API's is (docs/decisions/0003-rate-limits.md).
"""

import functools
import math
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from leaderboard import rate_limits


def limit_page_reads(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = rate_limits.hit(rate_limits.client_read_limits(request))
        if wait is not None:
            return _too_many_requests(request, wait)
        return view(request, *args, **kwargs)

    return limited


def _too_many_requests(request: HttpRequest, wait: float) -> HttpResponse:
    seconds = max(math.ceil(wait), 1)
    template = "leaderboard/_too_many_requests.html" if getattr(request, "htmx", False) else "429.html"
    response = render(request, template, {"retry_after": seconds}, status=429)
    response["Retry-After"] = str(seconds)
    return response
