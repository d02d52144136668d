"""Tests of daemon.exposition.webconfig and its tls_settings: the file format, its mistakes, TLS modes."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import bcrypt
import pytest
from cryptography.hazmat.primitives import serialization

from daemon.exceptions import ConfigError
from daemon.exposition.webconfig import load_web_config
from tests.certificates import CertificateAuthority

_PASSWORD = "correct horse battery staple"  # noqa: S105 -- a test password, hashed below
# Cost 4, the lowest bcrypt takes: these tests check the logic, not the strength.
_HASH = bcrypt.hashpw(_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()

# The toolkit's documented sample (docs/web-config.yml there).
_DOCUMENTED_SAMPLE = """\
tls_server_config:
  cert_file: server.crt
  key_file: server.key
basic_auth_users:
  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze
  bob: $2y$10$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m
rate_limit:
  interval: "1s"
  burst: 20
"""


@pytest.fixture(scope="module")
def pem_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A server certificate and key, the CA that issued them and a key of another pair."""
    authority = CertificateAuthority.create(tmp_path_factory.mktemp("ca"), "svmon test CA")
    server = authority.issue("server", hosts=["127.0.0.1", "localhost"])
    other = authority.issue("other", hosts=["other.example"])
    return {
        "server.crt": server.cert,
        "server.key": server.key,
        "ca.pem": authority.cert,
        "other.key": other.key,
    }


@pytest.fixture
def config_dir(tmp_path: Path, pem_files: dict[str, Path]) -> Path:
    """A directory holding the PEM files under the names the toolkit's examples use."""
    for name, source in pem_files.items():
        shutil.copy(source, tmp_path / name)
    return tmp_path


def _write(directory: Path, text: str) -> Path:
    path = directory / "web-config.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as raised:
        load_web_config(path)
    return str(raised.value)


# ---------------------------------------------------------------------------------------------------
# The toolkit's documented examples.


def test_documented_sample_loads(config_dir: Path) -> None:
    """The toolkit's sample file (TLS, two bcrypt users, a rate limit) loads as written."""
    config = load_web_config(_write(config_dir, _DOCUMENTED_SAMPLE))
    context = config.ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_NONE
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert config.basic_auth_required
    assert [config.allow_request(now=0.0) for _ in range(21)].count(True) == 20


def test_empty_file_is_plain_http_without_authentication(config_dir: Path) -> None:
    """An empty file, like the toolkit's, means no TLS and no authentication."""
    config = load_web_config(_write(config_dir, ""))
    assert config.ssl_context() is None
    assert config.authorized(None)
    assert config.response_headers == {}


def test_users_without_tls_example_loads(config_dir: Path) -> None:
    """Basic auth users without TLS (the toolkit's users_noTLS example) load."""
    text = """\
basic_auth_users:
  alice: $2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby
  bob: $2y$18$4VeFDzXIoPHKnKTU3O3GH.N.vZu06CVqczYZ8WvfzrddFU6tGqjR.
"""
    config = load_web_config(_write(config_dir, text))
    assert config.ssl_context() is None
    assert config.basic_auth_required


def test_headers_example_becomes_response_headers(config_dir: Path) -> None:
    """The toolkit's headers example gives exactly those response headers (a YAML number as text)."""
    text = """\
http_server_config:
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000; includeSubDomains
    X-Content-Type-Options: nosniff
    X-XSS-Protection: 1
    Content-Security-Policy: "default-src 'self' *.test.example.net"
"""
    assert load_web_config(_write(config_dir, text)).response_headers == {
        "X-Frame-Options": "deny",
        "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
        "X-Content-Type-Options": "nosniff",
        "X-XSS-Protection": "1",
        "Content-Security-Policy": "default-src 'self' *.test.example.net",
    }


def test_cipher_suites_versions_and_order_are_honoured(config_dir: Path) -> None:
    """Go's cipher suite names become the OpenSSL suites, with the versions and order preference asked."""
    text = """\
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: ca.pem
  cipher_suites:
  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  prefer_server_cipher_suites: false
  min_version: TLS12
  max_version: TLS12
"""
    context = load_web_config(_write(config_dir, text)).ssl_context()
    assert context is not None
    assert (context.minimum_version, context.maximum_version) == (ssl.TLSVersion.TLSv1_2,) * 2
    tls12 = [cipher["name"] for cipher in context.get_ciphers() if cipher["protocol"] != "TLSv1.3"]
    assert tls12 == ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256"]
    assert not context.options & ssl.OP_CIPHER_SERVER_PREFERENCE


