"""/api/v1/boards/... and /api/v1/players/<id>/standings: shapes, periods, cursor walks, bad input."""

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from leaderboard import selectors, services
from leaderboard.api.cursors import Cursor
from leaderboard.models import LeaderboardEntry
from leaderboard.ranking import ListingKey
from tests.factories import make_moderator, make_player, submit
from tests.leaderboard.test_api import assert_error
from tests.leaderboard.test_concurrency import run_in_threads
from users import services as user_services

pytestmark = pytest.mark.django_db


def make_board(slug: str, **definition: object):  # type: ignore[no-untyped-def]
    board = services.create_board(slug=slug, name=slug.replace("-", " ").title(), **definition)  # type: ignore[arg-type]
    selectors.forget_rarely_changing()
    return board


def test_boards_are_listed_with_their_current_period_and_next_reset(client: Client) -> None:
    make_board("daily-solo", game_mode="solo", window="daily", time_zone="Europe/Paris")
    make_board("retired", is_active=False)

    boards = client.get("/api/v1/boards/").json()["boards"]

    assert [b["slug"] for b in boards] == ["global", "daily-solo"]
    daily = boards[1]
    assert daily["window"] == "daily" and daily["time_zone"] == "Europe/Paris"
    period = daily["period"]
    assert period["is_current"] and period["ends_at"] == period["next_reset_at"]
    assert datetime.fromisoformat(period["next_reset_at"]) > timezone.now()
    assert boards[0]["period"] == {
        "key": "all",
        "starts_at": None,
        "ends_at": None,
        "is_current": True,
        "previous": None,
        "next": None,
        "next_reset_at": None,
    }
    # A retired board is not listed, but still answers.
    assert client.get("/api/v1/boards/retired").json()["is_active"] is False


def test_top_rows_carry_rank_user_name_and_the_boards_value(client: Client) -> None:
    make_board("best-low", aggregation="best", order="lower")
    a, b, c = make_player("a"), make_player("b"), make_player("c")
    for player, scores in ((a, [30, 12]), (b, [12]), (c, [50])):
        for score in scores:
            submit(player, score)

    body = client.get("/api/v1/boards/best-low/top?limit=10").json()

    assert body["board"] == "best-low" and body["period"]["key"] == "all"
    assert body["players"] == [
        {"rank": 1, "user_id": a.pk, "username": "a", "value": 12, "session_count": 2},
        {"rank": 1, "user_id": b.pk, "username": "b", "value": 12, "session_count": 1},
        {"rank": 3, "user_id": c.pk, "username": "c", "value": 50, "session_count": 1},
    ]
    assert body["total_players"] == 3 and body["next_cursor"] is None


def test_a_cursor_walk_gives_every_row_once_with_true_ranks(client: Client) -> None:
    players = [make_player() for _ in range(11)]
    for n, player in enumerate(players):
        submit(player, [5, 5, 5, 4, 4, 3, 3, 3, 3, 2, 1][n])
    full = client.get("/api/v1/boards/global/top?limit=100").json()["players"]

    walked, url = [], "/api/v1/boards/global/top?limit=3"
    while url:
        page = client.get(url).json()
        walked += page["players"]
        url = page["next_cursor"] and f"/api/v1/boards/global/top?limit=3&cursor={page['next_cursor']}"

    assert walked == full
    assert [row["rank"] for row in walked] == [1, 1, 1, 4, 4, 6, 6, 6, 6, 10, 11]


def test_a_players_rank_around_and_friends_on_a_board(client: Client) -> None:
    make_board("weekly", window="weekly", time_zone="UTC")
    players = [make_player(f"p{n}") for n in range(6)]
    for player, score in zip(players, [10, 9, 9, 9, 8, 8], strict=True):
        submit(player, score)
    user_services.follow_player(follower_id=players[5].pk, followed_id=players[0].pk)
    user_services.follow_player(follower_id=players[5].pk, followed_id=players[3].pk)

    rank = client.get(f"/api/v1/boards/weekly/players/{players[3].pk}").json()
    around = client.get(f"/api/v1/boards/weekly/players/{players[3].pk}/around?k=1").json()
    friends = client.get(f"/api/v1/boards/weekly/players/{players[5].pk}/friends").json()

    assert (rank["rank"], rank["value"], rank["total_players"], rank["percentile"]) == (2, 9, 6, 66.67)
    assert rank["period"]["key"] == selectors.get_board(slug="weekly").period_key_at(timezone.now())  # type: ignore[union-attr]
    assert [(r["username"], r["rank"]) for r in around["players"]] == [("p2", 2), ("p3", 2), ("p4", 5)]
    assert [(r["username"], r["group_rank"], r["rank"]) for r in friends["players"]] == [
        ("p0", 1, 1),
        ("p3", 2, 2),
        ("p5", 3, 5),
    ]
    assert friends["group_size"] == 3


def test_standings_list_every_active_board(client: Client) -> None:
    make_board("solo-best", game_mode="solo", aggregation="best")
    player = make_player()
    submit(player, 7, game_mode="solo")
    submit(player, 3, game_mode="team")

    body = client.get(f"/api/v1/players/{player.pk}/standings").json()

    standings = {s["board"]: s["standing"] for s in body["standings"]}
    assert standings["global"]["value"] == 10 and standings["solo-best"]["value"] == 7
    assert standings["solo-best"]["rank"] == 1


