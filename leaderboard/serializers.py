"""API input and output shapes: plain serializers with explicit fields."""

from typing import Any

from django.conf import settings
from rest_framework import serializers

from leaderboard.errors import InvalidUsername
from leaderboard.services.scores import MAX_TOTAL_SCORE
from users import usernames

MAX_ID = 2**63 - 1  # the largest value a BIGINT primary key can hold


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


class SubmitScoreInput(serializers.Serializer):
    user_id = StrictIntegerField(min_value=1, max_value=MAX_ID)
    game_mode = StrictSlugField(max_length=32, required=False, default="solo")

    def get_fields(self) -> dict[str, serializers.Field]:
        user_id, game_mode = super().get_fields().values()
        # The maximum is a setting, read when the serializer is built so the schema shows it too.
        # Never above the largest exact total, whatever the setting (a system check refuses such a setting).
        maximum = min(settings.LEADERBOARD_MAX_SCORE_PER_SESSION, MAX_TOTAL_SCORE)
        score = StrictIntegerField(min_value=0, max_value=maximum)
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
