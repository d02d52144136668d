"""Entity machines: how each record version lands in its entity, and what an entity contributes.

Every entity (an event, an inspection, a catalogue item, a disclosure, a withdrawal request) is a
set of *slots*, one per record key (docs/contract.md §3: an event has one slot per action). A slot holds the
latest version seen for that record key, valid or erroneous. Everything the indicators need is then
a pure function of the slots (:func:`contribution`), so the state is the same whatever order the
versions arrived in (docs/contract.md §9.2), and an update is applied to the aggregates as ``after − before``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from daemon import streams
from daemon.core.state.slots import DisclosureData, EventData, InspectionData, RequestData, Slot, data_of

EVENT: Final = streams.BY_NAME["events"].kind
INSPECTION: Final = streams.BY_NAME["inspections"].kind
ITEM: Final = streams.BY_NAME["catalog"].kind
DISCLOSURE: Final = streams.BY_NAME["disclosures"].kind
REQUEST: Final = streams.BY_NAME["disclosure_requests"].kind

# Indicator ids whose numerators/denominators are maintained incrementally per day (docs/contract.md §7).
HANDLING: Final = "event_handling_rate"
ON_TIME: Final = "event_on_time_rate"
ACCURACY: Final = "data_accuracy_rate"
MOBILE: Final = "mobile_enforcement_rate"
DISCLOSURE_ON_TIME: Final = "disclosure_on_time_rate"
# Report-only series, kept beside the indicators in the same per-day aggregate.
WITHDRAWAL_DAYS: Final = "withdrawal_working_days"
WITHDRAWAL_BATCH_PREFIX: Final = "withdrawal_batch:"
# Series whose numerators depend on the deadline rules (SLA working days, the working-day calendar,
# the disclosure limits) and not only on the slots. Cell keys and denominators never depend on the
# rules (tests/unit/test_entities.py checks all three claims).
RULED: Final = frozenset({ON_TIME, DISCLOSURE_ON_TIME, WITHDRAWAL_DAYS})

AggKey = tuple[int, str, str, str]  # (day ordinal, indicator, department, division)
Mark = tuple[str, int]  # (item_code, day ordinal) of a valid 双随机 inspection


@dataclass(slots=True)
class Rules:
    """Deadline rules of docs/contract.md §6, with the calendar behind them.

    ``deadline`` maps (day ordinal, N working days) to the Unix time of the end of the Nth working
    day after that day; it is memoised by the caller-supplied function.
    """

    deadline: Callable[[int, int], float]
    working_days_between: Callable[[float, float], int]
    sla_working_days: dict[str, int]
    publish_within: int
    withdraw_within: int


@dataclass(slots=True)
class EventView:
    """What an event is right now, derived from its slots (docs/contract.md §3.1)."""

    kind: str
    department: str
    division: str
    created_day: int
    deadline: float
    status: str  # open | handled | cancelled
    handled_at: float | None

    @property
    def late(self) -> bool:
        return self.handled_at is not None and self.handled_at > self.deadline


@dataclass(slots=True)
class Contribution:
    """An entity's share of the per-day aggregates and of the 双随机 coverage marks."""

    counts: dict[AggKey, tuple[int, int]]
    marks: tuple[Mark, ...]
    view: EventView | None = None


EMPTY: Final = Contribution({}, ())


class Entity:
    """One entity and its slots; ``contribution`` caches what it currently adds to the aggregates.

    ``listed`` says whether the store may hold list entries of it (``daemon.core.listing``), so that a
    checkpoint only replaces the entries of entities that have or had some. An entity loaded from the
    store is assumed listed: its next checkpoint clears whatever the store holds.
    """

    __slots__ = ("contribution", "ident", "kind", "listed", "slots")

    def __init__(self, kind: str, ident: str, slots: dict[str, Slot] | None = None) -> None:
        self.kind = kind
        self.ident = ident
        self.slots: dict[str, Slot] = slots if slots is not None else {}
        self.contribution: Contribution = EMPTY
        self.listed = False

    @property
    def key(self) -> str:
        return entity_key(self.kind, self.ident)

    def to_json(self) -> list[Any]:
        """``[slots, ruled]``: the slots, and the cells of its share that depend on the rules.

        Those cells are stored because an entity loaded back under other rules (a changed SLA,
        calendar or disclosure limit) must take back exactly what it added, or the aggregates drift.
        The rest of the share is a function of the slots alone and is derived again on loading.
        """
        ruled = [
            [*key, numerator, denominator]
            for key, (numerator, denominator) in self.contribution.counts.items()
            if key[1] in RULED
        ]
        return [{name: slot.to_json() for name, slot in self.slots.items()}, ruled]

    @classmethod
    def from_json(cls, key: str, raw: list[Any] | dict[str, Any]) -> Entity:
        """The entity of :meth:`to_json`, its ``contribution`` holding just the stored ruled cells.

        :meth:`daemon.core.state.partition.PartitionState.adopt` completes the share. A row written
        before ruled cells were stored (schema version 2: a bare slots object) is derived whole.
        """
        kind, _, ident = key.partition(":")
        if isinstance(raw, dict):
            return cls(kind, ident, {name: Slot.from_json(kind, value) for name, value in raw.items()})
        slots, ruled = raw
        entity = cls(kind, ident, {name: Slot.from_json(kind, value) for name, value in slots.items()})
        if ruled:
            entity.contribution = Contribution(
                {
                    (int(day), indicator, department, division): (int(numerator), int(denominator))
                    for day, indicator, department, division, numerator, denominator in ruled
                },
                (),
            )
        return entity


