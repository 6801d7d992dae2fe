"""The rank index: one Redis sorted set per board, plus the cached top listing.

Per board, under one hash tag so every key of a board lives in one Redis Cluster slot:
  z        sorted set   user id -> total (rank = 1 + members with a strictly higher total)
  h        hash         user id -> "version|total|sessions|username" ("version|x" once removed)
  ready    string       present only while the index is known to be complete
  inflight sorted set   changes announced before their COMMIT and not yet published -> when
  gen      counter      bumped whenever a change may have missed the index; outdates rebuilds
  z:next, h:next, rebuilding, lock   the index being rebuilt, the flag that routes live writes to it
                                     too, and the rebuild's lease (short TTLs, renewed while it runs)
  top, top:min, top:ids, top:gen, stats   cached top rows, what would invalidate them, a fill guard,
                                          and the cache's hit counters
Each write carries the entry's version; Lua scripts apply it only if it is newer, so a late or
repeated write can never put an older total back. Calls go through `redis_client` and its breaker.
docs/decisions/0010-rank-index-completeness.md says how an index proves it is complete.
"""

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from redis import Redis
from redis.exceptions import RedisError

from leaderboard import redis_client
from leaderboard.ranking import scripts
from leaderboard.ranking.rules import EntryState

log = logging.getLogger(__name__)
T = TypeVar("T")

# How many cached top rows; listings of up to this many are served from the cache.
TOP_CACHE_ROWS = 100


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
    def for_board(cls, board_id: int) -> "BoardKeys":
        tag = f"{{{settings.RANK_INDEX_KEY_PREFIX}:b{board_id}}}"
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
            top=f"{tag}:top",
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


def _client() -> Redis:
    return redis_client.client()


