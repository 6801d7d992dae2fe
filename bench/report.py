"""Turn wrk's and the rate generator's reports into results, rounds into medians, and all into tables.

Saturation scenarios run in interleaved rounds; each round's req/s is divided by the bare DRF view's and
the app's /healthz req/s of the same round, and the tables show the median of the rounds with the
min-max. Figures are held against the targets below (RATIO_TARGETS, P95_TARGETS_MS, ...) and marked
"met", "not met" or "n/a".
"""

import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

JSON_MARKER = "BENCH_JSON "


@dataclass
class ScenarioResult:
    name: str
    requests: int
    duration_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    statuses: dict[str, int] = field(default_factory=dict)
    ceiling_ratio: float | None = None
    bare_ratio: float | None = None
    round: int = 1
    # Sessions written per request (the batch scenario sends many), for sessions/s.
    items_per_request: int = 1
    write_check: dict[str, Any] | None = None
    pg_connections_max: int | None = None
    pg_active_max: int | None = None
    cache_hit_ratio: float | None = None
    # CPU time per request of gunicorn (master and workers) and of the app's PostgreSQL backends:
    # unlike req/s, hardly moved by other load on the machine.
    app_cpu_ms: float | None = None
    db_cpu_ms: float | None = None
    label: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1), "errors": self.errors}


def parse_wrk_output(name: str, stdout: str) -> ScenarioResult:
    """Read the report line that the scenarios' done() hook prints."""
    lines = [line for line in stdout.splitlines() if line.startswith(JSON_MARKER)]
    if not lines:
        raise ValueError(f"wrk printed no {JSON_MARKER.strip()} line for {name}:\n{stdout}")
    report = json.loads(lines[-1][len(JSON_MARKER) :])
    percentiles = report["latency_us"]["percentiles"]
    statuses = {str(k): int(v) for k, v in report["statuses"].items()}
    return ScenarioResult(
        name=name,
        requests=int(report["requests"]),
        duration_s=report["duration_us"] / 1_000_000,
        p50_ms=percentiles["50"] / 1000,
        p95_ms=percentiles["95"] / 1000,
        p99_ms=percentiles["99"] / 1000,
        non_2xx=sum(n for status, n in statuses.items() if not 200 <= int(status) < 300),
        socket_errors=sum(int(n) for n in report["socket_errors"].values()),
        statuses=statuses,
    )


def hit_ratio(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> float | None:
    """Cache hit ratio between two readings of the app's cache counters; None when there is nothing to say."""
    if before is None or after is None:
        return None

    def delta(suffix: str) -> int:
        return sum(
            int(after[k]) - int(before.get(k) or 0)
            for k in after
            if k.endswith(suffix) and isinstance(after[k], int)
        )

    hits, misses = delta("hits"), delta("misses")
    return hits / (hits + misses) if hits + misses > 0 else None


def set_ceiling_ratios(results: Iterable[ScenarioResult], ceiling: ScenarioResult) -> None:
    for result in results:
        result.ceiling_ratio = result.rps / ceiling.rps if ceiling.rps else None


COLUMNS = (
    "scenario",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "x ceiling",
    "pg conns",
    "cache hits",
    "cpu ms/req app+db",
)


def _row(result: ScenarioResult) -> tuple[str, ...]:
    return (
        result.label or result.name,
        f"{result.rps:,.0f}",
        f"{result.p50_ms:.1f}",
        f"{result.p95_ms:.1f}",
        f"{result.p99_ms:.1f}",
        str(result.errors),
        _ratio(result.ceiling_ratio),
        "n/a" if result.pg_connections_max is None else str(result.pg_connections_max),
        "n/a" if result.cache_hit_ratio is None else f"{100 * result.cache_hit_ratio:.1f}%",
        _cpu(result),
    )


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return "n/a"
    return f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.3f}"


def _cpu(result: ScenarioResult) -> str:
    if result.app_cpu_ms is None:
        return "n/a"
    db = "n/a" if result.db_cpu_ms is None else f"{result.db_cpu_ms:.2f}"
    return f"{result.app_cpu_ms:.2f}+{db}"


def format_table(results: Iterable[ScenarioResult]) -> str:
    """A plain-text table for the terminal."""
    return text_table(COLUMNS, (_row(r) for r in results))


def markdown_table(results: Iterable[ScenarioResult]) -> str:
    return md_table(COLUMNS, (_row(r) for r in results))


