import json
import shlex
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from leaderboard import services
from users.models import User

DEMO_KEY_NAME = "demo"


class Command(BaseCommand):
    help = "Create (or rotate) the API key named 'demo' and print a ready-to-paste curl submit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="Where the server listens.")

    def handle(self, *args: Any, base_url: str, **options: Any) -> None:
        _, key = services.rotate_api_key(name=DEMO_KEY_NAME)
        user_id = User.objects.order_by("pk").values_list("pk", flat=True).first() or 1
        body = json.dumps({"user_id": user_id, "score": 100})
        curl = " ".join(
            [
                "curl -i -X POST",
                shlex.quote(f"{base_url.rstrip('/')}/api/leaderboard/submit"),
                "-H 'Content-Type: application/json'",
                "-H " + shlex.quote(f"Authorization: Api-Key {key}"),
                "-d",
                shlex.quote(body),
            ]
        )
        self.stdout.write(f"Demo API key (previous demo keys are revoked): {key}")
        self.stdout.write(f"Submit a score:\n  {curl}")
