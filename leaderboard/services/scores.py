"""Scores: record sessions and keep leaderboard entries equal to them (the SQL is in entries.py)."""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from leaderboard import entries, plausibility, ranking, rate_limits, selectors, submit_statement
from leaderboard.boards import BoardPeriod, BoardRef
from leaderboard.entries import ChangedEntry, CountedSession, EntryTotals
from leaderboard.errors import PlayerNotFound, RateLimited, TotalScoreLimit
from leaderboard.models import GameSession, ScoreBaseline
from users.models import User


@dataclass(frozen=True)
class ScoreStanding:
    """The answer a submit gets: the player's total and place on the default board after it."""

    total_score: int
    session_count: int
    placement: ranking.Placement


@dataclass(frozen=True)
class SubmittedScore:
    session: GameSession
    username: str
    entries: dict[BoardPeriod, EntryTotals]  # every board period the session fed; empty when hidden
    is_hidden: bool = False
    # Filled at commit with the player's placement per board period, where the rank index answered it.
    placements: dict[BoardPeriod, ranking.Placement] = field(default_factory=dict)
    default_board: BoardPeriod | None = None
    # Set once the transaction is over (or, inside an outer one, read before its commit).
    standing: ScoreStanding | None = None


# The largest total any path counts exactly: the rank index keeps totals as Redis sorted-set
# scores (doubles), exact up to 2**53. Far below BIGINT's 2**63 - 1, so the SQL sum cannot overflow.
MAX_TOTAL_SCORE = 2**53 - 1


@ranking.guard_commit
def submit_score(
    *, user_id: int, score: int, game_mode: str, played_at: datetime | None = None
) -> SubmittedScore:
    """Record one game session, played at `played_at` (None: now), on every board and period it
    counts towards, and answer with the player's standing on the default board.

    A hidden player's session is recorded (nothing is lost if they are restored) but counts towards
    no board while they stay hidden; their answer is the place their counted total would earn.
    """
    submitted = _record_session(user_id=user_id, score=score, game_mode=game_mode, played_at=played_at)
    return replace(submitted, standing=_standing_after(submitted))


@dataclass(frozen=True)
class _Written:
    session: GameSession
    username: str
    is_hidden: bool
    default_period: BoardPeriod
    totals: list[EntryTotals]


def _write_session_portable(
    *, user_id: int, score: int, game_mode: str, played_at: datetime, now: datetime
) -> _Written:
    """The session and its entries in portable steps: lock, boards, session, one merge statement."""
    player = lock_player(user_id=user_id)
    # Read in this transaction, not from a per-process cache: a board created a moment ago counts.
    boards = selectors.list_boards_fed_by(game_mode=game_mode)
    default = next(b for b in boards if b.slug == selectors.default_board_slug())
    session = GameSession.objects.create(
        user_id=user_id, score=score, game_mode=game_mode, played_at=played_at
    )
    if player.is_hidden:
        return _Written(session, player.username, True, default.period_at(played_at), [])
    periods = {board.id: board.period_at(played_at) for board in boards}
    totals = entries.merge_entries(
        candidates=entries.fold([CountedSession(session.pk, user_id, score, game_mode, played_at)], boards),
        usernames={user_id: player.username},
        changed_at=now,
    )
    totals = [replace(t, board_period=periods[t.board_period.board_id]) for t in totals]
    return _Written(session, player.username, False, default.period_at(played_at), totals)


def _write_session_in_one_statement(
    *, user_id: int, score: int, game_mode: str, played_at: datetime, now: datetime
) -> _Written:
    written = submit_statement.write_session(
        user_id=user_id,
        score=score,
        game_mode=game_mode,
        played_at=played_at,
        changed_at=now,
        default_board=selectors.default_board_slug(),
    )
    if written is None:
        raise PlayerNotFound(f"No player with id {user_id}.")
    if not written.default_board_counted:
        raise selectors.DefaultBoardMissing()
    session = GameSession(
        pk=written.session_id, user_id=user_id, score=score, game_mode=game_mode, played_at=played_at
    )
    default = selectors.get_default_board_ref()
    totals = [totals for _, totals in written.entries]
    return _Written(session, written.username, written.is_hidden, default.period_at(played_at), totals)


