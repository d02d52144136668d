"""The in-process ``Engine`` without Kafka: its cost per message, its memory per open event, and a
large store built through it for the restart figure."""

from __future__ import annotations

import gc
import json
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.dataset import Topics
from bench.process import store_mib
from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar
from daemon.core.prepare import Message, Pipeline
from daemon.core.timeutil import SHANGHAI
from daemon.exposition.counters import FlowCounters
from daemon.runtime.collector import tune_gc
from daemon.runtime.engine import Engine
from daemon.store import open_store
from daemon.tools.broker import TansuBroker
from schemas.registry import load_registry

_CHECKPOINT_EVERY = 10  # batches: the daemon's default cadence, every 20k records


class NullDlq:
    """A DLQ that accepts everything (the in-process phases measure the engine, not Kafka)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, key: bytes | None, payload: bytes) -> None:
        self.sent += 1

    def flush(self, timeout: float = 30.0) -> int:
        return 0


def make_engine(settings: Settings, store_path: Path) -> Engine:
    registry = load_registry(settings.registry_file)
    return Engine(settings, registry, WorkingCalendar(), open_store(f"sqlite:///{store_path}"))


def make_counters(settings: Settings, engine: Engine) -> FlowCounters:
    """The flow counters ``svmon run`` keeps, for phases that count what the daemon counts."""
    from prometheus_client import CollectorRegistry

    return FlowCounters(
        CollectorRegistry(auto_describe=False), engine.registry, settings.kafka.topics.inputs()
    )


@dataclass(frozen=True)
class EngineOnly:
    """Every message through the engine and the flow counters, checkpointed as the daemon does."""

    messages: int
    seconds: float
    checkpoint_seconds: float  # of ``seconds``

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def us_per_msg(self) -> float:
        return self.seconds / self.messages * 1e6

    @property
    def checkpoint_us_per_msg(self) -> float:
        return self.checkpoint_seconds / self.messages * 1e6


def engine_only(settings: Settings, placed: list[Message], work: Path, batch: int) -> EngineOnly:
    """Process every message in-process (with flow counters) in batches of ``batch``, checkpointing
    at the daemon's cadence and once after; under the garbage-collector thresholds ``svmon run`` sets.
    """
    # The benchmark's own objects (every produced message) must not make the engine's GC passes
    # slower than they are in the daemon; they stay frozen for the phases after this one.
    gc.collect()
    gc.freeze()
    engine = make_engine(settings, work / "engine-only.db")
    counters = make_counters(settings, engine)
    previous = tune_gc()
    try:
        scopes = {engine.scope_of(m.topic, m.partition) for m in placed}
        for scope in sorted(scopes):
            engine.open_scope(scope)
        dlq = NullDlq()
        checkpoint_s = 0.0
        started = time.perf_counter()
        for index in range(0, len(placed), batch):
            counters.apply(engine.process(placed[index : index + batch], dlq).tally)
            if (index // batch) % _CHECKPOINT_EVERY == _CHECKPOINT_EVERY - 1:
                tick = time.perf_counter()
                engine.checkpoint(dlq)
                checkpoint_s += time.perf_counter() - tick
        tick = time.perf_counter()
        engine.checkpoint(dlq)
        checkpoint_s += time.perf_counter() - tick
        return EngineOnly(len(placed), time.perf_counter() - started, checkpoint_s)
    finally:
        gc.set_threshold(*previous)
        engine.store.close()


@dataclass(frozen=True)
class OpenEvents:
    """Python heap bytes per open event, before and after the checkpoint that clears the dirty sets."""

    requested: int
    resident: int
    bytes_before_checkpoint: float
    bytes_after_checkpoint: float


def open_event_memory(settings: Settings, placed: list[Message], count: int, work: Path) -> OpenEvents:
    """Open ``count`` distinct events on one partition under ``tracemalloc``."""
    events = created_events(settings, placed, count)
    engine = make_engine(settings, work / "open-events.db")
    try:
        scope = ("events", 0)
        engine.open_scope(scope)
        dlq = NullDlq()
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        for index in range(0, len(events), 2000):
            engine.process(events[index : index + 2000], dlq)
        applied = tracemalloc.get_traced_memory()[0] - baseline
        engine.checkpoint(dlq)
        checkpointed = tracemalloc.get_traced_memory()[0] - baseline
        tracemalloc.stop()
        resident = len(engine.states[scope].entities)
        if dlq.sent:
            raise RuntimeError(f"{dlq.sent} of the created events were rejected")
        return OpenEvents(len(events), resident, applied / resident, checkpointed / resident)
    finally:
        engine.store.close()


def created_events(settings: Settings, placed: list[Message], count: int) -> list[Message]:
    """``count`` realistic, valid created-only events on partition 0 of the events topic.

    Taken from the scenario's own valid ``created`` actions, cycled with a suffixed ``event_id`` when
    the run has fewer than ``count``, so every one opens a distinct event.
    """
    topic = settings.kafka.topics.events
    pipeline = Pipeline(load_registry(settings.registry_file), 10**6)
    seen_at = datetime.now(UTC)
    valid: list[tuple[dict[str, Any], int]] = []
    seen: set[str] = set()
    for message in placed:
        if message.topic != topic or message.value is None or b'"action":"created"' not in message.value:
            continue
        record = json.loads(message.value)
        # Once per event: the scenario also carries duplicates and corrected versions of a created.
        if record.get("event_id") not in seen and pipeline.prepare(message, seen_at).rejected is None:
            seen.add(record["event_id"])
            valid.append((record, message.timestamp_ms))
    if not valid:
        raise RuntimeError("the scenario produced no valid created events")
    out: list[Message] = []
    for index in range(count):
        original, timestamp_ms = valid[index % len(valid)]
        record = dict(original)
        round_ = index // len(valid)
        if round_:
            record["event_id"] = f"{record['event_id']}-r{round_}"
        value = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        out.append(Message(topic, 0, index, str(record["event_id"]).encode(), value, timestamp_ms))
    return out


@dataclass(frozen=True)
class LargeStore:
    """A store built in-process, and the fresh topics whose settings it was built with."""

    path: Path
    topics: Topics
    events: int
    open: int  # resident: the part a restart has to load
    build_seconds: float
    mib: float


def build_large_store(
    broker: TansuBroker, work: Path, events: int, partitions: int, open_share: float
) -> LargeStore:
    """``work/large.db`` holding ``events`` events, ``open_share`` of them still open.

    Its topics are new and empty: the stored offsets point past their ends, so a restart on this
    store measures joining the group and restoring state, not consuming.
    """
    topics = Topics.create(broker, partitions)
    path = work / "large.db"
    building = time.perf_counter()
    still_open = _fill_store(topics.settings(), path, events, partitions, open_share)
    build_seconds = time.perf_counter() - building
    return LargeStore(path, topics, events, still_open, build_seconds, store_mib(path))


def _fill_store(settings: Settings, path: Path, events: int, partitions: int, open_share: float) -> int:
    """Apply each event's lifecycle (spread over 2025) through the engine and checkpoint as the
    daemon would; return how many events stayed open."""
    engine = make_engine(settings, path)
    try:
        topic = settings.kafka.topics.events
        for partition in range(partitions):
            engine.open_scope(("events", partition))
        departments = list(engine.registry.departments)
        dlq = NullDlq()
        offsets = [0] * partitions
        batch: list[Message] = []
        start = datetime(2025, 1, 2, 9, tzinfo=SHANGHAI).timestamp()
        spacing = 365 * 86400 / max(events, 1)
        open_every = round(1 / open_share) if open_share > 0 else 0
        still_open = 0
        for index in range(events):
            partition = index % partitions
            department = departments[index % len(departments)]
            stays_open = bool(open_every) and index % open_every == 0
            if stays_open:
                still_open += 1
            division = engine.registry.division_of(department)
            for record, moment in _lifecycle(
                index, department, division, start + index * spacing, stays_open
            ):
                value = json.dumps(record, separators=(",", ":")).encode()
                key = str(record["event_id"]).encode()
                batch.append(
                    Message(topic, partition, offsets[partition], key, value, int(moment * 1000) + 60_000)
                )
                offsets[partition] += 1
            if len(batch) >= 5000:
                engine.process(batch, dlq)
                batch = []
                if index % 100_000 < 2500:
                    engine.checkpoint(dlq)
        engine.process(batch, dlq)
        engine.checkpoint(dlq)
        return still_open
    finally:
        engine.store.close()


_KINDS = ("complaint", "risk_warning", "clue", "collaborative")


def _lifecycle(
    index: int, department: str, division: str, created_at: float, stays_open: bool
) -> list[tuple[dict[str, Any], float]]:
    """A ``created`` event and, unless it stays open, its ``handled`` a day later; with their times."""
    event_id = f"big-{index}"
    created = {
        "schema": "event/v1",
        "event_id": event_id,
        "action": "created",
        "at": _rfc3339(created_at),
        "kind": _KINDS[index % len(_KINDS)],
        "department": department,
        "division": division,
    }
    if stays_open:
        return [(created, created_at)]
    handled_at = created_at + 86400
    handled = {"schema": "event/v1", "event_id": event_id, "action": "handled", "at": _rfc3339(handled_at)}
    return [(created, created_at), (handled, handled_at)]


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, SHANGHAI).isoformat(timespec="seconds")
