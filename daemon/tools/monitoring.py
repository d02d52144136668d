"""Debian's Prometheus and Alertmanager beside ``svmon demo``, with the project's rules and routing.

``svmon demo --prometheus`` uses this so that every recording rule and dashboard query has data and
the project's alerts really fire and are routed, on one machine and on loopback only:

```python
with Monitoring(work, "127.0.0.1:9108", rules_dir=rules, alertmanager_config=config) as monitoring:
    print(monitoring.prometheus_url, monitoring.alertmanager_url)
    for alert in monitoring.firing_alerts():
        print(alert.line())
```

What runs, all of it generated in ``work`` (kept afterwards, like the demo's other logs):

- Alertmanager (``prometheus-alertmanager``) with ``work/alertmanager.yml``: ``alerts/alertmanager.yml``
  with its routes, grouping, inhibition rules and time intervals as committed, but every receiver
  reduced to its name. The example's receivers are webhooks to example.org; a demo must not send
  anything off the machine, and a receiver without integrations still shows, in the API, which
  receiver each alert was routed to. Clustering is off (``--cluster.listen-address=``): by default
  Alertmanager gossips on 0.0.0.0:9094, a fixed port on every interface that a second instance
  (or the test suite's) would collide on, and waits for the gossip to settle before it notifies.
- Prometheus with ``work/prometheus.yml``: the ``svmon`` job (the job label the rules and dashboards
  select on: ``up{job="svmon"}``) scraping the demo's daemon over plain HTTP, every
  ``alerts/rules/*.yml`` loaded in place (the rules are tested as committed, so they are not
  rewritten: an alert with ``for: 15m`` takes 15 minutes here too), alerts sent to the Alertmanager
  above. Firing alerts are re-sent every evaluation interval (``--rules.alert.resend-delay``; the
  default is a minute): the notifier discovers even a static Alertmanager asynchronously, and what
  it drops before that would otherwise show a minute late.

Both listen on free ports of 127.0.0.1 and announce 127.0.0.1 URLs as their external URL (the
generator links in alerts would otherwise name the host). They run in sessions of their own, so a
terminal's Ctrl-C reaches only the demo, which stops them in order: Prometheus first (it would
otherwise log failed notifications), then Alertmanager, each with SIGTERM and SIGKILL after a timeout.
The flip side: nothing stops them if the demo itself is SIGKILLed, so the demo must leave through
``__exit__`` on every signal it can catch (it does for SIGINT, SIGTERM and SIGHUP).

Timing, measured with Prometheus 2.42: both are ready within half a second, but the first scrape
comes about 5 s after the start whatever the scrape interval (the scrape manager applies target
changes on a 5 s tick), and an alert without ``for:`` reaches Alertmanager about one evaluation
interval later: ~6.5 s with 1 s intervals, ~11 s with the default 5 s.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

import yaml

from daemon.core.timeutil import SHANGHAI
from daemon.exceptions import SvmonError
from daemon.tools.broker import free_port, stop_child

__all__ = [
    "Binaries",
    "FiringAlert",
    "Monitoring",
    "MonitoringError",
    "ProjectFiles",
    "Unavailable",
    "alertmanager_config",
    "external_urls",
    "find_binaries",
    "project_files",
    "prometheus_config",
    "rule_files",
    "write_alertmanager_config",
]

_HOST = "127.0.0.1"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Searched after $PATH: a login shell without /usr/bin on PATH still finds Debian's binaries.
_FALLBACK_DIRS: tuple[Path, ...] = (Path("/usr/bin"),)
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_HTTP_TIMEOUT_S = 5.0
_POLL_S = 0.1
_LOG_TAIL_LINES = 20
_START_ATTEMPTS = 3  # a free port can be taken between probing it and the server binding it
_PORT_TAKEN = "address already in use"
# Lower is more urgent; used to list pages before tickets.
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2, "none": 3}
# Labels every alert has or that say nothing about what is wrong: left out of one-line summaries.
_UNINTERESTING_LABELS = frozenset({"alertname", "severity", "category", "job", "instance"})
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")

Json = dict[str, Any]


class MonitoringError(SvmonError):
    """Prometheus or Alertmanager cannot run or answer; the message says what to do or quotes the log."""


@dataclass(frozen=True)
class Unavailable:
    """Something ``--prometheus`` needs is missing; ``reason`` is a sentence for the operator.

    Returned rather than raised, so that a caller can check before it starts anything else:
    ``if isinstance(found := find_binaries(), Unavailable): print(found.reason)``.
    """

    reason: str


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of the two servers (Debian names Alertmanager ``prometheus-alertmanager``)."""

    prometheus: str
    alertmanager: str


