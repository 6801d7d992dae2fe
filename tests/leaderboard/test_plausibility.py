"""Improbable scores are counted and flagged for review, never silently dropped."""

import pytest
from django.test import Client

from leaderboard import selectors, services
from leaderboard.models import GameSession, LeaderboardEntry, ScoreBaseline
from leaderboard.plausibility import Baseline, flag_reason
from tests.factories import make_player, submit


@pytest.fixture(autouse=True)
def _thresholds(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_FLAG_MODE_FACTOR = 3.0
    settings.LEADERBOARD_FLAG_MIN_SAMPLE = 100
    settings.LEADERBOARD_FLAG_PLAYER_FACTOR = 10.0
    settings.LEADERBOARD_FLAG_PLAYER_MIN_SESSIONS = 5


BASELINE = Baseline(p99_score=1000, sample_size=5000)


@pytest.mark.parametrize(
    ("score", "baseline", "previous_total", "previous_count", "flagged"),
    [
        (3000, BASELINE, 0, 0, False),  # three times the p99 exactly: not over it
        (3001, BASELINE, 0, 0, True),
        (3001, Baseline(p99_score=1000, sample_size=99), 0, 0, False),  # too few sessions to judge
        (3001, None, 0, 0, False),
        (1001, None, 500, 5, True),  # average 100, over ten times it
        (1000, None, 500, 5, False),
        (1001, None, 400, 4, False),  # too short a history to judge
    ],
)
def test_flag_rules(
    score: int, baseline: Baseline | None, previous_total: int, previous_count: int, flagged: bool
) -> None:
    reason = flag_reason(
        score=score,
        game_mode="solo",
        baseline=baseline,
        previous_total=previous_total,
        previous_count=previous_count,
    )
    assert bool(reason) is flagged


@pytest.mark.django_db
def test_an_improbable_score_is_counted_and_flagged() -> None:
    player = make_player()
    for _ in range(5):
        submit(player, 100)

    submit(player, 5000)

    latest = GameSession.objects.filter(user=player).latest("id")
    assert latest.is_flagged and "player's average (100)" in latest.flag_reason
    assert not GameSession.objects.filter(user=player, is_flagged=True).exclude(pk=latest.pk).exists()
    assert LeaderboardEntry.objects.get(user=player).total_score == 5500


@pytest.mark.django_db
def test_scores_far_above_the_mode_are_flagged_once_baselines_exist() -> None:
    player = make_player()
    for score in range(1, 201):
        submit(player, score)
    assert [b.p99_score for b in services.refresh_score_baselines()] == [198]
    selectors.forget_rarely_changing()

    newcomer = make_player()
    submit(newcomer, 594)
    submit(newcomer, 595)

    flags = list(
        GameSession.objects.filter(user=newcomer).order_by("id").values_list("is_flagged", flat=True)
    )
    assert flags == [False, True]
    assert ScoreBaseline.objects.get(game_mode="solo").sample_size == 200


@pytest.mark.django_db
def test_moderators_can_list_flagged_sessions(admin_client: Client) -> None:
    player = make_player("suspicious")
    for _ in range(5):
        submit(player, 10)
    submit(player, 9999)

    response = admin_client.get("/admin/leaderboard/gamesession/?is_flagged__exact=1")

    assert response.status_code == 200
    assert b"9999" in response.content and b"player&#x27;s average" in response.content
