"""Every recording rule and dashboard query returns data from a real Prometheus, and alerts fire.

A real ``svmon run`` consumes from Tansu; the real Prometheus (Debian package) scrapes it every
second with the project's rules (``for:`` dropped) and sends its alerts to the real Alertmanager.
The traffic (``tests/e2e/traffic.py``) is placed in the current day/month/quarter/year, as svmon
only exports the current periods, and is produced in two bursts while Prometheus scrapes, so every
counter has moved between two scrapes and every ``rate()`` has something to compute.
"""

from __future__ import annotations

import re
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.grafana import build
from tests.daemon_process import Daemon, Topics, stored_offsets
from tests.e2e import traffic
from tests.e2e.prometheus_fixtures import (
    Alertmanager,
    Prometheus,
    load_rule_groups,
    rules_without_for,
    running_alertmanager,
    running_prometheus,
    running_svmon,
)
from tests.services import Broker, free_port, unique_name, wait_for

pytestmark = pytest.mark.e2e

DATA_TIMEOUT = 30.0
CONSUME_TIMEOUT = 60.0
PARTITIONS = 2
GOLDEN = Path(__file__).parent / "data" / "svmon_metrics.prom"
# Exported by the daemon but read by no rule or panel, so not in the golden file.
DAEMON_ONLY_FAMILIES = {
    "supervision_key_mismatches",
    "supervision_records_ignored",
    "supervision_event_orphan_actions",
    "supervision_resident_entities",
}
BELOW_TARGET_DEPARTMENT = traffic.LATE_DEPARTMENT
# The one pipeline alert the traffic sets off on purpose: a disclosure's publicity runs into a year
# the holiday calendar does not know (see tests/e2e/traffic.py).
EXPECTED_PIPELINE_ALERTS = {"SupervisionCalendarFallbackInUse"}

# Values for the dashboards' template variables, as Grafana would substitute them. $__rate_interval
# must span at least two scrapes; 1m covers every sample of this short-lived Prometheus. The
# drill-down is checked on the department that has a bit of everything, erroneous records and
# disclosure violations included: svmon exports those series only for a department that has some.
VARIABLES = {
    "$__rate_interval": "1m",
    "$department": traffic.SMALL_DEPARTMENT,
    "$division": ".+",
    "$period": "month",
    "$indicator": "event_on_time_rate",
}


@pytest.fixture(scope="module")
def topics(broker: Broker) -> Topics:
    """This module's topics, the catalogue co-partitioned with inspections, disclosures with requests."""
    names = Topics.unique("prom")
    broker.create_topics(names.by_stream().values(), partitions=PARTITIONS)
    broker.create_topics([names.dlq], partitions=1)
    return names


