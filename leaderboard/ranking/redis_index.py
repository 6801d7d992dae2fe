"""The rank index: one Redis sorted set per board period, plus the cached top listing.

Per board period, under one hash tag so every key of it lives in one Redis Cluster slot ("{lf:b1}" for
an all-time board, "{lf:b7:2026-11-30}" for one period of a windowed board):
  z        sorted set   user id -> rank value (the value, negated on lower-is-better boards),
                        so rank = 1 + members with a strictly greater rank value on every board
  h        hash         user id -> "version|value|sessions|username" ("version|x" once removed)
  ready    string       present only while the index is known to be complete
  inflight sorted set   changes announced before their COMMIT and not yet published -> when
  gen      counter      bumped whenever a change may have missed the index; outdates rebuilds
  z:next, h:next, rebuilding, lock   the index being rebuilt, the flag that routes live writes to it
                                     too, and the rebuild's lease (short TTLs, renewed while it runs)
  top, top:min, top:ids, top:gen, stats   cached top rows, what would invalidate them, a fill guard,
                                          and the cache's hit counters
Each write carries the entry's version; Lua scripts apply it only if it is newer, so a late or
repeated write can never put an older total back. Calls go through `redis_client` and its breaker.
A windowed period is indexed until its end plus the archive grace time (`BoardPeriod.index_until`);
its keys expire an hour after that, and scripts refuse to touch them once that time has passed.
docs/decisions/0010-rank-index-completeness.md says how an index proves it is complete.
"""

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from redis import Redis
from redis.exceptions import RedisError

from leaderboard import redis_client
from leaderboard.boards import BoardPeriod
from leaderboard.periods import ALL_TIME_KEY
from leaderboard.ranking import scripts
from leaderboard.ranking.rules import EntryState, encode_rows, ranked_rows

log = logging.getLogger(__name__)
T = TypeVar("T")

# How many cached top rows; listings of up to this many are served from the cache.
TOP_CACHE_ROWS = 100
# A windowed period's keys outlive the time the app stops using them by this much, so app servers
# whose clocks run a little behind Redis's never find them gone.
EXPIRY_SLACK = timedelta(hours=1)


class IndexUnavailable(Exception):
    """Redis cannot answer now, or the index is not known to be complete."""


class RebuildInProgress(Exception):
    pass


class RebuildRefused(Exception):
    """The rebuild may miss a change (a loss outdated it, or it lost its lease): rebuild again."""


@dataclass(frozen=True)
class BoardKeys:
    z: str
    h: str
    ready: str
    inflight: str
    gen: str
    z_next: str
    h_next: str
    rebuilding: str
    lock: str
    top: str
    top_min: str
    top_ids: str
    top_gen: str
    stats: str

    @classmethod
    def for_period(cls, board_period: BoardPeriod) -> "BoardKeys":
        name = f"{settings.RANK_INDEX_KEY_PREFIX}:b{board_period.board_id}"
        if board_period.period != ALL_TIME_KEY:
            name += f":{board_period.period}"
        tag = f"{{{name}}}"
        return cls(
            z=f"{tag}:z",
            h=f"{tag}:h",
            ready=f"{tag}:ready",
            inflight=f"{tag}:inflight",
            gen=f"{tag}:gen",
            z_next=f"{tag}:z:next",
            h_next=f"{tag}:h:next",
            rebuilding=f"{tag}:rebuilding",
            lock=f"{tag}:lock",
            top=f"{tag}:top:cache",
            top_min=f"{tag}:top:min",
            top_ids=f"{tag}:top:ids",
            top_gen=f"{tag}:top:gen",
            stats=f"{tag}:stats",
        )


def epoch_key() -> str:
    """When this Redis's data began (see `rebuild`): absent after a flush or a restart."""
    return f"{settings.RANK_INDEX_KEY_PREFIX}:epoch"


def is_enabled() -> bool:
    return redis_client.is_configured()


def breaker_is_open() -> bool:
    return redis_client.breaker_is_open()


def close_breaker() -> None:
    redis_client.close_breaker()


def reset_state() -> None:
    """Forget outages and pending settlements (a fresh process starts this way)."""
    from leaderboard.ranking import intents

    redis_client.close_breaker()
    intents.reset_state()
    with _lookups_lock:
        _lookups.clear()


