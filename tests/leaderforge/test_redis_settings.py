"""How the environment picks the Redis topology: standalone, Sentinel or Cluster."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.redis_cluster import settings_from_env


def test_a_plain_url_is_a_standalone_redis() -> None:
    options = settings_from_env({"REDIS_URL": "redis://cache:6379/3"}).CACHES["default"]
    assert options["LOCATION"] == "redis://cache:6379/3"
    assert "CONNECTION_FACTORY" not in options["OPTIONS"]


def test_cluster_takes_every_listed_node_as_a_startup_node() -> None:
    urls = "redis://n1:7000/0,redis://n2:7001/0"
    cache = settings_from_env({"REDIS_URL": urls, "REDIS_CLUSTER": "true"}).CACHES["default"]
    # django-redis would read a second URL in LOCATION as a read replica: only one goes there.
    assert cache["LOCATION"] == "redis://n1:7000/0"
    assert cache["OPTIONS"]["CLUSTER_STARTUP_NODES"] == ["redis://n1:7000/0", "redis://n2:7001/0"]
    assert cache["OPTIONS"]["CONNECTION_FACTORY"] == "leaderboard.redis_client.ClusterConnectionFactory"


def test_sentinel_names_the_master_and_keeps_credentials_and_db() -> None:
    probe = settings_from_env(
        {
            "REDIS_URL": "redis://:s3cret@ignored:6379/2",
            "REDIS_SENTINELS": "sentinel-a:26379, sentinel-b:26380",
            "REDIS_SENTINEL_MASTER": "lf",
        }
    )
    cache = probe.CACHES["default"]
    assert cache["LOCATION"] == "redis://:s3cret@lf/2"
    assert cache["OPTIONS"]["SENTINELS"] == [("sentinel-a", 26379), ("sentinel-b", 26380)]
    assert cache["OPTIONS"]["CLIENT_CLASS"] == "django_redis.client.SentinelClient"


def test_sentinels_without_a_master_name_stop_start_up() -> None:
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINEL_MASTER"):
        settings_from_env({"REDIS_URL": "redis://x/0", "REDIS_SENTINELS": "127.0.0.1:26379"})
