"""PostgreSQL unreachable: the API answers a JSON 503 with Retry-After, then recovers on its own.

A TCP proxy in front of the real PostgreSQL plays the outage: stopping it cuts the live
connection and refuses new ones, starting it again on the same port ends the outage. Requests go
through the WSGI application exactly as gunicorn sends them, so Django's own connection handling
(health checks at the start of each request) is what recovers.
"""

import contextlib
import io
import json
import socket
import threading
from collections.abc import Iterator
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections

from tests.factories import make_api_key, make_player, submit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class TcpProxy:
    """Forward 127.0.0.1:<port> to an upstream address until stopped; restartable on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one, as a dead server would."""
        with self._lock:
            to_close = [s for s in [self._listener, *self._sockets] if s is not None]
            self._listener, self._sockets = None, []
        for sock in to_close:
            _shutdown(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _shutdown(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, target), daemon=True).start()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
    finally:
        _shutdown(source)
        _shutdown(target)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.fixture
def postgres_proxy() -> Iterator[TcpProxy]:
    """Point the default database at a proxy in front of the real server for this test."""
    database = connections["default"]
    original = {"HOST": database.settings_dict["HOST"], "PORT": database.settings_dict["PORT"]}
    proxy = TcpProxy((original["HOST"] or "127.0.0.1", int(original["PORT"] or 5432)))
    proxy.start()
    database.close()
    database.settings_dict.update(HOST="127.0.0.1", PORT=str(proxy.port))
    try:
        yield proxy
    finally:
        database.close()
        database.settings_dict.update(original)
        proxy.stop()


def call_wsgi(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """One request through the WSGI app, as gunicorn makes it: (status, headers, body)."""
    environ: dict = {  # type: ignore[type-arg]
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    started: dict[str, object] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):  # type: ignore[no-untyped-def]
        started.update(status=int(status.split()[0]), headers=dict(response_headers))

    result = WSGIHandler()(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()  # sends request_finished, as a WSGI server does
    return started["status"], started["headers"], content


def test_api_is_503_with_retry_after_while_postgres_is_down_then_recovers(postgres_proxy: TcpProxy) -> None:
    player = make_player()
    submit(player, 10)
    key = make_api_key()
    auth = {"Authorization": f"Api-Key {key}"}
    score = json.dumps({"user_id": player.pk, "score": 5}).encode()
    assert call_wsgi("GET", "/api/leaderboard/top")[0] == 200

    postgres_proxy.stop()
    for method, path, body, headers in [
        ("GET", "/api/leaderboard/top", b"", {}),
        ("GET", f"/api/leaderboard/rank/{player.pk}", b"", {}),
        ("POST", "/api/leaderboard/submit", score, auth),
    ]:
        status, response_headers, content = call_wsgi(method, path, body, headers)
        assert status == 503, content
        assert response_headers["Retry-After"] == "5"
        assert response_headers["Content-Type"] == "application/json"
        assert json.loads(content)["error"]["code"] == "service_unavailable"

    page_status, page_headers, page = call_wsgi("GET", "/")
    assert page_status == 503 and page_headers["Retry-After"] == "5"
    assert b"database is unavailable" in page

    postgres_proxy.start()  # same port: the app recovers without a restart
    status, _, content = call_wsgi("POST", "/api/leaderboard/submit", score, auth)
    assert status == 201, content
    assert json.loads(content)["total_score"] == 15
    assert call_wsgi("GET", "/api/leaderboard/top")[0] == 200
