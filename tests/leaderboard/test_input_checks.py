"""The plain checks `serializers.check` decides common inputs with agree with the serializers they stand for."""

from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from leaderboard.api import serializers
from leaderboard.api.serializers import MAX_ID, SubmitScoreInput

MAX_SCORE = settings.LEADERBOARD_MAX_SCORE_PER_SESSION
EDGE_INTEGERS = [-1, 0, 1, 2, MAX_SCORE - 1, MAX_SCORE, MAX_SCORE + 1, MAX_ID, MAX_ID + 1, 2**64]
# Near misses of a JSON integer: DRF's own IntegerField would take each of them.
NOT_INTEGERS = [True, False, 1.0, "1", None]
EDGE_MODES = ["solo", "team", "x" * 32, "x" * 33, "", " solo", "solo ", "solo\n", "só", "-_9", "a b"]
json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(EDGE_INTEGERS),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(EDGE_MODES),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=2),
)
sessions = st.one_of(
    st.dictionaries(st.sampled_from(["user_id", "score", "game_mode", "other"]), json_values),
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from(EDGE_INTEGERS + NOT_INTEGERS),
            "score": st.sampled_from(EDGE_INTEGERS + NOT_INTEGERS),
        },
        optional={"game_mode": st.one_of(st.sampled_from(EDGE_MODES), st.text(max_size=40))},
    ),
    json_values,
)


VALID = {"user_id": 7, "score": 10, "game_mode": "team"}
# Every field of a valid session swapped for each edge value in turn, and each field left out.
ONE_FIELD_OFF = [
    {**VALID, field: value}
    for field in VALID
    for value in [*EDGE_INTEGERS, *NOT_INTEGERS, *EDGE_MODES, [], {}]
] + [{name: value for name, value in VALID.items() if name != field} for field in VALID]


def serializer_verdict(data: Any) -> tuple[Any, dict[str, Any]]:
    serializer = SubmitScoreInput(data=data)
    if serializer.is_valid():
        return None, dict(serializer.validated_data)
    return serializer.errors, {}


@pytest.mark.parametrize("data", ONE_FIELD_OFF)
def test_a_session_one_field_off_is_checked_as_its_serializer_checks_it(data: dict[str, Any]) -> None:
    assert serializers.check(SubmitScoreInput, data) == serializer_verdict(data)


@given(sessions)
def test_a_session_is_checked_as_its_serializer_checks_it(data: Any) -> None:
    assert serializers.check(SubmitScoreInput, data) == serializer_verdict(data)


@given(st.lists(sessions, min_size=1, max_size=4))
def test_a_batch_is_checked_as_the_serializer_checks_each_session(items: list[Any]) -> None:
    verdicts = [serializer_verdict(item) for item in items]
    errors = {str(i): item_errors for i, (item_errors, _) in enumerate(verdicts) if item_errors is not None}
    try:
        checked = serializers.validated_batch({"sessions": items})
    except ValidationError as exc:
        assert errors and exc.detail == {"sessions": errors}
    else:
        assert not errors and checked == [values for _, values in verdicts]


@override_settings(LEADERBOARD_MAX_SCORE_PER_SESSION=50)
def test_the_largest_score_is_read_from_the_settings_of_the_moment() -> None:
    assert serializers.check(SubmitScoreInput, {"user_id": 1, "score": 50})[0] is None
    assert serializers.check(SubmitScoreInput, {"user_id": 1, "score": 51})[0] is not None
