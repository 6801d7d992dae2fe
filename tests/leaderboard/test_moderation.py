"""Moderation services: voiding sessions and hiding players change totals and ranks exactly."""

import pytest
from django.test import Client

from leaderboard import ranking, selectors, services
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.errors import ModerationError
from leaderboard.models import Board, GameSession, LeaderboardEntry, ModerationLog
from tests.factories import make_moderator, make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db


def standings() -> list[tuple[str, int, int]]:
    return [(r.username, r.rank, r.total_score) for r in selectors.get_top(limit=100).rows]


def test_voiding_a_session_changes_totals_and_ranks_exactly() -> None:
    moderator = make_moderator()
    a, b, c = make_player("a"), make_player("b"), make_player("c")
    submit(a, 100)
    bonus = submit(a, 50).session
    submit(b, 120)
    submit(c, 90)
    assert standings() == [("a", 1, 150), ("b", 2, 120), ("c", 3, 90)]

    services.void_session(session_id=bonus.pk, moderator=moderator, reason="impossible score")

    assert standings() == [("b", 1, 120), ("a", 2, 100), ("c", 3, 90)]
    entry = LeaderboardEntry.objects.get(user=a)
    assert (entry.total_score, entry.session_count) == (100, 1)
    assert GameSession.objects.get(pk=bonus.pk).is_void

    services.restore_session(session_id=bonus.pk, moderator=moderator, reason="score was genuine")

    assert standings() == [("a", 1, 150), ("b", 2, 120), ("c", 3, 90)]
    entry = LeaderboardEntry.objects.get(user=a)
    assert (entry.total_score, entry.session_count) == (150, 2)


def test_voiding_a_players_only_session_removes_them_until_restored() -> None:
    moderator = make_moderator()
    a, b, c = make_player("a"), make_player("b"), make_player("c")
    submit(a, 30)
    only = submit(b, 20).session
    submit(c, 10)

    services.void_session(session_id=only.pk, moderator=moderator, reason="bot")

    assert standings() == [("a", 1, 30), ("c", 2, 10)]
    assert not LeaderboardEntry.objects.filter(user=b).exists()
    assert selectors.get_player_rank(user_id=c.pk).total_players == 2  # type: ignore[union-attr]

    services.restore_session(session_id=only.pk, moderator=moderator, reason="appeal accepted")

    assert standings() == [("a", 1, 30), ("b", 2, 20), ("c", 3, 10)]


def test_voiding_recounts_every_board_the_session_counted_on() -> None:
    moderator = make_moderator()
    team_board = Board.objects.create(slug="team", name="Team", game_mode="team")
    selectors.forget_rarely_changing()
    player = make_player()
    submit(player, 10, game_mode="solo")
    team_game = submit(player, 40, game_mode="team").session
    assert LeaderboardEntry.objects.get(user=player, board=team_board).total_score == 40

    services.void_session(session_id=team_game.pk, moderator=moderator, reason="exploit")

    assert LeaderboardEntry.objects.get(user=player, board=selectors.get_default_board()).total_score == 10
    assert not LeaderboardEntry.objects.filter(user=player, board=team_board).exists()


def test_hiding_a_player_moves_everyone_below_up_by_one_and_restoring_undoes_it() -> None:
    moderator = make_moderator()
    players = [make_player(name) for name in ["p1", "p2", "p3", "p4", "p5"]]
    for score, player in zip([50, 40, 30, 30, 10], players, strict=True):
        submit(player, score)
    before = standings()
    assert before == [("p1", 1, 50), ("p2", 2, 40), ("p3", 3, 30), ("p4", 3, 30), ("p5", 5, 10)]

    services.hide_player(user_id=players[1].pk, moderator=moderator, reason="aimbot")

    assert standings() == [("p1", 1, 50), ("p3", 2, 30), ("p4", 2, 30), ("p5", 4, 10)]
    assert selectors.get_player_rank(user_id=players[1].pk) is None
    assert User.objects.get(pk=players[1].pk).is_hidden
    assert GameSession.objects.filter(user=players[1]).count() == 1  # the history stays

    services.restore_player(user_id=players[1].pk, moderator=moderator, reason="cleared on appeal")

    assert standings() == before
    assert not User.objects.get(pk=players[1].pk).is_hidden