def _run(source: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
    return redis_client.run_script(source, keys, args, pipe=client)


def _run_all(calls: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
    """Run scripts in one round trip. A single one goes straight to EVALSHA: a pipeline holding
    scripts first asks SCRIPT EXISTS, a second round trip on every submit."""
    if len(calls) == 1:
        return [_run(*calls[0])]
    pipe = _client().pipeline(transaction=False)
    for source, keys, args in calls:
        _run(source, keys, args, client=pipe)
    return list(pipe.execute())


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
        total = "" if s.total_score is None else str(s.total_score)
        args += [str(s.user_id), str(s.version), total, f"{s.session_count}|{s.username}"]
    return args


def _by_board(states: Iterable[EntryState]) -> dict[int, list[EntryState]]:
    by_board: dict[int, list[EntryState]] = {}
    for state in states:
        by_board.setdefault(state.board_id, []).append(state)
    return by_board


# --- announcing changes -------------------------------------------------------


def new_token() -> str:
    return uuid.uuid4().hex


def announce(*, board_ids: Iterable[int], token: str) -> None:
    """Record, before COMMIT, that a change of these boards is in flight (one round trip)."""

    calls = [(scripts.ANNOUNCE, [BoardKeys.for_board(b).inflight], [token]) for b in board_ids]
    _call(lambda: _run_all(calls))


def mark_incomplete(*, board_ids: Iterable[int], tokens: Iterable[str] = ()) -> None:
    """These boards may miss a committed change: drop `ready`, outdate running rebuilds."""

    calls = []
    for board_id in board_ids:
        k = BoardKeys.for_board(board_id)
        calls.append((scripts.MARK_INCOMPLETE, [k.ready, k.gen, k.inflight], list(tokens)))
    if calls:
        _call(lambda: _run_all(calls))


def sweep(*, board_ids: Iterable[int]) -> dict[int, bool]:
    """Treat changes announced too long ago as lost; return which boards are complete."""
    ids = list(board_ids)
    if not ids:
        return {}
    calls = []
    for board_id in ids:
        k = BoardKeys.for_board(board_id)
        calls.append((scripts.SWEEP, [k.ready, k.inflight, k.gen], [_bound_ms()]))
    return {board_id: bool(int(r)) for board_id, r in zip(ids, _call(lambda: _run_all(calls)), strict=True)}


# --- writes -------------------------------------------------------------------


def apply_changes(states: list[EntryState], *, token: str = "") -> dict[int, tuple[int, int]]:
    """Write committed entry states into the index and retire their announcement `token`.

    Older versions are ignored. Returns, per board whose index is complete, the last state's
    (players above, players). Raises IndexUnavailable if Redis cannot take the write.
    """
    by_board = _by_board(states)
    calls = []
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
            k.inflight,
            k.gen,
        ]
        calls.append((scripts.APPLY_LIVE, keys, [token, str(_bound_ms()), *_payload_args(board_states)]))
    if not calls:
        return {}
    results = _call(lambda: _run_all(calls))
    return {
        board_id: (int(result[1]), int(result[2]))
        for board_id, result in zip(by_board, results, strict=True)
        if int(result[0])
    }


def force_entries(states: list[EntryState]) -> None:
    """Overwrite these players' index entries with the database's (the caller holds their locks)."""
    for board_id, board_states in _by_board(states).items():
        k = BoardKeys.for_board(board_id)
        keys = [k.z, k.h, k.top, k.top_min, k.top_ids, k.top_gen]
        args = _payload_args(board_states)
        _call(lambda keys=keys, args=args: _run(scripts.FORCE, keys, args))  # type: ignore[misc]


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
    keys = [k.z, k.h, k.ready, k.inflight, k.gen]
    result = _call(lambda: _run(scripts.READ_STANDING, keys, [user_id, _bound_ms()]))
    _require_complete(result, board_id)
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
    keys = [k.z, k.ready, k.inflight, k.gen]
    result = _call(lambda: _run(scripts.READ_PLACEMENT, keys, [total_score, user_id, _bound_ms()]))
    _require_complete(result, board_id)
    return int(result[1]), int(result[2])


@dataclass(frozen=True)
class CachedTop:
    rows: list[dict[str, Any]] | None  # None: not cached, fill it
    generation: str
    total_players: int


def read_top(*, board_id: int) -> CachedTop:
    k = BoardKeys.for_board(board_id)
    keys = [k.z, k.ready, k.top, k.top_gen, k.stats, k.inflight, k.gen]
    result = _call(lambda: _run(scripts.READ_TOP, keys, [_bound_ms()]))
    _require_complete(result, board_id)
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
        _call(lambda: _run(scripts.FILL_TOP, [k.top, k.top_min, k.top_ids, k.top_gen], args))


def _require_complete(result: list[Any], board_id: int) -> None:
    # No rebuild is started here: a missing `ready` is itself the request the rank index worker
    # acts on, and a rebuild never runs on a serving worker's database connection.
    if not int(result[0]):
        raise IndexUnavailable(f"rank index of board {board_id} is not complete")


def cache_stats(*, board_ids: Iterable[int]) -> dict[str, int]:
    """Top-listing cache counters summed over these boards."""
    ids = list(board_ids)

    def read() -> list[Any]:
        pipe = _client().pipeline(transaction=False)
        for board_id in ids:
            pipe.hgetall(BoardKeys.for_board(board_id).stats)
        return list(pipe.execute())

    counts: dict[str, int] = {}
    for raw in _call(read):
        for key, value in raw.items():
            counts[key.decode()] = counts.get(key.decode(), 0) + int(value)
    return counts


def is_ready(board_id: int) -> bool:
    """Whether the board's index is complete now (a change announced too long ago says no)."""
    try:
        return sweep(board_ids=[board_id])[board_id]
    except IndexUnavailable:
        return False


# --- rebuild ------------------------------------------------------------------

REBUILD_BATCH = 2000


def rebuild(*, board_id: int, on_progress: Callable[[int], None] | None = None) -> int:
    """Stream a board from PostgreSQL into fresh keys, then swap them in atomically.

    Writes committed while it runs go to both the live and the fresh keys (see APPLY_LIVE),
    and versions settle who wins, so nothing that commits during a rebuild is lost. The swap
    refuses (RebuildRefused) if a change was lost since the rebuild began, or if its lease
    lapsed: a rebuild holds its lock and write-routing flag for RANK_INDEX_LEASE_SECONDS,
    renewed with every batch, so a rebuilder that dies frees them within seconds.
    """
    from leaderboard.models import LeaderboardEntry

    k = BoardKeys.for_board(board_id)
    token = new_token()
    lease = _lease_ms()
    begun = _call(
        lambda: _run(scripts.BEGIN_REBUILD, [k.lock, k.rebuilding, k.z_next, k.h_next, k.gen], [token, lease])
    )
    if begun is None:
        raise RebuildInProgress(f"board {board_id} is already being rebuilt")
    generation = begun.decode() if isinstance(begun, bytes) else str(begun)
    swapped = False
    try:
        _wait_out_earlier_announcements(k, token)
        rows = (
            LeaderboardEntry.objects.filter(board_id=board_id)
            .values_list("user_id", "version", "total_score", "session_count", "username")
            .iterator(chunk_size=REBUILD_BATCH)
        )
        done = 0
        batch: list[EntryState] = []
        # In a transaction the cursor streams batch by batch; outside one PostgreSQL would
        # materialise the whole board before the first row, with no lease renewal meanwhile.
        with transaction.atomic():
            for user_id, version, total, sessions, username in rows:
                batch.append(EntryState(board_id, user_id, version, total, sessions, username))
                if len(batch) == REBUILD_BATCH:
                    _write_rebuild_batch(k, batch, token)
                    done += len(batch)
                    batch = []
                    if on_progress:
                        on_progress(done)
        _write_rebuild_batch(k, batch, token)
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
        result = _call(lambda: _run(scripts.SWAP_IN, keys, args))
        if not int(result[0]):
            raise RebuildRefused(f"rebuild of board {board_id} refused ({result[1].decode()})")
        swapped = True
        return int(result[1])
    finally:
        if not swapped:
            with contextlib.suppress(RedisError, IndexUnavailable):  # else the lease lapses by itself
                _call(lambda: _run(scripts.RELEASE, [k.lock, k.rebuilding, k.z_next, k.h_next], [token]))


def _wait_out_earlier_announcements(k: BoardKeys, token: str) -> None:
    """On a Redis that lost its data, wait one announcement bound before reading the snapshot.

    Announcements made before the loss are gone with it; their transactions commit within the
    bound, so a snapshot read after it holds every one of them.
    """
    age_ms = int(_call(lambda: _run(scripts.EPOCH_AGE, [epoch_key()], [])))
    remaining = (_bound_ms() - age_ms) / 1000
    deadline = time.monotonic() + remaining
    while (left := deadline - time.monotonic()) > 0:
        _renew_lease(k, token)
        time.sleep(min(left, settings.RANK_INDEX_LEASE_SECONDS / 3))


def _renew_lease(k: BoardKeys, token: str) -> None:
    if not int(_call(lambda: _run(scripts.RENEW_LEASE, [k.lock, k.rebuilding], [token, _lease_ms()]))):
        raise RebuildRefused("the rebuild lost its lease")


def _write_rebuild_batch(k: BoardKeys, batch: list[EntryState], token: str) -> None:
    args = [token, str(_lease_ms()), *_payload_args(batch)]
    keys = [k.z_next, k.h_next, k.lock, k.rebuilding]
    if not int(_call(lambda: _run(scripts.APPLY_REBUILD, keys, args))):
        raise RebuildRefused("the rebuild lost its lease")


# --- inspection (check_rank_index) --------------------------------------------


def read_entries(
    *, board_id: int, user_ids: list[int]
) -> tuple[dict[int, tuple[int, int, str] | None], list[int | None]]:
    """What the index holds for these players, in one round trip: their live hash entries
    ((total, sessions, username), or None) and their sorted-set totals (None: not a member)."""
    k = BoardKeys.for_board(board_id)
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


def count_live_entries(*, board_id: int, count: int) -> int:
    """How many players the hash holds a live entry for (removed ones leave a marker)."""
    k = BoardKeys.for_board(board_id)
    live = 0
    cursor = 0
    while True:
        cursor, page = _call(lambda cursor=cursor: _client().hscan(k.h, cursor, count=count))  # type: ignore[misc]
        entries: dict[bytes, bytes] = page  # type: ignore[assignment]
        live += sum(1 for value in entries.values() if not value.endswith(b"|x"))
        if cursor == 0:
            return live


def scan_entries(*, board_id: int, count: int) -> Iterable[list[int]]:
    """User ids of every live entry of the hash, in batches of about `count`."""
    k = BoardKeys.for_board(board_id)
    cursor = 0
    while True:
        cursor, page = _call(lambda cursor=cursor: _client().hscan(k.h, cursor, count=count))  # type: ignore[misc]
        entries: dict[bytes, bytes] = page  # type: ignore[assignment]
        live = [int(uid) for uid, value in entries.items() if not value.endswith(b"|x")]
        if live:
            yield live
        if cursor == 0:
            return


def scan_members(*, board_id: int, count: int) -> Iterable[list[int]]:
    """User ids of every member of the sorted set, in batches of about `count`."""
    k = BoardKeys.for_board(board_id)
    cursor = 0
    while True:
        cursor, page = _call(lambda cursor=cursor: _client().zscan(k.z, cursor, count=count))  # type: ignore[misc]
        if page:
            yield [int(member) for member, _ in page]
        if cursor == 0:
            return


def read_top_ids(*, board_id: int, count: int) -> list[tuple[int, int]]:
    """The index's `count` highest (user id, total) pairs, ties in any order."""
    k = BoardKeys.for_board(board_id)
    pairs: list[tuple[bytes, float]] = _call(lambda: _client().zrevrange(k.z, 0, count - 1, withscores=True))  # type: ignore[arg-type,return-value]
    return [(int(member), int(score)) for member, score in pairs]


def count_indexed(*, board_id: int) -> int:
    return int(_call(lambda: _client().zcard(BoardKeys.for_board(board_id).z)))
