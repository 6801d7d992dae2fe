"""Compare the Redis rank index with the database; exit non-zero on any drift.

The default is a quick look (size, the top 100, a random sample); `--full` compares every entry of
every indexed board period, streamed in batches, and `--repair` rewrites the players found drifted.
"""

import random
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from leaderboard import metrics, ranking, services
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.models import Board, LeaderboardEntry
from leaderboard.ranking import audit, redis_index

TOP_CHECKED = 100


class Command(BaseCommand):
    help = "Check the Redis rank index against the database (default: size, the top 100, a random sample)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sample", type=int, default=1000, help="random players compared per board")
        parser.add_argument("--full", action="store_true", help="compare every entry of every board")
        parser.add_argument("--repair", action="store_true", help="with --full: rewrite the drifted players")
        parser.add_argument("--batch", type=int, default=2000, help="with --full: players per round trip")

    def handle(self, *args: Any, sample: int, full: bool, repair: bool, batch: int, **options: Any) -> None:
        if not redis_index.is_enabled():
            raise CommandError("REDIS_URL is not set: there is no rank index to check.")
        if repair and not full:
            raise CommandError("--repair needs --full: only a full check finds every drifted player.")
        drift = []
        problems_by_board: dict[str, int] = {}
        now = timezone.now()
        for board in Board.objects.order_by("id"):
            for board_period in BoardRef.of(board).indexed_periods(now):
                label = board.slug if board_period.period == "all" else f"{board.slug} {board_period.period}"
                try:
                    if full:
                        problems = self.check_all(label, board_period, repair, batch)
                    else:
                        problems = self.check_period(board_period, sample)
                except redis_index.IndexUnavailable as exc:
                    problems = [f"index unavailable ({exc})"]
                problems_by_board[board.slug] = problems_by_board.get(board.slug, 0) + len(problems)
                drift += [f"{label}: {problem}" for problem in problems]
        # Kept in the shared cache, so /metrics of any web process exports it (this runs from cron).
        metrics.record_index_check(problems_by_board=problems_by_board)
        for line in drift:
            self.stderr.write(line)
        if drift:
            sys.exit(1)
        self.stdout.write("The rank index matches the database.")

    def check_all(self, label: str, board_period: BoardPeriod, repair: bool, batch: int) -> list[str]:
        started = time.monotonic()
        result = audit.audit_board(board_period=board_period, batch=batch)
        self.stdout.write(
            f"{label}: {result.checked} entries compared, {result.indexed} indexed, "
            f"{len(result.drifted)} drifted, in {time.monotonic() - started:.1f}s"
        )
        problems = []
        if result.drifted and repair:
            services.repair_index_entries(board_period=board_period, user_ids=result.drifted)
            still = audit.recheck(board_period, result.drifted)
            self.stdout.write(f"{label}: {len(result.drifted) - len(still)} players repaired")
            if still:
                problems.append(f"{len(still)} players still differ after repair, e.g. {sorted(still)[:5]}")
        elif result.drifted:
            problems.append(
                f"{len(result.drifted)} players differ, e.g. {result.drifted[:5]} (--repair fixes them)"
            )
        if not redis_index.is_ready(board_period):
            problems.append("index is not marked complete (the rank index worker rebuilds it)")
        return problems

    def check_period(self, board_period: BoardPeriod, sample: int) -> list[str]:
        if not redis_index.is_ready(board_period):
            return ["index is not marked complete"]
        entries = LeaderboardEntry.objects.filter(board_id=board_period.board_id, period=board_period.period)
        problems = []
        in_db, in_index = entries.count(), redis_index.count_indexed(board_period=board_period)
        if in_db != in_index:
            problems.append(f"{in_db} players in the database, {in_index} in the index")

        top_db = list(entries.order_by("-rank_value").values_list("user_id", "rank_value")[:TOP_CHECKED])
        top_index = [
            value for _, value in redis_index.read_top_ids(board_period=board_period, count=TOP_CHECKED)
        ]
        if [value for _, value in top_db] != top_index:
            problems.append("the top values differ")

        # The top players and a random sample, compared entry by entry.
        max_id = entries.order_by("-user_id").values_list("user_id", flat=True).first() or 0
        sampled = random.sample(range(1, max_id + 1), min(sample, max_id)) if max_id else []
        candidates = sorted({*sampled, *(uid for uid, _ in top_db)})
        rows = entries.filter(user_id__in=candidates).values(
            "user_id", "total_score", "session_count", "username", "rank_value"
        )
        expected = {e["user_id"]: (e["total_score"], e["session_count"], e["username"]) for e in rows}
        rank_values = {e["user_id"]: e["rank_value"] for e in rows}
        indexed, _ = redis_index.read_entries(board_period=board_period, user_ids=candidates)
        mismatched = [uid for uid in candidates if indexed.get(uid) != expected.get(uid)]
        if mismatched:
            problems.append(
                f"{len(mismatched)} of {len(candidates)} top and sampled players differ, e.g. {mismatched[:5]}"
            )
        for uid in list(expected)[:20]:
            standing = ranking.get_standing(board_period=board_period, user_id=uid)
            sql_rank = 1 + entries.filter(rank_value__gt=rank_values[uid]).count()
            if standing is None or standing.rank != sql_rank:
                problems.append(
                    f"player {uid}: rank {standing and standing.rank} in the index, {sql_rank} in SQL"
                )
        return problems