def test_one_curve_is_accepted(config_dir: Path) -> None:
    """A single curve_preferences entry (the toolkit's someCurves example) loads."""
    text = """\
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  min_version: TLS13
  curve_preferences: [CurveP521]
"""
    assert load_web_config(_write(config_dir, text)).ssl_context() is not None


_CERT_AND_KEY = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        pytest.param(
            "  curve_preferences: [CurveP256, CurveP384, CurveP521, X25519]\n",
            "tls_server_config.curve_preferences: Python's ssl can set one curve only",
            id="several-curves",
        ),
        pytest.param(
            "  client_auth_type: RequireAnyClientCert\n",
            "tls_server_config.client_auth_type: RequireAnyClientCert is not supported",
            id="require-any-client-cert",
        ),
        pytest.param(
            "  client_auth_type: RequestClientCert\n  client_ca_file: ca.pem\n",
            "tls_server_config.client_auth_type: RequestClientCert is not supported",
            id="request-client-cert",
        ),
        pytest.param(
            "  cert: |\n    -----BEGIN CERTIFICATE-----\n    MIIFsDCCA5igAwIBAgIRAMMSh5No\n",
            "tls_server_config.cert: inline PEM is not supported",
            id="inline-cert",
        ),
        pytest.param(
            "  client_auth_type: RequireAndVerifyClientCert\n",
            "needs client_ca_file",
            id="verify-without-client-ca",
        ),
    ],
)
def test_what_python_cannot_honour_is_refused(config_dir: Path, extra: str, expected: str) -> None:
    """Toolkit settings Python's ssl cannot honour are refused with the reason, not silently ignored."""
    assert expected in _error(_write(config_dir, _CERT_AND_KEY + extra))