def _client() -> Redis:
    return redis_client.client()


def _expire_at_ms(board_period: BoardPeriod) -> int:
    """When the period's keys expire, in ms since the epoch (0: never)."""
    until = board_period.index_until
    return 0 if until is None else int((until + EXPIRY_SLACK).timestamp() * 1000)


def _run(source: str, board_period: BoardPeriod, keys: list[str], args: list[Any], client: Any = None) -> Any:
    return redis_client.run_script(source, keys, [_expire_at_ms(board_period), *args], pipe=client)


Call = tuple[str, BoardPeriod, list[str], list[Any]]


def _run_all(calls: list[Call]) -> list[Any]:
    """Run scripts in one round trip."""
    return redis_client.run_scripts(
        [(source, keys, [_expire_at_ms(bp), *args]) for source, bp, keys, args in calls]
    )


def _is_cold(result: Any) -> bool:
    """The script found the period's keys expired (or about to be) and did nothing."""
    return result in (b"cold", "cold")


def _call(operation: Callable[[], T]) -> T:
    try:
        return redis_client.call(operation)
    except redis_client.RedisUnavailable as exc:
        raise IndexUnavailable(str(exc)) from exc


def _bound_ms() -> int:
    """How long an announced change may stay unpublished before it counts as lost."""
    return int(settings.RANK_INDEX_INTENT_SECONDS * 1000)


def _lease_ms() -> int:
    return int(settings.RANK_INDEX_LEASE_SECONDS * 1000)


def _payload_args(states: Iterable[EntryState]) -> list[str]:
    args: list[str] = []
    for s in states:
        rank_value = "" if s.rank_value is None else str(s.rank_value)
        args += [
            str(s.user_id),
            str(s.version),
            rank_value,
            f"{s.total_score}|{s.session_count}|{s.username}",
        ]
    return args


def _by_period(states: Iterable[EntryState]) -> dict[BoardPeriod, list[EntryState]]:
    by_period: dict[BoardPeriod, list[EntryState]] = {}
    for state in states:
        by_period.setdefault(state.board_period, []).append(state)
    return by_period


# --- announcing changes -------------------------------------------------------


def new_token() -> str:
    return uuid.uuid4().hex


def announce(*, board_periods: Iterable[BoardPeriod], token: str) -> None:
    """Record, before COMMIT, that a change of these board periods is in flight (one round trip)."""

    calls: list[Call] = [
        (scripts.ANNOUNCE, bp, [BoardKeys.for_period(bp).inflight], [token]) for bp in board_periods
    ]
    if calls:
        _call(lambda: _run_all(calls))


def withdraw(*, board_periods: Iterable[BoardPeriod], token: str) -> None:
    """Retire an announcement whose transaction rolls back for sure (one round trip)."""
    calls: list[Call] = [
        (scripts.WITHDRAW, bp, [BoardKeys.for_period(bp).inflight], [token]) for bp in board_periods
    ]
    if calls:
        _call(lambda: _run_all(calls))


def mark_incomplete(*, board_periods: Iterable[BoardPeriod], tokens: Iterable[str] = ()) -> None:
    """These board periods may miss a committed change: drop `ready`, outdate running rebuilds."""

    calls: list[Call] = []
    for bp in board_periods:
        k = BoardKeys.for_period(bp)
        calls.append((scripts.MARK_INCOMPLETE, bp, [k.ready, k.gen, k.inflight], list(tokens)))
    if calls:
        _call(lambda: _run_all(calls))


def sweep(*, board_periods: Iterable[BoardPeriod]) -> dict[BoardPeriod, bool]:
    """Treat changes announced too long ago as lost; return which board periods are complete."""
    periods = list(board_periods)
    if not periods:
        return {}
    calls: list[Call] = []
    for bp in periods:
        k = BoardKeys.for_period(bp)
        calls.append((scripts.SWEEP, bp, [k.ready, k.inflight, k.gen], [_bound_ms()]))
    results = _call(lambda: _run_all(calls))
    return {bp: not _is_cold(r) and bool(int(r)) for bp, r in zip(periods, results, strict=True)}


# --- writes -------------------------------------------------------------------


