from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leaderboard import services

NAME_MAX_LENGTH = 50


class Command(BaseCommand):
    help = "Create an API key for a game server and print it (it cannot be shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Who the key is for, e.g. 'eu-west game servers'.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        name = name.strip()
        if not name or len(name) > NAME_MAX_LENGTH:
            raise CommandError(f"--name must be 1 to {NAME_MAX_LENGTH} characters.")
        api_key, key = services.create_api_key(name=name)
        self.stderr.write(
            f"Created API key {api_key.prefix} for {name!r}. Store it now: it is shown only once."
        )
        self.stdout.write(key)
