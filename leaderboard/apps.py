"""The leaderboard app: its system checks register when the app is ready."""

from django.apps import AppConfig


class LeaderboardConfig(AppConfig):
    name = "leaderboard"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from leaderboard import checks  # noqa: F401  (registers the system checks)
