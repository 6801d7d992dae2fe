"""Fixed-window rate limits counted atomically in Redis.

Every limit a request must pass is checked and counted in one Lua call: either all of them have
room and all are counted, or none is counted and the caller learns how long to wait. While Redis
is away the limits are open: scores are the product, and losing a legitimate one is worse than
letting a burst through for a few seconds (see docs/decisions/0003-rate-limits.md).
"""

import re
import threading
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from leaderboard import metrics, redis_client
from leaderforge.client_address import client_address

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# KEYS: counters   ARGV: limit, window (ms) and cost for each counter, in order
# -> {1} when counted, or {0, index of the full counter, milliseconds until it empties}
_HIT = """
local n = #KEYS
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[2 * n + i]) > tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then redis.call('PEXPIRE', KEYS[i], ARGV[n + i]); ttl = tonumber(ARGV[n + i]) end
    return {0, i, ttl}
  end
end
for i = 1, n do
  local cost = tonumber(ARGV[2 * n + i])
  if redis.call('INCRBY', KEYS[i], cost) == cost then redis.call('PEXPIRE', KEYS[i], ARGV[n + i]) end
end
return {1}
"""


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Rate | None":
        """ "60/m", "5/10s", "1000/h"; empty or "off" means no limit."""
        if text.strip().lower() in ("", "off", "none"):
            return None
        match = _RATE.match(text)
        if not match:
            raise ValueError(f"Not a rate: {text!r} (expected e.g. '60/m' or '5/10s')")
        count, multiple, unit = match.groups()
        return cls(count=int(count), seconds=int(multiple or 1) * _UNIT_SECONDS[unit])


@dataclass(frozen=True)
class Limit:
    name: str  # what is limited, e.g. "player:42"
    rate: Rate
    cost: int = 1  # how much of the rate this request uses (a batch: its sessions)


def client_read_limits(request: HttpRequest) -> list[Limit]:
    """The per-address read limit, shared by the API's anonymous reads and the HTML pages."""
    rate = Rate.parse(settings.LEADERBOARD_READ_RATE_PER_CLIENT)
    return [Limit(name=f"ip:{client_address(request)}", rate=rate)] if rate else []


def _key(limit: Limit) -> str:
    # One hash tag for all counters: a request's counters are checked in one script, also on Cluster.
    return f"{{{settings.RANK_INDEX_KEY_PREFIX}:rl}}:{limit.name}:{limit.rate.count}/{limit.rate.seconds}"


def _call(limits: list[Limit]) -> tuple[list[str], list[int]]:
    keys = [_key(limit) for limit in limits]
    args = [limit.rate.count for limit in limits] + [limit.rate.seconds * 1000 for limit in limits]
    args += [limit.cost for limit in limits]
    return keys, args


def _wait(limits: list[Limit], result: Any) -> float | None:
    if int(result[0]):
        return None
    metrics.count_rate_limited(limit_name=limits[int(result[1]) - 1].name)
    return max(int(result[2]), 1) / 1000


def hit(limits: list[Limit]) -> float | None:
    """Count one request against every limit; None if allowed, else seconds to wait."""
    if not limits or not redis_client.is_configured():
        return None
    keys, args = _call(limits)
    try:
        result = redis_client.call(lambda: redis_client.run_script(_HIT, keys, args))
    except redis_client.RedisUnavailable:
        return None  # open while Redis is away
    return _wait(limits, result)


class LaterHit:
    """A limit check sent with the request's next Redis call: one round trip, not two.

    A read learns the verdict after it ran (reads change nothing) and is answered 429 if refused;
    a submit asks `refused_later` with its announcement, before its COMMIT.
    """

    def __init__(self, limits: list[Limit]) -> None:
        self.limits = limits
        self.wait: float | None = None
        if limits and redis_client.is_configured():
            keys, args = _call(limits)
            redis_client.ride_along(_HIT, keys, args, self._settle)
            _later.checks.append(self)

    def _settle(self, result: Any) -> None:
        # A failed round trip leaves the limit open, as `hit` does.
        self.wait = None if isinstance(result, BaseException) else _wait(self.limits, result)


class _Later(threading.local):
    def __init__(self) -> None:
        self.checks: list[LaterHit] = []


_later = _Later()


def refused_later() -> float | None:
    """Send this thread's waiting checks if they have not gone yet; the longest wait of those refused."""
    if not _later.checks:
        return None
    redis_client.flush_riders()
    waits = [check.wait for check in _later.checks if check.wait is not None]
    return max(waits) if waits else None


def forget_later() -> None:
    """The request is over: its checks were answered."""
    _later.checks = []
