"""The whole rank index suite again, on a real 3-master Redis Cluster, with every script call's keys
checked to share one hash slot (a script's keys must live on one node)."""

from collections.abc import Iterator
from typing import Any

import pytest
from redis.crc import key_slot

from leaderboard import redis_client
from tests.leaderboard.test_rank_index import *  # noqa: F403  (the same tests, collected here again)
from tests.redis_cluster import PrivateCluster

script_calls: list[list[str]] = []


@pytest.fixture(autouse=True)
def _on_cluster_with_one_slot_per_script(on_cluster: PrivateCluster, monkeypatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    real_run_script = redis_client.run_script

    def run_script_checking_slots(source: str, keys: list[str], args: list[Any], pipe: Any = None) -> Any:
        slots = {key_slot(key.encode()) for key in keys}
        assert len(slots) <= 1, f"keys of one script in several slots: {keys}"
        script_calls.append(keys)
        return real_run_script(source, keys, args, pipe)

    monkeypatch.setattr(redis_client, "run_script", run_script_checking_slots)
    yield


def test_zz_scripts_ran_on_the_cluster() -> None:
    """The checks above saw real script calls (this runs after the imported tests)."""
    assert len(script_calls) > 100
