"""An open-loop load generator: requests at a fixed offered rate, each timed from its intended send time.

    python -m bench.loadgen --url http://127.0.0.1:8000 --rate 1000 --duration 30 --mix rank=70,top=20,submit=10

Request i is due at start + i/rate whatever happened to the ones before it, and its latency runs from
that due time to the end of its response. A server that falls behind therefore shows its whole queue in
the percentiles instead of slowing the generator down (no coordinated omission, as in wrk2). Requests
wait for one of at most --connections connections; that wait is part of the latency too. The generator's
own lag (how late it sent a request) and CPU time are reported, so a run where it could not keep up is
visible. Prints one BENCH_RATE_JSON line; bench/report.py reads it.

Players and the API key come from the environment, as for the wrk scenarios: BENCH_MIN_ID, BENCH_MAX_ID,
BENCH_SKIP_IDS (a file of ids without a rank), BENCH_API_KEY.
"""

import argparse
import asyncio
import json
import math
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

RATE_MARKER = "BENCH_RATE_JSON "
PERCENTILES = (50, 95, 99)
HEADERS = {"X-Forwarded-Proto": "https"}  # as the TLS proxy in front of the app would say


@dataclass(frozen=True)
class Planned:
    endpoint: str
    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True)
class Record:
    """One request's times on the generator's monotonic clock, in seconds, and its outcome."""

    endpoint: str
    intended: float
    sent: float
    done: float
    status: str  # the HTTP status, or "timeout" / "error" when no response came

    @property
    def latency(self) -> float:
        """From when the request was due, not when it went out: queueing anywhere counts."""
        return self.done - self.intended

    @property
    def lag(self) -> float:
        return self.sent - self.intended

    @property
    def ok(self) -> bool:
        return self.status.isdigit() and 200 <= int(self.status) < 300


def due_times(rate: float, duration: float, start: float = 0.0) -> list[float]:
    """When each request of a constant-rate schedule is due."""
    return [start + i / rate for i in range(int(rate * duration))]


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (the smallest value with at least p% of the values at or below it)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _ms(values: Sequence[float]) -> dict[str, float]:
    figures = {str(p): round(1000 * percentile(values, p), 3) for p in PERCENTILES}
    figures["max"] = round(1000 * max(values), 3) if values else math.nan
    return figures


def summarise(
    records: Iterable[Record], *, rate: float, duration: float, cpu_seconds: float | None
) -> dict[str, Any]:
    """Per-endpoint counts and intended-time latency percentiles, the achieved rate and the generator lag."""
    records = list(records)
    endpoints: dict[str, dict[str, Any]] = {}
    for name in sorted({r.endpoint for r in records}):
        mine = [r for r in records if r.endpoint == name]
        statuses: dict[str, int] = {}
        for r in mine:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        endpoints[name] = {
            "requests": len(mine),
            "statuses": statuses,
            "errors": sum(1 for r in mine if not r.ok),
            "latency_ms": _ms([r.latency for r in mine]),
            "service_ms": _ms([r.done - r.sent for r in mine]),
        }
    answered = [r for r in records if r.status.isdigit()]
    first_due = min((r.intended for r in records), default=0.0)
    last_done = max((r.done for r in records), default=0.0)
    sends = sorted(r.sent for r in records)
    return {
        "offered_rate": rate,
        "duration_s": duration,
        "requests": len(records),
        # Responses per second from the first due time to the last response: below the offered rate
        # when the server (or the generator) could not keep up.
        "achieved_rate": round(len(answered) / (last_done - first_due), 1) if last_done > first_due else 0.0,
        "sent_rate": round((len(sends) - 1) / (sends[-1] - sends[0]), 1) if len(sends) > 1 else 0.0,
        "lag_ms": _ms([r.lag for r in records]),
        "generator_cpu_s": None if cpu_seconds is None else round(cpu_seconds, 3),
        "endpoints": endpoints,
    }


# --- what to send -----------------------------------------------------------------


