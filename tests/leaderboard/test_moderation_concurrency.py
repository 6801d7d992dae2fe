"""Moderation racing submits on real PostgreSQL with real threads: totals always match the sessions."""

from collections.abc import Callable

import pytest
from django.db.models import Sum

from leaderboard import services
from leaderboard.models import GameSession, LeaderboardEntry
from tests.factories import make_moderator, make_player, submit
from tests.leaderboard.test_concurrency import run_in_threads

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def run_together(*works: Callable[[], None]) -> list[BaseException]:
    """Each work on its own thread, all started together; what they raised."""
    return run_in_threads(len(works), lambda index: works[index]())


def test_voiding_while_the_player_submits_keeps_the_total_equal_to_the_counted_sessions() -> None:
    moderator = make_moderator()
    player = make_player()
    sessions = [submit(player, 7).session for _ in range(20)]

    def submits() -> None:
        for _ in range(40):
            submit(player, 3)

    def voids() -> None:
        for session in sessions:
            services.void_session(session_id=session.pk, moderator=moderator, reason="race")

    assert run_together(submits, voids) == []

    entry = LeaderboardEntry.objects.get(user=player)
    counted = GameSession.objects.counted().filter(user=player)
    assert entry.total_score == counted.aggregate(total=Sum("score"))["total"] == 120
    assert entry.session_count == counted.count() == 40


def test_a_player_hidden_while_submitting_never_comes_back_on_the_board() -> None:
    moderator = make_moderator()
    player = make_player()
    submit(player, 1)

    def submits() -> None:
        for _ in range(40):
            submit(player, 1)

    def hide() -> None:
        services.hide_player(user_id=player.pk, moderator=moderator, reason="race")

    assert run_together(submits, hide) == []

    assert not LeaderboardEntry.objects.filter(user=player).exists()
    assert GameSession.objects.filter(user=player).count() == 41
