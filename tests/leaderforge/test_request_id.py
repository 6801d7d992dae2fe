"""X-Request-ID: kept when sane, made otherwise, returned on every answer and on every log record."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from leaderforge import request_id

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_a_sane_incoming_id_is_kept(client: Client) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.1:2@edge"})
    assert response["X-Request-ID"] == "lb-7f3a.1:2@edge"


@pytest.mark.parametrize(
    "incoming", ["", "has space", 'quote"d', "x" * 129, "line\nbreak", "é", "semi;colon"]
)
def test_an_insane_incoming_id_is_replaced_by_a_fresh_one(client: Client, incoming: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": incoming} if incoming else {})
    made = response["X-Request-ID"]
    assert made != incoming and len(made) == 32 and made.isalnum()


def test_each_request_gets_its_own_id(client: Client) -> None:
    assert client.get("/healthz")["X-Request-ID"] != client.get("/healthz")["X-Request-ID"]


def test_errors_carry_the_id_too(client: Client) -> None:
    for path in ("/no/such/page", "/api/leaderboard/rank/abc", "/metrics"):
        response = client.get(path, headers={"X-Request-ID": "trace-1"})
        assert response.status_code >= 400 and response["X-Request-ID"] == "trace-1"


def test_outside_a_request_there_is_no_id(client: Client) -> None:
    client.get("/healthz", headers={"X-Request-ID": "trace-2"})
    assert request_id.current() == ""


def test_json_logs_carry_the_request_id_on_every_record_of_the_request() -> None:
    # A fresh process with LOG_FORMAT=json, so the configured handler and formatter are the real ones.
    script = """
import logging, django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
Client().get("/no/such/page", headers={"X-Request-ID": "trace-404"})
logging.getLogger("leaderforge.test").warning("after the request")
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leaderforge.settings", "LOG_FORMAT": "json"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert records, result.stderr
    not_found = next(r for r in records if r["message"] == "Not Found: /no/such/page")
    assert not_found["request_id"] == "trace-404"
    assert not_found["level"] == "WARNING" and not_found["logger"] == "django.request" and "time" in not_found
    assert next(r for r in records if r["message"] == "after the request")["request_id"] == "-"
