"""The cyclic collector's pauses (daemon/runtime/collector.py): overlapping, and around checkpoints."""

from __future__ import annotations

import gc
from datetime import date
from pathlib import Path
from typing import Any

from daemon.core.prepare import Message
from daemon.runtime.collector import collector_paused
from tests import records
from tests.records import INGESTED, FakeDlq


def test_overlapping_pauses_switch_the_collector_back_on_only_at_the_last() -> None:
    assert gc.isenabled()
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_pause_leaves_a_collector_that_was_off_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_checkpoint_builds_and_writes_its_rows_with_the_collector_paused(tmp_path: Path) -> None:
    """Its rows (a few hundred thousand objects at the bench's cadence) are never walked by a young
    collection; the collector is back once they are gone."""
    engine = records.make_engine(f"sqlite:///{tmp_path}/state.db")
    try:
        engine.open_scope(("events", 0))
        raw = records.raw(records.event("E1", "created", records.at(date(2023, 3, 1))))
        stamp = int(INGESTED.timestamp() * 1000)
        dlq = FakeDlq()
        engine.process([Message(raw.topic, 0, 0, raw.key, raw.value, stamp)], dlq)
        seen: list[bool] = []
        write = engine.store.checkpoint

        def checkpoint(*args: Any) -> None:
            seen.append(gc.isenabled())
            write(*args)

        engine.store.checkpoint = checkpoint  # type: ignore[method-assign,assignment]
        engine.checkpoint(dlq)
        assert seen == [False]
        assert gc.isenabled()
    finally:
        engine.store.close()
