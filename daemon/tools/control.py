"""The demo's control port: start and stop incidents over loopback HTTP while the demo runs.

::

    GET    /incidents          {"known": [<incident>...], "active": [<name>...]}
    GET    /incidents/<name>   {"incident": <incident>, "active": bool}
    POST   /incidents/<name>   start it:  {"name", "active": true, "changed": bool}
    DELETE /incidents/<name>   stop it:   {"name", "active": false, "changed": bool}

``changed`` is false when the incident already was in that state.  An unknown incident is a 404
whose body lists the known ones; HEAD answers as GET without the body; any other method on these
paths is a 405 with ``Allow``; any other path a 404; a malformed request a 400.  Every answer,
errors included, is a JSON object, errors as ``{"error": <sentence>}``.  `<incident>` is
`daemon.tools.incidents.Incident.to_json`: the alert it fires, the labels, how long it takes.

The server binds loopback only (it changes what the demo produces, and has no authentication),
runs on daemon threads so it never keeps the demo alive, and logs nothing about requests.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from daemon.tools.incidents import Incidents

__all__ = ["ControlServer"]

_PREFIX = "/incidents"
_COLLECTION_METHODS = ("GET", "HEAD")
_ITEM_METHODS = ("GET", "HEAD", "POST", "DELETE")


class _Handler(BaseHTTPRequestHandler):
    """Routes the control requests to the server's `Incidents`; every answer is JSON."""

    server: _Server
    # HTTP/1.0: one request per connection, so an unread request body can never be taken for the
    # next request.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Nothing of a request is logged (the stdlib would write each one to stderr)."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (a malformed request line or header, an unknown method) in JSON
        like every other answer, instead of its HTML page."""
        status = HTTPStatus(code)
        self.close_connection = True
        # A request line the stdlib could not read leaves the HTTP/0.9 default, which has no status
        # line or headers: answer in the version this server speaks instead.
        self.request_version = self.protocol_version
        self._answer(status, {"error": message or status.phrase})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # The other common methods get the same routing (a JSON 405 on a known path) rather than the
    # stdlib's HTML 501 page.

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    def do_OPTIONS(self) -> None:
        self._route("OPTIONS")

    def _route(self, method: str) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        method = "GET" if method == "HEAD" else method  # the same answer, without its body
        incidents = self.server.incidents
        if path == _PREFIX:
            if method not in _COLLECTION_METHODS:
                self._not_allowed(_COLLECTION_METHODS)
                return
            self._answer(HTTPStatus.OK, _listing(incidents))
            return
        if not path.startswith(_PREFIX + "/"):
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path; try {_PREFIX}"})
            return
        if method not in _ITEM_METHODS:
            self._not_allowed(_ITEM_METHODS)
            return
        name = unquote(path.removeprefix(_PREFIX + "/"))
        if name not in incidents.NAMES:
            body = {"error": f"unknown incident {name!r}", "known": list(incidents.NAMES)}
            self._answer(HTTPStatus.NOT_FOUND, body)
            return
        self._answer(HTTPStatus.OK, _act(incidents, method, name))

    def _not_allowed(self, allowed: tuple[str, ...]) -> None:
        self._answer(
            HTTPStatus.METHOD_NOT_ALLOWED,
            {"error": f"use {', '.join(allowed)}"},
            headers={"Allow": ", ".join(allowed)},
        )

    def _answer(
        self, status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _listing(incidents: Incidents) -> dict[str, Any]:
    return {
        "known": [incident.to_json() for incident in incidents.all()],
        "active": sorted(incidents.active()),
    }


def _act(incidents: Incidents, method: str, name: str) -> dict[str, Any]:
    """Describe, start or stop incident `name` (a known one)."""
    if method == "GET":
        return {"incident": incidents.describe(name).to_json(), "active": incidents.is_active(name)}
    if method == "POST":
        return {"name": name, "active": True, "changed": incidents.start(name)}
    return {"name": name, "active": False, "changed": incidents.stop(name)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Restarting the demo on the same port must not wait for TIME_WAIT to clear.
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is its own business: no traceback on the demo's screen.

        Anything else is a bug of this module, and the stdlib's traceback says where.
        """
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], incidents: Incidents) -> None:
        self.incidents = incidents
        if ipaddress.ip_address(address[0]).version == 6:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class ControlServer:
    """The control port on ``host:port`` (port 0: a free one, see `port`), served by a daemon thread."""

    def __init__(self, incidents: Incidents, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the control port binds loopback only, not {host}")
        self._server = _Server((host, port), incidents)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        return f"http://{host}:{self.port}{_PREFIX}"

    def start(self) -> ControlServer:
        """Serve on a daemon thread; returns self."""
        # A short poll: `stop` (shutdown) waits for the loop's next look at its flag.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="svmon-demo-control", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