def replace_marked_section(text: str, name: str, content: str) -> str:
    """Put content between `<!-- name:start -->` and `<!-- name:end -->`, adding the markers if missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{content.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip() + "\n\n" + block + "\n"


# --- rounds -------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """The median of a figure over the rounds, with its lowest and highest."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Iterable[float | None]) -> "Spread | None":
        known = [v for v in values if v is not None and not math.isnan(v)]
        if not known:
            return None
        return cls(statistics.median(known), min(known), max(known))

    def format(self, digits: int = 2, thousands: bool = False) -> str:
        def number(v: float) -> str:
            return f"{v:,.0f}" if thousands else f"{v:.{digits}f}"

        return f"{number(self.median)} ({number(self.low)}-{number(self.high)})"


def set_round_ratios(results: Iterable[ScenarioResult]) -> None:
    """Each result's req/s over the bare view's and over /healthz's of the same round."""
    results = list(results)
    by_round: dict[int, dict[str, ScenarioResult]] = {}
    for r in results:
        by_round.setdefault(r.round, {})[r.name] = r
    for r in results:
        bare, health = by_round[r.round].get("bare"), by_round[r.round].get("health")
        r.bare_ratio = r.rps / bare.rps if bare and bare.rps else None
        r.ceiling_ratio = r.rps / health.rps if health and health.rps else None


@dataclass
class ScenarioSummary:
    """One scenario over its rounds: medians (with min-max where it matters), worst cases, checks."""

    name: str
    label: str
    rounds: list[ScenarioResult]

    @property
    def rps(self) -> Spread | None:
        return Spread.of(r.rps for r in self.rounds)

    @property
    def items_per_s(self) -> Spread | None:
        return Spread.of(r.rps * r.items_per_request for r in self.rounds)

    @property
    def x_bare(self) -> Spread | None:
        return Spread.of(r.bare_ratio for r in self.rounds)

    @property
    def x_health(self) -> Spread | None:
        return Spread.of(r.ceiling_ratio for r in self.rounds)

    def median(self, attribute: str) -> float | None:
        spread = Spread.of(getattr(r, attribute) for r in self.rounds)
        return None if spread is None else spread.median

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.rounds)

    @property
    def pg_connections_max(self) -> int | None:
        known = [r.pg_connections_max for r in self.rounds if r.pg_connections_max is not None]
        return max(known) if known else None

    @property
    def write_checks(self) -> list[dict[str, Any]]:
        return [r.write_check for r in self.rounds if r.write_check is not None]

    def as_dict(self) -> dict[str, Any]:
        def spread(s: Spread | None) -> dict[str, float] | None:
            return None if s is None else asdict(s)

        return {
            "name": self.name,
            "label": self.label,
            "rps": spread(self.rps),
            "x_bare": spread(self.x_bare),
            "x_health": spread(self.x_health),
            **{a: self.median(a) for a in ("p50_ms", "p95_ms", "p99_ms", "app_cpu_ms", "db_cpu_ms")},
            "cache_hit_ratio": self.median("cache_hit_ratio"),
            "errors": self.errors,
            "pg_connections_max": self.pg_connections_max,
            "rounds": [r.as_dict() for r in self.rounds],
        }


def summarise_rounds(results: Iterable[ScenarioResult]) -> list[ScenarioSummary]:
    """Group the rounds' results by scenario, in the order the scenarios first ran."""
    summaries: dict[str, ScenarioSummary] = {}
    for r in results:
        summaries.setdefault(r.name, ScenarioSummary(r.name, r.label or r.name, [])).rounds.append(r)
    return list(summaries.values())


ROUND_COLUMNS = (
    "scenario",
    "req/s",
    "x bare",
    "x health",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "pg conns",
    "cache hits",
    "cpu ms/req app+db",
)


