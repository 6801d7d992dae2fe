"""Who may call the API: game servers send `Authorization: Api-Key <key>` (djangorestframework-api-key).

Writes always need a valid key; reads are public unless LEADERBOARD_PUBLIC_READS is off.
"""

import re
from typing import Any, cast

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request
from rest_framework_api_key.models import APIKey
from rest_framework_api_key.permissions import KeyParser

KEYWORD = KeyParser.keyword
# The library generates "<8-char prefix>.<32-char secret>", both alphanumeric. Anything else is
# rejected before it reaches the database.
_KEY_FORMAT = re.compile(r"[A-Za-z0-9]{1,8}\.[A-Za-z0-9]{1,128}")


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
        try:
            api_key = cast(APIKey, APIKey.objects.get_from_key(key))
        except APIKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("The API key is not valid.") from None
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
