"""/metrics: closed without the token or a staff login, and each figure moves with what it counts."""

import json

import pytest
from django.core.management import call_command
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from leaderboard import selectors
from leaderboard.boards import BoardPeriod
from leaderboard.models import LeaderboardEntry
from leaderboard.ranking import redis_index
from tests.factories import make_moderator, make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


def scrape(client: Client | None = None) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = (client or Client()).get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture(autouse=True)
def _token(settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"]
)
def test_metrics_are_refused_without_the_right_token(client: Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 403
    assert json.loads(response.content)["error"]["code"] == "forbidden"


def test_metrics_are_never_open_when_no_token_is_set(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = ""
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer  "}):
        assert client.get("/metrics", headers=headers).status_code == 403


def test_staff_may_read_metrics_and_players_may_not(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = ""
    client.force_login(User.objects.create_user(username="player", password="pw"))
    assert client.get("/metrics").status_code == 403
    client.force_login(make_moderator())
    assert client.get("/metrics").status_code == 200


def test_request_latency_is_counted_by_route_name_and_status_not_by_path() -> None:
    player = make_player()
    submit(player, 10)
    before = scrape()
    client = Client()
    for _ in range(3):
        assert client.get(f"/api/leaderboard/rank/{player.pk}").status_code == 200
    assert client.get("/api/leaderboard/rank/999999").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    after = scrape()

    def delta(**labels: str) -> float:
        name = "leaderforge_http_request_duration_seconds_count"
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(route="api-rank", method="GET", status="200") == 3
    assert delta(route="api-rank", status="404") == 1
    assert delta(route="unmatched", status="404") == 1
    routes = {dict(labels)["route"] for name, labels in after if name.startswith("leaderforge_http_request")}
    assert "api-rank" in routes and not any("/" in route for route in routes)  # names, never paths
    # Every request lands in the +Inf bucket, so the buckets add up to the count.
    assert value(after, "leaderforge_http_request_duration_seconds_bucket", route="api-rank", le="+Inf") == (
        value(after, "leaderforge_http_request_duration_seconds_count", route="api-rank")
    )


def test_rank_source_is_exported_per_board() -> None:
    samples = scrape()
    for board in selectors.list_active_boards():
        assert (
            value(samples, "leaderforge_rank_source", board=board.slug, source="redis")
            + value(samples, "leaderforge_rank_source", board=board.slug, source="sql")
            == 1
        )


@pytest.mark.postgres
def test_database_connections_are_counted_by_postgresql() -> None:
    assert value(scrape(), "leaderforge_database_connections") >= 1


@pytest.mark.redis
def test_top_listing_cache_hits_and_misses_are_labelled_and_counted(settings) -> None:  # type: ignore[no-untyped-def]
    submit(make_player(), 10)
    redis_index.rebuild(board_period=BoardPeriod(selectors.get_default_board_ref().id))
    before = scrape()
    client = Client()
    for _ in range(3):
        assert client.get("/api/leaderboard/top").status_code == 200
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    count = "leaderforge_http_request_duration_seconds_count"
    assert delta(count, route="api-top", cache="miss") == 1
    assert delta(count, route="api-top", cache="hit") == 2
    assert delta("leaderforge_top_cache_hits_total") == 2
    assert delta("leaderforge_top_cache_misses_total") == 1
    # The mark does not leak into the next request of the same thread.
    client.get("/healthz")
    assert value(scrape(), count, route="healthz", cache="") >= 1


@pytest.mark.redis
def test_refusals_are_counted_by_kind_of_limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "2/m"
    before = value(scrape(), "leaderforge_rate_limited_total", kind="ip")
    client = Client()
    statuses = [client.get("/api/leaderboard/top").status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    assert value(scrape(), "leaderforge_rate_limited_total", kind="ip") - before == 2


def test_breaker_state_is_exported() -> None:
    assert value(scrape(), "leaderforge_redis_breaker_open", breaker="redis") == 0


@pytest.mark.redis
def test_rank_index_drift_found_by_the_check_is_exported(capsys) -> None:  # type: ignore[no-untyped-def]
    players = [make_player() for _ in range(3)]
    for player in players:
        submit(player, 10)
    board = selectors.get_default_board_ref()
    redis_index.rebuild(board_period=BoardPeriod(board.id))

    call_command("check_rank_index", "--sample", "10")
    samples = scrape()
    assert value(samples, "leaderforge_rank_index_drift", board=board.slug) == 0
    checked_at = value(samples, "leaderforge_rank_index_check_timestamp_seconds")
    assert checked_at > 0

    # Drift: the database changes behind the index's back.
    LeaderboardEntry.objects.filter(user=players[0], board_id=board.id).update(total_score=99)
    with pytest.raises(SystemExit):
        call_command("check_rank_index", "--sample", "10")
    samples = scrape()
    assert value(samples, "leaderforge_rank_index_drift", board=board.slug) >= 1
    assert value(samples, "leaderforge_rank_index_check_timestamp_seconds") >= checked_at


def test_an_unhandled_exception_is_counted_and_its_500_timed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from leaderboard.api import compatible as api

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(api.PlayerRankApi, "get", fail)
    before = scrape()
    response = Client(raise_request_exception=False).get(
        "/api/leaderboard/rank/1", headers={"X-Request-ID": "t-500"}
    )
    after = scrape()

    assert response.status_code == 500 and response["X-Request-ID"] == "t-500"
    name = "leaderforge_http_exceptions_total"
    labels = {"route": "api-rank", "exception": "RuntimeError"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1
    count = "leaderforge_http_request_duration_seconds_count"
    assert (
        value(after, count, route="api-rank", status="500")
        - value(before, count, route="api-rank", status="500")
        == 1
    )


@pytest.mark.redis
def test_an_open_redis_breaker_shows(private_redis) -> None:  # type: ignore[no-untyped-def]
    from leaderboard import redis_client

    private_redis.stop()
    for _ in range(3):
        with pytest.raises(redis_client.RedisUnavailable):
            redis_client.ping()
    assert redis_client.breaker_is_open()
    assert value(scrape(), "leaderforge_redis_breaker_open", breaker="redis") == 1


def test_metrics_are_exempt_from_the_https_redirect(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/metrics").status_code == 403  # answered here, not redirected
    assert scrape(client)
