"""API input and output shapes: plain serializers with explicit fields."""

import re
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework import serializers

from leaderboard.errors import InvalidUsername
from leaderboard.services.batches import MAX_BATCH_SESSIONS
from leaderboard.services.scores import MAX_TOTAL_SCORE
from users import usernames

MAX_ID = 2**63 - 1  # the largest value a BIGINT primary key can hold

InputSerializer = serializers.Serializer  # type: ignore[type-arg]

# One instance of each input serializer, built once: a serializer per input deep-copies its
# declared fields every time, and validating keeps no state on the instance or its fields.
_CHECKERS: dict[type[InputSerializer], InputSerializer] = {}


def check(serializer_class: type[InputSerializer], data: object) -> tuple[Any, dict[str, Any]]:
    """(None, the validated data), or (the errors as DRF's is_valid() words them, {})."""
    # A plainly valid session (a batch holds a hundred) is accepted without DRF's field-by-field
    # validation, a tenth of its cost; anything else goes to the serializer, which decides and words
    # the errors. A test holds that the two agree on every input.
    if serializer_class is SubmitScoreInput and (values := _plain_session(data)) is not None:
        return None, values
    checker = _CHECKERS.get(serializer_class)
    if checker is None:
        checker = _CHECKERS[serializer_class] = serializer_class()
    try:
        return None, dict(checker.run_validation(data))
    except serializers.ValidationError:
        pass
    # Refused (the rare way): a serializer of its own words the errors.
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return None, dict(serializer.validated_data)
    return serializer.errors, {}


@receiver(setting_changed)
def _forget_checkers(**kwargs: Any) -> None:
    # Some inputs read settings when built (the largest score): a changed setting builds them again.
    _CHECKERS.clear()


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: strings, floats, booleans and null are rejected."""

    default_error_messages = {"invalid": "A JSON integer is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class DigitsIntegerField(serializers.IntegerField):
    """An integer written in digits, as URLs carry it: "10" yes; "10.0", "1e1" and " 10" no."""

    def to_internal_value(self, data: Any) -> int:
        if not (isinstance(data, str) and data.isascii() and data.isdigit()):
            self.fail("invalid")
        return super().to_internal_value(data)


class JsonStringOnly(serializers.Field):  # type: ignore[type-arg]
    """Mixin for string fields: a JSON number or boolean is refused, not silently turned into text."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)  # type: ignore[no-any-return]


class StrictSlugField(JsonStringOnly, serializers.SlugField):
    pass


class StrictRegexField(JsonStringOnly, serializers.RegexField):
    pass


class StrictEmailField(JsonStringOnly, serializers.EmailField):
    pass


DEFAULT_GAME_MODE = "solo"
GAME_MODE_MAX_LENGTH = 32


def max_score_per_session() -> int:
    """The largest score one session may carry: the setting, never above the largest exact total
    (a system check refuses such a setting)."""
    return min(settings.LEADERBOARD_MAX_SCORE_PER_SESSION, MAX_TOTAL_SCORE)


class SubmitScoreInput(serializers.Serializer):
    user_id = StrictIntegerField(min_value=1, max_value=MAX_ID)
    game_mode = StrictSlugField(max_length=GAME_MODE_MAX_LENGTH, required=False, default=DEFAULT_GAME_MODE)

    def get_fields(self) -> dict[str, serializers.Field]:
        user_id, game_mode = super().get_fields().values()
        # The maximum is read when the serializer is built so the schema shows it too.
        score = StrictIntegerField(min_value=0, max_value=max_score_per_session())
        return {"user_id": user_id, "score": score, "game_mode": game_mode}


class SubmitScoreOutput(serializers.Serializer):
    session_id = serializers.IntegerField()
    user_id = serializers.IntegerField()
    score = serializers.IntegerField()
    game_mode = serializers.CharField()
    total_score = serializers.IntegerField()
    session_count = serializers.IntegerField()
    rank = serializers.IntegerField()
    percentile = serializers.FloatField()
    total_players = serializers.IntegerField()


class BatchSubmitInput(serializers.Serializer):
    """The sessions of one batch, each as a single submit takes it."""

    # Validated by `validated_batch`, which names the index of a bad item; declared for the schema.
    sessions = serializers.ListField(child=SubmitScoreInput(), min_length=1, max_length=MAX_BATCH_SESSIONS)


class BatchSubmitOutput(serializers.Serializer):
    sessions = SubmitScoreOutput(many=True, help_text="One answer per session, in the order sent.")


