"""The bench's parsing of wrk reports and its tables (the bench itself is not run by the suite)."""

import pytest

from bench.report import (
    format_table,
    hit_ratio,
    markdown_table,
    parse_wrk_output,
    replace_marked_section,
    set_ceiling_ratios,
)
from tests.bench.results import result

WRK_STDOUT = """Running 10s test @ http://127.0.0.1:8000
  2 threads and 32 connections
  12000 requests in 10.00s, 3.1MB read
BENCH_JSON {"requests": 12000, "duration_us": 10000000, "bytes": 3100000, \
"socket_errors": {"connect": 0, "read": 2, "write": 0, "timeout": 1}, "status_errors": 3, \
"statuses": {"200": 11995, "404": 3, "503": 2}, "latency_us": {"min": 800, "max": 90000, \
"mean": 2600.5, "stdev": 900.1, "percentiles": {"50": 2100, "75": 2900, "90": 4000, "95": 5500, \
"99": 12250, "99.9": 40000}}}
"""


def test_wrk_report_becomes_a_result_with_milliseconds_and_error_counts() -> None:
    parsed = parse_wrk_output("rank", WRK_STDOUT)

    assert parsed.rps == 1200.0
    assert (parsed.p50_ms, parsed.p95_ms, parsed.p99_ms) == (2.1, 5.5, 12.25)
    assert parsed.non_2xx == 5
    assert parsed.socket_errors == 3
    assert parsed.errors == 8
    assert parsed.statuses == {"200": 11995, "404": 3, "503": 2}


def test_missing_report_line_is_an_error_that_shows_the_output() -> None:
    with pytest.raises(ValueError, match="unable to connect"):
        parse_wrk_output("rank", "unable to connect to 127.0.0.1:1 Connection refused\n")


def test_ratios_are_against_the_ceiling_of_the_same_run() -> None:
    ceiling, rank = result("health", 2000), result("rank", 1300)

    set_ceiling_ratios([ceiling, rank], ceiling)

    assert ceiling.ceiling_ratio == 1.0
    assert rank.ceiling_ratio == pytest.approx(0.65)


def test_hit_ratio_comes_from_counter_deltas_and_is_absent_without_counters() -> None:
    before = {"top_hits": 10, "top_misses": 5, "top_hit_ratio": 0.66}
    after = {"top_hits": 100, "top_misses": 15, "top_hit_ratio": 0.87}

    assert hit_ratio(before, after) == pytest.approx(0.9)
    assert hit_ratio(None, None) is None
    assert hit_ratio(after, after) is None  # no lookups during the scenario


def test_tables_print_unknown_figures_as_n_a() -> None:
    rows = [
        result("health", 2000, ceiling_ratio=1.0, pg_connections_max=0, app_cpu_ms=1.5, db_cpu_ms=0.25),
        result("top", 1650.4),
        result("rank", 12, ceiling_ratio=0.006),
    ]

    text = format_table(rows)
    markdown = markdown_table(rows)

    assert text.splitlines()[0].split() == [
        "scenario", "req/s", "p50", "ms", "p95", "ms", "p99", "ms", "errors", "x", "ceiling", "pg", "conns",
        "cache", "hits", "cpu", "ms/req", "app+db",
    ]  # fmt: skip
    assert text.splitlines()[3].split() == [
        "top",
        "1,650",
        "1.0",
        "2.0",
        "3.0",
        "0",
        "n/a",
        "n/a",
        "n/a",
        "n/a",
    ]
    assert text.splitlines()[4].split()[6] == "0.006"
    assert markdown.splitlines()[2] == "| health | 2,000 | 1.0 | 2.0 | 3.0 | 0 | 1.00 | 0 | n/a | 1.50+0.25 |"


def test_marked_section_is_replaced_and_the_rest_kept() -> None:
    doc = "# Performance\n\nintro\n\n<!-- bench:start -->\nold\n<!-- bench:end -->\n\noutro\n"

    updated = replace_marked_section(doc, "bench", "new table")

    assert (
        updated == "# Performance\n\nintro\n\n<!-- bench:start -->\nnew table\n<!-- bench:end -->\n\noutro\n"
    )
    assert (
        replace_marked_section("# P\n", "bench", "t")
        == "# P\n\n<!-- bench:start -->\nt\n<!-- bench:end -->\n"
    )
