"""``svmon run``: the daemon's lifecycle and signals; the consumer loop only delegates.

Resources are composed with an ``ExitStack``: the HTTP server first (so /healthz, /metrics and a
/readyz that says why keep answering while the store or the broker is away), then the store, the
probe thread, the DLQ producer and the consumer. The loop is a plain ``while running`` with one
bounded poll per pass; each pass restores newly assigned partitions (:mod:`.membership`), polls,
applies the batch (:class:`.engine.Engine`), lets the :mod:`.checkpointer` decide whether to write,
and updates lag and progress (:mod:`.monitor`). Signal handlers only request a stop; the loop
finishes its batch, checkpoints and closes. A second signal exits at once.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from types import FrameType
from typing import NamedTuple

import structlog

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.snapshot import Snapshot
from daemon.exceptions import DlqError, SourceError, StoreError, StoreVersionError
from daemon.exposition.access import WebConfig
from daemon.exposition.counters import FlowCounters
from daemon.exposition.http import HttpServer
from daemon.exposition.registry import metrics_registry
from daemon.exposition.webconfig import load_web_config
from daemon.reports.api import ReadApi
from daemon.runtime.checkpointer import Backoff, Checkpointer
from daemon.runtime.collector import collector_paused, tune_gc
from daemon.runtime.dlq import DlqProducer
from daemon.runtime.engine import DlqSink, Engine
from daemon.runtime.membership import Membership
from daemon.runtime.monitor import LoopWatch, ProbeThread, probe_settings
from daemon.runtime.probe import broker_problem
from daemon.runtime.readahead import ReadAhead
from daemon.runtime.readiness import Owner, Readiness
from daemon.runtime.source import KafkaSource, Source
from daemon.store import SCHEMA_VERSION, Store, open_store
from schemas.registry import load_registry

__all__ = ["App", "restore_without_collecting", "run"]

log = structlog.get_logger("svmon.app")

POLL_TIMEOUT_MS = 200
_SCRAPE_LOCK_WAIT_S = 2.0


class Kafka(NamedTuple):
    """The Kafka side, once connected: the consumer, the DLQ producer, and the group's hand-overs."""

    source: Source
    dlq: DlqSink
    membership: Membership


