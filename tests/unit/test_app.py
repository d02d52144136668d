"""Tests of daemon.runtime.app's consumer loop with a fake source: failures never end the daemon."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from daemon.config import Settings
from daemon.core.prepare import Message
from daemon.exceptions import SourceError
from daemon.exposition.counters import FlowCounters
from daemon.runtime import app as app_module
from daemon.runtime.app import App, Kafka
from daemon.runtime.collector import GC_THRESHOLDS
from daemon.runtime.membership import Membership
from daemon.runtime.monitor import ProbeThread
from daemon.runtime.readiness import Owner
from daemon.runtime.source import Partition
from tests import records
from tests.records import FakeDlq


class _FailingOnceSource:
    """A source whose first poll fails the way a rebalance error does, then polls empty."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.polls = 0
        self.reasons_after_failure: list[str] = []

    def poll(self, timeout_ms: int, max_records: int) -> list[Message]:
        self.polls += 1
        if self.polls == 1:
            raise SourceError("polling Kafka failed: rebalance went wrong")
        if self.polls == 2:
            self.reasons_after_failure = self.app.readiness.reasons()
        if self.polls >= 3:
            self.app.request_stop()
        return []

    def seek(self, partition: Partition, offset: int | None) -> None: ...

    def assignment(self) -> list[Partition]:
        return []

    def pause(self, partitions: Iterable[Partition]) -> None: ...

    def resume(self, partitions: Iterable[Partition]) -> None: ...

    def commit(self, offsets: dict[Partition, int]) -> None: ...

    def lag(self, checkpointed: dict[Partition, int]) -> dict[Partition, int]:
        return {}

    def brokers(self) -> list[str]:
        return []

    def close(self) -> None: ...


def test_a_failed_poll_marks_not_ready_and_the_loop_carries_on(tmp_path: Path) -> None:
    """A poll error is a readiness reason, not a crash; the next good poll clears it."""
    app = App(Settings())
    engine = records.make_engine(f"sqlite:///{tmp_path}/state.db")
    source = _FailingOnceSource(app)
    dlq = FakeDlq()
    membership = Membership(engine, dlq, app.readiness)
    membership.source = source
    app.readiness.report(Owner.STARTUP, None)
    counters = FlowCounters(CollectorRegistry(), engine.registry, ["svmon.events"])
    probe = ProbeThread(app.settings.kafka, app.readiness, threading.Event())
    app.consume(engine, Kafka(source, dlq, membership), counters, probe)
    assert source.polls == 3
    assert any("rebalance went wrong" in reason for reason in source.reasons_after_failure)
    assert not any("rebalance went wrong" in reason for reason in app.readiness.reasons())
    engine.store.close()


def test_svmon_run_collects_garbage_at_the_daemons_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """``svmon run`` raises the collector's thresholds before it starts (the default costs ~8 us/msg)."""
    seen: list[tuple[int, int, int]] = []

    class _App:
        def __init__(self, settings: Settings) -> None: ...

        def request_stop(self, signum: int | None = None, frame: object = None) -> None: ...

        def run(self) -> int:
            seen.append(gc.get_threshold())
            return 0

    previous = gc.get_threshold()
    monkeypatch.setattr(app_module, "App", _App)
    try:
        assert app_module.run(Settings()) == 0
    finally:
        gc.set_threshold(*previous)
    assert seen == [GC_THRESHOLDS]
    assert previous != GC_THRESHOLDS


class _Restoring:
    """A stand-in for :class:`Membership` noting whether the collector ran while it restored."""

    def __init__(self, pending: bool, fails: bool = False) -> None:
        self.pending = frozenset({("svmon.events", 0)}) if pending else frozenset()
        self.fails = fails
        self.collecting: list[bool] = []

    def restore_pending(self) -> None:
        self.collecting.append(gc.isenabled())
        if not self.fails:  # a failed restore leaves its partitions pending, as Membership does
            self.pending = frozenset()


def test_a_restore_runs_with_the_collector_paused_and_freezes_what_it_built() -> None:
    """Pending partitions are restored with the collector off; it is back on afterwards, and the
    objects alive then are frozen out of later collections."""
    membership = _Restoring(pending=True)
    try:
        app_module.restore_without_collecting(membership)  # type: ignore[arg-type]
        assert membership.collecting == [False]
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_nothing_pending_is_neither_restored_nor_frozen() -> None:
    """Without pending partitions, a pass of the loop leaves the collector as it was."""
    membership = _Restoring(pending=False)
    frozen = gc.get_freeze_count()
    app_module.restore_without_collecting(membership)  # type: ignore[arg-type]
    assert membership.collecting == []
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_a_failed_restore_freezes_nothing() -> None:
    """A restore that leaves partitions pending (the store away) runs with the collector off but
    freezes nothing: it is retried every pass."""
    membership = _Restoring(pending=True, fails=True)
    frozen = gc.get_freeze_count()
    app_module.restore_without_collecting(membership)  # type: ignore[arg-type]
    assert membership.collecting == [False]
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen
