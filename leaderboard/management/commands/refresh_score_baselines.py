"""Recompute what scores of each game mode usually look like (for plausibility flags)."""

from typing import Any

from django.core.management.base import BaseCommand

from leaderboard import services


class Command(BaseCommand):
    help = "Recompute each game mode's 99th-percentile score; run it daily (cron or a scheduled job)."

    def handle(self, *args: Any, **options: Any) -> None:
        for baseline in services.refresh_score_baselines():
            self.stdout.write(
                f"{baseline.game_mode}: 99th percentile {baseline.p99_score} over {baseline.sample_size} sessions"
            )
