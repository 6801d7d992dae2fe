"""Private PostgreSQL clusters for tests that archive WAL, restore or replicate (never the shared server).

Each cluster is its own `initdb` in its own temporary directory, listening on 127.0.0.1 on a free
port. PostgreSQL refuses to run as root, so under root (as in CI) the server programs run as the
`postgres` OS user, which owns the directories. Every wait is bounded.
"""

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connections

from leaderboard import selectors
from leaderboard.api.auth import forget_verified_keys
from tests.server_process import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60
COMMAND_TIMEOUT = 120


def find_bindir() -> Path | None:
    """Where initdb, pg_ctl and pg_basebackup live: pg_config's bindir, Debian's newest version, or PATH."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    # Debian installs each major version side by side; the newest is the one to use.
    debian = sorted(
        (p for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p).parent.name.isdigit()),
        key=lambda p: int(Path(p).parent.name),
        reverse=True,
    )
    candidates.extend(Path(p) for p in debian)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / name).exists() for name in ("initdb", "pg_ctl", "postgres", "pg_basebackup")):
            return bindir
    return None


def require_bindir() -> Path:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server programs are not installed (bin/ensure-postgres-server installs them)")
    return bindir


def _as_server_user() -> list[str]:
    """The prefix that runs a server program as `postgres` when we are root."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def make_owned_dir(prefix: str) -> Path:
    """A fresh temporary directory the server user owns (root's pytest tmp_path is closed to others)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    give_to_server_user(path)
    return path


def give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for root, dirs, files in os.walk(path):
            for name in [
                root,
                *(os.path.join(root, d) for d in dirs),
                *(os.path.join(root, f) for f in files),
            ]:
                os.chown(name, user.pw_uid, user.pw_gid)


class PrivateCluster:
    """One PostgreSQL cluster: a data directory, a port, a log file."""

    def __init__(self, root: Path, name: str, *, bindir: Path | None = None) -> None:
        self.bindir = bindir or require_bindir()
        self.root = root
        self.name = name
        self.datadir = root / name
        self.logfile = root / f"{name}.log"
        self.port = free_port()

    # --- programs ----------------------------------------------------------------
    def run(self, program: str, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run a server program as the server user; raise with its output when it fails."""
        command = [*_as_server_user(), str(self.bindir / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{self.log_tail()}"
            )
        return done.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- life cycle ----------------------------------------------------------------
    def init(self, **settings: Any) -> "PrivateCluster":
        """initdb with trust authentication (it listens on 127.0.0.1 only), then append settings."""
        self.run(
            "initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"
        )
        defaults = {
            "fsync": "off",
            "shared_buffers": "32MB",
            "max_connections": 40,
            "log_min_messages": "warning",
        }
        self.configure(**{**defaults, **settings})
        return self

    def configure(self, **settings: Any) -> None:
        """Append settings to postgresql.conf (the last occurrence wins)."""
        lines = [f"{key} = {_conf_value(value)}" for key, value in settings.items()]
        conf = self.datadir / "postgresql.conf"
        self._append_as_server_user(conf, "\n".join(lines) + "\n")

    def _append_as_server_user(self, path: Path, text: str) -> None:
        with open(path, "a") as f:
            f.write(text)
        give_to_server_user(path)

    def start(self, *, timeout: int = START_TIMEOUT) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{self.root}'"
        self.run(
            "pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", str(timeout),
            "-o", options, timeout=timeout + 10,
        )  # fmt: skip

    def stop(self, *, mode: str = "fast", timeout: int = 30) -> None:
        if (self.datadir / "postmaster.pid").exists():
            self.run(
                "pg_ctl",
                "stop",
                "-D",
                str(self.datadir),
                "-m",
                mode,
                "-w",
                "-t",
                str(timeout),
                timeout=timeout + 10,
            )

    def promote(self, *, timeout: int = 30) -> None:
        self.run("pg_ctl", "promote", "-D", str(self.datadir), "-w", "-t", str(timeout), timeout=timeout + 10)

    # --- clients -------------------------------------------------------------------
    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def query(
        self, sql: str, params: Sequence[Any] = (), *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        with self.connect(dbname) as conn:
            cursor = conn.execute(sql, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def value(self, sql: str, params: Sequence[Any] = (), *, dbname: str = "postgres") -> Any:
        return self.query(sql, params, dbname=dbname)[0][0]

    def create_database(self, dbname: str) -> None:
        self.query(f'CREATE DATABASE "{dbname}"')

    # --- backups and replicas --------------------------------------------------------
    def base_backup(self, target: Path, *, replica: bool = False) -> None:
        """A plain-format base backup with the WAL it needs; `replica` also writes standby settings (-R)."""
        args = [
            "-D",
            str(target),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-X",
            "stream",
            "-c",
            "fast",
        ]
        self.run("pg_basebackup", *args, *(["-R"] if replica else []))

    def make_replica(self, name: str) -> "PrivateCluster":
        """A streaming replica of this cluster, started on a port of its own."""
        replica = PrivateCluster(self.root, name, bindir=self.bindir)
        self.base_backup(replica.datadir, replica=True)
        replica.start()
        return replica

    def wait_until(
        self, sql: str, *, dbname: str = "postgres", timeout: float = 30, params: Sequence[Any] = ()
    ) -> None:
        """Poll a query until it returns true; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.value(sql, params, dbname=dbname):
                    return
            except psycopg.OperationalError:
                pass  # still starting up
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: still false after {timeout}s: {sql}\n{self.log_tail()}")
            time.sleep(0.1)

    def wait_for_replay(self, primary: "PrivateCluster", *, timeout: float = 30) -> None:
        """Wait until this replica has replayed everything the primary has written so far."""
        lsn = primary.value("SELECT pg_current_wal_lsn()::text")
        self.wait_until("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", params=[lsn], timeout=timeout)


def _conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


@contextlib.contextmanager
def cluster_root(prefix: str) -> Iterator[Path]:
    """A temporary directory for clusters, removed afterwards (after its servers are stopped)."""
    root = make_owned_dir(prefix)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def migrate(url: str) -> None:
    """Apply the app's migrations to a database, in a process of its own (settings come from the URL)."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_REPLICA_URLS")}
    env["DATABASE_URL"] = url
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{done.stdout}\n{done.stderr}")


def database_settings(url: str, **extra: Any) -> dict[str, Any]:
    """Django settings for a database at `url`, with the options the app uses for its primary."""
    import dj_database_url

    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0, conn_health_checks=True))
    config["OPTIONS"] = {**connections.settings["default"].get("OPTIONS", {}), "connect_timeout": 3}
    config["OPTIONS"].pop("pool", None)
    config["TEST"] = {"MIRROR": "default"}
    config.update(extra)
    return config


@contextlib.contextmanager
def databases_at(aliases: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Point these connection aliases (`default` included) at other databases for a block.

    The app then reads and writes there exactly as in production: services, selectors and
    commands use the aliases by name. Connections of this thread are closed on the way in and out.
    """
    saved = {alias: connections.settings.get(alias) for alias in aliases}
    for alias in aliases:
        _drop_connection(alias)
    for alias, config in aliases.items():
        # configure_settings fills Django's defaults; it insists on a "default" key.
        connections.settings[alias] = connections.configure_settings({"default": dict(config)})["default"]
    _forget_cached_rows()
    try:
        yield
    finally:
        for alias, previous in saved.items():
            _drop_connection(alias)
            if previous is None:
                del connections.settings[alias]
            else:
                connections.settings[alias] = previous
        _forget_cached_rows()


def _drop_connection(alias: str) -> None:
    if alias in connections.settings and hasattr(connections._connections, alias):  # type: ignore[attr-defined]
        connections[alias].close()
        del connections[alias]


def _forget_cached_rows() -> None:
    # Boards and API keys are remembered per process; another database has other rows.
    selectors.forget_rarely_changing()
    forget_verified_keys()