class ProjectFiles(NamedTuple):
    """The checkout's alert rules directory and example Alertmanager configuration."""

    rules_dir: Path
    alertmanager_config: Path


# (what, executable names to try, Debian package that ships it)
_SERVERS = (
    ("prometheus", ("prometheus",), "prometheus"),
    ("alertmanager", ("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager"),
)


def _which(names: tuple[str, ...], search_path: str) -> str | None:
    """The first of ``names`` found on ``search_path`` or in the fallback directories."""
    directories = os.pathsep.join([search_path, *map(str, _FALLBACK_DIRS)])
    for name in names:
        found = shutil.which(name, path=directories)
        if found is not None:
            return str(Path(found).resolve())
    return None


def find_binaries(search_path: str | None = None) -> Binaries | Unavailable:
    """Prometheus and Alertmanager from ``$PATH`` (or ``search_path``) or /usr/bin.

    When one is missing, the reason names the Debian package to install, because that is the fix
    on the machines svmon runs on (``make demo`` installs them as root).
    """
    path = os.environ.get("PATH", "") if search_path is None else search_path
    found: dict[str, str] = {}
    missing: list[tuple[str, str]] = []
    for what, names, package in _SERVERS:
        binary = _which(names, path)
        if binary is None:
            missing.append((" or ".join(f"`{name}`" for name in names), package))
        else:
            found[what] = binary
    if missing:
        executables = " and ".join(names for names, _ in missing)
        packages = " ".join(package for _, package in missing)
        return Unavailable(
            f"{executables} not found on PATH or in /usr/bin: install Debian's "
            f"{'package' if len(missing) == 1 else 'packages'} `{packages}` "
            f"(apt-get install {packages}; `make demo` does it when run as root)"
        )
    return Binaries(prometheus=found["prometheus"], alertmanager=found["alertmanager"])


def project_files(package_dir: Path | None = None) -> ProjectFiles | Unavailable:
    """``alerts/rules`` and ``alerts/alertmanager.yml`` of the checkout this ``daemon`` package is in.

    The wheel ships only ``daemon``, ``schemas`` and ``seeds``; run from an installed wheel there is
    no checkout next to the package, and the reason says so rather than pointing at missing files.
    """
    package = package_dir if package_dir is not None else Path(__file__).resolve().parents[1]
    root = package.parent
    rules_dir = root / "alerts" / "rules"
    config = root / "alerts" / "alertmanager.yml"
    if not rules_dir.is_dir() or not config.is_file():
        return Unavailable(
            f"no alerts/rules and alerts/alertmanager.yml next to the svmon package ({package}): the "
            "installed wheel ships only daemon, schemas and seeds; run `svmon demo --prometheus` from a "
            "checkout of the repository (`make demo`)"
        )
    if not rule_files(rules_dir):
        return Unavailable(f"no rule files (*.yml) in {rules_dir}")
    return ProjectFiles(rules_dir=rules_dir, alertmanager_config=config)


def rule_files(rules_dir: Path) -> list[Path]:
    """Every ``*.yml`` of ``rules_dir``, sorted: the files Prometheus and the PrometheusRule load."""
    return sorted(path.resolve() for path in rules_dir.glob("*.yml"))


def duration(seconds: float) -> str:
    """A Prometheus duration for ``seconds``: ``5s`` for whole seconds, else milliseconds."""
    milliseconds = round(seconds * 1000)
    if milliseconds <= 0:
        raise ValueError(f"a duration must be positive, not {seconds!r} s")
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


def prometheus_config(
    svmon_target: str,
    rules: list[Path],
    *,
    alertmanager: str,
    prometheus: str,
    scrape_interval_s: float,
    evaluation_interval_s: float,
) -> Json:
    """The demo's Prometheus configuration (``host:port`` arguments, all on loopback).

    The ``svmon`` job name is what the rules and dashboards select on; Prometheus and Alertmanager
    scrape themselves as in deploy/prometheus/prometheus.yml.
    """
    interval = duration(scrape_interval_s)
    return {
        "global": {
            "scrape_interval": interval,
            # Prometheus refuses a timeout longer than the interval (its default is 10 s).
            "scrape_timeout": duration(min(scrape_interval_s, 10.0)),
            "evaluation_interval": duration(evaluation_interval_s),
        },
        "rule_files": [str(path) for path in rules],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": "svmon", "static_configs": [{"targets": [svmon_target]}]},
            {"job_name": "prometheus", "static_configs": [{"targets": [prometheus]}]},
            {"job_name": "alertmanager", "static_configs": [{"targets": [alertmanager]}]},
        ],
    }


