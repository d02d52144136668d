"""Tests of daemon.tools.control: the demo's control port, over real HTTP on a free loopback port."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from daemon.tools.control import ControlServer
from daemon.tools.incidents import NAMES, Incidents

_TIMEOUT_S = 5.0


class Answer(NamedTuple):
    status: int
    headers: http.client.HTTPMessage
    body: dict[str, Any]


@pytest.fixture
def incidents() -> Incidents:
    return Incidents()


@pytest.fixture
def server(incidents: Incidents) -> Iterator[ControlServer]:
    with ControlServer(incidents, host="127.0.0.1", port=0) as running:
        yield running


def _call(server: ControlServer, method: str, path: str, body: bytes | None = None) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=_TIMEOUT_S)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        payload = response.read()
        assert response.getheader("Content-Type") == "application/json; charset=utf-8"
        return Answer(response.status, response.headers, json.loads(payload) if payload else {})
    finally:
        connection.close()


def _raw(server: ControlServer, request: bytes) -> tuple[int, dict[str, Any]]:
    """Send bytes as they are (what http.client would refuse to), and read the status and JSON body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=_TIMEOUT_S) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_the_url_names_the_collection_on_the_port_bound() -> None:
    """Port 0 binds a free port, which `port` and `url` report."""
    with ControlServer(Incidents(), port=0) as server:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/incidents"


def test_only_loopback_addresses_may_be_bound() -> None:
    """The port has no authentication: anything but loopback is refused before binding."""
    with pytest.raises(ValueError, match="loopback only"):
        ControlServer(Incidents(), host="0.0.0.0", port=0)


def test_the_collection_lists_every_incident_with_its_alert_and_the_active_ones(
    server: ControlServer, incidents: Incidents
) -> None:
    """GET /incidents: each incident as `Incident.to_json` in NAMES order, and which are active."""
    incidents.start("silent-topic")
    answer = _call(server, "GET", "/incidents")
    assert answer.status == 200
    assert [known["name"] for known in answer.body["known"]] == list(NAMES)
    assert answer.body["known"] == [incident.to_json() for incident in incidents.all()]
    assert answer.body["active"] == ["silent-topic"]
    assert _call(server, "GET", "/incidents/").body == answer.body


def test_one_incident_is_described_with_whether_it_is_active(server: ControlServer) -> None:
    """GET /incidents/<name>: what it fires, with which labels."""
    answer = _call(server, "GET", "/incidents/exposed-id")
    assert answer.status == 200
    assert answer.body["active"] is False
    assert answer.body["incident"]["alert"] == "SupervisionPersonalInfoExposed"
    assert answer.body["incident"]["labels"]["violation"] == "personal_info_exposed"


def test_post_starts_and_delete_stops_each_only_once(server: ControlServer, incidents: Incidents) -> None:
    """Starting a running incident or stopping a stopped one answers 200 with changed false, and logs
    nothing: the producer sees one start and one stop."""
    first = _call(server, "POST", "/incidents/bad-release")
    assert (first.status, first.body) == (200, {"name": "bad-release", "active": True, "changed": True})
    again = _call(server, "POST", "/incidents/bad-release")
    assert (again.status, again.body) == (200, {"name": "bad-release", "active": True, "changed": False})
    assert incidents.active() == {"bad-release"}
    assert _call(server, "GET", "/incidents").body["active"] == ["bad-release"]
    stop = _call(server, "DELETE", "/incidents/bad-release")
    assert (stop.status, stop.body) == (200, {"name": "bad-release", "active": False, "changed": True})
    again = _call(server, "DELETE", "/incidents/bad-release")
    assert (again.status, again.body) == (200, {"name": "bad-release", "active": False, "changed": False})
    assert incidents.active() == frozenset()
    assert incidents.changes_since(0) == (2, [("bad-release", True), ("bad-release", False)])


def test_a_request_body_is_ignored(server: ControlServer, incidents: Incidents) -> None:
    """A client that posts JSON (or anything) still just starts the incident."""
    answer = _call(server, "POST", "/incidents/stalled-department", body=b'{"department": "x"}')
    assert answer.status == 200
    assert incidents.active() == {"stalled-department"}


