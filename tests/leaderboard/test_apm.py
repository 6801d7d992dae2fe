"""New Relic custom attributes: recorded on a running agent's transaction, nothing without an agent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import newrelic.agent
import pytest
from django.test import Client
from django_redis import get_redis_connection

from leaderboard import apm, ranking, selectors
from leaderboard.boards import BoardPeriod
from leaderboard.ranking import redis_index
from tests.factories import make_player, submit
from tests.redis_server import mark_redis_long_lived

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_without_an_agent_annotating_does_nothing_and_asks_no_one(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert newrelic.agent.current_transaction() is None
    monkeypatch.setattr(ranking, "rank_source", lambda **kwargs: pytest.fail("rank_source was asked"))
    apm.annotate_board(board_period=BoardPeriod(1), slug="global")
    player = make_player()
    submit(player, 5)
    assert Client().get(f"/api/leaderboard/rank/{player.pk}").status_code == 200


def test_a_running_agent_records_the_attributes_on_its_transaction() -> None:
    # Developer mode runs the whole agent without sending anything anywhere.
    script = """
import json, newrelic.agent
newrelic.agent.initialize()
application = newrelic.agent.register_application(timeout=10)
import django
django.setup()
from leaderboard import apm
from leaderboard.boards import BoardPeriod
with newrelic.agent.BackgroundTask(application, "probe") as transaction:
    apm.annotate_board(board_period=BoardPeriod(1), slug="global")
    apm.annotate_rank_source("sql")
    print(json.dumps(dict(transaction._custom_params)))
"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "leaderforge.settings",
        "NEW_RELIC_DEVELOPER_MODE": "true",
        "NEW_RELIC_LICENSE_KEY": "0" * 40,
        "NEW_RELIC_APP_NAME": "LeaderForge tests",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "board": "global",
        "period": "all",
        "rank_source": "sql",
    }


@pytest.fixture
def recorded_attributes(monkeypatch) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A transaction as a running agent would have one; the attributes set on it."""
    attributes: dict[str, str] = {}
    monkeypatch.setattr(newrelic.agent, "current_transaction", lambda: object())
    monkeypatch.setattr(newrelic.agent, "add_custom_attribute", attributes.__setitem__)
    monkeypatch.setattr(newrelic.agent, "add_custom_attributes", attributes.update)
    return attributes


READS = ["/api/leaderboard/rank/{player}", "/api/leaderboard/top?limit=5"]


@pytest.mark.parametrize("path", READS)
def test_under_an_agent_a_read_answered_by_sql_says_so_without_asking_the_index(
    path: str, recorded_attributes: dict[str, str], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    player = make_player()
    submit(player, 5)  # no rebuild: the index is not known complete, SQL answers
    # Asking whether the index is ready is a Redis round trip of its own: the read already knows.
    monkeypatch.setattr(ranking, "rank_source", lambda **kwargs: pytest.fail("rank_source was asked"))

    assert Client().get(path.format(player=player.pk)).status_code == 200

    assert recorded_attributes == {"board": "global", "period": "all", "rank_source": "sql"}


@pytest.mark.redis
@pytest.mark.parametrize("path", READS)
def test_under_an_agent_a_read_answered_by_the_index_says_so_without_asking_again(
    path: str, recorded_attributes: dict[str, str], monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    get_redis_connection("default").flushdb()
    mark_redis_long_lived()
    player = make_player()
    submit(player, 5)
    redis_index.rebuild(board_period=BoardPeriod(selectors.get_default_board_ref().id))
    monkeypatch.setattr(ranking, "rank_source", lambda **kwargs: pytest.fail("rank_source was asked"))

    assert Client().get(path.format(player=player.pk)).status_code == 200

    assert recorded_attributes == {"board": "global", "period": "all", "rank_source": "redis"}