@transaction.atomic
def _record_session(
    *, user_id: int, score: int, game_mode: str, played_at: datetime | None
) -> SubmittedScore:
    now = timezone.now()
    played_at = played_at or now
    # PostgreSQL takes the whole write in one round trip; the embedded default in portable steps.
    write = _write_session_in_one_statement if connection.vendor == "postgresql" else _write_session_portable
    written = write(user_id=user_id, score=score, game_mode=game_mode, played_at=played_at, now=now)
    session, username, default_period = written.session, written.username, written.default_period
    if written.is_hidden:
        _flag_if_improbable(session, history=None)
        refuse_if_limited(None)
        return SubmittedScore(
            session=session, username=username, entries={}, is_hidden=True, default_board=default_period
        )
    totals = written.totals
    periods = {t.board_period.board_id: t.board_period for t in totals}
    over = [t for t in totals if t.total_score > MAX_TOTAL_SCORE]
    if over:
        # Raised inside the transaction: everything rolls back and nothing is recorded.
        raise TotalScoreLimit(
            f"This score would take the player's total past {MAX_TOTAL_SCORE}, the largest total "
            f"a board counts exactly (it is {over[0].total_score - score} now)."
        )
    by_period = {t.board_period: t for t in totals}
    _flag_if_improbable(session, history=by_period[default_period])
    submitted = SubmittedScore(
        session=session, username=username, entries=by_period, default_board=default_period
    )
    states = [
        ranking.EntryState(
            board_period=t.board_period,
            user_id=user_id,
            version=t.version,
            rank_value=t.rank_value,
            total_score=t.total_score,
            session_count=t.session_count,
            username=username,
        )
        for t in totals
    ]
    # Last thing before COMMIT: from here on the index knows a change of these periods is in flight.
    # The request's limits went in the same round trip: a refused submit rolls back here.
    intent = ranking.announce_changes(board_periods=list(periods.values()))
    refuse_if_limited(intent)

    def publish() -> None:
        submitted.placements.update(ranking.record_entries(states, intent=intent))

    transaction.on_commit(publish, robust=True)
    return submitted


def refuse_if_limited(intent: ranking.Intent | None) -> None:
    """Raise RateLimited (the transaction rolls back) if a limit this request counted refused it.

    The limits rode along with the announcement (or go now, when nothing was announced).
    """
    wait = rate_limits.refused_later()
    if wait is None:
        return
    ranking.withdraw(intent)
    raise RateLimited(
        f"Request was throttled. Expected available in {math.ceil(wait)} seconds; nothing was recorded.",
        wait=wait,
    )


def _flag_if_improbable(session: GameSession, *, history: EntryTotals | None) -> None:
    """Flag a valid but improbable score for review; `history` is the default board entry after it."""
    reason = plausibility.flag_reason(
        score=session.score,
        game_mode=session.game_mode,
        baseline=selectors.get_score_baseline(game_mode=session.game_mode),
        previous_total=history.total_score - session.score if history else 0,
        previous_count=history.session_count - 1 if history else 0,
    )
    if reason:
        GameSession.objects.filter(pk=session.pk).update(is_flagged=True, flag_reason=reason)
        session.is_flagged, session.flag_reason = True, reason


def _standing_after(submitted: SubmittedScore) -> ScoreStanding:
    board_period = submitted.default_board
    assert board_period is not None
    user_id = submitted.session.user_id
    if submitted.is_hidden:
        unlisted = selectors.get_unlisted_standing(user_id=user_id)
        return ScoreStanding(unlisted.total_score, unlisted.session_count, unlisted.placement)
    entry = submitted.entries[board_period]
    # The index's answer at the write after commit when it gave one; else read now (before the
    # commit, in an idempotent submit: the placement counts the total as if it were committed).
    placement = submitted.placements.get(board_period) or ranking.get_placement(
        board_period=board_period, user_id=user_id, rank_value=entry.rank_value
    )
    return ScoreStanding(entry.total_score, entry.session_count, placement)


@dataclass(frozen=True)
class _LockedPlayer:
    username: str
    is_hidden: bool


def lock_player(*, user_id: int) -> _LockedPlayer:
    """Read the player and hold their row until commit.

    Every change of a player's entries happens under this lock (submits, moderation, recounts,
    backfills), so a recount never misses a session committed meanwhile, a hidden player never
    regains an entry, and a submit can read and write its entries as one step.
    `no_key` keeps the lock compatible with the key-share locks of foreign-key checks.
    """
    player = (
        User.objects.select_for_update(no_key=True)
        .filter(pk=user_id)
        .values_list("username", "is_hidden")
        .first()
    )
    if player is None:
        raise PlayerNotFound(f"No player with id {user_id}.")
    return _LockedPlayer(username=player[0], is_hidden=player[1])


def lock_players_after(*, after_id: int, count: int) -> list[int]:
    """Lock the next `count` players by id after `after_id`, as submits lock one; return their ids."""
    return list(
        User.objects.select_for_update(no_key=True)
        .filter(pk__gt=after_id)
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )


