"""The one door to Redis for the rank index and the rate limits.

Every call goes through one circuit breaker, so when Redis is away requests fail fast instead
of each waiting for a socket timeout. Failures surface as `RedisUnavailable`, which callers
turn into their fallback (SQL ranks, open limits). django-redis's IGNORE_EXCEPTIONS covers only
the cache API, not this raw client, hence the breaker and the catch here.

The client is the cache's own django-redis connection, so one pool serves both. Its topology
comes from settings: a standalone URL, Sentinel (django-redis's SentinelClient), or Redis
Cluster (`ClusterConnectionFactory` below hands django-redis a redis-py `RedisCluster`).
"""

import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pybreaker
from django.conf import settings
from django_redis.pool import ConnectionFactory
from redis import Redis
from redis.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

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
    """Run a Lua script by its hash (redis-py loads it on first use); queue it on `pipe` if given.

    Scripts waiting to ride along (`ride_along`) go in the same round trip.
    """
    if isinstance(pipe, ClusterPipeline):
        # A cluster pipeline cannot load a missing script on the node it lands on (a replica
        # promoted by a failover starts with an empty script cache), so it sends the source;
        # Redis still compiles each script once.
        return pipe.execute_command("EVAL", source, len(keys), *keys, *args)
    if pipe is None and _riders.waiting:
        return run_scripts([(source, keys, args)])[0]
    return _script(source)(keys=keys, args=args, client=pipe or client())


def _script(source: str) -> Any:
    if source not in _scripts:
        _scripts[source] = client().register_script(source)
    return _scripts[source]


Call = tuple[str, list[str], list[Any]]


def run_scripts(calls: list[Call]) -> list[Any]:
    """Run scripts in one round trip, with any waiting riders; return the results of `calls`.

    EVALSHA straight away: a pipeline of redis-py Script objects first asks SCRIPT EXISTS, a
    second round trip. A script a restarted Redis lacks is loaded and only it is run again.
    """
    riders, _riders.waiting = _riders.waiting, []
    every = [*((source, keys, args) for source, keys, args, _ in riders), *calls]
    try:
        results = _run_together(every)
    except BaseException as exc:
        for *_, on_result in riders:
            on_result(exc)
        raise
    for (*_, on_result), result in zip(riders, results, strict=False):
        on_result(result)
    return results[len(riders) :]


def _run_together(calls: list[Call]) -> list[Any]:
    if isinstance(client(), RedisCluster):
        pipe = client().pipeline()
        for source, keys, args in calls:
            run_script(source, keys, args, pipe=pipe)
        return list(pipe.execute())
    pipe = client().pipeline(transaction=False)
    for source, keys, args in calls:
        pipe.evalsha(_script(source).sha, len(keys), *keys, *args)
    results = list(pipe.execute(raise_on_error=False))
    for index, result in enumerate(results):
        if isinstance(result, NoScriptError):
            source, keys, args = calls[index]
            results[index] = _script(source)(keys=keys, args=args, client=client())
        elif isinstance(result, Exception):
            raise result
    return results


class _Riders(threading.local):
    def __init__(self) -> None:
        self.waiting: list[tuple[str, list[str], list[Any], Callable[[Any], None]]] = []


_riders = _Riders()


def ride_along(source: str, keys: list[str], args: list[Any], on_result: Callable[[Any], None]) -> None:
    """Queue a script to go with this thread's next Redis script call, in the same round trip.

    `on_result` gets its result, or the exception if the round trip failed. `flush_riders` sends
    whatever is still waiting (when the request made no other Redis call).
    """
    _riders.waiting.append((source, keys, args, on_result))


def flush_riders() -> None:
    """Send the scripts still waiting to ride along, on their own; failures reach their callbacks."""
    if not _riders.waiting:
        return
    try:
        call(lambda: run_scripts([]))
    except RedisUnavailable as exc:
        # An open breaker never ran them: their callbacks learn it here.
        riders, _riders.waiting = _riders.waiting, []
        for *_, on_result in riders:
            on_result(exc)


def breaker_is_open() -> bool:
    return _breaker.current_state == pybreaker.STATE_OPEN


def close_breaker() -> None:
    _breaker.close()


class _CacheCluster(RedisCluster):
    """django-redis reads many cache keys with one MGET; across slots that needs one per slot."""

    def mget(self, keys: Any, *args: Any) -> Any:
        return self.mget_nonatomic(keys, *args)


class ClusterConnectionFactory(ConnectionFactory):  # type: ignore[type-arg]
    """django-redis connection factory for Redis Cluster: one `RedisCluster` per process.

    django-redis has no cluster client of its own; its connection factory is the documented
    extension point, and redis-py's `RedisCluster` does the slot routing, the MOVED/ASK
    redirections and the topology refresh after a failover. OPTIONS["CLUSTER_STARTUP_NODES"]
    lists the URLs of the nodes to discover the cluster from.
    """

    _clusters: dict[tuple[str, ...], RedisCluster] = {}
    _lock = threading.Lock()

    def connect(self, url: str) -> RedisCluster:  # type: ignore[override]
        urls = tuple(self.options.get("CLUSTER_STARTUP_NODES") or [url])
        with self._lock:
            if urls not in self._clusters:
                self._clusters[urls] = self._new_cluster(urls)
            return self._clusters[urls]

    def _new_cluster(self, urls: tuple[str, ...]) -> RedisCluster:
        params = self.make_connection_params(urls[0])
        params.pop("parser_class")
        others = [urlsplit(u) for u in urls[1:]]
        try:
            return _CacheCluster.from_url(
                params.pop("url"),
                startup_nodes=[ClusterNode(u.hostname, u.port or 6379) for u in others],
                **params,
            )
        except RedisClusterException as exc:
            # No startup node answered: the same as Redis being down, so callers fall back.
            raise RedisConnectionError(str(exc)) from exc

    def disconnect(self, connection: Any) -> None:
        connection.disconnect_connection_pools()


def ping() -> None:
    """Raise RedisUnavailable unless Redis answers (through the breaker, so an outage fails fast)."""
    call(lambda: client().ping())
