"""gunicorn.conf.py, with the real gunicorn and DEBUG=false.

gunicorn believes X-Forwarded-Proto only when BEHIND_TLS_PROXY says a proxy overwrites it: gunicorn
turns a trusted X-Forwarded-Proto into wsgi.url_scheme, and Django takes that as the truth, so trusting
loopback regardless of the setting let a client behind a same-host proxy claim HTTPS and skip the
redirect. The prometheus_client multiprocess directory starts empty.
"""

from pathlib import Path

import pytest

from tests.gunicorn_server import get, gunicorn, production_env
from tests.server_process import free_port

# Production variables must be set, but nothing here reaches a database or Redis (the API 404 reads none).
UNUSED = {"DATABASE_URL": "postgres://unused@127.0.0.1:1/unused", "REDIS_URL": "redis://127.0.0.1:1/0"}


def start(behind_tls_proxy: str, port: int):  # type: ignore[no-untyped-def]
    env = production_env(
        **UNUSED,
        BEHIND_TLS_PROXY=behind_tls_proxy,
        SECURE_SSL_REDIRECT="true",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="1",
    )
    env.pop("GUNICORN_FORWARDED_ALLOW_IPS", None)
    env.pop("FORWARDED_ALLOW_IPS", None)
    return gunicorn(env, port=port)


@pytest.mark.parametrize("behind_tls_proxy", ["false", ""])
def test_a_loopback_client_claiming_https_is_redirected_when_no_proxy_is_trusted(
    behind_tls_proxy: str,
) -> None:
    port = free_port()
    with start(behind_tls_proxy, port):
        status, headers, _ = get(port, "/api/v1/no-such-endpoint", {"X-Forwarded-Proto": "https"})
    assert status == 301
    assert headers["Location"].startswith("https://")


def test_the_proxy_on_loopback_is_believed_when_behind_a_tls_proxy() -> None:
    port = free_port()
    with start("true", port):
        assert get(port, "/api/v1/no-such-endpoint", {"X-Forwarded-Proto": "https"})[0] == 404
        status, headers, _ = get(port, "/api/v1/no-such-endpoint", {"X-Forwarded-Proto": "http"})
    assert status == 301
    assert headers["Location"].startswith("https://")


def test_the_prometheus_multiprocess_directory_is_emptied_when_gunicorn_starts(tmp_path: Path) -> None:
    stale = tmp_path / "counter_1234.db"
    stale.write_bytes(b"left by a previous run")
    port = free_port()
    env = production_env(**UNUSED, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="1")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    with gunicorn(env, port=port):
        assert not stale.exists()
