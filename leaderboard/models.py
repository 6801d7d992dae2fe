"""Boards, game sessions and leaderboard entries: fields, constraints and indexes."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Board(models.Model):
    """A ranking of players; new boards are rows, never new tables."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    # Blank means every game mode counts towards this board.
    game_mode = models.SlugField(max_length=32, blank=True, default="")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name


class GameSessionQuerySet(models.QuerySet["GameSession"]):
    def counted(self) -> "GameSessionQuerySet":
        return self.filter(is_void=False)


class GameSession(models.Model):
    """One played game. Append-only: moderators void a session, never delete it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sessions")
    score = models.BigIntegerField()
    game_mode = models.SlugField(max_length=32, default="solo")
    played_at = models.DateTimeField(default=timezone.now)
    is_void = models.BooleanField(default=False)
    # Possible but improbable scores are counted and flagged for a moderator to review.
    is_flagged = models.BooleanField(default=False, db_default=False)
    flag_reason = models.CharField(max_length=200, blank=True, default="", db_default="")

    objects = GameSessionQuerySet.as_manager()

    class Meta:
        db_table = "game_session"
        permissions = [("moderate_session", "Can void and restore sessions")]
        indexes = [
            models.Index(fields=["user", "-played_at"], name="session_user_played"),
            # "Submits in the last minute" on the health page is a short range scan.
            models.Index(fields=["played_at"], name="session_played_at"),
            # Voided sessions are few: moderators list them without scanning the history.
            models.Index(fields=["-id"], condition=Q(is_void=True), name="session_void"),
            models.Index(fields=["-id"], condition=Q(is_flagged=True), name="session_flagged"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0), name="session_score_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.score} ({self.game_mode})"


class ScoreBaseline(models.Model):
    """What scores of a game mode usually look like; refreshed by `refresh_score_baselines`."""

    game_mode = models.SlugField(max_length=32, unique=True)
    # The 99th percentile of counted session scores in this mode.
    p99_score = models.BigIntegerField()
    sample_size = models.BigIntegerField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "score_baseline"

    def __str__(self) -> str:
        return f"{self.game_mode}: p99 {self.p99_score} of {self.sample_size}"


class LeaderboardEntry(models.Model):
    """A player's standing on one board, kept in step with their sessions."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="entries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entries")
    # Denormalised so listings never join the users table.
    username = models.CharField(max_length=150)
    total_score = models.BigIntegerField(default=0)
    session_count = models.IntegerField(default=0)
    # When the total last changed: the tie-break "who reached that total first".
    last_updated = models.DateTimeField(default=timezone.now)
    # Bumped on every change; lets the rank index ignore an older write that arrives late.
    version = models.BigIntegerField(default=1)

    class Meta:
        db_table = "leaderboard"
        verbose_name_plural = "leaderboard entries"
        constraints = [
            models.UniqueConstraint(fields=["board", "user"], name="entry_one_per_board_and_player"),
            models.CheckConstraint(condition=Q(total_score__gte=0), name="entry_total_not_negative"),
            models.CheckConstraint(condition=Q(session_count__gte=0), name="entry_sessions_not_negative"),
        ]
        indexes = [
            # Listing order (top N is an index scan) and "players above a total" (a range count).
            models.Index(
                "board",
                models.F("total_score").desc(),
                "last_updated",
                "user",
                name="entry_board_listing_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} on {self.board_id}: {self.total_score}"


class ModerationLog(models.Model):
    """Who did what to whom, when and why: one row per moderation action."""

    class Action(models.TextChoices):
        VOID_SESSION = "void_session", "Void session"
        RESTORE_SESSION = "restore_session", "Restore session"
        HIDE_PLAYER = "hide_player", "Hide player"
        RESTORE_PLAYER = "restore_player", "Restore player"

    created_at = models.DateTimeField(default=timezone.now)
    moderator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="moderation_actions"
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="moderation_history"
    )
    session = models.ForeignKey(
        GameSession, on_delete=models.PROTECT, null=True, blank=True, related_name="moderation_history"
    )
    reason = models.TextField()

    class Meta:
        db_table = "moderation_log"
        verbose_name = "moderation log entry"
        verbose_name_plural = "moderation log"
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="moderation_reason_required"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} of {self.target_user_id} by {self.moderator_id}"


class IdempotentRequest(models.Model):
    """A write sent with an Idempotency-Key and the answer it got, so a retry gets the same answer."""

    api_key = models.ForeignKey("rest_framework_api_key.APIKey", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of the operation and its validated input: the same key with another body is refused.
    fingerprint = models.CharField(max_length=64)
    # Empty only inside the transaction that claimed the key; committed rows always hold the answer.
    status_code = models.PositiveSmallIntegerField(null=True)
    # The JSON text exactly as first answered, so a replay is byte for byte the same.
    response_json = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "idempotent_request"
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_once_per_api_key"),
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"


class RankIndexDebt(models.Model):
    """A committed change the Redis rank index was not told about before its COMMIT.

    Written in the change's own transaction, so it exists exactly when the change committed;
    settling it marks the board's index incomplete (docs/decisions/0010-rank-index-completeness.md).
    """

    board_id = models.IntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "rank_index_debt"

    def __str__(self) -> str:
        return f"board {self.board_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"
