"""How boards and their periods read on the pages: summaries, period labels, reset countdowns."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django import template
from django.utils.dateformat import format as format_date

from leaderboard.boards import BoardRef

register = template.Library()

_AGGREGATIONS = {"sum": "total of every session", "best": "best single session", "latest": "latest session"}
_VALUE_HEADINGS = {"sum": "Total", "best": "Best", "latest": "Latest"}
_UNITS = {"daily": "day", "weekly": "week", "monthly": "month"}
_DASH = "\N{EN DASH}"
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@register.filter
def board_summary(board: BoardRef) -> str:
    """The board's definition in words, e.g.
    "Solo · best single session · lower is better · weekly, resets Monday 00:00 Europe/Paris"."""
    mode = board.game_mode.replace("-", " ").replace("_", " ").capitalize() or "All game modes"
    order = "lower is better" if board.lower_is_better else "higher is better"
    return " · ".join([mode, _AGGREGATIONS.get(board.aggregation, board.aggregation), order, _resets(board)])


def _resets(board: BoardRef) -> str:
    if board.window == "daily":
        return f"daily, resets 00:00 {board.time_zone}"
    if board.window == "weekly":
        return f"weekly, resets {_WEEKDAYS[board.week_start]} 00:00 {board.time_zone}"
    if board.window == "monthly":
        return f"monthly, resets on the 1st 00:00 {board.time_zone}"
    return "all time"


@register.filter
def value_heading(board: BoardRef) -> str:
    """The heading of the value column: what the number is on this board."""
    return _VALUE_HEADINGS.get(board.aggregation, "Score")


@register.filter
def period_unit(board: BoardRef) -> str:
    return _UNITS.get(board.window, "period")


def _local_days(board: BoardRef, key: str) -> tuple[date, date] | None:
    """The first and last local day of a period (None for all time)."""
    bounds = board.period_bounds(key)
    if bounds.starts_at is None or bounds.ends_at is None:
        return None
    zone = ZoneInfo(board.time_zone)
    # A period ends at the local midnight that starts the next one: its last day is the day before.
    last = bounds.ends_at.astimezone(zone).date() - timedelta(days=1)
    return bounds.starts_at.astimezone(zone).date(), last


@register.simple_tag
def period_label(board: BoardRef, key: str) -> str:
    """The period's name: "All time", "Tue 3 Nov 2026", "Week of 2 Nov 2026" or "November 2026"."""
    days = _local_days(board, key)
    if days is None:
        return "All time"
    first = days[0]
    if board.window == "daily":
        return format_date(first, "D j M Y")
    if board.window == "weekly":
        return f"Week of {format_date(first, 'j M Y')}"
    return format_date(first, "F Y")


@register.simple_tag
def period_dates(board: BoardRef, key: str) -> str:
    """The local days a period spans ("2-8 Nov 2026", with an en dash); empty where the label says it."""
    days = _local_days(board, key)
    if days is None or board.window == "daily":
        return ""
    first, last = days
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}{_DASH}{format_date(last, 'j M Y')}"
    if first.year == last.year:
        return f"{format_date(first, 'j M')} {_DASH} {format_date(last, 'j M Y')}"
    return f"{format_date(first, 'j M Y')} {_DASH} {format_date(last, 'j M Y')}"


@register.simple_tag
def local_time(board: BoardRef, moment: datetime) -> str:
    """An instant as the board's players read it: "Mon 9 Nov 2026, 00:00 Europe/Paris"."""
    return f"{format_date(moment.astimezone(ZoneInfo(board.time_zone)), 'D j M Y, H:i')} {board.time_zone}"


@register.simple_tag
def countdown(until: datetime, now: datetime) -> str:
    """The time left until `until`, to the minute: "2 d 4 h 12 min", "35 min", "less than 1 min"."""
    minutes = int((until - now).total_seconds()) // 60
    if minutes < 1:
        return "less than 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if days or hours:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)
