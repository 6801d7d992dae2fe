"""Password guessing is bounded: repeated failures lock out by username and by address, cheaply.

A locked-out attempt is refused before any password hashing, so a guessing loop cannot spend the
workers' CPU; the client address follows the same trusted-proxy rule as the rate limits.
"""

import base64
from collections.abc import Iterator

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client

from users.models import User

pytestmark = pytest.mark.django_db

STATS = "/api/v1/stats"
LOGIN = "/admin/login/"
PASSWORD = "correct-horse-battery-41"
LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings) -> None:  # type: ignore[no-untyped-def]
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def staff() -> User:
    return User.objects.create_user(username="operator", password=PASSWORD, is_staff=True)


@pytest.fixture
def hashings(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every PBKDF2 hashing done from here on (checking a password hashes it)."""
    calls: list[str] = []
    original = PBKDF2PasswordHasher.encode

    def counting_encode(self, password, salt, iterations=None):  # type: ignore[no-untyped-def]
        calls.append(salt)
        return original(self, password, salt, iterations)

    monkeypatch.setattr(PBKDF2PasswordHasher, "encode", counting_encode)
    yield calls


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def stats(username: str, password: str, address: str = "192.0.2.10", forwarded_for: str | None = None):  # type: ignore[no-untyped-def]
    headers = basic(username, password)
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return Client().get(STATS, headers=headers, REMOTE_ADDR=address)


def test_after_the_limit_even_the_right_password_is_refused_without_hashing(
    staff: User, hashings: list[str]
) -> None:
    assert stats("operator", PASSWORD).status_code == 200
    statuses = [stats("operator", f"guess-{n}").status_code for n in range(LIMIT)]
    assert statuses[:-1] == [401] * (LIMIT - 1)
    assert len(hashings) >= LIMIT  # the counter sees every checked password
    hashings.clear()

    locked = stats("operator", PASSWORD)

    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    assert "too many failed" in locked.json()["error"]["message"].lower()
    assert int(locked["Retry-After"]) > 0
    assert hashings == []  # refused before the password was looked at


def test_a_username_is_locked_from_every_address(staff: User) -> None:
    for n in range(LIMIT):
        stats("operator", f"guess-{n}", address=f"198.51.100.{n}")

    assert stats("operator", PASSWORD, address="203.0.113.99").status_code == 429


def test_an_address_is_locked_for_every_username(staff: User) -> None:
    for n in range(LIMIT):
        stats(f"someone-{n}", "guess", address="198.51.100.7")

    assert stats("operator", PASSWORD, address="198.51.100.7").status_code == 429
    assert stats("operator", PASSWORD, address="198.51.100.8").status_code == 200


def test_a_forged_x_forwarded_for_does_not_reset_the_lockout(staff: User) -> None:
    for n in range(LIMIT):
        stats(f"sprayed-{n}", "guess", address="198.51.100.7", forwarded_for=f"203.0.113.{n}")

    forged = stats("operator", PASSWORD, address="198.51.100.7", forwarded_for="203.0.113.200")
    assert forged.status_code == 429


def test_behind_a_proxy_the_address_it_appended_is_the_one_locked(settings, staff: User) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for n in range(LIMIT):
        # The client forges the left part; our proxy appends the address it saw.
        stats(f"sprayed-{n}", "guess", address=proxy, forwarded_for=f"203.0.113.{n}, 198.51.100.7")

    again = stats("operator", PASSWORD, address=proxy, forwarded_for="203.0.113.9, 198.51.100.7")
    other_client = stats("operator", PASSWORD, address=proxy, forwarded_for="198.51.100.8")

    assert again.status_code == 429
    assert other_client.status_code == 200


def test_the_admin_login_locks_out_with_a_page(staff: User, hashings: list[str]) -> None:
    client = Client(REMOTE_ADDR="192.0.2.20")
    for n in range(LIMIT - 1):
        response = client.post(LOGIN, {"username": "operator", "password": f"guess-{n}"})
        assert response.status_code == 200  # the form again, with its error
    client.post(LOGIN, {"username": "operator", "password": "last-guess"})
    hashings.clear()

    locked = client.post(LOGIN, {"username": "operator", "password": PASSWORD, "next": "/admin/"})

    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert int(locked["Retry-After"]) > 0
    assert hashings == []
    assert client.get("/admin/").status_code == 302  # not signed in


def test_a_successful_login_is_not_counted_against_anyone(staff: User) -> None:
    for _ in range(LIMIT + 2):
        assert stats("operator", PASSWORD).status_code == 200
    client = Client()
    for _ in range(LIMIT + 2):
        assert client.post(LOGIN, {"username": "operator", "password": PASSWORD}).status_code == 302


def test_an_unauthenticated_stats_request_is_challenged_for_basic_auth(client: Client) -> None:
    response = client.get(STATS)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Basic realm="')
    assert response.json()["error"]["code"] == "not_authenticated"


def test_a_wrong_password_is_challenged_again(staff: User) -> None:
    response = stats("operator", "wrong")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize("weak", ["short1", "password123", "12345678901234", "operator-2026"])
def test_weak_staff_passwords_are_refused(client: Client, weak: str) -> None:
    client.force_login(User.objects.create_superuser(username="root", password=PASSWORD))

    response = client.post(
        "/admin/users/user/add/",
        {"username": "operator-2026", "password1": weak, "password2": weak, "usable_password": "true"},
    )

    assert response.status_code == 200  # the form again, with the validator's message
    assert response.context["adminform"].form.errors
    assert not User.objects.filter(username="operator-2026").exists()


def test_a_strong_staff_password_is_accepted(client: Client) -> None:
    client.force_login(User.objects.create_superuser(username="root", password=PASSWORD))

    response = client.post(
        "/admin/users/user/add/",
        {
            "username": "operator-2026",
            "password1": "quiet-lantern-meadow-7",
            "password2": "quiet-lantern-meadow-7",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302
    assert User.objects.get(username="operator-2026").check_password("quiet-lantern-meadow-7")