def recount_players(*, user_ids: list[int], boards: list[BoardRef]) -> list[ChangedEntry]:
    """Make these players' entries on these boards, every period, equal to their counted sessions.

    The caller holds the players' locks inside its transaction; the changes reach the index after
    commit. Hidden players end with no entries.
    """
    if not user_ids or not boards:
        return []
    modes = {board.game_mode for board in boards}
    sessions = entries.load_counted_sessions(
        user_ids=user_ids, game_mode=modes.pop() if len(modes) == 1 else ""
    )
    usernames = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "username"))
    changed = entries.write_recount(
        user_ids=user_ids,
        board_ids=[board.id for board in boards],
        folded=entries.fold(sessions, boards),
        usernames=usernames,
        changed_at=timezone.now(),
    )
    _publish_changed(changed, boards)
    return changed


def _publish_changed(changed: list[ChangedEntry], boards: list[BoardRef]) -> None:
    by_id = {board.id: board for board in boards}
    states = [
        ranking.EntryState(
            board_period=by_id[c.board_id].period(c.period),
            user_id=c.user_id,
            version=c.version,
            rank_value=c.rank_value,
            total_score=c.total_score or 0,
            session_count=c.session_count,
            username=c.username,
        )
        for c in changed
    ]
    if not states:
        return
    intent = ranking.announce_changes(board_periods={s.board_period for s in states})
    # robust: a failing index update must not turn a committed change into an error.
    transaction.on_commit(partial(ranking.record_entries, states, intent=intent), robust=True)


def rebuild_player_entries(*, user_id: int) -> None:
    """Recount one player on every board from their counted sessions (the caller holds their lock).

    Every board, inactive ones too: their entries stay readable, and a hidden player's removal
    took them off all boards, so a restore or a void must reach all of them.
    """
    recount_players(user_ids=[user_id], boards=selectors.list_boards())


@ranking.guard_commit
@transaction.atomic
def recount_board_batch(*, board: BoardRef, after_id: int, count: int) -> tuple[int | None, int]:
    """Recount the next `count` players (by id) on a board under their locks.

    Returns the last player id seen (None when there are no more players) and how many entries changed.
    """
    user_ids = lock_players_after(after_id=after_id, count=count)
    if not user_ids:
        return None, 0
    changed = recount_players(user_ids=user_ids, boards=[board])
    return user_ids[-1], len(changed)


def rebuild_board(
    *, board: BoardRef, batch: int = 1000, on_progress: Callable[[int], object] | None = None
) -> int:
    """Fill a board from the session log, every period, while submits keep arriving.

    Each batch of players is recounted under the same row locks submits take, so a submit runs
    wholly before or after its player's recount and the result equals what live updates would have
    produced. `on_progress` gets the last player id done after each batch. Returns how many entries changed.
    """
    after_id, changed = 0, 0
    while True:
        last_id, batch_changed = recount_board_batch(board=board, after_id=after_id, count=batch)
        if last_id is None:
            return changed
        changed += batch_changed
        if on_progress:
            on_progress(last_id)
        after_id = last_id


def publish_entries_changed(*, user_ids: list[int]) -> None:
    """Announce the players' entry changes to the index now and publish them after commit.

    Callers run it at the end of their transaction and are wrapped in `ranking.guard_commit`.
    """
    intent = ranking.announce_changes()
    # robust: a failing index update must not turn a committed change into an error.
    transaction.on_commit(
        partial(ranking.on_entries_changed, user_ids=list(user_ids), intent=intent), robust=True
    )


def repair_index_entries(*, board_period: BoardPeriod, user_ids: list[int]) -> None:
    """Make these players' rank index entries equal to the database's (check_rank_index --repair).

    Each chunk of players is locked as a submit locks them, so no change of theirs commits between
    reading the entry and writing it over the index's.
    """
    ids = sorted(set(user_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        with transaction.atomic():
            list(
                User.objects.select_for_update(no_key=True)
                .filter(pk__in=chunk)
                .order_by("pk")
                .values_list("pk")
            )
            ranking.repair_entries(board_period=board_period, user_ids=chunk)


@transaction.atomic
def refresh_score_baselines() -> list[ScoreBaseline]:
    """Recompute each game mode's 99th-percentile score from its counted sessions."""
    counted = GameSession.objects.counted()
    baselines = []
    for game_mode, sample_size in counted.values_list("game_mode").annotate(n=Count("id")).order_by():
        # percentile_disc(0.99): the smallest score with at least 99% of scores at or below it.
        position = max(math.ceil(0.99 * sample_size) - 1, 0)
        p99 = counted.filter(game_mode=game_mode).order_by("score").values_list("score", flat=True)[position]
        baseline, _ = ScoreBaseline.objects.update_or_create(
            game_mode=game_mode,
            defaults={"p99_score": p99, "sample_size": sample_size, "computed_at": timezone.now()},
        )
        baselines.append(baseline)
    return baselines
