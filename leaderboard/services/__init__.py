"""Writes: every change to sessions, entries, moderation state and API keys goes through here.

Call them through the package, `services.submit_score(...)`, so the layer shows at the call site.
"""

from leaderboard.services.api_keys import create_api_key, rotate_api_key
from leaderboard.services.batches import MAX_BATCH_SESSIONS, BatchAnswer, NewSession, submit_batch
from leaderboard.services.boards import create_board, ensure_default_board, update_board
from leaderboard.services.idempotency import (
    Answer,
    fingerprint_request,
    purge_idempotency_keys,
    run_idempotently,
)
from leaderboard.services.moderation import hide_player, restore_player, restore_session, void_session
from leaderboard.services.scores import (
    EntryTotals,
    ScoreStanding,
    SubmittedScore,
    rebuild_board,
    recount_players,
    refresh_score_baselines,
    repair_index_entries,
    submit_score,
)

__all__ = [
    "MAX_BATCH_SESSIONS",
    "Answer",
    "BatchAnswer",
    "EntryTotals",
    "NewSession",
    "ScoreStanding",
    "SubmittedScore",
    "create_api_key",
    "create_board",
    "ensure_default_board",
    "fingerprint_request",
    "hide_player",
    "purge_idempotency_keys",
    "rebuild_board",
    "recount_players",
    "refresh_score_baselines",
    "repair_index_entries",
    "restore_player",
    "restore_session",
    "rotate_api_key",
    "run_idempotently",
    "submit_batch",
    "submit_score",
    "update_board",
    "void_session",
]
