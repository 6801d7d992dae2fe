"""Every way a committed change can miss the rank index ends with the change in the index or the
index no longer served: real commits, real threads, real processes killed, a proxy that loses replies."""

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection
from django_redis import get_redis_connection

from leaderboard import ranking, redis_client, selectors, services
from leaderboard.boards import BoardPeriod
from leaderboard.models import RankIndexDebt
from leaderboard.ranking import redis_index, sql
from leaderboard.ranking.redis_index import BoardKeys
from tests.factories import make_player, submit
from tests.tcp_proxy import TcpProxy, database_behind, shutdown

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def board_id() -> int:
    return selectors.get_default_board_ref().id


def assert_served_correctly(players) -> None:  # type: ignore[no-untyped-def]
    """Whatever path answers, it answers what the database says."""
    for player in players:
        assert ranking.get_standing(
            board_period=BoardPeriod(board_id()), user_id=player.pk
        ) == sql.get_standing(board_period=BoardPeriod(board_id()), user_id=player.pk)
    assert ranking.get_top(board_period=BoardPeriod(board_id()), limit=10) == sql.get_top(
        board_period=BoardPeriod(board_id()), limit=10
    )


def run_django(code: str, **env: str) -> subprocess.Popen[bytes]:
    """Start a separate process on the test database and Redis running `code` after django.setup()."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    from django.conf import settings

    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "RANK_INDEX_KEY_PREFIX": settings.RANK_INDEX_KEY_PREFIX,
        **env,
    }
    script = "import django, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'leaderforge.settings')\n"
    script += "django.setup()\n" + code
    return subprocess.Popen([sys.executable, "-c", script], env=environment)


def test_a_rebuild_never_swaps_in_over_a_change_lost_after_its_snapshot() -> None:
    leader, chaser = make_player(), make_player()
    submit(leader, 100)
    submit(chaser, 50)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    snapshot_read, resume = threading.Event(), threading.Event()
    original = redis_index._write_rebuild_batch
    outcome: list[object] = []

    def pause_after_snapshot(*args):  # type: ignore[no-untyped-def]
        snapshot_read.set()  # the rebuild's rows come from a snapshot taken before this write
        assert resume.wait(30)
        original(*args)

    def rebuild_in_background() -> None:
        try:
            outcome.append(redis_index.rebuild(board_period=BoardPeriod(board_id())))
        except Exception as exc:  # asserted below
            outcome.append(exc)
        finally:
            connection.close()

    redis_index._write_rebuild_batch = pause_after_snapshot  # type: ignore[assignment]
    try:
        rebuilder = threading.Thread(target=rebuild_in_background)
        rebuilder.start()
        assert snapshot_read.wait(30)
        # This worker cannot reach Redis for one submit, which commits all the same.
        redis_client._breaker.open()
        submit(chaser, 80)
        redis_client._breaker.close()
        # Its next good call marks the index incomplete, while the older rebuild is still going.
        assert ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=chaser.pk).rank == 1  # type: ignore[union-attr]
        resume.set()
        rebuilder.join(30)
    finally:
        redis_index._write_rebuild_batch = original  # type: ignore[assignment]

    assert isinstance(outcome[0], redis_index.RebuildRefused), outcome
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "sql"
    assert_served_correctly([leader, chaser])
    redis_index.rebuild(
        board_period=BoardPeriod(board_id())
    )  # a rebuild that starts after the loss is trusted
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "redis"
    assert_served_correctly([leader, chaser])


class CommitReplyDroppingProxy(TcpProxy):
    """A TCP proxy in front of PostgreSQL that, once armed, forwards a COMMIT and drops its reply."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(upstream)
        self.armed = threading.Event()
        self.dropped = threading.Event()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            committing = threading.Event()
            threading.Thread(target=self._to_server, args=(client, upstream, committing), daemon=True).start()
            threading.Thread(target=self._to_client, args=(upstream, client, committing), daemon=True).start()

    def _to_server(self, client: socket.socket, upstream: socket.socket, committing: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.armed.is_set() and b"COMMIT\x00" in data:
                    self.armed.clear()
                    committing.set()
                upstream.sendall(data)

    def _to_client(self, upstream: socket.socket, client: socket.socket, committing: threading.Event) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                if committing.is_set():
                    # PostgreSQL has committed; the client never hears it, and its connection dies.
                    self.dropped.set()
                    shutdown(client)
                    return
                client.sendall(data)


@pytest.fixture
def commit_dropping_proxy() -> Iterator[CommitReplyDroppingProxy]:
    with database_behind(CommitReplyDroppingProxy) as proxy:
        yield proxy


def test_a_commit_whose_reply_is_lost_stops_the_index_being_trusted(
    commit_dropping_proxy: CommitReplyDroppingProxy,
) -> None:
    leader, chaser = make_player(), make_player()
    submit(leader, 100)
    submit(chaser, 50)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))

    commit_dropping_proxy.armed.set()
    with pytest.raises(DatabaseError):
        services.submit_score(user_id=chaser.pk, score=80, game_mode="solo")
    assert commit_dropping_proxy.dropped.is_set()
    connection.close()

    # The client was told nothing, yet the session committed.
    assert sql.get_standing(board_period=BoardPeriod(board_id()), user_id=chaser.pk).total_score == 130  # type: ignore[union-attr]
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "sql"
    assert_served_correctly([leader, chaser])


