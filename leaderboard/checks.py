"""System checks: settings and files the service cannot run correctly without.

They run with every management command (`migrate`, `check --deploy`, `runserver`); a deployment
runs `manage.py check --deploy` before it serves.
"""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin
from django.core import checks
from django.core.files.storage import storages

from leaderboard.services.scores import MAX_TOTAL_SCORE


@checks.register()
def check_max_score_per_session(**kwargs: Any) -> list[checks.CheckMessage]:
    maximum = settings.LEADERBOARD_MAX_SCORE_PER_SESSION
    if isinstance(maximum, int) and 1 <= maximum <= MAX_TOTAL_SCORE:
        return []
    return [
        checks.Error(
            f"LEADERBOARD_MAX_SCORE_PER_SESSION is {maximum!r}: it must be from 1 to {MAX_TOTAL_SCORE}.",
            hint=(
                f"Totals are counted exactly up to {MAX_TOTAL_SCORE} (2**53 - 1, the rank index keeps them "
                "as doubles); a larger per-session maximum would let one session pass it. "
                "The default is 1000000."
            ),
            id="leaderboard.E001",
        )
    ]


@checks.register()
def check_static_manifest(**kwargs: Any) -> list[checks.CheckMessage]:
    """With DEBUG off, pages name their static files through the manifest `collectstatic` writes.

    Without it every HTML page fails to render, the 500 page included. Not tagged `staticfiles`,
    so `collectstatic` itself (which runs only those) is not stopped by it.
    """
    if settings.DEBUG:
        return []
    storage = storages["staticfiles"]
    if not isinstance(storage, ManifestFilesMixin) or storage.read_manifest() is not None:
        return []
    location = Path(storage.location) / storage.manifest_name
    return [
        checks.Error(
            f"The static files manifest {location} is missing: with DEBUG off no HTML page can render.",
            hint="Run `python manage.py collectstatic --no-input` (the Docker image does it at build time).",
            id="leaderboard.E002",
        )
    ]
