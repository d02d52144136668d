"""The drill-down API of a real ``svmon run`` over Kafka: its lists, its OpenAPI, its agreement.

A generated year goes through Tansu into the daemon. Its ``/api/v1/lists/<what>`` pages, walked by
cursor, must hold what the generator says is on each list (``Scenario.lists``), exactly what
``svmon list --format json`` prints from the same store, and as many entries as the daemon's own
state gauges on ``/metrics``. Then schemathesis drives every API operation of the OpenAPI document
against the daemon: every answer, to valid and to invalid requests, must be the documented one.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from daemon.core.timeutil import SHANGHAI
from daemon.reports.openapi import openapi_document
from schemas.registry import load_registry
from seeds.scenario import Scenario, ScenarioLists, generate
from tests.daemon_process import Daemon
from tests.integration.test_exactness import caught_up
from tests.integration.test_outage import merge, new_topics, produce_half
from tests.services import Broker, unique_name, wait_for

pytestmark = pytest.mark.integration

SEED, SCALE = 1303, 0.05
WHATS = ("overdue", "open", "violations", "requests", "errors")
_GAUGE = re.compile(r"^(?P<name>supervision_[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


# --- schemathesis: how to make the values of svmon's own string formats ---------------------------

_DAYS = st.dates(date(2019, 1, 1), date(2026, 12, 31))
_YEARS = st.integers(2019, 2026)
_PERIODS = st.one_of(
    _YEARS.map(str),
    st.builds(lambda year, quarter: f"{year}Q{quarter}", _YEARS, st.integers(1, 4)),
    st.builds(lambda year, month: f"{year}-{month:02}", _YEARS, st.integers(1, 12)),
    _DAYS.map(date.isoformat),
    st.lists(_DAYS, min_size=2, max_size=2).map(sorted).map(lambda days: f"{days[0]}..{days[1]}"),
)
# Any (rank, key) is a cursor the server must accept: it starts the page after that place.
_CURSORS = st.builds(
    lambda rank, key: base64.urlsafe_b64encode(json.dumps([rank, key]).encode()).decode().rstrip("="),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
schemathesis.openapi.format("svmon-period", _PERIODS)
schemathesis.openapi.format("svmon-cursor", _CURSORS)
SCHEMA = schemathesis.openapi.from_dict(openapi_document(load_registry()))


# --- the daemon with a year in it ----------------------------------------------------------------


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(SEED, scale=SCALE)


@pytest.fixture(scope="module")
def daemon(broker: Broker, scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    workdir = tmp_path_factory.mktemp("list-api")
    topics = new_topics(broker, "lists")
    ends = merge(produce_half(broker, topics, scenario, 0), produce_half(broker, topics, scenario, 1))
    store = workdir / "state.db"
    daemon = Daemon(broker.bootstrap, f"sqlite:///{store}", topics, workdir, unique_name("lists"))
    daemon.start()
    try:
        wait_for(lambda: daemon.alive() and caught_up(store, ends), 180, "svmon to checkpoint the year")
        daemon.wait_ready()
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def truth(scenario: Scenario) -> ScenarioLists:
    return scenario.lists(datetime.now(SHANGHAI))


def _json(daemon: Daemon, path: str) -> dict[str, Any]:
    status, body = daemon.get(path)
    assert status == 200, body
    page: dict[str, Any] = json.loads(body)
    return page


def _walk(daemon: Daemon, what: str, limit: int = 40) -> tuple[int, list[dict[str, Any]]]:
    """Every item of a list, page by page, and the total the first page gave."""
    page = _json(daemon, f"/api/v1/lists/{what}?limit={limit}")
    total, items = page["total"], list(page["items"])
    while page["next_cursor"] is not None:
        cursor = urllib.parse.quote(page["next_cursor"])
        page = _json(daemon, f"/api/v1/lists/{what}?limit={limit}&cursor={cursor}")
        assert page["total"] == total
        items += page["items"]
    return total, items


def _gauges(daemon: Daemon) -> dict[str, float]:
    """The sum of each svmon state gauge over its label sets."""
    status, body = daemon.get("/metrics")
    assert status == 200
    sums: dict[str, float] = {}
    for sample in _GAUGE.finditer(body):
        sums[sample["name"]] = sums.get(sample["name"], 0.0) + float(sample["value"])
    return sums


def test_the_pages_hold_the_generators_lists(daemon: Daemon, truth: ScenarioLists) -> None:
    """Walked by cursor, each list is the generator's, each entry once."""
    walked = {what: _walk(daemon, what) for what in WHATS}
    for what, (total, items) in walked.items():
        assert total == len(items), what
    assert {i["event_id"] for i in walked["open"][1]} == set(truth.open_events)
    assert {i["event_id"] for i in walked["overdue"][1]} == set(truth.overdue_events)
    assert {i["disclosure_id"]: frozenset(i["violations"]) for i in walked["violations"][1]} == dict(
        truth.violating_disclosures
    )
    assert {i["request_id"] for i in walked["requests"][1]} == set(truth.open_requests)
    assert len(walked["errors"][1]) == len(truth.uncorrected_errors)
    # The scenario plants entries on the lists compared here: empty lists would prove nothing.
    assert truth.violating_disclosures
    assert truth.open_events
    assert truth.uncorrected_errors


def test_the_api_and_the_command_line_say_the_same(daemon: Daemon) -> None:
    """``svmon list WHAT --format json`` on the store prints the API's items, in the API's order."""
    for what in WHATS:
        printed = subprocess.run(
            [sys.executable, "-m", "daemon", "list", what, "--format", "json", "--store", daemon.store_url],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        answer = json.loads(printed.stdout)
        total, items = _walk(daemon, what)
        assert (answer["total"], answer["items"]) == (total, items), what


def test_the_totals_are_the_state_gauges(daemon: Daemon) -> None:
    """open, overdue and requests count what /metrics counts; each violation code likewise."""
    gauges = _gauges(daemon)
    assert _walk(daemon, "open")[0] == gauges["supervision_events_open"]
    assert _walk(daemon, "overdue")[0] == gauges["supervision_events_overdue"]
    assert _walk(daemon, "requests")[0] == gauges.get("supervision_disclosure_requests_open", 0)
    violations = sum(len(item["violations"]) for item in _walk(daemon, "violations")[1])
    assert violations == gauges["supervision_disclosure_violations"]


@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_the_documented_one(case: schemathesis.Case[Any], daemon: Daemon) -> None:
    """Valid and invalid requests alike get the status, content type and body the document says."""
    case.call_and_validate(base_url=daemon.url)


def test_the_daemon_serves_the_document_the_tests_drive(daemon: Daemon) -> None:
    """The document on /api/v1/openapi.json is the one above (the shipped registry)."""
    assert _json(daemon, "/api/v1/openapi.json") == openapi_document(load_registry())
