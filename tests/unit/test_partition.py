"""Tests of daemon.core.state.partition: contributions move with corrections, reassignments, cancellations."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.prepare import Message, Pipeline
from daemon.core.state.entities import Entity
from daemon.core.state.partition import PartitionState
from schemas.registry import load_registry
from tests import records
from tests.records import INGESTED

SETTINGS = Settings()
PIPELINE = Pipeline(load_registry(None), SETTINGS.kafka.max_message_bytes)
DAY = date(2023, 3, 1)
START = records.at(DAY)
SCJGJ, JTJ = "330200.scjgj", "330200.jtj"


def _state() -> PartitionState:
    return PartitionState("events", 0, make_rules(SETTINGS, WorkingCalendar(None)))


def _apply(state: PartitionState, *items: dict[str, Any] | bytes) -> None:
    for offset, item in enumerate(items):
        value = item if isinstance(item, bytes) else records.encode(item)
        message = Message("svmon.events", 0, offset, b"E1", value, int(INGESTED.timestamp() * 1000))
        prepared = PIPELINE.prepare(message, INGESTED)
        state.take(prepared)


def _cell(state: PartitionState, indicator: str, department: str = SCJGJ, day: date = DAY) -> list[int]:
    return state.aggregates.get(day.toordinal(), {}).get((indicator, department, "330200"), [0, 0])


def test_orphan_waits_then_counts_once_created_arrives() -> None:
    """A handled before its created counts nowhere, then counts once (handled, accurate) with it."""
    state = _state()
    handled = records.event("E1", "handled", START + timedelta(days=1))
    _apply(state, handled)
    assert state.aggregates == {}
    _apply(state, records.event("E1", "created", START), handled)
    assert _cell(state, "event_handling_rate") == [1, 1]
    assert _cell(state, "data_accuracy_rate") == [2, 2]


def test_reassignment_moves_the_event_to_the_new_department() -> None:
    """After a valid reassigned, the event's cells leave the old department and land in the new one."""
    state = _state()
    _apply(state, records.event("E1", "created", START))
    assert _cell(state, "event_handling_rate") == [0, 1]
    _apply(state, records.event("E1", "reassigned", START, department=JTJ))
    assert _cell(state, "event_handling_rate") == [0, 0]
    assert _cell(state, "event_handling_rate", JTJ) == [0, 1]


def test_cancellation_removes_the_event_from_the_handling_denominator() -> None:
    """A cancelled event leaves the handling denominator of its cohort."""
    state = _state()
    _apply(state, records.event("E1", "created", START))
    _apply(state, records.event("E1", "cancelled", START + timedelta(hours=1)))
    assert _cell(state, "event_handling_rate") == [0, 0]
    assert _cell(state, "data_accuracy_rate") == [2, 2]


def test_correction_replaces_an_erroneous_record() -> None:
    """A higher valid version of an erroneous created makes it count and raises the accuracy numerator."""
    state = _state()
    created = records.event("E1", "created", START)
    _apply(state, records.spoil(created))
    assert _cell(state, "data_accuracy_rate") == [0, 1]
    assert _cell(state, "event_handling_rate") == [0, 0]
    _apply(state, {**created, "version": 2})
    assert _cell(state, "data_accuracy_rate") == [1, 1]
    assert _cell(state, "event_handling_rate") == [0, 1]


def test_erroneous_higher_version_excludes_a_valid_record() -> None:
    """An erroneous higher version of handled reopens the event and counts as inaccurate."""
    state = _state()
    handled = records.event("E1", "handled", START + timedelta(days=1))
    _apply(state, records.event("E1", "created", START), handled)
    _apply(state, records.spoil({**handled, "version": 2}))
    assert _cell(state, "event_handling_rate") == [0, 1]
    assert _cell(state, "data_accuracy_rate") == [1, 1]
    assert _cell(state, "data_accuracy_rate", "_unregistered") == [0, 1]


def test_keyless_malformed_message_counts_at_ingestion_day() -> None:
    """A message without a usable record key is one inaccurate record on the day it was ingested."""
    state = _state()
    _apply(state, b"{not json")
    ingested_day = INGESTED.date().toordinal()
    assert state.aggregates == {ingested_day: {("data_accuracy_rate", "_unregistered", "_unknown"): [0, 1]}}


def test_dirty_rows_are_tracked_and_dirty_entities_are_not_evicted() -> None:
    """Applied changes mark the entity and cells dirty; eviction waits for them to be checkpointed."""
    state = _state()
    _apply(state, records.event("E1", "created", START), records.event("E1", "handled", START))
    assert state.dirty.entities == {"event:E1"}
    assert state.dirty.aggregates
    assert state.evict_closed() == 0
    state.committed(state.changes())
    assert state.evict_closed() == 1
    assert state.missing(["event:E1"]) == ["event:E1"]


def test_eviction_finds_closed_entities_that_were_loaded_or_changed_only() -> None:
    """A closed entity brought back for a late duplicate is evicted again; open ones stay resident."""
    state = _state()
    created, handled = records.event("E1", "created", START), records.event("E1", "handled", START)
    _apply(state, created, handled, records.event("E2", "created", START))
    stored = state.entities["event:E1"].to_json()  # what the checkpoint writes
    state.committed(state.changes())
    assert state.evict_closed() == 1
    assert state.missing(["event:E1", "event:E2"]) == ["event:E1"]
    state.adopt(Entity.from_json("event:E1", stored))  # the engine loads it for a late record...
    _apply(state, created)  # ...which is a duplicate: nothing changes, nothing becomes dirty
    assert not state.dirty
    assert state.evict_closed() == 1
    assert state.missing(["event:E1", "event:E2"]) == ["event:E1"]
    assert state.evict_closed() == 0  # nothing touched since


def test_duplicates_do_not_dirty_state() -> None:
    """A duplicate delivery changes nothing, so nothing is rewritten at the next checkpoint."""
    state = _state()
    created = records.event("E1", "created", START)
    _apply(state, created)
    state.dirty.clear()
    _apply(state, created)
    assert not state.dirty
