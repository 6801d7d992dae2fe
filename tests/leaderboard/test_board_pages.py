"""The pages of every board: the switcher, periods and their countdown, archives, later pages of a board,
the player's standings, the players around them and their friends."""

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from leaderboard import selectors, services
from leaderboard.api.cursors import Cursor
from leaderboard.boards import BoardRef
from leaderboard.ranking import ListingKey
from leaderboard.templatetags.leaderboard_boards import countdown
from tests.factories import make_moderator, make_player, submit
from users import services as user_services

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")


def make_board(slug: str, **definition: object) -> BoardRef:
    services.create_board(slug=slug, name=slug.replace("-", " ").title(), **definition)  # type: ignore[arg-type]
    selectors.forget_rarely_changing()
    board = selectors.get_board(slug=slug)
    assert board is not None
    return board


def make_weekly_best_board() -> BoardRef:
    return make_board(
        "weekly-solo",
        game_mode="solo",
        aggregation="best",
        order="lower",
        window="weekly",
        time_zone="Europe/Paris",
        week_start=0,
    )


def board_options(html: str) -> list[tuple[str, bool]]:
    select = re.search(r'<select id="board-select".*?</select>', html, re.S)
    assert select is not None
    return [
        (slug, bool(sel)) for slug, sel in re.findall(r'<option value="([\w-]+)"( selected)?>', select[0])
    ]


def shown_rows(html: str) -> list[tuple[int, str, str]]:
    """(rank, username, value) of each row of the top table."""
    return [
        (int(rank), name, value)
        for rank, name, value in re.findall(
            r'data-rank="(\d+)".*?<a id="top-player-\d+"[^>]*>([^<]+)</a></th>\s*<td class="num">([\d,]+)</td>',
            html,
            re.S,
        )
    ]


def minutes_shown(text: str) -> int:
    match = re.fullmatch(r"(?:(\d+) d )?(?:(\d+) h )?(\d+) min", text)
    assert match, text
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return (days * 24 + hours) * 60 + minutes


def test_the_switcher_lists_the_active_boards_default_first(client: Client) -> None:
    make_weekly_best_board()
    make_board("monthly-all", window="monthly")
    make_board("retired", is_active=False)

    html = client.get("/").content.decode()

    assert board_options(html) == [("global", True), ("monthly-all", False), ("weekly-solo", False)]
    assert 'hx-push-url="true"' in html and '<noscript><button type="submit"' in html
    chosen = client.get("/?board=monthly-all").content.decode()
    assert ("monthly-all", True) in board_options(chosen)


def test_a_windowed_board_says_its_period_and_when_it_resets(client: Client) -> None:
    make_weekly_best_board()
    fast, slow = make_player("fast"), make_player("slow")
    submit(fast, 50)
    submit(fast, 30)  # best on a lower-is-better board: 30
    submit(slow, 40)
    submit(slow, 10, game_mode="duo")  # another mode: not on this board

    response = client.get("/?board=weekly-solo")

    html = response.content.decode()
    now = timezone.now()
    today = now.astimezone(PARIS).date()
    monday = today - timedelta(days=today.weekday())
    reset = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=PARIS)
    assert response.status_code == 200
    assert "Solo · best single session · lower is better · weekly, resets Monday 00:00 Europe/Paris" in html
    assert f"Week of {monday.day} {monday:%b %Y}" in html
    assert shown_rows(html) == [(1, "fast", "30"), (2, "slow", "40")]
    assert '<th scope="col" class="num col-total">Best</th>' in html
    shown = re.search(r'Resets in <time datetime="([^"]+)"[^>]*>([^<]+)</time>', html)
    assert shown is not None
    assert datetime.fromisoformat(shown[1]) == reset
    assert abs(minutes_shown(shown[2]) - (reset - now).total_seconds() / 60) <= 1
    assert (
        f'rel="prev" href="/?board=weekly-solo&amp;period={(monday - timedelta(days=7)).isoformat()}' in html
    )
    assert 'rel="next"' not in html


