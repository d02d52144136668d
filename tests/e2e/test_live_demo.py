"""``svmon demo --live --prometheus`` as an ops engineer meets it: every rule and panel has data, alerts fire.

One demo runs for the whole module (a shortened year, then live traffic at the real time), with
Debian's Prometheus and Alertmanager started by the demo itself and the rules as committed, ``for:``
included. The tests read the demo's own Prometheus and Alertmanager, as a person with Grafana would:

- every metric family, every recording rule and every panel query of the committed dashboards
  (variables substituted as Grafana would) returns data within five minutes of the start, at
  whatever hour the suite runs;
- ``exposed-id`` started and stopped at run time through the control port makes
  ``SupervisionPersonalInfoExposed`` fire with its labels, shown in the demo's summary, and resolve;
- ``bad-release`` and ``stalled-department``, given with ``--incident``, make their burn-rate
  alerts' conditions hold for their department (Prometheus holds them pending, or firing once
  ``for:`` has passed); firing and resolving in full takes most of an hour with the committed
  windows, and is ``tests/e2e/test_live_incidents.py`` (slow);
- SIGINT stops everything the demo started: no process is left.
"""

from __future__ import annotations

import signal
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from daemon.exceptions import SourceError
from daemon.tools.broker import broker_binary
from daemon.tools.incidents import BAD_RELEASE, EXPOSED_ID, STALLED_DEPARTMENT, Incidents
from daemon.tools.monitoring import Unavailable, find_binaries
from deploy.grafana import build
from tests.demo_process import Demo, http_json, start_demo, still_running
from tests.e2e.prometheus_fixtures import load_rule_groups
from tests.services import unavailable, wait_for

pytestmark = pytest.mark.e2e

SCALE = "0.02"
CAUGHT_UP_TIMEOUT = 180.0
# From the start of the live phase: the promise to an operator.
DATA_TIMEOUT = 300.0
ALERT_TIMEOUT = 90.0
BURN_TIMEOUT = 420.0
POLL_S = 2.0
INCIDENTS = Incidents()  # the default departments and labels, as the demo uses them

# Grafana's substitutions for the dashboards' variables. The drill-down's department is every
# department at once: a panel has data when it has some for the department an operator would
# open it for (one with open requests, or with a violation, or handling this hour), and which
# departments have what depends on the hour the suite runs at.
EVERY_DEPARTMENT = ('department="$department"', 'department=~".+"')
VARIABLES = {
    "$__rate_interval": "1m",
    "$division": ".+",
    "$period": "month",
    "$indicator": "event_on_time_rate",
}


