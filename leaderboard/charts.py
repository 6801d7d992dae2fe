"""Server-drawn charts: coordinates for inline SVG, so the page needs no JavaScript to show them."""

import math
from dataclasses import dataclass
from datetime import datetime

from leaderboard.selectors import HistoryPoint

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 14, 34


@dataclass(frozen=True)
class Tick:
    position: float
    label: str
    anchor: str = "middle"  # SVG text-anchor: the end ticks stay inside the drawing


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    line: str  # "x,y x,y ..." for a <polyline>
    area: str  # the same line closed along the x axis, for a <polygon> fill
    last_x: float
    last_y: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    description: str


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value (a round top for the y axis)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return int(factor * magnitude)
    return 10 * magnitude  # pragma: no cover - the loop always returns


def short_number(value: int) -> str:
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if value >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return str(value)


def _date_label(moment: datetime, *, span_seconds: float) -> str:
    if span_seconds < 3600:
        return moment.strftime("%H:%M:%S")
    if span_seconds < 2 * 86400:
        return moment.strftime("%H:%M")
    return f"{moment:%b} {moment.day}"


def score_history_chart(points: list[HistoryPoint]) -> LineChart | None:
    """A line of the running total over time, scaled into the plot area; None without points."""
    if not points:
        return None
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    start, end = points[0].played_at, points[-1].played_at
    span = (end - start).total_seconds()
    top = nice_ceiling(max(p.total_score for p in points))

    def x(moment: datetime) -> float:
        if span <= 0:
            return LEFT + plot_w / 2
        return round(LEFT + plot_w * (moment - start).total_seconds() / span, 1)

    def y(total: int) -> float:
        return round(TOP + plot_h * (1 - total / top), 1)

    coordinates = [(x(p.played_at), y(p.total_score)) for p in points]
    line = " ".join(f"{px},{py}" for px, py in coordinates)
    base = TOP + plot_h
    area = f"{coordinates[0][0]},{base} {line} {coordinates[-1][0]},{base}"
    if span > 0:
        middle = start + (end - start) / 2
        x_ticks = [
            Tick(x(start), _date_label(start, span_seconds=span), "start"),
            Tick(x(middle), _date_label(middle, span_seconds=span)),
            Tick(x(end), _date_label(end, span_seconds=span), "end"),
        ]
    else:
        x_ticks = [Tick(x(start), _date_label(start, span_seconds=span))]
    y_ticks = [Tick(y(value), short_number(value)) for value in (0, top // 2, top)]
    first, last = points[0], points[-1]
    description = (
        f"Total score rose from {first.total_score:,} on {first.played_at:%Y-%m-%d} "
        f"to {last.total_score:,} on {last.played_at:%Y-%m-%d}."
    )
    return LineChart(
        width=WIDTH,
        height=HEIGHT,
        line=line,
        area=area,
        last_x=coordinates[-1][0],
        last_y=coordinates[-1][1],
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=base,
        description=description,
    )
