"""The bench's maths over rounds and its marking of targets: medians, ratios per round, verdicts."""

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bench.report import (
    RateResult,
    ScenarioSummary,
    Spread,
    Verdict,
    mark_targets,
    md_table,
    parse_rate_output,
    round_tables,
    set_round_ratios,
    summarise_rounds,
    target_tables,
    text_table,
)
from bench.request_cost import NEWRELIC_DEVELOPER_MODE, environment_defaults
from bench.run import Target
from tests.bench.results import result


def ok_check() -> dict[str, object]:
    return {"sessions": 1, "points": 5, "boards": [], "ok": True}


def test_spread_is_the_median_with_min_and_max_and_ignores_unknown_figures() -> None:
    spread = Spread.of([3.0, None, 1.0, 2.0, float("nan")])

    assert spread == Spread(2.0, 1.0, 3.0)
    assert Spread.of([1.0, 4.0]) == Spread(2.5, 1.0, 4.0)  # even count: the mean of the middle two
    assert Spread.of([None]) is None
    assert Spread(1234.4, 1000.0, 2000.6).format(thousands=True) == "1,234 (1,000-2,001)"
    assert Spread(0.654, 0.6, 0.7).format() == "0.65 (0.60-0.70)"


def test_ratios_are_against_the_bare_view_and_health_of_the_same_round() -> None:
    rounds = [
        result("bare", 1000, 1),
        result("health", 600, 1),
        result("rank", 300, 1),
        result("bare", 2000, 2),  # a quieter minute: everything is faster in round 2
        result("health", 1200, 2),
        result("rank", 700, 2),
    ]

    set_round_ratios(rounds)

    ratios = [(r.name, r.round, r.bare_ratio, r.ceiling_ratio) for r in rounds]
    assert ratios == [
        ("bare", 1, 1.0, pytest.approx(1000 / 600)),
        ("health", 1, 0.6, 1.0),
        ("rank", 1, 0.3, 0.5),
        ("bare", 2, 1.0, pytest.approx(2000 / 1200)),
        ("health", 2, 0.6, 1.0),
        ("rank", 2, 0.35, pytest.approx(700 / 1200)),
    ]
    rank = summarise_rounds(rounds)[2]
    assert rank.x_bare == Spread(pytest.approx(0.325), 0.3, 0.35)  # type: ignore[arg-type]
    # The median of per-round ratios, not a ratio of medians (which would mix the rounds).
    assert rank.rps == Spread(500.0, 300.0, 700.0)


def test_a_round_without_a_bare_view_has_no_ratio() -> None:
    rank = result("rank", 300)

    set_round_ratios([rank])

    assert rank.bare_ratio is None
    assert summarise_rounds([rank])[0].x_bare is None


def test_summary_keeps_worst_cases_and_every_rounds_checks() -> None:
    rounds = [
        result("submit", 100, 1, pg_connections_max=4, app_cpu_ms=2.0, db_cpu_ms=0.5, write_check=ok_check()),
        result("submit", 120, 2, pg_connections_max=9, app_cpu_ms=1.0, db_cpu_ms=0.3, write_check=ok_check()),
        result("submit", 110, 3, pg_connections_max=5, app_cpu_ms=3.0, db_cpu_ms=0.4, write_check=ok_check()),
    ]
    rounds[1].non_2xx = 2

    (submit,) = summarise_rounds(rounds)

    assert submit.errors == 2
    assert submit.pg_connections_max == 9
    assert (submit.median("app_cpu_ms"), submit.median("db_cpu_ms")) == (2.0, 0.4)
    assert len(submit.write_checks) == 3
    assert submit.as_dict()["rps"] == {"median": 110.0, "low": 100.0, "high": 120.0}


def summaries_at(x_bare: dict[str, float], **extra: Mapping[str, Any]) -> list[ScenarioSummary]:
    """One round per scenario with the given ratios to a bare view of 1,000 req/s."""
    rows = [result("bare", 1000)]
    for name, ratio in x_bare.items():
        rows.append(result(name, 1000 * ratio, **extra.get(name, {})))
    set_round_ratios(rows)
    return summarise_rounds(rows)


def verdicts_by_target(
    summaries: list[ScenarioSummary], rates: list[RateResult] | None = None, **unavailable: str
) -> dict[str, Verdict]:
    return {v.target: v for v in mark_targets(summaries, rates or [], unavailable=unavailable)}