# What SubmitScoreInput's game mode accepts without trimming anything: a slug of ASCII letters,
# digits, hyphens and underscores.
_PLAIN_GAME_MODE = re.compile(rf"[-a-zA-Z0-9_]{{1,{GAME_MODE_MAX_LENGTH}}}")


def _plain_session(data: Any) -> dict[str, Any] | None:
    """SubmitScoreInput's validated data when `data` is plainly valid (JSON integers in range, a slug
    game mode or none); None: the serializer decides."""
    if type(data) is not dict:
        return None
    user_id, score = data.get("user_id"), data.get("score")
    game_mode = data.get("game_mode", DEFAULT_GAME_MODE)
    if (
        type(user_id) is int
        and 1 <= user_id <= MAX_ID
        and type(score) is int
        and 0 <= score <= max_score_per_session()
        and type(game_mode) is str
        and _PLAIN_GAME_MODE.fullmatch(game_mode)
    ):
        return {"user_id": user_id, "score": score, "game_mode": game_mode}
    return None


def validated_batch(data: Any) -> list[dict[str, Any]]:
    """The sessions of a batch body, each validated as a single submit; errors name the item's index."""
    sessions = data.get("sessions") if isinstance(data, dict) else None
    if not isinstance(sessions, list) or not 1 <= len(sessions) <= MAX_BATCH_SESSIONS:
        raise serializers.ValidationError(
            {"sessions": [f"A JSON list of 1 to {MAX_BATCH_SESSIONS} sessions is required."]}
        )
    valid, errors = [], {}
    for index, item in enumerate(sessions):
        item_errors, values = check(SubmitScoreInput, item)
        if item_errors is None:
            valid.append(values)
        else:
            errors[str(index)] = item_errors
    if errors:
        raise serializers.ValidationError({"sessions": errors})
    return valid


class TopPlayersInput(serializers.Serializer):
    limit = DigitsIntegerField(min_value=1, max_value=100, default=10, help_text="How many players.")


class TopPlayerOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    total_score = serializers.IntegerField()
    session_count = serializers.IntegerField()


class TopPlayersOutput(serializers.Serializer):
    top_players = TopPlayerOutput(many=True, source="rows")
    total_players = serializers.IntegerField()


class UserIdInput(serializers.Serializer):
    user_id = DigitsIntegerField(min_value=1, max_value=MAX_ID)


class PlayerRankOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    rank = serializers.IntegerField()
    total_score = serializers.IntegerField()
    session_count = serializers.IntegerField()
    percentile = serializers.FloatField()
    total_players = serializers.IntegerField()


class RegisterPlayerInput(serializers.Serializer):
    username = StrictRegexField(
        r"^[\w.@+-]+\Z", max_length=150, error_messages={"invalid": "Letters, digits and @/./+/-/_ only."}
    )
    # The column holds 254 characters (the longest deliverable address); longer would not fit.
    email = StrictEmailField(required=False, default="", max_length=254)

    def validate_username(self, value: str) -> str:
        # NFKC, no invisible characters, one script: the rules of users.usernames.
        try:
            return usernames.check_username(value)
        except InvalidUsername as exc:
            raise serializers.ValidationError(exc.message) from exc


class PlayerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    date_joined = serializers.DateTimeField()


class RegisteredPlayerOutput(PlayerOutput):
    email = serializers.CharField(help_text="The address given at registration; empty when none was.")


class PlayerDetailOutput(PlayerOutput):
    standing = PlayerRankOutput(allow_null=True)


class BoardStatsOutput(serializers.Serializer):
    slug = serializers.CharField()
    period = serializers.CharField(help_text="The board's current period.")
    rank_source = serializers.ChoiceField(choices=["redis", "sql"])


class StatsOutput(serializers.Serializer):
    boards = BoardStatsOutput(many=True)
    top_cache_hits = serializers.IntegerField()
    top_cache_misses = serializers.IntegerField()
    top_cache_hit_ratio = serializers.FloatField(allow_null=True)


class FollowedPlayerOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    since = serializers.DateTimeField(help_text="When the player started following them.")


class FollowingOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    following = FollowedPlayerOutput(many=True)
    limit = serializers.IntegerField(help_text="How many players one player may follow.")


class FollowOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    followed_id = serializers.IntegerField()
    created = serializers.BooleanField(help_text="False when the player already followed them.")


# --- boards -------------------------------------------------------------------

PERIOD_HELP = (
    'Which period: "current" (the default), "previous", or a period key: "all" on all-time boards, '
    "the first local day (YYYY-MM-DD) of a daily or weekly period, the month (YYYY-MM) of a monthly one."
)