def test_restoring_a_player_keeps_who_reached_a_tied_total_first() -> None:
    moderator = make_moderator()
    first, second = make_player("first"), make_player("second")
    submit(first, 30)
    submit(second, 30)

    services.hide_player(user_id=first.pk, moderator=moderator, reason="check")
    services.restore_player(user_id=first.pk, moderator=moderator, reason="fine")

    assert standings() == [("first", 1, 30), ("second", 1, 30)]


def test_a_hidden_players_sessions_are_recorded_but_not_ranked(api_client: Client) -> None:
    moderator = make_moderator()
    leader, cheater, other = make_player("leader"), make_player("cheater"), make_player("other")
    submit(leader, 100)
    submit(cheater, 5)
    submit(other, 50)
    services.hide_player(user_id=cheater.pk, moderator=moderator, reason="wallhack")

    response = api_client.post(
        "/api/leaderboard/submit", {"user_id": cheater.pk, "score": 70}, content_type="application/json"
    )

    assert response.status_code == 201
    body = response.json()
    # The place their counted total (75) would earn among the 2 listed players plus them.
    assert (body["total_score"], body["session_count"]) == (75, 2)
    assert (body["rank"], body["total_players"], body["percentile"]) == (2, 3, 33.33)
    assert GameSession.objects.filter(user=cheater).count() == 2
    assert standings() == [("leader", 1, 100), ("other", 2, 50)]
    assert api_client.get(f"/api/leaderboard/rank/{cheater.pk}").status_code == 404

    services.restore_player(user_id=cheater.pk, moderator=moderator, reason="false positive")

    assert standings() == [("leader", 1, 100), ("cheater", 2, 75), ("other", 3, 50)]


def test_the_lowest_hidden_player_gets_a_percentile_within_range(api_client: Client) -> None:
    moderator = make_moderator()
    submit(make_player(), 100)
    cheater = make_player()
    services.hide_player(user_id=cheater.pk, moderator=moderator, reason="smurf")

    response = api_client.post(
        "/api/leaderboard/submit", {"user_id": cheater.pk, "score": 1}, content_type="application/json"
    )

    assert response.status_code == 201
    assert (response.json()["rank"], response.json()["percentile"]) == (2, 0.0)


def test_every_action_is_logged_with_who_what_why_and_target() -> None:
    moderator = make_moderator()
    player = make_player()
    session = submit(player, 10).session

    services.void_session(session_id=session.pk, moderator=moderator, reason="r1")
    services.restore_session(session_id=session.pk, moderator=moderator, reason="r2")
    services.hide_player(user_id=player.pk, moderator=moderator, reason="r3")
    services.restore_player(user_id=player.pk, moderator=moderator, reason="r4")

    logged = list(
        ModerationLog.objects.order_by("id").values_list(
            "moderator_id", "action", "target_user_id", "session_id", "reason"
        )
    )
    assert logged == [
        (moderator.pk, "void_session", player.pk, session.pk, "r1"),
        (moderator.pk, "restore_session", player.pk, session.pk, "r2"),
        (moderator.pk, "hide_player", player.pk, None, "r3"),
        (moderator.pk, "restore_player", player.pk, None, "r4"),
    ]
    assert all(log.created_at for log in ModerationLog.objects.all())


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_action_without_a_reason_changes_nothing(reason: str) -> None:
    moderator = make_moderator()
    player = make_player()
    session = submit(player, 10).session

    with pytest.raises(ModerationError):
        services.void_session(session_id=session.pk, moderator=moderator, reason=reason)
    with pytest.raises(ModerationError):
        services.hide_player(user_id=player.pk, moderator=moderator, reason=reason)

    assert not GameSession.objects.get(pk=session.pk).is_void
    assert not User.objects.get(pk=player.pk).is_hidden
    assert LeaderboardEntry.objects.get(user=player).total_score == 10
    assert not ModerationLog.objects.exists()


