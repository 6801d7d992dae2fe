"""nginx (deploy/nginx/nginx.conf) in front of gunicorn: slow clients cost no worker, its errors are JSON under /api/.

Debian's nginx runs the shipped file on a private port; behind it the real gunicorn with two sync workers.
A sync worker serves one connection at a time, so on its own gunicorn is stopped by as many slow
clients as it has workers; nginx reads each request whole before a worker sees it.
"""

import contextlib
import http.client
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gunicorn_server import get, gunicorn, production_env
from tests.nginx_server import nginx
from tests.server_process import free_port

# Production variables must be set; these requests read neither a database nor Redis.
UNUSED = {"DATABASE_URL": "postgres://unused@127.0.0.1:1/unused", "REDIS_URL": "redis://127.0.0.1:1/0"}
WORKERS = 2
SLOW_HEADERS = 5  # more slow clients than workers, each trickling its headers ...
SLOW_BODIES = 3  # ... or its body, one byte at a time
TRICKLE_SECONDS = 8.0


@pytest.fixture(scope="module")
def app_port() -> Iterator[int]:
    port = free_port()
    env = production_env(**UNUSED, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(WORKERS))
    with gunicorn(env, port=port):
        yield port


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static")
    (root / "css").mkdir()
    (root / "css" / "site.css").write_text("body { color: black; }\n")
    (root / "css" / "site.0123456789ab.css").write_text("body { color: black; }\n")
    return root


@pytest.fixture(scope="module")
def proxy_port(app_port: int, static_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    prefix = tmp_path_factory.mktemp("nginx")
    with nginx(port=port, upstream=f"127.0.0.1:{app_port}", static_root=static_root, prefix=prefix):
        yield port


def _trickle(port: int, head: bytes, trickled: bytes, stop: threading.Event) -> None:
    """Send `head` at once, then `trickled` one byte every 0.2 s until told to stop (bounded by its length)."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        for byte in trickled:
            if stop.wait(0.2):
                return
            sock.sendall(bytes([byte]))


def _served_while_slow_clients_hold_connections(port: int) -> list[float]:
    """Open the slow clients, then time normal requests for a few seconds; the clients stop by themselves."""
    stop = threading.Event()
    endless_header = b"X-Slow: " + b"a" * 200
    body_head = (
        b"POST /api/leaderboard/submit HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    )
    clients = [
        threading.Thread(target=_trickle, args=(port, b"GET /healthz HTTP/1.1\r\n", endless_header, stop))
        for _ in range(SLOW_HEADERS)
    ] + [
        threading.Thread(target=_trickle, args=(port, body_head, b"{" * 200, stop))
        for _ in range(SLOW_BODIES)
    ]
    for client in clients:
        client.start()
    timings: list[float] = []
    try:
        time.sleep(1.0)  # every slow client is connected and has started trickling
        finish = time.monotonic() + TRICKLE_SECONDS - 3
        while time.monotonic() < finish:
            started = time.monotonic()
            try:
                status = get(port, "/healthz", timeout=3)[0]
            except OSError:
                status = 0
            timings.append(time.monotonic() - started if status == 200 else float("inf"))
            time.sleep(0.2)
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=10)
    return timings


def test_normal_requests_are_served_quickly_while_more_slow_clients_than_workers_trickle(
    proxy_port: int,
) -> None:
    timings = _served_while_slow_clients_hold_connections(proxy_port)
    assert len(timings) >= 10
    assert max(timings) < 2.0, timings


def request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_oversized_headers_are_a_json_431_under_api_and_a_page_elsewhere(proxy_port: int) -> None:
    big = {"X-Big": "a" * 9000}
    status, headers, body = request(proxy_port, "GET", "/api/v1/players/1", headers=big)
    assert status == 431
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "request_headers_too_large"

    status, headers, body = request(proxy_port, "GET", "/", headers=big)
    assert status == 431
    assert headers["Content-Type"].startswith("text/html")


def test_a_malformed_api_request_is_a_json_400(proxy_port: int) -> None:
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=5) as sock:
        sock.sendall(b"GET /api/v1/players/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nBroken header line\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["error"]["code"] == "bad_request"


def test_the_body_cap_matches_the_app_and_is_a_json_413(proxy_port: int) -> None:
    limit = 64 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE's default; tests/test_deploy.py checks the two agree
    json_headers = {"Content-Type": "application/json"}
    status, headers, body = request(
        proxy_port, "POST", "/api/leaderboard/submit", b"x" * (limit + 1), json_headers
    )
    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "request_too_large"
    # At the limit the body reaches the app, which answers for itself (no API key here).
    status, _, body = request(proxy_port, "POST", "/api/leaderboard/submit", b"x" * limit, json_headers)
    assert status in {401, 403}, body
    assert json.loads(body)["error"]["code"] != "request_too_large"


def test_static_files_come_from_nginx_hashed_ones_cached_for_good(proxy_port: int) -> None:
    status, headers, body = request(proxy_port, "GET", "/static/css/site.0123456789ab.css")
    assert status == 200 and body == b"body { color: black; }\n"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert headers["Content-Type"] == "text/css"
    status, headers, _ = request(proxy_port, "GET", "/static/css/site.css")
    assert status == 200
    assert headers["Cache-Control"] == "max-age=3600"


class _EchoHeaders(http.server.BaseHTTPRequestHandler):
    """An upstream that answers with the headers it was sent, as JSON."""

    def do_GET(self) -> None:
        body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_app_gets_one_forwarded_address_the_clients_and_the_scheme(
    tmp_path: Path, static_root: Path
) -> None:
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = free_port()
    try:
        with nginx(
            port=port, upstream=f"127.0.0.1:{upstream.server_port}", static_root=static_root, prefix=tmp_path
        ):
            _, _, body = request(port, "GET", "/api/v1/stats", headers={"X-Forwarded-For": "203.0.113.9"})
            seen = json.loads(body)
            assert seen["X-Forwarded-For"] == "127.0.0.1"  # a client's own claim is replaced, not extended
            assert seen["X-Forwarded-Proto"] == "http"
            _, _, body = request(port, "GET", "/api/v1/stats", headers={"X-Forwarded-Proto": "https"})
            assert json.loads(body)["X-Forwarded-Proto"] == "https"  # the TLS balancer's word, passed on
    finally:
        upstream.shutdown()
        upstream.server_close()


def test_gunicorn_down_is_a_json_503_with_retry_after_under_api(tmp_path: Path, static_root: Path) -> None:
    port = free_port()
    closed = free_port()  # nothing listens there
    with nginx(port=port, upstream=f"127.0.0.1:{closed}", static_root=static_root, prefix=tmp_path):
        status, headers, body = request(port, "GET", "/api/v1/stats")
        assert status == 503 and headers["Retry-After"] == "5"
        assert json.loads(body)["error"]["code"] == "service_unavailable"
        status, headers, _ = request(port, "GET", "/")
        assert status == 503 and headers["Content-Type"].startswith("text/html")
