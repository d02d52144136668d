"""HTTP surface: /metrics, /healthz (liveness), /readyz (readiness with reasons), /api/v1/indicators.

Served from a daemon thread so it keeps answering while the consumer loop waits on a broker or a
store that is down (docs/contract.md §9.5).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from daemon.exceptions import StoreError

Readiness = Callable[[], list[str]]  # reasons for not being ready; empty = ready
IndicatorApi = Callable[[str, str], dict[str, Any]]  # (period, by) -> JSON; ValueError 400, LookupError 503


class HttpServer:
    """A small threaded HTTP server bound to the configured address."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Readiness,
        indicators: IndicatorApi,
    ) -> None:
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # access logs would drown the daemon's own; Prometheus scrapes every few seconds

        self._registry = registry
        self._readiness = readiness
        self._indicators = indicators
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="svmon-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlparse(request.path)
        if url.path == "/metrics":
            self._send(request, 200, generate_latest(self._registry), CONTENT_TYPE_LATEST)
        elif url.path == "/healthz":
            self._send(request, 200, b"ok\n", "text/plain; charset=utf-8")
        elif url.path == "/readyz":
            reasons = self._readiness()
            body = ("ready\n" if not reasons else "not ready: " + "; ".join(reasons) + "\n").encode()
            self._send(request, 503 if reasons else 200, body, "text/plain; charset=utf-8")
        elif url.path == "/api/v1/indicators":
            query = parse_qs(url.query)
            period = query.get("period", [""])[0]
            by = query.get("by", ["department"])[0]
            try:
                payload = self._indicators(period, by)
            except ValueError as exc:
                self._json(request, 400, {"error": str(exc)})
                return
            except LookupError as exc:  # nothing checkpointed yet: try again later, not a bad request
                self._json(request, 503, {"error": str(exc)})
                return
            except StoreError as exc:  # the store is away (an outage): try again later too
                self._json(request, 503, {"error": str(exc)})
                return
            self._json(request, 200, payload)
        else:
            self._send(request, 404, b"not found\n", "text/plain; charset=utf-8")

    def _json(self, request: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False, indent=2).encode()
        self._send(request, status, body, "application/json; charset=utf-8")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