def test_targets_are_met_exactly_at_their_bounds_and_not_beyond() -> None:
    at_bounds = summaries_at(
        {"health": 0.85, "rank": 0.65, "top": 0.80, "submit": 0.30, "mix": 0.50},
        health={"app_cpu_ms": 0.3, "db_cpu_ms": None},
        rank={"app_cpu_ms": 0.6, "db_cpu_ms": 0.1},
        top={"app_cpu_ms": 0.5, "db_cpu_ms": 0.0, "cache_hit_ratio": 0.95},
        submit={"app_cpu_ms": 1.6, "db_cpu_ms": 0.4, "write_check": ok_check()},
        mix={"app_cpu_ms": 2.0, "db_cpu_ms": 0.2, "write_check": ok_check(), "pg_connections_max": 20},
    )

    verdicts = verdicts_by_target(at_bounds)

    for name in ("health", "rank", "top (cached)", "submit, one board", "mix 70/20/10"):
        assert verdicts[name].mark == "met", verdicts[name]
    assert verdicts["mix 70/20/10"].measured == "0.50 x bare, 2.00+0.20 ms cpu"
    assert verdicts["PostgreSQL connections"].mark == "met"
    assert verdicts["no point lost or counted twice"].measured == "2 of 2 checks passed"


@pytest.mark.parametrize(
    ("scenario", "ratio", "figures", "target"),
    [
        ("health", 0.84, {"app_cpu_ms": 0.1}, "health"),
        ("health", 0.90, {"app_cpu_ms": 0.31}, "health"),
        ("rank", 0.70, {"app_cpu_ms": 0.5, "db_cpu_ms": 0.25}, "rank"),  # 0.75 ms together
        ("top", 0.90, {"app_cpu_ms": 0.2, "cache_hit_ratio": 0.94}, "top (cached)"),
        ("top", 0.90, {"app_cpu_ms": 0.2}, "top (cached)"),  # no hit ratio: cannot be met
        ("submit", 0.40, {"app_cpu_ms": 1.0, "db_cpu_ms": 0.41}, "submit, one board"),  # the database part
        ("submit", 0.40, {"app_cpu_ms": 1.7, "db_cpu_ms": 0.1}, "submit, one board"),  # the app part
        ("mix", 0.49, {}, "mix 70/20/10"),
    ],
)
def test_a_figure_past_its_bound_is_not_met(
    scenario: str, ratio: float, figures: Mapping[str, Any], target: str
) -> None:
    verdicts = verdicts_by_target(summaries_at({scenario: ratio}, **{scenario: figures}))

    assert verdicts[target].mark == "not met"


def test_targets_that_could_not_run_say_why() -> None:
    verdicts = verdicts_by_target(
        summaries_at({"health": 0.9}),
        submit4="n/a (needs more boards)",
        batch="n/a (no batch endpoint)",
    )

    assert verdicts["submit, four boards"].mark == "n/a"
    assert verdicts["submit, four boards"].measured == "n/a (needs more boards)"
    assert verdicts["batch submit, 100 per request"].measured == "n/a (no batch endpoint)"
    assert verdicts["rank"].measured == "not run"
    assert verdicts["no point lost or counted twice"].mark == "n/a"


@pytest.mark.parametrize(
    ("x_bare", "measured", "mark"),
    [
        (0.11, "11,000 sessions/s (0 errors)", "met"),  # 110 req/s x 100
        (0.09, "9,000 sessions/s (0 errors)", "not met"),
    ],
)
def test_batch_is_counted_in_sessions_per_second(x_bare: float, measured: str, mark: str) -> None:
    summaries = summaries_at({"batch": x_bare}, batch={"items_per_request": 100})

    verdict = verdicts_by_target(summaries)["batch submit, 100 per request"]

    assert (verdict.measured, verdict.mark) == (measured, mark)


def test_one_failed_write_check_or_too_many_connections_fails_the_run() -> None:
    summaries = summaries_at(
        {"submit": 0.5, "mix": 0.6},
        submit={"write_check": ok_check(), "pg_connections_max": 21},
        mix={"write_check": {**ok_check(), "ok": False}},
    )

    verdicts = verdicts_by_target(summaries)

    assert verdicts["no point lost or counted twice"].mark == "not met"
    assert verdicts["no point lost or counted twice"].measured == "1 of 2 checks passed"
    assert verdicts["PostgreSQL connections"].mark == "not met"


