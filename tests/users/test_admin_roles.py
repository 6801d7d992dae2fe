"""Moderators only moderate: every way up from a moderator's account is refused over HTTP.

Each escalation is tried twice: by a member of the ready `Moderators` group, and by staff holding
the broad "change" permissions on players and sessions that studios used to hand out.
"""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.test import Client
from rest_framework_api_key.models import APIKey

from leaderboard.models import GameSession, ModerationLog
from tests.factories import make_api_key, make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db

PLAYERS = "/admin/users/user/"
SESSIONS = "/admin/leaderboard/gamesession/"
STAFF_PASSWORD = "a-long-staff-passphrase-41"

MODERATOR_PERMISSIONS = {
    "users.view_user",
    "users.moderate_player",
    "leaderboard.view_gamesession",
    "leaderboard.moderate_session",
    "leaderboard.view_leaderboardentry",
    "leaderboard.view_moderationlog",
}


def make_group_moderator(username: str = "mod") -> User:
    """What the operations guide says: add the user to Moderators and tick staff."""
    user = User.objects.create_user(username=username, password=STAFF_PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="Moderators"))
    return user


def make_change_moderator(username: str = "mod") -> User:
    """Staff holding change on players and sessions, as studios set moderators up before."""
    user = User.objects.create_user(username=username, password=STAFF_PASSWORD, is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="users", codename="change_user"),
        Permission.objects.get(content_type__app_label="users", codename="view_user"),
        Permission.objects.get(content_type__app_label="leaderboard", codename="change_gamesession"),
        Permission.objects.get(content_type__app_label="leaderboard", codename="view_gamesession"),
    )
    return user


@pytest.fixture(params=["moderators_group", "change_permissions"])
def moderator(request: pytest.FixtureRequest) -> User:
    if request.param == "moderators_group":
        return make_group_moderator()
    return make_change_moderator()


@pytest.fixture
def moderator_client(client: Client, moderator: User) -> Client:
    client.force_login(moderator)
    return client


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser(username="root", password=STAFF_PASSWORD)


