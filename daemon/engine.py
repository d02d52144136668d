"""The engine: partition states, the store and the pipeline, without Kafka.

It applies batches of messages, checkpoints, restores scopes, and answers the metrics collector and
the indicator API. The Kafka loop (:mod:`daemon.app`), the benchmark and tests drive it; everything
it does to state happens under :attr:`Engine.lock`, because kafka-python calls the rebalance hooks
from its own I/O thread and the HTTP server reads from its threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import structlog

from daemon.calendar import WorkingCalendar
from daemon.config import Settings
from daemon.indicators import (
    AGGREGATED,
    Counts,
    bump,
    compliance,
    coverage,
    event_gauges,
    onboarding,
    requests_open,
    sum_days,
    withdrawals,
)
from daemon.metrics import FlowCounters, Snapshot, Tally, count_in, tally_event_transition, tally_rejected
from daemon.pipeline import STREAM_SCOPE, Message, Pipeline, Prepared, dlq_payload
from daemon.state.entities import DISCLOSURE, EVENT, INSPECTION, ITEM, REQUEST, Entity, Rules
from daemon.state.partition import PartitionState, ScopeId
from daemon.store.base import FencedError
from daemon.store.sql import SqlStore
from daemon.timeutil import day_of_epoch, period_starts
from schemas.registry import UNREGISTERED_DEPARTMENT, Registry

log = structlog.get_logger("svmon.engine")


class DlqSink(Protocol):
    def send(self, key: bytes | None, payload: bytes) -> None: ...

    def flush(self, timeout: float = 30.0) -> int: ...


@dataclass
class BatchResult:
    consumed: int = 0
    applied: int = 0
    rejected: int = 0
    skipped: int = 0  # messages of scopes this instance does not own (revoked mid-poll)


def make_rules(settings: Settings, calendar: WorkingCalendar) -> Rules:
    return Rules(
        deadline=calendar.deadline_epoch,
        working_days_between=calendar.working_days_between_epoch,
        sla_working_days=settings.sla_working_days.model_dump(),
        publish_within=settings.disclosure.publish_within_working_days,
        withdraw_within=settings.disclosure.withdraw_within_working_days,
    )


def topic_streams(settings: Settings) -> dict[str, str]:
    """Topic name -> logical stream name, for the five input topics."""
    topics = settings.kafka.topics
    return {
        topics.events: "events",
        topics.inspections: "inspections",
        topics.catalog: "catalog",
        topics.disclosures: "disclosures",
        topics.disclosure_requests: "disclosure_requests",
    }


class Engine:
    """See the module docstring."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        calendar: WorkingCalendar,
        store: SqlStore,
        *,
        counters: FlowCounters | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.calendar = calendar
        self.store = store
        self.counters = counters
        self.clock = clock
        self.rules = make_rules(settings, calendar)
        self.streams = topic_streams(settings)
        self.pipeline = Pipeline(registry, self.streams, settings.kafka.max_message_bytes)
        self.states: dict[ScopeId, PartitionState] = {}
        self.epochs: dict[ScopeId, int] = {}
        self._durable: dict[tuple[str, int], int] = {}  # next offsets the store holds, per owned partition
        self.lock = threading.RLock()
        self.consumed_total = 0
        self.applied_total = 0
        self.rejected_total = 0

    # --- scopes ---------------------------------------------------------------------------------

    def scope_of(self, topic: str, partition: int) -> ScopeId:
        return (STREAM_SCOPE[self.streams[topic]], partition)

    def open_scope(self, scope_id: ScopeId) -> PartitionState:
        """Claim a scope (fencing out a previous owner) and restore its state from the store."""
        with self.lock:
            # Only the current year's cells are read from memory (the metrics' periods); reports
            # read the store, so older days stay there.
            this_year = date.fromordinal(day_of_epoch(self.clock())).replace(month=1, day=1).toordinal()
            state = PartitionState(scope_id[0], scope_id[1], self.rules, resident_from=this_year)
            self.epochs[scope_id] = self.store.claim(*scope_id)
            self.store.restore(state)
            stored = self.store.offsets(
                (topic, scope_id[1])
                for topic, stream in self.streams.items()
                if STREAM_SCOPE[stream] == scope_id[0]
            )
            for (topic, partition), offset in stored.items():
                state.offsets[topic] = offset
                self._durable[(topic, partition)] = offset
            self.states[scope_id] = state
            return state

    def drop_scope(self, scope_id: ScopeId) -> None:
        with self.lock:
            state = self.states.pop(scope_id, None)
            self.epochs.pop(scope_id, None)
            if state is not None:
                for topic in state.offsets:
                    self._durable.pop((topic, state.partition), None)

    def stored_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
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
        prepare = self.pipeline.prepare
        with self.lock:
            # One scope lookup per topic-partition of the batch, not per message.
            placement: dict[tuple[str, int], PartitionState | None] = {}
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
                    wanted.setdefault(state.scope_id, []).append(f"{prepared.kind}:{prepared.ident}")
            self._load_evicted(wanted)
            tally: Tally = {}
            newest: dict[str, float] = {}
            consumed: dict[str, int] = {}
            ends: dict[tuple[PartitionState, str], int] = {}
            for state, prepared in owned:
                message = prepared.message
                topic = message.topic
                view = None
                kind = prepared.kind
                if prepared.slot is not None and kind is not None:
                    outcome, entity, before = state.apply(
                        kind, prepared.ident, prepared.slot_name, prepared.slot
                    )
                    view = entity.contribution.view
                    if outcome != "applied":
                        count_in(tally, "ignored", (topic, outcome))
                    elif kind == EVENT:
                        tally_event_transition(tally, before.view, view)
                elif prepared.keyless is not None:
                    state.apply_counts(prepared.keyless)
                ends[(state, topic)] = message.offset + 1
                consumed[topic] = consumed.get(topic, 0) + 1
                seconds = message.timestamp_ms / 1000
                if seconds > newest.get(topic, 0.0):
                    newest[topic] = seconds
                department = prepared.department or (
                    view.department if view is not None else UNREGISTERED_DEPARTMENT
                )
                count_in(tally, "records", (prepared.schema, department))
                if prepared.key_mismatch:
                    count_in(tally, "key_mismatches", (topic,))
                rejected = prepared.rejected
                if rejected is not None:
                    dlq.send(message.key, dlq_payload(prepared, seen_at))
                    result.rejected += 1
                    tally_rejected(tally, prepared.schema, department, [e.code for e in rejected.errors])
                    count_in(tally, "dlq_writes", (topic,))
                else:
                    result.applied += 1
                    slot = prepared.slot
                    if kind == INSPECTION and slot is not None:
                        count_in(tally, "inspections", (slot.department, slot.division, slot.data["channel"]))
            for (state, topic), next_offset in ends.items():
                state.advance(topic, next_offset)
            if self.counters is not None:
                for topic, count in consumed.items():
                    tally[("messages_consumed", (topic,))] = count
                self.counters.apply(tally, newest)
            self.consumed_total += result.consumed - result.skipped
            self.applied_total += result.applied
            self.rejected_total += result.rejected
        return result

    def _load_evicted(self, wanted: dict[ScopeId, list[str]]) -> None:
        """Bring back closed entities a late record refers to (they live in the store only)."""
        for scope_id, keys in wanted.items():
            state = self.states[scope_id]
            missing = list(dict.fromkeys(state.missing(keys)))
            if not missing:
                continue
            for key, data in self.store.fetch(scope_id[0], scope_id[1], missing):
                state.adopt(Entity.from_json(key, data))

    # --- checkpoint -----------------------------------------------------------------------------

    def checkpoint(self, dlq: DlqSink, scopes: Iterable[ScopeId] | None = None) -> dict[tuple[str, int], int]:
        """Flush the DLQ, then write dirty state + offsets atomically; returns offsets for Kafka.

        The DLQ goes first: once offsets past a rejected message are durable, its DLQ copy must be too.
        """
        with self.lock:
            chosen = list(self.states) if scopes is None else [s for s in scopes if s in self.states]
            dlq.flush()
            started = time.monotonic()
            while True:
                try:
                    self.store.checkpoint([self.states[s] for s in chosen], self.epochs)
                    break
                except FencedError as exc:
                    log.warning("scope fenced by another instance; dropping it", scope=exc.scope_id)
                    self.drop_scope(exc.scope_id)
                    chosen = [s for s in chosen if s != exc.scope_id]
            elapsed = time.monotonic() - started
            if self.counters is not None:
                self.counters.checkpoint_duration.observe(elapsed)
                self.counters.checkpoint_last_success.set(self.clock())
            offsets: dict[tuple[str, int], int] = {}
            for scope_id in chosen:
                state = self.states[scope_id]
                state.evict_closed()
                for topic, offset in state.offsets.items():
                    offsets[(topic, state.partition)] = offset
            self._durable.update(offsets)
            return offsets

    def ping_store(self) -> None:
        """Raise ``StoreError`` unless the store answers now."""
        with self.lock:
            self.store.ping()

    def checkpointed_offsets(self) -> dict[tuple[str, int], int]:
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
        today = day_of_epoch(at)
        starts = period_starts(today)
        snapshot = Snapshot(calendar_fallbacks=dict(self.calendar.fallback_counts))
        if not self.lock.acquire(timeout=lock_timeout):
            raise TimeoutError("state busy")
        try:
            states = list(self.states.values())
            # One pass over each state's resident entities, sorted by kind: every figure below reads
            # one kind, and the consumer loop waits for this lock.
            by_kind: list[dict[str, list[Entity]]] = []
            for state in states:
                kinds: dict[str, list[Entity]] = {ITEM: [], DISCLOSURE: [], EVENT: [], REQUEST: []}
                for entity in state.entities.values():
                    kinds.setdefault(entity.kind, []).append(entity)
                by_kind.append(kinds)
                snapshot.resident_entities += len(state.entities)
            for period, start in starts.items():
                counts: Counts = {}
                executed: dict[str, tuple[int, int, set[str]]] = {}
                for state, kinds in zip(states, by_kind, strict=True):
                    sum_days(state.aggregates, start, today, into=counts)
                    coverage(kinds[ITEM], state.marks, start, today, into=counts)
                    withdrawals(state.aggregates, start, today, into=executed)
                snapshot.indicators[period] = counts
                for department, (count, days, batches) in executed.items():
                    snapshot.withdrawals[(period, department)] = (count, days, len(batches))
            now_counts: Counts = {}
            for kinds in by_kind:
                onboarding(kinds[ITEM], into=now_counts)
                compliance(kinds[DISCLOSURE], self.rules, at, into=now_counts, violations=snapshot.violations)
            snapshot.indicators["now"] = now_counts
            events = [entity for kinds in by_kind for entity in kinds[EVENT]]
            requests = [entity for kinds in by_kind for entity in kinds[REQUEST]]
            snapshot.open_events, snapshot.overdue_events, snapshot.orphan_actions = event_gauges(events, at)
            snapshot.requests_open = requests_open(requests)
        finally:
            self.lock.release()
        return snapshot


