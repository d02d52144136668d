"""Real Prometheus and Alertmanager on free loopback ports, and a bare ``svmon run`` to scrape.

Each ``running_*`` context manager starts the Debian binary with its storage in a temporary
directory, waits on the server's readiness endpoint (never a fixed sleep), and stops it on exit.
A missing binary is ``unavailable()``: a failure in CI, a skip elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.services import free_port, unavailable, wait_for

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "alerts" / "rules"
ALERTMANAGER_CONFIG = REPO / "alerts" / "alertmanager.yml"
STARTUP_TIMEOUT = 30.0
SVMON_STOP_TIMEOUT = 5.0

Json = dict[str, Any]


def binary(name: str) -> str:
    """Absolute path of a Prometheus-family executable, or ``unavailable`` when it is not installed."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"`{name}` not on PATH (Debian: apt-get install prometheus prometheus-alertmanager)")
    return path


def _get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback http only
        return json.load(response)


def _responds(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback http only
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def _process(argv: list[str], log_path: Path, ready_url: str, what: str) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` with output to ``log_path`` until ``ready_url`` answers 200; terminate it on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: process.poll() is not None or _responds(ready_url), STARTUP_TIMEOUT, what)
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}: {log_path.read_text()[-3000:]}")
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus: its base URL and the few API calls the tests need."""

    url: str
    log_path: Path

    def query(self, expr: str) -> list[Json]:
        """The instant vector (or scalar as one sample) that ``expr`` evaluates to now."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        try:
            body = _get_json(url)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"query failed: {expr}\n{exc.read().decode()}") from exc
        data = body["data"]
        if data["resultType"] in {"scalar", "string"}:
            return [{"metric": {}, "value": data["result"]}]
        result: list[Json] = data["result"]
        return result

    def alerts(self) -> list[Json]:
        """Active (pending or firing) alerts, with labels and state."""
        alerts: list[Json] = _get_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return alerts

    def rule_groups(self) -> list[Json]:
        """Loaded rule groups with each rule's health and last evaluation error."""
        groups: list[Json] = _get_json(f"{self.url}/api/v1/rules")["data"]["groups"]
        return groups


@contextmanager
def running_prometheus(
    workdir: Path,
    targets: list[str],
    rule_files: list[Path],
    *,
    interval: str = "1s",
    alertmanager: str | None = None,
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (``host:port``) as job ``svmon`` with ``rule_files`` loaded.

    Scrape and evaluation run every ``interval`` so that a test sees rates and alerts within seconds.
    Firing alerts are re-sent every ``interval`` too: the notifier discovers even a static
    Alertmanager asynchronously, and what it drops before that would otherwise wait a minute.
    """
    port = free_port()
    config: Json = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": "svmon", "static_configs": [{"targets": targets}]}],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    argv = [
        binary("prometheus"),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--rules.alert.resend-delay={interval}",
    ]
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "prometheus.log"
    with _process(argv, log_path, f"{url}/-/ready", f"Prometheus on port {port}"):
        yield Prometheus(url=url, log_path=log_path)


@dataclass(frozen=True)
class Alertmanager:
    """A running Alertmanager: its base URL and the v2 API calls the tests need."""

    url: str
    log_path: Path

    def post_alerts(self, alerts: list[Json]) -> None:
        """Send alerts as Prometheus does (``POST /api/v2/alerts``)."""
        request = urllib.request.Request(  # noqa: S310 - loopback http only
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback http only
            assert response.status == 200

    def alerts(self) -> list[Json]:
        """Every alert Alertmanager holds, with ``status.state`` and ``status.inhibitedBy``."""
        alerts: list[Json] = _get_json(f"{self.url}/api/v2/alerts?inhibited=true&silenced=true&active=true")
        return alerts


@contextmanager
def running_alertmanager(workdir: Path, config_file: Path = ALERTMANAGER_CONFIG) -> Iterator[Alertmanager]:
    """Alertmanager with ``config_file``, clustering off, storage under ``workdir``."""
    port = free_port()
    argv = [
        binary("prometheus-alertmanager"),
        f"--config.file={config_file}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "alertmanager.log"
    with _process(argv, log_path, f"{url}/-/ready", f"Alertmanager on port {port}"):
        yield Alertmanager(url=url, log_path=log_path)


@contextmanager
def running_svmon(workdir: Path, bootstrap_servers: str) -> Iterator[str]:
    """A real ``svmon run`` (this checkout) with SQLite state under ``workdir``; yields ``host:port``.

    Waits on ``/healthz`` only: /metrics answers even while the broker is unreachable (docs/contract.md §9.5),
    which is what a scrape needs. Readiness is the caller's business.
    """
    port = free_port()
    env = {
        **os.environ,
        "SVMON_KAFKA__BOOTSTRAP_SERVERS": bootstrap_servers,
        "SVMON_STORE__URL": f"sqlite:///{workdir / 'state.db'}",
        "SVMON_HTTP__HOST": "127.0.0.1",
        "SVMON_HTTP__PORT": str(port),
    }
    log_path = workdir / "svmon.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run"], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO
        )
        try:
            url = f"http://127.0.0.1:{port}/healthz"
            wait_for(lambda: process.poll() is not None or _responds(url), STARTUP_TIMEOUT, "svmon /healthz")
            if process.poll() is not None:
                raise RuntimeError(f"svmon exited with {process.returncode}: {log_path.read_text()[-3000:]}")
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            try:
                process.wait(timeout=SVMON_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                # Surfaced, not failed: stopping on SIGTERM is the daemon's own tests' business.
                warnings.warn(
                    f"svmon did not exit within {SVMON_STOP_TIMEOUT:.0f}s of SIGTERM; killed",
                    RuntimeWarning,
                    stacklevel=1,
                )
                process.kill()
                process.wait()


def rule_files() -> list[Path]:
    """The project's rule files, as Prometheus and the PrometheusRule load them."""
    return sorted(RULES_DIR.glob("*.yml"))


def load_rule_groups() -> list[Json]:
    """Every rule group of ``alerts/rules``, in file order."""
    groups: list[Json] = []
    for path in rule_files():
        groups.extend(yaml.safe_load(path.read_text(encoding="utf-8"))["groups"])
    return groups


def rules_without_for(destination: Path) -> list[Path]:
    """Copies of the rule files with every ``for:`` removed, for a test that must see alerts fire now.

    The ``for:`` durations themselves are proven by the promtool tests in ``alerts/tests``.
    """
    destination.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in rule_files():
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in document["groups"]:
            for rule in group["rules"]:
                rule.pop("for", None)
        copy = destination / path.name
        copy.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
        copies.append(copy)
    return copies