def alertmanager_config(source: Path) -> Json:
    """``source`` (alerts/alertmanager.yml) with nothing that could reach beyond this machine.

    Routes, grouping, inhibition rules and time intervals are kept as they are, so the demo shows
    the real routing tree; each receiver keeps its name and loses its integrations (webhooks,
    e-mail, …), so Alertmanager routes and groups but sends nothing. Of ``global`` only
    ``resolve_timeout`` is kept: the rest are defaults for integrations (SMTP hosts, API URLs).
    Templates only serve integrations and their paths are relative to ``source``: dropped.
    """
    document = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or "route" not in document:
        raise MonitoringError(f"{source} is not an Alertmanager configuration (no `route`)")
    derived: Json = {}
    resolve_timeout = (document.get("global") or {}).get("resolve_timeout")
    if resolve_timeout is not None:
        derived["global"] = {"resolve_timeout": resolve_timeout}
    derived.update((key, value) for key, value in document.items() if key not in {"global", "templates"})
    derived["receivers"] = [{"name": receiver["name"]} for receiver in document.get("receivers") or []]
    leaks = external_urls(derived)
    if leaks:
        raise MonitoringError(f"the configuration derived from {source} still names {', '.join(leaks)}")
    return derived


def write_alertmanager_config(source: Path, destination: Path) -> Path:
    """Write ``alertmanager_config(source)`` to ``destination``, saying in a comment where it is from."""
    header = (
        f"# Derived by svmon demo from {source}:\n"
        "# routes, grouping, inhibition and time intervals as committed;\n"
        "# receivers without integrations (nothing is sent).\n"
    )
    dumped = yaml.safe_dump(alertmanager_config(source), sort_keys=False, allow_unicode=True)
    destination.write_text(header + dumped, encoding="utf-8")
    return destination


def external_urls(document: Any) -> list[str]:
    """Every URL in a parsed YAML/JSON document whose host is not loopback (keys and values)."""
    found: list[str] = []
    if isinstance(document, Mapping):
        for key, value in document.items():
            found += external_urls(key) + external_urls(value)
    elif isinstance(document, list | tuple):
        for item in document:
            found += external_urls(item)
    elif isinstance(document, str):
        for match in _URL.findall(document):
            host = urllib.parse.urlsplit(match).hostname
            if host not in _LOOPBACK_HOSTS:
                found.append(match)
    return found