def test_a_process_killed_between_commit_and_publish_makes_the_index_lose_ready(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RANK_INDEX_INTENT_SECONDS = 1.0
    leader, chaser = make_player(), make_player()
    submit(leader, 100)
    submit(chaser, 50)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))

    # The first after-commit callback kills the process: the index write never happens.
    process = run_django(
        "import os, signal\n"
        "from django.db import transaction\n"
        "from leaderboard import services\n"
        "with transaction.atomic():\n"
        "    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))\n"
        f"    services.submit_score(user_id={chaser.pk}, score=80, game_mode='solo')\n"
    )
    assert process.wait(30) == -signal.SIGKILL
    assert sql.get_standing(board_period=BoardPeriod(board_id()), user_id=chaser.pk).total_score == 130  # type: ignore[union-attr]

    time.sleep(settings.RANK_INDEX_INTENT_SECONDS + 0.2)
    assert_served_correctly([leader, chaser])
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "sql"
    call_command("rank_index_worker", "--once", stdout=io.StringIO())
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "redis"
    assert_served_correctly([leader, chaser])


def test_debt_left_by_an_open_breaker_in_a_process_that_exits_is_settled_by_the_worker() -> None:
    leader, chaser = make_player(), make_player()
    submit(leader, 100)
    submit(chaser, 50)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))

    process = run_django(
        "from leaderboard import redis_client, services\n"
        "redis_client._breaker.open()\n"
        f"services.submit_score(user_id={chaser.pk}, score=80, game_mode='solo')\n"
        "os._exit(0)\n"  # gone before it could tell Redis anything
    )
    assert process.wait(30) == 0
    assert RankIndexDebt.objects.filter(board_id=board_id()).count() == 1

    call_command("rank_index_worker", "--once", stdout=io.StringIO())

    assert not RankIndexDebt.objects.exists()
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "redis"
    assert_served_correctly([leader, chaser])


