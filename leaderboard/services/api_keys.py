"""Game servers' API keys: created here, verified in leaderboard.api.auth."""

from typing import cast

from django.db import transaction
from rest_framework_api_key.models import APIKey


def create_api_key(*, name: str) -> tuple[APIKey, str]:
    """Create a game server's key; the plain key is returned this once and stored only hashed."""
    api_key, key = APIKey.objects.create_key(name=name)
    return cast(APIKey, api_key), key


@transaction.atomic
def rotate_api_key(*, name: str) -> tuple[APIKey, str]:
    """Revoke every usable key with this name and create a new one in its place."""
    APIKey.objects.filter(name=name, revoked=False).update(revoked=True)
    return create_api_key(name=name)
