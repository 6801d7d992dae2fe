"""POST /api/v1/sessions/batch: all or nothing, every board fed, true ranks, idempotency, limits, races."""

import uuid

import pytest
from django.test import Client, TestCase
from django_redis import get_redis_connection

from leaderboard import selectors, services
from leaderboard.api import scores
from leaderboard.models import GameSession, LeaderboardEntry
from leaderboard.ranking import redis_index
from tests.factories import make_moderator, make_player, submit
from tests.leaderboard.test_api import assert_error
from tests.leaderboard.test_concurrency import run_in_threads
from tests.redis_server import mark_redis_long_lived

pytestmark = pytest.mark.django_db
BATCH = "/api/v1/sessions/batch"


def post(client: Client, body: object, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(BATCH, body, content_type="application/json", headers=headers)


def item(player, score: int, game_mode: str = "solo") -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {"user_id": player.pk, "score": score, "game_mode": game_mode}


def rows() -> list[tuple[int, str, int, int, int]]:
    return sorted(
        LeaderboardEntry.objects.values_list("board_id", "period", "user_id", "total_score", "session_count")
    )


def test_a_batch_answers_every_session_with_its_players_total_and_rank(api_client: Client) -> None:
    leader, a, b = make_player(), make_player(), make_player()
    submit(leader, 100)

    response = post(api_client, {"sessions": [item(a, 30), item(b, 120), item(a, 40, "team")]})

    assert response.status_code == 201, response.content
    answers = response.json()["sessions"]
    assert [(s["user_id"], s["score"], s["game_mode"]) for s in answers] == [
        (a.pk, 30, "solo"),
        (b.pk, 120, "solo"),
        (a.pk, 40, "team"),
    ]
    # Each answer is the player's standing once the whole batch counts.
    assert [(s["total_score"], s["session_count"], s["rank"], s["total_players"]) for s in answers] == [
        (70, 2, 3, 3),
        (120, 1, 1, 3),
        (70, 2, 3, 3),
    ]
    # Each session id names the row of that very session, in the order the batch sent them.
    stored = GameSession.objects.in_bulk([s["session_id"] for s in answers])
    assert [(stored[s["session_id"]].user_id, stored[s["session_id"]].score) for s in answers] == [
        (a.pk, 30),
        (b.pk, 120),
        (a.pk, 40),
    ]
    assert [s["session_id"] for s in answers] == sorted(s["session_id"] for s in answers)


def test_a_batch_answers_each_session_as_the_output_serializer_renders_it() -> None:
    # The answer's rows skip the serializer's per-field walk: they must already be its output.
    a, b = make_player(), make_player()
    submit(a, 10)

    _, body = scores._submit_batch(
        {
            "sessions": [
                {"user_id": a.pk, "score": 5, "game_mode": "solo"},
                {"user_id": b.pk, "score": 7, "game_mode": "team"},
            ]
        }
    )

    rendered = [scores.SUBMIT_OUTPUT.to_representation(row) for row in body["sessions"]]
    assert body["sessions"] == rendered
    assert [[type(v) for v in row.values()] for row in body["sessions"]] == [
        [type(v) for v in row.values()] for row in rendered
    ]
    assert [list(row) for row in body["sessions"]] == [list(scores.SUBMIT_OUTPUT.fields)] * 2


def test_a_batch_makes_the_entries_single_submits_would_on_every_kind_of_board(api_client: Client) -> None:
    for slug, definition in {
        "best-low": {"aggregation": "best", "order": "lower", "window": "daily"},
        "latest": {"aggregation": "latest", "window": "weekly", "time_zone": "Asia/Tokyo"},
        "team-sum": {"game_mode": "team", "window": "monthly"},
    }.items():
        services.create_board(slug=slug, name=slug, **definition)  # type: ignore[arg-type]
    selectors.forget_rarely_changing()
    players = [make_player() for _ in range(3)]
    submit(players[0], 5)
    batch = [
        item(p, score, mode)
        for p, score, mode in [
            (players[0], 3, "solo"),
            (players[1], 9, "team"),
            (players[0], 7, "team"),
            (players[2], 0, "solo"),
            (players[1], 2, "solo"),
            (players[0], 3, "solo"),
        ]
    ]

    assert post(api_client, {"sessions": batch}).status_code == 201

    # A recount from the session log finds nothing to change: the batch made exactly those entries.
    for board in selectors.list_boards():
        assert services.rebuild_board(board=board) == 0, board.slug
    assert LeaderboardEntry.objects.filter(board__slug="latest", user=players[0]).get().total_score == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sessions": []}, "sessions"),
        ({"sessions": "no"}, "sessions"),
        ({}, "sessions"),
        ({"sessions": [{"user_id": 1, "score": 1}] * 101}, "sessions"),
    ],
)
def test_a_malformed_batch_is_a_400(api_client: Client, body: object, field: str) -> None:
    response = post(api_client, body)
    assert_error(response, 400, "invalid")
    assert field in response.json()["error"]["fields"]


