"""The page middlewares skip the JSON API and the probes, /healthz is answered early; what every answer
needs still holds.

Skipped there: sessions, the signed-in user, messages, htmx and the Content-Security-Policy. Kept on
every answer: X-Request-ID and the metrics, the security headers and the Host check; on the API also
X-Frame-Options, CORS and the JSON 503. Pages, the admin, the API docs and the staff statistics keep
them all.
"""

import re
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, reverse
from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView

from leaderboard.api import urls as api_urls
from leaderforge import page_middleware
from leaderforge.page_middleware import serves_machines_only
from tests.factories import submit
from users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-41"


@pytest.fixture
def machine_paths(player: User) -> list[str]:
    submit(player, 10)
    return ["/healthz", "/readyz", f"/api/leaderboard/rank/{player.pk}", "/api/leaderboard/top"]


@pytest.fixture
def staff() -> User:
    return User.objects.create_user(username="ops", password=PASSWORD, is_staff=True)


def test_machine_answers_keep_the_request_id_and_the_security_headers(
    client: Client, settings, machine_paths: list[str]
) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_HSTS_SECONDS = 3600
    for path in machine_paths:
        response = client.get(path, secure=True, headers={"X-Request-ID": "edge-1"})
        assert response.status_code == 200, path
        assert response["X-Request-ID"] == "edge-1"
        assert response["Strict-Transport-Security"] == "max-age=3600"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Content-Type"] == "application/json"
        if path != "/healthz":  # answered above XFrameOptionsMiddleware (test_health_is_answered_early)
            assert response["X-Frame-Options"] == "DENY"


def test_machine_answers_skip_the_page_middlewares(client: Client, machine_paths: list[str]) -> None:
    # With a session cookie and an htmx header, as a browser tab would send: nothing of it is read.
    client.cookies["sessionid"] = "not-a-session"
    for path in machine_paths:
        with mock.patch("django.contrib.sessions.backends.db.SessionStore.load") as load:
            response = client.get(path, headers={"HX-Request": "true"})
        assert response.status_code == 200, path
        assert load.call_count == 0
        assert "Content-Security-Policy" not in response
        assert "Set-Cookie" not in str(response.cookies.output()) and not response.cookies
        assert "Cookie" not in response.get("Vary", "")
        assert not hasattr(response.wsgi_request, "session")
        assert not hasattr(response.wsgi_request, "htmx")


def test_machine_answers_are_still_timed(client: Client, machine_paths: list[str]) -> None:
    from leaderboard import metrics

    def count(route: str) -> float:
        return sum(
            sample.value
            for family in metrics.REQUEST_SECONDS.collect()
            for sample in family.samples
            if sample.name.endswith("_count") and sample.labels.get("route") == route
        )

    for path, route in zip(machine_paths, ["healthz", "readyz", "api-rank", "api-top"], strict=True):
        before = count(route)
        client.get(path)
        assert count(route) == before + 1, route


def test_health_is_answered_early(client: Client) -> None:
    # Nothing below LivenessMiddleware runs: neither X-Frame-Options nor the NUL-byte check.
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "X-Frame-Options" not in response


def test_health_keeps_its_other_answers(client: Client) -> None:
    assert client.head("/healthz").status_code == 405
    assert client.post("/healthz").status_code == 405
    # A query string takes the usual way through every middleware.
    assert client.get("/healthz?probe=1").status_code == 200
    assert client.get("/healthz?probe=\x00").status_code == 400


def test_cors_still_answers_on_the_api(client: Client, settings, machine_paths: list[str]) -> None:  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = ["https://game.example.com"]
    response = client.get(machine_paths[-1], headers={"Origin": "https://game.example.com"})
    assert response["Access-Control-Allow-Origin"] == "https://game.example.com"


def test_a_foreign_host_is_still_refused_on_machine_paths(client: Client, machine_paths: list[str]) -> None:
    for path in machine_paths:
        assert client.get(path, headers={"Host": "evil.example.com"}).status_code == 400, path


def test_the_database_away_is_still_a_json_503_on_the_api(client: Client) -> None:
    with mock.patch("leaderboard.selectors.get_top_json", side_effect=OperationalError("connection refused")):
        response = client.get("/api/leaderboard/top", headers={"X-Request-ID": "down-1"})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["X-Request-ID"] == "down-1"
    assert response.json()["error"]["code"] == "service_unavailable"


@pytest.mark.parametrize("path", ["/", "/api/docs/", "/admin/login/"])
def test_html_keeps_its_policy_and_frame_headers(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_pages_still_see_htmx_and_the_signed_in_user(client: Client, staff: User) -> None:
    client.force_login(staff)
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.wsgi_request.htmx  # type: ignore[attr-defined]
    assert response.wsgi_request.user == staff


def test_the_admin_still_needs_a_login_and_a_csrf_token(staff: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/admin/").status_code == 302
    refused = browser.post("/admin/login/", {"username": "ops", "password": PASSWORD})
    assert refused.status_code == 403  # no CSRF token
    token = browser.get("/admin/login/").cookies["csrftoken"].value
    signed_in = browser.post(
        "/admin/login/", {"username": "ops", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert signed_in.status_code == 302
    assert browser.get("/admin/").status_code == 200


def test_the_staff_statistics_take_the_admin_session(staff: User) -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.get("/api/v1/stats").status_code == 401
    token = browser.get("/admin/login/").cookies["csrftoken"].value
    browser.post("/admin/login/", {"username": "ops", "password": PASSWORD, "csrfmiddlewaretoken": token})
    response = browser.get("/api/v1/stats")
    assert response.status_code == 200
    assert "boards" in response.json()
    # Session-authenticated writes still need the CSRF token (DRF checks it itself).
    refused = browser.post("/api/v1/stats", data="{}", content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["message"]


def _api_paths(patterns: list[URLPattern | URLResolver], prefix: str) -> list[tuple[str, type[APIView]]]:
    """Every API route with "1" for each path parameter, and its view class."""
    found = []
    for pattern in patterns:
        assert isinstance(pattern, URLPattern)
        names = re.compile(pattern.pattern.regex.pattern).groupindex
        path = reverse(pattern.name, kwargs=dict.fromkeys(names, "1"))
        assert path.startswith(prefix)
        found.append((path, pattern.callback.view_class))  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize(
    ("patterns", "prefix"),
    [(api_urls.compatible_urlpatterns, "/api/leaderboard/"), (api_urls.v1_urlpatterns, "/api/v1/")],
)
def test_exactly_the_api_views_without_a_session_skip_the_page_middlewares(
    patterns: list[URLPattern | URLResolver], prefix: str
) -> None:
    # A view added later that signs in with the admin's session must not land on a skipping path.
    for path, view in _api_paths(patterns, prefix):
        takes_session = any(issubclass(auth, SessionAuthentication) for auth in view().authentication_classes)
        assert serves_machines_only(path) is not takes_session, path
        assert serves_machines_only(path + "/") is not takes_session, path


def test_the_page_middlewares_run_unchanged_elsewhere() -> None:
    request = RequestFactory().get("/")
    request.session = SessionStore()
    middleware = page_middleware.AuthenticationMiddleware(lambda r: HttpResponse())
    middleware(request)
    assert isinstance(request.user, AnonymousUser)
    for path in ("/", "/admin/", "/api/docs/", "/api/schema/", "/metrics", "/api/v1/stats", "/api/v1/stats/"):
        assert not serves_machines_only(path), path
