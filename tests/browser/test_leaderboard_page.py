"""The web leaderboard in a real browser: live updates, search, small screens, the chart."""

from typing import Any

import pytest
from playwright.sync_api import expect

from leaderboard import selectors
from tests.factories import make_api_key, make_player, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL_TIMEOUT_MS = 8_000  # one 5 s polling interval plus slack for a busy machine


def ranked(*scores: int, prefix: str = "player") -> list[Any]:
    players = []
    for index, score in enumerate(scores):
        player = make_player(f"{prefix}_{index:02d}")
        submit(player, score)
        players.append(player)
    return players


def shown_rows(page: Any) -> list[tuple[str, str]]:
    return [
        (row.get_attribute("data-rank"), row.locator("th").inner_text())
        for row in page.locator("#top-table tbody tr[data-user-id]").all()
    ]


def test_the_page_shows_the_top_ten_from_the_database(live_server, page, screenshot) -> None:  # type: ignore[no-untyped-def]
    ranked(*[100 * i for i in range(1, 15)])
    expected = [(str(r.rank), r.username) for r in selectors.get_top(limit=10).rows]

    page.goto(live_server.url)

    assert page.title() == "Leaderboard · LeaderForge"
    assert shown_rows(page) == expected
    assert page.locator("#top-table table caption").inner_text() == "Top 10 players, All time"
    screenshot(page, "home-desktop")


def test_a_submitted_score_shows_up_without_a_reload(live_server, page, screenshot) -> None:  # type: ignore[no-untyped-def]
    players = ranked(500, 400, 300, 200, 100)
    climber = players[3]
    page.goto(live_server.url)
    page.evaluate("window.__loadedOnce = true")
    assert shown_rows(page)[3] == ("4", climber.username)

    response = page.request.post(
        f"{live_server.url}/api/leaderboard/submit",
        data={"user_id": climber.pk, "score": 350},
        headers={"Authorization": f"Api-Key {make_api_key()}"},
    )
    assert response.status == 201 and response.json()["rank"] == 1

    moved = page.locator(f'#top-table tr[data-user-id="{climber.pk}"][data-change="up"]')
    moved.wait_for(timeout=POLL_TIMEOUT_MS)
    assert moved.get_attribute("data-rank") == "1"
    assert moved.locator(".change--up").inner_text().startswith("▲3")
    assert page.locator('#top-table tr[data-change="down"]').count() == 3
    assert page.evaluate("window.__loadedOnce") is True  # same page: no reload
    screenshot(page, "home-after-submit")


def test_choosing_a_bigger_table(live_server, page) -> None:  # type: ignore[no-untyped-def]
    ranked(*range(10, 310, 10))
    page.goto(live_server.url)

    page.select_option("#top-size", "25")

    expect(page.locator("#top-table tbody tr[data-user-id]")).to_have_count(25)
    assert page.locator("#top-table caption").inner_text() == "Top 25 players, All time"


def test_search_finds_a_player_and_shows_their_rank(live_server, page, screenshot) -> None:  # type: ignore[no-untyped-def]
    ranked(900, prefix="someone")
    alice = make_player("alice")
    submit(alice, 700)
    make_player("alfred")
    make_player("bob")
    page.goto(live_server.url)

    page.fill("#player-search", "ali")

    result = page.locator("#search-results a", has_text="alice")
    result.wait_for()
    assert page.locator("#search-results a").all_inner_texts() == ["alice"]
    result.click()
    card = page.locator("#rank-card .rank-card")
    card.wait_for()
    assert "alice" in card.inner_text()
    assert "#2" in card.locator("dd").first.inner_text()
    assert page.url.rstrip("/") == live_server.url.rstrip("/")  # the card came in place
    screenshot(page, "home-search")


def test_no_horizontal_scrolling_on_a_375px_phone(live_server, phone_page, screenshot) -> None:  # type: ignore[no-untyped-def]
    players = ranked(*range(1_000_000, 1_000_010))
    long_name = make_player("an_extraordinarily_long_username_that_goes_on_and_on_" + "x" * 60)
    submit(long_name, 2_000_000_000)

    for path in ["/", f"/players/{long_name.pk}/", f"/players/{players[0].pk}/", "/players/search/?q=an"]:
        phone_page.goto(live_server.url + path)
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width}px wide"
        # Tables fit too, rather than scrolling inside their box.
        overflowing = phone_page.evaluate(
            "[...document.querySelectorAll('.table-scroll')]"
            ".filter(e => e.scrollWidth > e.clientWidth).length"
        )
        assert overflowing == 0, f"a table on {path} is wider than the screen"
    phone_page.goto(live_server.url)
    screenshot(phone_page, "home-phone")


def test_usernames_never_break_in_the_middle_on_a_375px_phone(live_server, phone_page, screenshot) -> None:  # type: ignore[no-untyped-def]
    for index in range(10):
        submit(make_player(f"user_98{index:02d}{index}"), 2_000_000_000 - index)
    submit(make_player("a_name_far_too_long_for_a_phone_screen_column"), 1_000_000)

    phone_page.goto(live_server.url + "/?n=25")

    lines = phone_page.evaluate(
        "[...document.querySelectorAll('#top-table .player a')].map(a => {"
        " const range = document.createRange(); range.selectNodeContents(a);"
        " return [a.textContent, new Set([...range.getClientRects()].map(r => Math.round(r.top))).size]; })"
    )
    screenshot(phone_page, "home-phone-names")
    assert len(lines) == 11
    assert [name for name, count in lines if count != 1] == []


def test_the_player_page_draws_the_score_chart(live_server, page, screenshot) -> None:  # type: ignore[no-untyped-def]
    player = make_player("charted")
    for score in (120, 80, 300, 50, 210, 90):
        submit(player, score)

    page.goto(f"{live_server.url}/players/{player.pk}/")

    chart = page.locator("figure.chart svg[role=img]")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    assert page.locator("#chart-title").text_content() == "Total score of charted over time"
    points = chart.locator("polyline").get_attribute("points")
    assert points is not None and len(points.split()) == 6
    assert page.locator("#sessions-heading").is_visible()
    screenshot(page, "player-page")