@dataclass(frozen=True)
class Players:
    min_id: int
    max_id: int
    unranked: frozenset[int]

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> "Players":
        skip_file = env.get("BENCH_SKIP_IDS", "")
        unranked: frozenset[int] = frozenset()
        if skip_file:
            with open(skip_file) as lines:
                unranked = frozenset(int(line) for line in lines if line.strip())
        return cls(int(env.get("BENCH_MIN_ID", "1")), int(env.get("BENCH_MAX_ID", "1")), unranked)

    def ranked(self, rng: random.Random) -> int:
        while (player := rng.randint(self.min_id, self.max_id)) in self.unranked:
            pass
        return player


def request_makers(players: Players, rng: random.Random) -> dict[str, Callable[[], Planned]]:
    def submit() -> Planned:
        body = {"user_id": rng.randint(players.min_id, players.max_id), "score": rng.randint(1, 10_000)}
        return Planned("submit", "POST", "/api/leaderboard/submit", json.dumps(body).encode())

    return {
        "rank": lambda: Planned("rank", "GET", f"/api/leaderboard/rank/{players.ranked(rng)}"),
        "top": lambda: Planned("top", "GET", "/api/leaderboard/top?limit=10"),
        "submit": submit,
        "health": lambda: Planned("health", "GET", "/healthz"),
        "bare": lambda: Planned("bare", "GET", "/bare"),
    }


def parse_mix(text: str) -> dict[str, float]:
    """`rank=70,top=20,submit=10` -> shares summing to 1."""
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        weights[name.strip()] = float(weight or 1)
    total = sum(weights.values())
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError(f"bad mix {text!r}")
    return {name: w / total for name, w in weights.items()}


def plan(mix: Mapping[str, float], count: int, players: Players, seed: int = 1) -> list[Planned]:
    """The requests to send, drawn up front so the timed loop does nothing but send."""
    rng = random.Random(seed)
    makers = request_makers(players, rng)
    unknown = set(mix) - set(makers)
    if unknown:
        raise ValueError(f"unknown endpoints {sorted(unknown)}; known: {sorted(makers)}")
    names, weights = list(mix), list(mix.values())
    return [makers[name]() for name in rng.choices(names, weights, k=count)]


# --- sending ----------------------------------------------------------------------


async def attack(
    base_url: str,
    requests: Sequence[Planned],
    *,
    rate: float,
    timeout: float,
    connections: int,
    api_key: str = "",
) -> list[Record]:
    loop = asyncio.get_running_loop()
    records: list[Record] = []
    headers = dict(HEADERS)
    submit_headers = {"Content-Type": "application/json"}
    if api_key:
        submit_headers["Authorization"] = f"Api-Key {api_key}"

    async def send(session: aiohttp.ClientSession, planned: Planned, intended: float) -> None:
        sent = time.monotonic()
        try:
            async with session.request(
                planned.method,
                planned.path,
                data=planned.body,
                headers=submit_headers if planned.body is not None else None,
            ) as response:
                await response.read()
                status = str(response.status)
        except TimeoutError:
            status = "timeout"
        except aiohttp.ClientError:
            status = "error"
        records.append(Record(planned.endpoint, intended, sent, time.monotonic(), status))

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(
        base_url=base_url,
        connector=connector,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as session:
        # The event loop's own clock may tick in whole milliseconds (uvloop's does): time with monotonic().
        start = time.monotonic() + 0.1
        pending: set[asyncio.Task[None]] = set()
        for i, planned in enumerate(requests):
            intended = start + i / rate
            wait = intended - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            task = loop.create_task(send(session, planned, intended))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending)
    return records


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return None


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="the server's base URL")
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second offered")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--mix", default="rank=70,top=20,submit=10")
    parser.add_argument("--connections", type=int, default=256, help="most connections open at once")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds before a request counts as lost")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="event loop (uvloop: less CPU per request)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        raise SystemExit("--rate and --duration must be positive")
    requests = plan(
        parse_mix(args.mix), int(args.rate * args.duration), Players.from_environment(os.environ), args.seed
    )
    cpu_before = cpu_seconds()
    with asyncio.Runner(loop_factory=event_loop_factory(args.loop)) as runner:
        records = runner.run(
            attack(
                args.url,
                requests,
                rate=args.rate,
                timeout=args.timeout,
                connections=args.connections,
                api_key=os.environ.get("BENCH_API_KEY", ""),
            )
        )
    summary = summarise(
        records, rate=args.rate, duration=args.duration, cpu_seconds=cpu_seconds() - cpu_before
    )
    print(RATE_MARKER + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
