"""Follows: players follow others (capped), recorded by game servers over the API."""

import pytest
from django.test import Client

from leaderboard import selectors, services
from leaderboard.errors import CannotFollowSelf, FollowLimitReached, PlayerNotFound
from tests.factories import make_moderator, make_player
from tests.leaderboard.test_concurrency import run_in_threads
from users import services as user_services
from users.models import Follow

pytestmark = pytest.mark.django_db


def following_ids(user_id: int) -> list[int]:
    return [f.user_id for f in selectors.list_following(user_id=user_id)]


def test_a_follow_is_recorded_once() -> None:
    alice, bob = make_player(), make_player()

    assert user_services.follow_player(follower_id=alice.pk, followed_id=bob.pk) is True
    assert user_services.follow_player(follower_id=alice.pk, followed_id=bob.pk) is False

    assert following_ids(alice.pk) == [bob.pk]
    assert following_ids(bob.pk) == []  # following is one-way


def test_unfollow_removes_the_follow_and_is_idempotent() -> None:
    alice, bob = make_player(), make_player()
    user_services.follow_player(follower_id=alice.pk, followed_id=bob.pk)

    assert user_services.unfollow_player(follower_id=alice.pk, followed_id=bob.pk) is True
    assert user_services.unfollow_player(follower_id=alice.pk, followed_id=bob.pk) is False
    assert following_ids(alice.pk) == []


def test_a_player_cannot_follow_themselves_or_nobody() -> None:
    alice = make_player()
    with pytest.raises(CannotFollowSelf):
        user_services.follow_player(follower_id=alice.pk, followed_id=alice.pk)
    with pytest.raises(PlayerNotFound):
        user_services.follow_player(follower_id=alice.pk, followed_id=alice.pk + 1000)
    with pytest.raises(PlayerNotFound):
        user_services.follow_player(follower_id=alice.pk + 1000, followed_id=alice.pk)
    assert Follow.objects.count() == 0


def test_follows_are_capped(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_FOLLOW_LIMIT = 2
    alice, *others = [make_player() for _ in range(4)]
    for other in others[:2]:
        user_services.follow_player(follower_id=alice.pk, followed_id=other.pk)

    with pytest.raises(FollowLimitReached):
        user_services.follow_player(follower_id=alice.pk, followed_id=others[2].pk)
    # Following someone already followed is not a new follow, so the cap does not refuse it.
    assert user_services.follow_player(follower_id=alice.pk, followed_id=others[0].pk) is False
    assert len(following_ids(alice.pk)) == 2


def test_hidden_players_cannot_be_followed_and_drop_out_of_listings() -> None:
    alice, bob, carol = make_player(), make_player(), make_player()
    moderator = make_moderator()
    user_services.follow_player(follower_id=alice.pk, followed_id=bob.pk)
    user_services.follow_player(follower_id=alice.pk, followed_id=carol.pk)

    services.hide_player(user_id=carol.pk, moderator=moderator, reason="cheating")

    assert following_ids(alice.pk) == [bob.pk]
    with pytest.raises(PlayerNotFound):
        user_services.follow_player(follower_id=bob.pk, followed_id=carol.pk)
    services.restore_player(user_id=carol.pk, moderator=moderator, reason="appeal upheld")
    assert following_ids(alice.pk) == [bob.pk, carol.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_follows_never_pass_the_cap(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_FOLLOW_LIMIT = 5
    alice = make_player()
    others = [make_player() for _ in range(16)]

    def follow(index: int) -> None:
        user_services.follow_player(follower_id=alice.pk, followed_id=others[index].pk)

    errors = run_in_threads(16, follow)

    assert len(errors) == 11
    assert all(isinstance(e, FollowLimitReached) for e in errors)
    assert Follow.objects.filter(follower=alice).count() == 5


# --- API ------------------------------------------------------------------------


def test_game_servers_follow_and_unfollow_over_the_api(api_client: Client) -> None:
    alice, bob = make_player(), make_player("bob")
    path = f"/api/v1/players/{alice.pk}/following/{bob.pk}"

    first = api_client.put(path)
    again = api_client.put(path)

    assert first.status_code == 201
    assert first.json() == {"user_id": alice.pk, "followed_id": bob.pk, "created": True}
    assert again.status_code == 200 and again.json()["created"] is False
    listing = Client().get(f"/api/v1/players/{alice.pk}/following/")
    assert listing.status_code == 200
    body = listing.json()
    assert [(f["user_id"], f["username"]) for f in body["following"]] == [(bob.pk, "bob")]
    assert body["limit"] == 500

    assert api_client.delete(path).status_code == 204
    assert Client().get(f"/api/v1/players/{alice.pk}/following").json()["following"] == []


def test_follows_need_an_api_key() -> None:
    alice, bob = make_player(), make_player()
    response = Client().put(f"/api/v1/players/{alice.pk}/following/{bob.pk}")
    assert response.status_code == 401
    assert Follow.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/players/{a}/following/{a}", 422, "cannot_follow_self"),
        ("/api/v1/players/{a}/following/x1", 400, "invalid"),
        ("/api/v1/players/{a}/following/999999999", 404, "player_not_found"),
        ("/api/v1/players/999999999/following/{a}", 404, "player_not_found"),
    ],
)
def test_bad_follows_get_a_json_error_and_change_nothing(
    api_client: Client, path: str, status: int, code: str
) -> None:
    alice = make_player()
    response = api_client.put(path.format(a=alice.pk))
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert Follow.objects.count() == 0


def test_the_cap_answers_409_over_the_api(api_client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_FOLLOW_LIMIT = 1
    alice, bob, carol = make_player(), make_player(), make_player()
    api_client.put(f"/api/v1/players/{alice.pk}/following/{bob.pk}")

    response = api_client.put(f"/api/v1/players/{alice.pk}/following/{carol.pk}")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "follow_limit_reached"


def test_listing_the_follows_of_an_unknown_player_is_404() -> None:
    response = Client().get("/api/v1/players/999999999/following/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "player_not_found"
