"""The last minute of the request metrics, across every worker, for the staff dashboard.

Each look takes a snapshot of the Prometheus histograms (all workers' samples in multiprocess mode)
and keeps it in the shared cache; the figures are the differences from the snapshot taken about a
window ago. Percentiles are estimated from histogram buckets, as Prometheus's histogram_quantile does.
"""

import itertools
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.cache import cache

from leaderboard import metrics, ranking, selectors

WINDOW_SECONDS = 60.0
# Snapshots are kept this long, and taken at most this often however many staff pages poll.
KEEP_SECONDS = 300.0
SNAPSHOT_EVERY_SECONDS = 2.0
SNAPSHOTS_CACHE_KEY = "metrics:live-snapshots"
HISTOGRAM = "leaderforge_http_request_duration_seconds"


@dataclass(frozen=True)
class Target:
    label: str
    routes: tuple[str, ...]
    cache: str | None  # "hit", "not-hit" or None: any
    p95_below_ms: float


# The seed's targets (DESIGN.md, "Performance targets").
LATENCY_TARGETS = (
    Target("Submit p95", ("api-submit",), None, 50),
    Target("Top players p95, cached", ("api-top",), "hit", 10),
    Target("Top players p95, uncached", ("api-top",), "not-hit", 100),
    Target("Player rank p95", ("api-rank",), None, 50),
)
THROUGHPUT_ABOVE = 1000.0
CACHE_HIT_RATIO_ABOVE = 0.80
DATABASE_CONNECTIONS_BELOW = 50


@dataclass
class Series:
    """Cumulative bucket counts (upper bound -> count), observation count and sum."""

    buckets: dict[float, float] = field(default_factory=dict)
    count: float = 0.0
    total_seconds: float = 0.0
    errors: float = 0.0  # answers with a 5xx status

    def add(self, other: "Series", sign: int = 1) -> None:
        for bound, value in other.buckets.items():
            self.buckets[bound] = self.buckets.get(bound, 0.0) + sign * value
        self.count += sign * other.count
        self.total_seconds += sign * other.total_seconds
        self.errors += sign * other.errors


@dataclass(frozen=True)
class Snapshot:
    at: float  # unix time
    series: dict[tuple[str, str], Series]  # by (route, cache use)
    top_hits: int
    top_misses: int


def read_series() -> dict[tuple[str, str], Series]:
    """Request histograms now, summed over methods, statuses and workers, by (route, cache)."""
    series: dict[tuple[str, str], Series] = defaultdict(Series)
    for family in metrics.request_registry().collect():
        if family.name != HISTOGRAM:
            continue
        for sample in family.samples:
            labels = sample.labels
            item = series[(labels["route"], labels["cache"])]
            if sample.name.endswith("_bucket"):
                bound = float(labels["le"])
                item.buckets[bound] = item.buckets.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                item.count += sample.value
                if labels["status"].startswith("5"):
                    item.errors += sample.value
            elif sample.name.endswith("_sum"):
                item.total_seconds += sample.value
    return dict(series)