def test_the_poll_of_a_windowed_board_keeps_its_board_and_period(client: Client) -> None:
    make_weekly_best_board()
    submit(make_player("fast"), 30)

    response = client.get("/?board=weekly-solo&n=25", HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="top-table"') and "<html" not in html
    assert 'hx-trigger="every 5s"' in html and "Resets in <time" in html
    assert "&quot;board&quot;: &quot;weekly-solo&quot;" in html
    assert "&quot;period&quot;: &quot;current&quot;" in html and "&quot;n&quot;: 25" in html
    assert 'id="period-field" name="period" value="current"' in html


def test_the_first_poll_after_a_reset_marks_no_row_new(client: Client) -> None:
    board = make_board("daily", window="daily")
    yesterday = timezone.now() - timedelta(days=1)
    old, fresh, riser = make_player("old"), make_player("fresh"), make_player("riser")
    submit(old, 50, played_at=yesterday)
    for player, score in [(fresh, 40), (riser, 30)]:
        submit(player, score)
    last_period = board.period_key_at(yesterday)
    today = board.period_key_at(timezone.now())
    poll = "/?board=daily&period=current&n=10&prev={prev}&shown={shown}"

    # The page showed yesterday's board ("old" at 1); the poll lands after midnight.
    after_reset = client.get(poll.format(prev=f"{old.pk}:1", shown=last_period), HTTP_HX_REQUEST="true")
    # Within today: "riser" was not on the page before, "fresh" held its place.
    same_day = client.get(poll.format(prev=f"{fresh.pk}:1", shown=today), HTTP_HX_REQUEST="true")

    assert re.findall(r'data-change="(\w*)"', after_reset.content.decode()) == ["", ""]
    assert re.findall(r'data-change="(\w*)"', same_day.content.decode()) == ["", "new"]
    assert f"&quot;shown&quot;: &quot;{today}&quot;" in same_day.content.decode()


def test_previous_period_links_lead_to_the_final_standings(client: Client) -> None:
    make_board("daily", window="daily")
    earlier, later = make_player("earlier"), make_player("later")
    submit(earlier, 70, played_at=timezone.now() - timedelta(days=1))
    submit(later, 90)
    yesterday = (timezone.now() - timedelta(days=1)).astimezone(UTC).date()

    current = client.get("/?board=daily").content.decode()
    link = re.search(r'rel="prev" href="([^"]+)"', current)
    assert link is not None
    archive = client.get(link[1].replace("&amp;", "&"))

    html = archive.content.decode()
    assert archive.status_code == 200
    assert shown_rows(current) == [(1, "later", "90")]
    assert shown_rows(html) == [(1, "earlier", "70")]
    assert "Final standings" in html and "Resets in" not in html
    assert 'hx-trigger="every 5s"' not in html  # final standings are not polled
    assert f"{yesterday:%a} {yesterday.day} {yesterday:%b %Y}" in html
    assert 'rel="next" href="/?board=daily&amp;n=10">Current day ' in html
    assert client.get("/?board=daily&period=previous").content.decode().count("earlier") >= 1


def test_an_unknown_board_is_404(client: Client) -> None:
    assert client.get("/?board=nope").status_code == 404
    assert client.get("/?board=nope", HTTP_HX_REQUEST="true").status_code == 404
    player = make_player()
    assert client.get(f"/players/{player.pk}/?board=nope").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "board=weekly-solo&period=2026-13-01",
        "board=weekly-solo&period=yesterday",
        "board=weekly-solo&period=next-monday",
        "period=previous",  # the default board is all time: it has no previous period
        "period=2026-01",
    ],
)
def test_a_bad_period_is_400(client: Client, query: str) -> None:
    make_weekly_best_board()
    today = timezone.now().astimezone(PARIS).date()
    next_monday = today + timedelta(days=7 - today.weekday())
    query = query.replace("next-monday", next_monday.isoformat())

    response = client.get(f"/?{query}")
    fragment = client.get(f"/?{query}", HTTP_HX_REQUEST="true")

    assert response.status_code == 400 and fragment.status_code == 400
    html = response.content.decode()
    assert "Bad request" in html and "css/site.css" in html
    assert "period" in html


