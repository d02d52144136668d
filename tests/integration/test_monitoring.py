"""``daemon.tools.monitoring.Monitoring`` with Debian's real Prometheus 2.42 and Alertmanager 0.25.

A small fake svmon (prometheus_client on loopback) exports one personal-information disclosure
violation, which makes ``SupervisionPersonalInfoExposed`` (no ``for:``, a page) fire at the first
evaluation after a scrape, and the always-firing ``SupervisionWatchdog`` proves the pipeline too.
Scrape and evaluation run every second so that the whole module takes seconds; the rules are the
committed ones, untouched. A missing binary fails under CI=true and skips elsewhere.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from daemon.tools import monitoring
from daemon.tools.broker import accepts_connections
from daemon.tools.monitoring import (
    Binaries,
    FiringAlert,
    Monitoring,
    MonitoringError,
    Unavailable,
    external_urls,
    find_binaries,
    write_alertmanager_config,
)
from tests.services import free_port, unavailable, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "alerts" / "rules"
ALERTMANAGER_CONFIG = REPO / "alerts" / "alertmanager.yml"
DEPARTMENT = "330225.yyj"
ALERT_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def binaries() -> Binaries:
    found = find_binaries()
    if isinstance(found, Unavailable):
        unavailable(found.reason)
    return found


def _amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        unavailable("`amtool` not on PATH (Debian: apt-get install prometheus-alertmanager)")
    return path


@pytest.fixture(scope="module")
def fake_svmon() -> Iterator[str]:
    """``host:port`` of a loopback /metrics with one disclosure exposing personal information."""
    registry = CollectorRegistry()
    violations = Gauge(
        "supervision_disclosure_violations",
        "Published disclosures currently in violation",
        ["department", "violation"],
        registry=registry,
    )
    violations.labels(DEPARTMENT, "personal_info_exposed").set(1)
    violations.labels(DEPARTMENT, "expired_not_withdrawn").set(0)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _monitoring(work: Path, target: str, config: Path = ALERTMANAGER_CONFIG) -> Monitoring:
    return Monitoring(
        work,
        target,
        rules_dir=RULES_DIR,
        alertmanager_config=config,
        scrape_interval_s=1,
        evaluation_interval_s=1,
    )


def _ports(running: Monitoring) -> list[int]:
    return [
        int(urllib.parse.urlsplit(url).port or 0)
        for url in (running.prometheus_url, running.alertmanager_url)
    ]


def _assert_gone(pids: dict[str, int], ports: list[int]) -> None:
    """Every server process is reaped and nothing listens on their ports any more."""
    assert set(pids) == {"Prometheus", "Alertmanager"}
    for name, pid in pids.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: not even a zombie is left
        assert not Path(f"/proc/{pid}").exists(), name
    for port in ports:
        assert not accepts_connections("127.0.0.1", port), port


def _page(running: Monitoring) -> FiringAlert | None:
    for alert in running.firing_alerts():
        if alert.alertname == "SupervisionPersonalInfoExposed":
            return alert
    return None


@pytest.mark.usefixtures("binaries")
def test_project_alert_fires_through_the_real_routing_and_everything_stops(
    fake_svmon: str, tmp_path: Path
) -> None:
    """Rules load, svmon is scraped, the page reaches Alertmanager routed to oncall-pager; then all stops."""
    with _monitoring(tmp_path, fake_svmon) as running:
        expected_groups = {
            group["name"]
            for path in sorted(RULES_DIR.glob("*.yml"))
            for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        }
        wait_for(
            lambda: {group["name"] for group in running.rule_groups()} == expected_groups,
            ALERT_TIMEOUT,
            "every rule group of alerts/rules to be loaded",
        )
        wait_for(lambda: bool(running.query('up{job="svmon"} == 1')), ALERT_TIMEOUT, "a scrape of svmon")
        wait_for(lambda: _page(running) is not None, ALERT_TIMEOUT, "SupervisionPersonalInfoExposed to fire")
        page = _page(running)
        assert page is not None
        assert page.severity == "critical"
        assert page.labels["department"] == DEPARTMENT
        assert page.labels["violation"] == "personal_info_exposed"
        assert page.labels["category"] == "indicator"
        assert page.receivers == ("oncall-pager",)
        assert page.state == "active"
        assert page.summary == f"{DEPARTMENT} publishes 1 penalty decisions exposing personal information"
        # Each rule group is evaluated (and its alerts sent) at an offset of its own.
        wait_for(
            lambda: "SupervisionWatchdog" in {alert.alertname for alert in running.firing_alerts()},
            ALERT_TIMEOUT,
            "SupervisionWatchdog to fire",
        )
        names = [alert.alertname for alert in running.firing_alerts()]
        assert names.index("SupervisionPersonalInfoExposed") < names.index("SupervisionWatchdog")  # sorted
        # Prometheus evaluated every rule it loaded without an error.
        errors = {rule["name"]: rule.get("lastError") for g in running.rule_groups() for rule in g["rules"]}
        assert not {name: error for name, error in errors.items() if error}
        pids, ports = running.pids, _ports(running)
        prometheus_log, alertmanager_log = running.log_paths
    _assert_gone(pids, ports)
    assert prometheus_log == tmp_path / "prometheus.log"
    assert "Server is ready to receive web requests" in prometheus_log.read_text(encoding="utf-8")
    assert alertmanager_log.read_text(encoding="utf-8")


@pytest.mark.usefixtures("binaries")
def test_keyboard_interrupt_inside_leaves_no_process(fake_svmon: str, tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), _monitoring(tmp_path, fake_svmon) as running:  # noqa: PT012
        pids, ports = running.pids, _ports(running)
        raise KeyboardInterrupt
    _assert_gone(pids, ports)


@pytest.mark.usefixtures("binaries")
def test_keyboard_interrupt_during_start_stops_what_was_started(
    fake_svmon: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while Prometheus is starting: Alertmanager (already up) and Prometheus are both stopped."""
    original = monitoring._Server.wait_ready

    def interrupted(self: monitoring._Server, url: str, timeout: float) -> None:
        if self.name == "Prometheus":
            raise KeyboardInterrupt
        original(self, url, timeout)

    monkeypatch.setattr(monitoring._Server, "wait_ready", interrupted)
    running = _monitoring(tmp_path, fake_svmon)
    with pytest.raises(KeyboardInterrupt), running:
        pytest.fail("started despite the interrupt")
    ports = [urllib.parse.urlsplit(running.alertmanager_url).port or 0]
    _assert_gone(running.pids, ports)


