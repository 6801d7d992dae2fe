"""The HTML pages share the API's per-address read limit: a 429 page over it, open while Redis is away."""

import pytest
from django.test import Client

from tests.factories import make_player, submit
from tests.redis_server import PrivateRedis

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture
def pages() -> list[str]:
    """One URL of every public page and fragment."""
    player = make_player("visible")
    submit(player, 10)
    return [
        "/",
        "/?n=25",
        "/players/search/?q=vis",
        f"/players/{player.pk}/",
        "/players/by-name/visible/",
    ]


@pytest.mark.parametrize("index", range(5))
def test_every_page_is_refused_over_the_limit_with_a_page_and_retry_after(
    settings, client: Client, pages: list[str], index: int
) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "2/m"
    url = pages[index]

    statuses = [client.get(url).status_code for _ in range(2)]
    refused = client.get(url)

    assert all(s in (200, 302) for s in statuses)
    assert refused.status_code == 429
    html = refused.content.decode()
    assert html.startswith("<!doctype html>") and "css/site.css" in html
    assert "Too many requests" in html
    assert 1 <= int(refused["Retry-After"]) <= 60


@pytest.mark.parametrize("url_index", [0, 2, 3])
def test_an_htmx_request_over_the_limit_gets_a_fragment(
    settings, client: Client, pages: list[str], url_index: int
) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "1/m"
    url = pages[url_index]
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200

    refused = client.get(url, HTTP_HX_REQUEST="true")

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    html = refused.content.decode()
    assert "<html" not in html and "<header" not in html
    assert "Too many requests" in html


def test_under_the_limit_a_viewer_polling_every_5s_is_served(
    settings, client: Client, pages: list[str]
) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "1200/m"
    # A minute of one viewer: the page, twelve polls, a search and a player page.
    statuses = [client.get("/").status_code]
    statuses += [client.get("/?n=10&prev=", HTTP_HX_REQUEST="true").status_code for _ in range(12)]
    statuses += [client.get(pages[2]).status_code, client.get(pages[3]).status_code]

    assert statuses == [200] * 15


def test_the_limit_is_per_address_with_the_apis_proxy_rule(settings, pages: list[str]) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "1/m"
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client(REMOTE_ADDR="10.0.0.2")

    def get(forwarded_for: str) -> int:
        return client.get("/", HTTP_X_FORWARDED_FOR=forwarded_for).status_code

    assert get("198.51.100.1, 203.0.113.5") == 200
    assert get("198.51.100.2, 203.0.113.5") == 429  # a forged left part buys nothing
    assert get("203.0.113.6") == 200  # another real client


def test_a_client_refused_by_the_api_is_refused_on_the_pages_too(
    settings, client: Client, pages: list[str]
) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "3/m"

    api = [client.get("/api/leaderboard/top").status_code for _ in range(4)]

    assert api == [200, 200, 200, 429]
    assert client.get(pages[3]).status_code == 429


def test_static_files_healthz_and_the_admin_are_not_counted(
    settings, client: Client, admin_client: Client
) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "2/m"

    for _ in range(3):
        client.get("/static/css/site.css")
        assert client.get("/healthz").status_code == 200
        assert client.get("/admin/login/").status_code == 200
        assert admin_client.get("/admin/").status_code == 200
        assert admin_client.get("/admin/leaderboard/gamesession/").status_code == 200

    assert [client.get("/").status_code for _ in range(3)] == [200, 200, 429]


def test_api_key_reads_are_not_limited_by_the_pages(settings, client: Client, api_client: Client) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "1/m"
    assert [client.get("/").status_code for _ in range(2)] == [200, 429]

    assert [api_client.get("/api/leaderboard/top").status_code for _ in range(3)] == [200] * 3


def test_pages_are_served_while_redis_is_away(
    settings, private_redis: PrivateRedis, client: Client, pages: list[str]
) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "1/m"
    private_redis.stop()

    statuses = [client.get(url).status_code for url in pages for _ in range(2)]

    assert statuses == [200, 200, 200, 200, 200, 200, 200, 200, 302, 302]
