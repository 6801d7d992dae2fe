"""New Relic custom attributes: recorded on a running agent's transaction, nothing without an agent."""

import json
import os
import subprocess
import sys
from pathlib import Path

import newrelic.agent
import pytest
from django.test import Client

from leaderboard import apm, ranking
from leaderboard.boards import BoardPeriod
from tests.factories import make_player, submit

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_without_an_agent_annotating_does_nothing_and_asks_no_one(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert newrelic.agent.current_transaction() is None
    monkeypatch.setattr(ranking, "rank_source", lambda **kwargs: pytest.fail("rank_source was asked"))
    apm.annotate_board(board_period=BoardPeriod(1), slug="global")
    player = make_player()
    submit(player, 5)
    assert Client().get(f"/api/leaderboard/rank/{player.pk}").status_code == 200


def test_a_running_agent_gets_the_board_and_rank_source_of_the_transaction() -> None:
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
    env.pop("REDIS_URL", None)  # no Redis: ranks from SQL, and the attribute says so
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "board": "global",
        "period": "all",
        "rank_source": "sql",
    }
