"""Boards, game sessions and leaderboard entries: fields, constraints and indexes."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from leaderboard import periods


class Board(models.Model):
    """A ranking of players; new boards are rows, never new tables.

    Which sessions count, how they add up, which way is better and when the board resets define its
    history: those fields never change once the board exists (services.boards refuses it).
    """

    class Aggregation(models.TextChoices):
        SUM = "sum", "Sum of session scores"
        BEST = "best", "Best single session"
        LATEST = "latest", "Latest session"

    class Order(models.TextChoices):
        HIGHER = "higher", "Higher is better"
        LOWER = "lower", "Lower is better"

    class Window(models.TextChoices):
        ALL_TIME = periods.Window.ALL_TIME.value, "All time"
        DAILY = periods.Window.DAILY.value, "Daily"
        WEEKLY = periods.Window.WEEKLY.value, "Weekly"
        MONTHLY = periods.Window.MONTHLY.value, "Monthly"

    class WeekStart(models.IntegerChoices):
        MONDAY = 0, "Monday"
        TUESDAY = 1, "Tuesday"
        WEDNESDAY = 2, "Wednesday"
        THURSDAY = 3, "Thursday"
        FRIDAY = 4, "Friday"
        SATURDAY = 5, "Saturday"
        SUNDAY = 6, "Sunday"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    # Blank means every game mode counts towards this board.
    game_mode = models.SlugField(max_length=32, blank=True, default="")
    aggregation = models.CharField(
        max_length=8, choices=Aggregation.choices, default=Aggregation.SUM, db_default=Aggregation.SUM
    )
    order = models.CharField(
        max_length=8, choices=Order.choices, default=Order.HIGHER, db_default=Order.HIGHER
    )
    window = models.CharField(
        max_length=8, choices=Window.choices, default=Window.ALL_TIME, db_default=Window.ALL_TIME
    )
    # The IANA time zone whose local midnight starts each period.
    time_zone = models.CharField(max_length=64, default="UTC", db_default="UTC")
    # Weekly boards: the local day each week starts on.
    week_start = models.PositiveSmallIntegerField(
        choices=WeekStart.choices, default=WeekStart.MONDAY, db_default=WeekStart.MONDAY
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    # Fields that define which entries a session makes: fixed once the board exists.
    HISTORY_FIELDS = ("game_mode", "aggregation", "order", "window", "time_zone", "week_start")

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(condition=Q(week_start__lte=6), name="board_week_start_is_a_weekday"),
        ]

    def __str__(self) -> str:
        return self.name


class GameSessionQuerySet(models.QuerySet["GameSession"]):
    def counted(self) -> "GameSessionQuerySet":
        return self.filter(is_void=False)


class GameSession(models.Model):
    """One played game. Append-only: moderators void a session, never delete it."""

    # No single-column indexes on user and game_mode: session_user_played leads with the user, and
    # nothing reads sessions by mode alone fast enough to pay for an index every submit writes to.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sessions", db_index=False
    )
    score = models.BigIntegerField()
    game_mode = models.SlugField(max_length=32, default="solo", db_index=False)
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
    """A player's standing on one board in one period, kept in step with their sessions."""

    # No index of its own: entry_one_per_board_period_and_player leads with the board.
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="entries", db_index=False)
    # The period key (leaderboard.periods): "all" on all-time boards, else the period's first day or month.
    period = models.CharField(max_length=10, default=periods.ALL_TIME_KEY, db_default=periods.ALL_TIME_KEY)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entries")
    # Denormalised so listings never join the users table.
    username = models.CharField(max_length=150)
    # The board's value for the player: the sum, the best or the latest session score.
    total_score = models.BigIntegerField(default=0)
    # The value in listing order: the value itself, or minus it on a lower-is-better board, so one
    # index and one "count strictly greater" serve both orders.
    rank_value = models.BigIntegerField(default=0)
    session_count = models.IntegerField(default=0)
    # When the player reached the value: the tie-break "who reached that value first".
    last_updated = models.DateTimeField(default=timezone.now)
    # Best and latest boards: the session holding the value (so voiding another one changes nothing).
    value_session_id = models.BigIntegerField(null=True, blank=True)
    # Bumped on every change; lets the rank index ignore an older write that arrives late.
    version = models.BigIntegerField(default=1)

    class Meta:
        db_table = "leaderboard"
        verbose_name_plural = "leaderboard entries"
        constraints = [
            models.UniqueConstraint(
                fields=["board", "period", "user"], name="entry_one_per_board_period_and_player"
            ),
            models.CheckConstraint(condition=Q(total_score__gte=0), name="entry_total_not_negative"),
            models.CheckConstraint(condition=Q(session_count__gte=0), name="entry_sessions_not_negative"),
        ]
        indexes = [
            # Listing order (top N and keyset pages are index scans) and "players better than a value".
            models.Index(
                "board",
                "period",
                models.F("rank_value").desc(),
                "last_updated",
                "user",
                name="entry_listing_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} on {self.board_id} ({self.period}): {self.total_score}"


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
    period = models.CharField(max_length=10, default=periods.ALL_TIME_KEY, db_default=periods.ALL_TIME_KEY)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "rank_index_debt"

    def __str__(self) -> str:
        return f"board {self.board_id} ({self.period}) at {self.created_at:%Y-%m-%d %H:%M:%S}"
