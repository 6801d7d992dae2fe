"""Every committed change reaches the rank index, or the index stops being trusted.

Before COMMIT a change is announced per board period (a token in `inflight`); its after-commit write
retires the token. If the announcement cannot be made, a debt row is written in the same
transaction instead, so the debt exists exactly when the change committed. Whoever finds a
change that may have missed the index (a debt row, a token older than the bound, a commit whose
outcome is unknown, a failed publish) marks the board incomplete: `ready` goes and the board's
generation moves on, which also stops any rebuild that began earlier from being swapped in.
docs/decisions/0010-rank-index-completeness.md has the argument.
"""

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from django.db import connection, transaction

from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.ranking import redis_index
from leaderboard.ranking.redis_index import IndexUnavailable

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Intent:
    """A change announced to the index before its COMMIT (or recorded as a debt row instead)."""

    token: str
    board_periods: tuple[BoardPeriod, ...]
    announced: bool


class _Local(threading.local):
    def __init__(self) -> None:
        # Intents of this thread's open transaction not yet published.
        self.open: list[Intent] = []


_local = _Local()
_lock = threading.Lock()
# Board periods this process failed to publish to, and whether it wrote debt rows: before its next
# index read it settles them itself instead of waiting for the worker's sweep.
_unpublished: dict[BoardPeriod, set[str]] = {}
_debt_written = threading.Event()
_settling = threading.local()


def announce(*, board_periods: Iterable[BoardPeriod]) -> Intent:
    """Announce a change of these board periods; call inside the transaction, just before it ends."""
    unique = tuple(sorted(set(board_periods), key=lambda bp: (bp.board_id, bp.period)))
    token = redis_index.new_token()
    try:
        redis_index.announce(board_periods=unique, token=token)
        announced = True
    except IndexUnavailable:
        _write_debt(unique)
        announced = False
    intent = Intent(token=token, board_periods=unique, announced=announced)
    _local.open.append(intent)
    return intent


def _write_debt(board_periods: tuple[BoardPeriod, ...]) -> None:
    from leaderboard.models import RankIndexDebt

    # In the change's own transaction: it commits, or vanishes, with the change.
    RankIndexDebt.objects.bulk_create(
        [RankIndexDebt(board_id=bp.board_id, period=bp.period) for bp in board_periods]
    )
    _debt_written.set()
    log.warning("Rank index unreachable before commit; %s owe a rebuild.", [str(bp) for bp in board_periods])


def published(intent: Intent | None) -> None:
    """The intent's change reached the index."""
    if intent is not None and intent in _local.open:
        _local.open.remove(intent)


def withdraw(intent: Intent | None) -> None:
    """The intent's transaction is about to roll back (before COMMIT, so for sure): nothing to publish.

    If Redis cannot take it, the token ages into a loss and the index is rebuilt: safe, only slower.
    """
    if intent is None:
        return
    published(intent)
    if intent.announced:
        with contextlib.suppress(IndexUnavailable):
            redis_index.withdraw(board_periods=intent.board_periods, token=intent.token)


def publish_failed(intent: Intent | None, *, board_periods: Iterable[BoardPeriod]) -> None:
    """A committed change could not be written to the index."""
    published(intent)
    with _lock:
        for bp in board_periods:
            _unpublished.setdefault(bp, set()).add(intent.token if intent else "")
    log.warning("Rank index write skipped (Redis unavailable); the boards are marked incomplete.")


def guard_commit(func: Callable[P, R]) -> Callable[P, R]:
    """Wrap a service whose transaction announces changes (put it outside `transaction.atomic`).

    If the outermost transaction ends in an exception after announcing, COMMIT may or may not
    have happened (a lost reply looks like any other error), so the boards are marked incomplete.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except BaseException:
            if _local.open and not transaction.get_connection().in_atomic_block:
                _abandon_open()
            raise

    return wrapper


def _abandon_open() -> None:
    abandoned, _local.open = _local.open, []
    for intent in abandoned:
        if not intent.announced:
            continue  # its debt row exists exactly if the change committed
        # If Redis is away, the token stays and counts as a loss once it is older than the bound.
        with contextlib.suppress(IndexUnavailable):
            redis_index.mark_incomplete(board_periods=intent.board_periods, tokens=[intent.token])
        log.warning(
            "A commit's outcome is unknown; %s are marked incomplete.",
            [str(bp) for bp in intent.board_periods],
        )


def settle_debts() -> int:
    """Mark incomplete every board period a committed change left a debt row for; return how many.

    The rows are deleted in a transaction that commits only after Redis took the marks, so a
    debt is never forgotten; rows committed meanwhile wait for the next call.
    """
    from leaderboard.models import Board, RankIndexDebt

    table = RankIndexDebt._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} RETURNING board_id, period")
            owed = set(cursor.fetchall())
        boards = {
            b.id: BoardRef.of(b) for b in Board.objects.filter(id__in={board_id for board_id, _ in owed})
        }
        # A deleted board has no index left; a period past its grace time has none either.
        board_periods = [boards[board_id].period(period) for board_id, period in owed if board_id in boards]
        if board_periods:
            redis_index.mark_incomplete(board_periods=board_periods)  # raises: the rows stay
            log.warning(
                "Rank index debt settled: %s marked incomplete.", sorted(str(bp) for bp in board_periods)
            )
    return len(owed)


def settle_own() -> None:
    """Settle what this process itself left, before it trusts the index again."""
    if not (_unpublished or _debt_written.is_set()) or getattr(_settling, "active", False):
        return
    if connection.in_atomic_block:
        return  # never inside someone's transaction; the next call outside one does it
    _settling.active = True
    try:
        with _lock:
            owed = {bp: tokens for bp, tokens in _unpublished.items()}
            _unpublished.clear()
        try:
            for bp, tokens in owed.items():
                redis_index.mark_incomplete(board_periods=[bp], tokens=[t for t in tokens if t])
        except IndexUnavailable:
            with _lock:
                for bp, tokens in owed.items():
                    _unpublished.setdefault(bp, set()).update(tokens)
            return
        if _debt_written.is_set():
            _debt_written.clear()
            try:
                settle_debts()
            except IndexUnavailable:
                _debt_written.set()
    except Exception:
        # The database may be away; the worker's sweep settles the debt rows instead.
        log.exception("Settling rank index debt failed")
    finally:
        _settling.active = False


def reset_state() -> None:
    """Forget this process's pending settlements (a fresh process starts this way)."""
    _local.open = []
    with _lock:
        _unpublished.clear()
    _debt_written.clear()


def has_pending() -> bool:
    return bool(_unpublished) or _debt_written.is_set()