def test_an_unknown_incident_is_a_404_that_names_the_known_ones(
    server: ControlServer, incidents: Incidents
) -> None:
    """For every method: nothing changes, and the body says what exists."""
    for method in ("GET", "POST", "DELETE"):
        answer = _call(server, method, "/incidents/no-such-thing")
        assert answer.status == 404
        assert answer.body == {"error": "unknown incident 'no-such-thing'", "known": list(NAMES)}
    assert incidents.active() == frozenset()
    assert incidents.changes_since(0) == (0, [])


def test_a_percent_encoded_name_is_decoded(server: ControlServer) -> None:
    """/incidents/exposed%2Did is exposed-id; undecodable bytes are an unknown name, not an error."""
    assert _call(server, "GET", "/incidents/exposed%2Did").status == 200
    answer = _call(server, "GET", "/incidents/%ff%fe")
    assert answer.status == 404
    assert "unknown incident" in answer.body["error"]


def test_another_path_is_a_404_that_points_to_the_collection(server: ControlServer) -> None:
    for path in ("/", "/metrics", "/incidentsx", "/incident/exposed-id"):
        answer = _call(server, "GET", path)
        assert (answer.status, answer.body) == (404, {"error": "no such path; try /incidents"}), path


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/incidents", "GET, HEAD"), ("/incidents/exposed-id", "GET, HEAD, POST, DELETE")],
)
@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS"])
def test_a_wrong_method_is_a_405_with_allow(
    server: ControlServer, path: str, allowed: str, method: str
) -> None:
    """POST/DELETE on the collection, PUT/PATCH/OPTIONS anywhere: 405, Allow, and a JSON sentence."""
    answer = _call(server, method, path)
    assert answer.status == 405
    assert answer.headers["Allow"] == allowed
    assert answer.body == {"error": f"use {allowed}"}


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_the_collection_cannot_be_started_or_stopped(
    server: ControlServer, incidents: Incidents, method: str
) -> None:
    answer = _call(server, method, "/incidents")
    assert (answer.status, answer.headers["Allow"]) == (405, "GET, HEAD")
    assert incidents.active() == frozenset()


def test_head_answers_as_get_without_a_body(server: ControlServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=_TIMEOUT_S)
    try:
        connection.request("HEAD", "/incidents")
        response = connection.getresponse()
        assert response.status == 200
        assert int(response.getheader("Content-Length") or 0) > 0
        assert response.read() == b""
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"GET /incidents HTTP/9.9\r\n\r\n", 505),
        (b"GET /incidents HTTP/1.0\r\n" + b"X-Many: header\r\n" * 101 + b"\r\n", 431),
        (b"BREW /incidents HTTP/1.0\r\n\r\n", 501),
        (b"GET /" + b"x" * 70_000 + b" HTTP/1.0\r\n\r\n", 414),
    ],
    ids=["garbage", "version", "headers", "unknown-method", "too-long"],
)
def test_a_malformed_request_gets_a_json_error_and_no_traceback(
    server: ControlServer, capfd: pytest.CaptureFixture[str], request_bytes: bytes, status: int
) -> None:
    """The stdlib's refusals come as JSON like every answer; nothing is written to the terminal."""
    got, body = _raw(server, request_bytes)
    assert got == status
    assert isinstance(body["error"], str)
    assert body["error"]
    assert _call(server, "GET", "/incidents").status == 200  # still serving
    captured = capfd.readouterr()
    assert captured.out == captured.err == ""


def test_a_client_hanging_up_leaves_no_traceback(
    server: ControlServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Connections closed before, during and right after a request: the server shrugs and serves on."""
    for partial in (b"", b"GET /incid", b"GET /incidents HTTP/1.0\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=_TIMEOUT_S) as connection:
            connection.sendall(partial)
    with socket.create_connection(("127.0.0.1", server.port), timeout=_TIMEOUT_S) as connection:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        connection.sendall(b"GET /incidents HTTP/1.0\r\n\r\n")
    assert _call(server, "GET", "/incidents").status == 200
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_stop_closes_the_port_and_may_be_called_twice(incidents: Incidents) -> None:
    """After the context manager (or `stop`) nothing listens; stopping a never-started server is fine."""
    with ControlServer(incidents) as server:
        port = server.port
        assert _call(server, "GET", "/incidents").status == 200
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=_TIMEOUT_S).close()
    server.stop()
    idle = ControlServer(incidents)
    idle.stop()
    idle.stop()
