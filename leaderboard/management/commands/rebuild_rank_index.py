"""Rebuild the Redis rank index from the database and swap it in atomically."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from leaderboard.models import Board
from leaderboard.ranking import redis_index


class Command(BaseCommand):
    help = "Rebuild the Redis rank index of every board (or the given ones) from the database."

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
        for board in queryset:
            started = time.monotonic()
            with tqdm(
                total=board.entries.count(), desc=f"{board.slug}", unit=" players", disable=None
            ) as bar:
                try:
                    count = self.rebuild(board.id, bar)
                except redis_index.RebuildInProgress as exc:
                    raise CommandError(f"{exc}; try again when it has finished.") from exc
                except redis_index.RebuildRefused as exc:
                    raise CommandError(f"{exc}: changes keep being lost; is Redis flapping?") from exc
                except redis_index.IndexUnavailable as exc:
                    raise CommandError(f"Redis is unavailable: {exc}") from exc
            self.stdout.write(f"{board.slug}: {count} players indexed in {time.monotonic() - started:.1f}s")

    def rebuild(self, board_id: int, bar: tqdm) -> int:  # type: ignore[type-arg]
        for _ in range(2):
            try:
                return redis_index.rebuild(board_id=board_id, on_progress=lambda n: bar.update(n - bar.n))
            except redis_index.RebuildRefused as exc:
                # A change was lost while it ran, so its snapshot may miss it: start again.
                self.stderr.write(f"{exc}; rebuilding again")
                bar.reset()
        return redis_index.rebuild(board_id=board_id, on_progress=lambda n: bar.update(n - bar.n))
