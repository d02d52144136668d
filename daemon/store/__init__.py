"""Checkpoint stores: state and consumed offsets, written together in one transaction.

``open_store(url)`` picks the implementation from the URL: ``sqlite:///path`` (embedded default) or
``postgresql://…`` (several instances sharing partitions). Both speak the same :class:`Store` protocol.
"""

from __future__ import annotations

from daemon.store.base import SCHEMA_VERSION, Store, StoredEntity
from daemon.store.sql import open_store

__all__ = ["SCHEMA_VERSION", "Store", "StoredEntity", "open_store"]
