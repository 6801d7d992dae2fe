"""Print the app's cache counters as JSON (null when the app has none); the bench runs it per scenario."""

import json
import os


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderforge.settings")
    import django

    django.setup()
    from leaderboard import ranking

    cache_stats = getattr(ranking, "cache_stats", None)
    print(json.dumps(cache_stats() if callable(cache_stats) else None))


if __name__ == "__main__":
    main()
