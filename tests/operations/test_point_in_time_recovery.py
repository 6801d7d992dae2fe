"""Point-in-time recovery: a base backup plus archived WAL gives back exactly the scores before a moment.

A private cluster archives its WAL (archive_command, as docs/operations.md sets up production);
the app's migrations and its submit service run against it. After a base backup, some scores are
submitted, the target time is taken, more scores follow; the primary is then lost. The base backup
restored with `recovery_target_time` and a `restore_command` must hold every score before the target
and none after it, with leaderboard totals to match.
"""

import shutil
import time
from datetime import datetime

import pytest
from django.db import connection

from leaderboard import services
from tests.pg_cluster import (
    PrivateCluster,
    cluster_root,
    database_settings,
    databases_at,
    give_to_server_user,
    migrate,
)
from users import services as user_services

pytestmark = pytest.mark.postgres


def archive_everything(primary: PrivateCluster, *, timeout: float = 30) -> None:
    """Close the current WAL segment and wait until the archiver has copied it."""
    segment = primary.value("SELECT pg_walfile_name(pg_current_wal_lsn())")
    primary.query("SELECT pg_switch_wal()")
    # WAL file names are fixed-width hex, so their order is the string order.
    primary.wait_until(
        "SELECT coalesce(last_archived_wal >= %s, false) FROM pg_stat_archiver",
        params=[segment],
        timeout=timeout,
    )


def test_recovery_to_a_target_time_keeps_exactly_the_scores_before_it(django_db_blocker, settings) -> None:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = ""  # the private cluster's rows stay out of the shared Redis
    with cluster_root("lf-pitr-") as root:
        archive = root / "archive"
        archive.mkdir()
        give_to_server_user(archive)
        primary = PrivateCluster(root, "primary").init(
            wal_level="replica",
            archive_mode="on",
            archive_command=f"test ! -f {archive}/%f && cp %p {archive}/%f",
            archive_timeout=300,
        )
        primary.start()
        try:
            primary.create_database("leaderforge")
            migrate(primary.url("leaderforge"))
            primary.base_backup(root / "base")
            with (
                django_db_blocker.unblock(),
                databases_at({"default": database_settings(primary.url("leaderforge"))}),
            ):
                assert connection.settings_dict["PORT"] == primary.port
                players = [user_services.register_player(username=f"pitr_{i}") for i in range(3)]
                before = [
                    services.submit_score(user_id=p.pk, score=score, game_mode="solo")
                    for p, score in zip(players * 2, [10, 20, 30, 1, 2, 3], strict=True)
                ]
                target: datetime = primary.value("SELECT clock_timestamp()")
                time.sleep(0.2)
                after = [services.submit_score(user_id=p.pk, score=1000, game_mode="solo") for p in players]
                connection.close()
            assert len(after) == 3
            archive_everything(primary)
            primary.stop(mode="immediate")  # the primary is lost

            restored = PrivateCluster(root, "restored", bindir=primary.bindir)
            shutil.copytree(root / "base", restored.datadir)
            give_to_server_user(restored.datadir)
            restored.configure(
                restore_command=f"cp {archive}/%f %p",
                recovery_target_time=target.isoformat(),
                recovery_target_action="promote",
            )
            (restored.datadir / "recovery.signal").touch()
            give_to_server_user(restored.datadir)
            restored.start()
            try:
                restored.wait_until("SELECT NOT pg_is_in_recovery()", timeout=60)
                sessions = restored.query(
                    "SELECT id, user_id, score FROM game_session ORDER BY id", dbname="leaderforge"
                )
                assert sessions == [(s.session.pk, s.session.user_id, s.session.score) for s in before]
                totals = restored.query(
                    "SELECT e.user_id, e.total_score, e.session_count FROM leaderboard e "
                    "JOIN leaderboard_board b ON b.id = e.board_id WHERE b.slug = 'global' ORDER BY e.user_id",
                    dbname="leaderforge",
                )
                assert totals == [(players[0].pk, 11, 2), (players[1].pk, 22, 2), (players[2].pk, 33, 2)]
                # The recovered cluster is a primary again: it takes new writes.
                restored.query("SELECT txid_current()", dbname="leaderforge")
            finally:
                restored.stop()
        finally:
            primary.stop()
