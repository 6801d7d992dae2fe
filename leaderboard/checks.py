"""System checks: settings and files the service cannot run correctly without.

They run with every management command (`migrate`, `check --deploy`, `runserver`); a deployment
runs `manage.py check --deploy` before it serves.
"""

from typing import Any

from django.conf import settings
from django.core import checks

from leaderboard.services.scores import MAX_TOTAL_SCORE


@checks.register()
def check_max_score_per_session(**kwargs: Any) -> list[checks.CheckMessage]:
    maximum = settings.LEADERBOARD_MAX_SCORE_PER_SESSION
    if isinstance(maximum, int) and 1 <= maximum <= MAX_TOTAL_SCORE:
        return []
    return [
        checks.Error(
            f"LEADERBOARD_MAX_SCORE_PER_SESSION is {maximum!r}: it must be from 1 to {MAX_TOTAL_SCORE}.",
            hint=(
                f"Totals are counted exactly up to {MAX_TOTAL_SCORE} (2**53 - 1, the rank index keeps them "
                "as doubles); a larger per-session maximum would let one session pass it. "
                "The default is 1000000."
            ),
            id="leaderboard.E001",
        )
    ]
