"""The moderators' admin: changelists, moderation actions with a reason, and who may use them."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test import Client

from leaderboard import selectors, services
from leaderboard.errors import InvalidBoard
from leaderboard.models import Board, GameSession, LeaderboardEntry, ModerationLog
from leaderboard.pagination import EstimatedCountPaginator
from tests.factories import make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db

SESSIONS = "/admin/leaderboard/gamesession/"
PLAYERS = "/admin/users/user/"
ENTRIES = "/admin/leaderboard/leaderboardentry/"
LOG = "/admin/leaderboard/moderationlog/"


@pytest.fixture
def moderator_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser(username="boss", password="pw"))
    return client


def act(client: Client, url: str, action: str, ids: list[int], reason: str | None = None):  # type: ignore[no-untyped-def]
    data: dict[str, object] = {"action": action, ACTION_CHECKBOX_NAME: [str(i) for i in ids]}
    if reason is not None:
        data.update(confirm="yes", reason=reason)
    return client.post(url, data)


def ranks() -> list[tuple[str, int]]:
    return [(r.username, r.rank) for r in selectors.get_top(limit=10).rows]


@pytest.mark.parametrize("url", [SESSIONS, PLAYERS, ENTRIES, LOG])
def test_changelists_and_prefix_search_load(moderator_client: Client, url: str) -> None:
    player = make_player("searchable")
    submit(player, 5)

    assert moderator_client.get(url).status_code == 200
    response = moderator_client.get(url, {"q": "search"})
    assert response.status_code == 200
    assert response.context["cl"].show_full_result_count is False


def test_session_search_is_a_username_prefix(moderator_client: Client) -> None:
    submit(make_player("alice"), 5)
    submit(make_player("malice"), 7)

    response = moderator_client.get(SESSIONS, {"q": "ali"})

    assert [s.user.username for s in response.context["cl"].result_list] == ["alice"]


def test_voiding_asks_for_a_reason_then_recounts_and_logs(moderator_client: Client) -> None:
    a, b = make_player("a"), make_player("b")
    bonus = submit(a, 50).session
    submit(a, 10)
    submit(b, 40)
    assert ranks() == [("a", 1), ("b", 2)]

    form_page = act(moderator_client, SESSIONS, "void_sessions", [bonus.pk])
    assert form_page.status_code == 200
    assert b'name="reason"' in form_page.content and not GameSession.objects.get(pk=bonus.pk).is_void

    done = act(moderator_client, SESSIONS, "void_sessions", [bonus.pk], reason="speed hack")

    assert done.status_code == 302
    assert GameSession.objects.get(pk=bonus.pk).is_void
    assert ranks() == [("b", 1), ("a", 2)]
    log = ModerationLog.objects.get()
    assert (log.action, log.session_id, log.target_user_id, log.reason) == (
        "void_session",
        bonus.pk,
        a.pk,
        "speed hack",
    )
    assert log.moderator.username == "boss"

    act(moderator_client, SESSIONS, "restore_sessions", [bonus.pk], reason="was legit")
    assert ranks() == [("a", 1), ("b", 2)]


def test_a_blank_reason_shows_the_form_again_and_changes_nothing(moderator_client: Client) -> None:
    session = submit(make_player(), 5).session

    response = act(moderator_client, SESSIONS, "void_sessions", [session.pk], reason="  ")

    assert response.status_code == 200
    assert b"This field is required." in response.content
    assert not GameSession.objects.get(pk=session.pk).is_void
    assert not ModerationLog.objects.exists()


def test_hiding_players_from_the_admin(moderator_client: Client) -> None:
    players = [make_player(n) for n in ("p1", "p2", "p3")]
    for score, player in zip([30, 20, 10], players, strict=True):
        submit(player, score)

    response = act(moderator_client, PLAYERS, "hide_players", [players[0].pk], reason="aimbot")

    assert response.status_code == 302
    assert ranks() == [("p2", 1), ("p3", 2)]
    assert User.objects.get(pk=players[0].pk).is_hidden
    act(moderator_client, PLAYERS, "restore_players", [players[0].pk], reason="appeal")
    assert ranks() == [("p1", 1), ("p2", 2), ("p3", 3)]
    assert list(ModerationLog.objects.order_by("id").values_list("action", flat=True)) == [
        "hide_player",
        "restore_player",
    ]


def test_a_refused_action_is_reported_not_raised(moderator_client: Client) -> None:
    player = make_player()
    submit(player, 5)

    response = act(moderator_client, PLAYERS, "restore_players", [player.pk], reason="oops")

    assert response.status_code == 302
    messages = [str(m) for m in response.wsgi_request._messages]  # type: ignore[attr-defined]
    assert any("is not hidden" in m for m in messages)
    assert not ModerationLog.objects.exists()


def test_scoring_rows_cannot_be_edited_added_or_deleted_by_hand(moderator_client: Client) -> None:
    player = make_player()
    session = submit(player, 5).session
    entry = LeaderboardEntry.objects.get(user=player)
    action_names = [
        name for name, _ in moderator_client.get(SESSIONS).context["action_form"].fields["action"].choices
    ]

    assert "delete_selected" not in action_names
    assert moderator_client.get(f"{SESSIONS}add/").status_code == 403
    assert moderator_client.post(f"{SESSIONS}{session.pk}/change/", {"score": 999}).status_code == 403
    assert moderator_client.post(f"{ENTRIES}{entry.pk}/change/", {"total_score": 999}).status_code == 403
    assert moderator_client.post(f"{SESSIONS}{session.pk}/delete/", {"post": "yes"}).status_code == 403
    assert GameSession.objects.get(pk=session.pk).score == 5
    assert LeaderboardEntry.objects.get(pk=entry.pk).total_score == 5


def test_the_moderation_log_is_read_only(moderator_client: Client) -> None:
    player = make_player()
    act(moderator_client, PLAYERS, "hide_players", [player.pk], reason="first reason")
    log = ModerationLog.objects.get()

    assert moderator_client.get(f"{LOG}{log.pk}/change/").status_code == 200
    assert moderator_client.post(f"{LOG}{log.pk}/change/", {"reason": "rewritten"}).status_code == 403
    assert moderator_client.get(f"{LOG}add/").status_code == 403
    assert ModerationLog.objects.get().reason == "first reason"


@pytest.mark.parametrize("url", [SESSIONS, PLAYERS, ENTRIES, LOG, "/staff/health/"])
def test_visitors_and_players_cannot_reach_moderation(client: Client, url: str) -> None:
    assert client.get(url).status_code == 302
    client.force_login(User.objects.create_user(username="player", password="pw"))
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize(("url", "action"), [(SESSIONS, "void_sessions"), (PLAYERS, "hide_players")])
def test_a_player_cannot_run_moderation_actions(client: Client, url: str, action: str) -> None:
    target = make_player()
    session = submit(target, 5).session
    client.force_login(User.objects.create_user(username="player", password="pw"))

    target_id = session.pk if url == SESSIONS else target.pk
    response = act(client, url, action, [target_id], reason="I don't like them")

    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert not GameSession.objects.get(pk=session.pk).is_void
    assert not User.objects.get(pk=target.pk).is_hidden
    assert not ModerationLog.objects.exists()


def test_staff_without_moderation_permissions_cannot_act(client: Client) -> None:
    session = submit(make_player(), 5).session
    client.force_login(User.objects.create_user(username="helper", password="pw", is_staff=True))

    assert client.get(SESSIONS).status_code == 403
    act(client, SESSIONS, "void_sessions", [session.pk], reason="no")
    assert not GameSession.objects.get(pk=session.pk).is_void


def test_paginator_counts_small_results_exactly() -> None:
    player = make_player()
    for score in range(7):
        submit(player, score)

    paginator = EstimatedCountPaginator(GameSession.objects.order_by("-id"), 5)

    assert paginator.count == 7 and paginator.num_pages == 2


@pytest.mark.postgres
def test_paginator_estimates_past_its_cap_on_postgres(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    player = make_player()
    for score in range(6):
        submit(player, score)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE game_session")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 2)
    monkeypatch.setattr(selectors.operations, "EXACT_COUNT_BELOW", 1)
    for score in range(4):
        submit(player, score)  # not in the statistics yet

    everything = EstimatedCountPaginator(GameSession.objects.order_by("-id"), 5)
    filtered = EstimatedCountPaginator(GameSession.objects.filter(score__gte=0).order_by("-id"), 5)

    assert everything.count == 6  # pg_class.reltuples, not the 10 rows there are
    assert filtered.count >= 3  # the planner's estimate, at least past the cap


def test_entry_search_finds_players_by_prefix_in_listing_order(moderator_client: Client) -> None:
    for name, score in [("ann", 5), ("anna", 9), ("bob", 7)]:
        submit(make_player(name), score)

    response = moderator_client.get(ENTRIES, {"q": "ann"})

    assert [e.username for e in response.context["cl"].result_list] == ["anna", "ann"]


def test_hidden_players_and_void_sessions_filters(moderator_client: Client) -> None:
    kept, hidden = make_player("kept"), make_player("hidden")
    voided = submit(kept, 5).session
    submit(kept, 6)
    act(moderator_client, PLAYERS, "hide_players", [hidden.pk], reason="x")
    act(moderator_client, SESSIONS, "void_sessions", [voided.pk], reason="y")

    players = moderator_client.get(PLAYERS, {"is_hidden__exact": "1"}).context["cl"].result_list
    sessions = moderator_client.get(SESSIONS, {"is_void__exact": "1"}).context["cl"].result_list

    assert [p.username for p in players] == ["hidden"]
    assert [s.pk for s in sessions] == [voided.pk]


BOARDS = "/admin/leaderboard/board/"
BOARD_FORM = {
    "slug": "solo-weekly-time",
    "name": "Solo weekly time trial",
    "game_mode": "solo",
    "aggregation": "best",
    "order": "lower",
    "window": "weekly",
    "time_zone": "Europe/Paris",
    "week_start": "0",
    "is_active": "on",
}


def test_staff_create_a_lower_is_better_weekly_board_in_the_admin(moderator_client: Client) -> None:
    response = moderator_client.post(f"{BOARDS}add/", BOARD_FORM)

    assert response.status_code == 302, response.content
    board = Board.objects.get(slug="solo-weekly-time")
    assert (board.aggregation, board.order, board.window, board.time_zone) == (
        "best",
        "lower",
        "weekly",
        "Europe/Paris",
    )
    selectors.forget_rarely_changing()
    player = make_player()
    submit(player, 42)
    ref = selectors.get_board(slug="solo-weekly-time")
    assert ref is not None
    standing = selectors.get_player_rank(user_id=player.pk, board=ref)
    assert standing is not None and standing.total_score == 42


def test_an_unknown_time_zone_is_refused_by_the_board_form(moderator_client: Client) -> None:
    response = moderator_client.post(f"{BOARDS}add/", {**BOARD_FORM, "time_zone": "Mars/Olympus"})

    assert response.status_code == 200
    assert "not an IANA time zone" in response.content.decode()
    assert not Board.objects.filter(slug="solo-weekly-time").exists()


def test_a_boards_history_fields_cannot_change_in_the_admin(moderator_client: Client) -> None:
    moderator_client.post(f"{BOARDS}add/", BOARD_FORM)
    board = Board.objects.get(slug="solo-weekly-time")

    page = moderator_client.get(f"{BOARDS}{board.pk}/change/").content.decode()
    response = moderator_client.post(
        f"{BOARDS}{board.pk}/change/",
        {**BOARD_FORM, "name": "Renamed", "order": "higher", "window": "daily", "is_active": ""},
    )

    assert 'name="window"' not in page and 'name="name"' in page
    assert response.status_code == 302
    board.refresh_from_db()
    assert (board.name, board.is_active, board.order, board.window) == ("Renamed", False, "lower", "weekly")


def test_the_update_service_refuses_history_changes() -> None:
    board = services.create_board(slug="daily", name="Daily", window="daily")

    with pytest.raises(InvalidBoard):
        services.update_board(board_id=board.pk, time_zone="Asia/Tokyo")
    with pytest.raises(InvalidBoard):
        services.create_board(slug="bad", name="Bad", time_zone="Nowhere/Land")


def test_boards_cannot_be_deleted_in_the_admin(moderator_client: Client) -> None:
    board = services.create_board(slug="daily", name="Daily", window="daily")

    assert moderator_client.get(f"{BOARDS}{board.pk}/delete/").status_code == 403
