"""The whole rank index suite again, on a real 3-master Redis Cluster, with every script call's keys
checked to share one hash slot (a script's keys must live on one node)."""

import pytest

from tests.leaderboard.test_rank_index import *  # noqa: F403  (the same tests, collected here again)
from tests.redis_cluster import PrivateCluster, check_script_slots

# The calls each test saw, test by test.
script_calls: list[list[list[str]]] = []


@pytest.fixture(autouse=True)
def _on_cluster_with_one_slot_per_script(on_cluster: PrivateCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    script_calls.append(check_script_slots(monkeypatch))


def test_zz_scripts_ran_on_the_cluster() -> None:
    """The checks above saw real script calls (this runs after the imported tests)."""
    assert sum(len(calls) for calls in script_calls) > 100
