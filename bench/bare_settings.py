"""The app's settings with no middleware and a one-view URLconf: the bench's bare DRF baseline.

Served by its own gunicorn (same gunicorn.conf.py, same environment) so the app's own process and
middleware stay exactly as production runs them; every scenario is reported against this view.
"""

from leaderforge.settings import *  # noqa: F403

MIDDLEWARE = []  # type: ignore[no-redef]
ROOT_URLCONF = "bench.bare_urls"
