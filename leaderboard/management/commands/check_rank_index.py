"""Compare the Redis rank index with the database; exit non-zero on any drift."""

import random
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard import metrics, ranking
from leaderboard.models import Board, LeaderboardEntry
from leaderboard.ranking import redis_index

TOP_CHECKED = 100


class Command(BaseCommand):
    help = "Check the Redis rank index against the database (size, the top 100, a random sample)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=int, default=1000, help="random players compared per board")

    def handle(self, *args: Any, sample: int, **options: Any) -> None:
        if not redis_index.is_enabled():
            raise CommandError("REDIS_URL is not set: there is no rank index to check.")
        drift = []
        problems_by_board = {}
        for board in Board.objects.order_by("id"):
            try:
                problems = self.check_board(board, sample)
            except redis_index.IndexUnavailable as exc:
                problems = [f"index unavailable ({exc})"]
            problems_by_board[board.slug] = len(problems)
            drift += [f"{board.slug}: {problem}" for problem in problems]
        # Kept in the shared cache, so /metrics of any web process exports it (this runs from cron).
        metrics.record_index_check(problems_by_board=problems_by_board)
        for line in drift:
            self.stderr.write(line)
        if drift:
            sys.exit(1)
        self.stdout.write("The rank index matches the database.")

    def check_board(self, board: Board, sample: int) -> list[str]:
        if not redis_index.is_ready(board.id):
            return ["index is not marked complete"]
        entries = LeaderboardEntry.objects.filter(board=board)
        problems = []
        in_db, in_index = entries.count(), redis_index.count_indexed(board_id=board.id)
        if in_db != in_index:
            problems.append(f"{in_db} players in the database, {in_index} in the index")

        top_db = list(entries.order_by("-total_score").values_list("total_score", flat=True)[:TOP_CHECKED])
        top_index = [total for _, total in redis_index.read_top_ids(board_id=board.id, count=TOP_CHECKED)]
        if top_db != top_index:
            problems.append("the top totals differ")

        max_id = entries.order_by("-user_id").values_list("user_id", flat=True).first() or 0
        candidates = random.sample(range(1, max_id + 1), min(sample, max_id)) if max_id else []
        expected = {
            e["user_id"]: (e["total_score"], e["session_count"], e["username"])
            for e in entries.filter(user_id__in=candidates).values(
                "user_id", "total_score", "session_count", "username"
            )
        }
        indexed = redis_index.read_entries(board_id=board.id, user_ids=candidates)
        mismatched = [uid for uid in candidates if indexed.get(uid) != expected.get(uid)]
        if mismatched:
            problems.append(
                f"{len(mismatched)} of {len(candidates)} sampled players differ, e.g. {mismatched[:5]}"
            )
        for uid in list(expected)[:20]:
            standing = ranking.get_standing(board_id=board.id, user_id=uid)
            sql_rank = 1 + entries.filter(total_score__gt=expected[uid][0]).count()
            if standing is None or standing.rank != sql_rank:
                problems.append(
                    f"player {uid}: rank {standing and standing.rank} in the index, {sql_rank} in SQL"
                )
        return problems