def test_repeating_an_action_is_refused_and_not_logged_twice() -> None:
    moderator = make_moderator()
    player = make_player()
    session = submit(player, 10).session
    services.void_session(session_id=session.pk, moderator=moderator, reason="once")
    services.hide_player(user_id=player.pk, moderator=moderator, reason="once")

    with pytest.raises(ModerationError):
        services.void_session(session_id=session.pk, moderator=moderator, reason="twice")
    with pytest.raises(ModerationError):
        services.restore_session(session_id=session.pk + 1000, moderator=moderator, reason="no such session")
    with pytest.raises(ModerationError):
        services.hide_player(user_id=player.pk, moderator=moderator, reason="twice")
    with pytest.raises(ModerationError):
        services.restore_player(user_id=make_player().pk, moderator=moderator, reason="not hidden")

    assert ModerationLog.objects.count() == 2


def test_restoring_a_session_of_a_hidden_player_keeps_them_off_the_board() -> None:
    moderator = make_moderator()
    player = make_player()
    session = submit(player, 10).session
    services.void_session(session_id=session.pk, moderator=moderator, reason="x")
    services.hide_player(user_id=player.pk, moderator=moderator, reason="y")

    services.restore_session(session_id=session.pk, moderator=moderator, reason="z")

    assert not LeaderboardEntry.objects.filter(user=player).exists()


def test_moderation_tells_ranking_after_commit(monkeypatch, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    moderator = make_moderator()
    player = make_player()
    session = submit(player, 10).session
    submit(player, 5)  # still counted after the void: every action below changes an entry
    changed: list[list[int]] = []
    monkeypatch.setattr(
        ranking,
        "record_entries",
        lambda states, *, intent: changed.append(sorted({s.user_id for s in states})),
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.void_session(session_id=session.pk, moderator=moderator, reason="a")
        assert changed == []
    with django_capture_on_commit_callbacks(execute=True):
        services.hide_player(user_id=player.pk, moderator=moderator, reason="b")
    with django_capture_on_commit_callbacks(execute=True):
        services.restore_player(user_id=player.pk, moderator=moderator, reason="c")

    assert changed == [[player.pk], [player.pk], [player.pk]]


def test_rebuilding_a_board_drops_players_without_counted_sessions() -> None:
    a, b = make_player("a"), make_player("b")
    submit(a, 10)
    session = submit(b, 20).session
    board = selectors.get_default_board()
    # Entries that drifted from the sessions, as after a restore from an old backup.
    GameSession.objects.filter(pk=session.pk).update(is_void=True)
    LeaderboardEntry.objects.filter(user=a).update(total_score=999)

    services.rebuild_board(board=BoardRef.of(board))

    assert standings() == [("a", 1, 10)]


def test_moderation_recounts_inactive_boards_too() -> None:
    moderator = make_moderator()
    season = Board.objects.create(slug="season-1", name="Season 1")
    selectors.forget_rarely_changing()
    player, rival = make_player("p"), make_player("r")
    submit(player, 70)
    bonus = submit(player, 30).session
    submit(rival, 80)
    Board.objects.filter(pk=season.pk).update(is_active=False)  # the season is over; its board stays readable
    selectors.forget_rarely_changing()

    def on_season(user: User) -> tuple[int, int] | None:
        standing = ranking.get_standing(board_period=BoardPeriod(season.pk), user_id=user.pk)
        return None if standing is None else (standing.total_score, standing.rank)

    assert on_season(player) == (100, 1)
    services.hide_player(user_id=player.pk, moderator=moderator, reason="suspected")
    assert on_season(player) is None
    assert on_season(rival) == (80, 1)

    services.restore_player(user_id=player.pk, moderator=moderator, reason="cleared")
    assert on_season(player) == (100, 1)
    assert on_season(rival) == (80, 2)

    services.void_session(session_id=bonus.pk, moderator=moderator, reason="impossible")
    assert on_season(player) == (70, 2)
    entry = LeaderboardEntry.objects.get(user=player, board=season)
    assert (entry.total_score, entry.session_count) == (70, 1)
