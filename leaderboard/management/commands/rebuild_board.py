"""Fill a board, every period, from the session log: for boards created after scores were recorded."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from leaderboard import selectors, services
from leaderboard.boards import BoardRef
from leaderboard.models import Board
from users.models import User


class Command(BaseCommand):
    help = (
        "Recount a board from every counted session, in batches of players under the locks submits take, "
        "so it is safe while scores keep arriving."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the board to fill")
        parser.add_argument("--batch", type=int, default=1000, help="players recounted per transaction")

    def handle(self, *args: Any, slug: str, batch: int, **options: Any) -> None:
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        board = Board.objects.filter(slug=slug).first()
        if board is None:
            known = ", ".join(Board.objects.order_by("slug").values_list("slug", flat=True))
            raise CommandError(f"Unknown board {slug!r}; boards: {known}.")
        started = time.monotonic()
        last_id = User.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        with tqdm(total=last_id, desc=slug, unit=" player ids", unit_scale=True, disable=None) as bar:
            changed = services.rebuild_board(
                board=BoardRef.of(board), batch=batch, on_progress=lambda done: bar.update(done - bar.n)
            )
            bar.update(last_id - bar.n)
        selectors.forget_rarely_changing()
        self.stdout.write(f"{slug}: {changed} entries written in {time.monotonic() - started:.1f}s")
