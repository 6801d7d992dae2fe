"""Liveness and readiness checks for load balancers and orchestrators.

`/healthz` (liveness) deliberately touches neither database nor Redis: a dependency outage must not
get healthy processes restarted. `/readyz` (readiness) says whether this process can serve now.
LivenessMiddleware answers `/healthz` just inside the middlewares every answer needs.
"""

from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import ResolverMatch, resolve
from django.views.decorators.http import require_GET

from leaderboard import redis_client, selectors

# The readiness query gives up after this long: a probe must answer well within its own timeout.
DATABASE_CHECK_TIMEOUT_MS = 1000
# Once every migration is applied it stays so for the life of the process: asked once, then cached.
_migrations_applied = False


LIVENESS_PATH = "/healthz"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


class LivenessMiddleware:
    """A plain `GET /healthz` is answered here, by the view itself, without the rest of the stack.

    Load balancers ask it several times a second per process, and nothing below this middleware
    applies to it: no database, session, page, form or CORS. Outside it stay the request id, the
    metrics and SecurityMiddleware. The Host header is checked as CommonMiddleware would; any
    other method or a query string takes the usual way (405, the NUL-byte check).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._match: ResolverMatch | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info != LIVENESS_PATH or request.method != "GET" or request.META.get("QUERY_STRING"):
            return self.get_response(request)
        request.get_host()  # DisallowedHost: the 400 every other path gives a foreign Host
        if self._match is None:
            self._match = resolve(LIVENESS_PATH)
        # The metrics label the request by its route, as for a resolved one.
        request.resolver_match = self._match
        return healthz(request)


def check_database() -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL statement_timeout = %s", [DATABASE_CHECK_TIMEOUT_MS])
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return False
    return True


def migrations_applied() -> bool:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connection)
        _migrations_applied = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrations_applied


def forget_migrations() -> None:
    """Ask the database again on the next check (tests)."""
    global _migrations_applied
    _migrations_applied = False


def check_redis() -> str:
    if not redis_client.is_configured():
        return "absent"  # the embedded default: ranks from SQL, cache in memory
    try:
        redis_client.ping()
    except redis_client.RedisUnavailable:
        return "unavailable"
    return "ok"


def rank_index_states(*, redis: str) -> dict[str, str]:
    """Per board (its current period): "ready" (Redis index complete), "rebuilding" (Redis up, index
    not complete yet) or "sql"."""
    states = {}
    for board, _, source in selectors.list_rank_sources():
        if source == "redis":
            states[board.slug] = "ready"
        else:
            states[board.slug] = "rebuilding" if redis == "ok" else "sql"
    return states


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": "ok" if check_database() else "unavailable"}
    ready = checks["database"] == "ok"
    if ready:
        try:
            checks["migrations"] = "ok" if migrations_applied() else "pending"
        except DatabaseError:
            checks["migrations"] = "unknown"
        ready = checks["migrations"] == "ok"
    else:
        checks["migrations"] = "unknown"
    checks["redis"] = check_redis()
    if checks["redis"] == "unavailable" and settings.READYZ_REQUIRE_REDIS:
        ready = False
    try:
        boards = rank_index_states(redis=checks["redis"])
    except DatabaseError:
        boards = {}
    # An incomplete rank index is reported, not a reason to take the process out: SQL serves correctly.
    body = {"status": "ready" if ready else "unavailable", "checks": checks, "rank_index": boards}
    return JsonResponse(body, status=200 if ready else 503)