def test_one_bad_item_refuses_the_whole_batch_naming_its_index(api_client: Client) -> None:
    player = make_player()
    before = rows()

    response = post(api_client, {"sessions": [item(player, 5), {"user_id": player.pk, "score": -1}]})

    assert_error(response, 400, "invalid")
    assert list(response.json()["error"]["fields"]["sessions"]) == ["1"]
    assert "score" in response.json()["error"]["fields"]["sessions"]["1"]
    assert rows() == before and not GameSession.objects.exists()


def test_an_unknown_player_refuses_the_whole_batch(api_client: Client) -> None:
    player = make_player()

    response = post(api_client, {"sessions": [item(player, 5), {"user_id": 10**12, "score": 1}]})

    assert_error(response, 404, "player_not_found")
    assert "sessions[1]" in response.json()["error"]["message"]
    assert not GameSession.objects.exists() and not LeaderboardEntry.objects.exists()


def test_a_total_past_the_exact_limit_refuses_the_whole_batch(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_MAX_SCORE_PER_SESSION = 2**52
    player, other = make_player(), make_player()

    response = post(api_client, {"sessions": [item(other, 1), item(player, 2**52), item(player, 2**52)]})

    assert_error(response, 409, "total_score_limit")
    assert not GameSession.objects.exists()


def test_a_batch_needs_an_api_key(client: Client) -> None:
    player = make_player()
    assert_error(post(client, {"sessions": [item(player, 1)]}), 401, "not_authenticated")


def test_an_idempotent_batch_is_applied_once_and_answered_the_same(api_client: Client) -> None:
    a, b = make_player(), make_player()
    body = {"sessions": [item(a, 10), item(b, 20)]}
    key = str(uuid.uuid4())

    first = post(api_client, body, **{"Idempotency-Key": key})
    again = post(api_client, body, **{"Idempotency-Key": key})
    other = post(api_client, {"sessions": [item(a, 11)]}, **{"Idempotency-Key": key})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert_error(other, 422, "idempotency_key_reused")
    assert GameSession.objects.count() == 2


def test_limits_count_every_session_of_the_batch(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    if not settings.REDIS_URL:
        pytest.skip("limits are counted in Redis")
    settings.LEADERBOARD_SUBMIT_RATE_PER_PLAYER = "3/m"
    player = make_player()

    too_many = post(api_client, {"sessions": [item(player, 1)] * 4})
    three = post(api_client, {"sessions": [item(player, 1)] * 3})
    one_more = post(api_client, {"sessions": [item(player, 1)]})

    assert too_many.status_code == 429 and three.status_code == 201 and one_more.status_code == 429
    assert GameSession.objects.count() == 3


def test_a_hidden_players_sessions_are_recorded_and_ranked_nowhere(api_client: Client) -> None:
    hidden, other = make_player(), make_player()
    submit(hidden, 1)
    services.hide_player(user_id=hidden.pk, moderator=make_moderator(), reason="cheat")

    response = post(api_client, {"sessions": [item(hidden, 50), item(other, 10)]})

    assert response.status_code == 201
    assert response.json()["sessions"][0]["total_score"] == 51
    assert not LeaderboardEntry.objects.filter(user=hidden).exists()
    assert GameSession.objects.filter(user=hidden).count() == 2


@pytest.mark.redis
def test_ranks_in_the_answer_match_the_index_after_commit_when_batch_mates_overtake_each_other(
    api_client: Client,
) -> None:
    get_redis_connection("default").flushdb()
    mark_redis_long_lived()
    players = [make_player() for _ in range(6)]
    for n, player in enumerate(players):
        submit(player, 10 * n)
    redis_index.rebuild(board_period=selectors.get_default_board_ref().period("all"))

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = post(
            api_client,
            {
                "sessions": [
                    item(players[0], 45),
                    item(players[5], 1),
                    item(players[1], 40),
                    item(players[2], 5),
                ]
            },
        )

    for answer in response.json()["sessions"]:
        standing = selectors.get_player_rank(user_id=answer["user_id"])
        assert standing is not None
        assert (answer["rank"], answer["total_players"]) == (standing.rank, standing.total_players)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_the_same_players_lose_nothing_and_never_deadlock(
    api_key_headers: dict[str, str],
) -> None:
    players = [make_player() for _ in range(8)]
    statuses: list[int] = []

    def batches(index: int) -> None:
        client = Client(headers=api_key_headers)
        order = players if index % 2 else list(reversed(players))
        for _ in range(10):
            response = post(client, {"sessions": [item(p, 1) for p in order]})
            statuses.append(response.status_code)

    errors = run_in_threads(6, batches)

    assert not errors, errors
    assert statuses == [201] * 60
    board = selectors.get_default_board_ref()
    totals = dict(LeaderboardEntry.objects.filter(board_id=board.id).values_list("user_id", "total_score"))
    assert totals == {p.pk: 60 for p in players}