@dataclass(frozen=True)
class FiringAlert:
    """One alert as Alertmanager holds it: what fires, for whom, since when and where it is routed."""

    alertname: str
    severity: str
    labels: Mapping[str, str]
    starts_at: datetime
    receivers: tuple[str, ...]
    state: str  # "active", or "suppressed" when inhibited (listed only on request)
    inhibited_by: tuple[str, ...] = ()
    summary: str = ""
    fingerprint: str = field(default="", compare=False)

    @classmethod
    def from_api(cls, alert: Json) -> FiringAlert:
        """Parse one element of ``GET /api/v2/alerts``."""
        labels = dict(alert.get("labels") or {})
        status = alert.get("status") or {}
        return cls(
            alertname=labels.get("alertname", ""),
            severity=labels.get("severity", ""),
            labels=labels,
            starts_at=datetime.fromisoformat(alert["startsAt"]),
            receivers=tuple(sorted(receiver["name"] for receiver in alert.get("receivers") or [])),
            state=str(status.get("state", "")),
            inhibited_by=tuple(status.get("inhibitedBy") or ()),
            summary=str((alert.get("annotations") or {}).get("summary", "")),
            fingerprint=str(alert.get("fingerprint", "")),
        )

    def sort_key(self) -> tuple[int, str, tuple[tuple[str, str], ...], datetime]:
        """Pages before tickets, then by name and labels: a stable order for a refreshing screen."""
        rank = _SEVERITY_ORDER.get(self.severity, len(_SEVERITY_ORDER))
        return rank, self.alertname, tuple(sorted(self.labels.items())), self.starts_at

    @property
    def details(self) -> dict[str, str]:
        """The labels that say what is wrong where (department, division, indicator, topic, …)."""
        return {key: value for key, value in sorted(self.labels.items()) if key not in _UNINTERESTING_LABELS}

    def line(self) -> str:
        """One line for a terminal: severity, name, details, start (Asia/Shanghai) and receivers."""
        details = " ".join(f"{key}={value}" for key, value in self.details.items())
        since = self.starts_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M:%S")
        routed = f"-> {', '.join(self.receivers) or 'no receiver'}"
        if self.state == "suppressed":
            routed += " (inhibited)"
        parts = [f"{self.severity:<8}", self.alertname, details, f"since {since}", routed]
        return "  ".join(part for part in parts if part)