def change_form_data(user: User, **overrides: object) -> dict[str, object]:
    """Every field of the stock UserAdmin change form, as a browser would post it."""
    data: dict[str, object] = {
        "username": user.username,
        "first_name": "",
        "last_name": "",
        "email": "mod@example.com",
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    data.update(overrides)
    return data


def moderation_action(client: Client, changelist: str, action: str, pk: int, reason: str) -> int:
    """A confirmed admin action on one row, as the confirmation page posts it: the response status."""
    response = client.post(
        changelist,
        {"action": action, ACTION_CHECKBOX_NAME: [str(pk)], "confirm": "yes", "reason": reason},
    )
    return response.status_code


def widen_the_moderators_group(client: Client) -> None:
    """Try to grant Moderators the API-key permission and to add a group; both must be refused."""
    moderators = Group.objects.get(name="Moderators")
    apikey_perm = Permission.objects.get(codename="add_apikey")

    response = client.post(
        f"/admin/auth/group/{moderators.pk}/change/",
        {"name": "Moderators", "permissions": [str(apikey_perm.pk)]},
    )

    assert response.status_code == 403
    assert client.post("/admin/auth/group/add/", {"name": "Mine"}).status_code == 403
    assert not moderators.permissions.filter(pk=apikey_perm.pk).exists()
    assert not Group.objects.filter(name="Mine").exists()


def test_the_moderators_group_holds_moderation_permissions_only() -> None:
    group = Group.objects.get(name="Moderators")
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    assert granted == MODERATOR_PERMISSIONS


def test_a_moderator_cannot_make_themselves_superuser(moderator_client: Client, moderator: User) -> None:
    all_permissions = Permission.objects.values_list("pk", flat=True)
    other_group = Group.objects.create(name="Admins")
    response = moderator_client.post(
        f"{PLAYERS}{moderator.pk}/change/",
        change_form_data(
            moderator,
            is_superuser="on",
            groups=[str(other_group.pk)],
            user_permissions=[str(pk) for pk in all_permissions],
        ),
    )

    assert response.status_code in (302, 403)
    moderator.refresh_from_db()
    assert not moderator.is_superuser
    assert not moderator.groups.filter(name="Admins").exists()
    assert not moderator.user_permissions.filter(codename="add_apikey").exists()
    assert not moderator.user_permissions.filter(codename="change_group").exists()


def test_a_moderator_cannot_make_a_player_staff(moderator_client: Client) -> None:
    player = make_player("ordinary")

    response = moderator_client.post(
        f"{PLAYERS}{player.pk}/change/", change_form_data(player, is_superuser="on", is_staff="on")
    )

    assert response.status_code in (302, 403)
    player.refresh_from_db()
    assert not player.is_staff and not player.is_superuser


def test_a_moderator_cannot_edit_a_superuser(moderator_client: Client, superuser: User) -> None:
    response = moderator_client.post(
        f"{PLAYERS}{superuser.pk}/change/",
        change_form_data(superuser, is_active="", email="evil@example.com"),
    )

    assert response.status_code == 403
    superuser.refresh_from_db()
    assert superuser.is_active and superuser.email == ""


@pytest.mark.parametrize("target", ["superuser", "player", "other_staff"])
def test_a_moderator_cannot_set_anyone_elses_password(
    moderator_client: Client, superuser: User, target: str
) -> None:
    victim = {
        "superuser": superuser,
        "player": User.objects.create_user(username="someone", password=STAFF_PASSWORD),
        "other_staff": User.objects.create_user(username="colleague", password=STAFF_PASSWORD, is_staff=True),
    }[target]
    url = f"{PLAYERS}{victim.pk}/password/"

    assert moderator_client.get(url).status_code == 403
    response = moderator_client.post(
        url,
        {"password1": "taken-over-9f3k2", "password2": "taken-over-9f3k2", "usable_password": "true"},
    )

    assert response.status_code == 403
    victim.refresh_from_db()
    assert victim.check_password(STAFF_PASSWORD)


def test_a_moderator_cannot_add_players(moderator_client: Client) -> None:
    url = f"{PLAYERS}add/"
    assert moderator_client.get(url).status_code == 403
    response = moderator_client.post(
        url,
        {
            "username": "sock_puppet",
            "password1": "puppet-pass-83kd",
            "password2": "puppet-pass-83kd",
            "usable_password": "true",
        },
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="sock_puppet").exists()


def test_a_moderator_cannot_delete_players(moderator_client: Client) -> None:
    player = make_player("keeper")
    url = f"{PLAYERS}{player.pk}/delete/"

    assert moderator_client.get(url).status_code == 403
    assert moderator_client.post(url, {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=player.pk).exists()


def test_a_moderator_cannot_manage_api_keys(moderator_client: Client) -> None:
    make_api_key("production")
    key = APIKey.objects.get()
    base = "/admin/rest_framework_api_key/apikey/"

    assert moderator_client.get(base).status_code == 403
    assert moderator_client.get(f"{base}add/").status_code == 403
    assert moderator_client.post(f"{base}add/", {"name": "mine"}).status_code == 403
    assert moderator_client.post(f"{base}{key.pk}/delete/", {"post": "yes"}).status_code == 403
    assert list(APIKey.objects.values_list("name", flat=True)) == ["production"]


def test_a_moderator_cannot_manage_groups_or_permissions(moderator_client: Client, moderator: User) -> None:
    assert moderator_client.get("/admin/auth/group/").status_code == 403
    widen_the_moderators_group(moderator_client)


def test_staff_granted_group_management_still_cannot_widen_a_group(client: Client) -> None:
    staff = make_change_moderator("deputy")
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", codename__endswith="_group")
    )
    client.force_login(staff)

    widen_the_moderators_group(client)


@pytest.mark.parametrize("url", ["/admin/leaderboard/board/", "/admin/leaderboard/board/add/"])
def test_boards_are_not_editable_in_the_admin(moderator_client: Client, url: str) -> None:
    assert moderator_client.get(url).status_code in (403, 404)


def test_a_group_moderator_still_hides_players_and_voids_sessions(client: Client) -> None:
    moderator = make_group_moderator()
    client.force_login(moderator)
    cheater = make_player("cheater")
    session = submit(cheater, 500).session

    assert client.get(PLAYERS).status_code == 200
    assert client.get(SESSIONS).status_code == 200
    assert client.get(f"{PLAYERS}{cheater.pk}/change/").status_code == 200  # read only
    voided = moderation_action(client, SESSIONS, "void_sessions", session.pk, "aimbot")
    hidden = moderation_action(client, PLAYERS, "hide_players", cheater.pk, "aimbot")

    assert (voided, hidden) == (302, 302)
    assert GameSession.objects.get(pk=session.pk).is_void
    assert User.objects.get(pk=cheater.pk).is_hidden
    assert ModerationLog.objects.filter(moderator=moderator).count() == 2
    assert client.get("/admin/leaderboard/moderationlog/").status_code == 200


def test_staff_without_the_moderation_permissions_cannot_hide_players(client: Client) -> None:
    client.force_login(make_change_moderator())
    cheater = make_player("cheater")

    moderation_action(client, PLAYERS, "hide_players", cheater.pk, "x")

    assert not User.objects.get(pk=cheater.pk).is_hidden


def test_a_superuser_keeps_full_powers(client: Client, superuser: User) -> None:
    client.force_login(superuser)
    player = make_player("promoted")
    moderators = Group.objects.get(name="Moderators")

    response = client.post(
        f"{PLAYERS}{player.pk}/change/", change_form_data(player, groups=[str(moderators.pk)])
    )
    assert response.status_code == 302
    password = client.post(
        f"{PLAYERS}{player.pk}/password/",
        {"password1": "new-pass-for-mod-71", "password2": "new-pass-for-mod-71", "usable_password": "true"},
    )
    assert password.status_code == 302

    player.refresh_from_db()
    assert player.is_staff and player.groups.filter(name="Moderators").exists()
    assert player.check_password("new-pass-for-mod-71")
    assert client.get(f"{PLAYERS}add/").status_code == 200
    assert client.get("/admin/auth/group/add/").status_code == 200
    assert client.get("/admin/rest_framework_api_key/apikey/add/").status_code == 200
