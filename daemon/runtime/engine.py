"""The engine: partition states, the store and the pipeline, without Kafka.

It applies batches of messages, checkpoints, restores scopes, and answers the metrics collector.
The Kafka loop (:mod:`daemon.runtime.app`), the benchmark and tests drive it; everything it does to
state happens under :attr:`Engine.lock`, because kafka-python calls the rebalance hooks from its
own I/O thread and the HTTP server reads from its threads. What a batch adds to the flow counters
comes back as a :class:`daemon.core.tally.Tally` for the caller to export.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

import structlog

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.prepare import Message, Pipeline, Prepared, dlq_payload
from daemon.core.snapshot import Snapshot, take_snapshot
from daemon.core.state.entities import EVENT, INSPECTION, Entity, entity_key
from daemon.core.state.partition import PartitionState, ScopeId
from daemon.core.state.slots import InspectionData, data_of
from daemon.core.tally import Tally
from daemon.core.timeutil import day_of_epoch
from daemon.runtime.collector import collector_paused
from daemon.store.protocol import FencedError, Store
from daemon.streams import Stream
from schemas.registry import UNREGISTERED_DEPARTMENT, Registry

log = structlog.get_logger("svmon.engine")

Partition = tuple[str, int]  # (topic, partition number)


class DlqSink(Protocol):
    """Where rejected messages go: sent at once, acknowledged at ``flush`` (before each checkpoint)."""

    def send(self, key: bytes | None, payload: bytes) -> None: ...

    def flush(self, timeout: float = 30.0) -> int: ...


@dataclass
class BatchResult:
    """What one :meth:`Engine.process` did, and what it adds to the flow counters."""

    consumed: int = 0
    applied: int = 0
    rejected: int = 0
    skipped: int = 0  # messages of scopes this instance does not own (revoked mid-poll)
    tally: Tally = field(default_factory=Tally)


@dataclass(frozen=True)
class ReadAheadScope:
    """A scope read before this instance claimed it, and the scope's version it was read at."""

    state: PartitionState
    version: int


@dataclass(frozen=True)
class Checkpoint:
    """A written checkpoint: the next offset of every partition in it, and how long the store took."""

    offsets: dict[Partition, int]
    seconds: float