def _optional(value: float | None, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _cpu_figure(app: float | None, db: float | None) -> str:
    if app is None:
        return "n/a"
    return f"{app:.2f}+{_optional(db, '.2f')}"


def _round_row(s: ScenarioSummary) -> tuple[str, ...]:
    rps = s.rps
    hits = s.median("cache_hit_ratio")
    return (
        s.label,
        "n/a" if rps is None else rps.format(thousands=True),
        "n/a" if s.x_bare is None else s.x_bare.format(),
        "n/a" if s.x_health is None else s.x_health.format(),
        _optional(s.median("p50_ms"), ".1f"),
        _optional(s.median("p95_ms"), ".1f"),
        _optional(s.median("p99_ms"), ".1f"),
        str(s.errors),
        _optional(s.pg_connections_max, "d"),
        "n/a" if hits is None else f"{100 * hits:.1f}%",
        _cpu_figure(s.median("app_cpu_ms"), s.median("db_cpu_ms")),
    )


# --- the fixed-rate run ---------------------------------------------------------

RATE_MARKER = "BENCH_RATE_JSON "


@dataclass
class EndpointLatency:
    """One endpoint of a fixed-rate run; latencies from each request's intended send time."""

    name: str
    requests: int
    errors: int
    statuses: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class RateResult:
    label: str
    offered_rate: float
    duration_s: float
    achieved_rate: float
    sent_rate: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    generator_cpu_s: float | None
    endpoints: dict[str, EndpointLatency]
    app_cpu_ms: float | None = None
    db_cpu_ms: float | None = None
    pg_connections_max: int | None = None
    cache_hit_ratio: float | None = None
    write_check: dict[str, Any] | None = None
    # The uncached-top probe's count of the app's cache misses while it ran.
    cache_misses: int | None = None
    note: str = ""

    @property
    def generator_core_share(self) -> float | None:
        """The generator's CPU time over the run's length: 1.0 is one core kept busy."""
        if self.generator_cpu_s is None or not self.duration_s:
            return None
        return self.generator_cpu_s / self.duration_s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_rate_output(label: str, stdout: str) -> RateResult:
    """Read the BENCH_RATE_JSON line of bench.loadgen (or of the uncached-top probe)."""
    lines = [line for line in stdout.splitlines() if line.startswith(RATE_MARKER)]
    if not lines:
        raise ValueError(f"no {RATE_MARKER.strip()} line for {label}:\n{stdout}")
    report = json.loads(lines[-1][len(RATE_MARKER) :])
    endpoints = {
        name: EndpointLatency(
            name=name,
            requests=int(e["requests"]),
            errors=int(e["errors"]),
            statuses={str(k): int(v) for k, v in e["statuses"].items()},
            p50_ms=float(e["latency_ms"]["50"]),
            p95_ms=float(e["latency_ms"]["95"]),
            p99_ms=float(e["latency_ms"]["99"]),
            max_ms=float(e["latency_ms"]["max"]),
        )
        for name, e in report["endpoints"].items()
    }
    lag = report["lag_ms"]
    return RateResult(
        label=label,
        offered_rate=float(report["offered_rate"]),
        duration_s=float(report["duration_s"]),
        achieved_rate=float(report["achieved_rate"]),
        sent_rate=float(report["sent_rate"]),
        lag_p50_ms=float(lag["50"]),
        lag_p99_ms=float(lag["99"]),
        lag_max_ms=float(lag["max"]),
        generator_cpu_s=report.get("generator_cpu_s"),
        endpoints=endpoints,
        cache_misses=report.get("cache_misses"),
    )


RATE_COLUMNS = ("run: endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")


def _rate_rows(result: RateResult) -> list[tuple[str, ...]]:
    return [
        (
            f"{result.label}: {e.name}",
            f"{e.requests:,}",
            f"{e.requests / result.duration_s:,.0f}",
            f"{e.p50_ms:.1f}",
            f"{e.p95_ms:.1f}",
            f"{e.p99_ms:.1f}",
            f"{e.max_ms:.1f}",
            str(e.errors),
        )
        for e in result.endpoints.values()
    ]


def rate_line(result: RateResult) -> str:
    share = result.generator_core_share
    parts = [
        f"{result.label}: offered {result.offered_rate:,.0f} req/s for {result.duration_s:g} s, achieved "
        f"{result.achieved_rate:,.0f} req/s (sent {result.sent_rate:,.0f} req/s); generator lag p50 "
        f"{result.lag_p50_ms:.1f} ms / p99 {result.lag_p99_ms:.1f} ms / max {result.lag_max_ms:.1f} ms",
    ]
    if share is not None:
        parts.append(f"generator CPU {100 * share:.0f}% of one core")
    if result.app_cpu_ms is not None:
        parts.append(f"cpu ms/req app+db {_cpu_figure(result.app_cpu_ms, result.db_cpu_ms)}")
    if result.pg_connections_max is not None:
        parts.append(f"pg conns {result.pg_connections_max}")
    if result.cache_hit_ratio is not None:
        parts.append(f"cache hits {100 * result.cache_hit_ratio:.1f}%")
    if result.cache_misses is not None:
        requests = sum(e.requests for e in result.endpoints.values())
        parts.append(f"top cache misses counted by the app {result.cache_misses:,} of {requests:,} requests")
    if result.write_check is not None:
        parts.append("write check " + ("ok" if result.write_check["ok"] else "MISMATCH"))
    if result.note:
        parts.append(result.note)
    return "; ".join(parts) + "."


# --- targets --------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    wanted: str
    met: bool | None  # None: not measurable in this run (the measured column says why)

    @property
    def mark(self) -> str:
        return {True: "met", False: "not met", None: "n/a"}[self.met]


@dataclass(frozen=True)
class RatioTarget:
    """At least `min_x_bare` of the bare view's req/s and at most `max_cpu_ms` of CPU per request."""

    scenario: str
    label: str
    min_x_bare: float
    max_cpu_ms: float | None = None  # app + PostgreSQL together
    max_app_ms: float | None = None  # or each on its own
    max_db_ms: float | None = None
    min_hit_ratio: float | None = None


RATIO_TARGETS = (
    RatioTarget("health", "health", 0.85, max_cpu_ms=0.3),
    RatioTarget("rank", "rank", 0.65, max_cpu_ms=0.7),
    RatioTarget("top", "top (cached)", 0.80, max_cpu_ms=0.5, min_hit_ratio=0.95),
    RatioTarget("submit", "submit, one board", 0.30, max_app_ms=1.6, max_db_ms=0.4),
    RatioTarget("mix", "mix 70/20/10", 0.50),
)
# p95 bounds of the fixed-rate run, per endpoint (the seed's targets).
P95_TARGETS_MS = {"submit": 50.0, "rank": 50.0, "top": 10.0, "top (uncached)": 100.0}
MAX_PG_CONNECTIONS = 20
# Scenarios whose figures are reported beside the targets, without one of their own.
REPORTED_SCENARIOS = (
    ("submit4", "submit, four boards"),
    ("rank_weekly", "rank, weekly board"),
    ("around_weekly", "around-me k=5, weekly board"),
)
MIN_BATCH_SESSIONS_PER_S = 10_000.0


def ratio_verdict(
    target: RatioTarget, summary: ScenarioSummary | None, why_not: str | None = None
) -> Verdict:
    wanted = [f">= {target.min_x_bare:.2f} x bare"]
    if target.max_cpu_ms is not None:
        wanted.append(f"<= {target.max_cpu_ms:g} ms cpu")
    if target.max_app_ms is not None:
        wanted.append(f"<= {target.max_app_ms:g}+{target.max_db_ms:g} ms cpu")
    if target.min_hit_ratio is not None:
        wanted.append(f"hits >= {100 * target.min_hit_ratio:.0f}%")
    if why_not is not None or summary is None or summary.x_bare is None:
        return Verdict(target.label, why_not or "not run", ", ".join(wanted), None)
    x_bare = summary.x_bare.median
    app, db = summary.median("app_cpu_ms"), summary.median("db_cpu_ms")
    hits = summary.median("cache_hit_ratio")
    measured = [f"{x_bare:.2f} x bare", f"{_cpu_figure(app, db)} ms cpu"]
    met = x_bare >= target.min_x_bare
    if target.max_cpu_ms is not None:
        met = met and app is not None and app + (db or 0.0) <= target.max_cpu_ms
    if target.max_app_ms is not None:
        met = met and app is not None and app <= target.max_app_ms
        met = met and db is not None and db <= (target.max_db_ms or 0.0)
    if target.min_hit_ratio is not None:
        measured.append("hits n/a" if hits is None else f"hits {100 * hits:.1f}%")
        met = met and hits is not None and hits >= target.min_hit_ratio
    return Verdict(target.label, ", ".join(measured), ", ".join(wanted), met)


def p95_verdicts(results: Iterable[RateResult]) -> list[Verdict]:
    verdicts = []
    for result in results:
        for name, endpoint in result.endpoints.items():
            bound = P95_TARGETS_MS.get(name)
            if bound is None:
                continue
            verdicts.append(
                Verdict(
                    f"{name} p95 at a fixed rate",
                    f"{endpoint.p95_ms:.1f} ms ({endpoint.errors} errors)",
                    f"< {bound:g} ms",
                    endpoint.p95_ms < bound and endpoint.errors == 0,
                )
            )
    return verdicts


def mark_targets(
    summaries: Sequence[ScenarioSummary],
    rates: Sequence[RateResult],
    *,
    unavailable: Mapping[str, str],
) -> list[Verdict]:
    """Every target of the table, met or not; `unavailable` says why a scenario could not run."""
    by_name = {s.name: s for s in summaries}
    verdicts = [ratio_verdict(t, by_name.get(t.scenario), unavailable.get(t.scenario)) for t in RATIO_TARGETS]
    for name, label in REPORTED_SCENARIOS:
        summary = by_name.get(name)
        if summary is None or summary.x_bare is None:
            verdicts.append(Verdict(label, unavailable.get(name, "not run"), "reported", None))
            continue
        app, db = summary.median("app_cpu_ms"), summary.median("db_cpu_ms")
        p95 = summary.median("p95_ms")
        measured = f"{summary.x_bare.median:.2f} x bare, p95 " + ("n/a" if p95 is None else f"{p95:.1f} ms")
        verdicts.append(
            Verdict(summary.label, f"{measured}, {_cpu_figure(app, db)} ms cpu", "reported", None)
        )

    batch = by_name.get("batch")
    if batch is None or batch.items_per_s is None:
        verdicts.append(
            Verdict(
                "batch submit, 100 per request",
                unavailable.get("batch", "not run"),
                ">= 10,000 sessions/s",
                None,
            )
        )
    else:
        per_s = batch.items_per_s.median
        verdicts.append(
            Verdict(
                "batch submit, 100 per request",
                f"{per_s:,.0f} sessions/s ({batch.errors} errors)",
                f">= {MIN_BATCH_SESSIONS_PER_S:,.0f} sessions/s",
                per_s >= MIN_BATCH_SESSIONS_PER_S and batch.errors == 0,
            )
        )

    verdicts += p95_verdicts(rates)
    for rate in rates:
        if rate.label == "mix":
            verdicts.append(
                Verdict(
                    "throughput at a fixed rate",
                    f"{rate.achieved_rate:,.0f} req/s",
                    f">= {0.99 * rate.offered_rate:,.0f} req/s (99% of offered)",
                    rate.achieved_rate >= 0.99 * rate.offered_rate,
                )
            )

    connections = [s.pg_connections_max for s in summaries if s.pg_connections_max is not None]
    connections += [r.pg_connections_max for r in rates if r.pg_connections_max is not None]
    verdicts.append(
        Verdict(
            "PostgreSQL connections",
            "n/a" if not connections else f"{max(connections)} at most",
            f"<= {MAX_PG_CONNECTIONS}",
            None if not connections else max(connections) <= MAX_PG_CONNECTIONS,
        )
    )

    checks = [c for s in summaries for c in s.write_checks]
    checks += [r.write_check for r in rates if r.write_check is not None]
    passed = sum(1 for c in checks if c["ok"])
    verdicts.append(
        Verdict(
            "no point lost or counted twice",
            f"{passed} of {len(checks)} checks passed" if checks else "no writing scenario ran",
            "every writing scenario and round",
            None if not checks else passed == len(checks),
        )
    )
    return verdicts


TARGET_COLUMNS = ("target", "measured (medians of the rounds)", "wanted", "verdict")


def _target_row(v: Verdict) -> tuple[str, ...]:
    return (v.target, v.measured, v.wanted, v.mark)


# --- tables ---------------------------------------------------------------------


def text_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain-text table for the terminal: first column left-aligned, the others right-aligned."""
    all_rows = [tuple(columns), *(tuple(r) for r in rows)]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(columns))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in all_rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    all_rows = [tuple(columns), tuple("---" if i == 0 else "---:" for i in range(len(columns)))]
    all_rows += [tuple(r) for r in rows]
    return "\n".join("| " + " | ".join(row) + " |" for row in all_rows)


def round_tables(summaries: Sequence[ScenarioSummary]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return ROUND_COLUMNS, [_round_row(s) for s in summaries]


def rate_tables(results: Sequence[RateResult]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return RATE_COLUMNS, [row for r in results for row in _rate_rows(r)]


def target_tables(verdicts: Sequence[Verdict]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return TARGET_COLUMNS, [_target_row(v) for v in verdicts]