def test_a_history_restore_gets_the_whole_page(client: Client) -> None:
    response = client.get("/?board=global", HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert response.content.decode().startswith("<!doctype html>")


def next_link(html: str) -> str | None:
    link = re.search(r'class="page-nav__link page-nav__link--next" href="([^"]+)"', html)
    return link[1].replace("&amp;", "&") if link else None


@pytest.mark.parametrize(("players", "page_sizes"), [(23, [10, 10, 3]), (20, [10, 10, 0]), (10, [10])])
def test_next_links_walk_the_whole_board_with_true_ranks(
    client: Client, players: int, page_sizes: list[int]
) -> None:
    scores = [1_000 - 10 * (i // 3) for i in range(players)]  # ties of three: one spans rows 10 and 11
    names = [f"walker{i:02d}" for i in range(players)]
    for name, score in zip(names, scores, strict=True):
        submit(make_player(name), score)
    # In listing order already: best first, and a tie in the order its value was reached.
    expected = [
        (1 + sum(s > score for s in scores), n, f"{score:,}") for n, score in zip(names, scores, strict=True)
    ]

    seen: list[tuple[int, str, str]] = []
    shown_sizes: list[int] = []
    url: str | None = "/?n=10"
    while url is not None and len(shown_sizes) <= len(page_sizes):
        html = client.get(url).content.decode()
        rows = shown_rows(html)
        seen += rows
        shown_sizes.append(len(rows))
        url = next_link(html)
        if url is not None:
            assert re.fullmatch(r"/\?board=global&period=current&n=10&cursor=[\w-]+", url)

    assert seen == expected
    assert shown_sizes == page_sizes
    if page_sizes[-1] == 0:
        assert "No more players: that was the end of the board." in html


def test_a_later_page_keeps_the_columns_and_the_period_and_is_not_polled(client: Client) -> None:
    make_weekly_best_board()
    for i in range(12):
        submit(make_player(f"p{i:02d}"), 100 + i)  # lower is better: p00 leads
    first = client.get("/?board=weekly-solo").content.decode()
    link = next_link(first)
    assert link is not None and 'hx-trigger="every 5s"' in first and "\u2039 Top" not in first

    for response in (client.get(link), client.get(link, HTTP_HX_REQUEST="true")):
        html = response.content.decode()
        assert response.status_code == 200
        assert shown_rows(html) == [(11, "p10", "110"), (12, "p11", "111")]
        assert 'hx-trigger="every 5s"' not in html and "hx-vals" not in html
        assert '<th scope="col" class="num col-total">Best</th>' in html
        assert '<th scope="col" class="num col-sessions">Sessions</th>' in html
        assert "Solo · best single session · lower is better · weekly" in html and "Resets in <time" in html
        assert 'href="/?board=weekly-solo&amp;period=current&amp;n=10">\u2039 Top</a>' in html
        assert next_link(html) is None and "does not refresh" in html
    assert html.lstrip().startswith('<div id="top-table"')


def test_a_later_page_leaves_out_players_who_scored_since_the_first(client: Client) -> None:
    players = [make_player(f"p{i:02d}") for i in range(13)]
    for i, player in enumerate(players):
        submit(player, 200 - i)
    link = next_link(client.get("/?n=10").content.decode())
    assert link is not None
    submit(players[11], 100)  # 288: p11 jumps to the top after the first page was read

    html = client.get(link).content.decode()

    assert shown_rows(html) == [(12, "p10", "190"), (13, "p12", "188")]  # true ranks, p11 not twice


def a_cursor(period: str) -> str:
    after = ListingKey.of(rank_value=100, reached_at=datetime(2026, 1, 5, tzinfo=UTC), user_id=1)
    return Cursor(after=after, period=period, walk_began=0).encode()


@pytest.mark.parametrize(
    "query",
    [
        "cursor=not-a-cursor",
        "cursor=e30",  # "{}"
        f"cursor={a_cursor('2026-13-01')}",
        f"cursor={a_cursor('current')}",  # a keyword, not a period
        f"board=weekly-solo&cursor={a_cursor('all')}",  # another board's period
        "board=weekly-solo&period=previous&cursor=THIS-WEEK",
    ],
)
def test_a_bad_cursor_is_400(client: Client, query: str) -> None:
    board = make_weekly_best_board()
    query = query.replace("THIS-WEEK", a_cursor(board.period_key_at(timezone.now())))

    response = client.get(f"/?{query}")
    fragment = client.get(f"/?{query}", HTTP_HX_REQUEST="true")

    assert response.status_code == 400 and fragment.status_code == 400
    assert "Bad request" in response.content.decode()


def test_a_walk_begun_before_a_reset_stays_in_its_period(client: Client) -> None:
    make_board("daily", window="daily")
    yesterday = timezone.now() - timedelta(days=1)
    for i in range(12):
        submit(make_player(f"old{i:02d}"), 100 - i, played_at=yesterday)
    submit(make_player("today"), 999)
    key = yesterday.astimezone(UTC).date().isoformat()
    link = next_link(client.get(f"/?board=daily&period={key}").content.decode())
    assert link is not None and f"period={key}&" in link

    # The page was read as "current" before midnight; its next page is read after.
    html = client.get(link.replace(f"period={key}", "period=current")).content.decode()

    assert shown_rows(html) == [(11, "old10", "90"), (12, "old11", "89")]
    assert "Final standings" in html and 'hx-trigger="every 5s"' not in html


def friends_rows(html: str) -> list[tuple[str, bool]]:
    """Each row of the friends table as text (group rank, player, value, board rank), and whether it is
    the player's own."""
    table = re.search(r'<table class="ranking ranking--friends">.*?</table>', html, re.S)
    assert table is not None
    return [
        (re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cells)).strip(), bool(current))
        for current, cells in re.findall(
            r'<tr data-user-id="\d+" data-group-rank="\d+" data-rank="\d+"'
            r'( class="is-current" aria-current="true")?>(.*?)</tr>',
            table[0],
            re.S,
        )
    ]


def test_friends_rank_the_group_and_keep_the_board_ranks(client: Client) -> None:
    make_board("solo-best", game_mode="solo", aggregation="best")
    names = ("leader", "friend", "me", "tied", "outsider", "hidden", "unranked")
    p = {name: make_player(name) for name in names}
    for name, score in [("leader", 10_000), ("friend", 9_000), ("me", 5_000), ("tied", 5_000)]:
        submit(p[name], score)
    submit(p["outsider"], 4_000)
    submit(p["hidden"], 8_000)
    submit(p["me"], 6_000)  # total 11,000, best 6,000
    for name in ("friend", "tied", "hidden", "unranked"):
        user_services.follow_player(follower_id=p["me"].pk, followed_id=p[name].pk)
    services.hide_player(user_id=p["hidden"].pk, moderator=make_moderator(), reason="cheating")

    total = client.get(f"/players/{p['me'].pk}/").content.decode()
    best = client.get(f"/players/{p['me'].pk}/?board=solo-best").content.decode()

    assert friends_rows(total) == [
        ("1 me 11,000 #1 of 5", True),
        ("2 friend 9,000 #3 of 5", False),
        ("3 tied 5,000 #4 of 5", False),
    ]
    assert friends_rows(best) == [
        ("1 friend 9,000 #2 of 5", False),
        ("2 me 6,000 #3 of 5", True),
        ("3 tied 5,000 #4 of 5", False),
    ]
    assert "A group of 4: 3 ranked among the board's 5 players, the others have no score here yet." in total
    assert "Follows no one yet" not in total


def test_friends_of_a_player_who_follows_no_one(client: Client) -> None:
    loner, follower, unranked = make_player("loner"), make_player("follower"), make_player("unranked")
    submit(loner, 10)
    user_services.follow_player(follower_id=follower.pk, followed_id=unranked.pk)

    alone = client.get(f"/players/{loner.pk}/").content.decode()
    nobody_ranked = client.get(f"/players/{follower.pk}/").content.decode()

    assert "Follows no one yet." in alone and "ranking--friends" not in alone
    assert "no one in it is ranked on this board yet" in nobody_ranked
    assert "Follows no one yet" not in nobody_ranked


def standing_rows(html: str) -> dict[str, str]:
    """Board slug -> the row's cells as text."""
    return {
        slug: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for slug, row in re.findall(r'<tr data-board="([\w-]+)">(.*?)</tr>', html, re.S)
    }


def test_the_player_page_shows_the_standing_on_every_active_board(client: Client) -> None:
    make_board("solo-best", game_mode="solo", aggregation="best")
    make_board("duo-weekly", game_mode="duo", window="weekly")
    make_board("retired", is_active=False)
    me, other, duo = make_player("me"), make_player("other"), make_player("duo")
    submit(me, 100)
    submit(me, 10)
    submit(other, 50)
    submit(duo, 500, game_mode="duo")

    html = client.get(f"/players/{me.pk}/").content.decode()

    rows = standing_rows(html)
    today = timezone.now().astimezone(UTC).date()
    monday = today - timedelta(days=today.weekday())
    assert list(rows) == ["global", "duo-weekly", "solo-best"]
    assert rows["global"] == "All time All time #2 of 3 110 total 33.33"
    assert rows["solo-best"] == "Solo Best All time #1 of 2 100 best 50.0"
    assert rows["duo-weekly"] == f"Duo Weekly Week of {monday.day} {monday:%b %Y} not ranked"
    assert 'href="/?board=solo-best"' in html


def around_rows(html: str) -> list[tuple[int, str, bool]]:
    table = re.search(r'<table class="ranking ranking--around">.*?</table>', html, re.S)
    assert table is not None
    return [
        (int(rank), name, bool(current))
        for rank, current, name in re.findall(
            r'<tr data-user-id="\d+" data-rank="(\d+)"( class="is-current" aria-current="true")?>.*?'
            r'<a title="[^"]+" href="[^"]+">([^<]+)</a>',
            table[0],
            re.S,
        )
    ]


def test_around_shows_the_neighbours_with_true_ranks(client: Client) -> None:
    players = {}
    for name, score in [("a", 90), ("b", 80), ("c", 70), ("d", 60), ("me", 50), ("tie", 50), ("g", 40)]:
        players[name] = make_player(name)
        submit(players[name], score)
    for name, score in [("h", 30), ("i", 20)]:
        submit(make_player(name), score)

    html = client.get(f"/players/{players['me'].pk}/").content.decode()

    assert around_rows(html) == [
        (2, "b", False),
        (3, "c", False),
        (4, "d", False),
        (5, "me", True),
        (5, "tie", False),
        (7, "g", False),
        (8, "h", False),
    ]
    assert html.count('aria-current="true"') == 1
    assert "9 ranked players" in html


def test_around_follows_the_chosen_board(client: Client) -> None:
    make_board("solo-best", game_mode="solo", aggregation="best")
    me, rival = make_player("me"), make_player("rival")
    submit(me, 10)
    submit(me, 10)  # total 20, best 10
    submit(rival, 15)
    duo_only = make_player("duo_only")
    submit(duo_only, 5, game_mode="duo")

    total = client.get(f"/players/{me.pk}/").content.decode()
    best = client.get(f"/players/{me.pk}/?board=solo-best").content.decode()
    unranked = client.get(f"/players/{duo_only.pk}/?board=solo-best").content.decode()

    assert around_rows(total) == [(1, "me", True), (2, "rival", False), (3, "duo_only", False)]
    assert around_rows(best) == [(1, "rival", False), (2, "me", True)]
    assert '<option value="solo-best" selected>' in best
    assert '<th scope="col" class="num col-total">Best</th>' in best
    assert "Not ranked on this board yet." in unranked


def test_countdown_reads_in_days_hours_and_minutes() -> None:
    now = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    assert countdown(now + timedelta(days=2, hours=4, minutes=12, seconds=59), now) == "2 d 4 h 12 min"
    assert countdown(now + timedelta(days=1, minutes=5), now) == "1 d 0 h 5 min"
    assert countdown(now + timedelta(hours=3), now) == "3 h 0 min"
    assert countdown(now + timedelta(minutes=7, seconds=30), now) == "7 min"
    assert countdown(now + timedelta(seconds=59), now) == "less than 1 min"
