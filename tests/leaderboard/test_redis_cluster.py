"""The app on a real 3-master Redis Cluster: exact ranks from concurrent submits, the cached top
listing, rate limits and a full rebuild, each on keys spread over the cluster's nodes."""

from collections import Counter

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client
from redis.cluster import RedisCluster

from leaderboard import ranking, redis_client, selectors
from leaderboard.boards import BoardPeriod
from leaderboard.models import Board, LeaderboardEntry
from leaderboard.ranking import intents, redis_index, sql
from leaderboard.ranking.redis_index import BoardKeys
from tests.factories import make_player
from tests.leaderboard.fault_load import assert_index_matches_sql
from tests.leaderboard.test_concurrency import run_in_threads
from tests.redis_cluster import PrivateCluster, check_script_slots

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _one_slot_per_script(on_cluster: PrivateCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    check_script_slots(monkeypatch)


def test_the_app_talks_to_the_cluster_through_redis_cluster(on_cluster: PrivateCluster) -> None:
    assert isinstance(redis_client.client(), RedisCluster)
    masters = {port for port in on_cluster.ports if on_cluster.role(port) == "master"}
    assert len(masters) == 3


def test_concurrent_submits_rank_exactly_on_the_cluster(
    on_cluster: PrivateCluster, api_key_headers: dict[str, str]
) -> None:
    players = [make_player() for _ in range(24)]
    board_id = selectors.get_default_board_ref().id
    redis_index.rebuild(board_period=BoardPeriod(board_id))
    accepted: list[int] = []

    def submits(index: int) -> None:
        client = Client(headers=api_key_headers)
        for n in range(15):
            score = (index * 7 + n * 3) % 11
            response = client.post(
                "/api/leaderboard/submit",
                {"user_id": players[(index + n) % len(players)].pk, "score": score},
                content_type="application/json",
            )
            assert response.status_code == 201, response.content
            accepted.append(score)

    assert run_in_threads(6, submits) == []
    assert LeaderboardEntry.objects.filter(board_id=board_id).aggregate(t=Sum("total_score"))["t"] == sum(
        accepted
    )
    assert not intents.has_pending()  # every write reached the index
    assert_index_matches_sql(board_id, players)
    api = Client().get(f"/api/leaderboard/rank/{players[0].pk}").json()
    standing = sql.get_standing(board_period=BoardPeriod(board_id), user_id=players[0].pk)
    assert standing is not None and api["rank"] == standing.rank


def test_the_top_listing_is_cached_on_the_cluster_and_a_new_leader_invalidates_it(
    on_cluster: PrivateCluster, api_key_headers: dict[str, str]
) -> None:
    players = [make_player() for _ in range(5)]
    client = Client(headers=api_key_headers)
    for score, player in enumerate(players, start=1):
        client.post(
            "/api/leaderboard/submit",
            {"user_id": player.pk, "score": score},
            content_type="application/json",
        )
    board_id = selectors.get_default_board_ref().id
    redis_index.rebuild(board_period=BoardPeriod(board_id))
    keys = BoardKeys.for_period(BoardPeriod(board_id))
    first = Client().get("/api/leaderboard/top").json()
    assert redis_client.client().exists(keys.top)  # filled on the node of the board's slot
    assert Client().get("/api/leaderboard/top").json() == first
    assert ranking.cache_stats()["top_hits"] == 1

    client.post(
        "/api/leaderboard/submit",
        {"user_id": players[0].pk, "score": 100},
        content_type="application/json",
    )
    assert not redis_client.client().exists(keys.top)
    top = Client().get("/api/leaderboard/top").json()["top_players"]
    assert top[0]["user_id"] == players[0].pk and top[0]["total_score"] == 101


def test_rate_limits_count_on_the_cluster(settings, on_cluster: PrivateCluster, api_key_headers) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_SUBMIT_RATE_PER_PLAYER = "4/m"
    player = make_player()
    statuses: list[int] = []

    def one_submit(_: int) -> None:
        response = Client(headers=api_key_headers).post(
            "/api/leaderboard/submit",
            {"user_id": player.pk, "score": 1},
            content_type="application/json",
        )
        statuses.append(response.status_code)

    assert run_in_threads(12, one_submit) == []
    assert Counter(statuses) == {201: 4, 429: 8}


def test_rebuild_rank_index_rebuilds_every_board_on_the_cluster(
    on_cluster: PrivateCluster, api_key_headers: dict[str, str]
) -> None:
    Board.objects.create(slug="duo", name="Duo", game_mode="duo")  # a second board, under its own hash tag
    selectors.forget_rarely_changing()
    players = [make_player() for _ in range(10)]
    client = Client(headers=api_key_headers)
    for n, player in enumerate(players):
        for mode in ("solo", "duo"):
            client.post(
                "/api/leaderboard/submit",
                {"user_id": player.pk, "score": n % 4, "game_mode": mode},
                content_type="application/json",
            )
    redis_client.client().flushall()  # the whole index lost
    board_periods = sql.list_indexed_periods()
    assert len(board_periods) == 2
    assert all(ranking.rank_source(board_period=bp) == "sql" for bp in board_periods)

    call_command("rebuild_rank_index")

    for bp in board_periods:
        assert (
            redis_index.count_indexed(board_period=bp)
            == LeaderboardEntry.objects.filter(board_id=bp.board_id).count()
        )
        assert_index_matches_sql(bp.board_id, players)


def test_the_django_cache_works_across_the_clusters_slots(on_cluster: PrivateCluster) -> None:
    values = {f"key-{n}": n for n in range(20)}  # spread over all three masters
    cache.set_many(values)
    assert cache.get_many(list(values)) == values
    assert cache.get("key-3") == 3
    cache.delete_many(["key-1", "key-2"])
    assert cache.get_many(["key-1", "key-2", "key-3"]) == {"key-3": 3}
    assert cache.incr("key-4") == 5
    cache.delete_pattern("key-1*")  # type: ignore[attr-defined]
    assert cache.get("key-10") is None and cache.get("key-4") == 5
