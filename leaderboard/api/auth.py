"""Who may call the API: game servers send `Authorization: Api-Key <key>` (djangorestframework-api-key).

Writes always need a valid key; reads are public unless LEADERBOARD_PUBLIC_READS is off. Staff
endpoints take HTTP Basic (counted by django-axes: repeated failures lock out) or the admin session.
"""

import hashlib
import re
import time
from typing import Any, cast

from django.conf import settings
from drf_spectacular.authentication import BasicScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser

from leaderforge.lockout import LOCKED_OUT_CODE, lockout_message, lockout_seconds

KEYWORD = KeyParser.keyword
# The library generates "<8-char prefix>.<32-char secret>", both alphanumeric. Anything else is
# rejected before it reaches the database.
_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{1,8}\.[A-Za-z0-9]{1,128}")


class _VerifiedKeys:
    """Keys verified in the last API_KEY_CACHE_SECONDS, so a game server's every submit is not a query.

    Only valid keys are remembered (by a hash of the key), so a revoked key stops working within that
    many seconds in every process, and an unknown key is checked against the database every time.
    """

    MAX_KEYS = 1000

    def __init__(self) -> None:
        self._keys: dict[bytes, tuple[float, APIKey]] = {}

    def get(self, key: str) -> APIKey | None:
        found = self._keys.get(self._digest(key))
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def remember(self, key: str, api_key: APIKey) -> None:
        if len(self._keys) >= self.MAX_KEYS:
            self._keys.clear()
        self._keys[self._digest(key)] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, api_key)

    def forget_all(self) -> None:
        self._keys.clear()

    @staticmethod
    def _digest(key: str) -> bytes:
        return hashlib.sha256(key.encode()).digest()


_verified_keys = _VerifiedKeys()


def forget_verified_keys() -> None:
    """Check every key against the database again (after revoking one, and between tests)."""
    _verified_keys.forget_all()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Identify the game server by its API key; `request.auth` becomes the APIKey row.

    No `Api-Key` credentials: the request is anonymous (the permission decides).
    Credentials that are malformed, unknown, revoked or expired: 401, whatever the endpoint.
    """

    def authenticate(self, request: Request) -> tuple[None, APIKey] | None:
        key = KeyParser().get_from_authorization(request._request)
        if key is None:
            return None
        key = key.strip()
        if not _KEY_FORMAT.fullmatch(key):
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        api_key = _verified_keys.get(key)
        if api_key is None:
            try:
                api_key = cast(APIKey, APIKey.objects.get_from_key(key))
            except APIKey.DoesNotExist:
                raise exceptions.AuthenticationFailed("The API key is not valid.") from None
            _verified_keys.remember(key, api_key)
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed("The API key has expired.")
        return None, api_key

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class HasApiKeyOrPublicRead(permissions.BasePermission):
    """Writes need a valid API key; reads too unless LEADERBOARD_PUBLIC_READS is on."""

    message = "A valid API key is required: send 'Authorization: Api-Key <key>'."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, APIKey) or self.allows_anonymous(request.method or "")

    @staticmethod
    def allows_anonymous(method: str) -> bool:
        return method.upper() in permissions.SAFE_METHODS and settings.LEADERBOARD_PUBLIC_READS


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": f"A game server's key, sent as `Authorization: {KEYWORD} <key>`.",
        }


class LockedOut(exceptions.Throttled):
    default_code = LOCKED_OUT_CODE


class StaffBasicAuthentication(authentication.BasicAuthentication):
    """HTTP Basic for staff; once django-axes has locked the sign-in out, a JSON 429 instead of 401.

    The lockout check runs in the first authentication backend, before any password is hashed.
    """

    www_authenticate_realm = "LeaderForge staff"

    def authenticate_credentials(self, userid: str, password: str, request: Any = None) -> Any:
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            # axes marks the request it was handed: DRF's Request here, not the HttpRequest.
            if getattr(request, "axes_locked_out", False):
                raise LockedOut(wait=lockout_seconds(), detail=lockout_message()) from None
            raise


class StaffBasicScheme(BasicScheme):
    target_class = "leaderboard.api.auth.StaffBasicAuthentication"
