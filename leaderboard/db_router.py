"""Database routing: reads that may be slightly stale go to a read replica, everything else to the primary.

A view opts in with `@stale_reads_ok` (top listings, ranks, player pages, search). Inside it a read
goes to a replica unless the request has already written (read-your-writes) or a transaction is
open on the primary (services, select_for_update, idempotency). Writes, migrations and every read
outside such a view (API keys, idempotency, the admin, commands, rank index rebuilds) use the
primary. A replica that cannot be reached is skipped for DATABASE_REPLICA_RETRY_SECONDS, and its
reads go to the primary meanwhile. With no DATABASE_REPLICA_URLS everything is the primary.
"""

import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, OperationalError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class _ReadState:
    """What one request (or one `stale_reads` block outside a request) has done so far."""

    stale_ok: bool = False
    wrote: bool = False
    # One replica per request: two replicas may lag differently, and a page must not go back in time.
    replica: str | None = None


_state: ContextVar[_ReadState | None] = ContextVar("db_read_state", default=None)
# Replica alias -> time.monotonic() before which it is not tried again (shared by all threads).
_down_until: dict[str, float] = {}
_down_lock = threading.Lock()
_round_robin = itertools.count()


@contextlib.contextmanager
def stale_reads() -> Iterator[None]:
    """Let the reads of this block go to a replica (unless the request writes or is in a transaction)."""
    state = _state.get()
    token = None
    if state is None:
        state = _ReadState()
        token = _state.set(state)
    previous = state.stale_ok
    state.stale_ok = True
    try:
        yield
    finally:
        state.stale_ok = previous
        if token is not None:
            _state.reset(token)


@contextlib.contextmanager
def primary_reads() -> Iterator[None]:
    """Read from the primary inside a stale-reads block (for results that get cached as current)."""
    state = _state.get()
    if state is None or not state.stale_ok:
        yield
        return
    state.stale_ok = False
    try:
        yield
    finally:
        state.stale_ok = True


def stale_reads_ok(view: Callable[P, R]) -> Callable[P, R]:
    """Decorate a view (or a DRF handler method) whose reads may lag the primary by replication delay."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with stale_reads():
            return view(*args, **kwargs)

    return wrapper


class ReplicaRoutingMiddleware:
    """Start every request with a clean slate: no write yet, no replica chosen, primary reads."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _state.set(_ReadState())
        try:
            return self.get_response(request)
        finally:
            _state.reset(token)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        # A replica that died in the middle of this request costs this request (a 503 from
        # DatabaseUnavailableMiddleware); the next ones read from the primary without waiting.
        state = _state.get()
        if (
            state is not None
            and state.replica is not None
            and isinstance(exception, (OperationalError, InterfaceError))
        ):
            mark_down(state.replica)


def note_write() -> None:
    """A raw SQL write on the primary (the router never saw it): later reads of the request go there too."""
    state = _state.get()
    if state is not None:
        state.wrote = True


class ReplicaRouter:
    """Django database router over the primary (`default`) and settings.DATABASE_REPLICAS."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return replica_for_read()

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        # Every write, select_for_update and get_or_create passes here first: from now on this
        # request reads its own writes from the primary.
        note_write()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # The replicas hold the primary's rows, so objects from any of them may be related.
        pool = {DEFAULT_DB_ALIAS, *settings.DATABASE_REPLICAS}
        if obj1._state.db in pool and obj2._state.db in pool:
            return True
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        # Replicas are read-only copies: the schema reaches them through replication.
        return False if db in settings.DATABASE_REPLICAS else None


def replica_for_read() -> str | None:
    """The replica this read may use, or None for the primary."""
    replicas: list[str] = settings.DATABASE_REPLICAS
    state = _state.get()
    if not replicas or state is None or not state.stale_ok or state.wrote:
        return None
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return None  # a transaction on the primary reads what it is about to write
    now = time.monotonic()
    if state.replica is not None and _down_until.get(state.replica, 0.0) <= now:
        return state.replica
    candidates = [alias for alias in replicas if _down_until.get(alias, 0.0) <= now]
    start = next(_round_robin)
    for offset in range(len(candidates)):
        alias = candidates[(start + offset) % len(candidates)]
        if _is_reachable(alias):
            state.replica = alias
            return alias
    state.replica = None
    return None


def _is_reachable(alias: str) -> bool:
    """Connect (or check the open connection) now, so a dead replica costs one connect timeout, not a 503."""
    connection = connections[alias]
    try:
        # Django checks an old connection at its first use in a request; do it before choosing.
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except DatabaseError as exc:
        mark_down(alias)
        log.warning("Read replica %s is unreachable, reading from the primary: %s", alias, exc)
        return False
    return True


def mark_down(alias: str) -> None:
    """Skip this replica for DATABASE_REPLICA_RETRY_SECONDS."""
    with _down_lock:
        _down_until[alias] = time.monotonic() + settings.DATABASE_REPLICA_RETRY_SECONDS
    with contextlib.suppress(DatabaseError):
        connections[alias].close()


def forget_down_replicas() -> None:
    """Try every replica again on the next read (tests, and after a replica is repaired)."""
    with _down_lock:
        _down_until.clear()
