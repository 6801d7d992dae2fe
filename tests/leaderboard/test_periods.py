"""Period math: boundaries in the board's time zone, daylight-saving days, keys, and the SQL twin."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from leaderboard import periods
from leaderboard.periods import InvalidPeriod, Window

PARIS = "Europe/Paris"
MONDAY, SUNDAY = 0, 6
TICK = timedelta(microseconds=1)


def local(zone: str, year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZoneInfo(zone))


def bounds(period: periods.Period) -> tuple[datetime, datetime]:
    assert period.starts_at is not None and period.ends_at is not None
    return period.starts_at, period.ends_at


def key(window: str, at: datetime, zone: str = PARIS, week_start: int = MONDAY) -> str:
    return periods.period_key(window=window, time_zone=zone, week_start=week_start, at=at)


def test_all_time_has_one_period() -> None:
    at = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert key(Window.ALL_TIME, at) == "all"
    period = periods.period_at(window=Window.ALL_TIME, time_zone=PARIS, week_start=MONDAY, at=at)
    assert (period.starts_at, period.ends_at) == (None, None)


def test_a_daily_period_resets_at_local_midnight_not_utc() -> None:
    midnight = local(PARIS, 2026, 12, 2)  # 23:00 UTC on the 1st
    assert key(Window.DAILY, midnight - TICK) == "2026-12-01"
    assert key(Window.DAILY, midnight) == "2026-12-02"
    assert midnight.astimezone(UTC).day == 1


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        ((2026, 3, 29), 23),  # clocks go forward at 02:00
        ((2026, 10, 25), 25),  # clocks go back at 03:00
        ((2026, 10, 26), 24),
    ],
)
def test_daily_periods_last_23_or_25_hours_across_daylight_saving(
    day: tuple[int, int, int], hours: int
) -> None:
    period = periods.period_from_key(
        window=Window.DAILY, time_zone=PARIS, week_start=MONDAY, key=date(*day).isoformat()
    )
    starts_at, ends_at = bounds(period)
    assert starts_at == local(PARIS, *day).astimezone(UTC)
    assert ends_at - starts_at == timedelta(hours=hours)
    assert key(Window.DAILY, ends_at - TICK) == period.key
    assert key(Window.DAILY, ends_at) != period.key


def test_sessions_either_side_of_a_fall_back_hour_land_on_the_same_local_day() -> None:
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    repeated = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET, the same wall time again
    assert key(Window.DAILY, first) == key(Window.DAILY, repeated) == "2026-10-25"


def test_a_day_whose_midnight_does_not_exist_starts_when_the_clocks_jump() -> None:
    zone = "America/Santiago"  # 2026-09-06 00:00 local does not exist: clocks jump to 01:00
    period = periods.period_from_key(window=Window.DAILY, time_zone=zone, week_start=MONDAY, key="2026-09-06")
    starts_at, ends_at = bounds(period)
    assert starts_at.astimezone(ZoneInfo(zone)).hour == 1
    assert key(Window.DAILY, starts_at - TICK, zone) == "2026-09-05"
    assert key(Window.DAILY, starts_at, zone) == "2026-09-06"
    assert ends_at - starts_at == timedelta(hours=23)


@pytest.mark.parametrize(("week_start", "expected"), [(MONDAY, "2026-11-30"), (SUNDAY, "2026-11-29")])
def test_weeks_start_on_the_boards_day(week_start: int, expected: str) -> None:
    wednesday = local(PARIS, 2026, 12, 2, 12)
    assert key(Window.WEEKLY, wednesday, week_start=week_start) == expected


def test_a_week_resets_at_local_midnight_of_its_first_day() -> None:
    monday = local(PARIS, 2026, 11, 30)
    assert key(Window.WEEKLY, monday - TICK) == "2026-11-23"
    assert key(Window.WEEKLY, monday) == "2026-11-30"


def test_a_week_that_spans_a_daylight_saving_change_lasts_167_hours() -> None:
    period = periods.period_from_key(
        window=Window.WEEKLY, time_zone=PARIS, week_start=MONDAY, key="2026-03-23"
    )
    starts_at, ends_at = bounds(period)
    assert ends_at - starts_at == timedelta(hours=167)


def test_months_reset_at_local_midnight_across_the_year_end() -> None:
    new_year = local("Asia/Tokyo", 2027, 1, 1)
    assert key(Window.MONTHLY, new_year - TICK, "Asia/Tokyo") == "2026-12"
    assert key(Window.MONTHLY, new_year, "Asia/Tokyo") == "2027-01"
    december = periods.period_from_key(
        window=Window.MONTHLY, time_zone="Asia/Tokyo", week_start=MONDAY, key="2026-12"
    )
    assert december.ends_at == new_year.astimezone(UTC)


def test_the_previous_period_ends_where_this_one_starts() -> None:
    march = periods.period_from_key(window=Window.MONTHLY, time_zone=PARIS, week_start=MONDAY, key="2026-03")
    february = periods.previous_period(
        window=Window.MONTHLY, time_zone=PARIS, week_start=MONDAY, period=march
    )
    assert february is not None
    assert (february.key, february.ends_at) == ("2026-02", march.starts_at)


@pytest.mark.parametrize(
    ("window", "bad_key"),
    [
        (Window.DAILY, "2026-13-01"),
        (Window.DAILY, "2026-1-1"),
        (Window.DAILY, "yesterday"),
        (Window.WEEKLY, "2026-12-01"),  # a Tuesday, not the first day of a Monday week
        (Window.MONTHLY, "2026-12-01"),
        (Window.ALL_TIME, "2026"),
    ],
)
def test_keys_that_name_no_period_are_refused(window: str, bad_key: str) -> None:
    with pytest.raises(InvalidPeriod):
        periods.period_from_key(window=window, time_zone=PARIS, week_start=MONDAY, key=bad_key)


def test_time_zones_are_checked_by_name() -> None:
    assert periods.is_valid_time_zone("Europe/Paris")
    assert not periods.is_valid_time_zone("Mars/Olympus_Mons")
    assert not periods.is_valid_time_zone("../etc/passwd")


ZONES = ["UTC", PARIS, "America/Santiago", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
windows = st.sampled_from([Window.DAILY, Window.WEEKLY, Window.MONTHLY])


@settings(max_examples=300, deadline=None)
@given(at=instants, window=windows, zone=st.sampled_from(ZONES), week_start=st.integers(0, 6))
def test_every_instant_lies_in_the_period_its_key_names(
    at: datetime, window: str, zone: str, week_start: int
) -> None:
    period = periods.period_at(window=window, time_zone=zone, week_start=week_start, at=at)
    assert period.starts_at is not None and period.ends_at is not None
    assert period.starts_at <= at < period.ends_at
    # Independent of the implementation: the local calendar day of the start is the key's first day.
    first_local = period.starts_at.astimezone(ZoneInfo(zone))
    assert first_local.date().isoformat().startswith(period.key)
    assert (period.starts_at - TICK).astimezone(ZoneInfo(zone)).date() < first_local.date()
    if window == Window.WEEKLY:
        assert first_local.weekday() == week_start
    if window == Window.MONTHLY:
        assert first_local.day == 1
    last_local = (period.ends_at - TICK).astimezone(ZoneInfo(zone)).date()
    assert 1 <= (last_local - first_local.date()).days + 1 <= {"daily": 1, "weekly": 7, "monthly": 31}[window]


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("window", [Window.ALL_TIME, Window.DAILY, Window.WEEKLY, Window.MONTHLY])
@pytest.mark.parametrize(("zone", "week_start"), [(PARIS, MONDAY), ("America/Santiago", SUNDAY), ("UTC", 3)])
def test_the_sql_twin_gives_the_same_keys(window: str, zone: str, week_start: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Every 7 hours 13 minutes for two years, plus each side of this zone's local midnights.
    samples = [start + timedelta(minutes=433 * i) for i in range(2400)]
    for day in range(0, 730, 3):
        midnight = periods.local_midnight((start + timedelta(days=day)).date(), ZoneInfo(zone))
        samples += [midnight - TICK, midnight]
    expression = periods.period_sql(
        window=window, time_zone_param="%(tz)s", week_start_param="%(ws)s", column="t.at"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.at, {expression} FROM unnest(%(instants)s::timestamptz[]) AS t(at) ORDER BY t.at",
            {"tz": zone, "ws": week_start, "instants": samples},
        )
        from_sql = dict(cursor.fetchall())
    mismatches = [(at, got) for at, got in from_sql.items() if got != key(window, at, zone, week_start)]
    assert not mismatches[:5]