RATE_STDOUT = "starting\nBENCH_RATE_JSON " + json.dumps(
    {
        "offered_rate": 1000.0,
        "duration_s": 30.0,
        "requests": 30000,
        "achieved_rate": 998.5,
        "sent_rate": 999.9,
        "lag_ms": {"50": 0.2, "95": 0.9, "99": 2.5, "max": 12.0},
        "generator_cpu_s": 12.0,
        "endpoints": {
            "rank": {
                "requests": 21000,
                "statuses": {"200": 21000},
                "errors": 0,
                "latency_ms": {"50": 4.0, "95": 20.0, "99": 45.0, "max": 80.0},
                "service_ms": {"50": 3.9, "95": 19.0, "99": 44.0, "max": 79.0},
            },
            "top": {
                "requests": 6000,
                "statuses": {"200": 5990, "timeout": 10},
                "errors": 10,
                "latency_ms": {"50": 3.0, "95": 9.5, "99": 30.0, "max": 5000.0},
                "service_ms": {"50": 2.9, "95": 9.0, "99": 29.0, "max": 5000.0},
            },
            "submit": {
                "requests": 3000,
                "statuses": {"201": 3000},
                "errors": 0,
                "latency_ms": {"50": 20.0, "95": 50.0, "99": 90.0, "max": 120.0},
                "service_ms": {"50": 19.0, "95": 49.0, "99": 89.0, "max": 119.0},
            },
        },
    }
)


def test_rate_report_becomes_per_endpoint_percentiles() -> None:
    rate = parse_rate_output("mix", RATE_STDOUT)

    assert (rate.offered_rate, rate.achieved_rate, rate.lag_p99_ms) == (1000.0, 998.5, 2.5)
    assert rate.generator_core_share == pytest.approx(0.4)
    assert set(rate.endpoints) == {"rank", "top", "submit"}
    top = rate.endpoints["top"]
    assert (top.requests, top.errors, top.p50_ms, top.p95_ms, top.p99_ms) == (6000, 10, 3.0, 9.5, 30.0)
    assert top.statuses == {"200": 5990, "timeout": 10}
    with pytest.raises(ValueError, match="no BENCH_RATE_JSON"):
        parse_rate_output("mix", "connection refused\n")


def test_p95_targets_are_strict_and_need_every_request_answered() -> None:
    rate: RateResult = parse_rate_output("mix", RATE_STDOUT)

    verdicts = verdicts_by_target([], [rate])

    assert verdicts["rank p95 at a fixed rate"].mark == "met"
    assert verdicts["submit p95 at a fixed rate"].mark == "not met"  # 50.0 is not < 50
    assert verdicts["top p95 at a fixed rate"].mark == "not met"  # under 10 ms, but 10 timed out
    assert verdicts["throughput at a fixed rate"].mark == "met"


def test_tables_show_medians_with_their_spread_and_a_verdict_per_target() -> None:
    summaries = summaries_at({"rank": 0.5}, rank={"app_cpu_ms": 1.25, "db_cpu_ms": None})

    text = text_table(*round_tables(summaries))
    markdown = md_table(*target_tables(mark_targets(summaries, [], unavailable={})))

    assert text.splitlines()[3].split() == [
        "rank", "500", "(500-500)", "0.50", "(0.50-0.50)", "n/a", "1.0", "2.0", "3.0", "0", "n/a", "n/a", "1.25+n/a",
    ]  # fmt: skip
    assert "| rank | 0.50 x bare, 1.25+n/a ms cpu | >= 0.65 x bare, <= 0.7 ms cpu | not met |" in markdown


def test_a_submit_that_feeds_more_than_one_board_is_not_held_against_the_one_board_target() -> None:
    summaries = summaries_at({"submit": 0.5}, submit={"app_cpu_ms": 1.0, "db_cpu_ms": 0.1})

    verdicts = verdicts_by_target(summaries, submit="n/a (a default submit feeds 2 boards)")

    assert verdicts["submit, one board"].mark == "n/a"
    assert verdicts["submit, one board"].measured == "n/a (a default submit feeds 2 boards)"


def test_the_in_process_tools_read_the_redis_namespace_the_bench_serves_the_database_with() -> None:
    url = "postgres://postgres@127.0.0.1:5432/leaderforge_bench_10k"
    served = Target(database_url=url, redis_url="redis://127.0.0.1:6379/13", players=1, sessions=1).env("k")

    in_process = environment_defaults(url)

    for name in ("CACHE_KEY_PREFIX", "RANK_INDEX_KEY_PREFIX"):
        assert in_process[name] == served[name] == "leaderforge_bench_10k"


def test_the_in_process_agent_runs_with_the_new_relic_settings_of_the_image() -> None:
    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    image = dict(re.findall(r"^ENV (NEW_RELIC_\w+)=(\S+)$", dockerfile, flags=re.MULTILINE))

    assert image
    assert {name: NEWRELIC_DEVELOPER_MODE.get(name) for name in image} == image
