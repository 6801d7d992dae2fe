"""Small helpers that create test data through the services, as production does."""

import itertools
from datetime import datetime

from leaderboard import services
from users import services as user_services
from users.models import User

_names = itertools.count(1)


def make_player(username: str | None = None) -> User:
    return user_services.register_player(username=username or f"player_{next(_names)}")


def submit(
    player: User, score: int, game_mode: str = "solo", played_at: datetime | None = None
) -> services.SubmittedScore:
    return services.submit_score(user_id=player.pk, score=score, game_mode=game_mode, played_at=played_at)


def make_moderator(username: str = "mod") -> User:
    return User.objects.create_user(username=username, password="mod-password", is_staff=True)


def make_api_key(name: str = "game servers") -> str:
    _, key = services.create_api_key(name=name)
    return key
