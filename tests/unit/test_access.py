"""Tests of daemon.exposition.access: HTTP Basic credentials, the cache of successes, the 401 challenge."""

from __future__ import annotations

import base64

import bcrypt
import pytest

from daemon.exposition.access import WebConfig

_PASSWORD = "correct horse battery staple"  # noqa: S105 -- a test password, hashed below
# Cost 4, the lowest bcrypt takes: these tests check the logic, not the strength.
_HASH = bcrypt.hashpw(_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The hashes bcrypt.checkpw is called with during the test, in order."""
    calls: list[bytes] = []
    checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    return calls


def test_right_password_is_authorized() -> None:
    """A listed user with the right password is authorized."""
    assert WebConfig(users={"alice": _HASH}).authorized(_basic("alice", _PASSWORD))


def test_wrong_password_is_refused() -> None:
    """A listed user with a wrong password is refused."""
    assert not WebConfig(users={"alice": _HASH}).authorized(_basic("alice", "wrong"))


def test_unknown_user_is_refused_even_with_a_known_password() -> None:
    """A user who is not listed is refused, even with another user's password."""
    assert not WebConfig(users={"alice": _HASH}).authorized(_basic("mallory", _PASSWORD))


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("Basic", id="no-credentials"),
        pytest.param("Basic !!!not-base64!!!", id="not-base64"),
        pytest.param("Basic " + base64.b64encode(b"alice").decode(), id="no-colon"),
        pytest.param("Basic " + base64.b64encode(b"\xff:" + _PASSWORD.encode()).decode(), id="not-utf8"),
        pytest.param("Bearer " + base64.b64encode(f"alice:{_PASSWORD}".encode()).decode(), id="other-scheme"),
        pytest.param("Basic é" + base64.b64encode(f"alice:{_PASSWORD}".encode()).decode(), id="not-ascii"),
    ],
)
def test_missing_or_malformed_header_is_refused(header: str | None) -> None:
    """A missing, malformed or non-Basic Authorization header is refused without an exception."""
    assert not WebConfig(users={"alice": _HASH}).authorized(header)


def test_scheme_is_case_insensitive() -> None:
    """The Basic scheme name is matched case-insensitively, as HTTP requires."""
    header = "basic " + base64.b64encode(f"alice:{_PASSWORD}".encode()).decode()
    assert WebConfig(users={"alice": _HASH}).authorized(header)


def test_htpasswd_2y_hash_verifies() -> None:
    """A $2y$ hash, as htpasswd writes it, checks the password like the $2b$ one it equals."""
    assert WebConfig(users={"alice": "$2y$" + _HASH[4:]}).authorized(_basic("alice", _PASSWORD))


def test_password_past_72_bytes_never_matches() -> None:
    """A password longer than bcrypt takes is refused, not cut to its first 72 bytes and accepted."""
    password = "p" * 72
    config = WebConfig(users={"alice": bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()})
    assert config.authorized(_basic("alice", password))
    assert not config.authorized(_basic("alice", password + "tail"))


def test_cached_success_does_not_accept_a_wrong_password() -> None:
    """After a right password is cached, a wrong one for the same user is still refused."""
    config = WebConfig(users={"alice": _HASH})
    assert config.authorized(_basic("alice", _PASSWORD))
    assert not config.authorized(_basic("alice", _PASSWORD + "x"))
    assert not config.authorized(_basic("alice", ""))
    assert config.authorized(_basic("alice", _PASSWORD))


def test_success_is_cached_and_failure_is_not(bcrypt_checks: list[bytes]) -> None:
    """A repeated right password costs one bcrypt check; every wrong attempt costs its own."""
    config = WebConfig(users={"alice": _HASH})
    assert all(config.authorized(_basic("alice", _PASSWORD)) for _ in range(3))
    assert len(bcrypt_checks) == 1
    assert not any(config.authorized(_basic("alice", "wrong")) for _ in range(3))
    assert len(bcrypt_checks) == 4


def test_unknown_user_costs_a_bcrypt_check(bcrypt_checks: list[bytes]) -> None:
    """An unknown user is checked against a real hash, so timing does not tell which users exist."""
    assert not WebConfig(users={"alice": _HASH}).authorized(_basic("mallory", "guess"))
    assert bcrypt_checks == [_HASH.encode()]


def test_no_users_authorizes_everyone() -> None:
    """Without basic_auth_users every request is authorized, with or without a header."""
    config = WebConfig()
    assert not config.basic_auth_required
    assert config.authorized(None)
    assert config.authorized(_basic("anyone", "anything"))


def test_www_authenticate_asks_for_basic_credentials() -> None:
    """The 401 challenge asks for Basic credentials in svmon's realm."""
    assert WebConfig.www_authenticate.startswith('Basic realm="svmon"')
