"""alerts/alertmanager.yml routes and inhibits as documented, checked with amtool and a real Alertmanager.

amtool checks the configuration and the routing tree; inhibition is only observable in a running
Alertmanager, so the last tests post alerts to one on loopback and read back their status.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.prometheus_fixtures import ALERTMANAGER_CONFIG, Alertmanager, binary, running_alertmanager
from tests.services import wait_for

pytestmark = pytest.mark.e2e

STATUS_TIMEOUT = 20.0


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("amtool"), *args], capture_output=True, text=True, check=False)


def test_config_passes_amtool_check() -> None:
    """`amtool check-config` accepts the example configuration."""
    result = _amtool("check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


# (receiver, labels of the alert) — severity decides pager vs tickets, department picks the queue.
ROUTES = [
    ("oncall-pager", "alertname=SupervisionOnTimeHandlingFastBurn severity=critical department=330200.scjgj"),
    ("oncall-pager", "alertname=SupervisionTargetDown severity=critical job=svmon"),
    ("oncall-pager", "alertname=SupervisionPersonalInfoExposed severity=critical department=330225.yyj"),
    ("scjgj-tickets", "alertname=SupervisionIndicatorBelowTarget severity=warning department=330200.scjgj"),
    ("sthjj-tickets", "alertname=SupervisionEventsOverdueGrowing severity=warning department=330200.sthjj"),
    # a department without a queue of its own falls back to the bureau's
    ("department-tickets", "alertname=SupervisionDisclosureNotWithdrawn severity=warning department=x"),
    ("department-tickets", "alertname=SupervisionConsumerLagHigh severity=warning topic=svmon.events"),
    ("deadmans-switch", "alertname=SupervisionWatchdog severity=none"),
]


@pytest.mark.parametrize(("receiver", "labels"), ROUTES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(ROUTES)])
def test_route_reaches_receiver(receiver: str, labels: str) -> None:
    """`amtool config routes test --verify.receivers` sends the alert to the documented receiver."""
    config = f"--config.file={ALERTMANAGER_CONFIG}"
    result = _amtool("config", "routes", "test", config, f"--verify.receivers={receiver}", *labels.split())
    assert result.returncode == 0, result.stdout + result.stderr


def test_route_verification_rejects_a_wrong_receiver() -> None:
    """amtool's verification fails for a receiver the alert does not reach (the check has teeth)."""
    result = _amtool(
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        "--verify.receivers=oncall-pager",
        "alertname=SupervisionIndicatorBelowTarget",
        "severity=warning",
        "department=330200.scjgj",
    )
    assert result.returncode != 0


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager on loopback with the example configuration."""
    with running_alertmanager(tmp_path) as running:
        yield running


def _alert(**labels: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "labels": labels,
        "annotations": {"summary": f"test alert {labels['alertname']}"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "generatorURL": "http://127.0.0.1/test",
    }


def _status(alertmanager: Alertmanager, alertname: str, **labels: str) -> dict[str, Any]:
    for alert in alertmanager.alerts():
        wanted = {"alertname": alertname, **labels}
        if all(alert["labels"].get(key) == value for key, value in wanted.items()):
            status: dict[str, Any] = alert["status"]
            return status
    return {"state": "missing"}


def _settled(alertmanager: Alertmanager, expected: dict[tuple[str, str], str]) -> bool:
    """Every (alertname, department) has the expected state ("active" or "suppressed")."""
    return all(
        _status(alertmanager, name, department=department)["state"] == state
        for (name, department), state in expected.items()
    )


def test_critical_mutes_warnings_of_the_same_department_only(alertmanager: Alertmanager) -> None:
    """A page for a department inhibits that department's tickets, not other departments' tickets."""
    alertmanager.post_alerts(
        [
            _alert(
                alertname="SupervisionOnTimeHandlingFastBurn",
                severity="critical",
                category="indicator",
                department="330203.zhzfj",
            ),
            _alert(
                alertname="SupervisionIndicatorBelowTarget",
                severity="warning",
                category="indicator",
                department="330203.zhzfj",
                indicator="event_on_time_rate",
                period="month",
            ),
            _alert(
                alertname="SupervisionIndicatorBelowTarget",
                severity="warning",
                category="indicator",
                department="330200.scjgj",
                indicator="event_on_time_rate",
                period="month",
            ),
        ]
    )
    expected = {
        ("SupervisionOnTimeHandlingFastBurn", "330203.zhzfj"): "active",
        ("SupervisionIndicatorBelowTarget", "330203.zhzfj"): "suppressed",
        ("SupervisionIndicatorBelowTarget", "330200.scjgj"): "active",
    }
    wait_for(lambda: _settled(alertmanager, expected), STATUS_TIMEOUT, "inhibition of the same department")
    muted = _status(alertmanager, "SupervisionIndicatorBelowTarget", department="330203.zhzfj")
    assert muted["inhibitedBy"], muted
    assert not muted["silencedBy"]


def test_absent_target_mutes_indicator_alerts(alertmanager: Alertmanager) -> None:
    """While svmon's scrape target is absent, every indicator alert (even a page) is inhibited."""
    alertmanager.post_alerts(
        [
            _alert(
                alertname="SupervisionTargetAbsent",
                severity="critical",
                category="pipeline",
                job="svmon",
            ),
            _alert(
                alertname="SupervisionPersonalInfoExposed",
                severity="critical",
                category="indicator",
                department="330225.yyj",
                violation="personal_info_exposed",
            ),
            _alert(
                alertname="SupervisionEventsOverdueGrowing",
                severity="warning",
                category="indicator",
                department="330200.sthjj",
                division="330205",
            ),
        ]
    )
    expected = {
        ("SupervisionPersonalInfoExposed", "330225.yyj"): "suppressed",
        ("SupervisionEventsOverdueGrowing", "330200.sthjj"): "suppressed",
    }
    wait_for(lambda: _settled(alertmanager, expected), STATUS_TIMEOUT, "inhibition by the absent target")
    assert _status(alertmanager, "SupervisionTargetAbsent", job="svmon")["state"] == "active"


def test_indicator_alerts_are_active_while_the_target_is_up(alertmanager: Alertmanager) -> None:
    """Without a target-down/absent alert, an indicator page is delivered (not inhibited)."""
    alertmanager.post_alerts(
        [
            _alert(alertname="SupervisionWatchdog", severity="none", category="meta"),
            _alert(
                alertname="SupervisionPersonalInfoExposed",
                severity="critical",
                category="indicator",
                department="330225.yyj",
                violation="personal_info_exposed",
            ),
        ]
    )
    wait_for(
        lambda: (
            _status(alertmanager, "SupervisionPersonalInfoExposed")["state"] == "active"
            and _status(alertmanager, "SupervisionWatchdog")["state"] == "active"
        ),
        STATUS_TIMEOUT,
        "the page to be active",
    )
    assert not _status(alertmanager, "SupervisionPersonalInfoExposed")["inhibitedBy"]
