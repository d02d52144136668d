"""Tests of daemon.exposition.http on a free loopback port: /metrics, /healthz, /readyz, the API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Gauge

from daemon.exceptions import StoreError
from daemon.exposition.http import HttpServer
from daemon.reports.report import EmptyStoreError


class _Fixture:
    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.registry = CollectorRegistry()
        Gauge("supervision_ready", "1 when ready.", registry=self.registry).set(1)

    def readiness(self) -> list[str]:
        return list(self.reasons)

    def indicators(self, period: str, by: str) -> dict[str, Any]:
        self.calls.append((period, by))
        if period == "2031":
            raise EmptyStoreError("sqlite:///nowhere.db")
        if period == "2032":
            raise StoreError("cannot connect to PostgreSQL store postgresql://svmon@127.0.0.1/x: refused")
        if period != "2023":
            raise ValueError(f"invalid period {period!r}")
        return {"period": {"label": period}, "groups": [], "by": by}


@pytest.fixture
def served() -> Iterator[tuple[_Fixture, str]]:
    """A server on 127.0.0.1 with an OS-chosen port, stopped after the test."""
    fixture = _Fixture()
    server = HttpServer("127.0.0.1", 0, fixture.registry, fixture.readiness, fixture.indicators)
    server.start()
    try:
        yield fixture, f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


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


def test_indicators_api_returns_the_report_json(served: tuple[_Fixture, str]) -> None:
    """/api/v1/indicators passes period and by through and returns the report as JSON."""
    fixture, base = served
    status, content_type, body = _get(base + "/api/v1/indicators?period=2023&by=division")
    assert (status, content_type) == (200, "application/json; charset=utf-8")
    assert json.loads(body)["by"] == "division"
    assert fixture.calls == [("2023", "division")]


def test_indicators_api_rejects_a_bad_query_with_400(served: tuple[_Fixture, str]) -> None:
    """A query the report cannot answer is a 400 with the reason in JSON."""
    _, base = served
    status, _, body = _get(base + "/api/v1/indicators?period=last-week")
    assert status == 400
    assert "invalid period" in json.loads(body)["error"]


def test_indicators_api_answers_503_while_the_store_has_no_data(served: tuple[_Fixture, str]) -> None:
    """An empty store is not a bad request: the API says so with a 503, to be retried later."""
    _, base = served
    status, _, body = _get(base + "/api/v1/indicators?period=2031")
    assert status == 503
    assert "no indicator data yet" in json.loads(body)["error"]


def test_indicators_api_answers_503_while_the_store_is_away(served: tuple[_Fixture, str]) -> None:
    """A store outage is not a server bug: 503 with the reason, and the server keeps serving."""
    _, base = served
    status, _, body = _get(base + "/api/v1/indicators?period=2032")
    assert status == 503
    assert "cannot connect to PostgreSQL store" in json.loads(body)["error"]
    assert _get(base + "/healthz")[0] == 200


def test_unknown_path_is_404(served: tuple[_Fixture, str]) -> None:
    """Anything else is a 404."""
    _, base = served
    assert _get(base + "/nope")[0] == 404