# ---------------------------------------------------------------------------------------------------
# Mistakes.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "tls_server_config:\n  cert_filse: server.crt\n  cert_file: server.crt\n  key_file: server.key\n",
            "tls_server_config.cert_filse: Extra inputs are not permitted",
            id="misspelt-key",
        ),
        pytest.param(
            "basic_auth_user:\n  alice: x\n",
            "basic_auth_user: Extra inputs are not permitted",
            id="misspelt-section",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: somefile\n  key_file: server.key\n",
            "tls_server_config.cert_file: no such file: ",
            id="missing-cert-file",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: ''\n",
            "tls_server_config.key_file: must name a file",
            id="empty-key-file",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: server.crt\n",
            "tls_server_config.key_file: Field required",
            id="no-key-file",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
            "tls_server_config.key_file: cannot be used with cert_file",
            id="key-of-another-certificate",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n",
            "tls_server_config.key_file: ",
            id="certificate-as-key",
        ),
        pytest.param(
            "tls_server_config:\n  cert_file: server.key\n  key_file: server.key\n",
            "tls_server_config.cert_file: ",
            id="key-as-certificate",
        ),
        pytest.param(
            _CERT_AND_KEY + "  min_version: TLS111\n",
            "tls_server_config.min_version: Input should be 'TLS10', 'TLS11', 'TLS12' or 'TLS13'",
            id="unknown-version",
        ),
        pytest.param(
            _CERT_AND_KEY + "  min_version: TLS13\n  max_version: TLS12\n",
            "tls_server_config: min_version TLS13 is above max_version TLS12",
            id="versions-crossed",
        ),
        pytest.param(
            _CERT_AND_KEY + "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048]\n",
            "tls_server_config.cipher_suites.0: unknown cipher suite",
            id="invented-cipher",
        ),
        pytest.param(
            _CERT_AND_KEY + "  curve_preferences: [CurveP257]\n",
            "tls_server_config.curve_preferences.0: Input should be",
            id="invented-curve",
        ),
        pytest.param(
            _CERT_AND_KEY + "  client_auth_type: x\n",
            "tls_server_config.client_auth_type: Input should be 'NoClientCert'",
            id="unknown-client-auth-type",
        ),
        pytest.param(
            _CERT_AND_KEY + "  client_ca_file: ca.pem\n",
            "tls_server_config: a client CA is set but client_auth_type is NoClientCert",
            id="client-ca-without-client-auth",
        ),
        pytest.param(
            _CERT_AND_KEY + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: server.key\n",
            "tls_server_config.client_ca_file: ",
            id="client-ca-not-a-certificate",
        ),
        pytest.param(
            "http_server_config:\n  headers:\n    Content-Type: foo\n",
            "http_server_config.headers.Content-Type: Extra inputs are not permitted",
            id="header-not-allowed",
        ),
        pytest.param(
            "http_server_config:\n  headers:\n    X-Frame-Options: foo\n",
            "http_server_config.headers.X-Frame-Options: Input should be 'deny' or 'sameorigin'",
            id="header-value-not-allowed",
        ),
        pytest.param(
            'http_server_config:\n  headers:\n    Content-Security-Policy: "a\\r\\nSet-Cookie: x"\n',
            "http_server_config.headers.Content-Security-Policy: must not contain control characters",
            id="header-line-break",
        ),
        pytest.param(
            "http_server_config:\n  http2: maybe\n",
            "http_server_config.http2: Input should be a valid boolean",
            id="not-a-boolean",
        ),
        pytest.param(
            "basic_auth_users:\n  john: doe\n",
            "basic_auth_users.john: not a bcrypt hash",
            id="not-a-bcrypt-hash",
        ),
        pytest.param(
            f"basic_auth_users:\n  'john:doe': {_HASH}\n",
            "a user name cannot contain ':'",
            id="colon-in-user-name",
        ),
        pytest.param(
            "rate_limit:\n  interval: 1 second\n  burst: 5\n",
            "rate_limit.interval: not a duration",
            id="not-a-duration",
        ),
        pytest.param(
            "rate_limit:\n  interval: 1s\n  burst: 0\n",
            "rate_limit: burst 0 with a non-zero interval would refuse every request",
            id="burst-zero",
        ),
        pytest.param(
            "tls_server_config: server.crt\n",
            "tls_server_config: must be a mapping",
            id="section-not-a-mapping",
        ),
        pytest.param("- a\n- b\n", "the top level must be a mapping, got list", id="top-level-list"),
        pytest.param("basic_auth_users: [\n", "invalid YAML at line 2", id="yaml-syntax"),
        pytest.param(
            f"basic_auth_users:\n  alice: {_HASH}\n  alice: {_HASH}\n",
            "duplicate key 'alice'",
            id="duplicate-user",
        ),
    ],
)
def test_each_mistake_names_its_key(config_dir: Path, text: str, expected: str) -> None:
    """Each kind of mistake gives a ConfigError whose line names the key and the reason."""
    assert expected in _error(_write(config_dir, text))


def test_every_mistake_is_listed_at_once(config_dir: Path) -> None:
    """Several mistakes in one file are all listed, one line each."""
    text = (
        _CERT_AND_KEY + "  min_version: TLS9\nhttp_server_config:\n  http3: true\nbasic_auth_users:\n  a: b\n"
    )
    lines = _error(_write(config_dir, text)).splitlines()
    assert lines[0] == f"invalid web configuration file {config_dir / 'web-config.yml'}:"
    assert [line.split(":")[0] for line in lines[1:]] == [
        "  - tls_server_config.min_version",
        "  - http_server_config.http3",
        "  - basic_auth_users.a",
    ]


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A web configuration file that does not exist is a ConfigError naming it."""
    assert _error(tmp_path / "nope.yml") == f"web configuration file {tmp_path / 'nope.yml'}: not found"


def test_config_error_hides_the_pydantic_traceback(config_dir: Path) -> None:
    """The ConfigError is raised from None, so no pydantic traceback is chained to it."""
    with pytest.raises(ConfigError) as raised:
        load_web_config(_write(config_dir, "basic_auth_users:\n  a: b\n"))
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_errors_never_show_secrets(config_dir: Path) -> None:
    """Passwords, malformed hashes, inline keys and misspelt keys' values never appear in the message."""
    secrets = ["123456", "$2y$10$tooShort", "MIGHAgEAMBMGByqGSM49AgEGCCqG", "hunter2-typo"]
    text = (
        _CERT_AND_KEY
        + f"  key: '-----BEGIN PRIVATE KEY-----\\n{secrets[2]}'\n"
        + f"  key_fil: {secrets[3]}\n"
        + f"basic_auth_users:\n  alice: {secrets[0]}\n  bob: '{secrets[1]}'\n"
    )
    message = _error(_write(config_dir, text))
    assert "basic_auth_users.alice" in message
    assert "basic_auth_users.bob" in message
    assert not [secret for secret in secrets if secret in message]


