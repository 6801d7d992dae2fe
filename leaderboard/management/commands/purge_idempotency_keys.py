from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from leaderboard import services


class Command(BaseCommand):
    help = "Delete submit idempotency keys older than IDEMPOTENCY_KEY_TTL_SECONDS (run it hourly)."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = services.purge_idempotency_keys()
        ttl = settings.IDEMPOTENCY_KEY_TTL_SECONDS
        self.stdout.write(f"Deleted {deleted} idempotency key(s) older than {ttl} s.")
