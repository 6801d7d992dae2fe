"""Time the hot paths through Django's WSGI handler in process, beside the bare DRF view (no network).

Each round sends --requests requests to every endpoint (/healthz, a player's rank, the cached top, the
rank and around-me of a player on the seed's weekly board when there is one, and bench.bare_urls' bare
view through a handler with no middleware), taking turns request by request in a
rotating order, and takes each endpoint's median request (wall and CPU time of this thread). Prints the
median over the rounds with the fastest and slowest round. Settings are production's (DEBUG off,
behind a TLS proxy, as the bench serves them); the read limit is raised out of reach but still runs.
With --newrelic both handlers run under the New Relic agent as the image runs them, in its developer
mode (the whole agent, nothing sent anywhere); NEW_RELIC_* variables set in the environment win, e.g.
NEW_RELIC_INSTRUMENTATION_DJANGO_MIDDLEWARE_ENABLED=true for the agent's own default.
Usage: DATABASE_URL=... REDIS_URL=... python -m bench.request_cost [--requests 1000] [--rounds 5]
       [--newrelic]   (a seeded database: python -m bench.run seeds one; nothing is written to it)
"""

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

Handler = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
WINDOWED_BOARD = "weekly-best"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--newrelic", action="store_true", help="under the New Relic agent (developer mode)")
    args = parser.parse_args()
    if args.newrelic:
        start_newrelic_developer_mode()  # before Django: the agent instruments modules as they load
    setup_production_django()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings

    from users.models import User

    class BareHandler(WSGIHandler):
        """No middleware and the bare view's URLconf, as bench.bare_settings serves it."""

        def get_response(self, request: Any) -> Any:
            request.urlconf = "bench.bare_urls"
            return super().get_response(request)

    with override_settings(MIDDLEWARE=[]):
        bare = BareHandler()
    app = WSGIHandler()
    if args.newrelic:
        import newrelic.agent

        bare, app = newrelic.agent.WSGIApplicationWrapper(bare), newrelic.agent.WSGIApplicationWrapper(app)
    player = User.objects.filter(entries__isnull=False).order_by("pk").values_list("pk", flat=True)[0]
    endpoints: dict[str, tuple[Handler, str, str]] = {
        "bare": (bare, "/bare", ""),
        "health": (app, "/healthz", ""),
        "rank": (app, f"/api/leaderboard/rank/{player}", ""),
        "top": (app, "/api/leaderboard/top", "limit=10"),
    }
    # The windowed board of the seed's demo boards, when the database has it: rank and around-me.
    from leaderboard.models import LeaderboardEntry

    weekly = (
        LeaderboardEntry.objects.filter(board__slug=WINDOWED_BOARD)
        .order_by("-period", "user_id")
        .values_list("user_id", flat=True)
        .first()
    )
    if weekly is not None:
        endpoints["board rank"] = (app, f"/api/v1/boards/{WINDOWED_BOARD}/players/{weekly}", "")
        endpoints["around"] = (app, f"/api/v1/boards/{WINDOWED_BOARD}/players/{weekly}/around", "k=5")
    for name, (handler, path, query) in endpoints.items():
        status = call(handler, path, query)
        if status != "200 OK":
            sys.exit(f"{name}: {path} answered {status}")
    rounds: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in endpoints}
    names = list(endpoints)
    for _ in range(args.rounds):
        wall: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for i in range(args.requests):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                handler, path, query = endpoints[name]
                started, started_cpu = time.perf_counter(), time.thread_time()
                call(handler, path, query)
                cpu[name].append(time.thread_time() - started_cpu)
                wall[name].append(time.perf_counter() - started)
        for name in names:
            rounds[name]["wall"].append(statistics.median(wall[name]) * 1e6)
            rounds[name]["cpu"].append(statistics.median(cpu[name]) * 1e6)
    print(
        json.dumps(
            {
                "requests_per_round": args.requests,
                "rounds": args.rounds,
                "us_per_request": {
                    name: {kind: _summary(values) for kind, values in figures.items()}
                    for name, figures in rounds.items()
                },
            }
        )
    )


def setup_production_django() -> None:
    """Django with production's settings (DEBUG off, behind a TLS proxy, as the bench serves them),
    the limits raised out of reach but still running."""
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL and REDIS_URL (a seeded PostgreSQL and its Redis).")
    os.environ.update(PRODUCTION)
    for name, value in environment_defaults(os.environ["DATABASE_URL"]).items():
        os.environ.setdefault(name, value)
    import django

    django.setup()


PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "leaderforge.settings",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "127.0.0.1",
    "BEHIND_TLS_PROXY": "true",
    "LOG_LEVEL": "WARNING",
}


def environment_defaults(database_url: str) -> dict[str, str]:
    """What the in-process tools set unless the environment does: a secret key, the limits out of
    reach, and the Redis namespace bench.run serves this database with (its rank index and cached
    listings; in another namespace every rank would miss the index and be counted in SQL)."""
    from bench.run import database_name  # here: --newrelic starts the agent before psycopg is imported

    namespace = database_name(database_url)
    limits = ("READ_RATE_PER_CLIENT", "SUBMIT_RATE_PER_PLAYER", "SUBMIT_RATE_PER_API_KEY")
    return {
        "SECRET_KEY": "request-cost-only",
        "CACHE_KEY_PREFIX": namespace,
        "RANK_INDEX_KEY_PREFIX": namespace,
        **{f"LEADERBOARD_{limit}": "1000000000/s" for limit in limits},
    }


# The agent's settings under --newrelic: developer mode, and what the image sets (a test holds that).
NEWRELIC_DEVELOPER_MODE = {
    "NEW_RELIC_DEVELOPER_MODE": "true",
    "NEW_RELIC_LICENSE_KEY": "0" * 40,
    "NEW_RELIC_APP_NAME": "LeaderForge request cost",
    "NEW_RELIC_INSTRUMENTATION_DJANGO_MIDDLEWARE_ENABLED": "false",
}


def start_newrelic_developer_mode() -> None:
    """The agent as `newrelic-admin run-program` starts it in the image, in developer mode; the
    environment's NEW_RELIC_* variables win."""
    for name, value in NEWRELIC_DEVELOPER_MODE.items():
        os.environ.setdefault(name, value)
    import newrelic.agent  # after the variables: the agent reads some of them on import

    newrelic.agent.initialize()
    newrelic.agent.register_application(timeout=10)


def call(
    handler: Handler,
    path: str,
    query: str,
    *,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> str:
    """One request through `handler` as gunicorn would hand it over; returns the status line."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_ACCEPT": "*/*",
        # wrk's requests say this too: production sits behind a TLS proxy.
        "HTTP_X_FORWARDED_PROTO": "https",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        **{f"HTTP_{name.upper().replace('-', '_')}": value for name, value in (headers or {}).items()},
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status = ""

    def start_response(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        nonlocal status
        status = status_line

    result = handler(environ, start_response)
    try:
        for _ in result:
            pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()  # request_finished: connections and the request id are released as in gunicorn
    return status


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


if __name__ == "__main__":
    main()
