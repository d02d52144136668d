"""Live traffic produced to Kafka: the demo's live phase, and ``svmon feed`` (compose's demo profile).

:class:`LiveFeed` is one thread that asks :class:`daemon.tools.live.LiveTraffic` every second for
what has come due and produces it, each message with its own Kafka timestamp (the real time, or a
past one for the warm-up's late deliveries), to the topic of its stream. It flushes after every
tick, so a message is on the broker about a second after its time at most, and a broker that
refuses one stops the feed with the reason (:attr:`LiveFeed.error`) instead of dropping it.

``svmon feed`` runs the same generator against the configured Kafka (``kafka.bootstrap_servers``
and its security settings, ``kafka.topics``), with incidents from ``--incident`` and the control
port (:mod:`daemon.tools.control`) on loopback, until SIGINT or SIGTERM; it prints one line a
minute with what it sent. It produces no generated year: the warm-up's open stock and recent past
are enough for every panel, which is what a staging host wants from it.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from daemon import streams
from daemon.core.calendar import WorkingCalendar
from daemon.core.timeutil import SHANGHAI
from daemon.exceptions import EXIT_FAILURE, EXIT_OK, ConfigError, SourceError
from daemon.tools.incidents import NAMES, Incidents
from daemon.tools.live import KnownItem, LiveTraffic, Outgoing

if TYPE_CHECKING:
    from daemon.config import Settings

__all__ = [
    "DEFAULT_CONTROL_PORT",
    "DEFAULT_CONTROL_URL",
    "DEFAULT_RATE",
    "LiveFeed",
    "StopRequest",
    "feed_command",
    "incident_command",
    "live_traffic",
    "start_incidents",
]

#: Created events in a busy office hour of a working day: about what one of Ningbo's larger
#: districts sees, and enough for every panel and every low-volume guard of the rules.
DEFAULT_RATE = 120.0
_TICK_S = 1.0
_FLUSH_TIMEOUT_S = 30.0
_REPORT_EVERY_S = 60.0


def _now() -> datetime:
    return datetime.now(SHANGHAI)


class LiveFeed:
    """Produces ``traffic.due(clock())`` every ``tick_s`` on a thread of its own (see the module doc).

    ``producer`` is a kafka-python ``KafkaProducer`` (anything with ``send``/``flush``); ``topics``
    maps each stream name of :mod:`daemon.streams` to its topic.
    """

    def __init__(
        self,
        producer: Any,
        traffic: LiveTraffic,
        topics: Mapping[str, str],
        *,
        clock: Callable[[], datetime] = _now,
        tick_s: float = _TICK_S,
    ) -> None:
        missing = sorted(set(streams.NAMES) - set(topics))
        if missing:
            raise ValueError(f"no topic for the streams {', '.join(missing)}")
        self.producer = producer
        self.traffic = traffic
        self.topics = dict(topics)
        self.clock = clock
        self.tick_s = tick_s
        self.sent: Counter[str] = Counter()
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.sent.values())

    def counts(self) -> dict[str, int]:
        """Messages sent so far per stream name."""
        with self._lock:
            return dict(self.sent)

    def tick(self) -> int:
        """Produce what is due now and wait until the broker has it; how many were sent."""
        due = self.traffic.due(self.clock())
        if due:
            self._produce(due)
        return len(due)

    def _produce(self, messages: Iterable[Outgoing]) -> None:
        from kafka.errors import KafkaError  # noqa: PLC0415 - kafka-python only where it is used

        failures: list[BaseException] = []
        sent: Counter[str] = Counter()
        for message in messages:
            topic = self.topics[message.stream]
            try:
                future = self.producer.send(
                    topic, key=message.key, value=message.value, timestamp_ms=message.timestamp_ms
                )
            except KafkaError as exc:
                raise SourceError(f"cannot produce to topic {topic!r}: {exc}") from exc
            future.add_errback(failures.append)
            sent[message.stream] += 1
        try:
            self.producer.flush(timeout=_FLUSH_TIMEOUT_S)
        except KafkaError as exc:
            raise SourceError(
                f"live messages not acknowledged within {_FLUSH_TIMEOUT_S:.0f} s: {exc}"
            ) from exc
        if failures:
            raise SourceError(f"the broker refused a live message: {failures[0]}")
        with self._lock:
            self.sent.update(sent)

    def _run(self) -> None:
        try:
            while True:
                started = time.monotonic()
                self.tick()
                if self._stop.wait(max(0.0, self.tick_s - (time.monotonic() - started))):
                    return
        except Exception as exc:  # the owner reports it (the demo's screen, feed_command's exit)
            self.error = exc

    def start(self) -> LiveFeed:
        self._thread = threading.Thread(target=self._run, name="svmon-live-feed", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to finish its tick and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)


def start_incidents(incidents: Incidents, names: Iterable[str]) -> None:
    """Start each of ``names``; an unknown one is a `ConfigError` that lists the known incidents."""
    for name in names:
        try:
            incidents.start(name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


def live_traffic(
    settings: Settings,
    *,
    seed: int,
    rate: float,
    start: datetime,
    incidents: Incidents,
    known: tuple[KnownItem, ...] = (),
) -> LiveTraffic:
    """The live generator for ``settings``' registry, calendar and rules (SLA days, publicity limit)."""
    from schemas.registry import load_registry  # noqa: PLC0415 - only the feeders generate traffic

    if not rate > 0:
        raise ConfigError(f"--rate must be positive, got {rate:g}")
    return LiveTraffic(
        load_registry(settings.registry_file),
        WorkingCalendar(settings.calendar.override_file),
        seed=seed,
        events_per_working_hour=rate,
        start=start,
        incidents=incidents,
        known=known,
        sla_working_days=settings.sla_working_days.model_dump(),
        publish_within_working_days=settings.disclosure.publish_within_working_days,
    )


