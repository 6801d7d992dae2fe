"""DRF throttles backed by the atomic Redis limits in `rate_limits`."""

from typing import Any

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from leaderboard import rate_limits
from leaderboard.rate_limits import Limit, Rate


class _RedisThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def limits(self, request: Request, view: Any) -> list[Limit]:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        limits = self.limits(request, view)
        if request.method in SAFE_METHODS or getattr(view, "limit_before_commit", False):
            # Counted with the request's own first Redis call (see ApiView).
            rate_limits.LaterHit(limits)
            return True
        self._wait = rate_limits.hit(limits)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


def _limit(name: str, setting: str, cost: int = 1) -> list[Limit]:
    rate = Rate.parse(getattr(settings, setting))
    return [Limit(name=name, rate=rate, cost=cost)] if rate else []


class SubmitThrottle(_RedisThrottle):
    """Per player and per API key: one game server cannot flood the board, nor one player."""

    def limits(self, request: Request, view: Any) -> list[Limit]:
        limits = []
        user_id = request.data.get("user_id") if isinstance(request.data, dict) else None
        if isinstance(user_id, int) and not isinstance(user_id, bool):
            limits += _limit(f"player:{user_id}", "LEADERBOARD_SUBMIT_RATE_PER_PLAYER")
        if request.auth is not None:
            limits += _limit(f"key:{request.auth.pk}", "LEADERBOARD_SUBMIT_RATE_PER_API_KEY")
        return limits


class BatchSubmitThrottle(_RedisThrottle):
    """A batch counts each of its sessions against its player's limit and the key's, as single submits would."""

    def limits(self, request: Request, view: Any) -> list[Limit]:
        sessions = request.data.get("sessions") if isinstance(request.data, dict) else None
        per_player: dict[int, int] = {}
        for item in sessions if isinstance(sessions, list) else []:
            user_id = item.get("user_id") if isinstance(item, dict) else None
            if isinstance(user_id, int) and not isinstance(user_id, bool):
                per_player[user_id] = per_player.get(user_id, 0) + 1
        limits = [
            limit
            for user_id, count in sorted(per_player.items())
            for limit in _limit(f"player:{user_id}", "LEADERBOARD_SUBMIT_RATE_PER_PLAYER", cost=count)
        ]
        if request.auth is not None:
            total = len(sessions) if isinstance(sessions, list) else 1
            limits += _limit(
                f"key:{request.auth.pk}", "LEADERBOARD_SUBMIT_RATE_PER_API_KEY", cost=max(total, 1)
            )
        return limits


class PublicReadThrottle(_RedisThrottle):
    """Per client address for reads without an API key (the same counter as the HTML pages')."""

    def limits(self, request: Request, view: Any) -> list[Limit]:
        if request.auth is not None:
            return []
        return rate_limits.client_read_limits(request._request)
