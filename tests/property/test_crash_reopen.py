"""Crash and reopen (docs/contract.md §9.1): a run that dies between checkpoints and replays from the stored
offsets
ends with exactly the state of an uninterrupted run, and the DLQ holds every rejected message.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.core.prepare import Message
from daemon.reports.query import report_counts
from daemon.runtime.engine import Engine
from schemas.decode import Accepted, decode
from schemas.registry import load_registry
from tests import records
from tests.records import INGESTED, FakeDlq, Raw

PARTITIONS = 2
SCOPES = [(scope, part) for scope in ("events", "inspections", "disclosures") for part in range(PARTITIONS)]
EVERYTHING = (date(2000, 1, 1).toordinal(), date(2030, 1, 1).toordinal())


def late_corrections(rng: random.Random, messages: list[Raw]) -> list[Raw]:
    """Erroneous then corrected higher versions of handled events, sent after everything else.

    By then most of those events are closed and evicted from memory, so the engine must load them back.
    """
    handled = [
        m for m in messages if m.valid and m.record is not None and m.record.get("action") == "handled"
    ]
    out: list[Raw] = []
    for message in rng.sample(handled, min(10, len(handled))):
        assert message.record is not None
        bumped = {**message.record, "version": message.record["version"] + 10}
        out.append(records.raw(records.spoil(bumped), valid=False))
        if rng.random() < 0.5:
            out.append(records.raw({**bumped, "version": bumped["version"] + 1}))
    return out


def mis_keyed(rng: random.Random, messages: list[Raw]) -> list[Raw]:
    """Some messages with a Kafka key other than their entity key: they land in another partition."""
    return [
        Raw(m.stream, m.key + b"-other", m.value, m.record, m.valid) if rng.random() < 0.03 else m
        for m in messages
    ]


def stream(seed: int) -> list[Message]:
    rng = random.Random(seed)
    raw = records.mixed_stream(rng, 120, garbage=4)
    return records.assign_offsets(mis_keyed(rng, [*raw, *late_corrections(rng, raw)]), PARTITIONS)


def open_engine(path: Path) -> Engine:
    engine = records.make_engine(f"sqlite:///{path}")
    for scope in SCOPES:
        engine.open_scope(scope)
    return engine


def final_state(engine: Engine) -> tuple[Any, ...]:
    """What the store holds after the last checkpoint: every non-zero aggregate cell, marks, the report."""
    store = engine.store
    cells = sorted(row for row in store.aggregates(*EVERYTHING) if row[4:] != (0, 0))
    marks = sorted(row for row in store.marks(*EVERYTHING) if row[2])
    counts = report_counts(store, engine.rules, *EVERYTHING, INGESTED.timestamp())
    report = sorted((group, tuple(cell)) for group, cell in counts.items() if cell != [0, 0])
    return cells, marks, report


def dlq_positions(dlq: FakeDlq) -> set[tuple[str, int, int]]:
    """Source positions of the DLQ records a flush acknowledged."""
    positions = set()
    for _, payload in dlq.sent[: dlq.flushed]:
        source = json.loads(payload)["source"]
        positions.add((source["topic"], source["partition"], source["offset"]))
    return positions


_REFERENCE: dict[int, tuple[Any, ...]] = {}


def uninterrupted(seed: int, messages: list[Message], directory: Path) -> tuple[Any, ...]:
    if seed not in _REFERENCE:
        engine = open_engine(directory / f"reference-{seed}.db")
        dlq = FakeDlq()
        engine.process(messages, dlq)
        engine.checkpoint(dlq)
        _REFERENCE[seed] = final_state(engine)
        engine.store.close()
    return _REFERENCE[seed]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 3),
    plan=st.lists(
        st.tuples(st.sampled_from(["checkpoint", "crash", "process"]), st.integers(1, 120)),
        min_size=3,
        max_size=25,
    ),
)
def test_crash_and_replay_from_stored_offsets_is_exact(
    seed: int, plan: list[tuple[str, int]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any mix of batches, checkpoints and crashes, replayed from stored offsets, gives the exact result."""
    directory = tmp_path_factory.mktemp("crash")
    messages = stream(seed)
    expected = uninterrupted(seed, messages, directory)
    path = directory / "state.db"
    engine = open_engine(path)
    dlq = FakeDlq()
    pending = list(messages)
    crashes = 0
    for step, size in plan:
        if step == "process":
            batch, pending = pending[:size], pending[size:]
            engine.process(batch, dlq)
        elif step == "checkpoint":
            engine.checkpoint(dlq)
        else:
            # The process dies: memory and unflushed DLQ writes are gone, the store keeps what it committed.
            engine.store.close()
            del dlq.sent[dlq.flushed :]
            crashes += 1
            engine = open_engine(path)
            stored = engine.checkpointed_offsets()
            pending = [m for m in messages if m.offset >= stored.get((m.topic, m.partition), 0)]
    engine.process(pending, dlq)
    engine.checkpoint(dlq)
    assert final_state(engine) == expected
    rejected = {(m.topic, m.partition, m.offset) for m in messages if not _is_valid(m)}
    assert dlq_positions(dlq) == rejected
    engine.store.close()


_VALIDITY: dict[tuple[str, int, int, bytes | None], bool] = {}
_REGISTRY = load_registry(None)


def _is_valid(message: Message) -> bool:
    key = (message.topic, message.partition, message.offset, message.value)
    if key not in _VALIDITY:
        decoded = decode(message.value, key=message.key, ingested_at=INGESTED, registry=_REGISTRY)
        _VALIDITY[key] = isinstance(decoded, Accepted)
    return _VALIDITY[key]


def test_eviction_keeps_memory_to_open_entities_and_late_records_reload_them(tmp_path: Path) -> None:
    """Closed entities leave memory at a checkpoint; a late correction reloads one and counts once."""
    engine = open_engine(tmp_path / "state.db")
    dlq = FakeDlq()
    start = records.at(date(2023, 3, 1))
    created = records.event("E1", "created", start)
    handled = records.event("E1", "handled", start + timedelta(days=1))
    first = records.assign_offsets([records.raw(created), records.raw(handled)], PARTITIONS)
    engine.process(first, dlq)
    engine.checkpoint(dlq)
    assert all("event:E1" not in state.entities for state in engine.states.values())
    late = records.raw(records.spoil({**handled, "version": 2}), valid=False)
    message = records.assign_offsets([late], PARTITIONS)[0]
    message = Message(message.topic, message.partition, 2, message.key, message.value, message.timestamp_ms)
    engine.process([message], dlq)
    engine.checkpoint(dlq)
    counts = report_counts(engine.store, engine.rules, *EVERYTHING, INGESTED.timestamp())
    department = records.DEPARTMENT_CODES[0]
    assert counts[("event_handling_rate", department, "330200")] == [0, 1]
    assert counts[("data_accuracy_rate", department, "330200")] == [1, 1]
    assert counts[("data_accuracy_rate", "_unregistered", "330200")] == [0, 1]
    engine.store.close()
