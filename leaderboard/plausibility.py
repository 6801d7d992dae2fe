"""Is a valid score also a believable one? Pure rules; thresholds come from settings.

A score far above what its game mode usually sees, or far above the player's own average,
is still counted (it may be a great game) but flagged for a moderator to review.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Baseline:
    p99_score: int
    sample_size: int


def flag_reason(
    *, score: int, game_mode: str, baseline: Baseline | None, previous_total: int, previous_count: int
) -> str:
    """Why this score deserves a look, or "" when it is unremarkable."""
    reasons = []
    mode_factor = settings.LEADERBOARD_FLAG_MODE_FACTOR
    if (
        baseline is not None
        and baseline.sample_size >= settings.LEADERBOARD_FLAG_MIN_SAMPLE
        and score > mode_factor * baseline.p99_score
    ):
        reasons.append(f"over {mode_factor:g}x the 99th percentile of {game_mode} ({baseline.p99_score})")
    player_factor = settings.LEADERBOARD_FLAG_PLAYER_FACTOR
    if previous_count >= settings.LEADERBOARD_FLAG_PLAYER_MIN_SESSIONS:
        average = previous_total / previous_count
        if score > player_factor * max(average, 1):
            reasons.append(f"over {player_factor:g}x the player's average ({average:.0f})")
    return "; ".join(reasons)
