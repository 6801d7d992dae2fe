"""Server-drawn charts: coordinates for inline SVG, so the page needs no JavaScript to show them."""

import math
from collections.abc import Callable
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


@dataclass(frozen=True, kw_only=True)
class Chart:
    """What every chart's <svg> is drawn from: its size, the plot area inside the axes, x ticks, a text.

    Every chart is WIDTH wide with the same right and top margins; the height and left edge vary.
    """

    width: int = WIDTH
    height: int
    x_ticks: list[Tick]
    plot_left: int
    plot_right: int = WIDTH - RIGHT
    plot_top: int = TOP
    plot_bottom: int
    description: str


@dataclass(frozen=True, kw_only=True)
class PolylineChart(Chart):
    """A line over time against a value axis that starts at 0."""

    line: str  # "x,y x,y ..." for a <polyline>
    y_ticks: list[Tick]


@dataclass(frozen=True, kw_only=True)
class LineChart(PolylineChart):
    """A player's running total, with the area under it filled and its last point marked."""

    area: str  # the same line closed along the x axis, for a <polygon> fill
    last_x: float
    last_y: float


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value (a round top for the y axis)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * magnitude:
            return int(factor * magnitude)
    return 10 * magnitude  # pragma: no cover - the loop always returns


def value_axis(top: int, plot_h: int) -> tuple[Callable[[float], float], list[Tick]]:
    """The y scale from 0 at the plot's bottom to `top` at its top, and its ticks at 0, half and top."""

    def y(value: float) -> float:
        return round(TOP + plot_h * (1 - value / top), 1)

    return y, [Tick(y(value), short_number(value)) for value in (0, top // 2, top)]


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

    y, y_ticks = value_axis(top, plot_h)
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
    first, last = points[0], points[-1]
    description = (
        f"Total score rose from {first.total_score:,} on {first.played_at:%Y-%m-%d} "
        f"to {last.total_score:,} on {last.played_at:%Y-%m-%d}."
    )
    return LineChart(
        height=HEIGHT,
        line=line,
        area=area,
        last_x=coordinates[-1][0],
        last_y=coordinates[-1][1],
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        plot_left=LEFT,
        plot_bottom=base,
        description=description,
    )


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str  # "p50", "p95" or "p99": the stylesheet colours each
    label: str


@dataclass(frozen=True)
class BarRow:
    label: str
    label_y: float
    bars: list[Bar]


@dataclass(frozen=True, kw_only=True)
class BarChart(Chart):
    rows: list[BarRow]


BAR_LEFT, BAR_HEIGHT, BAR_GAP, ROW_GAP = 150, 9, 2, 12


def latency_bars(rows: list[tuple[str, float | None, float | None, float | None]]) -> BarChart | None:
    """Horizontal p50/p95/p99 bars (milliseconds) per endpoint, on one scale; None without data."""
    rows = [row for row in rows if row[3] is not None]
    if not rows:
        return None
    top = nice_ceiling(math.ceil(max(row[3] or 0 for row in rows)))
    plot_w = WIDTH - BAR_LEFT - RIGHT
    row_height = 3 * BAR_HEIGHT + 2 * BAR_GAP + ROW_GAP
    height = TOP + row_height * len(rows) + BOTTOM

    def x(ms: float) -> float:
        return round(BAR_LEFT + plot_w * min(ms, top) / top, 1)

    drawn = []
    for index, (label, *values) in enumerate(rows):
        row_top = TOP + index * row_height
        bars = [
            Bar(
                x=BAR_LEFT,
                y=row_top + position * (BAR_HEIGHT + BAR_GAP),
                width=round(x(value) - BAR_LEFT, 1),
                height=BAR_HEIGHT,
                kind=kind,
                label=f"{kind} {value:g} ms",
            )
            for position, (kind, value) in enumerate(zip(("p50", "p95", "p99"), values, strict=True))
            if value is not None
        ]
        drawn.append(BarRow(label=label, label_y=row_top + (3 * BAR_HEIGHT + 2 * BAR_GAP) / 2, bars=bars))
    base = TOP + row_height * len(rows)
    x_ticks = [
        Tick(x(value), f"{value:g} ms", "start" if value == 0 else "end" if value == top else "middle")
        for value in (0, top / 2, top)
    ]
    description = "; ".join(
        f"{label}: p50 {p50} ms, p95 {p95} ms, p99 {p99} ms" for label, p50, p95, p99 in rows
    )
    return BarChart(
        height=height,
        rows=drawn,
        x_ticks=x_ticks,
        plot_left=BAR_LEFT,
        plot_bottom=base,
        description=description,
    )


@dataclass(frozen=True, kw_only=True)
class RateChart(PolylineChart):
    """Requests per second over the last minutes of the live dashboard."""


def rate_line(points: list[tuple[float, float]]) -> RateChart | None:
    """Requests per second over time (unix time, rate); None with fewer than two points."""
    if len(points) < 2:
        return None
    height = 160
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - TOP - BOTTOM
    start, end = points[0][0], points[-1][0]
    span = end - start or 1.0
    top = nice_ceiling(math.ceil(max(rate for _, rate in points)))

    def x(moment: float) -> float:
        return round(LEFT + plot_w * (moment - start) / span, 1)

    y, y_ticks = value_axis(top, plot_h)
    line = " ".join(f"{x(moment)},{y(rate)}" for moment, rate in points)
    seconds_ago = round(end - start)
    return RateChart(
        height=height,
        line=line,
        y_ticks=y_ticks,
        x_ticks=[Tick(x(start), f"-{seconds_ago} s", "start"), Tick(x(end), "now", "end")],
        plot_left=LEFT,
        plot_bottom=TOP + plot_h,
        description=f"Requests per second over the last {seconds_ago} s, now {points[-1][1]:.1f}.",
    )