def apply_changes(states: list[EntryState], *, token: str = "") -> dict[BoardPeriod, tuple[int, int]]:
    """Write committed entry states into the index and retire their announcement `token`.

    Older versions are ignored; a period whose keys expired takes nothing. Returns, per board
    period whose index is complete, the last state's (players above, players). Raises
    IndexUnavailable if Redis cannot take the write.
    """
    by_period = _by_period(states)
    calls: list[Call] = []
    for bp, period_states in by_period.items():
        k = BoardKeys.for_period(bp)
        keys = [
            k.z,
            k.h,
            k.rebuilding,
            k.z_next,
            k.h_next,
            k.top,
            k.top_min,
            k.top_ids,
            k.top_gen,
            k.ready,
            k.inflight,
            k.gen,
        ]
        calls.append((scripts.APPLY_LIVE, bp, keys, [token, str(_bound_ms()), *_payload_args(period_states)]))
    if not calls:
        return {}
    results = _call(lambda: _run_all(calls))
    return {
        bp: (int(result[1]), int(result[2]))
        for bp, result in zip(by_period, results, strict=True)
        if not _is_cold(result) and int(result[0])
    }


def force_entries(states: list[EntryState]) -> None:
    """Overwrite these players' index entries with the database's (the caller holds their locks)."""
    for bp, period_states in _by_period(states).items():
        k = BoardKeys.for_period(bp)
        keys = [k.z, k.h, k.top, k.top_min, k.top_ids, k.top_gen]
        args = _payload_args(period_states)
        _call(lambda bp=bp, keys=keys, args=args: _run(scripts.FORCE, bp, keys, args))  # type: ignore[misc]


# --- reads --------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedStanding:
    username: str
    total_score: int
    session_count: int
    players_above: int
    total_players: int


def _complete_result(result: Any, board_period: BoardPeriod) -> list[Any]:
    # No rebuild is started here: a missing `ready` is itself the request the rank index worker
    # acts on, and a rebuild never runs on a serving worker's database connection.
    if _is_cold(result) or not int(result[0]):
        raise IndexUnavailable(f"rank index of {board_period} is not complete")
    return list(result)


def read_standing(*, board_period: BoardPeriod, user_id: int) -> IndexedStanding | None:
    """The player's entry and position; None if the index holds no entry for them."""
    k = BoardKeys.for_period(board_period)
    keys = [k.z, k.h, k.ready, k.inflight, k.gen]
    result = _call(lambda: _run(scripts.READ_STANDING, board_period, keys, [user_id, _bound_ms()]))
    _, entry, above, players = _complete_result(result, board_period)
    if not entry:
        return None
    _, value, sessions, username = entry.decode().split("|", 3)
    return IndexedStanding(
        username=username,
        total_score=int(value),
        session_count=int(sessions),
        players_above=int(above),
        total_players=int(players),
    )


def read_placement(*, board_period: BoardPeriod, user_id: int, rank_value: int) -> tuple[int, int]:
    """(players with a strictly greater rank value, players on the board once this one is on it)."""
    k = BoardKeys.for_period(board_period)
    keys = [k.z, k.ready, k.inflight, k.gen]
    result = _call(
        lambda: _run(scripts.READ_PLACEMENT, board_period, keys, [rank_value, user_id, _bound_ms()])
    )
    result = _complete_result(result, board_period)
    return int(result[1]), int(result[2])


def read_ranks(*, board_period: BoardPeriod, rank_values: list[int]) -> tuple[dict[int, int], int]:
    """Players with a strictly greater rank value than each of these, and the players, in one call."""
    distinct = sorted(set(rank_values))
    k = BoardKeys.for_period(board_period)
    keys = [k.z, k.ready, k.inflight, k.gen]
    result = _call(lambda: _run(scripts.READ_RANKS, board_period, keys, [_bound_ms(), *distinct]))
    result = _complete_result(result, board_period)
    return {value: int(above) for value, above in zip(distinct, result[2:], strict=True)}, int(result[1])


@dataclass(frozen=True)
class CachedTop:
    rows: list[dict[str, Any]] | None  # None: not cached, fill it (or the body was asked for)
    body: bytes | None  # the ready-to-send rows (`rules.encode_rows`), when asked for and cached
    generation: str
    total_players: int


