"""The Redis rank index against real Redis: same answers as SQL, guards, rebuild, cache."""

import io

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client, TestCase
from django_redis import get_redis_connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard import ranking, selectors, services
from leaderboard.boards import BoardPeriod
from leaderboard.ranking import redis_index, sql
from leaderboard.ranking.redis_index import BoardKeys
from tests.factories import make_player, submit
from tests.redis_server import mark_redis_long_lived

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def board_id() -> int:
    return selectors.get_default_board_ref().id


def submit_committed(player, score: int) -> services.SubmittedScore:  # type: ignore[no-untyped-def]
    """Submit and run the after-commit hooks, as a real commit would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return submit(player, score)


def assert_paths_agree(players) -> None:  # type: ignore[no-untyped-def]
    bid = board_id()
    assert ranking.rank_source(board_period=BoardPeriod(bid)) == "redis"
    for player in players:
        assert ranking.get_standing(board_period=BoardPeriod(bid), user_id=player.pk) == sql.get_standing(
            board_period=BoardPeriod(bid), user_id=player.pk
        )
    for limit in (1, 3, 10, 100):
        assert ranking.get_top(board_period=BoardPeriod(bid), limit=limit) == sql.get_top(
            board_period=BoardPeriod(bid), limit=limit
        )
        assert ranking.get_top(board_period=BoardPeriod(bid), limit=limit) == sql.get_top(
            board_period=BoardPeriod(bid), limit=limit
        )  # cached
    newcomer = 10**12  # no such player: placements count them in
    for user_id in [*(p.pk for p in players[:3]), newcomer]:
        for total in (0, 5, 10, 10**6):
            assert ranking.get_placement(
                board_period=BoardPeriod(bid), user_id=user_id, rank_value=total
            ) == sql.get_placement(board_period=BoardPeriod(bid), user_id=user_id, rank_value=total)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(st.lists(st.integers(0, 12), min_size=1, max_size=3), min_size=0, max_size=12),
    later=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 12)), max_size=10),
)
def test_index_and_sql_give_identical_ranks_and_listings(first, later) -> None:  # type: ignore[no-untyped-def]
    get_redis_connection("default").flushdb()
    mark_redis_long_lived()
    with transaction.atomic():
        players = [make_player() for _ in first]
        for player, scores in zip(players, first, strict=True):
            for score in scores:
                submit(player, score)
        redis_index.rebuild(board_period=BoardPeriod(board_id()))
        # Then live writes through the after-commit path, ties and zero scores included.
        for index, score in later:
            if players:
                submit_committed(players[index % len(players)], score)
        assert_paths_agree(players)
        transaction.set_rollback(True)


def test_an_older_write_arriving_late_is_ignored() -> None:
    player = make_player()
    submit(player, 10)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    newer = submit_committed(player, 5).entries[BoardPeriod(board_id())]
    older = ranking.EntryState(
        board_period=BoardPeriod(board_id()),
        user_id=player.pk,
        version=newer.version - 1,
        rank_value=10,
        total_score=10,
        session_count=1,
    )

    ranking.record_entries([older])

    standing = ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=player.pk)
    assert standing is not None and (standing.total_score, standing.session_count) == (15, 2)


def test_a_repeated_write_is_not_counted_twice() -> None:
    player = make_player()
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    with TestCase.captureOnCommitCallbacks() as callbacks:
        submit(player, 7)
    for callback in callbacks * 3:
        callback()
    assert ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=player.pk).total_score == 7  # type: ignore[union-attr]


def test_flushed_index_is_detected_and_reads_fall_back_to_sql(client: Client) -> None:
    players = [make_player() for _ in range(3)]
    for player, score in zip(players, (30, 20, 20), strict=True):
        submit(player, score)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    get_redis_connection("default").flushdb()  # as FLUSHALL would, for our database only
    mark_redis_long_lived()

    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "sql"
    assert client.get(f"/api/leaderboard/rank/{players[2].pk}").json()["rank"] == 2
    assert client.get("/api/leaderboard/top").json()["total_players"] == 3

    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    assert_paths_agree(players)


def test_a_partial_index_is_never_served_as_truth() -> None:
    players = [make_player() for _ in range(3)]
    for player, score in zip(players, (30, 20, 10), strict=True):
        submit(player, score)
    # Live writes without a completed rebuild: the index holds only some players.
    submit_committed(players[2], 100)

    assert ranking.rank_source(board_period=BoardPeriod(board_id())) == "sql"
    assert ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=players[0].pk).rank == 2  # type: ignore[union-attr]


def test_writes_during_a_rebuild_are_not_lost(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    players = [make_player() for _ in range(5)]
    for player in players:
        submit(player, 10)
    late = make_player()
    original = redis_index._write_rebuild_batch

    def write_batch_then_submit(bp, keys, batch, token):  # type: ignore[no-untyped-def]
        original(bp, keys, batch, token)
        # Commits that land after the snapshot was read, while the rebuild is still writing.
        submit_committed(players[0], 50)
        submit_committed(late, 5)

    monkeypatch.setattr(redis_index, "REBUILD_BATCH", 2)
    monkeypatch.setattr(redis_index, "_write_rebuild_batch", write_batch_then_submit)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))

    assert_paths_agree([*players, late])
    assert ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=players[0].pk).rank == 1  # type: ignore[union-attr]


def test_a_submit_entering_the_top_shows_at_once_and_others_keep_the_cache() -> None:
    players = [make_player() for _ in range(redis_index.TOP_CACHE_ROWS + 5)]
    for rank, player in enumerate(players):
        submit(player, 1000 - rank)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    keys = BoardKeys.for_period(BoardPeriod(board_id()))
    redis = get_redis_connection("default")

    ranking.get_top(board_period=BoardPeriod(board_id()), limit=10)
    assert redis.exists(keys.top)

    submit_committed(players[-1], 1)  # stays far below the 100th total
    assert redis.exists(keys.top), "a write that cannot change the listing keeps the cache"

    submit_committed(players[-1], 5000)  # jumps to first place
    assert not redis.exists(keys.top)
    top = ranking.get_top(board_period=BoardPeriod(board_id()), limit=1)
    assert top.rows[0].user_id == players[-1].pk

    submit_committed(players[50], 1)  # a listed player changes: the cached row would be stale
    assert not redis.exists(keys.top)
    assert ranking.get_top(board_period=BoardPeriod(board_id()), limit=100) == sql.get_top(
        board_period=BoardPeriod(board_id()), limit=100
    )


def test_a_stale_listing_read_before_a_write_is_not_cached() -> None:
    player = make_player()
    submit(player, 10)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    cached = redis_index.read_top(board_period=BoardPeriod(board_id()))
    stale_rows = sql.list_top_rows(board_period=BoardPeriod(board_id()), limit=100)

    submit_committed(player, 10)  # lands between the read and the fill
    redis_index.fill_top(board_period=BoardPeriod(board_id()), generation=cached.generation, rows=stale_rows)

    assert ranking.get_top(board_period=BoardPeriod(board_id()), limit=1).rows[0].total_score == 20


def test_hit_ratio_is_counted() -> None:
    submit(make_player(), 1)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    for _ in range(4):
        ranking.get_top(board_period=BoardPeriod(board_id()), limit=10)
    assert ranking.cache_stats() == {"top_hits": 3, "top_misses": 1, "top_hit_ratio": 0.75}


def test_removed_entries_leave_the_index() -> None:
    stays, leaves = make_player(), make_player()
    submit(stays, 5)
    submit(leaves, 9)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    from leaderboard.models import LeaderboardEntry

    LeaderboardEntry.objects.filter(user=leaves).delete()
    ranking.on_entries_changed(user_ids=[leaves.pk])

    assert ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=stays.pk).rank == 1  # type: ignore[union-attr]
    assert ranking.get_standing(board_period=BoardPeriod(board_id()), user_id=leaves.pk) is None


def test_an_idempotent_first_submit_counts_the_new_player(api_client: Client) -> None:
    submit(make_player(), 50)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    newcomer = make_player()

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api_client.post(
            "/api/leaderboard/submit",
            {"user_id": newcomer.pk, "score": 70},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="first-game",
        )

    # The answer is stored before the commit reaches the index; it still counts the newcomer.
    assert response.status_code == 201
    assert (response.json()["rank"], response.json()["total_players"]) == (1, 2)


def test_a_submit_reads_its_placement_in_the_same_call_as_its_write() -> None:
    leader, other = make_player(), make_player()
    submit(leader, 90)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))

    submitted = submit_committed(other, 40)

    expected = sql.get_placement(board_period=BoardPeriod(board_id()), user_id=other.pk, rank_value=40)
    assert submitted.placements == {BoardPeriod(board_id()): expected}
    assert (expected.rank, expected.total_players) == (2, 2)


def test_without_a_complete_index_a_submit_has_no_placement_from_it() -> None:
    player = make_player()
    assert submit_committed(player, 5).placements == {}


def test_the_sampled_check_says_a_complete_index_matches() -> None:
    players = [make_player() for _ in range(5)]
    for n, player in enumerate(players):
        submit(player, n * 10)
    redis_index.rebuild(board_period=BoardPeriod(board_id()))
    out = io.StringIO()

    call_command("check_rank_index", "--sample", "10", stdout=out)

    assert "matches" in out.getvalue()
