"""When to checkpoint, and what to do while checkpoints fail: pause intake, retry with backoff.

A checkpoint is due after ``store.checkpoint_every_records`` applied records or
``store.checkpoint_every_ms`` with anything applied, whichever comes first. When the store (or the
DLQ) fails, nothing is lost: state stays dirty and is written again by the next attempt. Meanwhile
every assigned partition is paused, so memory stays bounded and nothing is committed past what
the DLQ and the store hold; attempts are spaced by a doubling backoff. A batch the store could not
serve (loading an evicted entity) is taken back by seeking its partitions to its first offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Set

import structlog

from daemon.config import StoreSettings
from daemon.core.prepare import Message
from daemon.exceptions import DlqError, StoreError
from daemon.exposition.counters import FlowCounters
from daemon.runtime.engine import Checkpoint, DlqSink, Engine, Partition
from daemon.runtime.readiness import Owner, Readiness
from daemon.runtime.source import Source

__all__ = ["Backoff", "Checkpointer"]

log = structlog.get_logger("svmon.checkpointer")

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


class Backoff:
    """Waits that double from ``first`` up to ``most`` seconds, until :meth:`reset`."""

    def __init__(self, first: float = FIRST_BACKOFF_S, most: float = MAX_BACKOFF_S) -> None:
        self._first, self._most = first, most
        self._current = first

    def next(self) -> float:
        """The wait before the next attempt; the one after it is twice as long."""
        wait = self._current
        self._current = min(self._current * 2, self._most)
        return wait

    def reset(self) -> None:
        self._current = self._first


class Checkpointer:
    """See the module docstring. Driven by the consumer loop, one call per pass."""

    def __init__(
        self,
        engine: Engine,
        dlq: DlqSink,
        source: Source,
        *,
        settings: StoreSettings,
        counters: FlowCounters,
        readiness: Readiness,
        restoring: Callable[[], Set[Partition]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine, self._dlq, self._source = engine, dlq, source
        self._counters, self._readiness = counters, readiness
        self._restoring = restoring  # partitions still being restored: never resumed from here
        self._clock = clock
        self._every_records = settings.checkpoint_every_records
        self._every_s = settings.checkpoint_every_ms / 1000
        self._since = 0  # records applied since the last checkpoint
        self._last = clock()
        self._retry_at = 0.0
        self._backoff = Backoff()
        self._paused = False

    @property
    def failing(self) -> bool:
        """True while checkpoints fail and intake is paused."""
        return self._paused

    def taken_in(self, records: int) -> None:
        """``records`` more were applied since the last checkpoint."""
        self._since += records

    def store_failed(self, messages: list[Message], error: StoreError) -> None:
        """The store could not serve a batch (nothing was applied): take it back and wait for the store."""
        first: dict[Partition, int] = {}
        for message in messages:
            partition = (message.topic, message.partition)
            first[partition] = min(first.get(partition, message.offset), message.offset)
        for partition, offset in first.items():
            self._source.seek(partition, offset)
        self._failed(f"store unavailable: {error}")

    def tick(self) -> None:
        """Checkpoint if one is due (or a failed one may be retried now)."""
        now = self._clock()
        due = self._since >= self._every_records or (self._since and now - self._last >= self._every_s)
        if not (due or self._paused) or now < self._retry_at:
            return
        try:
            if self._paused:
                self._engine.ping_store()  # a clean state would "checkpoint" without touching the store
            written = self._engine.checkpoint(self._dlq)
        except (StoreError, DlqError) as exc:
            self._failed(f"checkpoint failing: {exc}")
            return
        self._succeeded(written, now)

    def final(self) -> None:
        """The checkpoint at shutdown: written if the store lets it, else the next start replays."""
        try:
            written = self._engine.checkpoint(self._dlq)
        except (StoreError, DlqError) as exc:
            log.error("final checkpoint failed; the next start replays from the last one", error=str(exc))
            return
        self._record(written)
        log.info("final checkpoint written", partitions=len(written.offsets))

    def _failed(self, reason: str) -> None:
        self._counters.checkpoint_failures.inc()
        self._readiness.report(Owner.CHECKPOINT, reason)
        if not self._paused:
            self._source.pause(self._source.assignment())
            self._paused = True
        self._retry_at = self._clock() + self._backoff.next()

    def _succeeded(self, written: Checkpoint, now: float) -> None:
        self._readiness.report(Owner.CHECKPOINT, None)
        self._since = 0
        self._last = now
        self._backoff.reset()
        if self._paused:
            restoring = self._restoring()
            self._source.resume([p for p in self._source.assignment() if p not in restoring])
            self._paused = False
        self._record(written)

    def _record(self, written: Checkpoint) -> None:
        self._counters.checkpoint_written(written.seconds, self._engine.clock())
        try:
            self._source.commit(written.offsets)
        except (
            Exception
        ) as exc:  # Kafka's copy is informational (lag tools read it); the store holds the truth
            log.debug("kafka offset commit failed", error=str(exc))
