"""The state of one partition scope: resident entities, per-day aggregates, coverage marks, offsets.

A *scope* is a set of co-partitioned topics whose partition N is always owned by one instance
(docs/contract.md §2; ``daemon.streams`` says which streams share one). Everything here is mutated
only by :meth:`PartitionState.apply` and friends, which also record what became dirty; a checkpoint
asks for those as a :class:`Changes` value, hands it to the store, and after the store's COMMIT
tells the state they are durable (:meth:`PartitionState.committed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from daemon.core.listing import Entry, entries, keyless_entry
from daemon.core.prepare import Prepared
from daemon.core.state.entities import (
    RULED,
    AggKey,
    Contribution,
    Entity,
    EventView,
    Mark,
    Rules,
    contribution,
    is_resident,
    judge,
    new_entity,
)
from daemon.core.state.slots import Slot

ScopeId = tuple[str, int]  # (scope name, partition number)
DayCell = tuple[str, str, str, int, int]  # (indicator, department, division, numerator, denominator)


@dataclass(frozen=True)
class Changes:
    """What one scope changed since its last checkpoint, as the rows a store writes.

    ``entities``: (key, kind, resident, JSON-ready row); ``aggregate_days`` holds every cell of each
    changed day, absolute: a store keeps a scope's day as one row and replaces it whole; ``marks``
    holds absolute counts; ``aggregate_deltas`` and ``mark_deltas`` are for days before the resident
    window, which live in the store only, and are added to the stored rows; ``offsets``: (topic, next offset);
    ``listed``: the drill-down list entries to replace (``daemon.core.listing``).
    """

    scope: str
    partition: int
    entities: list[tuple[str, str, bool, list[Any]]]
    aggregate_days: list[tuple[int, list[DayCell]]]
    marks: list[tuple[str, int, int]]
    aggregate_deltas: list[tuple[AggKey, int, int]]
    mark_deltas: list[tuple[str, int, int]]
    offsets: list[tuple[str, int]]
    #: (owner, its entries now): every stored entry of the owner (an entity key, or a keyless
    #: message's coordinates) is replaced by these; an empty list removes the owner's entries.
    listed: list[tuple[str, list[Entry]]] = field(default_factory=list)
    #: The owners in ``listed`` whose stored entries must go first: those the store may hold entries
    #: of. A new entity has none there, so its entries are only inserted (at the bench's 20,000
    #: records per checkpoint, 212,410 owners had entries written and 97,708 of them were new).
    replaced: list[str] = field(default_factory=list)
    #: The scope's list entries were rebuilt (:meth:`PartitionState.relist`): the store's mark goes.
    relisted: bool = False

    @property
    def scope_id(self) -> ScopeId:
        return (self.scope, self.partition)


@dataclass
class StoredScope:
    """What a store holds of one scope: resident entities (key, row) and the resident days' cells."""

    entities: list[tuple[str, Any]] = field(default_factory=list)
    aggregates: list[tuple[AggKey, int, int]] = field(default_factory=list)
    marks: list[tuple[str, int, int]] = field(default_factory=list)  # (item_code, day, count)


@dataclass
class Dirty:
    """Keys changed since the last checkpoint."""

    entities: set[str] = field(default_factory=set)
    aggregates: set[int] = field(default_factory=set)  # days whose cells changed
    marks: set[Mark] = field(default_factory=set)
    offsets: set[str] = field(default_factory=set)
    # Changes to days before the resident window: not held in memory, added to the stored rows.
    aggregate_deltas: dict[AggKey, tuple[int, int]] = field(default_factory=dict)
    mark_deltas: dict[Mark, int] = field(default_factory=dict)
    # List entries of messages without a record key, by their Kafka coordinates.
    keyless: dict[str, Entry] = field(default_factory=dict)
    # Every resident entity was marked dirty to rebuild the store's lists (PartitionState.relist).
    relisted: bool = False

    def clear(self) -> None:
        self.entities.clear()
        self.aggregates.clear()
        self.marks.clear()
        self.offsets.clear()
        self.aggregate_deltas.clear()
        self.mark_deltas.clear()
        self.keyless.clear()
        self.relisted = False

    def __bool__(self) -> bool:
        return bool(
            self.entities
            or self.aggregates
            or self.marks
            or self.offsets
            or self.aggregate_deltas
            or self.mark_deltas
            or self.keyless
            or self.relisted
        )


