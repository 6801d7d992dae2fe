"""The restore drill: what `make backup` dumps, `make restore` gives back whole, ranks included.

A seeded database is dumped with bin/backup and restored with bin/restore into a fresh database;
every table's rows, every sequence and every board's ordered standings must match, and a rank index
rebuilt from the restored rows (in a private redis-server) must give every player the same rank.
"""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_py
from django.core.management import call_command
from django.db import connection

from leaderboard import ranking, services
from leaderboard.boards import BoardPeriod
from leaderboard.models import Board, GameSession, LeaderboardEntry
from leaderboard.ranking import redis_index
from tests.factories import make_moderator
from tests.pg_cluster import BASE_DIR, database_settings, databases_at
from tests.redis_server import PrivateRedis

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

STANDINGS_CHECKSUM_SQL = """
SELECT board_id, count(*), md5(string_agg(
    concat_ws('|', user_id, username, total_score, session_count, last_updated, version), ','
    ORDER BY total_score DESC, last_updated, user_id))
FROM leaderboard GROUP BY board_id ORDER BY board_id
"""


def database_url(name: str) -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER'] or 'postgres'}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def run_tool(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "BACKUP_DATABASE_URL", "RESTORE_DATABASE_URL")
    }
    return subprocess.run(
        [str(BASE_DIR / "bin" / tool), *args], capture_output=True, text=True, env=env, timeout=300
    )


def drop_database(name: str) -> None:
    with psycopg.connect(database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def restored_name() -> Iterator[str]:
    name = f"{connection.settings_dict['NAME']}_restored"
    drop_database(name)
    yield name
    drop_database(name)


def snapshot(url: str) -> dict[str, Any]:
    """Row counts of every table, sequence positions and each board's standings checksum."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
            )
        ]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}  # type: ignore[index]
        sequences: dict[str, int | None] = dict(
            conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
            ).fetchall()
        )
        standings = conn.execute(STANDINGS_CHECKSUM_SQL).fetchall()
    return {"counts": counts, "sequences": sequences, "standings": standings}


def every_standing(redis: PrivateRedis) -> dict[tuple[int, int], ranking.Standing | None]:
    """Rebuild the index from the current database into a flushed Redis and read every player's rank."""
    redis_py.Redis.from_url(redis.url).flushdb()
    redis_index.reset_state()
    call_command("rebuild_rank_index", verbosity=0)
    standings = {}
    for board in Board.objects.order_by("id"):
        assert ranking.rank_source(board_period=BoardPeriod(board.id)) == "redis"
        for user_id in LeaderboardEntry.objects.filter(board=board).values_list("user_id", flat=True):
            standings[(board.id, user_id)] = ranking.get_standing(
                board_period=BoardPeriod(board.id), user_id=user_id
            )
    return standings


def test_restore_drill_gives_back_every_row_and_every_rank(
    private_redis: PrivateRedis, restored_name: str, tmp_path: Path
) -> None:
    Board.objects.create(slug="team", name="Team games", game_mode="team")
    call_command("seed", users=400, sessions=4000, seed=7, verbosity=0)
    # Moderation state must survive too: a voided session and the recount it caused.
    voided = GameSession.objects.order_by("id").values_list("id", flat=True)[10]
    services.void_session(session_id=voided, moderator=make_moderator(), reason="restore drill")
    original_url = database_url(connection.settings_dict["NAME"])
    original = snapshot(original_url)
    assert original["counts"]["users"] == 401  # the players and the moderator
    assert original["counts"]["game_session"] == 4000
    assert len(original["standings"]) == 2  # both boards have entries
    original_ranks = every_standing(private_redis)

    dump = tmp_path / "drill.dump"
    backed_up = run_tool("backup", "--database-url", original_url, "--output", str(dump))
    assert backed_up.returncode == 0, backed_up.stderr
    restored_url = database_url(restored_name)
    restored = run_tool("restore", str(dump), "--database-url", restored_url)
    assert restored.returncode == 0, restored.stderr

    assert snapshot(restored_url) == original
    with databases_at({"default": database_settings(restored_url)}):
        assert connection.settings_dict["NAME"] == restored_name
        restored_ranks = every_standing(private_redis)
        # The restored sequences hand out fresh ids: the service writes on as before.
        last_id = GameSession.objects.order_by("-id").values_list("id", flat=True)[0]
        player_id = next(iter(original_ranks))[1]
        submitted = services.submit_score(user_id=player_id, score=5, game_mode="solo")
        assert submitted.session.pk > last_id
    assert restored_ranks == original_ranks
    assert len(restored_ranks) == sum(row[1] for row in original["standings"])


def test_restore_refuses_a_database_that_holds_tables_unless_forced(
    restored_name: str, tmp_path: Path
) -> None:
    call_command("seed", users=20, sessions=50, seed=3, verbosity=0)
    dump = tmp_path / "small.dump"
    original_url = database_url(connection.settings_dict["NAME"])
    assert run_tool("backup", "--database-url", original_url, "--output", str(dump)).returncode == 0
    target = database_url(restored_name)
    assert run_tool("restore", str(dump), "--database-url", target).returncode == 0
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("DELETE FROM game_session WHERE id IN (SELECT id FROM game_session LIMIT 10)")

    refused = run_tool("restore", str(dump), "--database-url", target)
    assert refused.returncode == 3
    assert "already holds" in refused.stderr
    assert snapshot(target)["counts"]["game_session"] == 40  # untouched

    forced = run_tool("restore", str(dump), "--database-url", target, "--force")
    assert forced.returncode == 0, forced.stderr
    assert snapshot(target) == snapshot(original_url)


def test_backup_writes_a_timestamped_custom_format_file_and_nothing_on_failure(tmp_path: Path) -> None:
    original_url = database_url(connection.settings_dict["NAME"])
    done = run_tool("backup", "--database-url", original_url, "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    written = Path(done.stdout.strip())
    assert (
        written.parent == tmp_path and written.name.startswith("leaderforge-") and written.suffix == ".dump"
    )
    assert written.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format

    failed = run_tool(
        "backup", "--database-url", database_url("no_such_database_lf"), "--dir", str(tmp_path / "x")
    )
    assert failed.returncode != 0
    assert not any((tmp_path / "x").glob("*"))
