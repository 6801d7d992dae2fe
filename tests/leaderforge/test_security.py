"""Safe settings: deploy checks, CORS, the Content-Security-Policy, body limits, the admin."""

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import RequestDataTooBig
from django.test import Client, RequestFactory

from leaderboard.models import GameSession
from leaderforge import errors
from users.models import User

pytestmark = pytest.mark.django_db


def production_env(**overrides: str) -> dict[str, str]:
    """The environment a production process gets: only what .env.example says, nothing from here."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "leaderboard.example.com",
        "DATABASE_URL": "postgres://leaderforge@db.example.com:5432/leaderforge",
        "REDIS_URL": "redis://cache.example.com:6379/0",
        "BEHIND_TLS_PROXY": "true",
    }
    env.update(overrides)
    return env


def run_in_production(*args: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=django_settings.BASE_DIR,
        env=production_env(**overrides),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_checks_pass_with_production_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # What collectstatic leaves behind: the manifest the pages name their static files through.
    (tmp_path / "staticfiles.json").write_text(json.dumps({"paths": {}, "version": "1.1", "hash": ""}))
    result = run_in_production(
        "manage.py", "check", "--deploy", "--fail-level", "WARNING", STATIC_ROOT=str(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert result.stderr == ""


def test_deploy_checks_fail_without_collected_static_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_in_production("manage.py", "check", "--deploy", STATIC_ROOT=str(tmp_path / "none"))
    assert result.returncode != 0
    assert "leaderboard.E002" in result.stderr and "collectstatic" in result.stderr


def test_production_defaults_are_safe() -> None:
    names = [
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "CORS_ALLOWED_ORIGINS",
        "SECURE_PROXY_SSL_HEADER",
    ]
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{k: getattr(s, k) for k in {names!r}}}))"
    )
    result = run_in_production("-c", script, DJANGO_SETTINGS_MODULE="leaderforge.settings", PYTHONPATH=".")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 3600,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "CORS_ALLOWED_ORIGINS": [],
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
    }


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"])
def test_production_refuses_to_start_without_its_secrets(missing: str) -> None:
    env = production_env()
    del env[missing]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr


def test_the_liveness_check_is_not_redirected_to_https(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/leaderboard/top").status_code == 301


def test_cors_is_off_by_default(client: Client) -> None:
    response = client.get("/api/leaderboard/top", headers={"Origin": "https://game.example.com"})
    assert "Access-Control-Allow-Origin" not in response


def test_cors_allows_configured_origins_on_the_api_only(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.CORS_ALLOWED_ORIGINS = ["https://game.example.com"]
    preflight = client.options(
        "/api/leaderboard/submit",
        headers={
            "Origin": "https://game.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "https://game.example.com"
    assert "idempotency-key" in preflight["Access-Control-Allow-Headers"]

    other = client.get("/api/leaderboard/top", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other
    page = client.get("/", headers={"Origin": "https://game.example.com"})
    assert "Access-Control-Allow-Origin" not in page


def test_pages_carry_a_strict_content_security_policy(client: Client) -> None:
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "script-src" not in directives and "style-src" not in directives  # both fall back to 'self'
    assert b'"includeIndicatorStyles": false' in response.content


def test_an_oversized_json_body_is_a_json_413_and_writes_nothing(
    api_client: Client, player, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"user_id": player.pk, "score": 5, "padding": "x" * 2000})
    response = api_client.post("/api/leaderboard/submit", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert not GameSession.objects.exists()

    small = api_client.post("/api/leaderboard/submit", {"user_id": player.pk, "score": 5}, "application/json")
    assert small.status_code == 201


def test_an_oversized_body_outside_the_api_views_is_still_json_under_api(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post("/admin/login/", "a=" + "x" * 2000, "application/x-www-form-urlencoded")
    assert response.status_code == 400 and "text/html" in response["Content-Type"]

    # The site-wide handler Django calls when a body is refused before any API view runs.
    api = errors.bad_request(RequestFactory().post("/api/v1/players"), RequestDataTooBig("too big"))
    assert api.status_code == 413
    assert json.loads(api.content)["error"]["code"] == "request_too_large"


def test_the_admin_requires_a_staff_login(client: Client) -> None:
    for path in ["/admin/", "/admin/rest_framework_api_key/apikey/", "/admin/users/user/"]:
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")

    player = User.objects.create_user("player", password="a-long-enough-password")
    client.force_login(player)
    assert client.get("/admin/").status_code == 302

    staff = User.objects.create_superuser("mod", "mod@example.com", "a-long-enough-password")
    client.force_login(staff)
    assert client.get("/admin/").status_code == 200