def entity_key(kind: str, ident: str) -> str:
    return f"{kind}:{ident}"


def offer(entity: Entity, name: str, slot: Slot) -> str:
    """Put ``slot`` in ``entity`` if it supersedes what is there; say what happened.

    Returns ``applied``, ``duplicate`` or ``stale``. Two different versions with the same number
    are resolved by fingerprint so the outcome does not depend on arrival order (docs/contract.md §9.2).
    """
    current = entity.slots.get(name)
    if current is None or slot.version > current.version:
        entity.slots[name] = slot
        return "applied"
    if slot.version < current.version:
        return "stale"
    if slot.fingerprint > current.fingerprint:
        entity.slots[name] = slot
        return "applied"
    return "duplicate"


# --- contributions -------------------------------------------------------------------------------


def _add(counts: dict[AggKey, tuple[int, int]], key: AggKey, numerator: int, denominator: int) -> None:
    previous = counts.get(key)
    if previous is None:
        counts[key] = (numerator, denominator)
    else:
        counts[key] = (previous[0] + numerator, previous[1] + denominator)


def event_view(entity: Entity, rules: Rules) -> EventView | None:
    """Status, responsible department and deadline of an event, or None while it has no valid created."""
    slots = entity.slots
    created = slots.get("created")
    if created is None or not created.valid:
        return None
    created_data = data_of(created, EventData)
    kind = created_data.kind or ""
    created_day = created.day
    reassigned = slots.get("reassigned")
    department = created.department
    deadline = created_data.deadline
    if reassigned is not None and reassigned.valid:
        department = reassigned.department
        reassigned_deadline = data_of(reassigned, EventData).deadline
        if reassigned_deadline is not None:
            deadline = reassigned_deadline
    if deadline is None:
        deadline = rules.deadline(created_day, rules.sla_working_days[kind])
    cancelled = slots.get("cancelled")
    handled = slots.get("handled")
    handled_at: float | None = None
    if cancelled is not None and cancelled.valid:
        status = "cancelled"
    elif handled is not None and handled.valid:
        status = "handled"
        handled_at = data_of(handled, EventData).at
    else:
        status = "open"
    return EventView(kind, department, created.division, created_day, deadline, status, handled_at)


def _event_contribution(entity: Entity, rules: Rules) -> Contribution:
    view = event_view(entity, rules)
    counts: dict[AggKey, tuple[int, int]] = {}
    if view is None:
        # Orphan actions count in no period until their created arrives; erroneous ones count at
        # their own primary (or ingestion) time, as docs/contract.md §4 says.
        for slot in entity.slots.values():
            if not slot.valid:
                _add(counts, (slot.day, ACCURACY, slot.department, slot.division), 0, 1)
        return Contribution(counts, (), view)
    day, department, division = view.created_day, view.department, view.division
    valid = 0
    for slot in entity.slots.values():
        if slot.valid:
            valid += 1  # every valid action is the responsible department's record, like the event
        else:
            _add(counts, (day, ACCURACY, slot.department, division), 0, 1)
    if valid:
        _add(counts, (day, ACCURACY, department, division), valid, valid)
    if view.status != "cancelled":
        handled = view.status == "handled"
        counts[(day, HANDLING, department, division)] = (int(handled), 1)
        if handled:
            counts[(day, ON_TIME, department, division)] = (int(not view.late), 1)
    return Contribution(counts, (), view)


