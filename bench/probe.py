"""Run inside the app's Django settings for the bench: read the cache counters, or time uncached top reads.

    python -m bench.probe                      # the app's cache counters as JSON (null without any)
    python -m bench.probe top-uncached --url http://127.0.0.1:8000 --rate 10 --duration 10

The API serves at most TOP_CACHE_ROWS (100) players, all from the cached listing, so no request can ask
for more than the cache holds. An uncached read is made the way it happens in production, when the
cached rows expire: the board's cached listing is deleted just before each request, which then takes
the miss path (index read, SQL for the top rows, refill). Requests go one after another at a paced rate
with no other traffic, so no other reader can refill the cache in between; the app's own miss counter
is read before and after to prove each request missed. Prints a BENCH_RATE_JSON line like bench.loadgen.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from bench.loadgen import HEADERS, RATE_MARKER, Record, due_times, summarise


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderforge.settings")
    import django

    django.setup()


def cache_stats() -> dict[str, Any] | None:
    from leaderboard import ranking

    stats = getattr(ranking, "cache_stats", None)
    result = stats() if callable(stats) else None
    return result if isinstance(result, dict) else None


def fetch(url: str, timeout: float) -> str:
    request = urllib.request.Request(url, headers=HEADERS)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return str(response.status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except (urllib.error.URLError, ConnectionError):
        return "error"
    except TimeoutError:
        return "timeout"


def top_uncached(url: str, rate: float, duration: float, timeout: float) -> dict[str, Any]:
    import redis
    from django.conf import settings

    from leaderboard import selectors
    from leaderboard.boards import BoardPeriod
    from leaderboard.ranking import redis_index

    key = redis_index.BoardKeys.for_period(BoardPeriod(selectors.get_default_board_ref().id)).top
    client = redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None
    before = cache_stats() or {}
    records = []
    cpu_before = time.process_time()
    for intended in due_times(rate, duration, time.monotonic() + 0.05):
        if client is not None:
            client.delete(key)
        if (wait := intended - time.monotonic()) > 0:
            time.sleep(wait)
        sent = time.monotonic()
        status = fetch(f"{url}/api/leaderboard/top?limit=10", timeout)
        records.append(Record("top (uncached)", intended, sent, time.monotonic(), status))
    after = cache_stats() or {}
    summary = summarise(records, rate=rate, duration=duration, cpu_seconds=time.process_time() - cpu_before)
    summary["cache_misses"] = int(after.get("top_misses") or 0) - int(before.get("top_misses") or 0)
    summary["cache_hits"] = int(after.get("top_hits") or 0) - int(before.get("top_hits") or 0)
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", choices=("cache-stats", "top-uncached"), default="cache-stats")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    _setup()
    if args.mode == "cache-stats":
        print(json.dumps(cache_stats()))
    else:
        print(
            RATE_MARKER + json.dumps(top_uncached(args.url, args.rate, args.duration, args.timeout)),
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:])
