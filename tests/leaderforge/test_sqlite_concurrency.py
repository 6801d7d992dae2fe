"""The embedded default under concurrent writes: a real server on a real SQLite file.

pytest-django's SQLite test database lives in memory, where file locking never happens, so
this test migrates a temporary database file and serves it with `runserver` (what `make run`
starts) in a subprocess, then submits from real threads over HTTP.
"""

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_process import accepts_connections, free_port, running

ROOT = Path(__file__).resolve().parents[2]
THREADS, SUBMITS_PER_THREAD = 16, 25


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[tuple[int, Path, str, int]]:
    """(port, database file, API key, player id) of a runserver on a fresh SQLite file."""
    database = tmp_path / "leaderforge.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        DEBUG="true",
        LEADERBOARD_SUBMIT_RATE_PER_PLAYER="off",
        LEADERBOARD_SUBMIT_RATE_PER_API_KEY="off",
        LEADERBOARD_READ_RATE_PER_CLIENT="off",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], env=env, check=True, timeout=120)
    setup = (
        "from leaderboard import services; from users import services as u;"
        "print('setup', u.register_player(username='racer').pk, services.create_api_key(name='t')[1])"
    )
    out = subprocess.run(
        [*manage, "shell", "-c", setup], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    _, player, key = next(line for line in out.splitlines() if line.startswith("setup ")).split()
    player_id = int(player)
    port = free_port()
    with running(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        name="runserver",
        ready=lambda: accepts_connections(port),
        seconds=30,
        interval=0.1,
        stop_seconds=10,
        env=env,
        stderr=subprocess.DEVNULL,
    ):
        yield port, database, key, player_id


def test_concurrent_submits_on_a_sqlite_file_are_all_accepted(
    sqlite_server: tuple[int, Path, str, int],
) -> None:
    port, database, key, player_id = sqlite_server
    statuses: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)
    body = json.dumps({"user_id": player_id, "score": 3})
    headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}

    def submits() -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(SUBMITS_PER_THREAD):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                conn.request("POST", "/api/leaderboard/submit", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
                conn.close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submits) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)

    assert errors == []
    total = THREADS * SUBMITS_PER_THREAD
    assert sorted(set(statuses)) == [201], {s: statuses.count(s) for s in set(statuses)}
    assert len(statuses) == total
    with sqlite3.connect(database) as db:
        entry = db.execute(
            "SELECT total_score, session_count FROM leaderboard WHERE user_id = ?", [player_id]
        ).fetchone()
        sessions = db.execute("SELECT COUNT(*) FROM game_session WHERE user_id = ?", [player_id]).fetchone()
        mode = db.execute("PRAGMA journal_mode").fetchone()
    assert entry == (3 * total, total)
    assert sessions == (total,)
    assert mode == ("wal",)
