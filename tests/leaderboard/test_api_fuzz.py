"""Fuzz the API through its own OpenAPI schema: no 5xx, and every response matches the schema."""

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from tests.factories import make_player, submit

pytestmark = pytest.mark.django_db

# Loading the schema only generates it; nothing touches the database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *schema.config.checks.positive_data_acceptance.expected_statuses,
    # A valid request whose Idempotency-Key was drawn before with another body: the documented 422.
    "422",
]


@pytest.fixture(autouse=True)
def _requests_stay_in_the_test_transaction() -> Iterator[None]:
    """Keep the connection open between requests, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, api_key: str) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(headers={"Authorization": f"Api-Key {api_key}"})


def test_successful_answers_conform_to_the_schema(api_key: str) -> None:
    """Random ids rarely exist, so the happy paths are checked with real players too."""
    player = make_player()
    submit(make_player(), 50)
    auth = {"Authorization": f"Api-Key {api_key}"}
    cases = [
        (
            schema["/api/leaderboard/submit"]["POST"].Case(
                body={"user_id": player.pk, "score": 20}, headers={"Idempotency-Key": "retry-me"}
            ),
            201,
        ),
        (
            schema["/api/leaderboard/submit"]["POST"].Case(
                body={"user_id": player.pk, "score": 20}, headers={"Idempotency-Key": "retry-me"}
            ),
            201,
        ),
        (
            schema["/api/leaderboard/submit"]["POST"].Case(
                body={"user_id": player.pk, "score": 21}, headers={"Idempotency-Key": "retry-me"}
            ),
            422,
        ),
        (schema["/api/leaderboard/top"]["GET"].Case(query={"limit": 5}), 200),
        (schema["/api/leaderboard/rank/{user_id}"]["GET"].Case(path_parameters={"user_id": player.pk}), 200),
        (schema["/api/v1/players/{user_id}"]["GET"].Case(path_parameters={"user_id": player.pk}), 200),
        (schema["/api/v1/players"]["POST"].Case(body={"username": "neo", "email": "neo@example.com"}), 201),
        (schema["/api/v1/players"]["POST"].Case(body={"username": "neo"}), 409),
        (schema["/api/v1/players"]["POST"].Case(body={"username": "trinity"}), 201),
    ]
    for case, status in cases:
        response = case.call_and_validate(headers=auth)
        assert response.status_code == status, response.text
    replayed = cases[1][0].call(headers=auth)
    assert replayed.headers["idempotent-replayed"] == ["true"]
