"""The live dashboard: window deltas of the request histograms, bucket percentiles, targets met or not."""

import bisect
import math
import re

import pytest
from django.core.cache import cache
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from leaderboard import live_metrics, metrics, selectors
from leaderboard.boards import BoardPeriod
from leaderboard.live_metrics import Series, Snapshot
from leaderboard.ranking import redis_index
from tests.factories import make_moderator, make_player, submit
from users.models import User

pytestmark = pytest.mark.django_db

BOUNDS = [*metrics.LATENCY_BUCKETS, math.inf]


def cumulative(observations: list[float]) -> dict[float, float]:
    return {bound: float(sum(1 for o in observations if o <= bound)) for bound in BOUNDS}


def nearest_rank(q: float, observations: list[float]) -> float:
    """The oracle: the q-quantile of the raw observations (nearest rank)."""
    ordered = sorted(observations)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@given(
    st.lists(st.floats(min_value=0.0001, max_value=20.0), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.95, 0.99]),
)
def test_a_bucket_estimate_lies_in_the_bucket_of_the_true_quantile(
    observations: list[float], q: float
) -> None:
    estimate = live_metrics.quantile(q, cumulative(observations))
    true = nearest_rank(q, observations)
    assert estimate is not None
    index = bisect.bisect_left(BOUNDS, true)
    lower = BOUNDS[index - 1] if index else 0.0
    upper = BOUNDS[index]
    if math.isinf(upper):
        assert estimate == BOUNDS[-2]  # past the last finite bound: that bound, a floor
    else:
        assert lower <= estimate <= upper


def test_quantile_interpolates_inside_a_bucket_and_knows_no_data() -> None:
    # 100 observations, all in (10 ms, 15 ms]: the median is half way through that bucket.
    assert live_metrics.quantile(0.5, cumulative([0.012] * 100)) == pytest.approx(0.0125)
    assert live_metrics.quantile(0.95, {}) is None
    assert live_metrics.quantile(0.95, cumulative([])) is None


def snapshot(at: float, count: float, hits: int = 0, misses: int = 0) -> Snapshot:
    series = Series(buckets={0.01: count, math.inf: count}, count=count, total_seconds=count * 0.005)
    return Snapshot(at=at, series={("api-rank", ""): series}, top_hits=hits, top_misses=misses)


def baseline_at(history: list[Snapshot], now: float) -> float | None:
    chosen = live_metrics._baseline(history, now)
    return None if chosen is None else chosen.at


def test_the_baseline_is_the_newest_snapshot_a_window_old_else_the_oldest() -> None:
    history = [snapshot(1000, 0), snapshot(1030, 10), snapshot(1070, 20)]
    assert baseline_at(history, 1075) == 1000
    assert baseline_at(history, 1095) == 1030
    assert baseline_at(history[2:], 1072) == 1070
    assert baseline_at([], 1000) is None


def test_counters_that_went_back_mean_a_restart_and_count_from_zero() -> None:
    deltas = live_metrics._difference(snapshot(2000, 7).series, snapshot(1990, 500).series)
    assert deltas[("api-rank", "")].count == 7
    deltas = live_metrics._difference(snapshot(2000, 507).series, snapshot(1990, 500).series)
    assert deltas[("api-rank", "")].count == 7


def test_live_figures_count_the_requests_of_the_window_against_the_targets() -> None:
    cache.delete(live_metrics.SNAPSHOTS_CACHE_KEY)
    player = make_player()
    submit(player, 10)
    first = live_metrics.get_live_figures(now=10_000.0)
    assert first.window_seconds == 0 and first.requests == 0
    assert {check.met for check in first.checks[:4]} == {None}

    client = Client()
    for _ in range(5):
        assert client.get(f"/api/leaderboard/rank/{player.pk}").status_code == 200
    assert client.get(f"/api/leaderboard/rank/{player.pk + 1000}").status_code == 404

    live = live_metrics.get_live_figures(now=10_010.0)

    assert live.window_seconds == 10.0
    assert live.requests == 6 and live.per_second == 0.6
    assert live.error_rate == 0.0
    rank = next(e for e in live.endpoints if e.route == "api-rank")
    assert rank.requests == 6 and rank.p50_ms is not None and rank.p50_ms <= rank.p95_ms <= rank.p99_ms  # type: ignore[operator]
    checks = {check.label: check for check in live.checks}
    assert checks["Player rank p95"].value == rank.p95_ms
    assert checks["Player rank p95"].met == (rank.p95_ms < 50)  # type: ignore[operator]
    assert checks["Submit p95"].met is None  # no submit in the window
    assert checks["Throughput"].value == 0.6 and checks["Throughput"].met is False
    assert set(live.rank_sources) == {b.slug for b in selectors.list_active_boards()}
    assert set(live.rank_sources.values()) <= {"redis", "sql"}
    assert live.history == [(10_010.0, 0.6)]


@pytest.mark.redis
def test_the_cache_hit_ratio_is_over_the_window() -> None:
    cache.delete(live_metrics.SNAPSHOTS_CACHE_KEY)
    submit(make_player(), 10)
    redis_index.rebuild(board_period=BoardPeriod(selectors.get_default_board_ref().id))
    client = Client()
    client.get("/api/leaderboard/top")  # a miss before the window
    live_metrics.get_live_figures(now=20_000.0)
    for _ in range(4):
        client.get("/api/leaderboard/top")

    live = live_metrics.get_live_figures(now=20_005.0)

    assert live.cache_hit_ratio == 1.0
    checks = {check.label: check for check in live.checks}
    assert checks["Cache hit ratio"].value == 100.0 and checks["Cache hit ratio"].met is True
    assert checks["Top players p95, cached"].value is not None
    assert checks["Top players p95, uncached"].met is None


def test_dashboard_page_polls_its_fragment_and_the_fragment_stands_alone(client: Client) -> None:
    client.force_login(make_moderator())
    page = client.get("/staff/health/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'hx-get="/staff/health/"' in html and 'hx-trigger="every 5s"' in html
    assert "js/htmx.min.js" in html and "Seed targets" in html
    assert "estimates from histogram buckets" in html

    fragment = client.get("/staff/health/", headers={"HX-Request": "true"})
    body = fragment.content.decode()
    assert fragment.status_code == 200
    assert "Seed targets" in body and "<html" not in body
    assert re.search(r'data-metric="throughput">[\d.]+ req/s<', body)


def test_dashboard_fragment_is_closed_to_players(client: Client) -> None:
    client.force_login(User.objects.create_user(username="player", password="pw"))
    response = client.get("/staff/health/", headers={"HX-Request": "true"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
