"""Measure what the observability middlewares cost per request, in process (no network, no server).

Sends N requests per variant through django.test.Client to /api/leaderboard/rank/<id>, with the
middlewares on and off, taking turns request by request; prints the median over the runs of each run's
median request. On a busy machine the database's noise can still hide the difference, so it also times
the middlewares alone around a view that does nothing (the same code, without the request's work).
Usage: python -m bench.middleware_cost [--requests 1000] [--runs 3]  (DATABASE_URL / REDIS_URL as usual)
"""

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

OBSERVABILITY = (
    "leaderforge.request_metrics.RequestMetricsMiddleware",
    "leaderforge.request_id.RequestIdMiddleware",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderforge.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import transaction
    from django.test import Client
    from django.test.utils import override_settings, setup_test_environment

    from leaderboard import services
    from users import services as user_services

    setup_test_environment()  # ALLOWED_HOSTS gains "testserver"
    variants = {
        "without": [m for m in settings.MIDDLEWARE if m not in OBSERVABILITY],
        "metrics": [m for m in settings.MIDDLEWARE if m != OBSERVABILITY[1]],
        "with": list(settings.MIDDLEWARE),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    # The player exists only inside this transaction, rolled back at the end: nothing is left behind.
    with transaction.atomic():
        player = user_services.register_player(username=f"cost-probe-{time.time_ns()}")
        services.submit_score(user_id=player.pk, score=10, game_mode="solo")
        path = f"/api/leaderboard/rank/{player.pk}"
        clients = {}
        for name, middleware in variants.items():
            # A client loads its middleware on its first request and keeps it.
            with override_settings(MIDDLEWARE=middleware):
                clients[name] = Client()
                assert clients[name].get(path).status_code == 200
        names = list(clients)
        with override_settings(LEADERBOARD_READ_RATE_PER_CLIENT="off"):
            for _ in range(args.runs):
                # Variants take turns request by request (in a rotating order), so a busy moment of the
                # machine falls on all of them alike; each run's figure is its median request.
                times: dict[str, list[float]] = {name: [] for name in names}
                for i in range(args.requests):
                    for name in names[i % len(names) :] + names[: i % len(names)]:
                        started = time.perf_counter()
                        clients[name].get(path)
                        times[name].append(time.perf_counter() - started)
                for name in names:
                    results[name].append(statistics.median(times[name]))
        transaction.set_rollback(True)
    medians = {name: statistics.median(times) * 1e6 for name, times in results.items()}
    alone = _middlewares_alone(path, rounds=args.runs, calls=20 * args.requests)
    print(
        json.dumps(
            {
                "requests_per_run": args.requests,
                "runs": args.runs,
                "median_us_per_request": {name: round(us, 1) for name, us in medians.items()},
                "metrics_middleware_us": round(medians["metrics"] - medians["without"], 1),
                "both_middlewares_us": round(medians["with"] - medians["without"], 1),
                "alone_median_us_per_call": alone,
            }
        )
    )


def _middlewares_alone(path: str, *, rounds: int, calls: int) -> dict[str, float]:
    """Median microseconds each middleware adds around a view that returns at once."""
    from django.http import HttpRequest, HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    from leaderforge.request_id import RequestIdMiddleware
    from leaderforge.request_metrics import RequestMetricsMiddleware

    response = HttpResponse(b"{}")
    request = RequestFactory().get(path, headers={"X-Request-ID": "cost-probe"})
    request.resolver_match = resolve(path)
    chains: dict[str, Callable[[HttpRequest], HttpResponse]] = {
        "bare": lambda r: response,
        "metrics": RequestMetricsMiddleware(lambda r: response),
        "request_id": RequestIdMiddleware(lambda r: response),
    }
    times: dict[str, list[float]] = {name: [] for name in chains}
    for _ in range(rounds):
        for name, chain in chains.items():
            started = time.perf_counter()
            for _ in range(calls):
                chain(request)
            times[name].append((time.perf_counter() - started) / calls)
    bare = statistics.median(times["bare"])
    return {
        name: round((statistics.median(t) - bare) * 1e6, 2) for name, t in times.items() if name != "bare"
    }


if __name__ == "__main__":
    main()
