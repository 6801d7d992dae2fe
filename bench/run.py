"""Benchmark LeaderForge the way production serves it: seeded PostgreSQL, Redis, gunicorn, driven by wrk.

    python -m bench.run              # 1M players: saturation rounds, the fixed-rate run, rank cost by size
    python -m bench.run --players 10000 --sessions 50000 --duration 3 --warmup 1 --skip-scaling
    python -m bench.run --compare    # serving configurations against each other (workers, threads, pool)

Saturation scenarios (wrk) run in --rounds interleaved rounds next to a bare DRF view served by its own
gunicorn, and are reported as medians of the rounds, as ratios to that view and to the app's /healthz.
Then a fixed offered rate of the mix (bench.loadgen, latency from each request's intended send time) and
uncached top reads (bench.probe). Figures are printed, held against the targets and written to
bench/results/; docs/PERFORMANCE.md only with --write-docs. Nothing is asserted. Every process the bench
starts is stopped when it ends, fails or is interrupted.
"""

import argparse
import json
import os
import platform
import runpy
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.report import (
    RateResult,
    ScenarioResult,
    ScenarioSummary,
    Verdict,
    format_table,
    hit_ratio,
    mark_targets,
    markdown_table,
    md_table,
    parse_rate_output,
    parse_wrk_output,
    rate_line,
    rate_tables,
    replace_marked_section,
    round_tables,
    set_ceiling_ratios,
    set_round_ratios,
    summarise_rounds,
    target_tables,
    text_table,
)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS_DIR = ROOT / "bench" / "scenarios"
RESULTS_DIR = ROOT / "bench" / "results"
PERFORMANCE_DOC = ROOT / "docs" / "PERFORMANCE.md"
APP_NAME = "leaderforge-bench"  # the bench's own PostgreSQL sessions, left out of the counts
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/leaderforge_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
BENCH_RATE_LIMITS = ("LEADERBOARD_READ_RATE_PER_CLIENT", "LEADERBOARD_SUBMIT_RATE_PER_API_KEY")
BENCH_RATE_LIMIT = "1000000/s"
GENERATOR_TIMEOUT = 900  # seconds: a fixed-rate run longer than this is stopped


@dataclass(frozen=True)
class Scenario:
    """A saturation scenario: which wrk script, against which server, with what extra settings."""

    name: str
    label: str
    script: str
    server: str = "app"  # "bare": the bare DRF view's own gunicorn
    writes: bool = False
    reads_top: bool = False  # the top cache's counters are read around it
    items_per_request: int = 1


BATCH_SIZE = 100
SCENARIO_LIST = (
    Scenario("bare", "bare DRF view", "bare", server="bare"),
    Scenario("health", "health", "health"),
    Scenario("rank", "rank", "rank"),
    Scenario("top", "top (cached)", "top", reads_top=True),
    Scenario("submit", "submit, one board", "submit", writes=True),
    Scenario("submit4", "submit, four boards", "submit", writes=True),
    Scenario("rank_weekly", "rank, weekly board", "board_rank"),
    Scenario("around_weekly", "around-me k=5, weekly board", "board_around"),
    Scenario("batch", f"batch submit x{BATCH_SIZE}", "batch", writes=True, items_per_request=BATCH_SIZE),
    Scenario("mix", "mix 70/20/10", "mix", writes=True, reads_top=True),
)
SCENARIOS = {s.name: s for s in SCENARIO_LIST}
# The bare view always runs: every ratio is against it.
CHOOSABLE = tuple(name for name in SCENARIOS if name != "bare")
# Smaller boards for the rank cost curve: (suffix of the database name, players, sessions).
SCALES = (("10k", 10_000, 50_000), ("100k", 100_000, 500_000))

# Serving configurations compared by --compare, with persistent connections; pooled connections are
# then compared against persistent ones at the fastest gthread configuration.
COMPARE_CONFIGS: tuple[tuple[str, dict[str, str]], ...] = (
    *(
        (f"sync x{n}", {"GUNICORN_WORKER_CLASS": "sync", "GUNICORN_WORKERS": str(n), "GUNICORN_THREADS": "1"})
        for n in (2, 3, 4, 5)
    ),
    *(
        (
            f"gthread {n}x4",
            {"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_WORKERS": str(n), "GUNICORN_THREADS": "4"},
        )
        for n in (2, 3, 4, 5)
    ),
)
POOL_SETTINGS = {"DATABASE_POOL": "true", "DATABASE_POOL_MIN_SIZE": "2", "DATABASE_POOL_MAX_SIZE": "4"}
PERSISTENT_SETTINGS = {"DATABASE_POOL": "false"}


class Interrupted(Exception):
    pass


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(f"stopped by signal {signum}")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- processes ------------------------------------------------------------------


