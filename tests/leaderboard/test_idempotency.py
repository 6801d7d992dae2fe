"""Idempotent submits: a retry with the same Idempotency-Key is applied once and answered the same."""

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from leaderboard.models import GameSession, IdempotentRequest, LeaderboardEntry
from tests.factories import make_api_key, make_player

pytestmark = pytest.mark.django_db

SUBMIT = "/api/leaderboard/submit"


def submit(client: Client, body: dict, key: str | None = "retry-1", api_key: str | None = None):  # type: ignore[no-untyped-def, type-arg]
    headers = {} if key is None else {"Idempotency-Key": key}
    if api_key is not None:
        headers["Authorization"] = f"Api-Key {api_key}"
    return client.post(SUBMIT, body, content_type="application/json", headers=headers)


def totals(player) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    entry = LeaderboardEntry.objects.get(user=player)
    return entry.total_score, entry.session_count


def test_retries_are_counted_once_and_answered_identically(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    responses = [submit(api_client, {"user_id": player.pk, "score": 40}) for _ in range(5)]

    assert [r.status_code for r in responses] == [201] * 5
    assert len({r.content for r in responses}) == 1
    assert "Idempotent-Replayed" not in responses[0]
    assert all(r["Idempotent-Replayed"] == "true" for r in responses[1:])
    assert GameSession.objects.filter(user=player).count() == 1
    assert totals(player) == (40, 1)


def test_a_replay_returns_the_first_answer_even_after_the_board_moved(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    first = submit(api_client, {"user_id": player.pk, "score": 10})
    other = make_player()
    submit(api_client, {"user_id": other.pk, "score": 99}, key="other")

    again = submit(api_client, {"user_id": player.pk, "score": 10})

    assert again.content == first.content
    assert again.json()["rank"] == 1 and again.json()["total_players"] == 1


def test_each_new_key_is_a_new_submit(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    submit(api_client, {"user_id": player.pk, "score": 5}, key="a")
    submit(api_client, {"user_id": player.pk, "score": 5}, key="b")
    submit(api_client, {"user_id": player.pk, "score": 5}, key=None)
    submit(api_client, {"user_id": player.pk, "score": 5}, key=None)
    assert totals(player) == (20, 4)


def test_the_same_key_with_another_body_is_422_and_changes_nothing(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    first = submit(api_client, {"user_id": player.pk, "score": 5})
    reused = submit(api_client, {"user_id": player.pk, "score": 6})

    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert totals(player) == (5, 1)
    assert submit(api_client, {"user_id": player.pk, "score": 5}).content == first.content


def test_the_fingerprint_is_of_the_validated_input(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    first = submit(api_client, {"user_id": player.pk, "score": 5})
    # Same request once defaults are applied and unknown fields dropped: a replay, not a 422.
    again = submit(api_client, {"score": 5, "game_mode": "solo", "user_id": player.pk, "note": "retry"})
    assert again.status_code == 201 and again.content == first.content
    assert totals(player) == (5, 1)


def test_keys_are_scoped_per_api_key(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    eu, us = make_api_key("eu"), make_api_key("us")
    assert submit(client, {"user_id": player.pk, "score": 5}, api_key=eu).status_code == 201
    second = submit(client, {"user_id": player.pk, "score": 5}, api_key=us)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second
    assert totals(player) == (10, 2)


@pytest.mark.parametrize("key", ["", " ", "has space", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_400_and_writes_nothing(api_client: Client, player, key: str) -> None:  # type: ignore[no-untyped-def]
    response = submit(api_client, {"user_id": player.pk, "score": 5}, key=key)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["Idempotency-Key"]
    assert not GameSession.objects.exists()
    assert not IdempotentRequest.objects.exists()


def test_the_longest_key_is_accepted(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    assert submit(api_client, {"user_id": player.pk, "score": 5}, key="k" * 255).status_code == 201


def test_a_failed_submit_does_not_use_up_the_key(api_client: Client) -> None:
    response = submit(api_client, {"user_id": 987654, "score": 5})
    assert response.status_code == 404
    assert not IdempotentRequest.objects.exists()


def test_an_expired_key_is_a_new_submit(api_client: Client, player, settings) -> None:  # type: ignore[no-untyped-def]
    submit(api_client, {"user_id": player.pk, "score": 5})
    IdempotentRequest.objects.update(created_at=timezone.now() - timedelta(hours=25))

    again = submit(api_client, {"user_id": player.pk, "score": 5})

    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert totals(player) == (10, 2)
    assert IdempotentRequest.objects.count() == 1


def test_purge_removes_only_expired_keys(api_client: Client, player, settings) -> None:  # type: ignore[no-untyped-def]
    settings.IDEMPOTENCY_KEY_TTL_SECONDS = 3600
    for key in ["old-1", "old-2", "fresh"]:
        submit(api_client, {"user_id": player.pk, "score": 1}, key=key)
    IdempotentRequest.objects.filter(key__startswith="old").update(
        created_at=timezone.now() - timedelta(seconds=3601)
    )
    out = io.StringIO()

    call_command("purge_idempotency_keys", stdout=out)

    assert "Deleted 2 idempotency key(s)" in out.getvalue()
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["fresh"]
    assert totals(player) == (3, 3)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_are_applied_once_and_all_get_the_answer() -> None:
    player = make_player()
    api_key = make_api_key()
    workers = 20
    start = threading.Barrier(workers)

    def send(_: int):  # type: ignore[no-untyped-def]
        try:
            client = Client()
            start.wait(timeout=10)
            return submit(client, {"user_id": player.pk, "score": 7}, key="same", api_key=api_key)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        responses = list(pool.map(send, range(workers)))

    assert [r.status_code for r in responses] == [201] * workers
    assert len({r.content for r in responses}) == 1
    assert sum(1 for r in responses if r.get("Idempotent-Replayed") == "true") == workers - 1
    assert GameSession.objects.filter(user=player).count() == 1
    assert totals(player) == (7, 1)
