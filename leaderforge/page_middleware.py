"""The middlewares only pages need, skipped on the paths that answer JSON to machines.

Game servers and probes call the JSON API and /healthz, /readyz thousands of times a second; none of
those answers reads a session or a signed-in user, posts a form, shows a message, is framed or runs a
script. So each page middleware here is its Django (or library) class with one change: on those paths
it hands the request straight on, hooks included. Everywhere else (pages, the admin, the API docs,
/metrics and the staff statistics, which take the admin's session) it runs as before. What every
answer needs stays outside this module: metrics, request id, SecurityMiddleware, CommonMiddleware
(it checks the Host header), CORS, the database and replica middlewares, and the CSRF, X-Frame-Options
and django-axes middlewares: they cost next to nothing on an API request (API views are CSRF-exempt,
nothing there signs in through axes), and the deploy checks look for them by name.
"""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from csp.middleware import CSPMiddleware as _CSP
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django.http import HttpRequest, HttpResponse
from django_htmx.middleware import HtmxMiddleware as _Htmx

M = TypeVar("M", bound=type)

# The JSON API's game-server paths (API keys, never a session) and the probes.
_MACHINE_PREFIXES = ("/api/leaderboard/", "/api/v1/")
_MACHINE_PATHS = frozenset({"/healthz", "/readyz"})
# Under the API but signed in with the admin's session (or HTTP Basic, which django-axes counts).
_SESSION_PREFIXES = ("/api/v1/stats",)


def serves_machines_only(path: str) -> bool:
    """Whether `path` (the request's path_info) answers JSON to machines: no page middleware applies."""
    if path in _MACHINE_PATHS:
        return True
    return path.startswith(_MACHINE_PREFIXES) and not path.startswith(_SESSION_PREFIXES)


def pages_only(middleware: M) -> M:
    """`middleware` as a subclass that does nothing (hooks included) where serves_machines_only().

    A subclass, not a wrapper, so Django's checks that look for the original class (the admin's
    sessions, auth and messages) still find it.
    """

    class PagesOnly(middleware):  # type: ignore[valid-type,misc]
        def __call__(self, request: HttpRequest) -> HttpResponse:
            if serves_machines_only(request.path_info):
                return self.get_response(request)  # type: ignore[no-any-return]
            return super().__call__(request)  # type: ignore[no-any-return]

    # Django collects these hooks from the instance; each must skip the same requests.
    for hook in ("process_view", "process_exception"):
        if hasattr(middleware, hook):
            setattr(PagesOnly, hook, _skipped_on_machine_paths(getattr(middleware, hook)))
    if hasattr(middleware, "process_template_response"):
        raise TypeError(f"{middleware.__name__}.process_template_response is not handled here.")
    PagesOnly.__name__ = PagesOnly.__qualname__ = middleware.__name__
    PagesOnly.__doc__ = f"{middleware.__module__}.{middleware.__name__}, for pages only."
    return PagesOnly  # type: ignore[return-value]


def _skipped_on_machine_paths(hook: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(hook)
    def skipped(self: Any, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if serves_machines_only(request.path_info):
            return None
        return hook(self, request, *args, **kwargs)

    return skipped


CSPMiddleware = pages_only(_CSP)
SessionMiddleware = pages_only(_Sessions)
AuthenticationMiddleware = pages_only(_Authentication)
MessageMiddleware = pages_only(_Messages)
HtmxMiddleware = pages_only(_Htmx)