class PeriodInput(serializers.Serializer):
    period = serializers.CharField(required=False, max_length=16, help_text=PERIOD_HELP)


class BoardTopInput(PeriodInput):
    limit = DigitsIntegerField(min_value=1, max_value=100, default=10, help_text="Rows per page.")
    cursor = serializers.CharField(
        required=False,
        max_length=512,
        help_text="`next_cursor` of the previous page; the walk stays in that page's period.",
    )


class AroundInput(PeriodInput):
    k = DigitsIntegerField(min_value=0, max_value=50, default=5, help_text="Players shown above and below.")


class PeriodOutput(serializers.Serializer):
    key = serializers.CharField(help_text='"all", YYYY-MM-DD (daily and weekly) or YYYY-MM (monthly).')
    starts_at = serializers.DateTimeField(allow_null=True)
    ends_at = serializers.DateTimeField(allow_null=True, help_text="Exclusive; null on all-time boards.")
    is_current = serializers.BooleanField()
    previous = serializers.CharField(allow_null=True, help_text="Key of the period before this one.")
    next = serializers.CharField(allow_null=True, help_text="Key of the period after, once it has begun.")
    next_reset_at = serializers.DateTimeField(
        allow_null=True, help_text="When the board next resets (the current period ends); null for all time."
    )


class BoardOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    game_mode = serializers.CharField(help_text="The game mode whose sessions count; empty for every mode.")
    aggregation = serializers.ChoiceField(
        choices=["sum", "best", "latest"], help_text="The value: sum of scores, best session, latest session."
    )
    order = serializers.ChoiceField(choices=["higher", "lower"], help_text="Which values are better.")
    window = serializers.ChoiceField(choices=["all_time", "daily", "weekly", "monthly"])
    time_zone = serializers.CharField(help_text="IANA time zone whose local midnight starts each period.")
    week_start = serializers.IntegerField(help_text="Weekly boards: 0 (Monday) to 6 (Sunday).")
    is_active = serializers.BooleanField(help_text="False once retired: its standings stay readable.")
    period = PeriodOutput(help_text="The current period.")


class BoardListOutput(serializers.Serializer):
    boards = BoardOutput(many=True)


class BoardRowOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    value = serializers.IntegerField(
        source="total_score", help_text="The board's value: sum, best or latest."
    )
    session_count = serializers.IntegerField(help_text="Counted sessions in this period.")


class BoardPageOutput(serializers.Serializer):
    board = serializers.CharField()
    period = PeriodOutput()
    players = BoardRowOutput(many=True)
    total_players = serializers.IntegerField()
    next_cursor = serializers.CharField(allow_null=True, help_text="Null on the last page.")


class BoardStandingOutput(serializers.Serializer):
    board = serializers.CharField()
    period = PeriodOutput()
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    rank = serializers.IntegerField()
    value = serializers.IntegerField(source="total_score")
    session_count = serializers.IntegerField()
    percentile = serializers.FloatField()
    total_players = serializers.IntegerField()


class AroundOutput(serializers.Serializer):
    board = serializers.CharField()
    period = PeriodOutput()
    user_id = serializers.IntegerField()
    players = BoardRowOutput(many=True, help_text="Listing order; the player is among them, true ranks.")
    total_players = serializers.IntegerField()


class FriendRowOutput(BoardRowOutput):
    group_rank = serializers.IntegerField(help_text="Rank among the player and the players they follow.")


class FriendsOutput(serializers.Serializer):
    board = serializers.CharField()
    period = PeriodOutput()
    user_id = serializers.IntegerField()
    players = FriendRowOutput(
        many=True, help_text="Those with a score in this period; `rank` is on the whole board."
    )
    group_size = serializers.IntegerField(help_text="The player and the visible players they follow.")
    total_players = serializers.IntegerField()


class StandingOnBoardOutput(serializers.Serializer):
    rank = serializers.IntegerField()
    value = serializers.IntegerField(source="total_score")
    session_count = serializers.IntegerField()
    percentile = serializers.FloatField()
    total_players = serializers.IntegerField()


class PlayerBoardStandingOutput(serializers.Serializer):
    board = serializers.CharField()
    name = serializers.CharField()
    period = PeriodOutput()
    standing = StandingOnBoardOutput(allow_null=True, help_text="Null when unranked in this period.")


class PlayerStandingsOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    standings = PlayerBoardStandingOutput(many=True)
