"""Totals stay inside the range every path counts exactly: BIGINT in SQL, doubles in Redis (2**53)."""

import pytest
from django.core import checks
from django.test import Client

from leaderboard import selectors
from leaderboard.models import GameSession, LeaderboardEntry
from tests.factories import make_player

pytestmark = pytest.mark.django_db

EXACT_LIMIT = 2**53 - 1  # the largest integer a double (a Redis sorted-set score) holds exactly


def _score_check_errors() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks() if m.id == "leaderboard.E001"]


@pytest.mark.parametrize("maximum", [0, -5, 2**53, 2**62, 2**63 - 1])
def test_a_max_score_setting_outside_the_exact_range_fails_the_checks(settings, maximum: int) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_MAX_SCORE_PER_SESSION = maximum
    [error] = _score_check_errors()
    assert error.level == checks.ERROR
    assert "LEADERBOARD_MAX_SCORE_PER_SESSION" in error.msg and error.hint


@pytest.mark.parametrize("maximum", [1, 1_000_000, EXACT_LIMIT])
def test_a_max_score_setting_inside_the_exact_range_passes(settings, maximum: int) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_MAX_SCORE_PER_SESSION = maximum
    assert _score_check_errors() == []


def test_a_submit_that_would_pass_the_exact_total_limit_is_refused_and_writes_nothing(
    settings, api_client: Client, client: Client
) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_MAX_SCORE_PER_SESSION = EXACT_LIMIT
    player = make_player()

    def submit(score: int):  # type: ignore[no-untyped-def]
        body = {"user_id": player.pk, "score": score}
        return api_client.post("/api/leaderboard/submit", body, content_type="application/json")

    assert submit(EXACT_LIMIT - 10).status_code == 201
    reached = submit(10)
    assert reached.status_code == 201, reached.content
    assert reached.json()["total_score"] == EXACT_LIMIT

    refused = submit(1)
    assert refused.status_code == 409, refused.content
    assert refused.json()["error"]["code"] == "total_score_limit"
    assert "9007199254740991" in refused.json()["error"]["message"]
    assert GameSession.objects.filter(user=player).count() == 2
    entry = LeaderboardEntry.objects.get(user=player, board_id=selectors.get_default_board_ref().id)
    assert (entry.total_score, entry.session_count) == (EXACT_LIMIT, 2)
    rank = client.get(f"/api/leaderboard/rank/{player.pk}").json()
    assert (rank["total_score"], rank["session_count"], rank["rank"]) == (EXACT_LIMIT, 2, 1)
    # A score of zero leaves the total as it is and is still accepted.
    assert submit(0).status_code == 201
