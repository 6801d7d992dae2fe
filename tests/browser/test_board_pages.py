"""Boards in a real browser: switching boards, later pages of a board, and the player's standings,
neighbours and friends on a phone."""

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from leaderboard import selectors, services
from tests.factories import make_player, submit
from users import services as user_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The number of text lines each username link takes up: 1 when the name is not broken.
NAME_LINES = (
    "(selector) => [...document.querySelectorAll(selector)].map(a => {"
    " const range = document.createRange(); range.selectNodeContents(a);"
    " return [a.textContent, new Set([...range.getClientRects()].map(r => Math.round(r.top))).size]; })"
)


def make_board(slug: str, name: str, **definition: Any) -> None:
    services.create_board(slug=slug, name=name, **definition)
    selectors.forget_rarely_changing()


def test_switching_board_with_the_select_swaps_the_table(live_server, page, screenshot) -> None:  # type: ignore[no-untyped-def]
    make_board("solo-best", "Best solo run", game_mode="solo", aggregation="best")
    make_board(
        "weekly-solo", "Weekly sprint", game_mode="solo", aggregation="best", order="lower", window="weekly"
    )
    grinder, ace = make_player("grinder"), make_player("ace")
    for _ in range(5):
        submit(grinder, 30)  # total 150, best 30
    submit(ace, 100)  # total 100, best 100
    page.goto(live_server.url)
    page.evaluate("window.__loadedOnce = true")
    rows = page.locator("#top-table tbody tr[data-user-id] th")
    expect(rows).to_have_text(["grinder", "ace"])

    page.select_option("#board-select", "solo-best")

    expect(rows).to_have_text(["ace", "grinder"])
    expect(page.locator("#board-heading")).to_have_text("Best solo run")
    expect(page.locator("#top-table thead th.col-total")).to_have_text("Best")
    expect(page).to_have_url(re.compile(r"board=solo-best"))  # htmx pushes the URL once the swap settles
    assert page.evaluate("window.__loadedOnce") is True  # swapped in place, not reloaded

    page.select_option("#board-select", "weekly-solo")

    expect(rows).to_have_text(["grinder", "ace"])  # lower is better: 30 beats 100
    expect(page.locator(".period-status--live")).to_contain_text("Resets in")
    page.select_option("#top-size", "25")  # keeps the board and its current period
    expect(page).to_have_url(re.compile(r"n=25"))
    assert "board=weekly-solo" in page.url and "period=current" in page.url
    expect(page.locator("#board-heading")).to_have_text("Weekly sprint")
    screenshot(page, "home-weekly-board")

    page.locator(".period-nav__link--prev").click()  # a plain link: the archive works without JavaScript
    expect(page.locator(".period-status--final")).to_contain_text("Final standings")
    archive = page.locator(".period-nav__now strong").inner_text()
    page.select_option("#top-size", "50")  # keeps the archived period
    expect(page).to_have_url(re.compile(r"n=50"))
    expect(page.locator(".period-nav__now strong")).to_have_text(archive)
    expect(page.locator(".period-status--final")).to_contain_text("Final standings")
    screenshot(page, "home-weekly-archive")
    page.goto(f"{live_server.url}/players/{ace.pk}/")
    expect(page.locator('.ranking--around tr[aria-current="true"] th')).to_have_text("ace")
    screenshot(page, "player-standings-desktop")


