"""PostgreSQL unreachable: the API answers a JSON 503 with Retry-After, then recovers on its own.

A TCP proxy in front of the real PostgreSQL plays the outage: stopping it cuts the live
connection and refuses new ones, starting it again on the same port ends the outage. Requests go
through the WSGI application exactly as gunicorn sends them, so Django's own connection handling
(health checks at the start of each request) is what recovers.
"""

import io
import json
from collections.abc import Iterator
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.handlers.wsgi import WSGIHandler

from tests.factories import make_api_key, make_player, submit
from tests.tcp_proxy import TcpProxy, database_behind

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgres_proxy() -> Iterator[TcpProxy]:
    """Point the default database at a proxy in front of the real server for this test."""
    with database_behind(TcpProxy) as proxy:
        yield proxy


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
