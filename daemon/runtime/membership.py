"""The consumer group's hand-overs: which partitions this instance owns, and restoring them.

kafka-python 3.x runs the rebalance hooks on its I/O thread, which also drives heartbeats, so they
keep their work short. On assignment they only pause the new partitions and note them as pending;
the consumer loop then reads their stored offsets, seeks, restores their scopes from the store and
resumes them (:meth:`Membership.restore_pending`), where a store failure is handled instead of
surfacing from ``poll()``. A read-ahead (``daemon.runtime.readahead``), when there is one, is waited
for first: what it read is taken by the restore where it is still current. On revoke the scopes are
checkpointed, then released in ``finally``.
"""

from __future__ import annotations

import time

import structlog

from daemon.exceptions import DlqError, StoreError
from daemon.runtime.engine import DlqSink, Engine, Partition
from daemon.runtime.readahead import ReadAhead
from daemon.runtime.readiness import Owner, Readiness
from daemon.runtime.source import Source

__all__ = ["Membership"]

log = structlog.get_logger("svmon.membership")


class Membership:
    """The rebalance hooks and the pending restores; see the module docstring."""

    def __init__(self, engine: Engine, dlq: DlqSink, readiness: Readiness) -> None:
        self._engine, self._dlq, self._readiness = engine, dlq, readiness
        self.source: Source | None = None  # set once the consumer exists (it takes these hooks)
        self.read_ahead: ReadAhead | None = None  # reading the stored scopes while the group joins
        self._pending: set[Partition] = set()

    @property
    def pending(self) -> frozenset[Partition]:
        """Partitions assigned but not yet restored (paused until they are)."""
        with self._engine.lock:
            return frozenset(self._pending)

    # --- hooks (kafka-python's I/O thread) --------------------------------------------------------

    def on_assigned(self, partitions: list[Partition]) -> None:
        source = self.source
        if source is None:
            return
        with self._engine.lock:
            source.pause(partitions)
            self._pending.update(partitions)
            self._readiness.restoring(len(self._pending))
        log.info("partitions assigned", partitions=sorted(partitions))

    def on_revoked(self, partitions: list[Partition]) -> None:
        if not partitions:
            return  # the first join revokes nothing
        engine = self._engine
        scopes = {engine.scope_of(*partition) for partition in partitions}
        with engine.lock:
            self._pending.difference_update(partitions)
            self._readiness.restoring(len(self._pending))
            try:
                engine.checkpoint(self._dlq, scopes)
            except (StoreError, DlqError) as exc:
                # Safe to let go without it: the next owner resumes from the last checkpoint.
                log.warning(
                    "checkpoint on revoke failed; the next owner replays from the last one", error=str(exc)
                )
            finally:
                for scope in scopes:
                    engine.drop_scope(scope)
        log.info("partitions revoked", partitions=sorted(partitions))

    def on_lost(self, partitions: list[Partition]) -> None:
        engine = self._engine
        with engine.lock:
            self._pending.difference_update(partitions)
            self._readiness.restoring(len(self._pending))
            for scope in {engine.scope_of(*partition) for partition in partitions}:
                engine.drop_scope(scope)  # another member may own them already: never write them
        log.warning("partitions lost; uncommitted state discarded", partitions=sorted(partitions))

    # --- the consumer loop ------------------------------------------------------------------------

    def restore_pending(self) -> None:
        """Seek the pending partitions to their stored offsets, restore their scopes, resume them."""
        source = self.source
        if not self._pending or source is None:
            return
        if self.read_ahead is not None:
            # What it reads is what the restore would read, so nothing is gained by not waiting; it
            # takes the engine's lock to hand each scope over, so not while holding it.
            self.read_ahead.wait()
        engine = self._engine
        with engine.lock:
            pending = set(self._pending)
            try:
                stored = engine.stored_offsets(pending)
                for partition in pending:
                    source.seek(partition, stored.get(partition))
                for scope in sorted({engine.scope_of(*partition) for partition in pending}):
                    if scope not in engine.states:
                        self._restore(scope)
            except StoreError as exc:
                self._readiness.report(Owner.RESTORE, f"restoring state: {exc}")
                return
            self._readiness.report(Owner.RESTORE, None)
            if self.read_ahead is not None:
                engine.drop_read_ahead()  # scopes another member was given
                self.read_ahead = None
            self._pending.difference_update(pending)
            self._readiness.restoring(len(self._pending))
            source.resume(pending)

    def _restore(self, scope: tuple[str, int]) -> None:
        started = time.monotonic()
        engine = self._engine
        ahead = engine.read_ahead_state(scope)
        state = engine.open_scope(scope)
        log.info(
            "state restored",
            scope=f"{scope[0]}/{scope[1]}",
            resident=len(state.entities),
            seconds=round(time.monotonic() - started, 3),
            # "changed": read ahead, but checkpointed by its previous owner since, so read again
            read_ahead="none" if ahead is None else ("used" if state is ahead else "changed"),
        )