def read_top(*, board_period: BoardPeriod, body: bool = False) -> CachedTop:
    """The cached top listing: its rows, or (`body`) its ready-to-send JSON; none on a miss."""
    k = BoardKeys.for_period(board_period)
    keys = [k.z, k.ready, k.top, k.top_gen, k.inflight, k.gen]
    form = "body" if body else "rows"
    result = _call(lambda: _run(scripts.READ_TOP, board_period, keys, [_bound_ms(), form]))
    _, cached, generation, players = _complete_result(result, board_period)
    _count_top_lookup(board_period, hit=bool(cached))
    return CachedTop(
        rows=_rows_from_json(cached) if cached and not body else None,
        body=cached if cached and body else None,
        generation=generation.decode() if isinstance(generation, bytes) else str(generation),
        total_players=int(players),
    )


# Top-cache lookups counted in this process, sent to Redis with a later call at most every
# STATS_SEND_SECONDS: the figures lag by that much, and no read writes to Redis for them.
STATS_SEND_SECONDS = 1.0
_lookups: dict[BoardPeriod, list[int]] = {}
_lookups_lock = threading.Lock()
_lookups_sent_at = 0.0


def _count_top_lookup(board_period: BoardPeriod, *, hit: bool) -> None:
    global _lookups_sent_at
    with _lookups_lock:
        counts = _lookups.setdefault(board_period, [0, 0])
        counts[0 if hit else 1] += 1
        now = time.monotonic()
        if now - _lookups_sent_at < STATS_SEND_SECONDS:
            return
        _lookups_sent_at = now
        pending = _take_lookups()
    for bp, (hits, misses) in pending.items():
        # With the next Redis call; lost with it if that call fails (figures, not data).
        redis_client.ride_along(
            scripts.COUNT_TOP_LOOKUPS,
            [BoardKeys.for_period(bp).stats],
            [_expire_at_ms(bp), hits, misses],
            lambda result: None,
        )


def _take_lookups() -> dict[BoardPeriod, list[int]]:
    pending = {bp: counts for bp, counts in _lookups.items() if any(counts)}
    _lookups.clear()
    return pending


def send_top_lookups() -> None:
    """Send this process's lookup counts now (before reading the shared figures)."""
    with _lookups_lock:
        pending = _take_lookups()
    calls: list[Call] = [
        (scripts.COUNT_TOP_LOOKUPS, bp, [BoardKeys.for_period(bp).stats], [hits, misses])
        for bp, (hits, misses) in pending.items()
    ]
    if calls:
        _call(lambda: _run_all(calls))


def _rows_to_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps([{**row, "last_updated": row["last_updated"].isoformat()} for row in rows])


def _rows_from_json(text: bytes) -> list[dict[str, Any]]:
    return [{**row, "last_updated": datetime.fromisoformat(row["last_updated"])} for row in json.loads(text)]


def fill_top(*, board_period: BoardPeriod, generation: str, rows: list[dict[str, Any]]) -> None:
    """Cache the top rows unless a write changed the listing since `generation` was read.

    Rows hold `rank_value` and `last_updated` besides what a listing shows (cursors need them).
    """
    k = BoardKeys.for_period(board_period)
    # Fewer rows than the cache holds: any newcomer could enter, so every write invalidates.
    min_value = rows[-1]["rank_value"] if len(rows) >= TOP_CACHE_ROWS else ""
    body = encode_rows(ranked_rows(rows))
    args = [generation, settings.LEADERBOARD_TOP_CACHE_SECONDS, _rows_to_json(rows), min_value, body]
    args += [row["user_id"] for row in rows]
    keys = [k.top, k.top_min, k.top_ids, k.top_gen]
    with contextlib.suppress(IndexUnavailable):  # the next read fills it instead
        _call(lambda: _run(scripts.FILL_TOP, board_period, keys, args))


def cache_stats(*, board_periods: Iterable[BoardPeriod]) -> dict[str, int]:
    """Top-listing cache counters summed over these board periods."""
    periods = list(board_periods)
    send_top_lookups()

    def read() -> list[Any]:
        pipe = _client().pipeline(transaction=False)
        for bp in periods:
            pipe.hgetall(BoardKeys.for_period(bp).stats)
        return list(pipe.execute())

    counts: dict[str, int] = {}
    for raw in _call(read):
        for key, value in raw.items():
            counts[key.decode()] = counts.get(key.decode(), 0) + int(value)
    return counts


