"""manage.py rebuild_board: fills a board created after scores were recorded."""

import io

import pytest
from django.core.management import CommandError, call_command

from leaderboard import selectors, services
from tests.factories import make_player, submit

pytestmark = pytest.mark.django_db


def test_rebuild_board_fills_a_board_created_later() -> None:
    a, b = make_player("a"), make_player("b")
    submit(a, 5, game_mode="solo")
    submit(a, 9, game_mode="solo")
    submit(b, 7, game_mode="solo")
    submit(b, 1, game_mode="team")
    services.create_board(slug="solo-best", name="Solo best", game_mode="solo", aggregation="best")
    selectors.forget_rarely_changing()
    board = selectors.get_board(slug="solo-best")
    assert board is not None
    assert selectors.get_top(limit=10, board=board).rows == []

    out = io.StringIO()
    call_command("rebuild_board", "solo-best", "--batch", "1", stdout=out, stderr=io.StringIO())

    rows = selectors.get_top(limit=10, board=board).rows
    assert [(r.username, r.rank, r.total_score, r.session_count) for r in rows] == [
        ("a", 1, 9, 2),
        ("b", 2, 7, 1),
    ]
    assert "solo-best: 2 entries written" in out.getvalue()


def test_rebuild_board_names_the_boards_when_the_slug_is_unknown() -> None:
    with pytest.raises(CommandError, match="boards: global"):
        call_command("rebuild_board", "nope", stdout=io.StringIO(), stderr=io.StringIO())