class App:
    """``svmon run``: see the module docstring."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.readiness = Readiness()
        self._stop = threading.Event()
        self._signals = 0
        self.engine: Engine | None = None
        self._watch: LoopWatch | None = None
        self._last_snapshot = Snapshot()

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting at once")
            os._exit(130)
        log.info("stop requested; finishing the batch and checkpointing")
        self._stop.set()

    def run(self) -> int:
        settings = self.settings
        with ExitStack() as stack:
            registry = load_registry(settings.registry_file)
            calendar = WorkingCalendar(settings.calendar.override_file)
            api = ReadApi(settings, registry, make_rules(settings, calendar), self.clock)
            stack.callback(api.close)
            prometheus, counters = metrics_registry(
                self._snapshot, settings.targets.model_dump(), registry, settings.kafka.topics.inputs()
            )
            web_config_file = settings.http.web_config_file
            # A bad file is a ConfigError (exit 2, the problems listed), raised before anything started.
            web_config = WebConfig() if web_config_file is None else load_web_config(web_config_file)
            http = HttpServer(
                settings.http.host,
                settings.http.port,
                prometheus,
                self.readiness.reasons,
                {
                    "/api/v1/indicators": api.indicators,
                    "/api/v1/lists/": api.lists,
                    "/api/v1/openapi.json": api.openapi,
                },
                web_config=web_config,
                probes_open=settings.http.probes_open,
            )
            http.start()
            stack.callback(http.stop)
            log.info(
                "serving",
                url=f"{http.scheme}://{settings.http.host}:{http.port}/metrics",
                basic_auth=web_config.basic_auth_required,
                probes_open=settings.http.probes_open,
            )
            probe = ProbeThread(settings.kafka, self.readiness, self._stop)
            probe.start()
            store = self._open_store(stack)
            if store is not None:
                engine = Engine(
                    settings,
                    registry,
                    calendar,
                    store,
                    clock=self.clock,
                )
                self.engine = probe.engine = engine
                read_ahead = None
                if settings.store.reads_ahead:
                    read_ahead = ReadAhead(engine, settings.store.url, self._stop).start()
                kafka = self._connect(stack, engine, read_ahead)
                if kafka is not None:
                    self.consume(engine, kafka, counters, probe)
        log.info("stopped")
        return 0

    # --- start-up ---------------------------------------------------------------------------------

    def _open_store(self, stack: ExitStack) -> Store | None:
        """Open the checkpoint store; None if a stop came first.

        A PostgreSQL server that is away (restarting, a cut link) is waited for with backoff, like the
        broker. A SQLite file that cannot be opened is a configuration problem: that error ends the
        run, as does a store written by a newer svmon.
        """
        url = self.settings.store.url
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                store = open_store(url)
            except StoreVersionError:
                raise
            except StoreError as exc:
                if url.startswith("sqlite"):
                    raise
                self.readiness.report(Owner.STARTUP, f"opening the store: {exc}")
                self._stop.wait(backoff.next())
                continue
            stack.callback(store.close)
            if store.migrated_from is not None:
                log.info("store upgraded", store=store.url, schema=SCHEMA_VERSION, was=store.migrated_from)
            log.info("store open", store=store.url)
            self.readiness.report(Owner.STARTUP, "starting")  # next: connecting to Kafka
            return store
        return None

    def _connect(self, stack: ExitStack, engine: Engine, read_ahead: ReadAhead | None) -> Kafka | None:
        """The DLQ producer and the consumer, retried with backoff while Kafka cannot be reached."""
        kafka = self.settings.kafka
        backoff = Backoff()
        dlq: DlqProducer | None = None
        while not self._stop.is_set():
            try:
                if dlq is None:
                    dlq = DlqProducer(kafka.producer_kwargs(), kafka.topics.dlq)
                    stack.callback(dlq.close)
                membership = Membership(engine, dlq, self.readiness)
                membership.read_ahead = read_ahead
                source = KafkaSource(
                    kafka.consumer_kwargs(),
                    kafka.topics.inputs(),
                    on_assigned=membership.on_assigned,
                    on_revoked=membership.on_revoked,
                    on_lost=membership.on_lost,
                )
            except (SourceError, DlqError) as exc:
                # kafka-python says "Unable to bootstrap" whatever went wrong; the probe names the step
                # that fails (refused, TLS, credentials) when it can.
                reason = broker_problem(kafka.bootstrap_server_list, probe_settings(kafka)) or str(exc)
                self.readiness.report(Owner.STARTUP, f"connecting to Kafka: {reason}")
                wait = backoff.next()
                log.warning("cannot connect to Kafka; retrying", reason=reason, retry_in_s=wait)
                self._stop.wait(wait)
                continue
            membership.source = source
            stack.callback(source.close)
            self.readiness.report(Owner.STARTUP, None)
            return Kafka(source, dlq, membership)
        return None

    # --- the loop ---------------------------------------------------------------------------------

    def consume(self, engine: Engine, kafka: Kafka, counters: FlowCounters, probe: ProbeThread) -> None:
        """The consumer loop, until a stop is requested; ends with the final checkpoint."""
        source, dlq, membership = kafka
        checkpointer = Checkpointer(
            engine,
            dlq,
            source,
            settings=self.settings.store,
            counters=counters,
            readiness=self.readiness,
            restoring=lambda: membership.pending,
        )
        self._watch = watch = LoopWatch(engine, source, probe)
        poll_backoff = Backoff()
        max_records = self.settings.kafka.max_poll_records
        while not self._stop.is_set():
            restore_without_collecting(membership)
            try:
                messages = source.poll(POLL_TIMEOUT_MS, max_records)
            except SourceError as exc:
                # Nothing was handed out; the client rejoins or reconnects on the next poll.
                self.readiness.report(Owner.POLL, str(exc))
                self._stop.wait(poll_backoff.next())
                continue
            self.readiness.report(Owner.POLL, None)
            poll_backoff.reset()
            if messages:
                try:
                    result = engine.process(messages, dlq)
                except StoreError as exc:  # raised before any state changed
                    checkpointer.store_failed(messages, exc)
                    continue
                counters.apply(result.tally)
                checkpointer.taken_in(len(messages))
            checkpointer.tick()
            watch.tick()
        checkpointer.final()

    # --- reading (the HTTP threads) ---------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        engine = self.engine
        if engine is None:
            return Snapshot()
        try:
            snapshot = engine.snapshot(lock_timeout=_SCRAPE_LOCK_WAIT_S)
        except TimeoutError:
            # The loop holds the state while it waits on a slow store: answer with the last figures
            # rather than hang the scrape (docs/contract.md §9.5); readiness says what is wrong.
            snapshot = self._last_snapshot
        else:
            self._last_snapshot = snapshot
        watch = self._watch
        snapshot.lag = {} if watch is None else dict(watch.lag)
        snapshot.ready = not self.readiness.reasons()
        return snapshot


def restore_without_collecting(membership: Membership) -> None:
    """Restore the pending partitions (:meth:`Membership.restore_pending`) with the cyclic garbage
    collector paused, then move what survived out of its sight (``gc.freeze``).

    A restore allocates objects that all live on (the resident entities, their slots and shares:
    ~365,000 tracked ones at 100,000 open events) and form no reference cycles, so collecting while
    they are built only walks the growing heap again and again (0.2-0.4 s of a 1.5 s restore, with
    :data:`daemon.runtime.collector.GC_THRESHOLDS`). Frozen, they are never walked again: not by the
    collection that would otherwise follow at once over everything allocated during the pause
    (0.18 s), nor by every full collection after. They are still freed by reference counting when a
    scope is dropped (a ``PartitionState`` holds no cycle). What the pause leaves is whatever cyclic
    garbage other threads made meanwhile, a few objects, kept for good: a restore collected none of
    its own. A restore that failed (the store away) freezes nothing: retried every pass, it would
    keep its garbage for good.
    """
    if not membership.pending:
        return
    with collector_paused():  # shared with the read-ahead thread, which may still be reading
        membership.restore_pending()
    if not membership.pending:
        gc.freeze()


def run(settings: Settings) -> int:
    """Entry point of ``svmon run``."""
    tune_gc()
    app = App(settings)
    previous = {sig: signal.signal(sig, app.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