class Children:
    """Processes the bench started, each in its own process group so it can be stopped whole."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[Any]] = []

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[Any], grace: float = 10.0) -> None:
        if process.poll() is None:
            self._signal(process, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(process, signal.SIGKILL)
                process.wait(timeout=5)
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.running)):
            self.stop(process)

    @staticmethod
    def _signal(process: subprocess.Popen[Any], signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signum)


# --- the database under test ------------------------------------------------------


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, application_name=APP_NAME)


def ensure_database(url: str) -> None:
    name = database_name(url)
    with connect(with_database(url, "postgres")) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            log(f"creating database {name}")
            conn.execute(f'CREATE DATABASE "{name}"')


def data_counts(url: str) -> tuple[int, int]:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT COUNT(*) FROM users WHERE NOT is_staff AND NOT is_superuser),"
            " (SELECT COUNT(*) FROM game_session)"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


@dataclass
class Players:
    """The player ids the scenarios draw from, and those without a rank (a rank lookup would be a 404)."""

    min_id: int
    max_id: int
    unranked: list[int]


def read_players(url: str) -> Players:
    with connect(url) as conn:
        board_id = global_board_id(conn)
        bounds = conn.execute(
            "SELECT MIN(id), MAX(id) FROM users WHERE NOT is_staff AND NOT is_superuser"
        ).fetchone()
        unranked = [
            row[0]
            for row in conn.execute(
                "SELECT u.id FROM users u WHERE NOT u.is_staff AND NOT u.is_superuser AND NOT EXISTS"
                " (SELECT 1 FROM leaderboard e WHERE e.board_id = %s AND e.user_id = u.id)",
                [board_id],
            )
        ]
    if bounds is None or bounds[0] is None:
        raise SystemExit("The bench database holds no players.")
    return Players(min_id=int(bounds[0]), max_id=int(bounds[1]), unranked=unranked)


def global_board_id(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT id FROM leaderboard_board WHERE slug = 'global'").fetchone()
    if row is None:
        raise SystemExit("The bench database has no global board; was it migrated?")
    return int(row[0])


@dataclass
class WriteSnapshot:
    last_session_id: int
    board_totals: dict[int, tuple[int, int]]  # per active board: sum of values, sum of session counts


def snapshot_writes(url: str) -> WriteSnapshot:
    with connect(url) as conn:
        # One statement, one snapshot.
        rows = conn.execute(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM game_session), b.id,"
            " (SELECT COALESCE(SUM(total_score), 0) FROM leaderboard e WHERE e.board_id = b.id),"
            " (SELECT COALESCE(SUM(session_count), 0) FROM leaderboard e WHERE e.board_id = b.id)"
            " FROM leaderboard_board b WHERE b.is_active"
        ).fetchall()
    if not rows:
        raise SystemExit("The bench database has no active board; was it migrated?")
    return WriteSnapshot(
        last_session_id=int(rows[0][0]), board_totals={int(r[1]): (int(r[2]), int(r[3])) for r in rows}
    )


# The session that holds a best or latest board's value, first in this order.
VALUE_SESSION_ORDER = {
    ("best", "higher"): "s.score DESC, s.played_at, s.id",
    ("best", "lower"): "s.score ASC, s.played_at, s.id",
    ("latest", "higher"): "s.played_at DESC, s.id DESC",
    ("latest", "lower"): "s.played_at DESC, s.id DESC",
}
_COUNTED = "NOT s.is_void AND NOT u.is_hidden AND (%(mode)s = '' OR s.game_mode = %(mode)s)"


def check_writes(url: str, before: WriteSnapshot) -> dict[str, Any]:
    """Per active board, for the sessions created since `before` that count towards it (not void, of a
    visible player, of the board's game mode unless it takes every mode): the board's session counts
    grew by exactly their number, a sum board's totals by exactly their points, and on a best or
    latest board every entry they touched holds the value its period's sessions give. `ok` when all hold."""
    boards = []
    with connect(url) as conn, conn.transaction():
        # One snapshot for every statement: both sides see the same committed submits.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        definitions = conn.execute(
            'SELECT id, slug, game_mode, aggregation, "order", "window", time_zone, week_start'
            " FROM leaderboard_board WHERE is_active ORDER BY id"
        ).fetchall()
        for board_id, slug, mode, aggregation, order, window, time_zone, week_start in definitions:
            if int(board_id) not in before.board_totals:
                continue
            params = {"last": before.last_session_id, "mode": mode, "board": board_id}
            row = conn.execute(
                "SELECT (SELECT COUNT(*) FROM game_session s JOIN users u ON u.id = s.user_id"
                f"   WHERE s.id > %(last)s AND {_COUNTED}),"
                " (SELECT COALESCE(SUM(s.score), 0) FROM game_session s JOIN users u ON u.id = s.user_id"
                f"   WHERE s.id > %(last)s AND {_COUNTED}),"
                " (SELECT COALESCE(SUM(total_score), 0) FROM leaderboard WHERE board_id = %(board)s),"
                " (SELECT COALESCE(SUM(session_count), 0) FROM leaderboard WHERE board_id = %(board)s)",
                params,
            ).fetchone()
            assert row is not None
            count, points, total, sessions = row
            value_before, sessions_before = before.board_totals[int(board_id)]
            check: dict[str, Any] = {
                "board": slug,
                "sessions": int(count),
                "session_count_growth": int(sessions) - sessions_before,
            }
            ok = check["sessions"] == check["session_count_growth"]
            if aggregation == "sum":
                check.update(points=int(points), board_growth=int(total) - value_before)
                ok = ok and check["points"] == check["board_growth"]
            else:
                check["entries_differing"] = _differing_values(
                    conn, params, VALUE_SESSION_ORDER[(aggregation, order)], window, time_zone, week_start
                )
                ok = ok and check["entries_differing"] == 0
            boards.append({**check, "ok": ok})
    return {
        "sessions": max((b["sessions"] for b in boards), default=0),
        "points": max((b.get("points", 0) for b in boards), default=0),
        "boards": boards,
        "ok": bool(boards) and all(b["ok"] for b in boards),
    }


