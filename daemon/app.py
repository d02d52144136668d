"""The daemon's lifecycle: resources, the consumer loop, checkpoint cadence, readiness, signals.

One plain ``while running`` loop with one bounded poll per pass (STYLE.md). Signal handlers only
request a stop; the loop finishes its batch, checkpoints and closes. A second signal exits at once.
Infrastructure trouble never loses data: a failed checkpoint leaves state dirty and partitions
paused, and is retried with backoff; a broker outage just makes polls empty while the client
reconnects. Meanwhile the HTTP thread keeps answering and /readyz says why it is not ready.
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
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from daemon.calendar import WorkingCalendar
from daemon.config import Settings
from daemon.engine import Engine
from daemon.exceptions import DlqError, SourceError, StoreError, StoreVersionError
from daemon.http import HttpServer
from daemon.metrics import FlowCounters, Snapshot, StateCollector
from daemon.pipeline import Message
from daemon.probe import broker_problem, unreachable_brokers
from daemon.source import DlqProducer, KafkaSource, Partition
from daemon.store.base import SCHEMA_VERSION
from daemon.store.sql import SqlStore, open_store
from schemas.registry import load_registry

log = structlog.get_logger("svmon.app")

_POLL_TIMEOUT_MS = 200
_LAG_EVERY_S = 5.0
_PROGRESS_EVERY_S = 10.0
_PROBE_EVERY_S = 2.0
_MAX_BACKOFF_S = 30.0
_SCRAPE_LOCK_WAIT_S = 2.0


class App:
    """``svmon run``: see the module docstring."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._stop = threading.Event()
        self._signals = 0
        self._pending: set[Partition] = set()
        self._assigned_once = False
        self._problems: dict[str, str] = {"startup": "starting"}
        self._lag: dict[Partition, int] = {}
        self._brokers: list[str] = []  # the cluster's brokers, as the consumer's metadata lists them
        self.engine: Engine | None = None
        self.source: KafkaSource | None = None
        self.dlq: DlqProducer | None = None
        self.http: HttpServer | None = None
        self._last_snapshot = Snapshot()

    # --- readiness --------------------------------------------------------------------------------

    def readiness(self) -> list[str]:
        reasons = [reason for reason in self._problems.values() if reason]
        if not self._assigned_once and "startup" not in self._problems:
            reasons.append("waiting for partition assignment")
        if self._pending:
            reasons.append(f"restoring state of {len(self._pending)} partitions")
        return reasons

    def _problem(self, name: str, reason: str | None) -> None:
        if reason:
            if self._problems.get(name) != reason:
                log.warning("not ready", component=name, reason=reason)
            self._problems[name] = reason
        elif self._problems.pop(name, None) is not None:
            log.info("recovered", component=name)

    # --- rebalance hooks (kafka-python's I/O thread: keep them short) -----------------------------

    def _on_assigned(self, partitions: list[Partition]) -> None:
        engine, source = self.engine, self.source
        if engine is None or source is None:
            return
        # Only pause here; reading stored offsets, seeking and restoring happen on the main loop,
        # where a store failure is handled instead of surfacing from poll() as a KafkaError.
        with engine.lock:
            source.pause(partitions)
            self._pending.update(partitions)
            self._assigned_once = True
        log.info("partitions assigned", partitions=sorted(partitions))

    def _on_revoked(self, partitions: list[Partition]) -> None:
        engine, dlq = self.engine, self.dlq
        if engine is None or dlq is None or not partitions:
            return  # the first join revokes nothing
        scopes = {engine.scope_of(*p) for p in partitions}
        with engine.lock:
            self._pending.difference_update(partitions)
            try:
                engine.checkpoint(dlq, scopes)
            except (StoreError, DlqError) as exc:
                # Safe to let go without it: the next owner resumes from the last checkpoint.
                log.warning(
                    "checkpoint on revoke failed; the next owner replays from the last one", error=str(exc)
                )
            for scope in scopes:
                engine.drop_scope(scope)
        log.info("partitions revoked", partitions=sorted(partitions))

    def _on_lost(self, partitions: list[Partition]) -> None:
        engine = self.engine
        if engine is None:
            return
        with engine.lock:
            self._pending.difference_update(partitions)
            for scope in {engine.scope_of(*p) for p in partitions}:
                engine.drop_scope(scope)  # another member may own them already: never write them
        log.warning("partitions lost; uncommitted state discarded", partitions=sorted(partitions))

    # --- main loop --------------------------------------------------------------------------------

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
            prometheus = CollectorRegistry(auto_describe=False)
            topics = list(self._topic_names())
            counters = FlowCounters(prometheus, registry, topics)
            prometheus.register(StateCollector(self._snapshot, settings.targets.model_dump()))
            # Serve first: while the store or the broker is still away, /healthz and /metrics answer
            # and /readyz says what svmon is waiting for (SPEC §9.5).
            self.http = HttpServer(
                settings.http.host, settings.http.port, prometheus, self.readiness, self._indicators_api
            )
            self.http.start()
            stack.callback(self.http.stop)
            log.info("serving", url=f"http://{settings.http.host}:{self.http.port}/metrics")
            store = self._open_store(stack)
            if store is None:
                log.info("stopped")
                return 0  # stopped before the store was reachable
            if store.migrated_from is not None:
                log.info("store upgraded", store=store.url, schema=SCHEMA_VERSION, was=store.migrated_from)
            log.info("store open", store=store.url)
            engine = Engine(settings, registry, calendar, store, counters=counters, clock=self.clock)
            self.engine = engine
            probe = threading.Thread(target=self._probe_loop, name="svmon-probe", daemon=True)
            probe.start()
            self._connect(stack)
            self._loop(engine, counters)
        log.info("stopped")
        return 0

    def _topic_names(self) -> list[str]:
        topics = self.settings.kafka.topics
        return [
            topics.events,
            topics.inspections,
            topics.catalog,
            topics.disclosures,
            topics.disclosure_requests,
        ]

    def _open_store(self, stack: ExitStack) -> SqlStore | None:
        """Open the checkpoint store; None if a stop came first.

        A PostgreSQL server that is away (restarting, a cut link) is waited for with backoff, like the
        broker. A SQLite file that cannot be opened is a configuration problem: that error ends the
        run, as does a store written by a newer svmon.
        """
        url = self.settings.store.url
        backoff = 0.5
        while not self._stop.is_set():
            try:
                store = open_store(url)
            except StoreVersionError:
                raise
            except StoreError as exc:
                if url.startswith("sqlite"):
                    raise
                self._problem("startup", f"opening the store: {exc}")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                continue
            stack.callback(store.close)
            self._problems["startup"] = "starting"  # next: connecting to Kafka
            return store
        return None

    def _connect(self, stack: ExitStack) -> None:
        """Create the DLQ producer and the consumer, retrying with backoff while the broker is away."""
        backoff = 0.5
        kafka = self.settings.kafka
        while not self._stop.is_set():
            try:
                if self.dlq is None:
                    self.dlq = DlqProducer(kafka.producer_kwargs(), kafka.topics.dlq)
                    stack.callback(self.dlq.close)
                self.source = KafkaSource(
                    kafka.consumer_kwargs(),
                    self._topic_names(),
                    on_assigned=self._on_assigned,
                    on_revoked=self._on_revoked,
                    on_lost=self._on_lost,
                )
                stack.callback(self.source.close)
                self._problem("startup", None)
                return
            except (SourceError, DlqError) as exc:
                # kafka-python says "Unable to bootstrap" whatever went wrong; the probe names the step
                # that fails (refused, TLS, credentials) when it can.
                reason = broker_problem(kafka.bootstrap_server_list, kafka.probe_settings()) or str(exc)
                self._problem("startup", f"connecting to Kafka: {reason}")
                log.warning("cannot connect to Kafka; retrying", reason=reason, retry_in_s=backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _loop(self, engine: Engine, counters: FlowCounters) -> None:
        source, dlq = self.source, self.dlq
        if source is None or dlq is None:
            return  # stopped before Kafka was reachable
        store_settings = self.settings.store
        every_records = store_settings.checkpoint_every_records
        every_s = store_settings.checkpoint_every_ms / 1000
        since_checkpoint = 0
        last_checkpoint = time.monotonic()
        retry_at = 0.0
        backoff = poll_backoff = 0.5
        paused_for_failure = False
        next_lag = next_progress = time.monotonic()
        last_consumed = 0
        max_records = self.settings.kafka.max_poll_records
        while not self._stop.is_set():
            self._restore_pending(engine, source)
            try:
                messages = source.poll(_POLL_TIMEOUT_MS, max_records)
            except SourceError as exc:
                # Nothing was applied; the client rejoins or reconnects on the next poll.
                self._problem("poll", str(exc))
                self._stop.wait(poll_backoff)
                poll_backoff = min(poll_backoff * 2, _MAX_BACKOFF_S)
                continue
            self._problem("poll", None)
            poll_backoff = 0.5
            if messages:
                try:
                    engine.process(messages, dlq)
                except StoreError as exc:
                    # Raised before any state changed (loading evicted entities): take the batch
                    # back and wait for the store, exactly as for a failed checkpoint.
                    self._rewind(source, messages)
                    counters.checkpoint_failures.inc()
                    self._problem("checkpoint", f"store unavailable: {exc}")
                    if not paused_for_failure:
                        source.pause(source.assignment())
                        paused_for_failure = True
                    retry_at = time.monotonic() + backoff
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
                    continue
                since_checkpoint += len(messages)
            monotonic = time.monotonic()
            due = since_checkpoint >= every_records or (
                monotonic - last_checkpoint >= every_s and since_checkpoint
            )
            if (due or paused_for_failure) and monotonic >= retry_at:
                try:
                    if paused_for_failure:
                        engine.ping_store()  # a clean state would "checkpoint" without touching the store
                    offsets = engine.checkpoint(dlq)
                except (StoreError, DlqError) as exc:
                    counters.checkpoint_failures.inc()
                    self._problem("checkpoint", f"checkpoint failing: {exc}")
                    if not paused_for_failure:
                        # Stop taking in more until state is durable again: memory stays bounded and
                        # nothing is committed past what the DLQ and the store hold.
                        source.pause(source.assignment())
                        paused_for_failure = True
                    retry_at = monotonic + backoff
                    backoff = min(backoff * 2, _MAX_BACKOFF_S)
                else:
                    self._problem("checkpoint", None)
                    since_checkpoint = 0
                    last_checkpoint = monotonic
                    backoff = 0.5
                    if paused_for_failure:
                        source.resume([p for p in source.assignment() if p not in self._pending])
                        paused_for_failure = False
                    self._commit_quietly(source, offsets)
            if monotonic >= next_lag:
                next_lag = monotonic + _LAG_EVERY_S
                self._update_lag(source, engine)
            if monotonic >= next_progress:
                next_progress = monotonic + _PROGRESS_EVERY_S
                consumed = engine.consumed_total
                log.info(
                    "progress",
                    consumed=consumed,
                    rate_per_s=round((consumed - last_consumed) / _PROGRESS_EVERY_S),
                    rejected=engine.rejected_total,
                    lag=sum(self._lag.values()),
                )
                last_consumed = consumed
        self._shutdown(engine, dlq)

    def _restore_pending(self, engine: Engine, source: KafkaSource) -> None:
        if not self._pending:
            return
        with engine.lock:
            pending = set(self._pending)
            scopes = {engine.scope_of(*p) for p in pending}
            try:
                stored = engine.stored_offsets(pending)
                for partition in pending:
                    source.seek(partition, stored.get(partition))
                for scope in sorted(scopes):
                    if scope not in engine.states:
                        started = time.monotonic()
                        state = engine.open_scope(scope)
                        log.info(
                            "state restored",
                            scope=f"{scope[0]}/{scope[1]}",
                            resident=len(state.entities),
                            seconds=round(time.monotonic() - started, 3),
                        )
            except StoreError as exc:
                self._problem("store", f"restoring state: {exc}")
                return
            self._problem("store", None)
            self._pending.difference_update(pending)
            source.resume(pending)

    @staticmethod
    def _rewind(source: KafkaSource, messages: list[Message]) -> None:
        first: dict[Partition, int] = {}
        for message in messages:
            partition = (message.topic, message.partition)
            first[partition] = min(first.get(partition, message.offset), message.offset)
        for partition, offset in first.items():
            source.seek(partition, offset)

    def _commit_quietly(self, source: KafkaSource, offsets: dict[Partition, int]) -> None:
        try:
            source.commit(offsets)
        except Exception as exc:  # Kafka's copy is informational; the store holds the truth
            log.debug("kafka offset commit failed", error=str(exc))

    def _update_lag(self, source: KafkaSource, engine: Engine) -> None:
        self._brokers = source.brokers()
        try:
            self._lag = source.lag(engine.checkpointed_offsets())
        except Exception as exc:
            log.debug("lag unavailable", error=str(exc))

    def _probe_loop(self) -> None:
        kafka = self.settings.kafka
        probe = kafka.probe_settings()
        while not self._stop.is_set():
            unreachable = broker_problem(kafka.bootstrap_server_list, probe)
            self._problem("broker", unreachable)
            # A broker that died still leads its partitions until the controller fences it (seconds):
            # meanwhile those partitions are stuck, and the metadata still lists it. Once fenced it
            # drops out of the list and its partitions have new leaders.
            brokers = self._brokers
            down = unreachable_brokers(brokers, probe) if brokers and unreachable is None else []
            self._problem(
                "brokers",
                f"{len(down)} of {len(brokers)} brokers unreachable: {'; '.join(down)}" if down else None,
            )
            engine = self.engine
            if engine is not None:
                try:
                    with engine.lock:
                        engine.store.ping()
                    if "store: " in self._problems.get("store", "store: "):
                        self._problem("store", None)
                except StoreError as exc:
                    self._problem("store", f"store: {exc}")
            self._stop.wait(_PROBE_EVERY_S)

    def _shutdown(self, engine: Engine, dlq: DlqProducer) -> None:
        try:
            offsets = engine.checkpoint(dlq)
            if self.source is not None:
                self._commit_quietly(self.source, offsets)
            log.info("final checkpoint written", partitions=len(offsets))
        except (StoreError, DlqError) as exc:
            log.error("final checkpoint failed; the next start replays from the last one", error=str(exc))

    # --- reading ----------------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        engine = self.engine
        if engine is None:
            return Snapshot()
        try:
            snapshot = engine.snapshot(lock_timeout=_SCRAPE_LOCK_WAIT_S)
        except TimeoutError:
            # The loop holds the state while it waits on a slow store: answer with the last figures
            # rather than hang the scrape (SPEC §9.5); readiness says what is wrong.
            snapshot = self._last_snapshot
        else:
            self._last_snapshot = snapshot
        snapshot.lag = dict(self._lag)
        snapshot.ready = not self.readiness()
        return snapshot

    def _indicators_api(self, period: str, by: str) -> dict[str, Any]:
        from daemon.reporting import report_json  # noqa: PLC0415 - reporting imports the engine

        return report_json(self.settings, period_text=period, by=by, now=self.clock())


# CPython collects generation 0 every 700 net allocations. svmon allocates dozens of short-lived
# objects per message (a validated record, dicts, tuples) and keeps its long-lived state in older
# generations; nearly nothing it allocates forms a reference cycle, so reference counting frees it
# anyway. At the default the collector alone cost ~8 us per message (bench/throughput.py, engine
# phase: 37 -> 29 us/msg); every 50,000 allocations it still collects the rare cycle promptly.
GC_THRESHOLDS = (50_000, 10, 10)


def tune_gc() -> tuple[int, int, int]:
    """Apply :data:`GC_THRESHOLDS` to this process; returns the thresholds it replaced."""
    previous = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    return previous


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


__all__ = ["GC_THRESHOLDS", "App", "run", "tune_gc"]