def test_encrypted_key_is_refused_without_prompting(config_dir: Path) -> None:
    """An encrypted key file is refused with a reason instead of OpenSSL asking for its password."""
    key = serialization.load_pem_private_key((config_dir / "server.key").read_bytes(), password=None)
    (config_dir / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    assert "holds an encrypted key" in _error(_write(config_dir, _CERT_AND_KEY))


# ---------------------------------------------------------------------------------------------------
# Relative paths.


def test_relative_paths_resolve_against_the_file_directory(
    config_dir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative file names are taken from the config file's directory, not the working directory."""
    (config_dir / "tls").mkdir()
    for name in ("server.crt", "server.key"):
        shutil.move(config_dir / name, config_dir / "tls" / name)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    text = (
        f"tls_server_config:\n  cert_file: tls/server.crt\n  key_file: {config_dir / 'tls' / 'server.key'}\n"
    )
    assert load_web_config(_write(config_dir, text)).ssl_context() is not None


def test_missing_relative_file_is_reported_with_its_resolved_path(config_dir: Path) -> None:
    """A missing relative file is reported with the absolute path svmon looked at."""
    text = "tls_server_config:\n  cert_file: tls/nope.crt\n  key_file: server.key\n"
    assert f"no such file: {config_dir / 'tls' / 'nope.crt'}" in _error(_write(config_dir, text))


# ---------------------------------------------------------------------------------------------------
# Client certificates.


@pytest.mark.parametrize(
    ("client_auth_type", "verify_mode"),
    [
        ("NoClientCert", ssl.CERT_NONE),
        ("VerifyClientCertIfGiven", ssl.CERT_OPTIONAL),
        ("RequireAndVerifyClientCert", ssl.CERT_REQUIRED),
    ],
)
def test_client_auth_type_maps_to_verify_mode(
    config_dir: Path, client_auth_type: str, verify_mode: ssl.VerifyMode
) -> None:
    """Each supported client_auth_type gives its verify mode, loading the client CA where it verifies."""
    ca = "" if verify_mode == ssl.CERT_NONE else "  client_ca_file: ca.pem\n"
    text = _CERT_AND_KEY + f"  client_auth_type: {client_auth_type}\n" + ca
    context = load_web_config(_write(config_dir, text)).ssl_context()
    assert context is not None
    assert context.verify_mode == verify_mode
    assert len(context.get_ca_certs()) == (0 if verify_mode == ssl.CERT_NONE else 1)


# ---------------------------------------------------------------------------------------------------
# Rate limit.


def test_rate_limit_refills_one_token_per_interval(config_dir: Path) -> None:
    """The token bucket starts full with burst tokens and regains one per interval."""
    config = load_web_config(_write(config_dir, "rate_limit:\n  interval: 500ms\n  burst: 2\n"))
    assert [config.allow_request(now) for now in (10.0, 10.0, 10.1, 10.6, 10.6)] == [
        True,
        True,
        False,
        True,
        False,
    ]


def test_rate_limit_reads_go_durations(config_dir: Path) -> None:
    """A Go duration with several units (1m30s) is 90 seconds."""
    config = load_web_config(_write(config_dir, "rate_limit:\n  interval: 1m30s\n  burst: 1\n"))
    assert [config.allow_request(now) for now in (0.0, 89.0, 90.0)] == [True, False, True]


def test_zero_interval_turns_the_limit_off(config_dir: Path) -> None:
    """interval 0 (the toolkit's way to switch the limiter off) allows every request."""
    config = load_web_config(_write(config_dir, "rate_limit:\n  interval: 0\n  burst: 0\n"))
    assert all(config.allow_request(0.0) for _ in range(100))