def _differing_values(
    conn: psycopg.Connection[Any],
    params: dict[str, Any],
    order: str,
    window: str,
    time_zone: str,
    week_start: int,
) -> int:
    """Entries of players with new sessions, in those sessions' periods, whose value is not the one
    their period's counted sessions give."""
    from leaderboard.periods import period_sql

    def period(column: str) -> str:
        return period_sql(window=window, time_zone_param="%(tz)s", week_start_param="%(ws)s", column=column)

    row = conn.execute(
        "WITH touched AS (SELECT DISTINCT s.user_id, " + period("s.played_at") + " AS period"
        f"  FROM game_session s JOIN users u ON u.id = s.user_id WHERE s.id > %(last)s AND {_COUNTED}),"
        " expected AS (SELECT t.user_id, t.period, (SELECT s.score FROM game_session s"
        "   JOIN users u ON u.id = s.user_id"
        f"   WHERE s.user_id = t.user_id AND {_COUNTED} AND " + period("s.played_at") + " = t.period"
        f"   ORDER BY {order} LIMIT 1) AS value FROM touched t)"
        " SELECT COUNT(*) FROM expected x LEFT JOIN leaderboard e"
        "  ON e.board_id = %(board)s AND e.period = x.period AND e.user_id = x.user_id"
        " WHERE e.total_score IS DISTINCT FROM x.value",
        {**params, "tz": time_zone, "ws": week_start},
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Boards:
    """How many active boards a submit feeds: at least (with which game mode) and at most (and how)."""

    fewest_feeds: int
    fewest_mode: str
    most_feeds: int
    most_mode: str


# The seed's game modes: a submit of one of them feeds the boards of every mode and of its own.
SEEDED_MODES = ("solo", "team")


def read_boards(url: str) -> Boards:
    with connect(url) as conn:
        rows = conn.execute("SELECT game_mode FROM leaderboard_board WHERE is_active").fetchall()
    modes = [str(r[0]) for r in rows]
    every = sum(1 for m in modes if m == "")

    def feeds(mode: str) -> int:
        return every + sum(1 for m in modes if m == mode)

    candidates = sorted({m for m in modes if m} | set(SEEDED_MODES))
    fewest, most = min(candidates, key=feeds), max(candidates, key=feeds)
    return Boards(fewest_feeds=feeds(fewest), fewest_mode=fewest, most_feeds=feeds(most), most_mode=most)


# The windowed board the rank and around-me scenarios read (one of the seed's demo boards).
WINDOWED_BOARD = "weekly-best"


def read_period_players(url: str, slug: str) -> tuple[str, list[int]]:
    """The players ranked in the current period of a board (the one read now), and its key."""
    with connect(url) as conn:
        row = conn.execute(
            "SELECT e.period FROM leaderboard e JOIN leaderboard_board b ON b.id = e.board_id"
            " WHERE b.slug = %s ORDER BY e.period DESC LIMIT 1",
            [slug],
        ).fetchone()
        if row is None:
            return "", []
        ids = conn.execute(
            "SELECT e.user_id FROM leaderboard e JOIN leaderboard_board b ON b.id = e.board_id"
            " WHERE b.slug = %s AND e.period = %s",
            [slug, row[0]],
        ).fetchall()
    return str(row[0]), [int(r[0]) for r in ids]


def process_cpu(pid: int) -> tuple[int, float] | None:
    """(process group, CPU seconds used including reaped children) of a process; None if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return int(fields[2]), ticks / CLOCK_TICKS


def group_cpu(pgid: int) -> float | None:
    """CPU seconds used so far by a process group (gunicorn's master and workers)."""
    if not Path("/proc/self/stat").exists():
        return None
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (cpu := process_cpu(int(entry.name))) and cpu[0] == pgid:
            total += cpu[1]
    return total


def wait_until_idle(
    pgid: int, *, quiet_share: float = 0.05, interval: float = 0.5, limit: float = 120.0
) -> float:
    """Wait until a server's processes use under `quiet_share` of a core: an open-loop run leaves requests
    queued in gunicorn's backlog after the generator gave up on them. Returns the seconds waited."""
    began = time.monotonic()
    last = group_cpu(pgid)
    while last is not None and time.monotonic() - began < limit:
        time.sleep(interval)
        now = group_cpu(pgid)
        if now is None or now - last < quiet_share * interval:
            break
        last = now
    return time.monotonic() - began


class ResourceSampler:
    """While load runs: the app's PostgreSQL connections, and the CPU their backends use."""

    def __init__(self, url: str, interval: float = 0.2) -> None:
        self.url, self.interval = url, interval
        self.max_open = 0
        self.max_active = 0
        self._first_cpu: dict[int, float] = {}
        self._last_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with connect(self.url) as conn:
            while True:
                rows = conn.execute(
                    "SELECT pid, state FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name <> %s",
                    [APP_NAME],
                ).fetchall()
                self.max_open = max(self.max_open, len(rows))
                self.max_active = max(self.max_active, sum(1 for _, state in rows if state == "active"))
                for pid, _ in rows:
                    if cpu := process_cpu(pid):
                        self._first_cpu.setdefault(pid, cpu[1])
                        self._last_cpu[pid] = cpu[1]
                if self._stop.wait(self.interval):
                    break

    @property
    def database_cpu(self) -> float | None:
        """CPU seconds the app's database backends used while sampled (None where /proc is not readable)."""
        if not self._last_cpu:
            return None
        return sum(self._last_cpu[pid] - self._first_cpu[pid] for pid in self._last_cpu)

    def __enter__(self) -> "ResourceSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --- the app --------------------------------------------------------------------


@dataclass
class Target:
    """One database (and its Redis namespace) to serve and measure."""

    database_url: str
    redis_url: str
    players: int
    sessions: int
    boards: bool = True  # the seed's demo boards besides the global one
    namespace: str = field(init=False)

    def __post_init__(self) -> None:
        # Boards of different databases share ids: keep their Redis keys apart.
        self.namespace = database_name(self.database_url)

    def env(self, secret_key: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "leaderforge.settings",
                "DEBUG": "false",
                "SECRET_KEY": secret_key,
                "ALLOWED_HOSTS": "127.0.0.1",
                "DATABASE_URL": self.database_url,
                "REDIS_URL": self.redis_url,
                "CACHE_KEY_PREFIX": self.namespace,
                "RANK_INDEX_KEY_PREFIX": self.namespace,
                "LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # One load generator is one client with one API key: lift those limits out of reach (the
        # limiter still runs, so its cost is measured) unless the caller set them. Per-player limits stay.
        for name in BENCH_RATE_LIMITS:
            env.setdefault(name, BENCH_RATE_LIMIT)
        # Production sits behind a TLS proxy; wrk sends its X-Forwarded-Proto, so HTTPS rules apply as there.
        env.setdefault("BEHIND_TLS_PROXY", "true")
        env.update(extra or {})
        return env


def manage(target: Target, secret_key: str, *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=target.env(secret_key),
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout or ""


def available_commands(target: Target, secret_key: str) -> set[str]:
    out = manage(
        target,
        secret_key,
        "shell",
        "-c",
        "from django.core.management import get_commands; print(' '.join(get_commands()))",
        capture=True,
    )
    return set(out.split())


def prepare(target: Target, secret_key: str) -> set[str]:
    """Create, migrate and seed the database unless it already holds the data; rebuild the rank index."""
    ensure_database(target.database_url)
    # As the image build does: with DEBUG off the system checks (migrate runs them) want the manifest.
    manage(target, secret_key, "collectstatic", "--no-input", "-v", "0")
    manage(target, secret_key, "migrate", "--no-input", "-v", "0")
    players, sessions = data_counts(target.database_url)
    commands = available_commands(target, secret_key)
    name = database_name(target.database_url)
    if players == target.players and sessions >= target.sessions:
        log(f"{name} holds {players:,} players and {sessions:,} sessions: not reseeded")
        if target.boards and "rebuild_board" in commands:
            add_demo_boards(target, secret_key)
        if "rebuild_rank_index" in commands:
            log(f"rebuilding the rank index of {name}")
            manage(target, secret_key, "rebuild_rank_index")
    else:
        log(f"seeding {name}: {target.players:,} players, {target.sessions:,} sessions")
        boards = ["--demo-boards", "--follows", "5"] if target.boards and "rebuild_board" in commands else []
        manage(
            target,
            secret_key,
            "seed",
            "--users",
            str(target.players),
            "--sessions",
            str(target.sessions),
            *boards,
            "--reset",
        )
    return commands


def add_demo_boards(target: Target, secret_key: str) -> None:
    """Boards the seed would have made, created now and backfilled: the backfill at this size, timed."""
    output = manage(
        target,
        secret_key,
        "shell",
        "-v",
        "0",
        "-c",
        "from leaderboard.management.commands import seed\n"
        "from leaderboard.models import Board\n"
        "missing = [b['slug'] for b in seed.DEMO_BOARDS if not Board.objects.filter(slug=b['slug']).exists()]\n"
        "seed.create_demo_boards()\n"
        "print('created:', *missing)",
        capture=True,
    )
    created = next(line for line in output.splitlines() if line.startswith("created:")).split()[1:]
    for slug in created:
        log(f"backfilling the new board {slug} from the session log")
        started = time.monotonic()
        manage(target, secret_key, "rebuild_board", slug, "--batch", "5000")
        log(f"{slug} backfilled in {time.monotonic() - started:.0f} s")


def create_api_key(target: Target, secret_key: str, commands: set[str]) -> str:
    """A key for the submit scenarios, when the API asks for one."""
    if "create_api_key" not in commands:
        return ""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return manage(target, secret_key, "create_api_key", "--name", f"bench {stamp}", capture=True).strip()


def serving_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """What gunicorn.conf.py resolves to under this environment, plus the database connection mode."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
        env = dict(os.environ)  # with the defaults the config file sets for the app
    finally:
        os.environ.clear()
        os.environ.update(saved)
    pooled = env.get("DATABASE_POOL", "").lower() in {"1", "true", "yes", "on"}
    return {
        "worker_class": conf["worker_class"],
        "workers": conf["workers"],
        "threads": conf["threads"] if conf["worker_class"] == "gthread" else 1,
        "database": (
            f"pool (max {env.get('DATABASE_POOL_MAX_SIZE', '4')}/worker)"
            if pooled
            else f"persistent (CONN_MAX_AGE={env.get('DATABASE_CONN_MAX_AGE', '60')})"
        ),
    }


def describe(serving: Mapping[str, Any]) -> str:
    shape = f"{serving['workers']} workers"
    if serving["worker_class"] == "gthread":
        shape += f" x {serving['threads']} threads"
    return f"gunicorn {serving['worker_class']}, {shape}, database connections {serving['database']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    pgid: int  # gunicorn runs in its own process group: master and workers


@contextmanager
def serve(
    children: Children,
    target: Target,
    secret_key: str,
    extra_env: Mapping[str, str],
    log_path: Path,
    *,
    settings_module: str = "leaderforge.settings",
    health_path: str = "/healthz",
) -> Iterator[Server]:
    """Run gunicorn with production settings on a free local port; yield its base URL."""
    port = free_port()
    # As production runs (compose, Kubernetes): metrics add up across workers through this folder,
    # so their cost is in the figures and /metrics and the staff dashboard show the whole server live.
    metrics_dir = log_path.parent / f"prometheus-{port}"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    env = target.env(
        secret_key,
        {
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            **extra_env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "DJANGO_SETTINGS_MODULE": settings_module,
        },
    )
    env.pop("GUNICORN_ACCESS_LOG", None)
    with open(log_path, "ab") as log_file:
        process = children.start(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "leaderforge.wsgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process.pid)
    try:
        wait_until_healthy(server.url + health_path, process, log_path)
        yield server
    finally:
        children.stop(process, grace=float(env.get("GUNICORN_GRACEFUL_TIMEOUT", "20")) + 5)


@contextmanager
def index_worker(
    children: Children, target: Target, secret_key: str, commands: set[str], log_path: Path
) -> Iterator[None]:
    """Run the rank index worker beside gunicorn, as deployments do (it alone rebuilds the index)."""
    if "rank_index_worker" not in commands:
        yield  # an app from before the worker rebuilt in its request workers
        return
    with open(log_path, "ab") as log_file:
        process = children.start(
            [sys.executable, "manage.py", "rank_index_worker"],
            cwd=ROOT,
            env=target.env(secret_key),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        children.stop(process)


def wait_until_healthy(url: str, process: subprocess.Popen[Any], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}; see {log_path}")
        try:
            request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer {url} within 60 s; see {log_path}")


def read_cache_stats(target: Target, secret_key: str) -> dict[str, Any] | None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.probe"],
        cwd=ROOT,
        env=target.env(secret_key),
        check=True,
        text=True,
        stdout=subprocess.PIPE,
    )
    stats = json.loads(result.stdout.strip().splitlines()[-1])
    return stats if isinstance(stats, dict) else None


# --- load -----------------------------------------------------------------------


@dataclass
class Load:
    threads: int
    connections: int
    duration: int
    warmup: int


def wrk(
    children: Children, scenario: str, base_url: str, seconds: int, load: Load, env: dict[str, str]
) -> str:
    args = [
        "wrk",
        "-t",
        str(load.threads),
        "-c",
        str(load.connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "5s",
        "-s",
        str(SCENARIOS_DIR / f"{scenario}.lua"),
        base_url,
    ]
    process = children.start(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = process.communicate(timeout=seconds + 30)
    finally:
        children.stop(process)
    if process.returncode:
        raise SystemExit(f"wrk failed ({process.returncode}) on {scenario}:\n{out}")
    return out


@dataclass
class Runner:
    children: Children
    target: Target
    secret_key: str
    load: Load
    wrk_env: dict[str, str]
    track_cache: bool = True

    def scenario(
        self,
        name: str,
        server: Server,
        label: str = "",
        *,
        round_number: int = 1,
        extra_env: Mapping[str, str] | None = None,
    ) -> ScenarioResult:
        spec = SCENARIOS[name]
        env = {**self.wrk_env, **(extra_env or {})}
        # Taken before the warm-up, whose writes the check covers too.
        writes = snapshot_writes(self.target.database_url) if spec.writes else None
        if self.load.warmup:
            wrk(self.children, spec.script, server.url, self.load.warmup, self.load, env)
        track = self.track_cache and spec.reads_top
        before = read_cache_stats(self.target, self.secret_key) if track else None
        app_cpu_before = group_cpu(server.pgid)
        with ResourceSampler(self.target.database_url) as sampler:
            out = wrk(self.children, spec.script, server.url, self.load.duration, self.load, env)
        app_cpu_after = group_cpu(server.pgid)
        after = read_cache_stats(self.target, self.secret_key) if track else None
        result = parse_wrk_output(name, out)
        result.label = label or spec.label
        result.round = round_number
        result.items_per_request = spec.items_per_request
        result.pg_connections_max = sampler.max_open
        result.pg_active_max = sampler.max_active
        result.cache_hit_ratio = hit_ratio(before, after)
        if app_cpu_before is not None and app_cpu_after is not None and result.requests:
            result.app_cpu_ms = 1000 * (app_cpu_after - app_cpu_before) / result.requests
            db_cpu = sampler.database_cpu
            result.db_cpu_ms = None if db_cpu is None else 1000 * db_cpu / result.requests
        if writes is not None:
            result.write_check = check_writes(self.target.database_url, writes)
        log(
            f"round {round_number} {result.label}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.1f} ms,"
            f" {result.errors} errors"
            + (f" (statuses {result.statuses})" if result.errors else "")
            + (
                ""
                if result.write_check is None
                else f"; write check {'ok' if result.write_check['ok'] else 'MISMATCH'}"
            )
        )
        return result

    def rate(
        self,
        label: str,
        server: Server,
        args: list[str],
        *,
        module: str = "bench.loadgen",
        writes: bool = False,
    ) -> RateResult:
        """A fixed-rate run of bench.loadgen (or the uncached-top probe), with CPU, connections and checks."""
        snapshot = snapshot_writes(self.target.database_url) if writes else None
        track = self.track_cache and label == "mix"
        before = read_cache_stats(self.target, self.secret_key) if track else None
        app_cpu_before = group_cpu(server.pgid)
        with ResourceSampler(self.target.database_url) as sampler:
            out = run_generator(
                self.children,
                module,
                [*args, "--url", server.url],
                self.target.env(self.secret_key, self.wrk_env_only()),
            )
            # What the server still does for requests the generator gave up on is theirs too.
            drained = wait_until_idle(server.pgid)
        app_cpu_after = group_cpu(server.pgid)
        after = read_cache_stats(self.target, self.secret_key) if track else None
        result = parse_rate_output(label, out)
        requests = sum(e.requests for e in result.endpoints.values())
        if app_cpu_before is not None and app_cpu_after is not None and requests:
            result.app_cpu_ms = 1000 * (app_cpu_after - app_cpu_before) / requests
            db_cpu = sampler.database_cpu
            result.db_cpu_ms = None if db_cpu is None else 1000 * db_cpu / requests
        result.pg_connections_max = sampler.max_open
        result.cache_hit_ratio = hit_ratio(before, after)
        if drained >= 1:
            result.note = f"the server worked {drained:.0f} s more on requests queued when sending ended"
        if snapshot is not None:
            result.write_check = check_writes(self.target.database_url, snapshot)
        log(rate_line(result))
        return result

    def wrk_env_only(self) -> dict[str, str]:
        return {k: v for k, v in self.wrk_env.items() if k.startswith("BENCH_")}


def run_generator(children: Children, module: str, args: list[str], env: dict[str, str]) -> str:
    process = children.start(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = process.communicate(timeout=GENERATOR_TIMEOUT)
    finally:
        children.stop(process)
    if process.returncode:
        raise SystemExit(f"{module} failed ({process.returncode}):\n{out}")
    return out


def wrk_environment(players: Players, skip_file: Path, api_key: str) -> dict[str, str]:
    skip_file.write_text("".join(f"{i}\n" for i in players.unranked))
    return {
        **os.environ,
        "BENCH_MIN_ID": str(players.min_id),
        "BENCH_MAX_ID": str(players.max_id),
        "BENCH_SKIP_IDS": str(skip_file),
        "BENCH_API_KEY": api_key,
    }


# --- the runs ---------------------------------------------------------------------


def probe_batch_endpoint(base_url: str, api_key: str, player: int) -> str | None:
    """None when POST /api/v1/sessions/batch takes a one-session batch, else why the scenario cannot run."""
    body = json.dumps({"sessions": [{"user_id": player, "score": 1}]}).encode()
    headers = {"Content-Type": "application/json", "X-Forwarded-Proto": "https"}
    if api_key:
        headers["Authorization"] = f"Api-Key {api_key}"
    request = urllib.request.Request(f"{base_url}/api/v1/sessions/batch", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
            return None
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 405):
            return "n/a (no batch endpoint)"
        return f"n/a (the batch endpoint answered {exc.code} to one session)"
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return f"n/a (the batch endpoint did not answer: {exc})"


def plan_scenarios(
    args: argparse.Namespace, boards: Boards
) -> tuple[list[str], dict[str, dict[str, str]], dict[str, str]]:
    """The scenarios to run each round, their extra wrk settings, and why any asked for cannot run."""
    names = ["bare", *(n for n in CHOOSABLE if n in args.scenarios)]
    extra: dict[str, dict[str, str]] = {"batch": {"BENCH_BATCH_SIZE": str(BATCH_SIZE)}}
    unavailable: dict[str, str] = {}
    if boards.fewest_feeds != 1:
        unavailable["submit"] = f"n/a (every submit feeds at least {boards.fewest_feeds} boards)"
    else:
        extra["submit"] = {"BENCH_GAME_MODE": boards.fewest_mode}
        # The batch target is held like the one-board submit's: sessions that feed one board.
        extra["batch"]["BENCH_GAME_MODE"] = boards.fewest_mode
    if "submit4" in names:
        if boards.most_feeds >= 4:
            extra["submit4"] = {"BENCH_GAME_MODE": boards.most_mode}
        else:
            names.remove("submit4")
            unavailable["submit4"] = "n/a (needs more boards)"
    return names, extra, unavailable


def run_scenarios(
    args: argparse.Namespace, children: Children, run_dir: Path, secret_key: str
) -> dict[str, Any]:
    load = Load(args.threads, args.connections, args.duration, args.warmup)
    main = Target(args.database_url, args.redis_url, args.players, args.sessions)
    commands = prepare(main, secret_key)
    players = read_players(main.database_url)
    api_key = create_api_key(main, secret_key, commands)
    runner = Runner(
        children, main, secret_key, load, wrk_environment(players, run_dir / "unranked.txt", api_key)
    )
    serving = serving_settings(main.env(secret_key))
    log(f"serving with {describe(serving)}")
    boards = read_boards(main.database_url)
    names, extra, unavailable = plan_scenarios(args, boards)
    labels = {
        "submit": f"submit, {boards.fewest_feeds} board ({boards.fewest_mode})",
        "batch": f"batch submit x{BATCH_SIZE}, {boards.fewest_feeds} board ({boards.fewest_mode})",
    }
    if "submit4" in extra:
        labels["submit4"] = f"submit, {boards.most_feeds} boards ({boards.most_mode})"
    period, in_period = read_period_players(main.database_url, WINDOWED_BOARD)
    for name in ("rank_weekly", "around_weekly"):
        if name not in names:
            continue
        if not in_period:
            names.remove(name)
            unavailable[name] = f"n/a (no {WINDOWED_BOARD} board with players)"
            continue
        ids_file = run_dir / "period-players.txt"
        ids_file.write_text("".join(f"{i}\n" for i in in_period))
        extra[name] = {"BENCH_BOARD": WINDOWED_BOARD, "BENCH_IDS_FILE": str(ids_file)}
        labels[name] = f"{SCENARIOS[name].label} ({period}: {len(in_period):,} players)"

    results: list[ScenarioResult] = []
    rates: list[RateResult] = []
    with (
        index_worker(children, main, secret_key, commands, run_dir / "rank-index-worker.log"),
        serve(children, main, secret_key, {}, run_dir / "gunicorn.log") as server,
        serve(
            children,
            main,
            secret_key,
            {},
            run_dir / "gunicorn-bare.log",
            settings_module="bench.bare_settings",
            health_path="/bare",
        ) as bare,
    ):
        if "batch" in names and (why := probe_batch_endpoint(server.url, api_key, players.min_id)):
            names.remove("batch")
            unavailable["batch"] = why
        log(f"{args.rounds} rounds of: {', '.join(names)}")
        for round_number in range(1, args.rounds + 1):
            for name in names:
                results.append(
                    runner.scenario(
                        name,
                        bare if SCENARIOS[name].server == "bare" else server,
                        labels.get(name, ""),
                        round_number=round_number,
                        extra_env=extra.get(name),
                    )
                )
        if not args.skip_rate:
            rates = run_rates(args, runner, server, bare)
    set_round_ratios(results)
    summaries = summarise_rounds(results)

    scaling: list[dict[str, Any]] = []
    rank = next((s for s in summaries if s.name == "rank"), None)
    if not args.skip_scaling and rank is not None:
        for suffix, n_players, n_sessions in SCALES:
            small = Target(
                with_database(args.database_url, f"{database_name(args.database_url)}_{suffix}"),
                args.redis_url,
                n_players,
                n_sessions,
                boards=False,
            )
            small_commands = prepare(small, secret_key)
            small_runner = Runner(
                children,
                small,
                secret_key,
                load,
                wrk_environment(read_players(small.database_url), run_dir / f"unranked-{suffix}.txt", ""),
                track_cache=False,
            )
            with (
                index_worker(
                    children, small, secret_key, small_commands, run_dir / f"rank-index-worker-{suffix}.log"
                ),
                serve(children, small, secret_key, {}, run_dir / f"gunicorn-{suffix}.log") as small_server,
            ):
                result = small_runner.scenario("rank", small_server, label=f"rank @ {n_players:,}")
            scaling.append({"players": n_players, **result.as_dict()})
        scaling.append(
            {
                "players": args.players,
                "p50_ms": rank.median("p50_ms"),
                "p99_ms": rank.median("p99_ms"),
            }
        )

    verdicts = mark_targets(summaries, rates, unavailable=unavailable)
    return {
        "serving": serving,
        "load": vars(load),
        "rounds": args.rounds,
        "boards": vars(boards),
        "data": dict(zip(("players", "sessions"), data_counts(main.database_url), strict=True)),
        "scenarios": [s.as_dict() for s in summaries],
        "rates": [r.as_dict() for r in rates],
        "unavailable": unavailable,
        "targets": [{**vars(v), "verdict": v.mark} for v in verdicts],
        "scaling": scaling,
        "_summaries": summaries,
        "_rates": rates,
        "_verdicts": verdicts,
    }


def run_rates(args: argparse.Namespace, runner: Runner, server: Server, bare: Server) -> list[RateResult]:
    """The generator against the bare view (can it hold the rate here?), the mix, then uncached top."""
    common = ["--rate", str(args.rate), "--connections", str(args.rate_connections)]
    check_seconds = min(args.rate_duration, 5)
    rates = [
        runner.rate("generator check", bare, [*common, "--duration", str(check_seconds), "--mix", "bare=1"]),
        runner.rate(
            "mix",
            server,
            [*common, "--duration", str(args.rate_duration), "--mix", args.rate_mix],
            writes=True,
        ),
    ]
    if args.uncached_top_rate > 0:
        rates.append(
            runner.rate(
                "top uncached",
                server,
                [
                    "top-uncached",
                    "--rate",
                    str(args.uncached_top_rate),
                    "--duration",
                    str(args.uncached_top_duration),
                ],
                module="bench.probe",
            )
        )
    return rates


def compare_target(args: argparse.Namespace) -> tuple[Target, str]:
    if args.compare_players == args.players:
        return Target(args.database_url, args.redis_url, args.players, args.sessions), "1m"
    for suffix, n_players, n_sessions in SCALES:
        if n_players == args.compare_players:
            url = with_database(args.database_url, f"{database_name(args.database_url)}_{suffix}")
            return Target(url, args.redis_url, n_players, n_sessions, boards=False), suffix
    sizes = ", ".join(str(n) for _, n, _ in SCALES)
    raise SystemExit(f"--compare-players must be {sizes} or {args.players}.")


def run_compare(
    args: argparse.Namespace, children: Children, run_dir: Path, secret_key: str
) -> dict[str, Any]:
    """Health and mix under each serving configuration; best of --compare-rounds interleaved rounds."""
    load = Load(args.threads, args.connections, args.compare_duration, args.compare_warmup)
    target, suffix = compare_target(args)
    commands = prepare(target, secret_key)
    players = read_players(target.database_url)
    api_key = create_api_key(target, secret_key, commands)
    wrk_env = wrk_environment(players, run_dir / f"unranked-{suffix}.txt", api_key)
    runner = Runner(children, target, secret_key, load, wrk_env, track_cache=False)
    best: dict[str, tuple[ScenarioResult, ScenarioResult]] = {}

    def measure(label: str, extra: dict[str, str]) -> None:
        with (
            index_worker(children, target, secret_key, commands, run_dir / "rank-index-worker-compare.log"),
            serve(children, target, secret_key, extra, run_dir / "gunicorn-compare.log") as server,
        ):
            ceiling = runner.scenario("health", server, label=f"{label}: health")
            mix = runner.scenario("mix", server, label=f"{label}: mix")
        set_ceiling_ratios([ceiling, mix], ceiling)
        # Other load on the machine only ever slows a round down: keep each configuration's best.
        if label not in best or mix.rps > best[label][1].rps:
            best[label] = (ceiling, mix)

    for _ in range(args.compare_rounds):
        for label, extra in COMPARE_CONFIGS:
            measure(label, {**extra, **PERSISTENT_SETTINGS})
    gthread = [label for label, extra in COMPARE_CONFIGS if extra["GUNICORN_WORKER_CLASS"] == "gthread"]
    fastest = max(gthread, key=lambda label: best[label][1].rps)
    settings = dict(COMPARE_CONFIGS)[fastest]
    # Pooled against persistent connections back to back, at the fastest gthread shape.
    for _ in range(args.compare_rounds):
        measure(f"{fastest}, persistent (A/B)", {**settings, **PERSISTENT_SETTINGS})
        measure(f"{fastest}, pool (A/B)", {**settings, **POOL_SETTINGS})
    rows = [result for pair in best.values() for result in pair]
    return {
        "load": vars(load),
        "players": target.players,
        "rounds": args.compare_rounds,
        "compare": [r.as_dict() for r in rows],
        "_results": rows,
    }


def write_docs(section: str, content: str) -> None:
    PERFORMANCE_DOC.parent.mkdir(parents=True, exist_ok=True)
    text = PERFORMANCE_DOC.read_text() if PERFORMANCE_DOC.exists() else "# Performance\n"
    PERFORMANCE_DOC.write_text(replace_marked_section(text, section, content))
    log(f"updated the {section} section of {PERFORMANCE_DOC.relative_to(ROOT)}")


def scenario_report(outcome: dict[str, Any], started: str, markdown: bool) -> str:
    """Every figure of a run as tables: the rounds, the fixed-rate runs, and the targets."""
    table = md_table if markdown else text_table
    summaries: list[ScenarioSummary] = outcome["_summaries"]
    rates: list[RateResult] = outcome["_rates"]
    verdicts: list[Verdict] = outcome["_verdicts"]
    data, load = outcome["data"], outcome["load"]
    lines = [
        f"Run of {started}: {data['players']:,} players, {data['sessions']:,} sessions, {os.cpu_count()} CPUs;"
        f" {describe(outcome['serving'])}; wrk {load['threads']} threads x {load['connections']} connections,"
        f" {load['duration']} s per scenario after {load['warmup']} s of warm-up, {outcome['rounds']} interleaved"
        " rounds: medians (min-max) of the rounds; x bare and x health are against the bare DRF view and"
        " /healthz of the same round.",
        "",
        table(*round_tables(summaries)),
        "",
    ]
    if rates:
        lines += [
            "Fixed offered rate (bench.loadgen; latency from each request's intended send time):",
            "",
            table(*rate_tables(rates)),
            "",
            *(f"- {rate_line(r)}" for r in rates),
            "",
        ]
    lines += ["Targets:", "", table(*target_tables(verdicts))]
    for check in (c for s in summaries for c in s.write_checks):
        if not check["ok"]:
            lines += ["", f"Write check MISMATCH: {json.dumps(check)}"]
    if outcome["scaling"]:
        lines += ["", scaling_line(outcome["scaling"])]
    return "\n".join(lines)


def scaling_line(scaling: list[dict[str, Any]]) -> str:
    parts = [f"{s['players']:,} players p50 {s['p50_ms']:.1f} ms / p99 {s['p99_ms']:.1f} ms" for s in scaling]
    first, last = scaling[0], scaling[-1]
    p50_ratio = last["p50_ms"] / first["p50_ms"] if first["p50_ms"] else float("nan")
    p99_ratio = last["p99_ms"] / first["p99_ms"] if first["p99_ms"] else float("nan")
    return (
        "Rank latency by board size: "
        + "; ".join(parts)
        + f". {last['players']:,} vs {first['players']:,}: p50 x{p50_ratio:.1f}, p99 x{p99_ratio:.1f}."
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL)
    parser.add_argument("--players", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=5_000_000)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--duration", type=int, default=12, help="seconds measured per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each scenario")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=CHOOSABLE,
        default=list(CHOOSABLE),
        help="saturation scenarios (the bare DRF view always runs; submit4 and batch only where they can)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of the saturation scenarios"
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="offered req/s of the fixed-rate run")
    parser.add_argument("--rate-duration", type=float, default=30.0, help="seconds of the fixed-rate run")
    parser.add_argument("--rate-mix", default="rank=70,top=20,submit=10", help="endpoint shares of it")
    parser.add_argument("--rate-connections", type=int, default=256, help="most connections it opens")
    parser.add_argument(
        "--uncached-top-rate",
        type=float,
        default=10.0,
        help="req/s of uncached top reads, one at a time (0: skip)",
    )
    parser.add_argument("--uncached-top-duration", type=float, default=10.0)
    parser.add_argument("--skip-rate", action="store_true", help="skip the fixed-rate and uncached-top runs")
    parser.add_argument("--skip-scaling", action="store_true", help="skip rank latency at 10K/100K players")
    parser.add_argument("--compare", action="store_true", help="compare serving configurations instead")
    parser.add_argument("--compare-duration", type=int, default=8)
    parser.add_argument("--compare-warmup", type=int, default=2)
    parser.add_argument("--compare-rounds", type=int, default=2)
    parser.add_argument(
        "--compare-players",
        type=int,
        default=10_000,
        help="board size for --compare (small, so the serving stack rather than SQL ranking is measured)",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where each run's folder goes")
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help="rewrite the figures in docs/PERFORMANCE.md (off: the tree stays clean)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rounds < 1 or args.rate <= 0 or args.rate_duration <= 0:
        raise SystemExit("--rounds, --rate and --rate-duration must be positive.")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), then run again.")
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    run_dir = args.results_dir / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir.mkdir(parents=True, exist_ok=True)
    secret_key = secrets.token_urlsafe(40)
    children = Children()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupted)
    began = time.monotonic()
    try:
        if args.compare:
            outcome = run_compare(args, children, run_dir, secret_key)
            section, table = "bench-compare", markdown_table(outcome["_results"])
            summary = (
                f"Run of {started}, {os.cpu_count()} CPUs, {outcome['players']:,} players, wrk {args.threads}"
                f" threads x {args.connections} connections, {args.compare_duration} s per scenario after"
                f" {args.compare_warmup} s of warm-up, best of {args.compare_rounds} interleaved rounds;"
                f" x ceiling is against the health check of the same configuration and round.\n\n{table}"
            )
            print("\n" + format_table(outcome["_results"]))
        else:
            outcome = run_scenarios(args, children, run_dir, secret_key)
            section, summary = "bench", scenario_report(outcome, started, markdown=True)
            print("\n" + scenario_report(outcome, started, markdown=False))
    except Interrupted:
        log("interrupted; stopping what the bench started")
        return 130
    finally:
        children.stop_all()
    for key in [k for k in outcome if k.startswith("_")]:
        outcome.pop(key)
    record = {
        "started": started,
        "seconds": round(time.monotonic() - began, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **outcome,
    }
    results_file = run_dir / ("compare.json" if args.compare else "results.json")
    results_file.write_text(json.dumps(record, indent=2) + "\n")
    shown = results_file.relative_to(ROOT) if results_file.is_relative_to(ROOT) else results_file
    log(f"raw results in {shown}; took {record['seconds']:.0f} s")
    if args.write_docs:
        write_docs(section, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
