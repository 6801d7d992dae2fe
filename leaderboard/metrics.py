"""Prometheus metrics: what the app counts, and the figures it reads when `/metrics` is scraped.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes every worker write its samples to files there and a
scrape adds them up across workers (gunicorn.conf.py empties the folder at start and retires a dead
worker's live gauges). Without it (runserver, tests) the samples live in this process.
"""

import contextvars
import os
import time
from collections.abc import Iterator

from django.core.cache import cache
from django.db import DatabaseError, connection
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from leaderboard import metrics_files

# Fine where the targets are (10, 50 and 100 ms), so the percentiles estimated from them are close.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.035,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

REQUEST_SECONDS = Histogram(
    "leaderforge_http_request_duration_seconds",
    "Time to answer a request, by route name, method, status and top-listing cache use",
    ["route", "method", "status", "cache"],
    buckets=LATENCY_BUCKETS,
)
EXCEPTIONS = Counter(
    "leaderforge_http_exceptions",
    "Requests that raised an unhandled exception (answered 500), by route and exception class",
    ["route", "exception"],
)
RATE_LIMITED = Counter(
    "leaderforge_rate_limited",
    "Requests refused with 429, by the kind of limit that was full",
    ["kind"],
)
# Per-process gauges, set by each worker as it serves; "livesum"/"livemax" forget a dead worker.
# Labelled, so that a process which never serves (a management command) writes no sample of them.
DB_POOL = Gauge(
    "leaderforge_db_pool_connections",
    "psycopg pool of this service's workers: connections open, idle, maximum, requests waiting",
    ["state"],
    multiprocess_mode="livesum",
)
BREAKER_OPEN = Gauge(
    "leaderforge_redis_breaker_open",
    "1 while the Redis circuit breaker of any worker is open (calls fail fast, reads use SQL)",
    ["breaker"],
    multiprocess_mode="livemax",
)

INDEX_CHECK_CACHE_KEY = "metrics:rank-index-check"
# A check result older than this is dropped: an alert on the last-run time catches a stopped cron.
INDEX_CHECK_KEEP_SECONDS = 7 * 86400

# "hit" or "miss" once this request looked up the cached top listing; "" otherwise.
_top_cache: contextvars.ContextVar[str] = contextvars.ContextVar("top_cache", default="")


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def note_top_lookup(*, cached: bool) -> None:
    """Record whether this request's top listing came from the cache (labels its latency)."""
    _top_cache.set("hit" if cached else "miss")


def take_top_lookup() -> str:
    """What `note_top_lookup` recorded in this request, and forget it for the next request."""
    value = _top_cache.get()
    if value:
        _top_cache.set("")
    return value


def count_rate_limited(*, limit_name: str) -> None:
    """One request refused by the limit named "kind:subject" (the subject is not a label)."""
    RATE_LIMITED.labels(limit_name.split(":", 1)[0]).inc()


def refresh_process_gauges() -> None:
    """Set this process's pool and breaker gauges (cheap: no I/O)."""
    from leaderboard import redis_client

    BREAKER_OPEN.labels("redis").set(1 if redis_client.breaker_is_open() else 0)
    pool = getattr(connection, "pool", None) if connection.vendor == "postgresql" else None
    if pool is not None:
        stats = pool.get_stats()
        DB_POOL.labels("open").set(stats.get("pool_size", 0))
        DB_POOL.labels("idle").set(stats.get("pool_available", 0))
        DB_POOL.labels("max").set(stats.get("pool_max", 0))
        DB_POOL.labels("waiting").set(stats.get("requests_waiting", 0))


def record_index_check(*, problems_by_board: dict[str, int], at: float | None = None) -> None:
    """Keep the result of a `check_rank_index` run where every web process can export it."""
    cache.set(
        INDEX_CHECK_CACHE_KEY,
        {"at": time.time() if at is None else at, "boards": problems_by_board},
        timeout=INDEX_CHECK_KEEP_SECONDS,
    )


def count_database_connections() -> int | None:
    """Connections PostgreSQL holds to this database, from every host and worker; None off PostgreSQL."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        row = cursor.fetchone()
    return int(row[0]) if row else None


class ScrapeTimeCollector(Collector):
    """Figures shared by all processes, read when scraped: rank source, cache, connections, checks."""

    def collect(self) -> Iterator[Metric]:
        from leaderboard import ranking, selectors

        source = GaugeMetricFamily(
            "leaderforge_rank_source",
            "1 for where ranks of a board come from now",
            labels=["board", "source"],
        )
        try:
            sources = selectors.list_rank_sources()
        except DatabaseError:
            sources = []  # the database is away: the request figures still go out
        for board, _, current in sources:
            for name in ("redis", "sql"):
                source.add_metric([board.slug, name], 1 if current == name else 0)
        yield source

        stats = ranking.cache_stats()
        yield CounterMetricFamily(
            "leaderforge_top_cache_hits",
            "Top listings served from the cache (all processes)",
            stats["top_hits"],
        )
        yield CounterMetricFamily(
            "leaderforge_top_cache_misses",
            "Top listings recomputed from SQL (all processes)",
            stats["top_misses"],
        )

        try:
            connections = count_database_connections()
        except DatabaseError:
            connections = None
        if connections is not None:
            yield GaugeMetricFamily(
                "leaderforge_database_connections",
                "Connections PostgreSQL holds to this database (pg_stat_activity, every client)",
                connections,
            )

        check = cache.get(INDEX_CHECK_CACHE_KEY)
        if check:
            yield GaugeMetricFamily(
                "leaderforge_rank_index_check_timestamp_seconds",
                "When check_rank_index last ran (Unix time)",
                check["at"],
            )
            problems = GaugeMetricFamily(
                "leaderforge_rank_index_drift",
                "Differences check_rank_index found between the rank index and PostgreSQL, per board",
                labels=["board"],
            )
            for board, count in sorted(check["boards"].items()):
                problems.add_metric([board], count)
            yield problems


class _WorkerFilesCollector(Collector):
    def __init__(self, path: str) -> None:
        self.path = path

    def collect(self) -> Iterator[Metric]:
        return iter(metrics_files.collect(self.path))


def request_registry() -> CollectorRegistry:
    """The samples of every worker (multiprocess mode) or of this process."""
    path = multiprocess_dir()
    if not path:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_WorkerFilesCollector(path))
    return registry


def exposition() -> bytes:
    """The whole /metrics answer in Prometheus's text format."""
    refresh_process_gauges()
    scrape_time = CollectorRegistry(auto_describe=False)
    scrape_time.register(ScrapeTimeCollector())
    return generate_latest(request_registry()) + generate_latest(scrape_time)
