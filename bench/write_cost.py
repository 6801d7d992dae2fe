"""Time submits or batch submits through Django's WSGI handler in process (no network).

Each round sends --requests requests: single submits (POST /api/leaderboard/submit) or batches of 100
sessions (POST /api/v1/sessions/batch, --batch), of random players of the database with one game mode
(--game-mode; `team` is a mode only the default board takes, `solo` feeds four boards in the seed's
demo boards). Per request it reports the median CPU time of this thread (the app), PostgreSQL's CPU
(its backend process, over the round, per request) and the median wall time. Prints the median over
the rounds with the fastest and slowest round. Settings as bench.request_cost sets them; environment
variables switch settings for an A/B, e.g. DATABASE_PREPARED_STATEMENTS=false. It writes: the sessions
stay in the database, and an API key named "write cost" is created each run.
Usage: DATABASE_URL=... REDIS_URL=... python -m bench.write_cost [--batch] [--requests 400] [--rounds 3]
       [--game-mode team]
"""

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from bench.request_cost import call, setup_production_django
from bench.run import process_cpu

BATCH_SIZE = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", action="store_true", help="batches of 100 sessions instead of submits")
    parser.add_argument("--requests", type=int, help="requests per round (default 400 submits or 40 batches)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--game-mode", default="team")
    args = parser.parse_args()
    requests = args.requests or (40 if args.batch else 400)
    setup_production_django()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.db.models import Max

    from leaderboard import services
    from users.models import User

    app = WSGIHandler()
    _, key = services.create_api_key(name="write cost")
    headers = {"Authorization": f"Api-Key {key}"}
    highest = User.objects.aggregate(Max("pk"))["pk__max"] or 0
    players = random.Random(7)

    def session() -> dict[str, object]:
        return {
            "user_id": players.randint(1, highest),
            "score": players.randint(1, 1000),
            "game_mode": args.game_mode,
        }

    path = "/api/v1/sessions/batch" if args.batch else "/api/leaderboard/submit"

    def body() -> bytes:
        sent = {"sessions": [session() for _ in range(BATCH_SIZE)]} if args.batch else session()
        return json.dumps(sent).encode()

    def post() -> tuple[float, float]:
        sent = body()
        started, started_cpu = time.perf_counter(), time.thread_time()
        status = call(app, path, "", method="POST", body=sent, headers=headers)
        cpu, wall = time.thread_time() - started_cpu, time.perf_counter() - started
        if not status.startswith("201"):
            raise SystemExit(f"{path} answered {status} (ids 1..{highest} must all be players)")
        return cpu, wall

    for _ in range(5):
        post()  # warm: connections, scripts, cached boards, prepared statements
    database_cpu = _backend_cpu(connection)
    rounds: dict[str, list[float]] = {"cpu": [], "database_cpu": [], "wall": []}
    for _ in range(args.rounds):
        before = database_cpu()
        timings = [post() for _ in range(requests)]
        rounds["database_cpu"].append((database_cpu() - before) / requests * 1e3)
        rounds["cpu"].append(statistics.median(cpu for cpu, _ in timings) * 1e3)
        rounds["wall"].append(statistics.median(wall for _, wall in timings) * 1e3)
    print(
        json.dumps(
            {
                "path": path,
                "game_mode": args.game_mode,
                "requests_per_round": requests,
                "rounds": args.rounds,
                "ms_per_request": {
                    kind: {
                        "median": round(statistics.median(values), 2),
                        "min": round(min(values), 2),
                        "max": round(max(values), 2),
                    }
                    for kind, values in rounds.items()
                },
            }
        )
    )


def _backend_cpu(connection) -> Callable[[], float]:  # type: ignore[no-untyped-def]
    """Seconds of CPU the PostgreSQL backend serving `connection` has used (it must run on this machine).

    Requests go through the same persistent connection, so one backend serves them all."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()

    def read() -> float:
        used = process_cpu(pid)
        if used is None or connection.connection is None or connection.connection.info.backend_pid != pid:
            raise SystemExit("the database connection was replaced mid-run: its CPU cannot be followed")
        return used[1]

    return read


if __name__ == "__main__":
    main()
