"""Moderation with the Redis rank index serving ranks: the index follows every action at once."""

import pytest
from django.test import TestCase
from django_redis import get_redis_connection

from leaderboard import ranking, selectors, services
from leaderboard.boards import BoardPeriod
from leaderboard.ranking import redis_index, sql
from tests.factories import make_moderator, make_player, submit
from tests.redis_server import mark_redis_long_lived

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def committed(action, **kwargs):  # type: ignore[no-untyped-def]
    """Run a service and its after-commit hooks, as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return action(**kwargs)


def listing() -> list[tuple[str, int, int]]:
    board_id = selectors.get_default_board_ref().id
    assert ranking.rank_source(board_period=BoardPeriod(board_id)) == "redis"
    top = ranking.get_top(board_period=BoardPeriod(board_id), limit=10)
    assert top == sql.get_top(board_period=BoardPeriod(board_id), limit=10)
    return [(r.username, r.rank, r.total_score) for r in top.rows]


def test_the_index_follows_voids_hides_and_restores() -> None:
    get_redis_connection("default").flushdb()
    mark_redis_long_lived()
    moderator = make_moderator()
    a, b, c = make_player("a"), make_player("b"), make_player("c")
    bonus = submit(a, 50).session
    submit(a, 10)
    submit(b, 40)
    submit(c, 30)
    redis_index.rebuild(board_period=BoardPeriod(selectors.get_default_board_ref().id))
    assert listing() == [("a", 1, 60), ("b", 2, 40), ("c", 3, 30)]

    committed(services.void_session, session_id=bonus.pk, moderator=moderator, reason="hack")
    assert listing() == [("b", 1, 40), ("c", 2, 30), ("a", 3, 10)]

    committed(services.hide_player, user_id=b.pk, moderator=moderator, reason="cheat")
    assert listing() == [("c", 1, 30), ("a", 2, 10)]
    assert (
        ranking.get_standing(board_period=BoardPeriod(selectors.get_default_board_ref().id), user_id=b.pk)
        is None
    )

    committed(services.restore_player, user_id=b.pk, moderator=moderator, reason="appeal")
    committed(services.restore_session, session_id=bonus.pk, moderator=moderator, reason="legit")
    assert listing() == [("a", 1, 60), ("b", 2, 40), ("c", 3, 30)]
