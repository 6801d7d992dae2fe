"""Domain errors raised by services and selectors; the API maps them to JSON."""


class LeaderboardError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PlayerNotFound(LeaderboardError):
    code = "player_not_found"
    status = 404


class NotRanked(LeaderboardError):
    code = "player_not_ranked"
    status = 404


class TotalScoreLimit(LeaderboardError):
    """A submit that would take a total past the largest one every path counts exactly."""

    code = "total_score_limit"
    status = 409


class InvalidUsername(LeaderboardError):
    code = "invalid_username"
    status = 400


class UsernameTaken(LeaderboardError):
    code = "username_taken"
    status = 409


class ModerationError(LeaderboardError):
    """A moderation action that cannot apply (no reason given, already done, no such target)."""

    code = "moderation_error"
    status = 409


class IdempotencyKeyReused(LeaderboardError):
    code = "idempotency_key_reused"
    status = 422


class IdempotencyKeyBusy(LeaderboardError):
    code = "idempotency_key_busy"
    status = 409


class CannotFollowSelf(LeaderboardError):
    code = "cannot_follow_self"
    status = 422


class FollowLimitReached(LeaderboardError):
    code = "follow_limit_reached"
    status = 409


class BoardNotFound(LeaderboardError):
    code = "board_not_found"
    status = 404


class InvalidPeriodParameter(LeaderboardError):
    """A `period` that is not one of the board's, or one that has not begun."""

    code = "invalid_period"
    status = 400


class InvalidBoard(LeaderboardError):
    """A board definition that cannot be (an unknown time zone, a history field changed)."""

    code = "invalid_board"
    status = 400


class RateLimited(LeaderboardError):
    """Over a limit: nothing was written; retry after `wait` seconds."""

    code = "throttled"
    status = 429

    def __init__(self, message: str, *, wait: float) -> None:
        super().__init__(message)
        self.wait = wait
