"""Time batch submits through Django's WSGI handler in process: 100 sessions a request (no network).

Each round posts --batches batches to POST /api/v1/sessions/batch, each of 100 sessions of random
players of the database with one game mode (--game-mode; the one-board batch of `make bench` uses a
mode only the default board takes), and takes the median batch (CPU time of this thread, and wall time,
which adds PostgreSQL's and Redis's share). Prints the median over the rounds with the fastest and
slowest round. Settings as bench.request_cost sets them. It writes: the sessions stay in the database,
and an API key named "batch cost" is created each run.
Usage: DATABASE_URL=... REDIS_URL=... python -m bench.batch_cost [--batches 60] [--rounds 3] [--game-mode team]
"""

import argparse
import json
import random
import statistics
import time

from bench.request_cost import call, setup_production_django

BATCH_SIZE = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--game-mode", default="team")
    args = parser.parse_args()
    setup_production_django()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db.models import Max

    from leaderboard import services
    from users.models import User

    app = WSGIHandler()
    _, key = services.create_api_key(name="batch cost")
    headers = {"Authorization": f"Api-Key {key}"}
    highest = User.objects.aggregate(Max("pk"))["pk__max"] or 0
    players = random.Random(7)

    def body() -> bytes:
        sessions = [
            {
                "user_id": players.randint(1, highest),
                "score": players.randint(1, 1000),
                "game_mode": args.game_mode,
            }
            for _ in range(BATCH_SIZE)
        ]
        return json.dumps({"sessions": sessions}).encode()

    def post() -> tuple[float, float]:
        sent = body()
        started, started_cpu = time.perf_counter(), time.thread_time()
        status = call(app, "/api/v1/sessions/batch", "", method="POST", body=sent, headers=headers)
        cpu, wall = time.thread_time() - started_cpu, time.perf_counter() - started
        if not status.startswith("201"):
            raise SystemExit(f"the batch answered {status} (ids 1..{highest} must all be players)")
        return cpu, wall

    for _ in range(5):
        post()  # warm: connections, scripts, cached boards
    rounds: dict[str, list[float]] = {"cpu": [], "wall": []}
    for _ in range(args.rounds):
        timings = [post() for _ in range(args.batches)]
        rounds["cpu"].append(statistics.median(cpu for cpu, _ in timings) * 1e3)
        rounds["wall"].append(statistics.median(wall for _, wall in timings) * 1e3)
    print(
        json.dumps(
            {
                "game_mode": args.game_mode,
                "batches_per_round": args.batches,
                "rounds": args.rounds,
                "ms_per_batch": {
                    kind: {
                        "median": round(statistics.median(values), 1),
                        "min": round(min(values), 1),
                        "max": round(max(values), 1),
                    }
                    for kind, values in rounds.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
