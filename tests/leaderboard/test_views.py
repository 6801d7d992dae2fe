"""The HTML front door: pages and their htmx fragments (status, shape, a 4xx case)."""

import re

import pytest
from django.db import OperationalError
from django.test import Client, RequestFactory

from leaderboard import services, views
from leaderforge.errors import server_error
from leaderforge.middleware import DatabaseUnavailableMiddleware
from tests.factories import make_moderator, make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db


def ranked_players(*scores: int) -> list:  # type: ignore[type-arg]
    players = []
    for index, score in enumerate(scores):
        player = make_player(f"p{index}")
        submit(player, score)
        players.append(player)
    return players


def row_changes(html: str) -> dict[int, str]:
    return {
        int(uid): change
        for uid, change in re.findall(r'data-user-id="(\d+)" data-rank="\d+" data-change="(\w*)"', html)
    }


def test_home_page_shows_the_top_ten_inside_the_full_page(client: Client) -> None:
    players = ranked_players(*range(10, 130, 10))  # 12 players

    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith("<!doctype html>")
    assert 'id="top-table"' in html and 'hx-trigger="every 5s"' in html
    assert "js/htmx.min.js" in html and "css/site.css" in html
    assert html.count("data-user-id=") == 10
    assert f'href="/players/{players[-1].pk}/">p11</a>' in html  # the leader
    assert "p0" not in html and "p1<" not in html  # ranks 11 and 12 are not shown
    assert "12 ranked players" in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_htmx_poll_gets_only_the_table_fragment(client: Client) -> None:
    ranked_players(30, 20, 10)

    response = client.get("/", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="top-table"')
    assert "<html" not in html and "<header" not in html
    assert html.count("data-user-id=") == 3
    assert re.search(r'<time datetime="[^"]+">\d\d:\d\d:\d\d UTC</time>', html)


@pytest.mark.parametrize(("asked", "shown"), [("25", 25), ("100", 30), ("7", 10), ("lots", 10), ("", 10)])
def test_top_size_is_one_of_the_offered_sizes(client: Client, asked: str, shown: int) -> None:
    ranked_players(*range(1, 31))

    html = client.get(f"/?n={asked}", HTTP_HX_REQUEST="true").content.decode()

    assert html.count("data-user-id=") == shown


def test_the_poll_carries_the_snapshot_of_the_rows_it_shows(client: Client) -> None:
    a, b = ranked_players(20, 10)

    html = client.get("/?n=25", HTTP_HX_REQUEST="true").content.decode()

    assert f"&quot;prev&quot;: &quot;{a.pk}:1,{b.pk}:2&quot;" in html
    assert "&quot;n&quot;: 25" in html


def test_rank_changes_against_the_previous_snapshot(client: Client) -> None:
    climber, steady, faller = ranked_players(10, 30, 20)
    before = f"{steady.pk}:1,{faller.pk}:2,{climber.pk}:3"
    submit(climber, 25)  # 35: first
    newcomer = make_player("newcomer")
    submit(newcomer, 5)

    html = client.get(f"/?prev={before}", HTTP_HX_REQUEST="true").content.decode()

    assert row_changes(html) == {climber.pk: "up", steady.pk: "down", faller.pk: "down", newcomer.pk: "new"}
    assert "▲2" in html and "up 2" in html
    assert "▼1" in html


def test_first_view_and_unchanged_rows_show_no_arrows(client: Client) -> None:
    a, b = ranked_players(20, 10)

    first = client.get("/", HTTP_HX_REQUEST="true").content.decode()
    again = client.get(f"/?prev={a.pk}:1,{b.pk}:2", HTTP_HX_REQUEST="true").content.decode()

    assert set(row_changes(first).values()) == {""}
    assert set(row_changes(again).values()) == {""}


def test_snapshot_parsing_ignores_junk_and_is_bounded() -> None:
    assert views.parse_snapshot("1:2, 3:4,x:1,5:,:6,7:8:9,10:-1") == {1: 2, 3: 4}
    huge = ",".join(f"{i}:{i}" for i in range(1, 1000))
    assert len(views.parse_snapshot(huge)) == 100
    assert views.parse_snapshot("") == {}


def test_the_fragment_costs_the_same_queries_for_10_or_100_rows(
    client: Client, django_assert_max_num_queries
) -> None:  # type: ignore[no-untyped-def]
    ranked_players(*range(1, 121))
    client.get("/", HTTP_HX_REQUEST="true")  # warm the board list

    with django_assert_max_num_queries(3) as small:
        client.get("/?n=10", HTTP_HX_REQUEST="true")
    with django_assert_max_num_queries(3) as large:
        client.get("/?n=100", HTTP_HX_REQUEST="true")

    assert len(small.captured_queries) == len(large.captured_queries)


def test_home_rejects_post(client: Client) -> None:
    assert client.post("/").status_code == 405


def test_search_matches_a_username_prefix_as_a_fragment(client: Client) -> None:
    for name in ["alice", "alfred", "bob", "al"]:
        make_player(name)

    response = client.get("/players/search/?q=al", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert re.findall(r">(\w+)</a>", html) == ["al", "alfred", "alice"]
    assert 'hx-target="#rank-card"' in html


def test_search_is_limited_and_skips_hidden_players(client: Client) -> None:
    for i in range(15):
        make_player(f"zed{i:02d}")
    cheater = make_player("zed_cheat")
    services.hide_player(user_id=cheater.pk, moderator=make_moderator(), reason="cheating")

    html = client.get("/players/search/?q=zed", HTTP_HX_REQUEST="true").content.decode()

    assert html.count("<li>") == 10
    assert "zed_cheat" not in html


def test_search_without_matches_or_query(client: Client) -> None:
    make_player("alice")
    assert "starts with “qq”" in client.get("/players/search/?q=qq", HTTP_HX_REQUEST="true").content.decode()
    assert client.get("/players/search/?q=", HTTP_HX_REQUEST="true").content.decode().strip() == ""


def test_search_works_as_a_full_page_without_javascript(client: Client) -> None:
    make_player("alice")

    response = client.get("/players/search/?q=ali")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith("<!doctype html>") and 'role="search"' in html
    assert ">alice</a>" in html and 'value="ali"' in html


def test_player_page_shows_standing_chart_and_recent_games(client: Client) -> None:
    _, player = ranked_players(500, 100)
    for score in (10, 20, 30):
        submit(player, score)

    response = client.get(f"/players/{player.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert '<h1 class="player-name">p1</h1>' in html
    assert "#2" in html and "of 2" in html and "160" in html
    assert '<svg viewBox="0 0 640 240" role="img"' in html
    assert '<title id="chart-title">Total score of p1 over time</title>' in html
    assert "rose from 100" in html and "to 160" in html
    assert html.count("<polyline") == 1
    assert html.count("<tr>\n              <td><time") == 4


def test_player_page_paginates_recent_games(client: Client) -> None:
    player = make_player()
    for score in range(25):
        submit(player, score)

    first = client.get(f"/players/{player.pk}/").content.decode()
    second = client.get(f"/players/{player.pk}/?page=2").content.decode()

    assert "Page 1 of 2" in first and 'rel="next" href="?page=2"' in first
    assert "Page 2 of 2" in second and second.count("<td><time") == 5


def test_player_page_of_an_unranked_player(client: Client) -> None:
    player = make_player()
    html = client.get(f"/players/{player.pk}/").content.decode()
    assert "Not ranked yet" in html and "<svg" not in html


def test_htmx_player_request_gets_the_rank_card(client: Client) -> None:
    _, player = ranked_players(50, 40)

    response = client.get(f"/players/{player.pk}/", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<article class="rank-card"')
    assert "#2" in html and "Percentile" in html and "0.0" in html


def test_unknown_and_hidden_players_are_404(client: Client) -> None:
    player = ranked_players(10)[0]
    services.hide_player(user_id=player.pk, moderator=make_moderator(), reason="cheating")

    assert client.get("/players/999999/").status_code == 404
    assert client.get(f"/players/{player.pk}/").status_code == 404
    assert client.get(f"/players/{player.pk}/", HTTP_HX_REQUEST="true").status_code == 404
    assert client.get(f"/players/by-name/{player.username}/").status_code == 404


def test_player_by_name_redirects_to_the_player_page(client: Client) -> None:
    player = make_player("neo.the-one")

    response = client.get("/players/by-name/neo.the-one/")

    assert response.status_code == 302
    assert response["Location"] == f"/players/{player.pk}/"
    assert client.get("/players/by-name/nobody/").status_code == 404


def test_not_found_page_is_html_in_the_site_style(client: Client) -> None:
    response = client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html and "css/site.css" in html


def test_server_error_page_renders_without_the_database() -> None:
    request = RequestFactory().get("/")
    response = server_error(request)
    assert response.status_code == 500
    assert b"Something went wrong" in response.content and b"css/site.css" in response.content


def test_database_outage_gives_the_friendly_503_page() -> None:
    middleware = DatabaseUnavailableMiddleware(lambda request: None)  # type: ignore[arg-type, return-value]
    response = middleware.process_exception(RequestFactory().get("/"), OperationalError("down"))
    assert response is not None and response.status_code == 503
    assert response["Retry-After"]
    assert b"catching its breath" in response.content and b"css/site.css" in response.content


def test_search_treats_wildcards_as_plain_characters(client: Client) -> None:
    for name in ["a_b", "axb"]:
        make_player(name)
    # Registration refuses "%" now; a name from before the rules may still hold one.
    User.objects.create_user(username="a%c")

    underscore = client.get("/players/search/?q=a_", HTTP_HX_REQUEST="true").content.decode()
    percent = client.get("/players/search/?q=a%25", HTTP_HX_REQUEST="true").content.decode()

    assert re.findall(r">([\w%]+)</a>", underscore) == ["a_b"]
    assert re.findall(r">([\w%]+)</a>", percent) == ["a%c"]
