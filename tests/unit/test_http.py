"""Tests of daemon.exposition.http on a free loopback port: /metrics, /healthz, /readyz, the API, and
who may read them (basic auth, open or closed probes, headers, rate limit, TLS, client certificates)."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from email.message import Message
from pathlib import Path
from typing import Any, NamedTuple

import bcrypt
import pytest
import structlog
from prometheus_client import CollectorRegistry, Gauge

from daemon.exposition.access import WebConfig
from daemon.exposition.http import HttpServer
from daemon.exposition.webconfig import load_web_config
from tests.certificates import CertificateAuthority, Issued

_PASSWORD = "scrape-me"  # noqa: S105 -- a test password, hashed below
# Cost 4, the lowest bcrypt takes: these tests check the wiring, not the strength of the hash.
_HASH = bcrypt.hashpw(_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
_TIMEOUT_S = 5.0
# How a refused TLS client learns it: an alert (TLS 1.3: at its first read), or the connection closed.
_REFUSED = (ssl.SSLError, ConnectionError)


class _Fixture:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.registry = CollectorRegistry()
        Gauge("supervision_ready", "1 when ready.", registry=self.registry).set(1)

    def readiness(self) -> list[str]:
        return list(self.reasons)

    def indicators(self, rest: str, query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Stands in for daemon.reports.api.ReadApi.indicators (tested in test_read_api.py)."""
        period, by = query.get("period", [""])[0], query.get("by", ["department"])[0]
        self.calls.append((period, by))
        if period != "2023":
            return 400, {"error": f"invalid period {period!r}"}
        return 200, {"period": {"label": period}, "groups": [], "by": by}

    def lists(self, rest: str, query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        self.calls.append((rest, json.dumps(query, sort_keys=True)))
        return (200, {"list": rest}) if rest == "overdue" else (404, {"error": f"no list {rest!r}"})

    def api(self) -> dict[str, Any]:
        return {"/api/v1/indicators": self.indicators, "/api/v1/lists/": self.lists}


Serve = Callable[..., tuple[_Fixture, HttpServer]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Starts servers on 127.0.0.1 (OS-chosen ports) with HttpServer's keyword options; stops them after."""
    servers: list[HttpServer] = []

    def start(**options: Any) -> tuple[_Fixture, HttpServer]:
        fixture = _Fixture()
        server = HttpServer("127.0.0.1", 0, fixture.registry, fixture.readiness, fixture.api(), **options)
        server.start()
        servers.append(server)
        return fixture, server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def served(serve: Serve) -> tuple[_Fixture, str]:
    """A server without a web configuration; yields its fixture and base URL."""
    fixture, server = serve()
    return fixture, f"http://127.0.0.1:{server.port}"


@pytest.fixture
def guarded(serve: Serve) -> tuple[_Fixture, str]:
    """A plain-HTTP server with one basic-auth user (prometheus) and a configured response header."""
    web_config = WebConfig(
        users={"prometheus": _HASH}, response_headers={"X-Content-Type-Options": "nosniff"}
    )
    fixture, server = serve(web_config=web_config)
    return fixture, f"http://127.0.0.1:{server.port}"


class _Answer(NamedTuple):
    status: int
    headers: Message
    body: str


def _request(url: str, headers: dict[str, str] | None = None) -> _Answer:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback test server
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310 - loopback
            return _Answer(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as error:
        return _Answer(error.code, error.headers, error.read().decode())


def _get(url: str) -> tuple[int, str, str]:
    answer = _request(url)
    return answer.status, answer.headers["Content-Type"], answer.body


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_metrics_serves_the_registry(served: tuple[_Fixture, str]) -> None:
    """/metrics answers 200 with the Prometheus text format of the registry."""
    _, base = served
    status, content_type, body = _get(base + "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=")
    assert "supervision_ready 1.0" in body


def test_healthz_is_always_ok(served: tuple[_Fixture, str]) -> None:
    """/healthz answers 200 even when the daemon is not ready."""
    fixture, base = served
    fixture.reasons.append("store: down")
    assert _get(base + "/healthz")[0] == 200


def test_readyz_says_why_it_is_not_ready(served: tuple[_Fixture, str]) -> None:
    """/readyz is 200 when ready and 503 with every reason when not."""
    fixture, base = served
    assert _get(base + "/readyz")[::2] == (200, "ready\n")
    fixture.reasons.extend(["broker unreachable", "restoring state of 2 partitions"])
    status, _, body = _get(base + "/readyz")
    assert status == 503
    assert body == "not ready: broker unreachable; restoring state of 2 partitions\n"


def test_an_api_route_gets_its_query_and_its_status_and_json_go_out(served: tuple[_Fixture, str]) -> None:
    """An exact API path is handed the parsed query; its (status, JSON) is the answer as given."""
    fixture, base = served
    status, content_type, body = _get(base + "/api/v1/indicators?period=2023&by=division")
    assert (status, content_type) == (200, "application/json; charset=utf-8")
    assert json.loads(body)["by"] == "division"
    assert fixture.calls == [("2023", "division")]
    status, _, body = _get(base + "/api/v1/indicators?period=last-week")
    assert (status, json.loads(body)) == (400, {"error": "invalid period 'last-week'"})


def test_a_prefix_api_route_gets_what_follows_its_path(served: tuple[_Fixture, str]) -> None:
    """/api/v1/lists/<what> hands <what> and the query to the lists' answer, and its 404 goes out."""
    fixture, base = served
    status, _, body = _get(base + "/api/v1/lists/overdue?department=330200.scjgj&limit=5")
    assert (status, json.loads(body)) == (200, {"list": "overdue"})
    assert fixture.calls == [("overdue", json.dumps({"department": ["330200.scjgj"], "limit": ["5"]}))]
    assert _get(base + "/api/v1/lists/everything")[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD", "OPTIONS", "TRACE", "QUERY"])
def test_every_method_but_get_is_405_with_allow_get(served: tuple[_Fixture, str], method: str) -> None:
    """Not the 501 of http.server: the server knows the method and refuses it, naming GET."""
    fixture, base = served
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=_TIMEOUT_S)
    try:
        connection.request(method, "/api/v1/indicators?period=2023")
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    assert (response.status, response.headers["Allow"]) == (405, "GET")
    assert fixture.calls == []


def test_a_blank_parameter_reaches_the_api_as_blank(served: tuple[_Fixture, str]) -> None:
    """``?period=`` is handed on as an empty value (the API refuses it), not dropped as if absent."""
    fixture, base = served
    assert _get(base + "/api/v1/indicators?period=")[0] == 400
    assert fixture.calls == [("", "department")]


def test_unknown_path_is_404(served: tuple[_Fixture, str]) -> None:
    """Anything else is a 404."""
    _, base = served
    assert _get(base + "/nope")[0] == 404


# ---------------------------------------------------------------------------------------------------
# Who may read it (docs/contract.md §10 "Access").

_PROTECTED = ["/metrics", "/api/v1/indicators?period=2023", "/api/v1/lists/overdue?limit=5"]


@pytest.mark.parametrize("path", _PROTECTED)
def test_protected_paths_without_credentials_get_a_401_challenge(
    guarded: tuple[_Fixture, str], path: str
) -> None:
    """With a user configured, /metrics and the API answer 401 with a Basic challenge and nothing else."""
    fixture, base = guarded
    answer = _request(base + path)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == WebConfig.www_authenticate
    assert "supervision_" not in answer.body
    assert fixture.calls == []  # the report never ran


@pytest.mark.parametrize("path", _PROTECTED)
@pytest.mark.parametrize(
    ("user", "password"),
    [("prometheus", "guess"), ("intruder", _PASSWORD)],
    ids=["wrong-password", "unknown"],
)
def test_protected_paths_refuse_wrong_credentials(
    guarded: tuple[_Fixture, str], path: str, user: str, password: str
) -> None:
    """A wrong password, or another user's name with the right one, is answered 401 with the challenge."""
    fixture, base = guarded
    answer = _request(base + path, _basic(user, password))
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == WebConfig.www_authenticate
    assert fixture.calls == []


def test_protected_paths_serve_the_right_password(guarded: tuple[_Fixture, str]) -> None:
    """The listed user's password reads /metrics and the API."""
    fixture, base = guarded
    metrics = _request(base + "/metrics", _basic("prometheus", _PASSWORD))
    assert (metrics.status, "supervision_ready 1.0" in metrics.body) == (200, True)
    api = _request(base + "/api/v1/indicators?period=2023", _basic("prometheus", _PASSWORD))
    assert api.status == 200
    assert fixture.calls == [("2023", "department")]


def test_unknown_api_paths_ask_for_credentials_before_saying_404(guarded: tuple[_Fixture, str]) -> None:
    """An /api/ path nobody serves is 401 to strangers and 404 to the user; other unknown paths are 404."""
    _, base = guarded
    assert _request(base + "/api/v2/everything").status == 401
    assert _request(base + "/api/v2/everything", _basic("prometheus", _PASSWORD)).status == 404
    assert _request(base + "/api/v1/indicators/", _basic("prometheus", _PASSWORD)).status == 404
    assert _request(base + "/nope").status == 404


def test_probes_are_open_by_default(guarded: tuple[_Fixture, str]) -> None:
    """With a user configured, /healthz and /readyz still answer without credentials, for kubelets."""
    fixture, base = guarded
    fixture.reasons.append("broker unreachable")
    assert _request(base + "/healthz").status == 200
    answer = _request(base + "/readyz")
    assert (answer.status, answer.body) == (503, "not ready: broker unreachable\n")


def test_closed_probes_ask_for_credentials(serve: Serve) -> None:
    """With probes_open false, /healthz and /readyz answer 401 without credentials and 200 with them."""
    _, server = serve(web_config=WebConfig(users={"prometheus": _HASH}), probes_open=False)
    base = f"http://127.0.0.1:{server.port}"
    for path in ("/healthz", "/readyz"):
        answer = _request(base + path)
        assert answer.status == 401
        assert answer.headers["WWW-Authenticate"] == WebConfig.www_authenticate
        assert _request(base + path, _basic("prometheus", _PASSWORD)).status == 200


def test_configured_headers_are_on_every_response(guarded: tuple[_Fixture, str]) -> None:
    """The web config's headers are on 200, 401, 404 and 405 answers, and on http.server's own 431."""
    _, base = guarded
    for path, status in (("/healthz", 200), ("/metrics", 401), ("/nope", 404)):
        answer = _request(base + path)
        assert answer.status == status
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=_TIMEOUT_S)
    try:
        connection.request("POST", "/metrics")
        response = connection.getresponse()
        assert response.status == 405
        assert response.getheader("X-Content-Type-Options") == "nosniff"
    finally:
        connection.close()
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=_TIMEOUT_S) as raw:
        raw.sendall(b"GET /metrics HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(101)) + b"\r\n")
        received = b""
        while chunk := raw.recv(4096):
            received += chunk
    assert received.startswith(b"HTTP/1.0 431")  # too many headers
    assert b"X-Content-Type-Options: nosniff" in received


def test_requests_past_the_rate_limit_get_429_before_authentication(serve: Serve) -> None:
    """Past rate_limit every request is a 429, the right password and the probes included."""
    web_config = WebConfig(
        users={"prometheus": _HASH},
        response_headers={"X-Content-Type-Options": "nosniff"},
        rate_limit=(3600.0, 2),  # a burst of two, then one an hour
    )
    _, server = serve(web_config=web_config)
    base = f"http://127.0.0.1:{server.port}"
    assert _request(base + "/healthz").status == 200
    assert _request(base + "/metrics").status == 401
    refused = _request(base + "/metrics", _basic("prometheus", _PASSWORD))
    assert refused.status == 429
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert _request(base + "/healthz").status == 429


def test_no_credentials_reach_the_log(
    guarded: tuple[_Fixture, str], capfd: pytest.CaptureFixture[str]
) -> None:
    """Neither a wrong nor a right password, nor the Authorization header, is logged or printed."""
    _, base = guarded
    tried = [
        _basic("prometheus", "guess-1234"),
        _basic("prometheus", _PASSWORD),
        {"Authorization": "Basic !!"},
    ]
    with structlog.testing.capture_logs() as logs:
        for headers in tried:
            _request(base + "/metrics", headers)
    out, err = capfd.readouterr()
    printed = out + err + repr(logs)
    for secret in ("guess-1234", _PASSWORD, *(headers["Authorization"] for headers in tried)):
        assert secret not in printed


# --- TLS -------------------------------------------------------------------------------------------


def _tls_web_config(directory: Path, server: Issued, text: str = "") -> WebConfig:
    path = directory / "web-config.yml"
    path.write_text(
        f"tls_server_config:\n  cert_file: {server.cert}\n  key_file: {server.key}\n{text}"
        f"basic_auth_users:\n  prometheus: {_HASH}\n",
        encoding="utf-8",
    )
    return load_web_config(path)


def _client_context(authority: CertificateAuthority, certificate: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(authority.cert))
    if certificate is not None:
        context.load_cert_chain(certificate.cert, certificate.key)
    return context


def _https_get(
    server: HttpServer, path: str, context: ssl.SSLContext, headers: dict[str, str] | None = None
) -> int:
    connection = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=_TIMEOUT_S)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_tls_server_keeps_serving_after_failed_handshakes(
    serve: Serve, tmp_path: Path, authority: CertificateAuthority, server_certificate: Issued
) -> None:
    """With tls_server_config it speaks HTTPS only; plain HTTP and an untrusting client do not stop it."""
    _, server = serve(web_config=_tls_web_config(tmp_path, server_certificate))
    assert server.scheme == "https"
    with socket.create_connection(("127.0.0.1", server.port), timeout=_TIMEOUT_S) as plain:
        plain.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        received = b""
        while chunk := plain.recv(4096):  # the server closes the connection after the failed handshake
            received += chunk
        assert not received.startswith(b"HTTP/")
    with pytest.raises(ssl.SSLCertVerificationError):
        _https_get(server, "/healthz", ssl.create_default_context())
    trusting = _client_context(authority)
    assert _https_get(server, "/healthz", trusting) == 200
    assert _https_get(server, "/metrics", trusting) == 401
    assert _https_get(server, "/metrics", trusting, _basic("prometheus", _PASSWORD)) == 200


def test_client_without_the_required_certificate_is_refused(
    serve: Serve, tmp_path: Path, authority: CertificateAuthority, server_certificate: Issued
) -> None:
    """With RequireAndVerifyClientCert a client without a certificate gets no answer, one from the CA does."""
    clients = f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {authority.cert}\n"
    _, server = serve(web_config=_tls_web_config(tmp_path, server_certificate, clients))
    with pytest.raises(_REFUSED):
        _https_get(server, "/healthz", _client_context(authority))
    scraper = _client_context(authority, authority.issue("scraper", client=True))
    assert _https_get(server, "/healthz", scraper) == 200
    assert _https_get(server, "/metrics", scraper) == 401  # a certificate does not replace the password
    assert _https_get(server, "/metrics", scraper, _basic("prometheus", _PASSWORD)) == 200
