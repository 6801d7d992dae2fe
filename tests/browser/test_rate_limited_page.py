"""A viewer over the per-address limit keeps a working page: refused polls leave the table as it was."""

import pytest

from tests.browser.test_leaderboard_page import POLL_TIMEOUT_MS, ranked, shown_rows

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_refused_polls_keep_the_table_and_polling_goes_on(live_server, page, settings, screenshot) -> None:  # type: ignore[no-untyped-def]
    ranked(300, 200, 100)
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "1/m"  # the page itself uses it up
    page.goto(live_server.url)
    before = shown_rows(page)
    assert len(before) == 3

    refused = []
    for _ in range(2):
        with page.expect_response(
            lambda r: r.url.startswith(live_server.url + "/?"), timeout=POLL_TIMEOUT_MS
        ) as poll:
            pass
        refused.append((poll.value.status, poll.value.headers.get("retry-after")))

    assert [status for status, _ in refused] == [429, 429]
    assert all(retry_after and int(retry_after) >= 1 for _, retry_after in refused)
    assert shown_rows(page) == before  # nothing was swapped in
    assert "Too many requests" not in page.locator("#top-table").inner_text()
    screenshot(page, "home-rate-limited")


def test_the_429_page_is_in_the_site_style(live_server, page, settings, screenshot) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_READ_RATE_PER_CLIENT = "1/m"
    page.goto(live_server.url)

    response = page.goto(live_server.url + "/players/search/?q=a")

    assert response is not None and response.status == 429
    assert page.title() == "Too many requests · LeaderForge"
    assert page.locator("h1").inner_text() == "Too many requests"
    screenshot(page, "too-many-requests")
