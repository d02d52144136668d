"""The store protocol every checkpoint store implements, and the store's schema version."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from daemon.core.state.partition import Changes, ScopeId, StoredScope
from daemon.exceptions import StoreError

SCHEMA_VERSION = 6
"""Version of the tables and row formats; a store written by a newer svmon is refused, never guessed at.

2: entities keyed by scope, partition and key. 3: entity rows carry their rule-dependent cells.
4: the drill-down lists (svmon_list); erroneous slots keep their errors and Kafka coordinates,
disclosures the fields that expose personal information. 5: a version per scope in svmon_owners,
bumped by every checkpoint that writes the scope (what a read-ahead is checked against).
6: a scope's aggregate cells of one day in one row (svmon_aggregate_days) instead of a row per cell;
resident entities indexed alone.
"""

StoredEntity = tuple[str, Any]  # (entity key, Entity.to_json() as parsed JSON)


@dataclass(frozen=True)
class EntryQuery:
    """Which entries of one drill-down list to read (every condition given must hold)."""

    list: str
    department: str | None = None
    division: str | None = None
    kind: str | None = None
    first_day: int | None = None
    last_day: int | None = None
    #: Only entries whose ``due`` is set and before this instant (overdue events).
    due_before: float | None = None
    #: Only entries that are flagged, or whose ``due`` is before this instant (violations).
    flagged_or_due_before: float | None = None


@dataclass(frozen=True)
class StoredEntry:
    """One stored list entry (``daemon.core.listing.Entry`` as the store gives it back)."""

    key: str
    kind: str
    department: str
    division: str
    day: int
    rank: float
    due: float | None
    flagged: bool
    fields: dict[str, Any]


class Store(Protocol):
    """Durable home of partition state; ``daemon/store/sql.py`` documents the checkpoint order."""

    url: str
    #: The schema version opening this store upgraded from, or None.
    migrated_from: int | None

    def claim(self, scope: str, partition: int) -> int:
        """Take ownership of a scope: bump and return its fencing epoch."""

    def version(self, scope: str, partition: int) -> int:
        """How many checkpoints have written the scope (0 when none): equal versions, equal rows."""

    def scopes(self) -> list[ScopeId]:
        """Every scope ever claimed in this store."""

    def load(self, scope: str, partition: int, first_day: int | None) -> StoredScope:
        """The scope's resident entities, and its aggregate cells and marks from ``first_day`` on."""

    def offsets(self, topic_partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Stored next offsets; partitions never checkpointed are absent."""

    def fetch(self, scope: str, partition: int, keys: Sequence[str]) -> list[StoredEntity]:
        """Stored entities among ``keys`` (entities evicted from memory because they were closed)."""

    def checkpoint(self, changes: Sequence[Changes], epochs: dict[ScopeId, int]) -> None:
        """Write every scope's changes, next offsets included, in one transaction.

        Raises ``StoreError`` (nothing written) on failure, and ``FencedError`` if another instance
        claimed one of the scopes since (this instance must drop it).
        """

    def unlisted(self) -> set[ScopeId]:
        """Scopes written before the lists whose entries are yet to be rebuilt by the daemon that
        restores them (a checkpoint of their ``Changes.relisted`` clears the mark)."""

    def ping(self) -> None:
        """Raise ``StoreError`` when the store cannot be reached."""

    def close(self) -> None: ...

    # Reading for reports, the API and tests: across all scopes, whoever owns them.

    def aggregates(self, start_day: int, end_day: int) -> Iterator[tuple[int, str, str, str, int, int]]:
        """(day, indicator, department, division, numerator, denominator) for days in the range."""

    def resident_entities(self, kinds: Sequence[str]) -> Iterator[StoredEntity]:
        """Stored entities of these kinds that are resident (open, catalogue, published)."""

    def marks(self, start_day: int, end_day: int) -> Iterator[tuple[str, int, int]]:
        """(item_code, day, count) of 双随机 inspections in the range."""

    def entries(
        self, query: EntryQuery, after: tuple[float, str] | None = None, limit: int | None = None
    ) -> Iterator[StoredEntry]:
        """Entries of the query in list order (``rank``, then ``key``), from just after ``after``."""

    def count_entries(self, query: EntryQuery) -> int:
        """How many entries the query selects."""

    def last_checkpoint_at(self) -> float | None:
        """Unix time of the last successful checkpoint, or None for an empty store."""

    def is_empty(self) -> bool:
        """True when nothing was ever checkpointed here."""


class FencedError(StoreError):
    """Another instance claimed a scope this instance was about to write: drop it, don't write."""

    def __init__(self, message: str, scope_id: ScopeId) -> None:
        super().__init__(message)
        self.scope_id = scope_id
