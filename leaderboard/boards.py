"""What a board is, as every layer reads it: its settings as plain data and its periods.

`BoardRef` is a board row as plain, immutable data (services, selectors and ranking pass it around
without touching the ORM again). `BoardPeriod` names one board's standings in one period: the rank
index, the SQL ranks and the entries are all keyed by it. Period math itself is in `periods`.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from leaderboard import periods
from leaderboard.periods import ALL_TIME_KEY, Period


@dataclass(frozen=True)
class BoardPeriod:
    """One board's standings in one period ("all" on all-time boards).

    `index_until` is when the rank index stops keeping this period (its end plus the archive grace
    time); None for all time. It is derived from the board, so it takes no part in equality.
    """

    board_id: int
    period: str = ALL_TIME_KEY
    index_until: datetime | None = field(default=None, compare=False)

    def is_indexed_at(self, moment: datetime) -> bool:
        """Whether the rank index keeps this period at `moment` (past it, reads and writes use SQL only)."""
        return self.index_until is None or moment < self.index_until

    def __str__(self) -> str:
        return f"board {self.board_id}" + ("" if self.period == ALL_TIME_KEY else f" ({self.period})")


@dataclass(frozen=True)
class BoardRef:
    """A board's settings as plain data."""

    id: int
    slug: str
    name: str = ""
    game_mode: str = ""
    aggregation: str = "sum"
    order: str = "higher"
    window: str = periods.Window.ALL_TIME.value
    time_zone: str = "UTC"
    week_start: int = 0
    is_active: bool = True

    @classmethod
    def of(cls, board: object) -> "BoardRef":
        return cls(**{name: getattr(board, name) for name in BOARD_FIELDS})

    @property
    def lower_is_better(self) -> bool:
        return self.order == "lower"

    @property
    def is_windowed(self) -> bool:
        return self.window != periods.Window.ALL_TIME

    def rank_value(self, value: int) -> int:
        """The value in listing order: greater is better on every board."""
        return -value if self.lower_is_better else value

    def period_bounds(self, key: str) -> Period:
        """The period a key names (periods.InvalidPeriod if it is not one of this board's)."""
        return periods.period_from_key(
            window=self.window, time_zone=self.time_zone, week_start=self.week_start, key=key
        )

    def period_key_at(self, moment: datetime) -> str:
        return periods.period_key(
            window=self.window, time_zone=self.time_zone, week_start=self.week_start, at=moment
        )

    def period(self, key: str) -> BoardPeriod:
        """This board's standings in the period `key` names."""
        ends_at = self.period_bounds(key).ends_at
        until = (
            None
            if ends_at is None
            else ends_at + timedelta(seconds=settings.RANK_INDEX_ARCHIVE_GRACE_SECONDS)
        )
        return BoardPeriod(board_id=self.id, period=key, index_until=until)

    def period_at(self, moment: datetime) -> BoardPeriod:
        return self.period(self.period_key_at(moment))

    def previous_period_key(self, key: str) -> str | None:
        previous = periods.previous_period(
            window=self.window,
            time_zone=self.time_zone,
            week_start=self.week_start,
            period=self.period_bounds(key),
        )
        return None if previous is None else previous.key

    def next_period_key(self, key: str) -> str | None:
        ends_at = self.period_bounds(key).ends_at
        return None if ends_at is None else self.period_key_at(ends_at)

    def indexed_periods(self, moment: datetime) -> list[BoardPeriod]:
        """The periods the rank index keeps at `moment`: the current one, and the previous one
        while its archive grace time lasts."""
        current = self.period_at(moment)
        previous_key = self.previous_period_key(current.period)
        if previous_key is None:
            return [current]
        previous = self.period(previous_key)
        return [current, previous] if previous.is_indexed_at(moment) else [current]


BOARD_FIELDS = tuple(BoardRef.__dataclass_fields__)
