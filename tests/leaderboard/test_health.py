"""The staff health page: figures from the database, and closed to everyone but staff."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from leaderboard import ranking, selectors
from leaderboard.boards import BoardPeriod
from tests.factories import make_moderator, make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db


def test_health_shows_counts_rate_and_rank_source(client: Client) -> None:
    client.force_login(make_moderator())
    for score in (5, 6, 7):
        submit(make_player(), score)

    response = client.get("/staff/health/")

    html = response.content.decode()
    assert response.status_code == 200
    health = response.context["health"]
    assert (health.players, health.ranked_players, health.sessions) == (4, 3, 3)
    assert health.submits_last_minute == 3
    board = selectors.get_default_board_ref()
    assert health.rank_source == ranking.rank_source(board_period=BoardPeriod(board.id))
    assert {"sql": "SQL (the leaderboard table)", "redis": "Redis rank index"}[health.rank_source] in html


def test_health_shows_the_cache_hit_ratio_only_when_there_is_one(client: Client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client.force_login(make_moderator())
    stats: dict[str, float | int | None] = {"top_hits": 0, "top_misses": 0, "top_hit_ratio": None}
    monkeypatch.setattr(ranking, "cache_stats", lambda: stats)

    assert "<td>n/a</td>" in client.get("/staff/health/").content.decode()

    stats.update(top_hits=87, top_misses=13, top_hit_ratio=0.87)
    assert "<td>87.0% (87 hits, 13 misses)</td>" in client.get("/staff/health/").content.decode()


def test_submits_per_minute_count_only_the_last_minute() -> None:
    player = make_player()
    submit(player, 1, played_at=timezone.now() - timedelta(minutes=2))
    submit(player, 2)

    assert selectors.get_health().submits_last_minute == 1


def test_row_estimates_are_exact_for_small_tables() -> None:
    make_player()
    assert selectors.estimate_row_count(model=User) == 1


def test_health_is_closed_to_visitors_and_players(client: Client) -> None:
    response = client.get("/staff/health/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")

    client.force_login(User.objects.create_user(username="player", password="pw"))
    response = client.get("/staff/health/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.postgres
def test_large_tables_are_counted_from_postgres_statistics(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from django.db import connection

    for _ in range(5):
        make_player()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE users")
    monkeypatch.setattr(selectors.operations, "EXACT_COUNT_BELOW", 1)
    make_player()  # not yet in the statistics

    assert selectors.estimate_row_count(model=User) == 5
    assert User.objects.count() == 6


def test_the_admin_index_links_to_the_health_page(client: Client) -> None:
    client.force_login(User.objects.create_superuser(username="boss", password="pw"))

    html = client.get("/admin/").content.decode()

    assert 'href="/staff/health/"' in html
    assert "Recent actions" in html and "/admin/leaderboard/gamesession/" in html  # the stock index
