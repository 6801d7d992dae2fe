"""Page cursors of board listings: an opaque token for "the rows after this one, in this period".

A cursor holds the last row's place in the listing order (rank value, reached-at time, user id), the
period it belongs to (a walk stays in its period even across a reset) and when the walk began (the
entry version the first page was read at): later pages leave out entries changed since, so a walk
never shows a player twice. docs/decisions/0012-boards-and-periods.md says what a walk guarantees.
"""

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from leaderboard import entries, selectors
from leaderboard.boards import BoardPeriod
from leaderboard.ranking import ListingKey, TopPlayers


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    after: ListingKey
    period: str
    walk_began: int  # entry version (microseconds since the epoch) when the first page was read

    def encode(self) -> str:
        payload = {
            "v": self.after.rank_value,
            "t": self.after.reached_at.isoformat(),
            "u": self.after.user_id,
            "p": self.period,
            "w": self.walk_began,
        }
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
            after = ListingKey.of(
                rank_value=_integer(payload["v"]),
                reached_at=datetime.fromisoformat(payload["t"]),
                user_id=_integer(payload["u"]),
            )
            period, walk_began = payload["p"], _integer(payload["w"])
        except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
            raise InvalidCursor("Not a cursor this API gave out.") from exc
        if not isinstance(period, str) or after.reached_at.tzinfo is None:
            raise InvalidCursor("Not a cursor this API gave out.")
        return cls(after=after, period=period, walk_began=walk_began)


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
        raise ValueError(value)
    return value


def read_walk_page(
    *, board_period: BoardPeriod, limit: int, cursor: Cursor | None, now: datetime
) -> tuple[TopPlayers, Cursor | None]:
    """A page of a walk (its first when `cursor` is None) and the cursor of the next one (None: it came
    back short, so it was the last). `now` is read before the page: entries changed after it are left
    out of the later pages."""
    page = selectors.get_top_page(
        board_period=board_period,
        limit=limit,
        after=cursor.after if cursor else None,
        changed_until=cursor.walk_began if cursor else None,
    )
    if len(page.rows) < limit or page.last_key is None:
        return page, None
    walk_began = cursor.walk_began if cursor else entries.version_at(now)
    return page, Cursor(page.last_key, board_period.period, walk_began)
