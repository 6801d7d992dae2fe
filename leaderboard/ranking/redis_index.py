"""The rank index: one Redis sorted set per board, plus the cached top listing.

Per board, under one hash tag so every key of a board lives in one Redis Cluster slot:
  z        sorted set   user id -> total (rank = 1 + members with a strictly higher total)
  h        hash         user id -> "version|total|sessions|username" ("version|x" once removed)
  ready    string       present only while the index is known to be complete
  z:next, h:next, rebuilding   the index being rebuilt, and the flag that routes live writes to it too
  top, top:min, top:ids, top:gen   cached top rows, what would invalidate them, and a fill guard
  stats    hash         hits and misses of the cached top
Each write carries the entry's version; Lua scripts apply it only if it is newer, so a late or
repeated write can never put an older total back. Calls go through `redis_client` and its breaker.
"""

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from redis import Redis
from redis.exceptions import RedisError

from leaderboard import redis_client
from leaderboard.ranking.rules import EntryState

log = logging.getLogger(__name__)
T = TypeVar("T")

# How many cached top rows; listings of up to this many are served from the cache.
TOP_CACHE_ROWS = 100

_APPLY_FUNCTION = """
local function apply(z, h, uid, version, total, payload)
  local current = redis.call('HGET', h, uid)
  if current and tonumber(string.match(current, '^(%d+)|')) >= tonumber(version) then
    return 0
  end
  if total == '' then
    redis.call('ZREM', z, uid)
    redis.call('HSET', h, uid, version .. '|x')
  else
    redis.call('ZADD', z, total, uid)
    redis.call('HSET', h, uid, version .. '|' .. total .. '|' .. payload)
  end
  return 1
end
"""

# KEYS: z h rebuilding z:next h:next top top:min top:ids top:gen ready
# ARGV: (uid version total payload)*  ->  {ready, players above the last one, players} or {0}
APPLY_LIVE = (
    _APPLY_FUNCTION
    + """
local rebuilding = redis.call('EXISTS', KEYS[3]) == 1
local invalidate = false
local min = redis.call('GET', KEYS[7])
for i = 1, #ARGV, 4 do
  local uid, version, total, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if rebuilding then apply(KEYS[4], KEYS[5], uid, version, total, payload) end
  if apply(KEYS[1], KEYS[2], uid, version, total, payload) == 1 then
    if (not min) or total == '' or tonumber(total) >= tonumber(min)
       or redis.call('SISMEMBER', KEYS[8], uid) == 1 then
      invalidate = true
    end
  end
end
if invalidate then
  redis.call('DEL', KEYS[6], KEYS[7], KEYS[8])
  redis.call('INCR', KEYS[9])
end
-- The last player's placement, read in the same call: a submit needs it right after its write.
local total = ARGV[#ARGV - 1]
if redis.call('EXISTS', KEYS[10]) == 0 or total == '' then return {0} end
return {1, redis.call('ZCOUNT', KEYS[1], '(' .. total, '+inf'), redis.call('ZCARD', KEYS[1])}
"""
)

# KEYS: z:next h:next   ARGV: (uid version total payload)*
APPLY_REBUILD = (
    _APPLY_FUNCTION
    + """
for i = 1, #ARGV, 4 do apply(KEYS[1], KEYS[2], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]) end
return 1
"""
)

# KEYS: z h z:next h:next ready rebuilding top top:min top:ids top:gen   ARGV: ready-value
# The old keys are UNLINKed first: freeing a million members happens in the background, where a
# RENAME over them would free them inline and stall Redis for every client.
SWAP_IN = """
redis.call('UNLINK', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('RENAME', KEYS[3], KEYS[1]) end
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[2]) end
redis.call('SET', KEYS[5], ARGV[1])
redis.call('DEL', KEYS[6], KEYS[7], KEYS[8], KEYS[9])
redis.call('INCR', KEYS[10])
return redis.call('ZCARD', KEYS[1])
"""

# KEYS: z h ready   ARGV: uid  ->  {ready, entry or false, players above, players}
READ_STANDING = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {0} end
local entry = redis.call('HGET', KEYS[2], ARGV[1])
local players = redis.call('ZCARD', KEYS[1])
if (not entry) or string.find(entry, '|x', 1, true) then return {1, false, 0, players} end
local total = string.match(entry, '^%d+|(%d+)|')
return {1, entry, redis.call('ZCOUNT', KEYS[1], '(' .. total, '+inf'), players}
"""

# KEYS: z ready   ARGV: total uid  ->  {ready, players above, players counting this one}
READ_PLACEMENT = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
local players = redis.call('ZCARD', KEYS[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then players = players + 1 end
return {1, redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[1], '+inf'), players}
"""

