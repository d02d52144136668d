"""The SQLite store: one file, WAL mode; the default, and shared by instances on one host."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from daemon.exceptions import StoreError
from daemon.store.sql import EPOCH_QUERY, Dialect, SqlStore

__all__ = ["SQLITE", "SQLITE_OPEN_TIMEOUT_S", "WalCopier", "open_sqlite"]

log = structlog.get_logger("svmon.store")

# Connections run in autocommit mode (isolation_level=None): a checkpoint opens its own
# transaction, BEGIN IMMEDIATE, which takes the write lock at once and so holds every rival
# writer off until COMMIT; a reader never holds a write lock.
# 8 MiB of page cache instead of 2: a checkpoint upserts rows all over the entity table's B-trees.
# With 64 MiB the bench's run of 1,000,000 messages ended with the whole 64 MiB allocated (peak RSS
# 250-253 MiB); with 8 MiB it peaked at 189-193 MiB and was no slower (checkpoints 19.4-20.6 s in
# total against 20.6-21.6 s; 16 MiB: 200 MiB), the pages being in the OS's cache anyway. On a
# store three times that size (3M messages) more cache does pay: 64 MiB made the checkpoints 26.4
# -> 21.7 us/msg at a peak RSS of 316 MiB instead of 255; a cache sized to the store is open work.
_CACHE = "PRAGMA cache_size=-8192"
# Restoring a scope reads its resident rows once, spread over the whole entity table: cached, those
# pages would only evict the checkpoints' and grow the process. With 100,000 of 1,000,000 events
# open they filled the cache (then 64 MiB: peak RSS at ready 229 -> 169 MiB, and ~0.5 s less CPU
# spent allocating it; bench/throughput.py, restart phase). So a restore reads through a 2 MiB cache and
# then sets the size back, which allocates nothing until checkpoints need pages; the file stays
# in the OS's cache. Not mmap_size: mapped pages count in the process's RSS as they are read.
_RESTORE_CACHE = "PRAGMA cache_size=-2048"
SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    begin_write="BEGIN IMMEDIATE",
    lock_epoch=EPOCH_QUERY,
    before_restore=(_RESTORE_CACHE,),
    after_restore=(_CACHE,),
)
# How long opening a SQLite store keeps retrying while another process holds a lock on it.
SQLITE_OPEN_TIMEOUT_S = 30.0


def _is_busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _connect_once(target: Path) -> sqlite3.Connection:
    target.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(target), timeout=30, isolation_level=None, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash (kill -9); only power loss can drop the last
        # transactions, which then replay from Kafka because offsets roll back with them.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_CACHE)
        # The store's own connection never copies the WAL back into the database file itself:
        # WalCopier does, on a thread of its own (below).
        connection.execute("PRAGMA wal_autocheckpoint=0")
    except BaseException:
        connection.close()
        raise
    return connection


class WalCopier:
    """Copies the write-ahead log back into the database file after each checkpoint, on a thread.

    SQLite's own "auto-checkpoint" does this inside the COMMIT that fills the WAL past 1,000 pages:
    with the state lock held, on the consumer's thread, and with two fsyncs. In the bench's
    engine-only run of 1,000,000 messages that was 5.3 of the 5.9 s the COMMITs took (1.2 s
    without it). Here a thread with its own connection runs ``PRAGMA wal_checkpoint(PASSIVE)``
    once a checkpoint has committed: PASSIVE never waits for or blocks the writer or readers, and
    sqlite3 lets go of the GIL while it runs. A crash at any point loses nothing: the WAL stays
    valid until its frames are copied, and the next open recovers it.

    The thread starts with the first checkpoint (a store opened to read never starts it). If a
    pass fails, the next checkpoint's signal tries again on a new connection.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._passes = 0
        self._done = threading.Condition(self._lock)

    @property
    def passes(self) -> int:
        """Copies finished so far (tests, logs)."""
        with self._lock:
            return self._passes

    def checkpointed(self) -> None:
        if self._stop.is_set():
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="svmon-wal-copier", daemon=True)
            self._thread.start()
        self._due.set()

    def wait_for(self, passes: int, timeout: float) -> bool:
        """Wait until ``passes`` copies have finished; False if ``timeout`` seconds pass first."""
        with self._done:
            return self._done.wait_for(lambda: self._passes >= passes, timeout)

    def close(self) -> None:
        self._stop.set()
        self._due.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stop.is_set():
                    return
                try:
                    if connection is None:
                        connection = self._connect()
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except (sqlite3.Error, StoreError) as exc:
                    log.warning(
                        "copying the WAL into the store failed; retried after the next checkpoint",
                        error=str(exc),
                    )
                    if connection is not None:
                        connection.close()
                        connection = None
                    continue
                with self._done:
                    self._passes += 1
                    self._done.notify_all()
        finally:
            if connection is not None:
                connection.close()


def open_sqlite(url: str, path: str) -> SqlStore:
    """The SQLite store in the file ``path`` (created with its directory when missing)."""
    target = Path(path)

    def connect() -> sqlite3.Connection:
        # Two instances opening a new store at once both switch it to WAL; SQLite then fails one of
        # them with "database is locked" at once, without waiting (its busy timeout cannot apply to
        # a lock upgrade that would deadlock). That is a race, not an error: try again shortly.
        deadline = time.monotonic() + SQLITE_OPEN_TIMEOUT_S
        while True:
            try:
                return _connect_once(target)
            except sqlite3.Error as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise StoreError(f"cannot open SQLite store {url}: {exc}") from exc
            except OSError as exc:
                raise StoreError(f"cannot open SQLite store {url}: {exc}") from exc
            time.sleep(0.05)

    return SqlStore(url, connect, SQLITE, WalCopier(connect))
