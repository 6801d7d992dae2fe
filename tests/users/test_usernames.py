# ruff: noqa: RUF001  (look-alike characters are what these tests are about)
"""Usernames: look-alike, case-variant and invisible names cannot register beside real ones."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from tests.leaderboard.test_concurrency import run_in_threads
from users.models import User

pytestmark = pytest.mark.django_db


def register(client: Client, username: str):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/players", {"username": username}, content_type="application/json")


@pytest.mark.parametrize(
    "look_alike",
    [
        "USER_1",  # case variant
        "User_1",
        "ｕｓｅｒ_１",  # fullwidth letters and digit: NFKC makes them "user_1"
        "ＵＳＥＲ_1",
    ],
)
def test_a_case_variant_or_compatibility_form_of_a_name_is_taken(api_client: Client, look_alike: str) -> None:
    assert register(api_client, "user_1").status_code == 201

    response = register(api_client, look_alike)

    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "username_taken"
    assert User.objects.count() == 1


def test_a_whole_script_confusable_of_a_name_is_taken(api_client: Client) -> None:
    assert register(api_client, "coe").status_code == 201
    response = register(api_client, "сое")  # Cyrillic s, o, ie
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "username_taken"


@pytest.mark.parametrize(
    "name",
    [
        "usеr_1",  # Cyrillic ie among Latin letters
        "pаypal",  # Cyrillic a
        "\u3164",  # HANGUL FILLER: renders blank
        "\u3164\u3164\u3164",
        "ab\u3164",
        "\u115f",
        "a\u200bb",  # zero-width space
    ],
)
def test_mixed_script_and_invisible_names_are_refused(api_client: Client, name: str) -> None:
    response = register(api_client, name)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert "username" in response.json()["error"]["fields"]
    assert not User.objects.exists()


def test_a_name_is_stored_nfkc_normalised_and_other_scripts_work(api_client: Client) -> None:
    response = register(api_client, "ｎｅｏ")
    assert response.status_code == 201
    assert response.json()["username"] == "neo"
    for name in ["José", "Ελένη", "日本語ひらがな", "사용자", "сергей"]:
        assert register(api_client, name).status_code == 201, name


def test_an_existing_name_keeps_its_exact_lookups(api_client: Client, client: Client) -> None:
    player = register(api_client, "Mixed.Case").json()
    assert client.get("/players/by-name/Mixed.Case/")["Location"] == f"/players/{player['id']}/"
    assert client.get("/players/by-name/mixed.case/").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_look_alike_registrations_let_exactly_one_through(api_key_headers: dict[str, str]) -> None:
    names = ["racer", "RACER", "Racer", "rACER", "ｒａｃｅｒ", "raceR", "RaCeR", "racEr"]
    statuses: list[int] = []

    def attempt(index: int) -> None:
        statuses.append(register(Client(headers=api_key_headers), names[index]).status_code)

    assert run_in_threads(len(names), attempt) == []
    assert sorted(statuses) == [201] + [409] * (len(names) - 1)
    assert User.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_names_that_already_look_alike() -> None:
    call_command("migrate", "users", "0005", verbosity=0)
    try:
        with connection.cursor() as cursor:
            for name in ["user_1", "USER_1", "ｕｓｅｒ_１", "other"]:
                cursor.execute(
                    "INSERT INTO users (password, is_superuser, username, first_name, last_name, email, "
                    "is_staff, is_active, date_joined, is_hidden) "
                    "VALUES ('!', false, %s, '', '', '', false, true, CURRENT_TIMESTAMP, false)",
                    [name],
                )
    finally:
        call_command("migrate", verbosity=0)

    rows = dict(User.objects.order_by("pk").values_list("username", "username_skeleton"))
    assert rows == {"user_1": "user_1", "USER_1": None, "ｕｓｅｒ_１": None, "other": "other"}
    # Exact lookups still find every one of them, and no new look-alike gets in.
    assert User.objects.filter(username="USER_1").exists()
    response = Client().get("/players/by-name/USER_1/")
    assert response.status_code == 302
