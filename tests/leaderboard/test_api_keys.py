"""Who may write: game servers with an API key; reads are public unless configured otherwise."""

import hashlib
import io
import re
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from leaderboard import services
from leaderboard.models import GameSession
from tests.factories import make_api_key, submit
from users.models import User

pytestmark = pytest.mark.django_db

SUBMIT = "/api/leaderboard/submit"
PLAYERS = "/api/v1/players"


def post(client: Client, path: str, body: object, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.post(path, body, content_type="application/json", headers=headers)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Api-Key {key}"}


def assert_rejected(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["fields"] == {}
    if status == 401:
        assert response["WWW-Authenticate"] == "Api-Key"


def revoked_key() -> str:
    key = make_api_key()
    APIKey.objects.filter(prefix=key.partition(".")[0]).update(revoked=True)
    return key


def expired_key() -> str:
    key = make_api_key()
    yesterday = timezone.now() - timedelta(days=1)
    APIKey.objects.filter(prefix=key.partition(".")[0]).update(expiry_date=yesterday)
    return key


def test_submit_with_a_valid_key_is_created(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    response = post(client, SUBMIT, {"user_id": player.pk, "score": 7}, headers=auth(make_api_key()))
    assert response.status_code == 201
    assert GameSession.objects.filter(user=player, score=7).count() == 1


def test_submit_without_a_key_is_401_and_writes_nothing(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    assert_rejected(post(client, SUBMIT, {"user_id": player.pk, "score": 7}), 401, "not_authenticated")
    assert not GameSession.objects.exists()


@pytest.mark.parametrize(
    "make_header",
    [
        pytest.param(
            lambda good: f"Api-Key {good[:-1]}{'y' if good.endswith('x') else 'x'}", id="wrong secret"
        ),
        pytest.param(lambda good: "Api-Key Zz9Zz9Zz.0123456789abcdefghijklmnopqrstuv", id="unknown prefix"),
        pytest.param(lambda good: "Api-Key not-a-key", id="malformed"),
        pytest.param(lambda good: "Api-Key ", id="empty"),
        pytest.param(lambda good: f"Api-Key {good}\x00", id="nul byte"),
        pytest.param(lambda good: f"Api-Key {revoked_key()}", id="revoked"),
        pytest.param(lambda good: f"Api-Key {expired_key()}", id="expired"),
    ],
)
def test_submit_with_a_bad_key_is_401_and_writes_nothing(client: Client, player, make_header) -> None:  # type: ignore[no-untyped-def]
    good = make_api_key()
    header = make_header(good)
    response = post(client, SUBMIT, {"user_id": player.pk, "score": 7}, headers={"Authorization": header})
    assert_rejected(response, 401, "authentication_failed")
    assert not GameSession.objects.exists()


def test_other_authorization_schemes_count_as_no_key(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    response = post(
        client, SUBMIT, {"user_id": player.pk, "score": 7}, headers={"Authorization": "Bearer abc"}
    )
    assert_rejected(response, 401, "not_authenticated")
    assert not GameSession.objects.exists()


def test_a_revoked_key_stops_working_within_the_cache_time(client: Client, player, settings) -> None:  # type: ignore[no-untyped-def]
    settings.API_KEY_CACHE_SECONDS = 0.3
    key = make_api_key()
    assert post(client, SUBMIT, {"user_id": player.pk, "score": 1}, headers=auth(key)).status_code == 201
    api_key = APIKey.objects.get(prefix=key.partition(".")[0])
    api_key.revoked = True
    api_key.save()

    time.sleep(0.35)

    assert_rejected(
        post(client, SUBMIT, {"user_id": player.pk, "score": 1}, headers=auth(key)),
        401,
        "authentication_failed",
    )
    assert GameSession.objects.count() == 1


def test_a_verified_key_is_not_looked_up_again_at_once(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    key = make_api_key()
    body = {"user_id": player.pk, "score": 1}
    post(client, SUBMIT, body, headers=auth(key))
    with CaptureQueriesContext(connection) as captured:
        assert post(client, SUBMIT, body, headers=auth(key)).status_code == 201
    assert captured.captured_queries
    assert not any("api_key" in query["sql"] for query in captured.captured_queries)


def test_registering_a_player_needs_a_key(client: Client) -> None:
    assert_rejected(post(client, PLAYERS, {"username": "neo"}), 401, "not_authenticated")
    assert_rejected(
        post(client, PLAYERS, {"username": "neo"}, headers=auth(revoked_key())), 401, "authentication_failed"
    )
    assert not User.objects.filter(username="neo").exists()
    assert post(client, PLAYERS, {"username": "neo"}, headers=auth(make_api_key())).status_code == 201


def test_reads_are_public_by_default(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    submit(player, 5)
    assert client.get("/api/leaderboard/top").status_code == 200
    assert client.get(f"/api/leaderboard/rank/{player.pk}").status_code == 200
    assert client.get(f"{PLAYERS}/{player.pk}").status_code == 200


def test_a_bad_key_on_a_public_read_is_still_401(client: Client) -> None:
    assert_rejected(client.get("/api/leaderboard/top", headers=auth("abc.def")), 401, "authentication_failed")


def test_reads_need_a_key_when_not_public(client: Client, player, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_PUBLIC_READS = False
    submit(player, 5)
    for path in ["/api/leaderboard/top", f"/api/leaderboard/rank/{player.pk}", f"{PLAYERS}/{player.pk}"]:
        assert_rejected(client.get(path), 401, "not_authenticated")
        assert client.get(path, headers=auth(make_api_key())).status_code == 200


def test_keys_are_stored_hashed_with_sha512(player) -> None:  # type: ignore[no-untyped-def]
    api_key, key = services.create_api_key(name="eu servers")
    stored = APIKey.objects.get(pk=api_key.pk)
    assert key not in stored.hashed_key and key not in stored.id
    assert stored.hashed_key == "sha512$$" + hashlib.sha512(key.encode()).hexdigest()


def test_create_api_key_command_prints_a_working_key(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_key", "--name", "eu servers", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert APIKey.objects.get(name="eu servers").prefix == key.partition(".")[0]
    assert "shown only once" in err.getvalue()
    assert post(client, SUBMIT, {"user_id": player.pk, "score": 3}, headers=auth(key)).status_code == 201


def test_demo_api_key_command_rotates_the_demo_key(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    first, second = io.StringIO(), io.StringIO()
    call_command("demo_api_key", "--base-url", "http://127.0.0.1:9000", stdout=first)
    call_command("demo_api_key", stdout=second)

    old_key = re.search(r"Api-Key (\S+?)'", first.getvalue()).group(1)  # type: ignore[union-attr]
    new_key = re.search(r"Api-Key (\S+?)'", second.getvalue()).group(1)  # type: ignore[union-attr]
    assert "curl -i -X POST http://127.0.0.1:9000/api/leaderboard/submit" in first.getvalue()
    assert f'"user_id": {player.pk}' in first.getvalue()
    assert APIKey.objects.filter(name="demo", revoked=False).count() == 1
    assert_rejected(
        post(client, SUBMIT, {"user_id": player.pk, "score": 1}, headers=auth(old_key)),
        401,
        "authentication_failed",
    )
    assert post(client, SUBMIT, {"user_id": player.pk, "score": 1}, headers=auth(new_key)).status_code == 201


def test_api_keys_are_managed_in_the_admin(client: Client) -> None:
    admin = User.objects.create_superuser("boss", "boss@example.com", "a-long-enough-password")
    client.force_login(admin)
    response = client.post(
        "/admin/rest_framework_api_key/apikey/add/", {"name": "from admin", "expiry_date": ""}, follow=True
    )
    assert response.status_code == 200
    assert APIKey.objects.filter(name="from admin").exists()
    assert "you will not be able to see it again" in response.content.decode()
