"""Bench results for the report's tests: one scenario's figures with round numbers a reader can check."""

from bench.report import ScenarioResult


def result(name: str, rps: float, round_number: int = 1, **kwargs: object) -> ScenarioResult:
    """A 10 s run at `rps` with p50/p95/p99 of 1/2/3 ms and no errors; `kwargs` set the other fields."""
    return ScenarioResult(
        name=name,
        requests=int(rps * 10),
        duration_s=10.0,
        p50_ms=1.0,
        p95_ms=2.0,
        p99_ms=3.0,
        non_2xx=0,
        socket_errors=0,
        round=round_number,
        **kwargs,  # type: ignore[arg-type]
    )