# No proxy, whatever http_proxy says: these URLs are loopback, and a proxy would take them off it.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _responds(url: str) -> bool:
    """Whether ``url`` answers 200 now (readiness probes: any failure is "not yet")."""
    try:
        with _OPENER.open(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _get_json(url: str) -> Any:
    """GET ``url`` (loopback) and parse its JSON body."""
    with _OPENER.open(url, timeout=_HTTP_TIMEOUT_S) as response:
        return json.load(response)


class _Server:
    """One server process with its log file, started in a session of its own."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, argv: list[str], cwd: Path, *, retry: bool = False) -> None:
        """Spawn ``argv`` with a new log; a ``retry`` appends, keeping the failed attempt's lines."""
        self._close_log()
        self._log = self.log_path.open("ab" if retry else "wb")
        try:
            self.process = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C is the demo's to handle, not theirs
            )
        except OSError as exc:
            self._close_log()
            raise MonitoringError(f"cannot run {self.name} ({argv[0]}): {exc}") from exc

    def exit_code(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server's log, for error messages."""
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, url: str, timeout: float) -> None:
        """Return once ``url`` answers 200; ``MonitoringError`` with the log if it exits or times out."""
        deadline = time.monotonic() + timeout
        while not _responds(url):
            code = self.exit_code()
            if code is not None:
                raise MonitoringError(f"{self.name} exited with code {code} at start; {self.log_says()}")
            if time.monotonic() > deadline:
                raise MonitoringError(f"{self.name} was not ready within {timeout:.0f} s; {self.log_says()}")
            time.sleep(_POLL_S)

    def port_was_taken(self) -> bool:
        """Whether the server exited because its port was bound by someone else meanwhile."""
        return self.exit_code() is not None and _PORT_TAKEN in self.log_tail().lower()

    def log_says(self) -> str:
        """Where the log is and how it ends: the part of an error message that explains it."""
        return f"the last lines of {self.log_path}:\n{self.log_tail()}"

    def stop(self, timeout: float) -> None:
        """SIGTERM, SIGKILL after ``timeout`` s, and reap; also when interrupted meanwhile."""
        try:
            if self.process is not None:
                stop_child(self.process, timeout)
        finally:
            self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class Monitoring:
    """Alertmanager and Prometheus for the demo, on loopback; a context manager (see the module doc)."""

    def __init__(
        self,
        work: Path,
        svmon_target: str,
        *,
        rules_dir: Path,
        alertmanager_config: Path,
        scrape_interval_s: float = 5,
        evaluation_interval_s: float = 5,
        start_timeout_s: float = _START_TIMEOUT_S,
        stop_timeout_s: float = _STOP_TIMEOUT_S,
    ) -> None:
        self.work = work
        self.svmon_target = svmon_target
        self.rules_dir = rules_dir
        self.source_alertmanager_config = alertmanager_config
        self.scrape_interval_s = scrape_interval_s
        self.evaluation_interval_s = evaluation_interval_s
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.prometheus_url = ""
        self.alertmanager_url = ""
        self._alertmanager = _Server("Alertmanager", work / "alertmanager.log")
        self._prometheus = _Server("Prometheus", work / "prometheus.log")

    # --- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> Monitoring:
        """Start Alertmanager, then Prometheus, each ready; on any failure stop what was started."""
        binaries = find_binaries()
        if isinstance(binaries, Unavailable):
            raise MonitoringError(binaries.reason)
        self.work.mkdir(parents=True, exist_ok=True)
        try:
            self.alertmanager_url = self._start(self._alertmanager, self._alertmanager_argv(binaries))
            self.prometheus_url = self._start(self._prometheus, self._prometheus_argv(binaries))
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop Prometheus, then Alertmanager; safe to call twice and after a failed start."""
        try:
            self._prometheus.stop(self.stop_timeout_s)
        finally:
            self._alertmanager.stop(self.stop_timeout_s)

    def _start(self, server: _Server, argv: Callable[[int], list[str]]) -> str:
        """Start ``server`` on a free port (retried if the port is taken meanwhile); its base URL."""
        for attempt in range(1, _START_ATTEMPTS + 1):
            port = free_port(_HOST)
            url = f"http://{_HOST}:{port}"
            server.start(argv(port), cwd=self.work, retry=attempt > 1)
            try:
                server.wait_ready(f"{url}/-/ready", self.start_timeout_s)
            except MonitoringError:
                if attempt < _START_ATTEMPTS and server.port_was_taken():
                    continue
                raise
            return url
        raise AssertionError("unreachable")  # pragma: no cover

    def _alertmanager_argv(self, binaries: Binaries) -> Callable[[int], list[str]]:
        """Write the derived configuration; the command line for a given port."""
        source = self.source_alertmanager_config
        config_path = write_alertmanager_config(source, self.work / "alertmanager.yml")

        def argv(port: int) -> list[str]:
            return [
                binaries.alertmanager,
                f"--config.file={config_path}",
                f"--storage.path={self.work / 'alertmanager-data'}",
                f"--web.listen-address={_HOST}:{port}",
                f"--web.external-url=http://{_HOST}:{port}/",
                "--cluster.listen-address=",
            ]

        return argv

    def _prometheus_argv(self, binaries: Binaries) -> Callable[[int], list[str]]:
        """The command line for a given port; writes the configuration naming that port."""
        config_path = self.work / "prometheus.yml"
        alertmanager = self.alertmanager_url.removeprefix("http://")

        def argv(port: int) -> list[str]:
            config = prometheus_config(
                self.svmon_target,
                rule_files(self.rules_dir),
                alertmanager=alertmanager,
                prometheus=f"{_HOST}:{port}",
                scrape_interval_s=self.scrape_interval_s,
                evaluation_interval_s=self.evaluation_interval_s,
            )
            config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            return [
                binaries.prometheus,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.work / 'prometheus-data'}",
                f"--web.listen-address={_HOST}:{port}",
                f"--web.external-url=http://{_HOST}:{port}/",
                f"--rules.alert.resend-delay={duration(self.evaluation_interval_s)}",
            ]

        return argv

    # --- while running ----------------------------------------------------------------------------

    @property
    def pids(self) -> dict[str, int]:
        """Process ids of the servers started (kept after they stop, for checking they are gone)."""
        servers = (self._alertmanager, self._prometheus)
        return {server.name: server.process.pid for server in servers if server.process is not None}

    @property
    def log_paths(self) -> tuple[Path, Path]:
        """``work/prometheus.log`` and ``work/alertmanager.log``."""
        return self._prometheus.log_path, self._alertmanager.log_path

    def check(self) -> None:
        """``MonitoringError`` with the log's last lines when either server has exited since its start."""
        for server in (self._alertmanager, self._prometheus):
            code = server.exit_code()
            if code is not None:
                raise MonitoringError(f"{server.name} exited with code {code}; {server.log_says()}")

    def _api(self, server: _Server, url: str) -> Any:
        """GET a JSON API of ``server``; a failure is a ``MonitoringError`` saying which and why."""
        try:
            return _get_json(url)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.check()
            raise MonitoringError(f"{server.name} did not answer {url}: {exc}") from exc

    def firing_alerts(self, *, include_inhibited: bool = False) -> list[FiringAlert]:
        """Alerts Alertmanager holds as firing and not silenced (nor inhibited unless asked), sorted.

        From its API v2 rather than Prometheus's, since what matters in the demo is what the routing
        tree makes of them: each alert carries the receivers it is routed to.
        """
        query = urllib.parse.urlencode(
            {"active": "true", "silenced": "false", "inhibited": str(include_inhibited).lower()}
        )
        alerts = self._api(self._alertmanager, f"{self.alertmanager_url}/api/v2/alerts?{query}")
        return sorted((FiringAlert.from_api(alert) for alert in alerts), key=FiringAlert.sort_key)

    def query(self, expr: str) -> list[Json]:
        """The instant vector ``expr`` evaluates to in Prometheus now (``[{metric, value}, …]``)."""
        url = f"{self.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        data = self._api(self._prometheus, url)["data"]
        if data["resultType"] in {"scalar", "string"}:
            return [{"metric": {}, "value": data["result"]}]
        result: list[Json] = data["result"]
        return result

    def rule_groups(self) -> list[Json]:
        """The rule groups Prometheus has loaded, each rule with its health and last error."""
        body = self._api(self._prometheus, f"{self.prometheus_url}/api/v1/rules")
        groups: list[Json] = body["data"]["groups"]
        return groups

    def describe(self) -> list[str]:
        """Lines for the demo's header: where each server is, what it loaded, where its log is."""
        prometheus_log, alertmanager_log = self.log_paths
        every = f"{self.scrape_interval_s:g} s"
        rules = len(rule_files(self.rules_dir))
        return [
            f"  prometheus    {self.prometheus_url}  (job svmon scrapes {self.svmon_target} every {every}; "
            f"{rules} rule files of {self.rules_dir})",
            f"  alertmanager  {self.alertmanager_url}  (routing of {self.source_alertmanager_config}; "
            "receivers without integrations: nothing is sent)",
            f"  logs          {prometheus_log}  {alertmanager_log}",
        ]
