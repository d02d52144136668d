"""Checkpoint stores: state and consumed offsets, written together in one transaction.

``open_store(url)`` picks the implementation from the URL: ``sqlite:///path`` (embedded default) or
``postgresql://…`` (several instances sharing partitions). Both are a :class:`SqlStore` with their
own :class:`Dialect`, and both speak the :class:`Store` protocol.
"""

from __future__ import annotations

from daemon.exceptions import StoreError
from daemon.store.protocol import SCHEMA_VERSION, FencedError, Store, StoredEntity
from daemon.store.sql import Dialect, SqlStore

__all__ = ["SCHEMA_VERSION", "Dialect", "FencedError", "SqlStore", "Store", "StoredEntity", "open_store"]


def open_store(url: str) -> SqlStore:
    """Open the store named by ``url`` (``sqlite:///path`` or ``postgresql://…``)."""
    if url.startswith("sqlite:///"):
        from daemon.store.sqlite import open_sqlite  # noqa: PLC0415 - each dialect loads its driver

        return open_sqlite(url, url.removeprefix("sqlite:///") or "svmon-state.db")
    if url.startswith(("postgresql://", "postgres://")):
        from daemon.store.postgres import open_postgres  # noqa: PLC0415

        return open_postgres(url)
    raise StoreError(f"unsupported store URL {url!r}: use sqlite:///path or postgresql://user@host/db")