def _single_slot_accuracy(slot: Slot, counts: dict[AggKey, tuple[int, int]]) -> None:
    _add(counts, (slot.day, ACCURACY, slot.department, slot.division), int(slot.valid), 1)


def _inspection_contribution(entity: Entity, rules: Rules) -> Contribution:
    slot = entity.slots.get("")
    if slot is None:
        return EMPTY
    counts: dict[AggKey, tuple[int, int]] = {}
    _single_slot_accuracy(slot, counts)
    if not slot.valid:
        return Contribution(counts, ())
    data = data_of(slot, InspectionData)
    _add(counts, (slot.day, MOBILE, slot.department, slot.division), int(data.channel == "mobile"), 1)
    marks: tuple[Mark, ...] = ((data.item_code, slot.day),) if data.double_random else ()
    return Contribution(counts, marks)


def _item_contribution(entity: Entity, rules: Rules) -> Contribution:
    slot = entity.slots.get("")
    if slot is None:
        return EMPTY
    counts: dict[AggKey, tuple[int, int]] = {}
    _single_slot_accuracy(slot, counts)
    return Contribution(counts, ())


def publish_deadline(decided_day: int, rules: Rules) -> float:
    return rules.deadline(decided_day, rules.publish_within)


def _disclosure_contribution(entity: Entity, rules: Rules) -> Contribution:
    slot = entity.slots.get("")
    if slot is None:
        return EMPTY
    counts: dict[AggKey, tuple[int, int]] = {}
    _single_slot_accuracy(slot, counts)
    if slot.valid:
        published_at = data_of(slot, DisclosureData).published_at
        if published_at is not None:
            on_time = published_at <= publish_deadline(slot.day, rules)
            _add(counts, (slot.day, DISCLOSURE_ON_TIME, slot.department, slot.division), int(on_time), 1)
    return Contribution(counts, ())


def _request_contribution(entity: Entity, rules: Rules) -> Contribution:
    slots = entity.slots
    submitted = slots.get("submitted")
    anchor = submitted if submitted is not None and submitted.valid else None
    counts: dict[AggKey, tuple[int, int]] = {}
    for slot in slots.values():
        if anchor is not None:
            _add(counts, (anchor.day, ACCURACY, slot.department, anchor.division), int(slot.valid), 1)
        elif not slot.valid:
            _add(counts, (slot.day, ACCURACY, slot.department, slot.division), 0, 1)
    executed = slots.get("executed")
    if anchor is not None and executed is not None and executed.valid:
        group = (anchor.department, anchor.division)
        submitted_data, executed_data = data_of(anchor, RequestData), data_of(executed, RequestData)
        elapsed = rules.working_days_between(submitted_data.at, executed_data.at)
        _add(counts, (anchor.day, WITHDRAWAL_DAYS, *group), elapsed, 1)
        batch = executed_data.batch_id or submitted_data.batch_id
        if batch:
            _add(counts, (anchor.day, WITHDRAWAL_BATCH_PREFIX + batch, *group), 1, 1)
    return Contribution(counts, ())


_CONTRIBUTIONS: Final[dict[str, Callable[[Entity, Rules], Contribution]]] = {
    EVENT: _event_contribution,
    INSPECTION: _inspection_contribution,
    ITEM: _item_contribution,
    DISCLOSURE: _disclosure_contribution,
    REQUEST: _request_contribution,
}


def contribution(entity: Entity, rules: Rules) -> Contribution:
    """What ``entity`` adds to the per-day aggregates, given its slots and the deadline rules."""
    return _CONTRIBUTIONS[entity.kind](entity, rules)


def is_resident(entity: Entity) -> bool:
    """Whether the entity must stay in memory: open, or read live at scrape time (docs/contract.md §9.4).

    Everything else is only needed again if a late version arrives, and is then loaded from the store.
    """
    kind = entity.kind
    if kind == ITEM:
        return True  # the catalogue is small and every scrape reads all of it
    if kind == INSPECTION:
        return False
    if kind == EVENT:
        view = entity.contribution.view
        if view is None:  # orphan actions wait for their created
            return any(slot.valid for slot in entity.slots.values())
        return view.status == "open"
    if kind == DISCLOSURE:
        slot = entity.slots.get("")
        return slot is not None and slot.valid and data_of(slot, DisclosureData).status == "published"
    if kind == REQUEST:
        submitted = entity.slots.get("submitted")
        if submitted is None or not submitted.valid:
            return any(slot.valid for slot in entity.slots.values())
        return not any(
            (slot := entity.slots.get(final)) is not None and slot.valid for final in ("executed", "rejected")
        )
    return False