class Engine:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        calendar: WorkingCalendar,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.calendar = calendar
        self.store = store
        self.clock = clock
        self.rules = make_rules(settings, calendar)
        self.streams: dict[str, Stream] = settings.kafka.topics.streams_by_topic()
        self.pipeline = Pipeline(registry, settings.kafka.max_message_bytes)
        self.states: dict[ScopeId, PartitionState] = {}
        self.epochs: dict[ScopeId, int] = {}
        self._durable: dict[Partition, int] = {}  # next offsets the store holds, per owned partition
        self._read_ahead: dict[ScopeId, ReadAheadScope] = {}  # read, not yet claimed (:meth:`read_ahead`)
        self.lock = threading.RLock()
        self.consumed_total = 0
        self.applied_total = 0
        self.rejected_total = 0

    # --- scopes ---------------------------------------------------------------------------------

    def scope_of(self, topic: str, partition: int) -> ScopeId:
        return (self.streams[topic].scope, partition)

    def open_scope(self, scope_id: ScopeId) -> PartitionState:
        """Claim a scope (fencing out a previous owner) and restore its state from the store.

        A copy read ahead (:meth:`read_ahead`) is taken instead of reading again when the scope's
        version, read after the claim (so final), is the one it was read at.
        """
        scope, partition = scope_id
        with self.lock:
            resident_from = self._resident_from()
            self.epochs[scope_id] = self.store.claim(scope, partition)
            ahead = self._read_ahead.pop(scope_id, None)
            if (
                ahead is not None
                and ahead.state.resident_from == resident_from
                and ahead.version == self.store.version(scope, partition)
            ):
                state = ahead.state
            else:
                state = self._read_scope(self.store, scope_id, resident_from)
            for topic, offset in state.offsets.items():
                self._durable[(topic, partition)] = offset
            self.states[scope_id] = state
            return state

    def read_ahead(self, store: Store, stop: threading.Event) -> int:
        """Read every stored scope of the configured streams through ``store`` (a connection of the
        caller's thread), without claiming it, for :meth:`open_scope` to take; returns how many were
        kept. A scope a checkpoint wrote while it was read is not kept (``daemon/runtime/readahead.py``).
        """
        configured = {stream.scope for stream in self.streams.values()}
        kept = 0
        for scope_id in sorted(store.scopes()):
            if stop.is_set():
                break
            if scope_id[0] not in configured:
                continue
            before = store.version(*scope_id)
            state = self._read_scope(store, scope_id, self._resident_from())
            if store.version(*scope_id) != before:
                continue
            with self.lock:
                if scope_id not in self.states:  # not restored meanwhile without it
                    self._read_ahead[scope_id] = ReadAheadScope(state, before)
                    kept += 1
        return kept

    def read_ahead_state(self, scope_id: ScopeId) -> PartitionState | None:
        """The state read ahead for ``scope_id`` and not yet taken (tests, logs)."""
        with self.lock:
            ahead = self._read_ahead.get(scope_id)
            return None if ahead is None else ahead.state

    def drop_read_ahead(self) -> None:
        """Let go of what was read ahead and not taken: scopes this instance was not assigned."""
        with self.lock:
            self._read_ahead.clear()

    def _resident_from(self) -> int:
        # Only the current year's cells are read from memory (the metrics' periods); reports read
        # the store, so older days stay there.
        return date.fromordinal(day_of_epoch(self.clock())).replace(month=1, day=1).toordinal()

    def _read_scope(self, store: Store, scope_id: ScopeId, resident_from: int) -> PartitionState:
        """A scope's state as ``store`` holds it: entities, current cells, marks, next offsets."""
        scope, partition = scope_id
        state = PartitionState(scope, partition, self.rules, resident_from=resident_from)
        state.restore(store.load(scope, partition, state.resident_from))
        if scope_id in store.unlisted():
            state.relist()
        topics = [topic for topic, stream in self.streams.items() if stream.scope == scope]
        for (topic, _), offset in store.offsets((topic, partition) for topic in topics).items():
            state.offsets[topic] = offset
        return state

    def drop_scope(self, scope_id: ScopeId) -> None:
        with self.lock:
            state = self.states.pop(scope_id, None)
            self.epochs.pop(scope_id, None)
            if state is not None:
                for topic in state.offsets:
                    self._durable.pop((topic, state.partition), None)

    def stored_offsets(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        with self.lock:
            return self.store.offsets(partitions)

    # --- processing -----------------------------------------------------------------------------

    def process(self, messages: list[Message], dlq: DlqSink) -> BatchResult:
        """Validate and apply a batch; rejected messages go to ``dlq`` (flushed at checkpoint).

        A ``StoreError`` (from loading evicted entities) is raised before any state changes, so the
        caller can take the whole batch back and retry it later.
        """
        result = BatchResult(consumed=len(messages))
        if not messages:
            return result
        seen_at = datetime.fromtimestamp(self.clock(), UTC)
        with self.lock:
            owned = self._prepare(messages, seen_at, result)
            ends: dict[tuple[PartitionState, str], int] = {}
            for state, prepared in owned:
                self._apply(state, prepared, dlq, seen_at, result)
                ends[(state, prepared.message.topic)] = prepared.message.offset + 1
            for (state, topic), next_offset in ends.items():
                state.advance(topic, next_offset)
            self.consumed_total += result.consumed - result.skipped
            self.applied_total += result.applied
            self.rejected_total += result.rejected
        return result

    def _prepare(
        self, messages: list[Message], seen_at: datetime, result: BatchResult
    ) -> list[tuple[PartitionState, Prepared]]:
        """Validate the messages of owned scopes, and bring back the evicted entities they touch."""
        prepare = self.pipeline.prepare
        # One scope lookup per topic-partition of the batch, not per message.
        placement: dict[Partition, PartitionState | None] = {}
        owned: list[tuple[PartitionState, Prepared]] = []
        wanted: dict[ScopeId, list[str]] = {}
        for message in messages:
            where = (message.topic, message.partition)
            if where in placement:
                state = placement[where]
            else:
                state = placement[where] = self.states.get(self.scope_of(*where))
            if state is None:
                result.skipped += 1
                continue
            prepared = prepare(message, seen_at)
            owned.append((state, prepared))
            if prepared.kind is not None:
                wanted.setdefault(state.scope_id, []).append(entity_key(prepared.kind, prepared.ident))
        self._load_evicted(wanted)
        return owned

    def _apply(
        self, state: PartitionState, prepared: Prepared, dlq: DlqSink, seen_at: datetime, result: BatchResult
    ) -> None:
        """Apply one prepared message to its scope's state and count it."""
        tally = result.tally
        message = prepared.message
        topic = message.topic
        view = None
        kind, slot = prepared.kind, prepared.slot
        applied = state.take(prepared)
        if applied is not None:
            outcome, _, before, view = applied
            if outcome != "applied":
                tally.ignored_version(topic, outcome)
            elif kind == EVENT:
                tally.event_transition(before, view)
        tally.consumed(topic, message.timestamp_ms / 1000)
        department = prepared.department or (view.department if view is not None else UNREGISTERED_DEPARTMENT)
        tally.record(prepared.schema, department)
        if prepared.key_mismatch:
            tally.key_mismatch(topic)
        rejected = prepared.rejected
        if rejected is not None:
            dlq.send(message.key, dlq_payload(prepared, seen_at))
            result.rejected += 1
            tally.rejected(prepared.schema, department, [error.code for error in rejected.errors])
            tally.dlq_write(topic)
            return
        result.applied += 1
        if kind == INSPECTION and slot is not None:
            tally.inspection(slot.department, slot.division, data_of(slot, InspectionData).channel)

    def _load_evicted(self, wanted: dict[ScopeId, list[str]]) -> None:
        """Bring back closed entities a late record refers to (they live in the store only)."""
        for scope_id, keys in wanted.items():
            state = self.states[scope_id]
            missing = list(dict.fromkeys(state.missing(keys)))
            if not missing:
                continue
            for key, row in self.store.fetch(scope_id[0], scope_id[1], missing):
                state.adopt(Entity.from_json(key, row))

    # --- checkpoint -----------------------------------------------------------------------------

    def checkpoint(self, dlq: DlqSink, scopes: Iterable[ScopeId] | None = None) -> Checkpoint:
        """Flush the DLQ, then write the scopes' changes and next offsets in one transaction.

        The DLQ goes first: once offsets past a rejected message are durable, its DLQ copy must be
        too. Returns the offsets now durable (for Kafka's copy, which lag tools read).

        The cyclic collector is paused throughout: a checkpoint builds its rows all at once (tuples,
        lists, encoded strings; a few hundred thousand objects for ~20,000 messages, none in a
        cycle), and with them alive every young collection walked them all. That was most of the
        collector's 6.4-8.2 s in the bench's 1M run, and 4.3 s even at a 200,000 threshold. They are
        all freed, by reference counting, before the collector is back: :meth:`_checkpoint` returns.
        """
        with collector_paused():
            return self._checkpoint(dlq, scopes)

    def _checkpoint(self, dlq: DlqSink, scopes: Iterable[ScopeId] | None) -> Checkpoint:
        with self.lock:
            chosen = list(self.states) if scopes is None else [s for s in scopes if s in self.states]
            dlq.flush()
            started = time.monotonic()
            while True:
                changes = {s: c for s in chosen if (c := self.states[s].changes()) is not None}
                try:
                    self.store.checkpoint(list(changes.values()), self.epochs)
                    break
                except FencedError as exc:
                    log.warning("scope fenced by another instance; dropping it", scope=exc.scope_id)
                    self.drop_scope(exc.scope_id)
                    chosen = [s for s in chosen if s != exc.scope_id]
            seconds = time.monotonic() - started
            offsets: dict[Partition, int] = {}
            for scope_id in chosen:
                state = self.states[scope_id]
                state.committed(changes.get(scope_id))
                state.evict_closed()
                for topic, offset in state.offsets.items():
                    offsets[(topic, state.partition)] = offset
            self._durable.update(offsets)
            return Checkpoint(offsets, seconds)

    def ping_store(self) -> None:
        """Raise ``StoreError`` unless the store answers now."""
        with self.lock:
            self.store.ping()

    def checkpointed_offsets(self) -> dict[Partition, int]:
        """Next offset per owned topic-partition as of the last checkpoint (or restore): what is durable."""
        with self.lock:
            return dict(self._durable)

    # --- reading --------------------------------------------------------------------------------

    def snapshot(self, now: float | None = None, lock_timeout: float = -1) -> Snapshot:
        """Indicators for the current day/month/quarter/year and the state gauges, at ``now``.

        Raises ``TimeoutError`` when the state lock is not free within ``lock_timeout`` seconds
        (the loop is stuck on a slow store): scrapes must not hang with it.
        """
        at = self.clock() if now is None else now
        if not self.lock.acquire(timeout=lock_timeout):
            raise TimeoutError("state busy")
        try:
            return take_snapshot(self.states.values(), self.rules, at, self.calendar.fallback_counts)
        finally:
            self.lock.release()
