"""Fuzz the API through its own OpenAPI schema: no 5xx, and every response matches the schema.

Beyond the schema, bodies drawn from it are broken in ways it cannot describe (NUL bytes, nesting
deeper than the parser recurses, emails longer than their column): each is a 4xx that writes nothing.
"""

import json
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard.models import GameSession, LeaderboardEntry
from tests.factories import make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db

# Loading the schema only generates it; nothing touches the database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *schema.config.checks.positive_data_acceptance.expected_statuses,
    # A valid request whose Idempotency-Key was drawn before with another body: the documented 422.
    "422",
]
schema.config.checks.negative_data_rejection.expected_statuses = [
    *schema.config.checks.negative_data_rejection.expected_statuses,
    # An invalid body drawn past the size limit (a batch of far more than 100 sessions) is refused
    # before it is parsed: the documented 413, as much a rejection as a 400.
    "413",
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


# Values the schema cannot fully describe: an opaque page cursor, a period key that must name a period
# of that board that has begun. Drawn at random they are mostly a documented 400, not a rejected
# valid request; every other check still applies to them.
UNDESCRIBABLE_QUERY = {"cursor", "period"}


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, api_key: str) -> None:  # type: ignore[no-untyped-def]
    excluded = (
        [schemathesis.checks.positive_data_acceptance] if UNDESCRIBABLE_QUERY & set(case.query or {}) else []
    )
    case.call_and_validate(headers={"Authorization": f"Api-Key {api_key}"}, excluded_checks=excluded)


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


# --- Shapes the schema does not describe: NUL bytes, deep nesting, over-long emails -------------

# Each write and the fields it reads (a broken field it ignores would rightly be accepted).
WRITES = {
    "/api/leaderboard/submit": ["user_id", "score", "game_mode"],
    "/api/v1/players": ["username", "email"],
}
READ_PATHS = ["/api/leaderboard/rank/{}", "/api/v1/players/{}", "/players/by-name/{}/", "/players/{}/"]


def _with_nul(text: str, position: int) -> str:
    position %= len(text) + 1
    return text[:position] + "\x00" + text[position:]


def _long_email(length: int) -> str:
    domain = ".".join(["d" * 60] * 6) + ".com"
    return ("l" * 64 + "@" + domain)[: length - 4] + ".com"


@st.composite
def hostile_write(draw: st.DrawFn) -> tuple[str, str]:
    """A write endpoint and a raw JSON body built from a schema-valid one, then broken one way."""
    path = draw(st.sampled_from(sorted(WRITES)))
    case = draw(schema[path]["POST"].as_strategy())
    body: dict[str, object] = dict(case.body) if isinstance(case.body, dict) else {}
    field = draw(st.sampled_from(WRITES[path]))
    kinds = ["nul", "nest", "email"] if "email" in WRITES[path] else ["nul", "nest"]
    kind = draw(st.sampled_from(kinds))
    if kind == "nul":
        body[field] = _with_nul(str(body.get(field, "")), draw(st.integers(0, 40)))
        return path, json.dumps(body)
    if kind == "email":
        body["email"] = _long_email(draw(st.integers(255, 320)))
        return path, json.dumps(body)
    # Any nesting is invalid (no field takes an array); past ~1000 levels the parser itself gives up.
    depth = draw(st.sampled_from([1, 900, 1100, 5_000, 30_000]))
    marker = '"__nested__"'
    body[field] = "__nested__"
    return path, json.dumps(body).replace(marker, "[" * depth + json.dumps(body.get(field)) + "]" * depth, 1)


def _row_counts() -> tuple[int, int, int]:
    return User.objects.count(), GameSession.objects.count(), LeaderboardEntry.objects.count()


@given(write=hostile_write())
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_hostile_bodies_get_a_4xx_and_write_nothing(write: tuple[str, str], api_key: str) -> None:
    path, raw = write
    before = _row_counts()
    response = Client(headers={"Authorization": f"Api-Key {api_key}"}).post(
        path, raw, content_type="application/json"
    )
    assert 400 <= response.status_code < 500, (response.status_code, raw[:200])
    assert response.json()["error"]["code"]
    assert _row_counts() == before


@given(
    path=st.sampled_from(READ_PATHS),
    value=st.text(min_size=0, max_size=12).map(lambda t: t.replace("/", "")),
    position=st.integers(0, 12),
    query=st.sampled_from(["", "?q=", "?limit="]),
)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_nul_bytes_in_urls_never_give_a_5xx(player, path: str, value: str, position: int, query: str) -> None:  # type: ignore[no-untyped-def]
    value = value or player.username
    nul_value = quote(_with_nul(value, position), safe="")
    response = Client().get(path.format(nul_value) + (query + nul_value if query else ""))
    assert response.status_code == 400
    response = Client().get("/players/search/?q=" + nul_value)
    assert response.status_code == 400
