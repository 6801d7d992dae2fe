"""Measure the rank index in a private redis-server: memory per entry and Redis time per call.

    python -m bench.index_memory                      # 100K and 1M entries
    python -m bench.index_memory --entries 100000     # one size

For each size it starts an empty redis-server on a free port (127.0.0.1, no persistence), writes one
board's entries through the app's own write path (`redis_index.apply_changes`, the Lua script a
submit runs, in batches as a rebuild streams them), and prints MEMORY USAGE of the board's keys and
the growth of used_memory. Then it times single submits and rank reads against that index from
Redis's side (INFO commandstats, microseconds of Redis CPU per call), which bounds what one Redis
core sustains. Nothing else is touched; the server is killed at the end.
"""

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

BATCH = 2000
TIMED_CALLS = 5000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    if not shutil.which("redis-server"):
        sys.exit("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.kill()
        process.wait()


def setup_django(redis_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="leaderforge.settings",
        DEBUG="true",
        REDIS_URL=redis_url,
        RANK_INDEX_AUTO_REBUILD="false",
        # Writing a 2,000-entry batch into a large index can take longer than a request may wait.
        REDIS_SOCKET_TIMEOUT="30",
    )
    os.environ.pop("REDIS_CLUSTER", None)
    os.environ.pop("REDIS_SENTINELS", None)
    import django

    django.setup()


def states(board_id: int, start: int, count: int, version: int) -> list[Any]:
    from leaderboard.boards import BoardPeriod
    from leaderboard.ranking.rules import EntryState

    rng = random.Random(start)
    totals = [rng.randint(0, 5_000_000) for _ in range(count)]
    return [
        EntryState(
            board_period=BoardPeriod(board_id),
            user_id=user_id,
            version=version + user_id,  # versions are microsecond clocks, 16 digits
            rank_value=total,
            total_score=total,
            session_count=rng.randint(1, 60),
            username=f"player{user_id:08d}",
        )
        for user_id, total in zip(range(start + 1, start + count + 1), totals, strict=True)
    ]


def redis_usec_per_call(client: Any, run: Any) -> float:
    client.config_resetstat()
    for _ in range(TIMED_CALLS):
        run()
    stats = client.info("commandstats")
    calls = sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    usec = sum(v["usec"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))
    return usec / calls


def measure(entries: int) -> dict[str, Any]:
    from leaderboard import rate_limits, redis_client
    from leaderboard.boards import BoardPeriod
    from leaderboard.ranking import redis_index
    from leaderboard.ranking.redis_index import BoardKeys
    from leaderboard.rate_limits import Limit, Rate

    board_id = 1
    client = redis_client.client()
    client.flushall()
    before = client.info("memory")["used_memory"]
    version = time.time_ns() // 1000
    started = time.monotonic()
    for start in range(0, entries, BATCH):
        redis_index.apply_changes(states(board_id, start, min(BATCH, entries - start), version))
    write_seconds = time.monotonic() - started
    after = client.info("memory")["used_memory"]
    k = BoardKeys.for_period(BoardPeriod(board_id))
    assert client.zcard(k.z) == entries, "not every entry reached the index"
    z_bytes = client.memory_usage(k.z, samples=0)
    h_bytes = client.memory_usage(k.h, samples=0)

    # A complete index, as a rebuild's swap marks it, so reads are answered from it.
    client.set(k.ready, str(int(time.time())))
    rng = random.Random(7)
    next_version = [version + 10 * entries]

    def one_submit() -> None:
        next_version[0] += 1
        user_id = rng.randint(1, entries)
        redis_index.apply_changes([states(board_id, user_id - 1, 1, next_version[0])[0]])

    def one_rank_read() -> None:
        redis_index.read_standing(board_period=BoardPeriod(board_id), user_id=rng.randint(1, entries))

    def one_top_read() -> None:  # the cached listing, as after its first fill
        if redis_index.read_top(board_period=BoardPeriod(board_id)).rows is None:
            cached = redis_index.read_top(board_period=BoardPeriod(board_id))
            redis_index.fill_top(board_period=BoardPeriod(board_id), generation=cached.generation, rows=[])

    limit = [Limit(name="ip:203.0.113.9", rate=Rate(count=10**9, seconds=60))]

    return {
        "entries": entries,
        "zset_bytes": z_bytes,
        "hash_bytes": h_bytes,
        "used_memory_growth": after - before,
        "bytes_per_entry": (after - before) / entries,
        "write_entries_per_second": entries / write_seconds,
        "submit_redis_usec": redis_usec_per_call(client, one_submit),
        "rank_read_redis_usec": redis_usec_per_call(client, one_rank_read),
        "top_read_redis_usec": redis_usec_per_call(client, one_top_read),
        "limit_redis_usec": redis_usec_per_call(client, lambda: rate_limits.hit(limit)),
        "encodings": (client.object("encoding", k.z), client.object("encoding", k.h)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--entries", type=int, action="append", help="index size (repeatable); default 100K and 1M"
    )
    sizes = parser.parse_args().entries or [100_000, 1_000_000]
    with private_redis() as url:
        setup_django(url)
        from leaderboard import redis_client

        print(
            f"redis-server {redis_client.client().info('server')['redis_version']}, one board, batches of {BATCH}"
        )
        for entries in sizes:
            r = measure(entries)
            mib = 1024 * 1024
            print(
                f"{r['entries']:>9,} entries: zset {r['zset_bytes'] / mib:7.1f} MiB, hash {r['hash_bytes'] / mib:7.1f} MiB, "
                f"used_memory +{r['used_memory_growth'] / mib:7.1f} MiB = {r['bytes_per_entry']:.0f} B/entry "
                f"({r['bytes_per_entry'] * 1e6 / mib:.0f} MiB per million); "
                f"written at {r['write_entries_per_second']:,.0f} entries/s; "
                f"Redis CPU per call: submit {r['submit_redis_usec']:.1f} us, rank read {r['rank_read_redis_usec']:.1f} us, "
                f"cached top {r['top_read_redis_usec']:.1f} us, rate limit {r['limit_redis_usec']:.1f} us; "
                f"encodings {r['encodings'][0].decode()}/{r['encodings'][1].decode()}"
            )


if __name__ == "__main__":
    main()
