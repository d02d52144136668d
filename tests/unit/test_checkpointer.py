"""Tests of daemon.runtime.checkpointer: cadence, and pausing with backoff while checkpoints fail."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry

from daemon.config import StoreSettings
from daemon.core.prepare import Message
from daemon.exceptions import DlqError, StoreError
from daemon.exposition.counters import FlowCounters
from daemon.runtime.checkpointer import Backoff, Checkpointer
from daemon.runtime.engine import Engine, Partition
from daemon.runtime.readiness import Owner, Readiness
from tests import records
from tests.records import FakeDlq

EVENTS = ("svmon.events", 0)


class _Source:
    """A source that records pauses, resumes, seeks and commits."""

    def __init__(self) -> None:
        self.assigned: list[Partition] = [EVENTS, ("svmon.events", 1)]
        self.paused: set[Partition] = set()
        self.seeks: list[tuple[Partition, int | None]] = []
        self.commits: list[dict[Partition, int]] = []

    def poll(self, timeout_ms: int, max_records: int) -> list[Message]:
        return []

    def seek(self, partition: Partition, offset: int | None) -> None:
        self.seeks.append((partition, offset))

    def pause(self, partitions: Iterable[Partition]) -> None:
        self.paused.update(partitions)

    def resume(self, partitions: Iterable[Partition]) -> None:
        self.paused.difference_update(partitions)

    def assignment(self) -> list[Partition]:
        return list(self.assigned)

    def commit(self, offsets: dict[Partition, int]) -> None:
        self.commits.append(offsets)

    def lag(self, checkpointed: dict[Partition, int]) -> dict[Partition, int]:
        return {}

    def brokers(self) -> list[str]:
        return []

    def close(self) -> None: ...


class _FlakyDlq(FakeDlq):
    """A DLQ whose flush fails while ``down`` is set."""

    down = False

    def flush(self, timeout: float = 30.0) -> int:
        if self.down:
            raise DlqError("DLQ svmon.dlq not writable")
        return super().flush(timeout)


_Rig = tuple[Engine, _Source, _FlakyDlq, Checkpointer, Readiness, list[float]]


def _setup(tmp_path: Path, *, every_records: int = 20000, every_ms: int = 1000) -> _Rig:
    engine = records.make_engine(f"sqlite:///{tmp_path}/state.db")
    engine.open_scope(("events", 0))
    source, dlq, readiness = _Source(), _FlakyDlq(), Readiness()
    now = [1000.0]
    checkpointer = Checkpointer(
        engine,
        dlq,
        source,
        settings=StoreSettings(checkpoint_every_records=every_records, checkpoint_every_ms=every_ms),
        counters=FlowCounters(CollectorRegistry(), engine.registry, ["svmon.events"]),
        readiness=readiness,
        restoring=lambda: {("svmon.events", 1)},
        clock=lambda: now[0],
    )
    return engine, source, dlq, checkpointer, readiness, now


def _apply(engine: Engine, checkpointer: Checkpointer, dlq: FakeDlq, count: int, first: int = 0) -> None:
    messages = [
        Message(
            "svmon.events",
            0,
            first + n,
            f"E{n}".encode(),
            records.encode(records.event(f"E{first + n}", "created", records.INGESTED)),
            0,
        )
        for n in range(count)
    ]
    engine.process(messages, dlq)
    checkpointer.taken_in(count)


def test_backoff_doubles_up_to_its_ceiling_and_resets() -> None:
    """Waits double from the first up to the ceiling; a reset starts over."""
    backoff = Backoff(0.5, 4.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_a_checkpoint_is_due_by_count_or_by_time(tmp_path: Path) -> None:
    """Nothing is written before the record count or the interval is reached; then the offsets are."""
    engine, source, dlq, checkpointer, _, now = _setup(tmp_path, every_records=5)
    _apply(engine, checkpointer, dlq, 3)
    checkpointer.tick()
    assert engine.checkpointed_offsets() == {}
    now[0] += 1.0
    checkpointer.tick()
    assert engine.checkpointed_offsets() == {EVENTS: 3}
    _apply(engine, checkpointer, dlq, 5, first=3)
    checkpointer.tick()
    assert engine.checkpointed_offsets() == {EVENTS: 8}
    assert source.commits == [{EVENTS: 3}, {EVENTS: 8}]
    engine.store.close()


def test_a_failing_checkpoint_pauses_intake_until_a_retry_succeeds(tmp_path: Path) -> None:
    """While the DLQ fails, everything is paused and retried with backoff; after it, partitions still
    being restored stay paused and the rest resume."""
    engine, source, dlq, checkpointer, readiness, now = _setup(tmp_path, every_records=1)
    _apply(engine, checkpointer, dlq, 2)
    dlq.down = True
    checkpointer.tick()
    assert checkpointer.failing
    assert source.paused == set(source.assigned)
    assert "DLQ svmon.dlq not writable" in (readiness.problem(Owner.CHECKPOINT) or "")
    dlq.down = False
    now[0] += 0.1
    checkpointer.tick()  # before the backoff has passed: no attempt yet
    assert checkpointer.failing
    now[0] += 1.0
    checkpointer.tick()
    assert not checkpointer.failing
    assert source.paused == {("svmon.events", 1)}
    assert readiness.problem(Owner.CHECKPOINT) is None
    assert engine.checkpointed_offsets() == {EVENTS: 2}
    engine.store.close()


def test_a_batch_the_store_could_not_serve_is_taken_back(tmp_path: Path) -> None:
    """Each partition of the batch is sought back to its first offset, and intake pauses."""
    engine, source, _, checkpointer, readiness, _ = _setup(tmp_path)
    batch = [Message("svmon.events", 0, offset, None, b"{}", 0) for offset in (7, 5, 6)]
    batch.append(Message("svmon.events", 1, 40, None, b"{}", 0))
    checkpointer.store_failed(batch, StoreError("database is locked"))
    assert sorted(source.seeks) == [(EVENTS, 5), (("svmon.events", 1), 40)]
    assert checkpointer.failing
    assert "store unavailable: database is locked" in (readiness.problem(Owner.CHECKPOINT) or "")
    engine.store.close()