@pytest.fixture(scope="module")
def svmon(broker: Broker, topics: Topics, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A real ``svmon run`` (SQLite store) consuming this module's topics, once ready."""
    workdir = tmp_path_factory.mktemp("svmon")
    daemon = Daemon(
        broker.bootstrap, f"sqlite:///{workdir / 'state.db'}", topics, workdir, unique_name("svmon-prom")
    )
    daemon.start()
    try:
        daemon.wait_ready()
        yield daemon
    finally:
        try:
            daemon.stop(timeout=15)
        except subprocess.TimeoutExpired:  # stopping on SIGTERM is the daemon's own tests' business
            daemon.kill()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    """The real Alertmanager with alerts/alertmanager.yml, receiving Prometheus's alerts."""
    with running_alertmanager(tmp_path_factory.mktemp("alertmanager")) as server:
        yield server


def _state_path(daemon: Daemon) -> Path:
    return Path(daemon.store_url.removeprefix("sqlite:///"))


def _drive(
    server: Prometheus, broker: Broker, topics: Topics, daemon: Daemon, *, tag: str, before: int
) -> int:
    """Produce one burst, wait until svmon has stored every offset and Prometheus has scraped it all.

    Returns how many messages were consumed in total after this burst.
    """
    now = datetime.now(UTC)
    messages = traffic.burst(tag, now)
    ends = traffic.produce(broker.bootstrap, topics, messages, now)

    def stored() -> bool:
        daemon.alive()
        offsets = stored_offsets(_state_path(daemon))
        return all(offsets.get(where, 0) >= end for where, end in ends.items())

    wait_for(stored, CONSUME_TIMEOUT, f"svmon to store the offsets of burst {tag}")
    total = before + len(messages)
    wait_for(
        lambda: bool(server.query(f'sum(supervision_messages_consumed_total{{job="svmon"}}) >= {total}')),
        DATA_TIMEOUT,
        f"a scrape showing burst {tag} consumed",
    )
    return total


@pytest.fixture(scope="module")
def prometheus(
    svmon: Daemon,
    broker: Broker,
    topics: Topics,
    alertmanager: Alertmanager,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Prometheus]:
    """A real Prometheus with every rule file (``for:`` dropped), scraping svmon fed in two bursts."""
    workdir = tmp_path_factory.mktemp("prometheus")
    rules = rules_without_for(workdir / "rules")
    address = alertmanager.url.removeprefix("http://")
    target = f"127.0.0.1:{svmon.port}"
    with running_prometheus(workdir, [target], rules, alertmanager=address) as server:
        # A scrape of the pre-created zero counters first, then each burst seen by a scrape of its own:
        # every counter a rule or panel reads has risen between two scrapes.
        wait_for(lambda: bool(server.query('up{job="svmon"} == 1')), DATA_TIMEOUT, "a scrape of svmon")
        consumed = _drive(server, broker, topics, svmon, tag="b1", before=0)
        _drive(server, broker, topics, svmon, tag="b2", before=consumed)
        yield server


def _substitute(expr: str) -> str:
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def _dashboard_queries() -> list[tuple[str, str]]:
    return [
        (f"{name.removesuffix('.json')}-{panel_id}-{index}", _substitute(expr))
        for name, dashboard in build.dashboards().items()
        for index, (panel_id, _title, expr) in enumerate(build.panel_queries(dashboard))
    ]


def _returns_data(server: Prometheus, expr: str) -> bool:
    return bool(server.query(expr))


def test_every_rule_is_healthy(prometheus: Prometheus) -> None:
    """Prometheus loads every rule group of alerts/rules and evaluates every rule without error."""
    expected = {group["name"] for group in load_rule_groups()}

    def rules() -> list[dict[str, str]]:
        return [rule for group in prometheus.rule_groups() for rule in group["rules"]]

    # Before its first evaluation a rule reports health "unknown" and the zero time.
    wait_for(lambda: all(r["health"] != "unknown" for r in rules()), DATA_TIMEOUT, "every rule evaluated")
    unhealthy = {rule["name"]: rule.get("lastError") for rule in rules() if rule["health"] != "ok"}
    assert not unhealthy
    assert {group["name"] for group in prometheus.rule_groups()} == expected


def test_every_recording_rule_returns_data(prometheus: Prometheus) -> None:
    """Each recording rule of alerts/rules yields at least one series from the scraped metrics."""
    records = [rule["record"] for group in load_rule_groups() for rule in group["rules"] if "record" in rule]
    missing = set(records)

    def all_present() -> bool:
        for record in list(missing):
            if prometheus.query(record):
                missing.discard(record)
        return not missing

    try:
        wait_for(all_present, DATA_TIMEOUT, "data from every recording rule")
    except TimeoutError:
        pytest.fail(f"recording rules without data: {sorted(missing)}")


@pytest.mark.parametrize(("panel", "expr"), _dashboard_queries(), ids=[q[0] for q in _dashboard_queries()])
def test_dashboard_query_returns_data(prometheus: Prometheus, panel: str, expr: str) -> None:
    """A dashboard panel's query, with its variables substituted, returns data."""
    try:
        wait_for(lambda: _returns_data(prometheus, expr), DATA_TIMEOUT, f"data for panel {panel}")
    except TimeoutError:
        pytest.fail(f"panel {panel} has no data: {expr}")


def test_below_target_alert_fires_only_for_the_department_below_target(prometheus: Prometheus) -> None:
    """SupervisionIndicatorBelowTarget fires for the department whose on-time rate is low, not others."""

    def firing() -> list[dict[str, str]]:
        return [
            alert["labels"]
            for alert in prometheus.alerts()
            if alert["state"] == "firing"
            and alert["labels"]["alertname"] == "SupervisionIndicatorBelowTarget"
        ]

    wait_for(lambda: len(firing()) >= 2, DATA_TIMEOUT, "the below-target alert for month and year")
    labels = firing()
    assert {(a["department"], a["indicator"], a["period"]) for a in labels} == {
        (BELOW_TARGET_DEPARTMENT, "event_on_time_rate", "month"),
        (BELOW_TARGET_DEPARTMENT, "event_on_time_rate", "year"),
    }
    assert all(a["severity"] == "warning" and a["category"] == "indicator" for a in labels)


def test_alertmanager_receives_the_alert_with_its_department(
    prometheus: Prometheus, alertmanager: Alertmanager
) -> None:
    """The below-target alert and the Watchdog reach Alertmanager, labels and annotations intact."""

    def received() -> dict[str, dict[str, object]]:
        return {alert["labels"]["alertname"]: alert for alert in alertmanager.alerts()}

    wait_for(
        lambda: {"SupervisionIndicatorBelowTarget", "SupervisionWatchdog"} <= set(received()),
        DATA_TIMEOUT,
        "alerts delivered to Alertmanager",
    )
    below = [
        alert
        for alert in alertmanager.alerts()
        if alert["labels"]["alertname"] == "SupervisionIndicatorBelowTarget"
    ]
    assert {alert["labels"]["department"] for alert in below} == {BELOW_TARGET_DEPARTMENT}
    assert all(
        alert["annotations"]["runbook_url"].endswith("/SupervisionIndicatorBelowTarget.md") for alert in below
    )
    assert all(BELOW_TARGET_DEPARTMENT in alert["annotations"]["dashboard_url"] for alert in below)


def test_watchdog_fires_and_the_healthy_pipeline_is_quiet(prometheus: Prometheus) -> None:
    """The Watchdog fires, while no pipeline alert but the provoked calendar fallback fires."""
    wait_for(
        lambda: any(a["labels"]["alertname"] == "SupervisionWatchdog" for a in prometheus.alerts()),
        DATA_TIMEOUT,
        "the Watchdog",
    )
    # svmon is up, ready, checkpointing, consuming every topic with no lag and a DLQ share under 5 %;
    # only the calendar fallback the traffic provokes may fire, for the year it reaches.
    wait_for(
        lambda: {a["labels"]["alertname"] for a in prometheus.alerts()} >= EXPECTED_PIPELINE_ALERTS,
        DATA_TIMEOUT,
        "the calendar-fallback alert",
    )
    pipeline = [a["labels"] for a in prometheus.alerts() if a["labels"].get("category") == "pipeline"]
    assert {a["alertname"] for a in pipeline} == EXPECTED_PIPELINE_ALERTS
    fallback_years = {a["year"] for a in pipeline if a["alertname"] == "SupervisionCalendarFallbackInUse"}
    assert "2003" in fallback_years


def test_dashboards_read_only_known_metrics(prometheus: Prometheus) -> None:
    """Every metric name a dashboard reads is either scraped from svmon or recorded by a rule."""
    recorded = {rule["record"] for group in load_rule_groups() for rule in group["rules"] if "record" in rule}
    samples = prometheus.query('{job="svmon", __name__=~"supervision_.*|up"}')
    scraped = {sample["metric"]["__name__"] for sample in samples}
    known = recorded | scraped | {"up"}
    names = set()
    for _panel, expr in _dashboard_queries():
        names.update(re.findall(r"[a-z_]+:[a-z_]+:[a-z0-9_]+|supervision_[a-z_]+", expr))
    unknown = {name for name in names if name not in known and f"{name}_bucket" not in known}
    assert not unknown, f"dashboards read metrics nobody produces: {sorted(unknown)}"


def test_golden_exposition_is_the_contract_of_spec_section_10() -> None:
    """The golden exposition carries every metric name svmon promises in docs/contract.md §10."""
    text = GOLDEN.read_text(encoding="utf-8")
    families = set(re.findall(r"^# TYPE (\S+) ", text, flags=re.MULTILINE))
    assert families >= {
        "supervision_indicator_numerator",
        "supervision_indicator_denominator",
        "supervision_indicator_target",
        "supervision_events_created_total",
        "supervision_events_handled_total",
        "supervision_events_handled_late_total",
        "supervision_records_total",
        "supervision_records_erroneous_total",
        "supervision_inspections_total",
        "supervision_events_open",
        "supervision_events_overdue",
        "supervision_disclosure_violations",
        "supervision_disclosure_requests_open",
        "supervision_consumer_lag_messages",
        "supervision_messages_consumed_total",
        "supervision_dlq_writes_total",
        "supervision_checkpoint_duration_seconds",
        "supervision_checkpoint_last_success_timestamp_seconds",
        "supervision_checkpoint_failures_total",
        "supervision_last_event_timestamp_seconds",
        "supervision_calendar_fallback_dates_total",
        "supervision_ready",
        "supervision_build_info",
    }


def _families(text: str) -> dict[str, tuple[str, set[str], set[str]]]:
    """family name -> (type, label names, department values) of an exposition."""
    families = {}
    for family in text_string_to_metric_families(text):
        labels = {name for sample in family.samples for name in sample.labels if name != "le"}
        departments = {
            sample.labels["department"] for sample in family.samples if "department" in sample.labels
        }
        families[family.name] = (family.type, labels, departments)
    return families


def test_golden_exposition_agrees_with_the_real_daemon(tmp_path: Path) -> None:
    """Every family the real `svmon run` exports at start-up has the golden file's type and labels."""
    unreachable_broker = f"127.0.0.1:{free_port()}"
    with (
        running_svmon(tmp_path, unreachable_broker) as address,
        urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response,
    ):
        real = _families(response.read().decode())
    golden = _families(GOLDEN.read_text(encoding="utf-8"))
    # Families that need state (indicators, open events, violations…) appear once records flow;
    # the golden file must cover every family the daemon pre-creates that the rules and boards read.
    read = {name for name in real if name.startswith("supervision_")} - DAEMON_ONLY_FAMILIES
    assert read <= set(golden), f"missing from the golden exposition: {sorted(read - set(golden))}"
    for name in read:
        real_type, real_labels, _departments = real[name]
        golden_type, golden_labels, _departments = golden[name]
        assert real_type == golden_type, name
        if real_labels:  # a family without samples yet shows no label names
            assert real_labels == golden_labels, name
    registered = set().union(*(departments for _type, _labels, departments in real.values()))
    used = set().union(*(departments for _type, _labels, departments in golden.values()))
    assert used <= registered, f"departments unknown to the daemon's registry: {sorted(used - registered)}"


def test_golden_exposition_agrees_with_the_fed_daemon(prometheus: Prometheus, svmon: Daemon) -> None:
    """Once records flow, every family the real daemon exports has the golden file's type and labels.

    Fed with every kind of record, the daemon shows the label names of every family (at start-up the
    state families have no samples yet), and every family of the golden file is really exported.
    """
    status, text = svmon.get("/metrics")
    assert status == 200
    real = _families(text)
    golden = _families(GOLDEN.read_text(encoding="utf-8"))
    exported = {name for name in real if name.startswith("supervision_")} - DAEMON_ONLY_FAMILIES
    assert exported == set(golden), (
        f"only in the daemon: {sorted(exported - set(golden))}; only in the golden file: "
        f"{sorted(set(golden) - exported)}"
    )
    for name in exported:
        real_type, real_labels, _departments = real[name]
        golden_type, golden_labels, _departments = golden[name]
        assert (real_type, real_labels) == (golden_type, golden_labels), name