class StopRequest:
    """Signal handlers that only set an event (SIGINT, SIGTERM, SIGHUP); the previous ones come back
    on exit. The demo and ``svmon feed`` stop in their own order once it is set."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.event = threading.Event()
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()

    def __enter__(self) -> threading.Event:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self.event

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _summary(feed: LiveFeed, incidents: Incidents) -> str:
    counts = feed.counts()
    per_stream = ", ".join(f"{name} {counts.get(name, 0):,}" for name in streams.NAMES)
    active = ", ".join(sorted(incidents.active())) or "none"
    return f"sent {feed.total:,} live records ({per_stream}); incidents active: {active}"


def feed_command(settings: Settings, args: argparse.Namespace, out: IO[str] = sys.stdout) -> int:
    """Run ``svmon feed`` (see the module docstring): 0 after SIGINT/SIGTERM, 1 if the broker fails."""
    from daemon.tools.control import ControlServer  # noqa: PLC0415
    from daemon.tools.loader import producer_for  # noqa: PLC0415

    incidents = Incidents()
    start_incidents(incidents, getattr(args, "incident", None) or ())
    traffic = live_traffic(
        settings, seed=int(args.seed), rate=float(args.rate), start=_now(), incidents=incidents
    )
    topics = {stream.name: settings.kafka.topics.of(stream) for stream in streams.STREAMS}
    producer = producer_for(settings.kafka.bootstrap_server_list, settings.kafka.client_kwargs())
    try:
        with StopRequest() as stop, ControlServer(incidents, port=int(args.control_port or 0)) as control:
            out.write(
                f"svmon feed: {args.rate:g} events per busy working hour to"
                f" {settings.kafka.bootstrap_servers} (seed {args.seed}); incidents: {', '.join(NAMES)}\n"
                f"  control  {control.url}  (POST/DELETE {control.url}/<name> starts/stops one)\n"
            )
            out.flush()
            feed = LiveFeed(producer, traffic, topics).start()
            last_report = time.monotonic()
            while not stop.wait(_TICK_S):
                if feed.error is not None:
                    sys.stderr.write(f"svmon feed: {feed.error}\n")
                    return EXIT_FAILURE
                if time.monotonic() - last_report >= _REPORT_EVERY_S:
                    last_report = time.monotonic()
                    out.write(_summary(feed, incidents) + "\n")
                    out.flush()
            feed.stop()
            out.write(f"stopped: {_summary(feed, incidents)}\n")
            return EXIT_OK
    finally:
        producer.close(timeout=10)


#: Where ``svmon feed`` serves its control port unless told otherwise, and where ``svmon incident``
#: looks for it (the demo's is a free port it prints: give it with ``--control``).
DEFAULT_CONTROL_PORT = 9110
DEFAULT_CONTROL_URL = f"http://127.0.0.1:{DEFAULT_CONTROL_PORT}/incidents"


def incident_command(args: argparse.Namespace, out: IO[str] = sys.stdout) -> int:
    """``svmon incident list|start|stop [NAME]``: the control port's API for a person at a shell."""
    import json  # noqa: PLC0415 - only this command talks HTTP
    import urllib.error  # noqa: PLC0415
    import urllib.parse  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    base = str(args.control).rstrip("/")
    if urllib.parse.urlsplit(base).hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise ConfigError(f"--control {base}: the control port listens on loopback only")
    action = str(args.action)
    if action != "list" and not args.name:
        raise ConfigError(f"svmon incident {action} needs the incident's NAME ({', '.join(NAMES)})")
    method = {"list": "GET", "start": "POST", "stop": "DELETE"}[action]
    url = base if action == "list" else f"{base}/{urllib.parse.quote(str(args.name))}"
    request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback http, checked above
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            body = json.loads(body).get("error", body)
        sys.stderr.write(f"svmon incident: {url}: {error.code} {body}\n")
        return EXIT_FAILURE
    except OSError as error:
        sys.stderr.write(
            f"svmon incident: nothing answers at {base} ({error}); is `svmon feed` or the demo running?\n"
        )
        return EXIT_FAILURE
    if action == "list":
        active = set(answer.get("active", []))
        for incident in answer.get("known", []):
            state = "active" if incident["name"] in active else "-"
            out.write(f"{incident['name']:<20} {state:<7} {incident['alert']}  {incident['fires_after']}\n")
    else:
        changed = "" if answer.get("changed") else " (already so)"
        out.write(f"{answer['name']}: {'started' if answer['active'] else 'stopped'}{changed}\n")
    return EXIT_OK
