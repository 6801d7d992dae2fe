"""Shared fixtures. Tests run against PostgreSQL + Redis under `make test`, and again on SQLite."""

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from leaderboard import selectors
from leaderboard.ranking import redis_index
from tests.factories import make_api_key, make_player


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    has_redis = bool(settings.REDIS_URL)
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL)"))
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis (REDIS_URL)"))


@pytest.fixture(autouse=True)
def _fresh_caches(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Every test starts with empty caches and index: nothing leaks between tests."""
    # A background rebuild would read the database outside the test's transaction.
    settings.RANK_INDEX_AUTO_REBUILD = False
    selectors.forget_boards()
    redis_index.reset_state()
    cache.clear()
    yield
    selectors.forget_boards()
    redis_index.reset_state()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def player():  # type: ignore[no-untyped-def]
    return make_player()


@pytest.fixture
def api_key() -> str:
    """The plain text of a fresh, valid API key."""
    return make_api_key()


@pytest.fixture
def api_key_headers(api_key: str) -> dict[str, str]:
    """Headers (django.test.Client's `headers=`) that authenticate as a game server."""
    return {"Authorization": f"Api-Key {api_key}"}


@pytest.fixture
def api_client(api_key_headers: dict[str, str]) -> Client:
    """A test client that sends a valid API key on every request."""
    return Client(headers=api_key_headers)
