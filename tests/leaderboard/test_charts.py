"""Score history: bounded points with exact running totals, drawn as SVG coordinates."""

from datetime import UTC, datetime, timedelta

import pytest

from leaderboard import charts, selectors, services
from leaderboard.selectors import HistoryPoint
from tests.factories import make_moderator, make_player, submit

pytestmark = pytest.mark.django_db


def test_history_is_the_running_total_of_counted_sessions() -> None:
    player = make_player()
    sessions = [submit(player, score).session for score in (10, 20, 30, 40)]
    services.void_session(session_id=sessions[1].pk, moderator=make_moderator(), reason="bug")

    history = selectors.get_score_history(user_id=player.pk)

    assert [p.total_score for p in history] == [10, 40, 80]


def test_a_long_history_is_thinned_to_bounded_points_keeping_first_and_last() -> None:
    player = make_player()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(250):
        submit(player, 2, played_at=start + timedelta(hours=i))

    history = selectors.get_score_history(user_id=player.pk, max_points=60)

    assert 50 <= len(history) <= 61
    assert history[0] == HistoryPoint(played_at=start, total_score=2)
    assert history[-1] == HistoryPoint(played_at=start + timedelta(hours=249), total_score=500)
    assert [p.total_score for p in history] == sorted(p.total_score for p in history)


def test_no_sessions_no_history_no_chart() -> None:
    assert selectors.get_score_history(user_id=make_player().pk) == []
    assert charts.score_history_chart([]) is None


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (1, 1), (7, 10), (160, 200), (230, 250), (4999, 5000)]
)
def test_nice_ceiling(value: int, ceiling: int) -> None:
    assert charts.nice_ceiling(value) == ceiling


def test_chart_scales_points_into_the_plot_area() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    points = [
        HistoryPoint(start, 0),
        HistoryPoint(start + timedelta(days=5), 100),
        HistoryPoint(start + timedelta(days=10), 200),
    ]

    chart = charts.score_history_chart(points)

    assert chart is not None
    coordinates = [tuple(map(float, pair.split(","))) for pair in chart.line.split()]
    assert coordinates[0] == (chart.plot_left, chart.plot_bottom)
    assert coordinates[-1] == (chart.plot_right, chart.plot_top)
    assert [t.label for t in chart.x_ticks] == ["Mar 1", "Mar 6", "Mar 11"]
    assert [t.label for t in chart.y_ticks] == ["0", "100", "200"]
    assert "from 0 on 2026-03-01 to 200 on 2026-03-11" in chart.description


def test_a_single_point_is_centred() -> None:
    chart = charts.score_history_chart([HistoryPoint(datetime(2026, 3, 1, tzinfo=UTC), 1500)])
    assert chart is not None
    assert chart.last_x == chart.plot_left + (chart.plot_right - chart.plot_left) / 2
    assert [t.label for t in chart.y_ticks] == ["0", "1k", "2k"]


def test_latency_bars_share_one_scale_and_skip_endpoints_without_data() -> None:
    chart = charts.latency_bars(
        [("api-rank", 4.0, 20.0, 40.0), ("api-top", 1.0, 2.0, 95.0), ("idle", None, None, None)]
    )

    assert chart is not None
    assert [row.label for row in chart.rows] == ["api-rank", "api-top"]
    assert [tick.label for tick in chart.x_ticks] == ["0 ms", "50 ms", "100 ms"]
    widths = {(row.label, bar.kind): bar.width for row in chart.rows for bar in row.bars}
    full = chart.plot_right - chart.plot_left
    assert widths[("api-rank", "p99")] == pytest.approx(full * 0.4, abs=0.1)
    assert widths[("api-top", "p99")] == pytest.approx(full * 0.95, abs=0.1)
    assert widths[("api-rank", "p50")] < widths[("api-rank", "p95")] < widths[("api-rank", "p99")]
    assert charts.latency_bars([("idle", None, None, None)]) is None


def test_rate_line_needs_two_points_and_tops_out_at_a_round_number() -> None:
    assert charts.rate_line([(100.0, 5.0)]) is None
    chart = charts.rate_line([(100.0, 0.0), (105.0, 180.0), (110.0, 90.0)])

    assert chart is not None
    assert [tick.label for tick in chart.y_ticks] == ["0", "100", "200"]
    assert [tick.label for tick in chart.x_ticks] == ["-10 s", "now"]
    first, middle, last = (tuple(map(float, point.split(","))) for point in chart.line.split())
    assert first[1] == chart.plot_bottom and middle[1] < last[1] < first[1]
