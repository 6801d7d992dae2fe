"""Input that once reached the database or the parser raw: each gets a clear 4xx and writes nothing."""

import pytest
from django.test import Client

from leaderboard.models import GameSession, LeaderboardEntry
from tests.factories import make_player
from users.models import User

pytestmark = pytest.mark.django_db

# Far deeper than Python's recursion limit: the JSON parser itself gives up.
DEEP = 30_000


def assert_json_error(response, status: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"} and error["message"]
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize("query", ["a\x00", "\x00", "pl\x00ayer"])
def test_a_nul_byte_in_the_search_box_is_a_400_page(client: Client, query: str) -> None:
    make_player("player_nul")
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get("/players/search/", {"q": query}, headers=headers)
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/html")


def test_a_nul_byte_in_a_name_lookup_is_a_400_page(client: Client) -> None:
    make_player("player_nul")
    response = client.get("/players/by-name/player_nul%00/")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_nul_byte_in_an_api_query_is_a_json_400(client: Client) -> None:
    assert_json_error(client.get("/api/leaderboard/top", {"limit": "5\x00"}), 400)


def _nested(depth: int) -> str:
    return '{"user_id": ' + "[" * depth + "1" + "]" * depth + ', "score": 1}'


@pytest.mark.parametrize("path", ["/api/leaderboard/submit", "/api/v1/players"])
@pytest.mark.parametrize("shape", ["array", "object", "body"])
def test_deeply_nested_json_is_a_400_that_writes_nothing(api_client: Client, path: str, shape: str) -> None:
    player = make_player()
    body = {
        "array": _nested(DEEP),
        # Six bytes a level: a third of the depth keeps it under the body size limit.
        "object": '{"a":' * (DEEP // 3) + "1" + "}" * (DEEP // 3),
        "body": "[" * DEEP + "]" * DEEP,
    }[shape]
    response = api_client.post(path, body, content_type="application/json")
    error = assert_json_error(response, 400)
    assert error["code"] == "parse_error"
    assert not GameSession.objects.exists()
    assert not LeaderboardEntry.objects.exists()
    assert list(User.objects.values_list("pk", flat=True)) == [player.pk]


@pytest.mark.parametrize("length", [255, 300, 320])
def test_an_email_longer_than_the_column_is_a_400_that_writes_nothing(
    api_client: Client, length: int
) -> None:
    email = "a" * 64 + "@" + ("b" * 60 + ".") * 5
    email = email[: length - 4] + ".com"
    assert len(email) == length
    response = api_client.post(
        "/api/v1/players", {"username": "long_mail", "email": email}, content_type="application/json"
    )
    error = assert_json_error(response, 400)
    assert "email" in error["fields"]
    assert not User.objects.filter(username="long_mail").exists()


def test_an_email_of_the_column_length_is_accepted(api_client: Client) -> None:
    email = "a" * 64 + "@" + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com"
    email = email[:250] + ".com"
    assert len(email) == 254
    response = api_client.post(
        "/api/v1/players", {"username": "long_mail", "email": email}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    assert User.objects.get(username="long_mail").email == email
