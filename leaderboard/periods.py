"""Period math for windowed boards: which period an instant falls in, and when periods start and end.

Pure functions of a window, an IANA time zone and an instant, so the same answer comes from a submit,
a backfill and a read. Periods reset at local midnight in the board's time zone (daylight-saving changes
included: a local day may last 23 or 25 hours). `period_sql` is the PostgreSQL twin of `period_key`,
used where a backfill assigns periods to millions of sessions in one statement.

A period is named by a key: "all" for all-time boards, the local date of its first day for daily and
weekly boards ("2026-11-30"), and the month for monthly boards ("2026-11").
"""

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

ALL_TIME_KEY = "all"


class Window(StrEnum):
    ALL_TIME = "all_time"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass(frozen=True)
class Period:
    """One period of a windowed board; `starts_at`/`ends_at` are None for all time."""

    key: str
    starts_at: datetime | None
    ends_at: datetime | None


class InvalidPeriod(ValueError):
    """A period key that does not name a period of this window."""


@functools.cache
def _time_zone_names() -> frozenset[str]:
    # Scanning the zone files takes milliseconds; they do not change while a process runs.
    return frozenset(available_timezones())


def is_valid_time_zone(name: str) -> bool:
    if name not in _time_zone_names():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _first_day(window: Window, local_day: date, week_start: int) -> date:
    if window is Window.DAILY:
        return local_day
    if window is Window.WEEKLY:
        return local_day - timedelta(days=(local_day.weekday() - week_start) % 7)
    return local_day.replace(day=1)


def _next_first_day(window: Window, first_day: date) -> date:
    if window is Window.DAILY:
        return first_day + timedelta(days=1)
    if window is Window.WEEKLY:
        return first_day + timedelta(days=7)
    return (first_day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _key(window: Window, first_day: date) -> str:
    return first_day.strftime("%Y-%m") if window is Window.MONTHLY else first_day.isoformat()


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant a local day starts, in UTC.

    Where midnight does not exist (a zone that springs forward at 00:00), zoneinfo reads the
    wall time with the offset before the change, which is exactly the instant of the change.
    """
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def period_key(*, window: str, time_zone: str, week_start: int, at: datetime) -> str:
    """The key of the period that contains the instant `at` (an aware datetime)."""
    window = Window(window)
    if window is Window.ALL_TIME:
        return ALL_TIME_KEY
    local_day = at.astimezone(ZoneInfo(time_zone)).date()
    return _key(window, _first_day(window, local_day, week_start))


def period_at(*, window: str, time_zone: str, week_start: int, at: datetime) -> Period:
    """The period that contains the instant `at`, with its bounds."""
    return period_from_key(
        window=window,
        time_zone=time_zone,
        week_start=week_start,
        key=period_key(window=window, time_zone=time_zone, week_start=week_start, at=at),
    )


def period_from_key(*, window: str, time_zone: str, week_start: int, key: str) -> Period:
    """The period a key names; InvalidPeriod if the key is not one of this window's."""
    window = Window(window)
    if window is Window.ALL_TIME:
        if key != ALL_TIME_KEY:
            raise InvalidPeriod(f"An all-time board has one period, {ALL_TIME_KEY!r}.")
        return Period(key=ALL_TIME_KEY, starts_at=None, ends_at=None)
    first_day = _parse_first_day(window, key)
    if _first_day(window, first_day, week_start) != first_day:
        raise InvalidPeriod(f"{key!r} is not the first day of a period of this board.")
    zone = ZoneInfo(time_zone)
    return Period(
        key=key,
        starts_at=local_midnight(first_day, zone),
        ends_at=local_midnight(_next_first_day(window, first_day), zone),
    )


def previous_period(*, window: str, time_zone: str, week_start: int, period: Period) -> Period | None:
    """The period just before this one (None for all time)."""
    if period.starts_at is None:
        return None
    return period_at(
        window=window,
        time_zone=time_zone,
        week_start=week_start,
        at=period.starts_at - timedelta(microseconds=1),
    )


def _parse_first_day(window: Window, key: str) -> date:
    try:
        if window is Window.MONTHLY:
            if len(key) != 7:
                raise ValueError(key)
            return date.fromisoformat(f"{key}-01")
        if len(key) != 10:
            raise ValueError(key)
        return date.fromisoformat(key)
    except ValueError as exc:
        shape = "YYYY-MM" if window is Window.MONTHLY else "YYYY-MM-DD"
        raise InvalidPeriod(f"{key!r} is not a period key ({shape}).") from exc


def period_sql(*, window: str, time_zone_param: str, week_start_param: str, column: str) -> str:
    """PostgreSQL expression giving `period_key` of the timestamptz `column`.

    `time_zone_param` and `week_start_param` are placeholders (e.g. "%(tz)s") bound by the caller.
    ISODOW is 1 (Monday) .. 7 (Sunday); week_start is 0 (Monday) .. 6 (Sunday), as date.weekday().
    """
    window = Window(window)
    local_day = f"(({column}) AT TIME ZONE {time_zone_param})::date"
    if window is Window.ALL_TIME:
        return f"'{ALL_TIME_KEY}'"
    if window is Window.DAILY:
        return f"to_char({local_day}, 'YYYY-MM-DD')"
    if window is Window.WEEKLY:
        # %% is a literal % once the caller's parameters are bound.
        offset = f"((EXTRACT(ISODOW FROM {local_day})::int - 1 - {week_start_param} + 7) %% 7)"
        return f"to_char({local_day} - {offset}, 'YYYY-MM-DD')"
    return f"to_char({local_day}, 'YYYY-MM')"
