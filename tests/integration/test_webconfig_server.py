"""A real ThreadingHTTPServer behind a web configuration: TLS, basic auth and client certificates."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from daemon.exposition.access import TlsThreadingHTTPServer, WebConfig
from daemon.exposition.webconfig import load_web_config
from tests.certificates import CertificateAuthority, Issued

pytestmark = pytest.mark.integration

_PASSWORD = "scrape-me"  # noqa: S105 -- a test password, hashed below
_HASH = bcrypt.hashpw(_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
_TIMEOUT_S = 5.0
# How a refused TLS client learns it: an alert (TLS 1.3: at its first read), or the connection closed.
_REFUSED = (ssl.SSLError, ConnectionError)


def _handler(web_config: WebConfig) -> type[BaseHTTPRequestHandler]:
    """A handler wired as the daemon's will be: /metrics needs credentials, /healthz does not."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics" and not web_config.authorized(self.headers.get("Authorization")):
                self._reply(401, b"unauthorized\n", {"WWW-Authenticate": web_config.www_authenticate})
            else:
                self._reply(200, b"ok\n", {})

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in {**web_config.response_headers, **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def _serving(web_config: WebConfig) -> Iterator[int]:
    server = TlsThreadingHTTPServer(
        ("127.0.0.1", 0), _handler(web_config), web_config, handshake_timeout=_TIMEOUT_S
    )
    thread = threading.Thread(target=server.serve_forever, name="test-webconfig-http", daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(_TIMEOUT_S)


def _config(directory: Path, server: Issued, text: str = "") -> WebConfig:
    path = directory / "web-config.yml"
    path.write_text(
        f"tls_server_config:\n  cert_file: {server.cert}\n  key_file: {server.key}\n{text}", encoding="utf-8"
    )
    return load_web_config(path)


def _client_context(authority: CertificateAuthority, certificate: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(authority.cert))
    if certificate is not None:
        context.load_cert_chain(certificate.cert, certificate.key)
    return context


def _get(
    port: int, path: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=_TIMEOUT_S)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response
    finally:
        connection.close()


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def basic_auth_server(
    tmp_path: Path, authority: CertificateAuthority, server_certificate: Issued
) -> Iterator[int]:
    """A TLS server with one basic-auth user and a configured response header; yields its port."""
    users = (
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        f"basic_auth_users:\n  prometheus: {_HASH}\n"
    )
    with _serving(_config(tmp_path, server_certificate, users)) as port:
        yield port


@pytest.fixture
def mutual_tls_server(
    tmp_path: Path, authority: CertificateAuthority, server_certificate: Issued
) -> Iterator[int]:
    """A TLS server that requires a client certificate from the test CA; yields its port."""
    clients = f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {authority.cert}\n"
    with _serving(_config(tmp_path, server_certificate, clients)) as port:
        yield port


def test_tls_with_the_test_ca_serves_requests(
    basic_auth_server: int, authority: CertificateAuthority
) -> None:
    """A client trusting the test CA completes TLS and gets the answer with the configured header."""
    response = _get(basic_auth_server, "/healthz", _client_context(authority))
    assert response.status == 200
    assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_right_password_reads_metrics(basic_auth_server: int, authority: CertificateAuthority) -> None:
    """The right user and password over TLS read the protected path."""
    assert (
        _get(
            basic_auth_server, "/metrics", _client_context(authority), _basic("prometheus", _PASSWORD)
        ).status
        == 200
    )


def test_wrong_password_gets_a_401_challenge(basic_auth_server: int, authority: CertificateAuthority) -> None:
    """A wrong password is answered 401 with a Basic WWW-Authenticate challenge."""
    response = _get(basic_auth_server, "/metrics", _client_context(authority), _basic("prometheus", "guess"))
    assert response.status == 401
    assert (response.getheader("WWW-Authenticate") or "").startswith("Basic ")


def test_missing_password_gets_a_401_challenge(
    basic_auth_server: int, authority: CertificateAuthority
) -> None:
    """A request without credentials is answered 401 with a Basic WWW-Authenticate challenge."""
    response = _get(basic_auth_server, "/metrics", _client_context(authority))
    assert response.status == 401
    assert (response.getheader("WWW-Authenticate") or "").startswith("Basic ")


def test_client_without_certificate_is_refused(
    mutual_tls_server: int, authority: CertificateAuthority
) -> None:
    """With RequireAndVerifyClientCert a client that sends no certificate gets no answer."""
    with pytest.raises(_REFUSED):
        _get(mutual_tls_server, "/healthz", _client_context(authority))


def test_client_with_certificate_from_the_ca_is_accepted(
    mutual_tls_server: int, authority: CertificateAuthority
) -> None:
    """With RequireAndVerifyClientCert a client certificate from the client CA is accepted."""
    scraper = authority.issue("scraper", client=True)
    assert _get(mutual_tls_server, "/healthz", _client_context(authority, scraper)).status == 200


def test_client_with_certificate_from_another_ca_is_refused(
    mutual_tls_server: int, authority: CertificateAuthority, tmp_path: Path
) -> None:
    """With RequireAndVerifyClientCert a client certificate from another CA is refused."""
    stranger = CertificateAuthority.create(tmp_path / "other-ca", "another CA").issue("stranger", client=True)
    with pytest.raises(_REFUSED):
        _get(mutual_tls_server, "/healthz", _client_context(authority, stranger))


def test_client_allowed_sans_refuse_other_certificates(
    tmp_path: Path, authority: CertificateAuthority, server_certificate: Issued
) -> None:
    """With client_allowed_sans only a CA-issued certificate carrying a listed SAN is served."""
    clients = (
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {authority.cert}\n"
        "  client_allowed_sans: [scraper.example]\n"
    )
    allowed = authority.issue("allowed", ["scraper.example"], client=True)
    other = authority.issue("other", ["intruder.example"], client=True)
    with _serving(_config(tmp_path, server_certificate, clients)) as port:
        assert _get(port, "/healthz", _client_context(authority, allowed)).status == 200
        with pytest.raises(_REFUSED):
            _get(port, "/healthz", _client_context(authority, other))


def test_failed_handshakes_do_not_stop_the_server(
    basic_auth_server: int, authority: CertificateAuthority
) -> None:
    """Plain HTTP, an untrusting client and a hang-up on the TLS port leave the server serving others."""
    with socket.create_connection(("127.0.0.1", basic_auth_server), timeout=_TIMEOUT_S) as plain:
        plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        while plain.recv(4096):  # the server closes the connection after its failed handshake
            pass
    with pytest.raises(ssl.SSLCertVerificationError):
        _get(basic_auth_server, "/healthz", ssl.create_default_context())
    socket.create_connection(("127.0.0.1", basic_auth_server), timeout=_TIMEOUT_S).close()
    assert _get(basic_auth_server, "/healthz", _client_context(authority)).status == 200


def test_stalled_handshake_does_not_block_other_clients(
    basic_auth_server: int, authority: CertificateAuthority
) -> None:
    """A client that connects and never starts TLS does not hold up the next one (no handshake in accept)."""
    with socket.create_connection(("127.0.0.1", basic_auth_server), timeout=_TIMEOUT_S):
        assert _get(basic_auth_server, "/healthz", _client_context(authority)).status == 200


def test_without_tls_config_the_server_speaks_plain_http() -> None:
    """Without tls_server_config the same server class serves plain HTTP."""
    with _serving(WebConfig()) as port:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_TIMEOUT_S)
        try:
            connection.request("GET", "/metrics")
            assert connection.getresponse().status == 200
        finally:
            connection.close()
