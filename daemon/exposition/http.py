"""HTTP surface: /metrics, /healthz (liveness), /readyz (readiness with reasons), and the JSON API.

Served from a daemon thread so it keeps answering while the consumer loop waits on a broker or a
store that is down (docs/contract.md §9.5). Who may read it is the web configuration's business
(docs/contract.md §10 "Access", `daemon.exposition.access.WebConfig`): TLS on the socket, 429 past
the rate limit (before anything else, as in the exporter toolkit), 401 with a challenge on a protected
route without a listed user's password, and the configured headers on every response.

The paths are one table, `HttpServer._routes`: a path (a prefix when it ends in ``/``), the method
that answers it, and whether it needs credentials. The API's paths and answers are given by the
caller (``daemon.reports.api.ReadApi``, wired by the runtime): this module knows HTTP, not reports.
An exact path wins over a prefix, a longer prefix over a shorter one; the ``/api/`` prefix route
answers 404 to the API paths nobody serves, after the credentials check, so that an anonymous
client cannot tell which API paths exist.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from daemon.exposition.access import TlsThreadingHTTPServer, WebConfig

__all__ = ["HttpServer", "JsonAnswer", "Readiness", "Reply", "Request", "Route"]

Readiness = Callable[[], list[str]]  # reasons for not being ready; empty = ready
#: An API path's answer: (what follows a prefix path, the query) -> (status, JSON body).
JsonAnswer = Callable[[str, Mapping[str, list[str]]], tuple[int, Mapping[str, Any]]]

_TEXT = "text/plain; charset=utf-8"
_JSON = "application/json; charset=utf-8"


class Request(NamedTuple):
    """What a route's method is given: the path, what follows the route's prefix, the query."""

    path: str
    rest: str  # after a prefix route's path ("/api/v1/lists/" -> "overdue"); "" for an exact route
    query: Mapping[str, list[str]]

    def parameter(self, name: str, default: str = "") -> str:
        """The first value of query parameter *name*, else *default*."""
        return self.query.get(name, [default])[0]


class Reply(NamedTuple):
    """A route's answer."""

    status: int
    body: bytes
    content_type: str

    @classmethod
    def text(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode(), _TEXT)

    @classmethod
    def json(cls, status: int, payload: Mapping[str, Any]) -> Reply:
        # Compact: indent=2 takes Python's pure encoder, 5.0 against 1.7 ms a 1000-item list page.
        return cls(status, json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(), _JSON)


@dataclass(frozen=True)
class Route:
    """One row of the routing table: *path* (a prefix when it ends in ``/``), its method, its access."""

    path: str
    answer: Callable[[Request], Reply]
    protected: bool  # needs a listed user's credentials when the web configuration lists users

    @property
    def is_prefix(self) -> bool:
        return self.path.endswith("/")


_NOT_FOUND = Reply.text(404, "not found\n")
_UNAUTHORIZED = Reply.text(401, "unauthorized\n")
_TOO_MANY_REQUESTS = Reply.text(429, "too many requests\n")
_METHOD_NOT_ALLOWED = Reply.text(405, "only GET is served\n")
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_NO_API: Mapping[str, JsonAnswer] = MappingProxyType({})


def _not_found(request: Request) -> Reply:
    return _NOT_FOUND


class HttpServer:
    """A small threaded HTTP(S) server bound to the configured address, guarded by *web_config*.

    *web_config* defaults to the open configuration (plain HTTP, no credentials). With
    *probes_open* (the default) /healthz and /readyz answer without credentials, so that kubelets and
    load balancers can probe; /metrics and every /api/ path always need them when users are listed.
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Readiness,
        api: Mapping[str, JsonAnswer] = _NO_API,
        *,
        web_config: WebConfig | None = None,
        probes_open: bool = True,
    ) -> None:
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._handle(self)

            def __getattr__(self, name: str) -> Any:
                # http.server answers a method without a do_<METHOD> with 501 Not Implemented; every
                # method but GET is one this server knows and refuses: 405 with the one it allows.
                if name.startswith("do_"):
                    return lambda: outer._send(self, _METHOD_NOT_ALLOWED, {"Allow": "GET"})
                raise AttributeError(name)

            def end_headers(self) -> None:
                # Here rather than in _send, so that http.server's own answers (400, 414, 501) carry
                # the configured headers too: the toolkit adds them to every response.
                for name, value in outer._web_config.response_headers.items():
                    self.send_header(name, value)
                super().end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                # Access logs would drown the daemon's own (Prometheus scrapes every few seconds), and
                # nothing from a request (its Authorization header least of all) belongs in the log.
                return

        self._registry = registry
        self._readiness = readiness
        self._web_config = web_config if web_config is not None else WebConfig()
        self._routes = _RouteTable(
            Route("/metrics", self._metrics, protected=True),
            Route("/healthz", self._healthz, protected=not probes_open),
            Route("/readyz", self._readyz, protected=not probes_open),
            *(Route(path, _json_route(answer), protected=True) for path, answer in api.items()),
            Route("/api/", _not_found, protected=True),
        )
        self._server = TlsThreadingHTTPServer((host, port), _Handler, self._web_config)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="svmon-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        """``https`` when the web configuration sets up TLS, else ``http``."""
        return "http" if self._web_config.ssl_context() is None else "https"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- dispatch -------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if not self._web_config.allow_request():
            self._send(request, _TOO_MANY_REQUESTS)
            return
        url = urlsplit(request.path)
        found = self._routes.find(url.path)
        if found is None:
            self._send(request, _NOT_FOUND)
            return
        route, rest = found
        if route.protected and not self._web_config.authorized(request.headers.get("Authorization")):
            self._send(request, _UNAUTHORIZED, {"WWW-Authenticate": self._web_config.www_authenticate})
            return
        query = parse_qs(url.query, keep_blank_values=True)
        self._send(request, route.answer(Request(url.path, rest, query)))

    @staticmethod
    def _send(
        request: BaseHTTPRequestHandler, reply: Reply, headers: Mapping[str, str] = _NO_HEADERS
    ) -> None:
        request.send_response(reply.status)
        request.send_header("Content-Type", reply.content_type)
        request.send_header("Content-Length", str(len(reply.body)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(reply.body)

    # --- the routes -----------------------------------------------------------------------------

    def _metrics(self, request: Request) -> Reply:
        return Reply(200, generate_latest(self._registry), CONTENT_TYPE_LATEST)

    def _healthz(self, request: Request) -> Reply:
        return Reply.text(200, "ok\n")

    def _readyz(self, request: Request) -> Reply:
        reasons = self._readiness()
        if reasons:
            return Reply.text(503, "not ready: " + "; ".join(reasons) + "\n")
        return Reply.text(200, "ready\n")


def _json_route(answer: JsonAnswer) -> Callable[[Request], Reply]:
    def route(request: Request) -> Reply:
        status, payload = answer(request.rest, request.query)
        return Reply.json(status, payload)

    return route


class _RouteTable:
    """The routes, looked up by path: an exact route first, else the longest prefix route."""

    def __init__(self, *routes: Route) -> None:
        self._exact = {route.path: route for route in routes if not route.is_prefix}
        self._prefixes = sorted(
            (route for route in routes if route.is_prefix), key=lambda route: len(route.path), reverse=True
        )

    def find(self, path: str) -> tuple[Route, str] | None:
        """The route serving *path* and what follows its prefix ("" for an exact route), or None."""
        exact = self._exact.get(path)
        if exact is not None:
            return exact, ""
        for route in self._prefixes:
            if path.startswith(route.path):
                return route, path[len(route.path) :]
        return None