def report_counts(store: SqlStore, rules: Rules, start_day: int, end_day: int, now: float) -> Counts:
    """All eight indicators over [start_day, end_day] from the store, across every scope and instance.

    Catalogue indicators use the catalogue as of the period's end; compliance covers the disclosures
    decided in the period, judged by what is published at ``now``.
    """
    counts: Counts = {}
    for _day, indicator, department, division, numerator, denominator in store.aggregates(start_day, end_day):
        if indicator in AGGREGATED:  # report-only series (withdrawal times, batches) are not indicators
            bump(counts, (indicator, department, division), numerator, denominator)
    # A cell whose changes cancelled out (an error later corrected) may or may not have been written
    # as 0/0, depending on where checkpoints fell; it carries nothing and must not make a group appear.
    counts = {group: cell for group, cell in counts.items() if cell[0] or cell[1]}
    items = _latest_copies(store.resident_entities([ITEM]))
    marks: dict[str, dict[int, int]] = {}
    for item_code, day, count in store.marks(start_day, end_day):
        marks.setdefault(item_code, {})[day] = count
    onboarding(items, until_day=end_day, into=counts)
    coverage(items, marks, start_day, end_day, into=counts)
    disclosures = _latest_copies(store.resident_entities([DISCLOSURE]))
    compliance(disclosures, rules, now, into=counts, decided=(start_day, end_day))
    return counts


def _latest_copies(stored: Iterable[tuple[str, dict[str, Any]]]) -> list[Entity]:
    """One entity per key: the copy holding the highest version.

    A mis-keyed message puts a copy of a single-record entity (an item, a disclosure) in a second
    partition; across partitions, the higher version supersedes as it does within one (SPEC §3).
    """
    chosen: dict[str, Entity] = {}
    for key, data in stored:
        entity = Entity.from_json(key, data)
        slot = entity.slots.get("")
        current = chosen.get(key)
        current_slot = None if current is None else current.slots.get("")
        if current_slot is None or (slot is not None and slot.version > current_slot.version):
            chosen[key] = entity
    return list(chosen.values())
