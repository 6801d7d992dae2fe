"""Shared fixtures. Tests run against PostgreSQL + Redis under `make test`, and again on SQLite."""

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from leaderboard import selectors, services
from leaderboard.api.auth import forget_verified_keys
from leaderboard.ranking import redis_index
from tests.factories import make_api_key, make_player
from tests.redis_cluster import PrivateCluster, point_app_at, started
from tests.redis_server import PrivateRedis, mark_redis_long_lived, private_redis_fixture


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
    # Limits are proven in tests/leaderboard/test_rate_limits.py; elsewhere they would only interfere.
    settings.LEADERBOARD_SUBMIT_RATE_PER_PLAYER = "off"
    settings.LEADERBOARD_SUBMIT_RATE_PER_API_KEY = "off"
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "off"
    selectors.forget_rarely_changing()
    redis_index.reset_state()
    forget_verified_keys()
    cache.clear()
    mark_redis_long_lived()
    yield
    selectors.forget_rarely_changing()
    redis_index.reset_state()


@pytest.fixture(autouse=True)
def _default_board(request: pytest.FixtureRequest) -> None:
    """The default board comes from a migration, which transactional tests flush away: put it back."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    transactional = marker.kwargs.get("transaction", bool(marker.args and marker.args[0]))
    request.getfixturevalue("transactional_db" if transactional else "db")
    services.ensure_default_board()


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


@pytest.fixture
def private_redis(settings) -> Iterator[PrivateRedis]:  # type: ignore[no-untyped-def]
    """Point the app at a redis-server of its own that the test may kill and restart."""
    yield from private_redis_fixture(settings)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[PrivateCluster]:
    """A 3-master Redis Cluster of the test run's own, shared by the tests that do not break it."""
    with started(PrivateCluster) as cluster:
        yield cluster


@pytest.fixture
def on_cluster(settings, redis_cluster: PrivateCluster) -> PrivateCluster:  # type: ignore[no-untyped-def]
    """Point the app at the private cluster, configured the way settings.py reads REDIS_CLUSTER."""
    point_app_at(settings, redis_cluster)
    cache.clear()  # FLUSHDB on every master
    mark_redis_long_lived()
    return redis_cluster
