"""Ranking rules: competition ranks ("1224"), listing order on ties, percentile."""

import datetime as dt

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from leaderboard import ranking, selectors, services
from leaderboard.models import GameSession, LeaderboardEntry
from tests.factories import make_moderator, make_player, submit

pytestmark = pytest.mark.django_db


def test_competition_ranks_share_and_skip() -> None:
    assert ranking.competition_ranks([50, 40, 40, 10]) == [1, 2, 2, 4]
    assert ranking.competition_ranks([7, 7, 7]) == [1, 1, 1]
    assert ranking.competition_ranks([9, 8, 8], better_than_first=4) == [5, 6, 6]
    assert ranking.competition_ranks([]) == []


def test_a_window_that_starts_inside_a_tie_keeps_true_ranks() -> None:
    # [10, 9, 9, 9, 8, 8] seen from the third 9: one player better, two tied before the window.
    assert ranking.competition_ranks([9, 8, 8], better_than_first=1, tied_before=2) == [2, 5, 5]


@given(
    values=st.lists(st.integers(0, 6), min_size=1, max_size=30).map(lambda v: sorted(v, reverse=True)),
    data=st.data(),
)
def test_window_ranks_equal_one_plus_players_strictly_better(values: list[int], data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(values) - 1))
    end = data.draw(st.integers(start + 1, len(values)))
    window = values[start:end]
    first = window[0]
    better = sum(1 for v in values if v > first)

    ranks = ranking.competition_ranks(window, better_than_first=better, tied_before=start - better)

    assert ranks == [1 + sum(1 for v in values if v > mine) for mine in window]


@pytest.mark.parametrize(
    ("rank", "total", "expected"),
    [(1, 1000, 99.9), (1, 1, 0.0), (2, 4, 50.0), (4, 4, 0.0), (1, 3, 66.67), (2, 3, 33.33), (1, 0, 0.0)],
)
def test_percentile(rank: int, total: int, expected: float) -> None:
    assert ranking.percentile(rank=rank, total_players=total) == expected


def test_ties_share_a_rank_and_the_next_rank_skips() -> None:
    a, b, c, d = (make_player(n) for n in "abcd")
    submit(a, 50)
    submit(b, 40)
    submit(c, 40)
    submit(d, 10)

    ranks = {p.username: selectors.get_player_rank(user_id=p.pk).rank for p in (a, b, c, d)}  # type: ignore[union-attr]

    assert ranks == {"a": 1, "b": 2, "c": 2, "d": 4}


def test_ties_are_listed_by_who_reached_the_total_first_then_user_id() -> None:
    first, second, third = make_player(), make_player(), make_player()
    board = selectors.get_default_board()
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    # Same total; `third` reached it earliest, `first` and `second` at the same moment.
    for player, at in ((first, base), (second, base), (third, base - dt.timedelta(hours=1))):
        LeaderboardEntry.objects.create(
            board=board,
            user=player,
            username=player.username,
            total_score=100,
            session_count=1,
            last_updated=at,
        )

    rows = selectors.get_top(limit=10).rows

    assert [r.user_id for r in rows] == [third.pk, first.pk, second.pk]
    assert [r.rank for r in rows] == [1, 1, 1]


def test_a_submit_that_keeps_the_total_keeps_the_tie_position() -> None:
    early, late = make_player(), make_player()
    submit(early, 100)
    submit(late, 100)
    submit(early, 0)  # total unchanged: `early` still reached 100 first

    assert [r.user_id for r in selectors.get_top(limit=2).rows] == [early.pk, late.pk]
    assert LeaderboardEntry.objects.get(user=early).session_count == 2


def test_rank_endpoint_agrees_with_the_top_listing_for_every_player(client: Client) -> None:
    players = [make_player() for _ in range(12)]
    for i, p in enumerate(players):
        submit(p, [5, 9, 9, 1, 7, 9, 3, 3, 0, 12, 7, 9][i])

    top = client.get("/api/leaderboard/top?limit=100").json()

    assert top["total_players"] == 12
    assert [row["rank"] for row in top["top_players"]] == [1, 2, 2, 2, 2, 6, 6, 8, 9, 9, 11, 12]
    for row in top["top_players"]:
        rank = client.get(f"/api/leaderboard/rank/{row['user_id']}").json()
        assert rank["rank"] == row["rank"]
        assert rank["total_score"] == row["total_score"]
        assert rank["total_players"] == 12
        assert rank["percentile"] == ranking.percentile(rank=row["rank"], total_players=12)


def test_game_mode_boards_count_only_their_mode() -> None:
    from leaderboard.models import Board

    team_board = Board.objects.create(slug="team", name="Team", game_mode="team")
    selectors.forget_rarely_changing()
    player = make_player()
    submit(player, 10, game_mode="solo")
    submit(player, 30, game_mode="team")

    assert selectors.get_player_rank(user_id=player.pk).total_score == 40  # type: ignore[union-attr]
    team = selectors.get_player_rank(
        user_id=player.pk, board=next(b for b in selectors.list_active_boards() if b.id == team_board.id)
    )
    assert team is not None and (team.total_score, team.session_count) == (30, 1)


def test_ties_go_to_who_played_first_even_when_the_session_arrives_later() -> None:
    early, late = make_player("early"), make_player("late")
    noon = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    submit(late, 50, played_at=noon + dt.timedelta(minutes=5))
    submit(early, 50, played_at=noon)  # sent afterwards, played before

    assert [row.username for row in selectors.get_top(limit=2).rows] == ["early", "late"]
    entry = LeaderboardEntry.objects.get(user=early)
    assert entry.last_updated == noon
    session = GameSession.objects.get(user=early)
    assert session.played_at == noon


def test_a_recount_keeps_the_tie_break_a_live_submit_gave() -> None:
    player, moderator = make_player(), make_moderator()
    noon = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    submit(player, 30, played_at=noon)
    voided = submit(player, 0, played_at=noon + dt.timedelta(hours=1)).session
    live = LeaderboardEntry.objects.get(user=player).last_updated

    services.void_session(session_id=voided.pk, moderator=moderator, reason="test")

    assert LeaderboardEntry.objects.get(user=player).last_updated == live == noon