def test_a_dead_rebuilders_lock_frees_within_its_lease(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RANK_INDEX_LEASE_SECONDS = 2.0
    players = [make_player() for _ in range(5)]
    for player in players:
        submit(player, 10)
    keys = BoardKeys.for_period(BoardPeriod(board_id()))
    redis = get_redis_connection("default")

    # A rebuilder that stalls in its first batch, then is killed.
    process = run_django(
        "import time\n"
        "from leaderboard.boards import BoardPeriod\n"
        "from leaderboard.ranking import redis_index\n"
        "redis_index.REBUILD_BATCH = 2\n"
        "original = redis_index._write_rebuild_batch\n"
        "def stall(*args):\n"
        "    original(*args)\n"
        "    time.sleep(600)\n"
        "redis_index._write_rebuild_batch = stall\n"
        f"redis_index.rebuild(board_period=BoardPeriod({board_id()}))\n",
        RANK_INDEX_LEASE_SECONDS="2",
    )
    try:
        deadline = time.monotonic() + 30
        while not redis.exists(keys.z_next) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert redis.exists(keys.lock) and redis.exists(keys.rebuilding)
        process.kill()
        killed_at = time.monotonic()
        process.wait(10)
    finally:
        process.kill()

    while (redis.exists(keys.lock) or redis.exists(keys.rebuilding)) and time.monotonic() - killed_at < 10:
        time.sleep(0.05)
    assert time.monotonic() - killed_at <= settings.RANK_INDEX_LEASE_SECONDS + 0.5
    assert redis_index.rebuild(board_period=BoardPeriod(board_id())) == 5


def test_a_read_of_an_incomplete_index_starts_no_rebuild_in_the_serving_process(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RANK_INDEX_AUTO_REBUILD = True
    player = make_player()
    submit(player, 5)
    keys = BoardKeys.for_period(BoardPeriod(board_id()))
    threads_before = threading.active_count()

    assert ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=player.pk).rank == 1  # type: ignore[union-attr]
    time.sleep(0.3)

    # Only the rank index worker rebuilds: a serving worker keeps its one pooled connection.
    assert threading.active_count() == threads_before
    assert not get_redis_connection("default").exists(keys.lock)
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "sql"


def test_reads_answer_from_sql_while_the_worker_rebuilds_in_its_own_process() -> None:
    call_command("seed", users=20000, sessions=30000, verbosity=0)
    keys = BoardKeys.for_period(BoardPeriod(board_id()))
    redis = get_redis_connection("default")
    redis.delete(keys.ready)  # as after a loss: the worker's next pass rebuilds
    sample = list(sql.list_top_rows(board_period=BoardPeriod(board_id()), limit=50))
    timings: list[float] = []
    during_rebuild = 0

    worker = run_django(
        "from django.core.management import call_command\n"
        "from leaderboard.ranking import redis_index\n"
        "redis_index.REBUILD_BATCH = 50\n"  # many small batches: a rebuild that takes a while
        "call_command('rank_index_worker', '--once')\n"
    )
    try:
        deadline = time.monotonic() + 60
        n = 0
        while worker.poll() is None and time.monotonic() < deadline:
            user_id = sample[n % len(sample)]["user_id"]
            n += 1
            rebuilding = bool(redis.exists(keys.rebuilding))
            started = time.monotonic()
            standing = ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=user_id)
            timings.append(time.monotonic() - started)
            assert standing == sql.get_standing(board_period=BoardPeriod(board_id()), user_id=user_id)
            during_rebuild += rebuilding and bool(redis.exists(keys.rebuilding))
        assert worker.wait(60) == 0
    finally:
        worker.kill()

    assert during_rebuild > 0, "no read overlapped the rebuild"
    assert max(timings) < 0.5
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "redis"


def test_check_full_finds_a_single_drifted_entry_and_repair_fixes_it() -> None:
    players = [make_player() for _ in range(30)]
    for n, player in enumerate(players):
        submit(player, n + 1)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    keys = BoardKeys.for_period(BoardPeriod(board_id()))
    redis = get_redis_connection("default")
    call_command("check_rank_index", "--full", "--batch", "7", stdout=io.StringIO())  # matches

    drifted = players[12]
    version = int(redis.hget(keys.h, drifted.pk).split(b"|")[0])  # type: ignore[union-attr]
    redis.hset(keys.h, drifted.pk, f"{version}|999|1|{drifted.username}")
    redis.zadd(keys.z, {drifted.pk: 999})
    # The quick check samples and may miss it; the full check cannot.
    errors = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("check_rank_index", "--full", "--batch", "7", stdout=io.StringIO(), stderr=errors)
    assert f"1 players differ, e.g. [{drifted.pk}]" in errors.getvalue()

    out = io.StringIO()
    call_command("check_rank_index", "--full", "--repair", "--batch", "7", stdout=out)
    assert "1 players repaired" in out.getvalue()
    call_command("check_rank_index", "--full", stdout=io.StringIO())
    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "redis"
    assert_served_correctly(players)


def test_check_full_finds_a_player_only_the_index_knows() -> None:
    players = [make_player() for _ in range(3)]
    for player in players:
        submit(player, 5)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    keys = BoardKeys.for_period(BoardPeriod(board_id()))
    redis = get_redis_connection("default")
    ghost = 10**9
    redis.hset(keys.h, ghost, "1|50|1|ghost")
    redis.zadd(keys.z, {ghost: 50})

    errors = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("check_rank_index", "--full", stdout=io.StringIO(), stderr=errors)
    assert f"[{ghost}]" in errors.getvalue()
    call_command("check_rank_index", "--full", "--repair", stdout=io.StringIO())
    assert not redis.zscore(keys.z, ghost)
    assert_served_correctly(players)


def test_a_rebuild_on_a_redis_that_lost_its_data_waits_out_earlier_announcements(settings) -> None:  # type: ignore[no-untyped-def]
    settings.RANK_INDEX_INTENT_SECONDS = 1.0
    submit(make_player(), 5)
    get_redis_connection("default").flushdb()  # no epoch: announcements may have been lost with it

    started = time.monotonic()
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    assert time.monotonic() - started >= 1.0

    started = time.monotonic()
    redis_index.rebuild(board_period=BoardPeriod(board_id()))  # the same Redis, later: no wait
    assert time.monotonic() - started < 1.0
