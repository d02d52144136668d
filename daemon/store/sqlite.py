"""The SQLite store: one file, WAL mode; the default, and shared by instances on one host."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from daemon.exceptions import StoreError
from daemon.store.sql import EPOCH_QUERY, Dialect, SqlStore

__all__ = ["SQLITE", "SQLITE_OPEN_TIMEOUT_S", "open_sqlite"]

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
    except BaseException:
        connection.close()
        raise
    return connection


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

    return SqlStore(url, connect, SQLITE)
