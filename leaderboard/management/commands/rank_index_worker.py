"""Keep the Redis rank index complete: the one process that rebuilds it, beside the web workers.

Web workers never rebuild: they only stop trusting a board's index (its `ready` marker goes).
This loop settles index debt, treats changes announced too long ago as lost, and rebuilds every
indexed board period whose index is not complete, on its own database connection.
"""

import logging
import signal
import time
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections

from leaderboard.boards import BoardPeriod
from leaderboard.ranking import intents, redis_index, sql

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Rebuild incomplete rank indexes, settle index debt and detect lost index writes (runs until stopped)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="one pass, then exit (for a cron job or a test)"
        )
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="seconds between passes (default RANK_INDEX_WORKER_POLL_SECONDS)",
        )
        parser.add_argument("--max-seconds", type=float, default=None, help="stop after this long")

    def handle(
        self, *args: Any, once: bool, poll: float | None, max_seconds: float | None, **options: Any
    ) -> None:
        if not redis_index.is_enabled():
            raise CommandError("REDIS_URL is not set: ranks come from SQL and there is no index to keep.")
        interval = settings.RANK_INDEX_WORKER_POLL_SECONDS if poll is None else poll
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        stopping = False

        def stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write("rank index worker: started")
        while not stopping:
            close_old_connections()  # survive a PostgreSQL restart between passes
            try:
                self.run_pass()
            except (DatabaseError, redis_index.IndexUnavailable) as exc:
                log.warning("rank index worker: pass failed (%s); retrying", exc)
            if once or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(interval)
        self.stdout.write("rank index worker: stopped")

    def run_pass(self) -> None:
        settled = intents.settle_debts()
        if settled:
            self.stdout.write(f"index debt settled on {settled} board period(s)")
        # The current period of every board, and each previous one during its archive grace time:
        # a new period starts empty and is made complete here within one pass.
        board_periods = sql.list_indexed_periods()
        complete = redis_index.sweep(board_periods=board_periods)
        if not settings.RANK_INDEX_AUTO_REBUILD:
            return
        for board_period in board_periods:
            if not complete[board_period]:
                self.rebuild(board_period)

    def rebuild(self, board_period: BoardPeriod) -> None:
        for _ in range(3):  # a loss during the rebuild refuses its swap: start again at once
            started = time.monotonic()
            try:
                count = redis_index.rebuild(board_period=board_period)
            except redis_index.RebuildInProgress:
                return  # another worker is on it
            except redis_index.RebuildRefused as exc:
                self.stdout.write(f"{board_period}: {exc}; rebuilding again")
                continue
            self.stdout.write(f"{board_period}: {count} players indexed in {time.monotonic() - started:.1f}s")
            return
