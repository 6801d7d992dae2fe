"""Folding dead workers' metric files into an archive keeps every total exact, even mid-scrape."""

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from leaderboard import metrics_files

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
from leaderboard import metrics
for _ in range({n}):
    metrics.REQUEST_SECONDS.labels("api-rank", "GET", "200", "").observe(0.004)
    metrics.REQUEST_SECONDS.labels("api-top", "GET", "200", "hit").observe(0.2)
metrics.RATE_LIMITED.labels("ip").inc({n})
metrics.BREAKER_OPEN.labels("redis").set(1)
"""


def run_worker(path: Path, n: int) -> int:
    """A process that records n requests per route, as a worker would; returns its pid."""
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER.format(n=n)],
        cwd=ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path)},
    )
    assert process.wait(timeout=60) == 0
    return process.pid


def totals(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in metrics_files.collect(str(path))
        for sample in metric.samples
        if metric.type != "gauge"
    }


def assert_same(actual: dict, expected: dict) -> None:  # type: ignore[type-arg]
    """Counts and buckets exactly; sums of seconds up to float rounding (added in another order)."""
    assert actual.keys() == expected.keys()
    for key, value in expected.items():
        if key[0].endswith("_sum"):
            assert actual[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert actual[key] == value, key


def test_retiring_workers_moves_their_samples_into_the_archive_exactly(tmp_path: Path) -> None:
    pids = [run_worker(tmp_path, n) for n in (3, 5, 7)]
    before = totals(tmp_path)
    count = (
        "leaderforge_http_request_duration_seconds_count",
        (("cache", ""), ("method", "GET"), ("route", "api-rank"), ("status", "200")),
    )
    assert before[count] == 15
    assert before[("leaderforge_rate_limited_total", (("kind", "ip"),))] == 15

    metrics_files.retire_worker(pids[0], str(tmp_path))
    assert_same(totals(tmp_path), before)
    metrics_files.retire_worker(pids[1], str(tmp_path))
    metrics_files.retire_worker(pids[2], str(tmp_path))

    assert_same(totals(tmp_path), before)
    names = sorted(p.name for p in tmp_path.glob("*.db"))
    assert names == ["counter_archive.db", "histogram_archive.db"]  # live gauges gone too

    # A later worker adds to the archive, it does not replace it.
    late = run_worker(tmp_path, 2)
    metrics_files.retire_worker(late, str(tmp_path))
    assert totals(tmp_path)[count] == 17


def test_scrapes_during_retirements_never_see_a_sample_twice_or_miss_one(tmp_path: Path) -> None:
    template = run_worker(tmp_path, 4)
    workers = 40
    for fake_pid in range(1_000_000, 1_000_000 + workers - 1):  # more dead workers, copies of one
        for kind in ("counter", "histogram"):
            shutil.copy(tmp_path / f"{kind}_{template}.db", tmp_path / f"{kind}_{fake_pid}.db")
    expected = totals(tmp_path)
    seen: list[dict] = []  # type: ignore[type-arg]
    errors: list[BaseException] = []
    done = threading.Event()

    def scrape() -> None:
        while not done.is_set():
            try:
                seen.append(totals(tmp_path))
            except BaseException as exc:  # a file vanishing mid-read would surface here
                errors.append(exc)

    readers = [threading.Thread(target=scrape) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for pid in [template, *range(1_000_000, 1_000_000 + workers - 1)]:
            metrics_files.retire_worker(pid, str(tmp_path))
    finally:
        done.set()
        for reader in readers:
            reader.join(timeout=30)

    assert errors == []
    assert len(seen) >= 2
    for snapshot in seen:
        assert_same(snapshot, expected)
    assert_same(totals(tmp_path), expected)


@pytest.mark.parametrize("kind", ["counter", "histogram"])
def test_a_worker_without_files_of_a_kind_is_retired_quietly(tmp_path: Path, kind: str) -> None:
    pid = run_worker(tmp_path, 1)
    (tmp_path / f"{kind}_{pid}.db").unlink()
    metrics_files.retire_worker(pid, str(tmp_path))
    assert not list(tmp_path.glob(f"*_{pid}.db"))