@pytest.mark.usefixtures("binaries")
def test_a_port_taken_meanwhile_is_retried_on_another(
    fake_svmon: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone binds the probed port before the server does: it exits, and the next free port is used."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(monitoring, "free_port", lambda host: next(ports, None) or free_port(host))
        with _monitoring(tmp_path, fake_svmon) as running:
            assert taken not in _ports(running)
            alertmanager_log = running.log_paths[1].read_text(encoding="utf-8")
            assert "address already in use" in alertmanager_log  # the first attempt, kept in the log
        _assert_gone(running.pids, _ports(running))


@pytest.mark.usefixtures("binaries")
def test_start_failure_quotes_the_log(fake_svmon: str, tmp_path: Path) -> None:
    """An Alertmanager that rejects its configuration: the error has its log's last lines; nothing runs."""
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump({"route": {"receiver": "nobody"}, "receivers": [{"name": "x"}]}))
    running = _monitoring(tmp_path / "work", fake_svmon, config=broken)
    with pytest.raises(MonitoringError) as failure, running:
        pytest.fail("started with a broken configuration")
    message = str(failure.value)
    assert message.startswith("Alertmanager exited with code 1 at start;"), message
    assert str(tmp_path / "work" / "alertmanager.log") in message
    assert 'undefined receiver \\"nobody\\"' in message, message
    assert list(running.pids) == ["Alertmanager"]  # Prometheus was never started
    with pytest.raises(ProcessLookupError):
        os.kill(running.pids["Alertmanager"], 0)


def test_derived_alertmanager_config_passes_amtool_and_routes_as_committed(tmp_path: Path) -> None:
    """amtool accepts the demo's configuration, which names no URL off loopback and routes identically."""
    amtool = _amtool()
    derived = write_alertmanager_config(ALERTMANAGER_CONFIG, tmp_path / "alertmanager.yml")
    assert not external_urls(yaml.safe_load(derived.read_text(encoding="utf-8")))
    assert "example.org" not in derived.read_text(encoding="utf-8")
    check = subprocess.run(
        [amtool, "check-config", str(derived)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr

    def tree(config: Path) -> str:
        shown = subprocess.run(
            [amtool, "config", "routes", "show", f"--config.file={config}"],
            capture_output=True,
            text=True,
            check=True,
        )
        return shown.stdout

    assert tree(derived) == tree(ALERTMANAGER_CONFIG)
    for receiver, labels in [
        (
            "oncall-pager",
            ["alertname=SupervisionPersonalInfoExposed", "severity=critical", f"department={DEPARTMENT}"],
        ),
        (
            "scjgj-tickets",
            ["alertname=SupervisionIndicatorBelowTarget", "severity=warning", "department=330200.scjgj"],
        ),
        ("deadmans-switch", ["alertname=SupervisionWatchdog", "severity=none"]),
    ]:
        routed = subprocess.run(
            [
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={derived}",
                f"--verify.receivers={receiver}",
                *labels,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert routed.returncode == 0, routed.stdout + routed.stderr
