"""The fixed-rate generator: its schedule, intended-time latency, percentiles, and a real run against a
local HTTP server that falls behind (the queue must show in the latency, not slow the sender)."""

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

import pytest

from bench.loadgen import Planned, Players, Record, attack, due_times, parse_mix, percentile, plan, summarise


def test_schedule_is_evenly_spaced_from_the_start() -> None:
    assert due_times(4, 1.0, start=10.0) == [10.0, 10.25, 10.5, 10.75]
    assert len(due_times(1000, 30)) == 30_000


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100

    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0  # unsorted input
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) != percentile([], 50)  # nan: nothing to say


def test_latency_runs_from_the_intended_send_time() -> None:
    # Due at 1.0, sent late at 1.3 (the generator lagged), answered at 1.35.
    record = Record("rank", intended=1.0, sent=1.3, done=1.35, status="200")

    assert record.latency == pytest.approx(0.35)
    assert record.lag == pytest.approx(0.3)
    assert record.ok
    assert not Record("rank", 0, 0, 5, "timeout").ok
    assert not Record("rank", 0, 0, 1, "404").ok


def test_a_stalled_server_shows_its_queue_in_every_request_due_during_the_stall() -> None:
    # 100 req/s; the server stalls for 0.5 s at the start, then each request takes 1 ms. A closed-loop
    # tool would time one slow request; from the intended times, the 50 due during the stall all waited.
    rate, due = 100.0, due_times(100.0, 1.0)
    stall_end = 0.5
    records = []
    for t in due:
        sent = t  # the generator kept its schedule
        start = max(t, stall_end)
        records.append(Record("rank", t, sent, start + 0.001, "200"))

    summary = summarise(records, rate=rate, duration=1.0, cpu_seconds=0.1)

    rank = summary["endpoints"]["rank"]
    # Half were due after the stall (1 ms each); the others waited 11 ms (due at 0.49 s) to 501 ms.
    assert rank["latency_ms"]["50"] == pytest.approx(1.0)
    assert rank["latency_ms"]["95"] == pytest.approx(451.0)
    assert rank["latency_ms"]["99"] == pytest.approx(491.0)
    assert rank["service_ms"]["99"] == pytest.approx(491.0)  # sent on time: the wait is the server's
    assert summary["lag_ms"]["max"] == 0.0
    assert summary["achieved_rate"] == pytest.approx(100 / 0.991, rel=1e-3)
    assert summary["generator_cpu_s"] == 0.1


def test_mix_shares_and_plan_follow_the_weights() -> None:
    assert parse_mix("rank=70,top=20,submit=10") == pytest.approx({"rank": 0.7, "top": 0.2, "submit": 0.1})
    with pytest.raises(ValueError):
        parse_mix("rank=0")

    planned = plan(parse_mix("rank=70,top=20,submit=10"), 10_000, Players(1, 50, frozenset({7})))

    counts = {name: sum(1 for p in planned if p.endpoint == name) for name in ("rank", "top", "submit")}
    assert 6700 < counts["rank"] < 7300 and 1800 < counts["top"] < 2200 and 850 < counts["submit"] < 1150
    assert all(p.path != "/api/leaderboard/rank/7" for p in planned)  # never a player without a rank
    assert {p.method for p in planned if p.endpoint == "submit"} == {"POST"}
    with pytest.raises(ValueError, match="unknown endpoints"):
        plan({"nope": 1.0}, 1, Players(1, 2, frozenset()))


class SlowHandler(BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serving(server: HTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def quick_server() -> Iterator[str]:
    handler = type("Quick", (SlowHandler,), {"delay": 0.0})
    yield from serving(ThreadingHTTPServer(("127.0.0.1", 0), handler))


@pytest.fixture
def one_at_a_time_server() -> Iterator[str]:
    # One thread, 40 ms a request: at most 25 req/s.
    handler = type("Slow", (SlowHandler,), {"delay": 0.04})
    yield from serving(HTTPServer(("127.0.0.1", 0), handler))


def run(url: str, rate: float, count: int) -> list[Record]:
    requests = [Planned("bare", "GET", "/bare")] * count
    # In a thread of its own, as in its own process: other tests (the browser's) may leave an event loop
    # running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, attack(url, requests, rate=rate, timeout=10, connections=16)).result()


def test_every_request_is_timed_from_its_own_slot_of_the_schedule(quick_server: str) -> None:
    records = sorted(run(quick_server, rate=200, count=200), key=lambda r: r.intended)

    assert [r.status for r in records] == ["200"] * 200
    start = records[0].intended
    assert [r.intended - start for r in records] == pytest.approx([i / 200 for i in range(200)])
    assert all(r.sent >= r.intended and r.done > r.sent for r in records)


def test_a_server_that_falls_behind_does_not_slow_the_sender(one_at_a_time_server: str) -> None:
    # Offered 50 req/s for 1 s to a server that does 25: the last requests wait about a second, and
    # that wait is in their latency, while the sender kept to its schedule (a closed loop would have
    # sent them late instead, and timed them from then).
    records = run(one_at_a_time_server, rate=50, count=50)

    summary = summarise(records, rate=50, duration=1.0, cpu_seconds=None)
    assert summary["endpoints"]["bare"]["statuses"] == {"200": 50}
    assert summary["endpoints"]["bare"]["latency_ms"]["99"] > 700
    assert summary["lag_ms"]["95"] < 200
    assert summary["achieved_rate"] < 30