# KEYS: z ready top top:gen stats   ->  {ready, cached rows or false, fill generation, players}
READ_TOP = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {0} end
local rows = redis.call('GET', KEYS[3])
redis.call('HINCRBY', KEYS[5], rows and 'top_hits' or 'top_misses', 1)
return {1, rows, redis.call('GET', KEYS[4]) or '0', redis.call('ZCARD', KEYS[1])}
"""

# KEYS: top top:min top:ids top:gen   ARGV: generation-seen ttl rows min uid*
# Stores the rows only if no write invalidated the listing since they were read.
FILL_TOP = """
if (redis.call('GET', KEYS[4]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[2])
redis.call('DEL', KEYS[3])
if #ARGV > 4 then redis.call('SADD', KEYS[3], unpack(ARGV, 5)) end
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"""


class IndexUnavailable(Exception):
    """Redis cannot answer now, or the index is not known to be complete."""


class RebuildInProgress(Exception):
    pass


@dataclass(frozen=True)
class BoardKeys:
    z: str
    h: str
    ready: str
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
    def for_board(cls, board_id: int) -> "BoardKeys":
        tag = f"{{{settings.RANK_INDEX_KEY_PREFIX}:b{board_id}}}"
        return cls(
            z=f"{tag}:z",
            h=f"{tag}:h",
            ready=f"{tag}:ready",
            z_next=f"{tag}:z:next",
            h_next=f"{tag}:h:next",
            rebuilding=f"{tag}:rebuilding",
            lock=f"{tag}:lock",
            top=f"{tag}:top",
            top_min=f"{tag}:top:min",
            top_ids=f"{tag}:top:ids",
            top_gen=f"{tag}:top:gen",
            stats=f"{tag}:stats",
        )


def is_enabled() -> bool:
    return redis_client.is_configured()


# Set when a write could not reach Redis: the index may now miss it, so it is rebuilt on recovery.
_missed_writes = threading.Event()


def breaker_is_open() -> bool:
    return redis_client.breaker_is_open()


def close_breaker() -> None:
    redis_client.close_breaker()


def reset_state() -> None:
    """Forget outages and missed writes (a fresh process starts this way)."""
    redis_client.close_breaker()
    _missed_writes.clear()


def _client() -> Redis:
    return redis_client.client()


def _run(source: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
    return redis_client.run_script(source, keys, args, pipe=client)


def _call(operation: Callable[[], T], *, reads_index: bool = False) -> T:
    # After missed writes, the first call that reaches Redis again starts the recovery only once
    # it has answered: what it read is from the index that missed them, so it is not served.
    missed_before = reads_index and _missed_writes.is_set()
    try:
        result = redis_client.call(operation)
    except redis_client.RedisUnavailable as exc:
        raise IndexUnavailable(str(exc)) from exc
    if missed_before:
        raise IndexUnavailable("the rank index missed writes; it is rebuilt before it is served again")
    return result


def _after_redis_success() -> None:
    if _missed_writes.is_set():
        _recover_after_missed_writes()


redis_client.on_success(_after_redis_success)


def _payload_args(states: Iterable[EntryState]) -> list[str]:
    args: list[str] = []
    for s in states:
        total = "" if s.total_score is None else str(s.total_score)
        args += [str(s.user_id), str(s.version), total, f"{s.session_count}|{s.username}"]
    return args


# --- writes -------------------------------------------------------------------


def apply_changes(states: list[EntryState]) -> dict[int, tuple[int, int]]:
    """Write committed entry states into the index; older versions are ignored.

    Returns, per board whose index is complete, the last state's (players above, players).
    """
    by_board: dict[int, list[EntryState]] = {}
    for state in states:
        by_board.setdefault(state.board_id, []).append(state)

    def write() -> list[Any]:
        pipe = _client().pipeline(transaction=False)
        for board_id, board_states in by_board.items():
            k = BoardKeys.for_board(board_id)
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
            ]
            _run(APPLY_LIVE, keys, _payload_args(board_states), client=pipe)
        return list(pipe.execute())

    missed_before = _missed_writes.is_set()
    try:
        results = _call(write)
    except IndexUnavailable:
        _missed_writes.set()
        log.warning("Rank index write skipped (Redis unavailable); it will be rebuilt on recovery.")
        return {}
    if missed_before:
        return {}  # placements read from an index that missed writes: SQL answers them
    return {
        board_id: (int(result[1]), int(result[2]))
        for board_id, result in zip(by_board, results, strict=True)
        if int(result[0])
    }


def _recover_after_missed_writes() -> None:
    """Redis answers again after writes were lost: stop trusting the index, then rebuild it."""
    _missed_writes.clear()
    from leaderboard.ranking.sql import list_board_ids

    board_ids = list_board_ids()
    try:
        _client().delete(*(BoardKeys.for_board(board_id).ready for board_id in board_ids))
    except RedisError:
        _missed_writes.set()
        return
    for board_id in board_ids:
        request_rebuild(board_id)


# --- reads --------------------------------------------------------------------


@dataclass(frozen=True)
class IndexedStanding:
    username: str
    total_score: int
    session_count: int
    players_above: int
    total_players: int


def read_standing(*, board_id: int, user_id: int) -> IndexedStanding | None:
    """The player's entry and position; None if the index holds no entry for them."""
    k = BoardKeys.for_board(board_id)
    result = _call(lambda: _run(READ_STANDING, [k.z, k.h, k.ready], [user_id]), reads_index=True)
    _require_ready(result, board_id)
    _, entry, above, players = result
    if not entry:
        return None
    _, total, sessions, username = entry.decode().split("|", 3)
    return IndexedStanding(
        username=username,
        total_score=int(total),
        session_count=int(sessions),
        players_above=int(above),
        total_players=int(players),
    )


def read_placement(*, board_id: int, user_id: int, total_score: int) -> tuple[int, int]:
    """(players with a strictly higher total, players on the board once this one is on it)."""
    k = BoardKeys.for_board(board_id)
    result = _call(lambda: _run(READ_PLACEMENT, [k.z, k.ready], [total_score, user_id]), reads_index=True)
    _require_ready(result, board_id)
    return int(result[1]), int(result[2])


@dataclass(frozen=True)
class CachedTop:
    rows: list[dict[str, Any]] | None  # None: not cached, fill it
    generation: str
    total_players: int


def read_top(*, board_id: int) -> CachedTop:
    k = BoardKeys.for_board(board_id)
    result = _call(lambda: _run(READ_TOP, [k.z, k.ready, k.top, k.top_gen, k.stats], []), reads_index=True)
    _require_ready(result, board_id)
    _, rows, generation, players = result
    return CachedTop(
        rows=json.loads(rows) if rows else None,
        generation=generation.decode() if isinstance(generation, bytes) else str(generation),
        total_players=int(players),
    )


def fill_top(*, board_id: int, generation: str, rows: list[dict[str, Any]]) -> None:
    """Cache the top rows unless a write changed the listing since `generation` was read."""
    k = BoardKeys.for_board(board_id)
    # Fewer rows than the cache holds: any newcomer could enter, so every write invalidates.
    min_total = rows[-1]["total_score"] if len(rows) >= TOP_CACHE_ROWS else -1
    args = [generation, settings.LEADERBOARD_TOP_CACHE_SECONDS, json.dumps(rows), min_total]
    args += [row["user_id"] for row in rows]
    with contextlib.suppress(IndexUnavailable):  # the next read fills it instead
        _call(lambda: _run(FILL_TOP, [k.top, k.top_min, k.top_ids, k.top_gen], args))


def _require_ready(result: list[Any], board_id: int) -> None:
    if not int(result[0]):
        request_rebuild(board_id)
        raise IndexUnavailable(f"rank index of board {board_id} is not complete")


def cache_stats() -> dict[str, int]:
    """Hits and misses summed over the boards (each board counts under its own hash tag)."""
    from leaderboard.ranking.sql import list_board_ids

    totals: dict[str, int] = {}
    for board_id in list_board_ids():
        key = BoardKeys.for_board(board_id).stats
        raw: dict[bytes, bytes] = _call(lambda key=key: _client().hgetall(key))  # type: ignore[misc,arg-type]
        for name, value in raw.items():
            totals[name.decode()] = totals.get(name.decode(), 0) + int(value)
    return totals


def is_ready(board_id: int) -> bool:
    k = BoardKeys.for_board(board_id)
    try:
        return bool(_call(lambda: _client().exists(k.ready)))
    except IndexUnavailable:
        return False


# --- rebuild and check --------------------------------------------------------

REBUILD_BATCH = 2000
_last_rebuild_request: dict[int, float] = {}


def request_rebuild(board_id: int) -> None:
    """Rebuild a board's index in a background thread, at most every few seconds per process."""
    if not settings.RANK_INDEX_AUTO_REBUILD:
        return
    now = time.monotonic()
    if now - _last_rebuild_request.get(board_id, -1e9) < 10:
        return
    _last_rebuild_request[board_id] = now

    def run() -> None:
        from django.db import connection

        try:
            rebuild(board_id=board_id)
        except (RebuildInProgress, IndexUnavailable):
            pass
        except Exception:
            log.exception("Background rebuild of the rank index for board %s failed", board_id)
        finally:
            connection.close()

    threading.Thread(target=run, name=f"rank-index-rebuild-{board_id}", daemon=True).start()


def rebuild(*, board_id: int, on_progress: Callable[[int], None] | None = None) -> int:
    """Stream a board from PostgreSQL into fresh keys, then swap them in atomically.

    Writes committed while it runs go to both the live and the fresh keys (see APPLY_LIVE),
    and versions settle who wins, so nothing that commits during a rebuild is lost.
    """
    from leaderboard.models import LeaderboardEntry

    k = BoardKeys.for_board(board_id)
    client = _client()
    token = uuid.uuid4().hex
    ttl = settings.RANK_INDEX_REBUILD_TIMEOUT
    if not _call(lambda: client.set(k.lock, token, nx=True, ex=ttl)):
        raise RebuildInProgress(f"board {board_id} is already being rebuilt")
    try:
        _call(lambda: client.unlink(k.z_next, k.h_next))
        # Route live writes to the fresh keys *before* reading the snapshot.
        _call(lambda: client.set(k.rebuilding, "1", ex=ttl))
        rows = (
            LeaderboardEntry.objects.filter(board_id=board_id)
            .values_list("user_id", "version", "total_score", "session_count", "username")
            .iterator(chunk_size=REBUILD_BATCH)
        )
        done = 0
        batch: list[EntryState] = []
        for user_id, version, total, sessions, username in rows:
            batch.append(EntryState(board_id, user_id, version, total, sessions, username))
            if len(batch) == REBUILD_BATCH:
                _write_rebuild_batch(k, batch)
                done += len(batch)
                batch = []
                if on_progress:
                    on_progress(done)
        if batch:
            _write_rebuild_batch(k, batch)
            done += len(batch)
            if on_progress:
                on_progress(done)
        keys = [k.z, k.h, k.z_next, k.h_next, k.ready, k.rebuilding, k.top, k.top_min, k.top_ids, k.top_gen]
        return int(_call(lambda: _run(SWAP_IN, keys, [str(int(time.time()))])))
    finally:
        try:
            if client.get(k.lock) == token.encode():
                client.delete(k.lock, k.rebuilding)
        except RedisError:
            pass  # the lock and flag expire on their own


def _write_rebuild_batch(k: BoardKeys, batch: list[EntryState]) -> None:
    args = _payload_args(batch)
    _call(lambda: _run(APPLY_REBUILD, [k.z_next, k.h_next], args))


def read_entries(*, board_id: int, user_ids: list[int]) -> dict[int, tuple[int, int, str] | None]:
    """What the index holds for these players: (total, sessions, username), or None."""
    k = BoardKeys.for_board(board_id)
    values: list[bytes | None] = _call(lambda: _client().hmget(k.h, [str(u) for u in user_ids]))  # type: ignore[arg-type,return-value]
    found: dict[int, tuple[int, int, str] | None] = {}
    for user_id, value in zip(user_ids, values, strict=True):
        parts = value.decode().split("|", 3) if value else []
        found[user_id] = (int(parts[1]), int(parts[2]), parts[3]) if len(parts) == 4 else None
    return found


def read_top_ids(*, board_id: int, count: int) -> list[tuple[int, int]]:
    """The index's `count` highest (user id, total) pairs, ties in any order."""
    k = BoardKeys.for_board(board_id)
    pairs: list[tuple[bytes, float]] = _call(lambda: _client().zrevrange(k.z, 0, count - 1, withscores=True))  # type: ignore[arg-type,return-value]
    return [(int(member), int(score)) for member, score in pairs]


def count_indexed(*, board_id: int) -> int:
    return int(_call(lambda: _client().zcard(BoardKeys.for_board(board_id).z)))
