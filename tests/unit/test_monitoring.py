"""``daemon.tools.monitoring`` without running anything: generated configs, messages, alert parsing.

The real servers are exercised by tests/integration/test_monitoring.py.
"""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon.tools import monitoring
from daemon.tools.monitoring import (
    Binaries,
    FiringAlert,
    Monitoring,
    MonitoringError,
    ProjectFiles,
    Unavailable,
    alertmanager_config,
    duration,
    external_urls,
    find_binaries,
    project_files,
    prometheus_config,
    rule_files,
)

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "alerts" / "rules"
ALERTMANAGER_CONFIG = REPO / "alerts" / "alertmanager.yml"


def _executable(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the given search path counts: /usr/bin of this machine may well have the binaries."""
    monkeypatch.setattr(monitoring, "_FALLBACK_DIRS", ())


@pytest.mark.usefixtures("no_fallback")
def test_both_binaries_missing_names_both_debian_packages(tmp_path: Path) -> None:
    found = find_binaries(str(tmp_path))
    assert isinstance(found, Unavailable)
    assert "`prometheus`" in found.reason
    assert "`prometheus-alertmanager` or `alertmanager`" in found.reason
    assert "apt-get install prometheus prometheus-alertmanager" in found.reason


@pytest.mark.usefixtures("no_fallback")
def test_missing_alertmanager_names_its_package_only(tmp_path: Path) -> None:
    _executable(tmp_path, "prometheus")
    found = find_binaries(str(tmp_path))
    assert isinstance(found, Unavailable)
    assert "package `prometheus-alertmanager`" in found.reason
    assert "(apt-get install prometheus-alertmanager;" in found.reason
    assert not found.reason.startswith("`prometheus` ")


@pytest.mark.usefixtures("no_fallback")
def test_upstream_alertmanager_name_is_accepted(tmp_path: Path) -> None:
    prometheus = _executable(tmp_path, "prometheus")
    alertmanager = _executable(tmp_path, "alertmanager")
    assert find_binaries(str(tmp_path)) == Binaries(str(prometheus), str(alertmanager))


def test_fallback_directory_is_searched_after_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH without /usr/bin (cron, a stripped service environment) still finds Debian's binaries."""
    _executable(tmp_path, "prometheus")
    _executable(tmp_path, "prometheus-alertmanager")
    monkeypatch.setattr(monitoring, "_FALLBACK_DIRS", (tmp_path,))
    found = find_binaries("")
    assert isinstance(found, Binaries)
    assert found.alertmanager == str(tmp_path / "prometheus-alertmanager")


def test_monitoring_refuses_to_start_without_binaries_and_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_fallback: None
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with (
        pytest.raises(MonitoringError, match=r"apt-get install prometheus prometheus-alertmanager"),
        Monitoring(
            tmp_path / "work",
            "127.0.0.1:9108",
            rules_dir=RULES_DIR,
            alertmanager_config=ALERTMANAGER_CONFIG,
        ),
    ):
        pytest.fail("started without binaries")


def test_project_files_of_the_checkout() -> None:
    assert project_files() == ProjectFiles(RULES_DIR, ALERTMANAGER_CONFIG)


def test_project_files_from_an_installed_wheel_say_so(tmp_path: Path) -> None:
    """site-packages/daemon has no alerts/ beside it: the reason names the wheel and the fix."""
    package = tmp_path / "site-packages" / "daemon"
    package.mkdir(parents=True)
    found = project_files(package)
    assert isinstance(found, Unavailable)
    assert "wheel ships only daemon, schemas and seeds" in found.reason
    assert str(package) in found.reason


def test_duration() -> None:
    assert duration(5) == "5s"
    assert duration(0.5) == "500ms"
    assert duration(1.25) == "1250ms"
    with pytest.raises(ValueError, match="positive"):
        duration(0)


def test_prometheus_config_scrapes_job_svmon_and_loads_every_rule_file() -> None:
    rules = rule_files(RULES_DIR)
    config = prometheus_config(
        "127.0.0.1:9108",
        rules,
        alertmanager="127.0.0.1:9093",
        prometheus="127.0.0.1:9090",
        scrape_interval_s=5,
        evaluation_interval_s=2.5,
    )
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    # The rules and dashboards select job="svmon"; so does deploy/prometheus/prometheus.yml.
    assert jobs["svmon"] == ["127.0.0.1:9108"]
    deployed = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert {job["job_name"] for job in deployed["scrape_configs"]} == set(jobs)
    assert config["rule_files"] == [str(path) for path in sorted(RULES_DIR.resolve().glob("*.yml"))]
    assert len(config["rule_files"]) == 4
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    assert config["global"] == {
        "scrape_interval": "5s",
        "scrape_timeout": "5s",
        "evaluation_interval": "2500ms",
    }
    assert not external_urls(config)


def test_derived_alertmanager_config_keeps_routing_and_drops_every_integration() -> None:
    source = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    derived = alertmanager_config(ALERTMANAGER_CONFIG)
    for kept in ("route", "inhibit_rules", "time_intervals", "global"):
        assert derived[kept] == source[kept], kept
    assert derived["receivers"] == [{"name": receiver["name"]} for receiver in source["receivers"]]
    assert external_urls(source)  # the check has something to find in the original
    assert not external_urls(derived)


def test_derivation_drops_global_endpoints_and_templates(tmp_path: Path) -> None:
    """Integration defaults in `global` (SMTP, API URLs) and templates go too; resolve_timeout stays."""
    source = tmp_path / "alertmanager.yml"
    document: dict[str, Any] = {
        "global": {
            "resolve_timeout": "1m",
            "smtp_smarthost": "mail.example.org:587",
            "slack_api_url": "https://hooks.slack.example.org/x",
        },
        "templates": ["templates/*.tmpl"],
        "route": {"receiver": "mail"},
        "receivers": [
            {"name": "mail", "email_configs": [{"to": "oncall@example.org"}]},
            {"name": "chat", "slack_configs": [{"channel": "#x", "api_url": "https://slack.example.org/y"}]},
        ],
    }
    source.write_text(yaml.safe_dump(document), encoding="utf-8")
    derived = alertmanager_config(source)
    assert derived == {
        "global": {"resolve_timeout": "1m"},
        "route": {"receiver": "mail"},
        "receivers": [{"name": "mail"}, {"name": "chat"}],
    }


def test_derivation_refuses_a_url_left_in_the_routing(tmp_path: Path) -> None:
    """A URL anywhere else (here in a matcher) is not silently sent on: the demo refuses to start."""
    source = tmp_path / "alertmanager.yml"
    route = {
        "receiver": "x",
        "routes": [{"matchers": ['runbook="https://wiki.example.org/x"'], "receiver": "x"}],
    }
    source.write_text(yaml.safe_dump({"route": route, "receivers": [{"name": "x"}]}), encoding="utf-8")
    with pytest.raises(MonitoringError, match=r"still names https://wiki\.example\.org/x"):
        alertmanager_config(source)


def test_external_urls_allows_loopback_only() -> None:
    document = {
        "a": ["http://127.0.0.1:9093/x", "http://localhost/", "http://[::1]:80/"],
        "b": {"c": "see https://example.org/page and http://10.0.0.1:9/"},
    }
    assert external_urls(document) == ["https://example.org/page", "http://10.0.0.1:9/"]


def _api_alert(name: str, severity: str, receiver: str, **labels: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "severity": severity, "category": "indicator", **labels},
        "annotations": {"summary": f"{name} fires"},
        "startsAt": "2024-03-01T01:02:03.456789123Z",
        "endsAt": "2024-03-01T02:02:03Z",
        "fingerprint": f"fp-{name}",
        "receivers": [{"name": receiver}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    }


def test_firing_alert_from_the_api_and_its_line() -> None:
    alert = FiringAlert.from_api(
        _api_alert("SupervisionPersonalInfoExposed", "critical", "oncall-pager", department="330225.yyj")
    )
    assert alert.alertname == "SupervisionPersonalInfoExposed"
    assert alert.severity == "critical"
    assert alert.labels["department"] == "330225.yyj"
    assert alert.starts_at == datetime(2024, 3, 1, 1, 2, 3, 456789, tzinfo=UTC)
    assert alert.receivers == ("oncall-pager",)
    assert alert.summary == "SupervisionPersonalInfoExposed fires"
    assert alert.details == {"department": "330225.yyj"}
    line = alert.line()
    since = "since 03-01 09:02:03"  # Asia/Shanghai, as the rest of the demo's output
    assert (
        line == f"critical  SupervisionPersonalInfoExposed  department=330225.yyj  {since}  -> oncall-pager"
    )


def test_firing_alerts_sort_pages_first_then_by_name_and_labels() -> None:
    alerts = [
        FiringAlert.from_api(_api_alert("SupervisionWatchdog", "none", "deadmans-switch")),
        FiringAlert.from_api(_api_alert("B", "warning", "t", department="2")),
        FiringAlert.from_api(_api_alert("B", "warning", "t", department="1")),
        FiringAlert.from_api(_api_alert("Z", "critical", "oncall-pager")),
        FiringAlert.from_api(_api_alert("A", "warning", "t")),
    ]
    ordered = [
        (alert.alertname, alert.labels.get("department"))
        for alert in sorted(alerts, key=FiringAlert.sort_key)
    ]
    assert ordered == [("Z", None), ("A", None), ("B", "1"), ("B", "2"), ("SupervisionWatchdog", None)]
