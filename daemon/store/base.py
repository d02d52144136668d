"""The store protocol every checkpoint store implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from daemon.exceptions import StoreError
from daemon.state.partition import PartitionState

SCHEMA_VERSION = 3
"""Version of the tables and row formats; a store written by a newer svmon is refused, never guessed at.

2: entities keyed by scope, partition and key. 3: entity rows carry their rule-dependent cells.
"""

StoredEntity = tuple[str, Any]  # (entity key, Entity.to_json() as parsed JSON)


class Store(Protocol):
    """Durable home of partition state; see ``docs/design.md`` for the checkpoint order."""

    url: str

    def claim(self, scope: str, partition: int) -> int:
        """Take ownership of a scope: bump and return its fencing epoch."""

    def restore(self, state: PartitionState) -> None:
        """Fill an empty state with the scope's resident entities, aggregates, marks and offsets."""

    def fetch(self, scope: str, partition: int, keys: Sequence[str]) -> list[StoredEntity]:
        """Stored entities among ``keys`` (entities evicted from memory because they were closed)."""

    def checkpoint(self, states: Iterable[PartitionState], epochs: dict[tuple[str, int], int]) -> None:
        """Write every state's dirty rows and next offsets in one transaction, then clear dirty marks.

        Raises ``StoreError`` (nothing written) on failure, and ``FencedError`` if another instance
        claimed one of the scopes since (this instance must drop it).
        """

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

    def last_checkpoint_at(self) -> float | None:
        """Unix time of the last successful checkpoint, or None for an empty store."""


class FencedError(StoreError):
    """Another instance claimed a scope this instance was about to write: drop it, don't write."""

    def __init__(self, message: str, scope_id: tuple[str, int]) -> None:
        super().__init__(message)
        self.scope_id = scope_id
