"""The one door to Redis for the rank index and the rate limits.

Every call goes through one circuit breaker, so when Redis is away requests fail fast instead
of each waiting for a socket timeout. Failures surface as `RedisUnavailable`, which callers
turn into their fallback (SQL ranks, open limits). django-redis's IGNORE_EXCEPTIONS covers only
the cache API, not this raw client, hence the breaker and the catch here.
"""

from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker
from django.conf import settings
from redis import Redis
from redis.exceptions import RedisError

T = TypeVar("T")


class RedisUnavailable(Exception):
    """Redis is not configured, unreachable, or the breaker is open."""


_breaker = pybreaker.CircuitBreaker(
    fail_max=2, reset_timeout=5, exclude=[lambda exc: not isinstance(exc, RedisError)], name="redis"
)
_scripts: dict[str, Any] = {}


def is_configured() -> bool:
    return bool(settings.REDIS_URL)


def client() -> Redis:
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def call(operation: Callable[[], T]) -> T:
    """Run a Redis operation behind the breaker; any failure becomes RedisUnavailable."""
    if not is_configured():
        raise RedisUnavailable("no Redis configured")
    try:
        result = _breaker.call(operation)
    except (RedisError, pybreaker.CircuitBreakerError) as exc:
        raise RedisUnavailable(str(exc)) from exc
    return result


def run_script(source: str, keys: list[str], args: list[Any], pipe: Any = None) -> Any:
    """Run a Lua script by its hash (redis-py loads it on first use); queue it on `pipe` if given."""
    if source not in _scripts:
        _scripts[source] = client().register_script(source)
    return _scripts[source](keys=keys, args=args, client=pipe or client())


def breaker_is_open() -> bool:
    return _breaker.current_state == pybreaker.STATE_OPEN


def close_breaker() -> None:
    _breaker.close()