def is_ready(board_period: BoardPeriod) -> bool:
    """Whether the period's index is complete now (a change announced too long ago says no)."""
    try:
        return sweep(board_periods=[board_period])[board_period]
    except IndexUnavailable:
        return False


# --- rebuild ------------------------------------------------------------------

REBUILD_BATCH = 2000


def rebuild(*, board_period: BoardPeriod, on_progress: Callable[[int], None] | None = None) -> int:
    """Stream a board period from PostgreSQL into fresh keys, then swap them in atomically.

    Writes committed while it runs go to both the live and the fresh keys (see APPLY_LIVE),
    and versions settle who wins, so nothing that commits during a rebuild is lost. The swap
    refuses (RebuildRefused) if a change was lost since the rebuild began, or if its lease
    lapsed: a rebuild holds its lock and write-routing flag for RANK_INDEX_LEASE_SECONDS,
    renewed with every batch, so a rebuilder that dies frees them within seconds.
    """
    from leaderboard.models import LeaderboardEntry

    bp = board_period
    k = BoardKeys.for_period(bp)
    token = new_token()
    lease = _lease_ms()
    begun = _call(
        lambda: _run(
            scripts.BEGIN_REBUILD, bp, [k.lock, k.rebuilding, k.z_next, k.h_next, k.gen], [token, lease]
        )
    )
    if _is_cold(begun):
        raise RebuildRefused(f"{bp} is no longer indexed (its archive grace time is over)")
    if begun is None:
        raise RebuildInProgress(f"{bp} is already being rebuilt")
    generation = begun.decode() if isinstance(begun, bytes) else str(begun)
    swapped = False
    try:
        _wait_out_earlier_announcements(bp, k, token)
        rows = (
            LeaderboardEntry.objects.filter(board_id=bp.board_id, period=bp.period)
            .values_list("user_id", "version", "rank_value", "total_score", "session_count", "username")
            .iterator(chunk_size=REBUILD_BATCH)
        )
        done = 0
        batch: list[EntryState] = []
        # In a transaction the cursor streams batch by batch; outside one PostgreSQL would
        # materialise the whole board before the first row, with no lease renewal meanwhile.
        with transaction.atomic():
            for user_id, version, rank_value, total, sessions, username in rows:
                batch.append(EntryState(bp, user_id, version, rank_value, total, sessions, username))
                if len(batch) == REBUILD_BATCH:
                    _write_rebuild_batch(bp, k, batch, token)
                    done += len(batch)
                    batch = []
                    if on_progress:
                        on_progress(done)
        _write_rebuild_batch(bp, k, batch, token)
        done += len(batch)
        if on_progress and batch:
            on_progress(done)
        keys = [
            k.z,
            k.h,
            k.z_next,
            k.h_next,
            k.ready,
            k.rebuilding,
            k.top,
            k.top_min,
            k.top_ids,
            k.top_gen,
            k.lock,
            k.gen,
            k.inflight,
        ]
        args = [token, str(int(time.time())), generation, _bound_ms()]
        result = _call(lambda: _run(scripts.SWAP_IN, bp, keys, args))
        if _is_cold(result):
            raise RebuildRefused(f"{bp} is no longer indexed (its archive grace time is over)")
        if not int(result[0]):
            raise RebuildRefused(f"rebuild of {bp} refused ({result[1].decode()})")
        swapped = True
        return int(result[1])
    finally:
        if not swapped:
            with contextlib.suppress(RedisError, IndexUnavailable):  # else the lease lapses by itself
                _call(lambda: _run(scripts.RELEASE, bp, [k.lock, k.rebuilding, k.z_next, k.h_next], [token]))


