"""The compatible top listing is sent as the cache holds it: byte for byte what DRF would render."""

import pytest
from django.test import Client
from rest_framework.renderers import JSONRenderer

from leaderboard import selectors
from leaderboard.api.compatible import TOP_OUTPUT
from leaderboard.ranking import encode_rows, redis_index, rows_prefix
from tests.factories import make_player, submit

pytestmark = pytest.mark.django_db


def rendered_by_drf(limit: int) -> bytes:
    return bytes(JSONRenderer().render(TOP_OUTPUT.to_representation(selectors.get_top(limit=limit))))


def players_with_ties() -> None:
    for name, score in [("zoë", 30), ("ada", 30), ("kōki", 20), ("ελένη", 10), ("bob", 10), ("eve", 5)]:
        submit(make_player(name), score)


@pytest.mark.parametrize("limit", [1, 2, 3, 6, 10, 100])
def test_the_top_body_equals_drfs_rendering_from_sql(client: Client, limit: int) -> None:
    players_with_ties()
    assert client.get(f"/api/leaderboard/top?limit={limit}").content == rendered_by_drf(limit)


@pytest.mark.redis
@pytest.mark.parametrize("limit", [1, 2, 3, 6, 100])
def test_the_top_body_equals_drfs_rendering_on_a_cache_miss_and_a_hit(client: Client, limit: int) -> None:
    players_with_ties()
    redis_index.rebuild(board_period=selectors.get_default_board_ref().period("all"))

    miss = client.get(f"/api/leaderboard/top?limit={limit}").content
    hit = client.get(f"/api/leaderboard/top?limit={limit}").content

    assert miss == hit == rendered_by_drf(limit)
    assert redis_index.read_top(board_period=selectors.get_default_board_ref().period("all"), body=True).body


def test_an_empty_listing_and_cuts_past_the_end() -> None:
    rows = [
        {"rank": rank, "user_id": rank, "username": f"p{rank}", "total_score": 9 - rank, "session_count": 1}
        for rank in (1, 2)
    ]
    encoded = encode_rows(rows)
    assert rows_prefix(encode_rows([]), 10) == b"[]"
    assert (
        rows_prefix(encoded, 1)
        == b'[{"rank":1,"user_id":1,"username":"p1","total_score":8,"session_count":1}]'
    )
    assert rows_prefix(encoded, 5) == rows_prefix(encoded, 2) and rows_prefix(encoded, 2).count(b"rank") == 2


@pytest.mark.redis
def test_top_reads_write_nothing_to_redis_and_their_counts_still_add_up(client: Client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from django_redis import get_redis_connection

    from leaderboard import ranking

    players_with_ties()
    board_period = selectors.get_default_board_ref().period("all")
    redis_index.rebuild(board_period=board_period)
    client.get("/api/leaderboard/top")  # fills the cache
    ranking.cache_stats()  # sends what this process counted so far
    monkeypatch.setattr(redis_index, "STATS_SEND_SECONDS", 3600.0)
    stats_key = redis_index.BoardKeys.for_period(board_period).stats
    redis = get_redis_connection("default")
    before = redis.hgetall(stats_key)

    for _ in range(10):
        assert client.get("/api/leaderboard/top").status_code == 200

    assert redis.hgetall(stats_key) == before
    assert ranking.cache_stats()["top_hits"] == int(before.get(b"top_hits", 0)) + 10