def test_archived_periods_are_read_by_key(client: Client) -> None:
    make_board("daily", window="daily", time_zone="UTC")
    player = make_player()
    yesterday = timezone.now() - timedelta(days=1)
    submit(player, 4, played_at=yesterday)
    submit(player, 6)

    archived = client.get(f"/api/v1/boards/daily/top?period={yesterday.date().isoformat()}").json()
    previous = client.get("/api/v1/boards/daily/top?period=previous").json()
    current = client.get("/api/v1/boards/daily/top").json()

    assert archived == previous
    assert archived["players"][0]["value"] == 4 and not archived["period"]["is_current"]
    assert current["players"][0]["value"] == 6 and current["period"]["is_current"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/boards/daily/top?period=2026-13-01", "period"),
        ("/api/v1/boards/daily/top?period=2999-01-01", "period"),
        ("/api/v1/boards/global/top?period=previous", "period"),
        ("/api/v1/boards/daily/top?cursor=not-a-cursor", "cursor"),
        ("/api/v1/boards/daily/top?limit=0", "limit"),
        ("/api/v1/boards/daily/top?limit=101", "limit"),
        ("/api/v1/boards/daily/players/1/around?k=51", "k"),
        ("/api/v1/boards/daily/players/abc", "user_id"),
    ],
)
def test_bad_board_input_is_a_400_naming_the_field(client: Client, path: str, field: str) -> None:
    make_board("daily", window="daily")
    make_player()

    response = client.get(path)

    assert_error(response, 400, "invalid")
    assert field in response.json()["error"]["fields"]


def test_a_cursor_cannot_be_moved_to_another_period(client: Client) -> None:
    make_board("daily", window="daily")
    for _ in range(3):
        submit(make_player(), 1)
    token = client.get("/api/v1/boards/daily/top?limit=1").json()["next_cursor"]

    response = client.get(f"/api/v1/boards/daily/top?limit=1&cursor={token}&period=2020-01-01")

    assert_error(response, 400, "invalid")


def test_unknown_boards_and_players_are_404(client: Client) -> None:
    player = make_player()
    assert_error(client.get("/api/v1/boards/nope/top"), 404, "board_not_found")
    assert_error(client.get("/api/v1/boards/global/players/999999"), 404, "player_not_found")
    assert_error(client.get(f"/api/v1/boards/global/players/{player.pk}"), 404, "player_not_ranked")
    assert_error(client.get(f"/api/v1/boards/global/players/{player.pk}/around"), 404, "player_not_ranked")
    assert_error(client.get("/api/v1/players/999999/standings"), 404, "player_not_found")


def test_hidden_players_are_404_on_board_reads(client: Client) -> None:
    player = make_player()
    submit(player, 5)
    services.hide_player(user_id=player.pk, moderator=make_moderator(), reason="cheat")

    assert_error(client.get(f"/api/v1/boards/global/players/{player.pk}"), 404, "player_not_found")
    assert_error(client.get(f"/api/v1/players/{player.pk}/standings"), 404, "player_not_found")


def test_cursors_round_trip_and_reject_tampering() -> None:
    cursor = Cursor(
        after=ListingKey.of(rank_value=-12, reached_at=datetime(2026, 3, 29, 1, 30, tzinfo=UTC), user_id=7),
        period="2026-03-29",
        walk_began=1_700_000_000_000_000,
    )
    assert Cursor.decode(cursor.encode()) == cursor
    for token in ("", "e30", "eyJ2IjoxfQ", cursor.encode()[:-3]):
        with pytest.raises(ValueError):
            Cursor.decode(token)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cursor_walk_under_concurrent_submits_shows_no_player_twice() -> None:
    """The documented guarantee: no player twice; every player whose entry did not change, exactly once.

    A latest-score board, where values move both ways, with threads submitting during the walk.
    """
    make_board("latest", aggregation="latest")
    rng = random.Random(7)
    players = [make_player() for _ in range(120)]
    for player in players:
        submit(player, rng.randint(0, 50))
    board_period = selectors.get_board(slug="latest").period_at(timezone.now())  # type: ignore[union-attr]

    def versions() -> dict[int, int]:
        rows = LeaderboardEntry.objects.filter(board_id=board_period.board_id, period=board_period.period)
        return dict(rows.values_list("user_id", "version"))

    before = versions()
    walking = threading.Event()
    walking.set()
    seen: list[int] = []

    def work(index: int) -> None:
        if index == 0:
            client, url = Client(), "/api/v1/boards/latest/top?limit=7"
            try:
                while url:
                    page = client.get(url).json()
                    seen.extend(row["user_id"] for row in page["players"])
                    cursor = page["next_cursor"]
                    url = cursor and f"/api/v1/boards/latest/top?limit=7&cursor={cursor}"
            finally:
                walking.clear()
            return
        local = random.Random(index)
        while walking.is_set():
            player = local.choice(players)
            services.submit_score(user_id=player.pk, score=local.randint(0, 50), game_mode="solo")

    errors = run_in_threads(4, work)

    assert not errors, errors
    after = versions()
    unchanged = {uid for uid, version in before.items() if after[uid] == version}
    assert len(unchanged) < len(players), "no submit landed during the walk"
    assert len(seen) == len(set(seen)), "a player was shown twice"
    assert unchanged <= set(seen), "a player who did not move was skipped"
