"""Rate limits: atomic under bursts, keyed on what a client cannot forge, open while Redis is away."""

import pytest
from django.test import Client

from leaderboard.models import GameSession
from leaderboard.rate_limits import Rate
from tests.factories import make_player
from tests.leaderboard.test_concurrency import run_in_threads
from tests.redis_server import PrivateRedis


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("60/m", Rate(60, 60)),
        ("5/10s", Rate(5, 10)),
        (" 1000 / h ", Rate(1000, 3600)),
        ("2/d", Rate(2, 86400)),
    ],
)
def test_rates_parse(text: str, expected: Rate) -> None:
    assert Rate.parse(text) == expected


@pytest.mark.parametrize("text", ["off", "", "none"])
def test_a_rate_can_be_switched_off(text: str) -> None:
    assert Rate.parse(text) is None


@pytest.mark.parametrize("text", ["60", "x/m", "5/w", "-1/m"])
def test_a_malformed_rate_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="Not a rate"):
        Rate.parse(text)


def submit_body(player) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {"user_id": player.pk, "score": 1}


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_burst_gets_exactly_the_player_limit_accepted(settings, api_key_headers) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_SUBMIT_RATE_PER_PLAYER = "5/m"
    player = make_player()
    statuses: list[int] = []
    retry_after: list[str] = []

    def one_submit(_: int) -> None:
        response = Client(headers=api_key_headers).post(
            "/api/leaderboard/submit", submit_body(player), content_type="application/json"
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            retry_after.append(response["Retry-After"])
            assert response.json()["error"]["code"] == "throttled"

    assert run_in_threads(20, one_submit) == []

    assert sorted(statuses) == [201] * 5 + [429] * 15
    assert all(1 <= int(seconds) <= 61 for seconds in retry_after)
    assert GameSession.objects.filter(user=player).count() == 5


@pytest.mark.redis
@pytest.mark.django_db
def test_the_api_key_limit_spans_players(settings, api_client: Client) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_SUBMIT_RATE_PER_API_KEY = "3/m"
    players = [make_player() for _ in range(5)]

    statuses = [
        api_client.post(
            "/api/leaderboard/submit", submit_body(p), content_type="application/json"
        ).status_code
        for p in players
    ]

    assert statuses == [201, 201, 201, 429, 429]
    assert GameSession.objects.count() == 3


@pytest.mark.redis
@pytest.mark.django_db
def test_a_player_refused_by_one_limit_does_not_use_up_another(settings, api_client: Client) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_SUBMIT_RATE_PER_PLAYER = "1/m"
    settings.LEADERBOARD_SUBMIT_RATE_PER_API_KEY = "2/m"
    busy, other = make_player(), make_player()

    def post(player):  # type: ignore[no-untyped-def]
        return api_client.post(
            "/api/leaderboard/submit", submit_body(player), content_type="application/json"
        )

    assert [post(busy).status_code for _ in range(3)] == [201, 429, 429]
    assert post(other).status_code == 201  # the key's second slot was still free


@pytest.mark.redis
@pytest.mark.django_db
def test_rotating_x_forwarded_for_does_not_buy_a_fresh_quota(settings, client: Client) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "3/m"

    statuses = [
        client.get("/api/leaderboard/top", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(5)
    ]

    assert statuses == [200, 200, 200, 429, 429]


@pytest.mark.redis
@pytest.mark.django_db
def test_behind_a_proxy_the_address_it_appended_is_the_one_limited(settings, client: Client) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "2/m"
    settings.TRUSTED_PROXY_COUNT = 1

    def get(forwarded_for: str) -> int:
        return client.get("/api/leaderboard/top", HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    # The client forges the left part; our proxy appends the real address on the right.
    assert [get(f"198.51.100.{n}, 10.0.0.7") for n in range(3)] == [200, 200, 429]
    assert get("10.0.0.8") == 200  # another real client has its own quota


@pytest.mark.redis
@pytest.mark.django_db
def test_reads_with_an_api_key_are_not_limited_per_address(settings, api_client: Client) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "1/m"
    assert [api_client.get("/api/leaderboard/top").status_code for _ in range(3)] == [200] * 3


@pytest.mark.redis
@pytest.mark.django_db
def test_limits_are_open_while_redis_is_away(
    settings, private_redis: PrivateRedis, api_client: Client
) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_SUBMIT_RATE_PER_PLAYER = "2/m"
    player = make_player()
    private_redis.stop()

    statuses = [
        api_client.post(
            "/api/leaderboard/submit", submit_body(player), content_type="application/json"
        ).status_code
        for _ in range(4)
    ]

    assert statuses == [201] * 4
    assert GameSession.objects.filter(user=player).count() == 4


def count_round_trips(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """Each packed send to Redis is one round trip (a pipeline sends all its commands at once)."""
    from redis.connection import AbstractConnection

    sends: list[int] = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):  # type: ignore[no-untyped-def]
        sends.append(1)
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sends


@pytest.mark.redis
@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/leaderboard/rank/{id}", "/api/leaderboard/top?limit=5"])
def test_a_limited_read_and_its_index_read_make_one_round_trip(
    settings, client: Client, monkeypatch, path
) -> None:  # type: ignore[no-untyped-def]
    from leaderboard import selectors
    from leaderboard.ranking import redis_index
    from tests.factories import submit

    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "2/m"
    player = make_player()
    submit(player, 5)
    redis_index.rebuild(board_period=selectors.get_default_board_ref().period("all"))
    url = path.format(id=player.pk)
    client.get(url)  # fills the top cache, loads the scripts
    sends = count_round_trips(monkeypatch)

    assert client.get(url).status_code == 200
    assert len(sends) == 1
    refused = client.get(url)  # the third read: over the limit, however it was served
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_submits_limit_goes_with_its_announcement_and_a_refusal_leaves_the_index_complete(
    settings, api_client: Client, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from django_redis import get_redis_connection

    from leaderboard import ranking, selectors
    from leaderboard.ranking import redis_index

    settings.LEADERBOARD_SUBMIT_RATE_PER_PLAYER = "1/m"
    player, other = make_player(), make_player()
    board_period = selectors.get_default_board_ref().period("all")
    redis_index.rebuild(board_period=board_period)
    post = lambda who: api_client.post(  # noqa: E731
        "/api/leaderboard/submit", submit_body(who), content_type="application/json"
    )
    post(other)  # loads the scripts
    sends = count_round_trips(monkeypatch)

    accepted = post(player)
    round_trips = len(sends)
    refused = post(player)

    assert accepted.status_code == 201 and round_trips == 2  # limits + announcement, then the write
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) >= 1
    assert GameSession.objects.filter(user=player).count() == 1
    inflight = redis_index.BoardKeys.for_period(board_period).inflight
    assert get_redis_connection("default").zcard(inflight) == 0
    assert ranking.rank_source(board_period=board_period) == "redis"
