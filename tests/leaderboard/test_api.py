"""The compatible API and /api/v1/players: shapes, status codes, bad input."""

import pytest
from django.test import Client

from leaderboard.models import GameSession, LeaderboardEntry
from tests.factories import make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, body: object):  # type: ignore[no-untyped-def]
    return client.post(path, body, content_type="application/json")


def assert_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)


def test_submit_returns_new_total_rank_and_percentile(api_client: Client) -> None:
    leader, other = make_player(), make_player()
    submit(leader, 500)

    response = post(api_client, "/api/leaderboard/submit", {"user_id": other.pk, "score": 300})

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "session_id": body["session_id"],
        "user_id": other.pk,
        "score": 300,
        "game_mode": "solo",
        "total_score": 300,
        "session_count": 1,
        "rank": 2,
        "percentile": 0.0,
        "total_players": 2,
    }
    again = post(
        api_client, "/api/leaderboard/submit", {"user_id": other.pk, "score": 250, "game_mode": "team"}
    )
    assert again.json()["total_score"] == 550
    assert again.json()["session_count"] == 2
    assert again.json()["rank"] == 1
    assert again.json()["percentile"] == 50.0
    assert GameSession.objects.filter(user=other, game_mode="team").count() == 1


def test_submit_accepts_a_trailing_slash(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    response = post(api_client, "/api/leaderboard/submit/", {"user_id": player.pk, "score": 1})
    assert response.status_code == 201


def test_submit_ignores_unknown_fields(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    body = {"user_id": player.pk, "score": 10, "total_score": 10**9, "session_count": 99, "is_void": True}
    response = post(api_client, "/api/leaderboard/submit", body)
    assert response.status_code == 201
    entry = LeaderboardEntry.objects.get(user=player)
    assert (entry.total_score, entry.session_count) == (10, 1)
    assert GameSession.objects.get(user=player).is_void is False


@pytest.mark.parametrize(
    "body",
    [
        {"score": 10},
        {"user_id": "1", "score": 10},
        {"user_id": 1.0, "score": 10},
        {"user_id": True, "score": 10},
        {"user_id": None, "score": 10},
        {"user_id": 0, "score": 10},
        {"user_id": -3, "score": 10},
        {"user_id": 2**70, "score": 10},
        {"user_id": "PLAYER", "score": "10"},
        {"user_id": "PLAYER"},
        {"user_id": "PLAYER", "score": 10.5},
        {"user_id": "PLAYER", "score": 10.0},
        {"user_id": "PLAYER", "score": False},
        {"user_id": "PLAYER", "score": None},
        {"user_id": "PLAYER", "score": -1},
        {"user_id": "PLAYER", "score": 1_000_001},
        {"user_id": "PLAYER", "score": 2**80},
        {"user_id": "PLAYER", "score": [5]},
        {"user_id": "PLAYER", "score": 5, "game_mode": "not a slug!"},
        {"user_id": "PLAYER", "score": 5, "game_mode": "x" * 33},
        {"user_id": "PLAYER", "score": 5, "game_mode": 7},
        [1, 2],
        '"score"',
    ],
)
def test_submit_rejects_bad_input_and_writes_nothing(api_client: Client, player, body) -> None:  # type: ignore[no-untyped-def]
    if isinstance(body, dict):
        body = {k: (player.pk if v == "PLAYER" else v) for k, v in body.items()}
    response = post(api_client, "/api/leaderboard/submit", body)
    assert_error(response, 400, "invalid")
    assert not GameSession.objects.exists()
    assert not LeaderboardEntry.objects.exists()


def test_submit_rejects_malformed_json(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    response = api_client.post(
        "/api/leaderboard/submit", '{"user_id": 1, "sc', content_type="application/json"
    )
    assert_error(response, 400, "parse_error")
    assert not GameSession.objects.exists()


def test_submit_rejects_form_encoded_bodies(api_client: Client, player) -> None:  # type: ignore[no-untyped-def]
    response = api_client.post("/api/leaderboard/submit", {"user_id": player.pk, "score": 5})
    assert_error(response, 415, "unsupported_media_type")
    assert not GameSession.objects.exists()


def test_submit_for_unknown_player_is_404_and_writes_nothing(api_client: Client) -> None:
    response = post(api_client, "/api/leaderboard/submit", {"user_id": 424242, "score": 5})
    assert_error(response, 404, "player_not_found")
    assert not GameSession.objects.exists()


def test_submit_maximum_score_is_configurable(api_client: Client, player, settings) -> None:  # type: ignore[no-untyped-def]
    # Validated once under the default maximum first: the input's checker is then built again.
    assert (
        post(api_client, "/api/leaderboard/submit", {"user_id": player.pk, "score": 101}).status_code == 201
    )
    settings.LEADERBOARD_MAX_SCORE_PER_SESSION = 100
    assert (
        post(api_client, "/api/leaderboard/submit", {"user_id": player.pk, "score": 100}).status_code == 201
    )
    assert_error(
        post(api_client, "/api/leaderboard/submit", {"user_id": player.pk, "score": 101}), 400, "invalid"
    )


def test_top_lists_players_in_order_with_ranks(client: Client) -> None:
    a, b, c = make_player("a"), make_player("b"), make_player("c")
    submit(a, 10)
    submit(b, 30)
    submit(c, 20)

    response = client.get("/api/leaderboard/top?limit=2")

    assert response.status_code == 200
    assert response.json() == {
        "top_players": [
            {"rank": 1, "user_id": b.pk, "username": "b", "total_score": 30, "session_count": 1},
            {"rank": 2, "user_id": c.pk, "username": "c", "total_score": 20, "session_count": 1},
        ],
        "total_players": 3,
    }
    assert len(client.get("/api/leaderboard/top").json()["top_players"]) == 3


def test_top_on_an_empty_board(client: Client) -> None:
    assert client.get("/api/leaderboard/top").json() == {"top_players": [], "total_players": 0}


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5", "10.0", "1e1", "+5", " 5"])
def test_top_rejects_a_bad_limit(client: Client, limit: str) -> None:
    assert_error(client.get(f"/api/leaderboard/top?limit={limit}"), 400, "invalid")


def test_rank_of_a_player(client: Client) -> None:
    players = [make_player() for _ in range(4)]
    for score, p in zip([40, 30, 20, 10], players, strict=True):
        submit(p, score)

    response = client.get(f"/api/leaderboard/rank/{players[1].pk}")

    assert response.status_code == 200
    assert response.json() == {
        "user_id": players[1].pk,
        "username": players[1].username,
        "rank": 2,
        "total_score": 30,
        "session_count": 1,
        "percentile": 50.0,
        "total_players": 4,
    }


def test_rank_of_unknown_and_unranked_players_is_404(client: Client, player) -> None:  # type: ignore[no-untyped-def]
    assert_error(client.get("/api/leaderboard/rank/987654"), 404, "player_not_found")
    assert_error(client.get(f"/api/leaderboard/rank/{player.pk}"), 404, "player_not_ranked")


@pytest.mark.parametrize("user_id", ["abc", "0", "-1", "1.5", str(2**64)])
def test_rank_rejects_a_malformed_id(client: Client, user_id: str) -> None:
    assert_error(client.get(f"/api/leaderboard/rank/{user_id}"), 400, "invalid")


def test_register_player_then_read_it(api_client: Client) -> None:
    response = post(api_client, "/api/v1/players", {"username": "neo", "email": "neo@example.com"})
    assert response.status_code == 201
    created = response.json()
    assert created["username"] == "neo" and created["email"] == "neo@example.com"

    detail = api_client.get(f"/api/v1/players/{created['id']}").json()
    assert detail["username"] == "neo"
    assert detail["standing"] is None
    assert "email" not in detail


def test_register_player_rejects_taken_and_invalid_names(api_client: Client) -> None:
    make_player("taken")
    assert_error(post(api_client, "/api/v1/players", {"username": "taken"}), 409, "username_taken")
    assert_error(post(api_client, "/api/v1/players", {"username": "has space"}), 400, "invalid")
    assert_error(post(api_client, "/api/v1/players", {"username": ""}), 400, "invalid")
    assert_error(post(api_client, "/api/v1/players", {"username": "ok", "email": "nope"}), 400, "invalid")


def test_register_player_cannot_become_staff(api_client: Client) -> None:
    response = post(
        api_client, "/api/v1/players", {"username": "sneaky", "is_staff": True, "is_superuser": True}
    )
    assert response.status_code == 201
    from users.models import User

    user = User.objects.get(username="sneaky")
    assert not user.is_staff and not user.is_superuser and not user.has_usable_password()


def test_unknown_api_path_is_json_404(client: Client) -> None:
    assert_error(client.get("/api/nothing-here"), 404, "not_found")


def test_stats_are_for_staff_only(client: Client, admin_client: Client) -> None:
    assert client.get("/api/v1/stats").status_code in (401, 403)
    response = admin_client.get("/api/v1/stats")
    assert response.status_code == 200
    body = response.json()
    assert body["boards"][0] == {
        "slug": "global",
        "period": "all",
        "rank_source": body["boards"][0]["rank_source"],
    }
    assert set(body) == {"boards", "top_cache_hits", "top_cache_misses", "top_cache_hit_ratio"}


def test_a_hidden_player_is_404_in_the_api_as_on_the_pages(client: Client) -> None:
    from leaderboard import services
    from tests.factories import make_moderator

    player = make_player()
    submit(player, 40)
    services.hide_player(user_id=player.pk, moderator=make_moderator(), reason="cheating")

    assert client.get(f"/players/{player.pk}/").status_code == 404
    assert_error(client.get(f"/api/v1/players/{player.pk}"), 404, "player_not_found")
    assert_error(client.get(f"/api/leaderboard/rank/{player.pk}"), 404, "player_not_found")

    services.restore_player(user_id=player.pk, moderator=User.objects.get(username="mod"), reason="appeal")
    assert client.get(f"/api/v1/players/{player.pk}").json()["standing"]["total_score"] == 40