class LiveDemo:
    """The running demo and the URLs it printed."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.prometheus = demo.line_with("prometheus").split()[1]
        self.alertmanager = demo.line_with("alertmanager").split()[1]
        self.control = demo.line_with("control").split()[1]

    def query(self, expr: str) -> list[dict[str, Any]]:
        self.demo.running()
        body = http_json(f"{self.prometheus}/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def prometheus_alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = http_json(f"{self.prometheus}/api/v1/alerts")["data"]["alerts"]
        return alerts

    def firing(self) -> list[dict[str, str]]:
        """Labels of every active alert Alertmanager holds."""
        self.demo.running()
        return [alert["labels"] for alert in http_json(f"{self.alertmanager}/api/v2/alerts?active=true")]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    try:
        broker_binary()
    except SourceError as exc:
        unavailable(str(exc))
    if isinstance(found := find_binaries(), Unavailable):
        unavailable(found.reason)
    tmp_path = tmp_path_factory.mktemp("live-demo")
    demo = start_demo(
        tmp_path,
        "--live",
        "--prometheus",
        "--scale",
        SCALE,
        "--incident",
        BAD_RELEASE,
        "--incident",
        STALLED_DEPARTMENT,
        "--store",
        f"sqlite:///{tmp_path / 'demo.db'}",
    )
    try:
        demo.wait_caught_up(timeout=CAUGHT_UP_TIMEOUT)
        wait_for(lambda: demo.running() and "live since" in demo.text(), 30, "the live phase to start")
        yield LiveDemo(demo)
    finally:
        demo.kill_if_running()


def _substitute(expr: str) -> str:
    expr = expr.replace(*EVERY_DEPARTMENT)
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def _wait_all_return_data(live: LiveDemo, queries: dict[str, str], what: str) -> None:
    """Poll until every query returns data; fail naming the ones that never did."""
    empty = dict(queries)
    deadline = time.monotonic() + DATA_TIMEOUT
    while empty and time.monotonic() < deadline:
        empty = {name: expr for name, expr in empty.items() if not live.query(expr)}
        if empty:
            time.sleep(POLL_S)
    assert not empty, f"{len(empty)} of {len(queries)} {what} still return no data: {sorted(empty)}"


def test_every_recording_rule_returns_data(live: LiveDemo) -> None:
    records = {
        rule["record"]: rule["record"]
        for group in load_rule_groups()
        for rule in group["rules"]
        if "record" in rule
    }
    assert len(records) > 40
    _wait_all_return_data(live, records, "recording rules")


def test_every_metric_family_has_samples(live: LiveDemo) -> None:
    """Every family the daemon exports has at least one sample in Prometheus (none is declared empty)."""
    with urllib.request.urlopen(live.demo.line_with("metrics").split()[-1], timeout=10) as response:  # noqa: S310
        families = {
            family.name
            + ("_bucket" if family.type == "histogram" else "_total" if family.type == "counter" else "")
            for family in text_string_to_metric_families(response.read().decode())
        }
    assert len(families) > 25
    _wait_all_return_data(live, {name: f"count({name})" for name in families}, "metric families")


def test_every_dashboard_panel_query_returns_data(live: LiveDemo) -> None:
    queries = {
        f"{name.removesuffix('.json')} panel {panel_id} ({title}) #{index}": _substitute(expr)
        for name, dashboard in build.dashboards().items()
        for index, (panel_id, title, expr) in enumerate(build.panel_queries(dashboard))
    }
    assert len(queries) > 50
    _wait_all_return_data(live, queries, "dashboard queries")


def _has(alerts: list[dict[str, str]], labels: dict[str, str]) -> bool:
    return any(all(alert.get(k) == v for k, v in labels.items()) for alert in alerts)


def test_exposed_id_pages_with_its_labels_and_resolves_when_stopped(live: LiveDemo) -> None:
    incident = INCIDENTS.describe(EXPOSED_ID)
    labels = {"alertname": incident.alert, **incident.labels}
    assert not _has(live.firing(), labels), "the alert fired before its incident started"

    started = http_json(method="POST", url=f"{live.control}/{EXPOSED_ID}")
    assert started == {"name": EXPOSED_ID, "active": True, "changed": True}
    wait_for(lambda: _has(live.firing(), labels), ALERT_TIMEOUT, f"{incident.alert} to fire", POLL_S)
    department = incident.labels["department"]
    wait_for(
        lambda: any(incident.alert in line and department in line for line in live.demo.text().splitlines()),
        30,
        "the demo's summary to list the firing alert",
        POLL_S,
    )

    stopped = http_json(method="DELETE", url=f"{live.control}/{EXPOSED_ID}")
    assert stopped == {"name": EXPOSED_ID, "active": False, "changed": True}
    wait_for(lambda: not _has(live.firing(), labels), ALERT_TIMEOUT, f"{incident.alert} to resolve", POLL_S)


@pytest.mark.parametrize("name", [BAD_RELEASE, STALLED_DEPARTMENT])
def test_burn_rate_incident_sets_off_its_alert_for_its_department(live: LiveDemo, name: str) -> None:
    incident = INCIDENTS.describe(name)
    labels = {"alertname": incident.alert, **incident.labels}

    def set_off() -> bool:
        return any(
            alert["state"] in {"pending", "firing"}
            and all(alert["labels"].get(k) == v for k, v in labels.items())
            for alert in live.prometheus_alerts()
        )

    wait_for(set_off, BURN_TIMEOUT, f"{incident.alert} to be pending or firing for {labels}", POLL_S)
    others = {
        alert["labels"].get("department")
        for alert in live.prometheus_alerts()
        if alert["labels"]["alertname"] == incident.alert
    }
    assert others == {incident.labels["department"]}, f"{incident.alert} also holds for others: {others}"


def test_sigint_stops_every_process_the_demo_started(live: LiveDemo) -> None:
    """Last in the module: Ctrl-C (SIGINT) ends the demo with 0, Prometheus and Alertmanager included."""
    children = live.demo.remember_descendants()
    assert len(children) >= 4, f"expected daemon, broker, Prometheus and Alertmanager, got {children}"
    live.demo.process.send_signal(signal.SIGINT)
    assert live.demo.process.wait(timeout=90) == 0, live.demo.diagnostics()
    assert still_running(children) == []
    assert "stopped." in live.demo.text()