class PartitionState:
    """In-memory state of one scope; see the module docstring."""

    def __init__(self, scope: str, partition: int, rules: Rules, resident_from: int | None = None) -> None:
        self.scope = scope
        self.partition = partition
        self.rules = rules
        # Aggregate cells and marks of days before this one stay in the store only (contract §9.4: memory
        # follows open entities, not history); a late record's change to them is kept as a delta and
        # added to the stored row at the next checkpoint. None keeps every day in memory.
        self.resident_from = resident_from
        self.entities: dict[str, Entity] = {}
        # day ordinal -> (indicator, department, division) -> [numerator, denominator]
        self.aggregates: dict[int, dict[tuple[str, str, str], list[int]]] = {}
        # item_code -> day ordinal -> number of valid 双随机 inspections
        self.marks: dict[str, dict[int, int]] = {}
        self.offsets: dict[str, int] = {}  # topic -> next offset to consume
        self.dirty = Dirty()
        # Entities loaded since the last eviction: with those a checkpoint wrote as no longer
        # resident (``_closed``), only they can have stopped being resident, so eviction looks at
        # them instead of scanning every open entity each checkpoint.
        self._touched: set[str] = set()
        self._closed: list[str] = []

    @property
    def scope_id(self) -> ScopeId:
        return (self.scope, self.partition)

    # --- loading ----------------------------------------------------------------------------------

    def adopt(self, entity: Entity) -> None:
        """Make a stored entity resident again; its contribution is already in the aggregates.

        Its ruled cells are the stored ones (:meth:`Entity.from_json` holds them as its share),
        whatever the rules say now; everything else is derived from the slots. When the two differ
        (the rules changed since it was written) the entity holds the mixed share, so that its next
        change takes back exactly what the aggregates hold of it.
        """
        # Read before settling (an event's share is derived from its view); only the ruled cells
        # are the stored ones.
        stored = {key: cell for key, cell in entity.contribution.counts.items() if key[1] in RULED}
        derived = contribution(entity, self.rules)
        if stored:
            counts = {key: cell for key, cell in derived.counts.items() if key[1] not in RULED}
            counts.update(stored)
            if counts != derived.counts:
                entity.hold(Contribution(counts, derived.marks, derived.view))
            else:
                entity.settle(derived)
        else:
            entity.settle(derived)
        entity.listed = True  # the store may hold entries of it
        key = entity.key
        self.entities[key] = entity
        self._touched.add(key)

    def load_aggregate(self, key: AggKey, numerator: int, denominator: int) -> None:
        day, indicator, department, division = key
        self.aggregates.setdefault(day, {})[(indicator, department, division)] = [numerator, denominator]

    def load_mark(self, item_code: str, day: int, count: int) -> None:
        self.marks.setdefault(item_code, {})[day] = count

    # --- updates ----------------------------------------------------------------------------------

    def apply(
        self, kind: str, ident: str, name: str, slot: Slot
    ) -> tuple[str, Entity, EventView | None, EventView | None]:
        """Offer a record version to its entity; move the entity's contribution if it changed.

        Returns the outcome of :func:`offer`, the entity, and its :class:`EventView` before and
        after the offer (None but for events): an event's view is derived when asked for, so the
        one the offer derived is handed on rather than derived again.
        """
        key = f"{kind}:{ident}"
        entity = self.entities.get(key)
        if entity is None:  # new: the offer below applies, so it becomes dirty
            entity = new_entity(kind, key)
            self.entities[key] = entity
        outcome = judge(entity, name, slot)
        if outcome != "applied":
            view = entity.view
            return outcome, entity, view, view
        # The share before must be read before the slot goes in: an event derives it from its slots.
        before = entity.contribution
        entity.put(name, slot)
        after = contribution(entity, self.rules)
        entity.settle(after)
        self._move(before, after)
        self.dirty.entities.add(key)
        return outcome, entity, before.view, after.view

    def take(self, prepared: Prepared) -> tuple[str, Entity, EventView | None, EventView | None] | None:
        """Apply a prepared message: its slot to its entity (see :meth:`apply`, whose result this
        returns), or, without a record key, its counts and its list entry; None then."""
        message, slot = prepared.message, prepared.slot
        if slot is None:
            return None
        if prepared.kind is not None:
            return self.apply(prepared.kind, prepared.ident, prepared.slot_name, slot)
        if prepared.keyless is not None:
            self.apply_keyless(
                prepared.keyless, f"{message.topic}:{message.partition}:{message.offset}", slot
            )
        return None

    def apply_keyless(self, counts: dict[AggKey, tuple[int, int]], coordinates: str, slot: Slot) -> None:
        """A message without a usable record key: its counts belong to no entity, and it is listed
        as an error under its Kafka ``coordinates`` (``topic:partition:offset``)."""
        self._add_counts(counts, 1)
        self.dirty.keyless[coordinates] = keyless_entry(coordinates, slot)

    def advance(self, topic: str, next_offset: int) -> None:
        self.offsets[topic] = next_offset
        self.dirty.offsets.add(topic)

    def _move(self, before: Contribution, after: Contribution) -> None:
        old, new = before.counts, after.counts
        if not old:  # a new entity (every inspection): its whole share is the delta
            self._add_counts(new, 1)
        elif old != new:
            # Apply only the difference: most updates change one or two cells of an entity's share.
            delta: dict[AggKey, tuple[int, int]] = {}
            for key, (numerator, denominator) in new.items():
                previous = old.get(key)
                if previous is None:
                    delta[key] = (numerator, denominator)
                elif previous[0] != numerator or previous[1] != denominator:
                    delta[key] = (numerator - previous[0], denominator - previous[1])
            for key, (numerator, denominator) in old.items():
                if key not in new:
                    delta[key] = (-numerator, -denominator)
            self._add_counts(delta, 1)
        if before.marks != after.marks:
            self._add_marks(before.marks, -1)
            self._add_marks(after.marks, 1)

    def _add_counts(self, counts: dict[AggKey, tuple[int, int]], sign: int) -> None:
        aggregates = self.aggregates
        dirty = self.dirty.aggregates
        first_day = self.resident_from
        for key, (numerator, denominator) in counts.items():
            day, indicator, department, division = key
            if first_day is not None and day < first_day:
                # A pair, not a list: 56 B instead of 88 per cell until the checkpoint.
                deltas = self.dirty.aggregate_deltas
                delta = deltas.get(key)
                if delta is None:
                    deltas[key] = (sign * numerator, sign * denominator)
                else:
                    deltas[key] = (delta[0] + sign * numerator, delta[1] + sign * denominator)
                continue
            by_group = aggregates.get(day)
            if by_group is None:
                by_group = aggregates[day] = {}
            group = (indicator, department, division)
            cell = by_group.get(group)
            if cell is None:
                cell = by_group[group] = [0, 0]
            cell[0] += sign * numerator
            cell[1] += sign * denominator
            dirty.add(day)

    def _add_marks(self, marks: Iterable[Mark], sign: int) -> None:
        first_day = self.resident_from
        for item_code, day in marks:
            if first_day is not None and day < first_day:
                deltas = self.dirty.mark_deltas
                deltas[(item_code, day)] = deltas.get((item_code, day), 0) + sign
                continue
            days = self.marks.setdefault(item_code, {})
            days[day] = days.get(day, 0) + sign
            self.dirty.marks.add((item_code, day))

    # --- checkpoint support -----------------------------------------------------------------------

    def changes(self) -> Changes | None:
        """The rows changed since the last checkpoint, or None when nothing changed.

        The dirty marks stay until :meth:`committed`: a checkpoint that fails writes them again.
        """
        dirty = self.dirty
        if not dirty:
            return None
        entities = self.entities
        aggregates = self.aggregates
        marks = self.marks
        listed, replaced = self._listed()
        return Changes(
            scope=self.scope,
            partition=self.partition,
            entities=[
                (key, entity.kind, is_resident(entity), entity.to_json())
                for key, entity in ((key, entities[key]) for key in dirty.entities)
            ],
            aggregate_days=[
                (day, [(*group, cell[0], cell[1]) for group, cell in aggregates[day].items()])
                for day in dirty.aggregates
            ],
            marks=[(code, day, marks.get(code, {}).get(day, 0)) for code, day in dirty.marks],
            aggregate_deltas=[(key, n, d) for key, (n, d) in dirty.aggregate_deltas.items() if n or d],
            mark_deltas=[(code, day, count) for (code, day), count in dirty.mark_deltas.items() if count],
            offsets=[(topic, self.offsets[topic]) for topic in dirty.offsets],
            listed=listed,
            replaced=replaced,
            relisted=dirty.relisted,
        )

    def _listed(self) -> tuple[list[tuple[str, list[Entry]]], list[str]]:
        """Entries of the changed entities that have or had some, and of keyless messages; and the
        owners among them whose stored entries are to be replaced (:attr:`Changes.replaced`)."""
        found: list[tuple[str, list[Entry]]] = []
        replaced: list[str] = []
        rules = self.rules
        for key in self.dirty.entities:
            entity = self.entities[key]
            now = entries(entity, rules)
            if now or entity.listed:
                found.append((key, now))
            if entity.listed:
                replaced.append(key)
        for key, entry in self.dirty.keyless.items():
            found.append((key, [entry]))
            replaced.append(key)  # a replay may meet the message again
        return found, replaced

    def committed(self, changes: Changes | None = None) -> None:
        """The store has committed ``changes`` (:meth:`changes`): nothing is dirty any more."""
        if changes is not None:
            entities = self.entities
            for owner, now in changes.listed:
                entity = entities.get(owner)
                if entity is not None:
                    entity.listed = bool(now)
            # The rows say which entities are no longer resident: :meth:`evict_closed`, called next,
            # need not ask them again. Replaced, not added to: a commit not followed by an eviction
            # only keeps those entities in memory until they are written again.
            self._closed = [key for key, _, resident, _ in changes.entities if not resident]
        self.dirty.clear()

    def relist(self) -> None:
        """Write every resident entity again at the next checkpoint, its list entries with it (a store
        upgraded from before the lists has none of them)."""
        self.dirty.entities.update(self.entities)
        self.dirty.relisted = True

    def restore(self, stored: StoredScope) -> None:
        """Load what the store holds of this scope into an empty state."""
        for entity_key, row in stored.entities:
            self.adopt(Entity.from_json(entity_key, row))
        for cell, numerator, denominator in stored.aggregates:
            self.load_aggregate(cell, numerator, denominator)
        for item_code, day, count in stored.marks:
            self.load_mark(item_code, day, count)

    def evict_closed(self) -> int:
        """Drop clean entities that no longer need to be resident; returns how many were dropped.

        Only entities loaded since the last call, and those a committed checkpoint wrote as no
        longer resident, are looked at; a dirty one is not dropped, and is looked at again once it
        is written.
        """
        dirty = self.dirty.entities
        entities = self.entities
        dropped = 0
        for key in self._closed:
            if key not in dirty and entities.pop(key, None) is not None:
                dropped += 1
        for key in self._touched:
            entity = entities.get(key)
            if entity is not None and key not in dirty and not is_resident(entity):
                del entities[key]
                dropped += 1
        self._touched = set()
        self._closed = []
        return dropped

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The entity keys among ``keys`` that are not in memory (they may be in the store)."""
        entities = self.entities
        return [key for key in keys if key not in entities]
