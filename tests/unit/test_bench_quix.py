"""The bench's Quix peer, its steps run without Quix: validation, the latest version wins, count deltas.

Quix itself is only in the bench's virtualenv (``make bench``); these steps are plain functions
of (value, key, timestamp, headers, state), so a dict stands in for its state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.phases.quix import Progress, count_step, entity_step
from schemas.registry import load_registry
from tests.records import DEPARTMENT_CODES, INGESTED, at, encode, event, spoil

TIMESTAMP_MS = int(INGESTED.timestamp() * 1000)


class FakeState:
    """Quix's ``State`` as the steps use it: ``get`` with a default, and ``set``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


@pytest.fixture
def progress(tmp_path: Path) -> Progress:
    return Progress(tmp_path / "progress.json", expected=10**9, version="test")


def _step(progress: Progress) -> Any:
    return entity_step(progress, load_registry(), 1_000_000)


def test_a_new_entity_emits_one_positive_delta(progress: Progress) -> None:
    """A first valid record creates the entity, keyed as svmon keys it, and counts +1 once."""
    state = FakeState()
    created = event("EV-1", "created", at(INGESTED.date()))
    deltas = _step(progress)(encode(created), b"EV-1", TIMESTAMP_MS, None, state)
    assert list(state.values) == ["event:EV-1"]
    assert deltas == [{"department": DEPARTMENT_CODES[0], "schema": "event/v1", "status": "created", "n": 1}]
    assert progress.entities == 1


def test_an_older_version_changes_nothing(progress: Progress) -> None:
    """A lower version of the same slot after a higher one is stale: no state change, no delta."""
    state = FakeState()
    step = _step(progress)
    moment = at(INGESTED.date())
    step(encode(event("EV-1", "created", moment, version=2)), b"EV-1", TIMESTAMP_MS, None, state)
    before = dict(state.values)
    assert step(encode(event("EV-1", "created", moment, version=1)), b"EV-1", TIMESTAMP_MS, None, state) == []
    assert state.values == before


def test_an_advancing_action_moves_the_count(progress: Progress) -> None:
    """A later action of the entity takes its count from the old status to the new one."""
    state = FakeState()
    step = _step(progress)
    moment = at(INGESTED.date())
    step(encode(event("EV-1", "created", moment)), b"EV-1", TIMESTAMP_MS, None, state)
    deltas = step(encode(event("EV-1", "signed", moment)), b"EV-1", TIMESTAMP_MS, None, state)
    assert [(d["status"], d["n"]) for d in deltas] == [("created", -1), ("signed", 1)]


def test_an_invalid_value_is_counted_and_skipped(progress: Progress) -> None:
    """What svmon would write to the DLQ, the peer counts and skips."""
    state = FakeState()
    spoiled = spoil(event("EV-1", "created", at(INGESTED.date())))
    assert _step(progress)(encode(spoiled), b"EV-1", TIMESTAMP_MS, None, state) == []
    assert progress.invalid == 1
    assert state.values == {}


def test_the_count_step_adds_deltas_per_schema_and_status(progress: Progress) -> None:
    """The department-keyed step keeps one running sum per (schema, status)."""
    state = FakeState()
    step = count_step(progress)
    delta = {"department": "d", "schema": "event/v1", "status": "created"}
    step({**delta, "n": 1}, state)
    step({**delta, "n": 1}, state)
    step({**delta, "n": -1}, state)
    assert state.values == {"event/v1|created": 1}
