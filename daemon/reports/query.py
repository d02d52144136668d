"""Indicator counts from the store, across every scope and instance: what reports read.

Reads go to the store, not to one instance's memory, so with PostgreSQL every instance's partitions
are in a report.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from daemon.core.indicators import AGGREGATED, Counts, bump, compliance, coverage, onboarding
from daemon.core.state.entities import DISCLOSURE, ITEM, Entity, Rules
from daemon.store import SqlStore, open_store
from daemon.store.protocol import Store

__all__ = ["EmptyStoreError", "latest_copies", "open_existing_store", "report_counts"]


def report_counts(store: Store, rules: Rules, start_day: int, end_day: int, now: float) -> Counts:
    """All eight indicators over [start_day, end_day] from the store, across every scope and instance.

    Catalogue indicators use the catalogue as of the period's end; compliance covers the disclosures
    decided in the period, judged by what is published at ``now``.
    """
    counts: Counts = {}
    for _day, indicator, department, division, numerator, denominator in store.aggregates(start_day, end_day):
        if indicator in AGGREGATED:  # report-only series (withdrawal times, batches) are not indicators
            bump(counts, (indicator, department, division), numerator, denominator)
    # A cell whose changes cancelled out (an error later corrected) may or may not have been written
    # as 0/0, depending on where checkpoints fell; it carries nothing and must not make a group appear.
    counts = {group: cell for group, cell in counts.items() if cell[0] or cell[1]}
    items = latest_copies(store.resident_entities([ITEM]))
    marks: dict[str, dict[int, int]] = {}
    for item_code, day, count in store.marks(start_day, end_day):
        marks.setdefault(item_code, {})[day] = count
    onboarding(items, until_day=end_day, into=counts)
    coverage(items, marks, start_day, end_day, into=counts)
    disclosures = latest_copies(store.resident_entities([DISCLOSURE]))
    compliance(disclosures, rules, now, into=counts, decided=(start_day, end_day))
    return counts


def latest_copies(stored: Iterable[tuple[str, dict[str, Any]]]) -> list[Entity]:
    """One entity per key: the copy holding the highest version.

    A mis-keyed message puts a copy of a single-record entity (an item, a disclosure) in a second
    partition; across partitions, the higher version supersedes as it does within one (docs/contract.md §3).
    """
    chosen: dict[str, Entity] = {}
    for key, data in stored:
        entity = Entity.from_json(key, data)
        slot = entity.slots.get("")
        current = chosen.get(key)
        current_slot = None if current is None else current.slots.get("")
        if current_slot is None or (slot is not None and slot.version > current_slot.version):
            chosen[key] = entity
    return list(chosen.values())


class EmptyStoreError(LookupError):
    """The store does not exist or was never checkpointed: there is nothing to report."""

    def __str__(self) -> str:
        return f"no indicator data yet in {self.args[0]}"


def open_existing_store(url: str) -> SqlStore:
    """The store at ``url``; ``EmptyStoreError`` when it does not exist or holds no checkpoint."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        raise EmptyStoreError(url)  # opening would create an empty database as a side effect
    store = open_store(url)
    if store.is_empty():
        store.close()
        raise EmptyStoreError(url)
    return store