def _wait_out_earlier_announcements(bp: BoardPeriod, k: BoardKeys, token: str) -> None:
    """On a Redis that lost its data, wait one announcement bound before reading the snapshot.

    Announcements made before the loss are gone with it; their transactions commit within the
    bound, so a snapshot read after it holds every one of them.
    """
    age_ms = int(_call(lambda: redis_client.run_script(scripts.EPOCH_AGE, [epoch_key()], [])))
    remaining = (_bound_ms() - age_ms) / 1000
    deadline = time.monotonic() + remaining
    while (left := deadline - time.monotonic()) > 0:
        _renew_lease(bp, k, token)
        time.sleep(min(left, settings.RANK_INDEX_LEASE_SECONDS / 3))


def _renew_lease(bp: BoardPeriod, k: BoardKeys, token: str) -> None:
    result = _call(lambda: _run(scripts.RENEW_LEASE, bp, [k.lock, k.rebuilding], [token, _lease_ms()]))
    if _is_cold(result) or not int(result):
        raise RebuildRefused("the rebuild lost its lease")


def _write_rebuild_batch(bp: BoardPeriod, k: BoardKeys, batch: list[EntryState], token: str) -> None:
    args = [token, str(_lease_ms()), *_payload_args(batch)]
    keys = [k.z_next, k.h_next, k.lock, k.rebuilding]
    result = _call(lambda: _run(scripts.APPLY_REBUILD, bp, keys, args))
    if _is_cold(result) or not int(result):
        raise RebuildRefused("the rebuild lost its lease")


# --- inspection (check_rank_index) --------------------------------------------


def read_entries(
    *, board_period: BoardPeriod, user_ids: list[int]
) -> tuple[dict[int, tuple[int, int, str] | None], list[int | None]]:
    """What the index holds for these players, in one round trip: their live hash entries
    ((value, sessions, username), or None) and their sorted-set rank values (None: not a member)."""
    k = BoardKeys.for_period(board_period)
    members = [str(u) for u in user_ids]

    def read() -> list[Any]:
        pipe = _client().pipeline(transaction=False)
        pipe.hmget(k.h, members)
        pipe.zmscore(k.z, members)
        return list(pipe.execute())

    values, scores = _call(read)
    found: dict[int, tuple[int, int, str] | None] = {}
    for user_id, value in zip(user_ids, values, strict=True):
        parts = value.decode().split("|", 3) if value else []
        found[user_id] = (int(parts[1]), int(parts[2]), parts[3]) if len(parts) == 4 else None
    return found, [None if score is None else int(score) for score in scores]


def count_live_entries(*, board_period: BoardPeriod, count: int) -> int:
    """How many players the hash holds a live entry for (removed ones leave a marker)."""
    return sum(len(batch) for batch in scan_entries(board_period=board_period, count=count))


def scan_entries(*, board_period: BoardPeriod, count: int) -> Iterable[list[int]]:
    """User ids of every live entry of the hash, in batches of about `count`."""
    k = BoardKeys.for_period(board_period)
    cursor = 0
    while True:
        cursor, page = _call(lambda cursor=cursor: _client().hscan(k.h, cursor, count=count))  # type: ignore[misc]
        entries: dict[bytes, bytes] = page  # type: ignore[assignment]
        live = [int(uid) for uid, value in entries.items() if not value.endswith(b"|x")]
        if live:
            yield live
        if cursor == 0:
            return


def scan_members(*, board_period: BoardPeriod, count: int) -> Iterable[list[int]]:
    """User ids of every member of the sorted set, in batches of about `count`."""
    k = BoardKeys.for_period(board_period)
    cursor = 0
    while True:
        cursor, page = _call(lambda cursor=cursor: _client().zscan(k.z, cursor, count=count))  # type: ignore[misc]
        if page:
            yield [int(member) for member, _ in page]
        if cursor == 0:
            return


def read_top_ids(*, board_period: BoardPeriod, count: int) -> list[tuple[int, int]]:
    """The index's `count` greatest (user id, rank value) pairs, ties in any order."""
    k = BoardKeys.for_period(board_period)
    pairs: list[tuple[bytes, float]] = _call(lambda: _client().zrevrange(k.z, 0, count - 1, withscores=True))  # type: ignore[arg-type,return-value]
    return [(int(member), int(score)) for member, score in pairs]


def count_indexed(*, board_period: BoardPeriod) -> int:
    return int(_call(lambda: _client().zcard(BoardKeys.for_period(board_period).z)))
