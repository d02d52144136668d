"""Tests of daemon.app's consumer loop with a fake source: failures never end the daemon."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from daemon import app as app_module
from daemon.app import App
from daemon.config import Settings
from daemon.exceptions import SourceError
from daemon.metrics import FlowCounters
from daemon.pipeline import Message
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
            self.reasons_after_failure = self.app.readiness()
        if self.polls >= 3:
            self.app.request_stop()
        return []

    def assignment(self) -> list[tuple[str, int]]:
        return []

    def pause(self, partitions: Any) -> None: ...

    def resume(self, partitions: Any) -> None: ...

    def commit(self, offsets: Any) -> None: ...

    def lag(self, positions: Any) -> dict[tuple[str, int], int]:
        return {}

    def brokers(self) -> list[str]:
        return []


def test_a_failed_poll_marks_not_ready_and_the_loop_carries_on(tmp_path: Path) -> None:
    """A poll error is a readiness reason, not a crash; the next good poll clears it."""
    app = App(Settings())
    engine = records.make_engine(f"sqlite:///{tmp_path}/state.db")
    app.engine = engine
    source = _FailingOnceSource(app)
    app.source = source  # type: ignore[assignment]
    app.dlq = FakeDlq()  # type: ignore[assignment]
    counters = FlowCounters(CollectorRegistry(), engine.registry, ["svmon.events"])
    app._loop(engine, counters)
    assert source.polls == 3
    assert any("rebalance went wrong" in reason for reason in source.reasons_after_failure)
    assert not any("rebalance went wrong" in reason for reason in app.readiness())
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
    assert seen == [app_module.GC_THRESHOLDS]
    assert previous != app_module.GC_THRESHOLDS