def take_snapshot(now: float) -> Snapshot:
    stats = ranking.cache_stats()
    return Snapshot(
        at=now,
        series=read_series(),
        top_hits=int(stats["top_hits"] or 0),
        top_misses=int(stats["top_misses"] or 0),
    )


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Estimate the q-quantile from cumulative buckets (linear inside a bucket); None without data.

    Past the last finite bound the answer is that bound: the true value is only known to be above it.
    """
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound  # pragma: no cover - the last bucket holds every observation


@dataclass(frozen=True)
class Endpoint:
    route: str
    cache: str
    requests: int
    per_second: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None


@dataclass(frozen=True)
class Check:
    label: str
    value: float | None
    unit: str
    target: str
    met: bool | None  # None: no data in the window


@dataclass(frozen=True)
class LiveFigures:
    window_seconds: float  # 0 until a second snapshot exists
    endpoints: list[Endpoint]
    requests: int
    per_second: float
    error_rate: float | None
    cache_hit_ratio: float | None
    database_connections: int | None
    rank_sources: dict[str, str]
    checks: list[Check]
    history: list[tuple[float, float]]  # (unix time, requests/s) between consecutive snapshots


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _difference(
    now: dict[tuple[str, str], Series], before: dict[tuple[str, str], Series]
) -> dict[tuple[str, str], Series]:
    result = {}
    for key, current in now.items():
        delta = Series()
        delta.add(current)
        previous = before.get(key)
        if previous is not None and previous.count <= current.count:
            delta.add(previous, sign=-1)
        # else: the counters restarted (a new gunicorn run empties them): count from zero
        if delta.count > 0:
            result[key] = delta
    return result


def _store(snapshot: Snapshot, history: list[Snapshot]) -> list[Snapshot]:
    now = snapshot.at
    kept = [s for s in history if 0 <= now - s.at <= KEEP_SECONDS]
    if not kept or now - kept[-1].at >= SNAPSHOT_EVERY_SECONDS:
        kept.append(snapshot)
        cache.set(SNAPSHOTS_CACHE_KEY, kept, timeout=int(KEEP_SECONDS))
    return kept


def _baseline(history: list[Snapshot], now: float) -> Snapshot | None:
    """The newest snapshot at least a window old, else the oldest one (a shorter window)."""
    older = [s for s in history if now - s.at >= WINDOW_SECONDS]
    if older:
        return older[-1]
    earlier = [s for s in history if s.at < now]
    return earlier[0] if earlier else None


def _rates(history: list[Snapshot]) -> list[tuple[float, float]]:
    points = []
    for before, after in itertools.pairwise(history):
        seconds = after.at - before.at
        counted = sum(s.count for s in _difference(after.series, before.series).values())
        if seconds > 0:
            points.append((after.at, counted / seconds))
    return points


def _check_latency(target: Target, deltas: dict[tuple[str, str], Series]) -> Check:
    merged = Series()
    for (route, cache_use), series in deltas.items():
        if route not in target.routes:
            continue
        if target.cache == "hit" and cache_use != "hit":
            continue
        if target.cache == "not-hit" and cache_use == "hit":
            continue
        merged.add(series)
    p95 = _ms(quantile(0.95, merged.buckets)) if merged.count else None
    met = None if p95 is None else p95 < target.p95_below_ms
    return Check(target.label, p95, "ms", f"< {target.p95_below_ms:g} ms", met)


def get_live_figures(*, now: float | None = None) -> LiveFigures:
    """Figures over about the last minute, from every worker, and each seed target met or not."""
    now = time.time() if now is None else now
    snapshot = take_snapshot(now)
    history = _store(snapshot, cache.get(SNAPSHOTS_CACHE_KEY) or [])
    baseline = _baseline(history, now)
    if baseline is None:
        deltas: dict[tuple[str, str], Series] = {}
        window = 0.0
    else:
        deltas = _difference(snapshot.series, baseline.series)
        window = now - baseline.at

    endpoints = []
    for (route, cache_use), series in sorted(deltas.items()):
        endpoints.append(
            Endpoint(
                route=route,
                cache=cache_use,
                requests=int(series.count),
                per_second=round(series.count / window, 1) if window else 0.0,
                p50_ms=_ms(quantile(0.50, series.buckets)),
                p95_ms=_ms(quantile(0.95, series.buckets)),
                p99_ms=_ms(quantile(0.99, series.buckets)),
                error_rate=round(series.errors / series.count, 4),
            )
        )
    requests = int(sum(s.count for s in deltas.values()))
    errors = sum(s.errors for s in deltas.values())
    per_second = round(requests / window, 1) if window else 0.0

    hit_ratio = None
    if baseline is not None:
        hits = snapshot.top_hits - baseline.top_hits
        misses = snapshot.top_misses - baseline.top_misses
        if hits >= 0 and misses >= 0 and hits + misses:
            hit_ratio = round(hits / (hits + misses), 4)
    connections = metrics.count_database_connections()
    sources = {board.slug: source for board, _, source in selectors.list_rank_sources()}

    checks = [_check_latency(target, deltas) for target in LATENCY_TARGETS]
    checks.append(
        Check(
            "Throughput",
            per_second if window else None,
            "req/s",
            f"> {THROUGHPUT_ABOVE:g} req/s",
            per_second > THROUGHPUT_ABOVE if window else None,
        )
    )
    checks.append(
        Check(
            "Cache hit ratio",
            None if hit_ratio is None else round(hit_ratio * 100, 1),
            "%",
            f"> {CACHE_HIT_RATIO_ABOVE:.0%}",
            None if hit_ratio is None else hit_ratio > CACHE_HIT_RATIO_ABOVE,
        )
    )
    checks.append(
        Check(
            "Database connections",
            connections,
            "",
            f"< {DATABASE_CONNECTIONS_BELOW}",
            None if connections is None else connections < DATABASE_CONNECTIONS_BELOW,
        )
    )
    return LiveFigures(
        window_seconds=round(window, 1),
        endpoints=endpoints,
        requests=requests,
        per_second=per_second,
        error_rate=round(errors / requests, 4) if requests else None,
        cache_hit_ratio=hit_ratio,
        database_connections=connections,
        rank_sources=sources,
        checks=checks,
        history=_rates(history),
    )
