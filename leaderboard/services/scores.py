"""Scores: record sessions and keep leaderboard entries equal to their sums (the SQL is in entries.py)."""

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from leaderboard import entries, plausibility, ranking, selectors
from leaderboard.entries import EntryTotals
from leaderboard.errors import PlayerNotFound, TotalScoreLimit
from leaderboard.models import GameSession, ScoreBaseline
from users.models import User


@dataclass(frozen=True)
class SubmittedScore:
    session: GameSession
    username: str
    entries: dict[int, EntryTotals]  # by board id; empty for a hidden player
    is_hidden: bool = False
    # Filled at commit with the player's placement per board, where the rank index answered it.
    placements: dict[int, ranking.Placement] = field(default_factory=dict)


# The largest total any path counts exactly: the rank index keeps totals as Redis sorted-set
# scores (doubles), exact up to 2**53. Far below BIGINT's 2**63 - 1, so the SQL sum cannot overflow.
MAX_TOTAL_SCORE = 2**53 - 1


@ranking.guard_commit
@transaction.atomic
def submit_score(
    *, user_id: int, score: int, game_mode: str, played_at: datetime | None = None
) -> SubmittedScore:
    """Record one game session, played at `played_at` (None: now), on every board it counts towards.

    A hidden player's session is recorded (nothing is lost if they are restored) but
    counts towards no board while they stay hidden.
    """
    player = lock_player(user_id=user_id)
    now = timezone.now()
    played_at = played_at or now
    username = player.username
    board_totals: dict[int, EntryTotals] = {}
    if not player.is_hidden:
        board_totals = {
            board.id: entries.add_session(
                board_id=board.id,
                user_id=user_id,
                username=username,
                score=score,
                played_at=played_at,
                changed_at=now,
            )
            for board in selectors.list_boards_for_mode(game_mode=game_mode)
        }
    over = [e for e in board_totals.values() if e.total_score > MAX_TOTAL_SCORE]
    if over:
        # Raised inside the transaction: the upserts roll back and nothing is recorded.
        raise TotalScoreLimit(
            f"This score would take the player's total past {MAX_TOTAL_SCORE}, the largest total "
            f"a board counts exactly (it is {over[0].total_score - score} now)."
        )
    history = board_totals.get(selectors.get_default_board_ref().id)
    reason = plausibility.flag_reason(
        score=score,
        game_mode=game_mode,
        baseline=selectors.get_score_baseline(game_mode=game_mode),
        previous_total=history.total_score - score if history else 0,
        previous_count=history.session_count - 1 if history else 0,
    )
    session = GameSession.objects.create(
        user_id=user_id,
        score=score,
        game_mode=game_mode,
        played_at=played_at,
        is_flagged=bool(reason),
        flag_reason=reason,
    )
    if player.is_hidden:
        return SubmittedScore(session=session, username=username, entries={}, is_hidden=True)
    states = [
        ranking.EntryState(
            board_id=e.board_id,
            user_id=user_id,
            version=e.version,
            total_score=e.total_score,
            session_count=e.session_count,
            username=username,
        )
        for e in board_totals.values()
    ]
    submitted = SubmittedScore(session=session, username=username, entries=board_totals)
    # Last thing before COMMIT: from here on the index knows a change of these boards is in flight.
    intent = ranking.announce_changes(board_ids=list(board_totals))

    def publish() -> None:
        submitted.placements.update(ranking.record_entries(states, intent=intent))

    transaction.on_commit(publish, robust=True)
    return submitted


@dataclass(frozen=True)
class _LockedPlayer:
    username: str
    is_hidden: bool


def lock_player(*, user_id: int) -> _LockedPlayer:
    """Read the player and hold their row until commit.

    Submits and moderation of one player take turns on this lock, so a recount never
    misses a session committed meanwhile and a hidden player never regains an entry.
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


@ranking.guard_commit
@transaction.atomic
def rebuild_entries(*, board_id: int, game_mode: str, user_ids: list[int] | None = None) -> None:
    """Make a board's entries equal to the sums of counted sessions (of all players, or these)."""
    entries.recount(board_id=board_id, game_mode=game_mode, changed_at=timezone.now(), user_ids=user_ids)
    if user_ids is not None:
        publish_entries_changed(user_ids=user_ids)
    else:
        # Too many players to publish one by one: the board's index is rebuilt instead.
        intent = ranking.announce_changes(board_ids=[board_id])
        transaction.on_commit(partial(ranking.mark_incomplete, intent=intent), robust=True)


def rebuild_player_entries(*, user_id: int) -> None:
    """Recount one player on every board from their counted sessions.

    Every board, inactive ones too: their entries stay readable, and a hidden player's removal
    took them off all boards, so a restore or a void must reach all of them.
    """
    now = timezone.now()
    for board in selectors.list_boards():
        entries.recount(board_id=board.id, game_mode=board.game_mode, changed_at=now, user_ids=[user_id])
    publish_entries_changed(user_ids=[user_id])


def publish_entries_changed(*, user_ids: list[int]) -> None:
    """Announce the players' entry changes to the index now and publish them after commit.

    Callers run it at the end of their transaction and are wrapped in `ranking.guard_commit`.
    """
    intent = ranking.announce_changes()
    # robust: a failing index update must not turn a committed change into an error.
    transaction.on_commit(
        partial(ranking.on_entries_changed, user_ids=list(user_ids), intent=intent), robust=True
    )


def repair_index_entries(*, board_id: int, user_ids: list[int]) -> None:
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
            ranking.repair_entries(board_id=board_id, user_ids=chunk)


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
