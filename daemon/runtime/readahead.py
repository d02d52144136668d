"""Reading the stored state while the consumer joins its group, so that a restart is ready sooner.

A restart spends two stretches waiting: the group join (the coordinator holds the first JoinGroup
for its rebalance delay; ~2 s on Tansu, ``group.initial.rebalance.delay.ms`` on Apache Kafka) and
then restoring the assigned scopes from the store (~1.5 s with 1,000,000 events stored, 100,000 of
them open). They need not follow each other: :class:`ReadAhead` reads every stored scope on a
thread of its own, through a store connection of its own, while the consumer loop joins.

Nothing read ahead is trusted blindly. Every checkpoint bumps the written scope's version in the
same transaction (``svmon_owners.version``), and a scope read ahead is kept only when its version
was the same before and after the read (no checkpoint of it committed meanwhile, so the rows read
belong together) and is still the same once this instance has claimed the scope
(:meth:`Engine.open_scope`), after which nobody else can write it. Otherwise the scope is read
again, as without read-ahead. Scopes this instance is not assigned are dropped once it has
restored what it was given (:meth:`Engine.drop_read_ahead`).
"""

from __future__ import annotations

import threading
import time

import structlog

from daemon.exceptions import StoreError
from daemon.runtime.collector import collector_paused
from daemon.runtime.engine import Engine
from daemon.store import open_store

__all__ = ["ReadAhead"]

log = structlog.get_logger("svmon.readahead")


class ReadAhead:
    """The read-ahead thread; see the module docstring. :meth:`wait` before restoring."""

    def __init__(self, engine: Engine, url: str, stop: threading.Event) -> None:
        self._engine, self._url, self._stop = engine, url, stop
        self._thread = threading.Thread(target=self._run, name="svmon-read-ahead", daemon=True)

    def start(self) -> ReadAhead:
        self._thread.start()
        return self

    def wait(self) -> None:
        """Until the read-ahead has finished (at once when it has, or never started)."""
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            store = open_store(self._url)
        except StoreError as exc:
            log.warning("cannot read the state ahead; restoring on assignment", error=str(exc))
            return
        try:
            with collector_paused():
                kept = self._engine.read_ahead(store, self._stop)
        except StoreError as exc:
            log.warning("reading the state ahead failed; restoring on assignment", error=str(exc))
            return
        finally:
            store.close()
        log.info("state read ahead", scopes=kept, seconds=round(time.monotonic() - started, 3))
