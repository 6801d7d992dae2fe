"""The OpenAPI schema: valid, complete, and its docs page served from our own origin only."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/leaderboard/submit", "post"): {201, 400, 401, 404, 409, 413, 415, 422, 429, 503},
    ("/api/leaderboard/top", "get"): {200, 400, 401, 429, 503},
    ("/api/leaderboard/rank/{user_id}", "get"): {200, 400, 401, 404, 429, 503},
    ("/api/v1/players", "post"): {201, 400, 401, 409, 413, 415, 429, 503},
    ("/api/v1/players/{user_id}", "get"): {200, 400, 401, 404, 429, 503},
    ("/api/v1/players/{user_id}/following", "get"): {200, 400, 401, 404, 429, 503},
    ("/api/v1/players/{user_id}/following/{followed_id}", "put"): {
        200,
        201,
        400,
        401,
        404,
        409,
        422,
        429,
        503,
    },
    ("/api/v1/players/{user_id}/following/{followed_id}", "delete"): {204, 400, 401, 404, 429, 503},
    ("/api/v1/stats", "get"): {200, 401, 403, 429, 503},
    ("/api/v1/players/{user_id}/standings", "get"): {200, 400, 401, 404, 429, 503},
    ("/api/v1/sessions/batch", "post"): {201, 400, 401, 404, 409, 413, 415, 422, 429, 503},
    ("/api/v1/boards", "get"): {200, 401, 429, 503},
    ("/api/v1/boards/{slug}", "get"): {200, 401, 404, 429, 503},
    ("/api/v1/boards/{slug}/top", "get"): {200, 400, 401, 404, 429, 503},
    ("/api/v1/boards/{slug}/players/{user_id}", "get"): {200, 400, 401, 404, 429, 503},
    ("/api/v1/boards/{slug}/players/{user_id}/around", "get"): {200, 400, 401, 404, 429, 503},
    ("/api/v1/boards/{slug}/players/{user_id}/friends", "get"): {200, 400, 401, 404, 429, 503},
}
ERROR_REF = "#/components/schemas/ErrorOutput"


def get_schema(client: Client) -> dict:  # type: ignore[type-arg]
    response = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_and_generates_without_warnings(tmp_path: Path) -> None:
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "openapi: 3" in out.read_text()


def test_every_operation_and_its_responses_are_described(client: Client) -> None:
    schema = get_schema(client)
    described = {(path, method) for path, ops in schema["paths"].items() for method in ops}
    assert described == set(OPERATIONS)
    for (path, method), statuses in OPERATIONS.items():
        responses = schema["paths"][path][method]["responses"]
        assert {int(code) for code in responses} == statuses, path
        for code, response in responses.items():
            if int(code) == 204:
                assert "content" not in response, path
                continue
            body = response["content"]["application/json"]["schema"]
            if int(code) >= 400:
                assert body == {"$ref": ERROR_REF}, (path, code)
                assert response["description"]
        for code in ("429", "503"):
            assert "Retry-After" in responses[code]["headers"]


def test_the_error_body_is_a_component(client: Client) -> None:
    components = get_schema(client)["components"]["schemas"]
    assert components["ErrorOutput"]["required"] == ["error"]
    detail = components["ErrorDetailOutput"]
    assert set(detail["properties"]) == {"code", "message", "fields"}
    assert detail["properties"]["fields"]["type"] == "object"


def test_writes_need_the_api_key_and_reads_may_use_it(client: Client) -> None:
    schema = get_schema(client)
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "A game server's key, sent as `Authorization: Api-Key <key>`.",
    }
    for path, method in OPERATIONS:
        if path == "/api/v1/stats":  # staff only: admin session or HTTP Basic, never an API key
            assert schema["paths"][path][method]["security"] == [{"basicAuth": []}, {"cookieAuth": []}]
            continue
        security = schema["paths"][path][method]["security"]
        expected: list[dict[str, list[str]]] = [{"ApiKey": []}]
        if method == "get":
            expected.append({})
        assert security == expected, path


def test_reads_need_the_api_key_in_the_schema_when_not_public(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_PUBLIC_READS = False
    schema = get_schema(client)
    assert schema["paths"]["/api/leaderboard/top"]["get"]["security"] == [{"ApiKey": []}]


def test_submit_documents_the_idempotency_key(client: Client) -> None:
    submit = get_schema(client)["paths"]["/api/leaderboard/submit"]["post"]
    (header,) = [p for p in submit["parameters"] if p["name"] == "Idempotency-Key"]
    assert header["in"] == "header" and not header.get("required", False)
    assert header["schema"]["minLength"] == 1 and header["schema"]["maxLength"] == 255
    assert "Idempotent-Replayed" in submit["responses"]["201"]["headers"]


def test_the_score_limit_in_the_schema_follows_the_setting(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADERBOARD_MAX_SCORE_PER_SESSION = 500
    score = get_schema(client)["components"]["schemas"]["SubmitScoreInput"]["properties"]["score"]
    assert (score["minimum"], score["maximum"]) == (0, 500)


def test_the_docs_page_loads_nothing_from_elsewhere(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "https://" not in html and "http://" not in html and "cdn" not in html.lower()
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts, "the docs page has scripts"
    sources = [re.search(r'src="([^"]+)"', attrs) for attrs in scripts]
    assert all(sources), "no inline scripts: the Content-Security-Policy would block them"
    assert "<style" not in html
    assert "default-src 'self'" in response["Content-Security-Policy"]
    for src in [m.group(1) for m in sources if m] + re.findall(r'href="([^"]+)"', html):
        assert src.startswith("/"), src
        if src.startswith("/static/"):
            assert finders.find(src.removeprefix("/static/")), f"{src} is not a static file here"

    init = client.get("/api/docs/?script=")
    assert init.status_code == 200 and init["Content-Type"].startswith("application/javascript")
    assert "https://" not in init.content.decode() and "http://" not in init.content.decode()
