"""Turn wrk's JSON report into scenario results, and results into tables for the terminal and the docs."""

import json
import re
from collections.abc import Iterable, Mapping
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
    rows = [COLUMNS, *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: Iterable[ScenarioResult]) -> str:
    rows = [COLUMNS, tuple("---" if i == 0 else "---:" for i in range(len(COLUMNS)))]
    rows += [_row(r) for r in results]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def replace_marked_section(text: str, name: str, content: str) -> str:
    """Put content between `<!-- name:start -->` and `<!-- name:end -->`, adding the markers if missing."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{content.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _: block, text, count=1)
    return text.rstrip() + "\n\n" + block + "\n"