def test_player_tables_fit_a_375px_phone_without_breaking_names(live_server, phone_page, screenshot) -> None:  # type: ignore[no-untyped-def]
    make_board("solo-best", "Best solo run", game_mode="solo", aggregation="best")
    make_board("weekly-duo", "Weekly duo league", game_mode="duo", window="weekly", time_zone="Europe/Paris")
    make_board(
        "monthly-time-trial",
        "Monthly time trial",
        game_mode="time-trial",
        aggregation="best",
        order="lower",
        window="monthly",
    )
    scores = [2_000_000_000 - 1_000 * i for i in range(9)]
    players = [make_player(f"user_98{i:02d}{i}") for i in range(len(scores))]
    long_name = make_player("a_name_far_too_long_for_a_phone_screen_column")
    players.insert(4, long_name)
    scores.insert(4, scores[3] - 500)
    for player, score in zip(players, scores, strict=True):
        submit(player, score)
    me = players[5]
    submit(me, 100, game_mode="duo")

    for path in [f"/players/{me.pk}/", f"/players/{me.pk}/?board=solo-best", f"/players/{long_name.pk}/"]:
        phone_page.goto(live_server.url + path)
        width = phone_page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width}px wide"
        overflowing = phone_page.evaluate(
            "[...document.querySelectorAll('.table-scroll')].filter(e => e.scrollWidth > e.clientWidth).length"
        )
        assert overflowing == 0, f"a table on {path} is wider than the screen"
        lines = phone_page.evaluate(NAME_LINES, ".ranking--around .player a")
        assert len(lines) == 7
        assert [name for name, count in lines if count != 1] == []
        assert phone_page.locator(".standings tbody tr").count() == 4

    phone_page.goto(f"{live_server.url}/players/{me.pk}/")
    current = phone_page.locator('.ranking--around tr[aria-current="true"]')
    assert current.get_attribute("data-user-id") == str(me.pk)
    assert current.get_attribute("data-rank") == "6"
    weekly = phone_page.locator('.standings tr[data-board="weekly-duo"]')
    assert (
        "#1" in weekly.inner_text()
        and "not ranked" in phone_page.locator('.standings tr[data-board="monthly-time-trial"]').inner_text()
    )
    screenshot(phone_page, "player-phone-standings")

    phone_page.goto(f"{live_server.url}/?board=weekly-duo")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    expect(phone_page.locator(".period-status--live")).to_contain_text("Resets in")
    screenshot(phone_page, "home-phone-weekly")


def test_friends_fit_a_375px_phone_without_breaking_names(live_server, phone_page, screenshot) -> None:  # type: ignore[no-untyped-def]
    names = ["a_name_far_too_long_for_a_phone_screen_column", *(f"user_98{i:02d}{i}" for i in range(7))]
    players = [make_player(name) for name in names]
    for i, player in enumerate(players):
        submit(player, 2_000_000_000 - 1_000 * i)
    me = players[3]
    for followed in (*players[:3], *players[4:6]):
        user_services.follow_player(follower_id=me.pk, followed_id=followed.pk)

    phone_page.goto(f"{live_server.url}/players/{me.pk}/")

    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    friends = phone_page.locator(".ranking--friends")
    assert friends.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")
    lines = phone_page.evaluate(NAME_LINES, ".ranking--friends .player a")
    assert len(lines) == 6 and [name for name, count in lines if count != 1] == []
    current = friends.locator('tr[aria-current="true"]')
    assert current.get_attribute("data-user-id") == str(me.pk)
    assert current.get_attribute("data-group-rank") == "4" and current.get_attribute("data-rank") == "4"
    expect(current.locator("td").last).to_have_text("#4 of 8")
    friends.scroll_into_view_if_needed()
    screenshot(phone_page, "player-phone-friends")


def test_next_shows_the_following_ranks_and_top_goes_back(live_server, page, phone_page, screenshot) -> None:  # type: ignore[no-untyped-def]
    for i in range(13):
        submit(make_player(f"runner_{i:02d}"), 1_000 - 10 * i)
    page.goto(live_server.url)
    rows = page.locator("#top-table tbody tr[data-user-id]")
    expect(rows).to_have_count(10)

    page.get_by_role("link", name="Next 10 \u203a").click()

    expect(rows).to_have_count(3)
    assert [row.get_attribute("data-rank") for row in rows.all()] == ["11", "12", "13"]
    expect(rows.first.locator("th")).to_have_text("runner_10")
    assert "cursor=" in page.url
    assert page.locator("#top-table").get_attribute("hx-trigger") is None  # a later page is not polled
    expect(page.get_by_role("link", name=re.compile("Next"))).to_have_count(0)
    screenshot(page, "home-next-page")

    phone_page.goto(page.url)
    expect(phone_page.locator("#top-table tbody tr[data-user-id]")).to_have_count(3)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(phone_page, "home-phone-next-page")

    page.get_by_role("link", name="\u2039 Top").click()

    expect(rows).to_have_count(10)
    expect(rows.first).to_have_attribute("data-rank", "1")
    assert page.locator("#top-table").get_attribute("hx-trigger") == "every 5s"
