"""What a sign-in guess costs the server: a checked wrong password, then one refused by the lockout.

Runs in one process on a throwaway test database (the embedded SQLite unless DATABASE_URL is set),
through Django's test client; prints median milliseconds per request. `python -m bench.login_cost`
"""

import base64
import logging
import os
import statistics
import time
from collections.abc import Callable


def _median_ms(call: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderforge.settings")
    import django

    django.setup()
    from django.test import Client
    from django.test.utils import override_settings, setup_databases, setup_test_environment

    from users.models import User

    logging.disable(logging.WARNING)  # one "Too Many Requests" line per refused guess
    setup_test_environment()
    setup_databases(verbosity=0, interactive=False)
    User.objects.create_user(username="operator", password="correct-horse-battery-41", is_staff=True)
    token = base64.b64encode(b"operator:wrong-guess").decode()
    client = Client(headers={"Authorization": f"Basic {token}"})

    def guess() -> int:
        return client.get("/api/v1/stats").status_code

    with override_settings(AXES_FAILURE_LIMIT=10_000):
        assert guess() == 401
        checked = _median_ms(guess, 10)
    with override_settings(AXES_FAILURE_LIMIT=5):
        assert guess() == 429
        refused = _median_ms(guess, 50)
    anonymous_read = _median_ms(lambda: Client().get("/api/leaderboard/top"), 50)
    print(f"failed sign-in, password checked: {checked:.1f} ms")
    print(f"sign-in refused by the lockout:   {refused:.1f} ms")
    print(f"anonymous top-10 read (reference): {anonymous_read:.1f} ms")


if __name__ == "__main__":
    main()
