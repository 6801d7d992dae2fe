"""Rebuild the Redis rank index from the database and swap it in atomically."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.models import Board, LeaderboardEntry
from leaderboard.ranking import redis_index


class Command(BaseCommand):
    help = (
        "Rebuild the Redis rank index of every board (or the given ones) from the database: "
        "each board's current period, and its previous one during the archive grace time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--board", action="append", dest="boards", metavar="SLUG", help="repeatable")

    def handle(self, *args: Any, boards: list[str] | None, **options: Any) -> None:
        if not redis_index.is_enabled():
            raise CommandError("REDIS_URL is not set: ranks come from SQL and there is no index to rebuild.")
        queryset = Board.objects.order_by("id")
        if boards:
            queryset = queryset.filter(slug__in=boards)
            missing = set(boards) - set(queryset.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"Unknown board(s): {', '.join(sorted(missing))}")
        now = timezone.now()
        for board in queryset:
            for board_period in BoardRef.of(board).indexed_periods(now):
                self.rebuild_period(board, board_period)

    def rebuild_period(self, board: Board, board_period: BoardPeriod) -> None:
        started = time.monotonic()
        label = board.slug if board_period.period == "all" else f"{board.slug} {board_period.period}"
        players = LeaderboardEntry.objects.filter(board=board, period=board_period.period).count()
        with tqdm(total=players, desc=label, unit=" players", disable=None) as bar:
            try:
                count = self.rebuild(board_period, bar)
            except redis_index.RebuildInProgress as exc:
                raise CommandError(f"{exc}; try again when it has finished.") from exc
            except redis_index.RebuildRefused as exc:
                raise CommandError(f"{exc}: changes keep being lost; is Redis flapping?") from exc
            except redis_index.IndexUnavailable as exc:
                raise CommandError(f"Redis is unavailable: {exc}") from exc
        self.stdout.write(f"{label}: {count} players indexed in {time.monotonic() - started:.1f}s")

    def rebuild(self, board_period: BoardPeriod, bar: tqdm) -> int:  # type: ignore[type-arg]
        def progress(n: int) -> None:
            bar.update(n - bar.n)

        for _ in range(2):
            try:
                return redis_index.rebuild(board_period=board_period, on_progress=progress)
            except redis_index.RebuildRefused as exc:
                # A change was lost while it ran, so its snapshot may miss it: start again.
                self.stderr.write(f"{exc}; rebuilding again")
                bar.reset()
        return redis_index.rebuild(board_period=board_period, on_progress=progress)
