"""Private Redis Cluster and Sentinel deployments for tests (127.0.0.1 only, free ports, no disk).

A cluster is 3 masters + 3 replicas built by `redis-cli --cluster create`; a Sentinel setup is a
master, a replica and 3 sentinels. Each starts from nothing and is killed at the end.
"""

import contextlib
import importlib.util
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from redis import Redis
from redis.crc import key_slot

from leaderboard import redis_client
from leaderboard.ranking import redis_index
from tests.redis_server import mark_redis_long_lived

SETTINGS_FILE = Path(__file__).resolve().parent.parent / "leaderforge" / "settings.py"


def require_redis_server() -> None:
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        pytest.skip("redis-server is not installed")


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 50000)
        if port not in ports and _port_is_free(port) and _port_is_free(port + 10000):
            ports.append(port)
    return ports


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # a node still starting or just killed
            pass
        time.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def settings_from_env(env: dict[str, str]) -> Any:
    """Load leaderforge/settings.py afresh under these variables: the real settings code decides."""
    spec = importlib.util.spec_from_file_location("settings_probe", SETTINGS_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    saved = dict(os.environ)
    try:
        for name in ("REDIS_URL", "REDIS_CLUSTER", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER"):
            os.environ.pop(name, None)
        os.environ.update({"DEBUG": "true", **env})
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return module


def use_redis(settings: Any, env: dict[str, str]) -> None:
    """Point the test's settings at the Redis deployment these variables describe."""
    probe = settings_from_env(env)
    settings.REDIS_URL = probe.REDIS_URL
    caches = probe.CACHES
    caches["default"]["OPTIONS"].update(SOCKET_TIMEOUT=0.5, SOCKET_CONNECT_TIMEOUT=0.5)
    settings.CACHES = caches


def check_script_slots(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Fail any script call whose keys span hash slots; return the keys of every call seen."""
    calls: list[list[str]] = []
    real_run_script = redis_client.run_script

    def run_script_checking_slots(source: str, keys: list[str], args: list[Any], pipe: Any = None) -> Any:
        slots = {key_slot(key.encode()) for key in keys}
        assert len(slots) <= 1, f"keys of one script in several slots: {keys}"
        calls.append(keys)
        return real_run_script(source, keys, args, pipe)

    monkeypatch.setattr(redis_client, "run_script", run_script_checking_slots)
    return calls


class _Servers:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="lf-redis-")
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def spawn(self, port: int, *args: str) -> None:
        self.processes[port] = subprocess.Popen(
            ["redis-server", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.dir,
        )
        wait_until(lambda: Redis(port=port, socket_timeout=0.5).ping(), 10, f"redis on port {port}")

    def kill(self, port: int) -> None:
        process = self.processes.pop(port)
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        for port in list(self.processes):
            self.kill(port)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateCluster(_Servers):
    """3 masters with one replica each; a failed master is replaced within about a second."""

    NODE_TIMEOUT_MS = 1000

    def __init__(self) -> None:
        super().__init__()
        self.ports = free_ports(6)

    @property
    def env(self) -> dict[str, str]:
        urls = ",".join(f"redis://127.0.0.1:{port}/0" for port in self.ports[:2])
        return {"REDIS_URL": urls, "REDIS_CLUSTER": "true"}

    def start(self) -> None:
        for port in self.ports:
            self.spawn(
                port,
                *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"),
                *("--cluster-node-timeout", str(self.NODE_TIMEOUT_MS)),
                # Any replica may take over, however long its link was down.
                *("--cluster-replica-validity-factor", "0"),
                *("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"),
            )
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        wait_until(self.is_healthy, 60, "cluster_state:ok with every replica in sync")

    def node(self, port: int) -> Redis:
        return Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)

    def is_healthy(self) -> bool:
        for port in self.processes:
            if self.node(port).cluster("INFO")["cluster_state"] != "ok":
                return False
        replicas = [port for port in self.processes if self.node(port).info("replication")["role"] == "slave"]
        return len(replicas) == len(self.processes) // 2 and all(
            self.node(port).info("replication")["master_link_status"] == "up" for port in replicas
        )

    def master_and_replica_of(self, key: str) -> tuple[int, int]:
        """Ports of the master serving `key`'s slot and of its replica (CLUSTER KEYSLOT/NODES)."""
        any_port = next(iter(self.processes))
        slot = int(self.node(any_port).execute_command("CLUSTER", "KEYSLOT", key))
        lines = self.node(any_port).execute_command("CLUSTER", "NODES").decode().splitlines()
        nodes = [line.split() for line in lines]
        master_id = master_port = None
        for fields in nodes:
            if "master" in fields[2] and "fail" not in fields[2]:
                for span in fields[8:]:
                    low, _, high = span.partition("-")
                    if int(low) <= slot <= int(high or low):
                        master_id, master_port = fields[0], int(fields[1].split(":")[1].split("@")[0])
        replica_port = next(
            int(fields[1].split(":")[1].split("@")[0]) for fields in nodes if fields[3] == master_id
        )
        assert master_port is not None
        return master_port, replica_port

    def role(self, port: int) -> str:
        return str(self.node(port).info("replication")["role"])


class PrivateSentinels(_Servers):
    """A master, its replica and 3 sentinels (quorum 2) that notice a dead master within a second."""

    def __init__(self) -> None:
        super().__init__()
        self.master_port, self.replica_port, *self.sentinel_ports = free_ports(5)
        # A name of its own: django-redis keeps one pool per process for each master name.
        self.master_name = f"lfmaster{self.master_port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "REDIS_URL": "redis://sentinel-master/0",
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports),
            "REDIS_SENTINEL_MASTER": self.master_name,
        }

    def start(self) -> None:
        common = ("--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
        self.spawn(self.master_port, "--port", str(self.master_port), *common)
        self.spawn(
            self.replica_port,
            *("--port", str(self.replica_port), *common),
            *("--replicaof", "127.0.0.1", str(self.master_port)),
        )
        for port in self.sentinel_ports:
            config = Path(self.dir) / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\n"
                f"sentinel monitor {self.master_name} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {self.master_name} 1000\n"
                f"sentinel failover-timeout {self.master_name} 10000\n"
            )
            self.spawn(port, str(config), "--sentinel")
        wait_until(self._watched_by_all, 30, "sentinels that know the master, its replica and each other")

    def sentinel(self, port: int) -> Redis:
        return Redis(port=port, socket_timeout=0.5, decode_responses=True)

    def _watched_by_all(self) -> bool:
        for port in self.sentinel_ports:
            master: dict[str, Any] = self.sentinel(port).sentinel_master(self.master_name)  # type: ignore[assignment]
            if master["num-slaves"] < 1 or master["num-other-sentinels"] < 2:
                return False
        return (
            self.sentinel(self.sentinel_ports[0]).sentinel_slaves(self.master_name)[0]["master-link-status"]
            == "ok"
        )

    def current_master_port(self) -> int:
        address: tuple[str, int] = self.sentinel(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(  # type: ignore[assignment]
            self.master_name
        )
        return int(address[1])


Deployment = TypeVar("Deployment", PrivateCluster, PrivateSentinels)


@contextlib.contextmanager
def started(make: Callable[[], Deployment]) -> Iterator[Deployment]:
    """A fresh deployment for the block (skipped without redis-server), killed and removed after it."""
    require_redis_server()
    deployment = make()
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop_all()


def point_app_at(settings: Any, deployment: PrivateCluster | PrivateSentinels) -> None:
    """The app's settings name the deployment, and the index forgets what it knew of the last one."""
    use_redis(settings, deployment.env)
    redis_index.reset_state()
    # A fresh deployment, but no test transaction spans its start: no announcement can be lost.
    mark_redis_long_lived()
