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
from typing import Any, ClassVar, Final, get_args

from daemon import streams
from daemon.core.state.slots import DisclosureData, EventData, InspectionData, RequestData, Slot, data_of
from schemas.records import EventAction, RequestAction

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
    """An entity's share of the per-day aggregates and of the 双随机 coverage marks.

    Treat it as immutable: ``EMPTY`` is shared by every entity without a share, and an event's is
    derived again from its view whenever it is asked for (:attr:`EventEntity.contribution`).
    """

    counts: dict[AggKey, tuple[int, int]]
    marks: tuple[Mark, ...]
    view: EventView | None = None


EMPTY: Final = Contribution({}, ())


class Entity:
    """One entity and its slots, one per record key; ``Entity(kind, ident, slots)`` builds the class
    of its kind (:class:`EventEntity`, :class:`RequestEntity`, or one of a single record).

    Memory follows open entities (docs/contract.md §9.4), so an entity is one object with a field per
    slot its kind can have, not a dictionary of them: an open event costs ~550 B in all instead of
    ~1,430 (bench/throughput.py, bytes per open event before a checkpoint; ~465 after). A slot of
    an unexpected name (only an erroneous record can carry one) goes to ``extra``. The key
    ``kind:ident`` is the one string kept; :attr:`ident` is cut from it when asked for.
    :attr:`slots` is a copy: slots change through :func:`offer` (or :meth:`put`), and the share
    with them (:meth:`settle`).

    :attr:`contribution` is what the entity currently adds to the aggregates. ``listed`` says whether
    the store may hold list entries of it (``daemon.core.listing``), so that a checkpoint only
    replaces the entries of entities that have or had some. An entity loaded from the store is
    assumed listed: its next checkpoint clears whatever the store holds.
    """

    __slots__ = ("extra", "key", "listed")

    kind: ClassVar[str] = ""
    #: Record key -> field, for the slot names this kind has a field for, in the order rows list them.
    FIELDS: ClassVar[dict[str, str]] = {}

    def __new__(cls, kind: str, ident: str, slots: dict[str, Slot] | None = None) -> Entity:
        return object.__new__(_CLASSES[kind] if cls is Entity else cls)

    def __init__(self, kind: str, ident: str, slots: dict[str, Slot] | None = None) -> None:
        self._reset(entity_key(kind, ident))
        if slots:
            for name, slot in slots.items():
                self.put(name, slot)

    @classmethod
    def fresh(cls, key: str) -> Entity:
        """A new entity of this class without slots, keyed ``key`` (``kind:ident``)."""
        entity = object.__new__(cls)
        entity._reset(key)
        return entity

    def _reset(self, key: str) -> None:
        self.key = key
        self.listed = False
        self.extra: dict[str, Slot] | None = None
        for field in self.FIELDS.values():
            setattr(self, field, None)

    @property
    def ident(self) -> str:
        return self.key[len(self.kind) + 1 :]

    @property
    def view(self) -> EventView | None:
        """What an event is now (:func:`event_view`), as last settled; None for every other kind."""
        return None

    # --- the share of the aggregates -------------------------------------------------------------

    @property
    def contribution(self) -> Contribution:
        """What the entity adds to the aggregates now: the share last settled or held.

        Read it *before* changing the slots: an event derives it from its slots (see
        :class:`EventEntity`), so once they changed it already says what they would add.
        """
        raise NotImplementedError

    def settle(self, share: Contribution) -> None:
        """``share`` (what :func:`contribution` derives from the slots now) is in the aggregates."""
        raise NotImplementedError

    def hold(self, share: Contribution) -> None:
        """``share`` is in the aggregates, whatever the slots would derive: it is taken back as it
        is at the next change (the stored cells of an entity loaded under other rules)."""
        raise NotImplementedError

    # --- slots by name --------------------------------------------------------------------------

    def slot(self, name: str) -> Slot | None:
        """The slot of record key ``name``, if any."""
        field = self.FIELDS.get(name)
        if field is not None:
            found: Slot | None = getattr(self, field)
            return found
        extra = self.extra
        return None if extra is None else extra.get(name)

    def put(self, name: str, slot: Slot) -> None:
        """Make ``slot`` the one of record key ``name``; the share is not moved (see :meth:`settle`)."""
        field = self.FIELDS.get(name)
        if field is not None:
            setattr(self, field, slot)
        elif self.extra is None:
            self.extra = {name: slot}
        else:
            self.extra[name] = slot

    def items(self) -> list[tuple[str, Slot]]:
        """(name, slot) of every slot, in the kind's order, unexpected names last."""
        found = [
            (name, slot) for name, field in self.FIELDS.items() if (slot := getattr(self, field)) is not None
        ]
        if self.extra:
            found.extend(self.extra.items())
        return found

    def values(self) -> list[Slot]:
        found = [slot for field in self.FIELDS.values() if (slot := getattr(self, field)) is not None]
        if self.extra:
            found.extend(self.extra.values())
        return found

    @property
    def slots(self) -> dict[str, Slot]:
        """The slots by name, as a new dictionary (change them with :func:`offer` or :meth:`put`)."""
        return dict(self.items())

    def any_valid(self) -> bool:
        return any(slot.valid for slot in self.values())

    # --- residency and rows ---------------------------------------------------------------------

    def resident(self) -> bool:
        """Whether the entity must stay in memory (see :func:`is_resident`)."""
        return False

    def ruled(self) -> list[list[Any]]:
        """The cells of its share that depend on the rules, as stored rows."""
        return [
            [*key, numerator, denominator]
            for key, (numerator, denominator) in self.contribution.counts.items()
            if key[1] in RULED
        ]

    def to_json(self) -> list[Any]:
        """``[slots, ruled]``: the slots, and the cells of its share that depend on the rules.

        Those cells are stored because an entity reloaded after the rules changed (a new working-day
        calendar or disclosure limit) must take back exactly what it added, or the aggregates drift.
        The rest of the share is a function of the slots alone and is derived again on loading.
        """
        return [{name: slot.to_json() for name, slot in self.items()}, self.ruled()]

    @classmethod
    def from_json(cls, key: str, raw: list[Any] | dict[str, Any]) -> Entity:
        """An entity from its stored row, holding its stored ruled cells as its whole share.

        :meth:`daemon.core.state.partition.PartitionState.adopt` completes the share from the slots.
        A row written before ruled cells were stored (schema version 2: a bare slots object) holds
        none, and is derived whole.
        """
        kind, _, _ = key.partition(":")
        entity = _CLASSES[kind].fresh(key)
        slots, ruled = (raw, None) if isinstance(raw, dict) else raw
        from_row = Slot.from_json
        for name, value in slots.items():
            entity.put(name, from_row(kind, value))
        counts = {
            (int(day), indicator, department, division): (int(numerator), int(denominator))
            for day, indicator, department, division, numerator, denominator in ruled or ()
        }
        entity.hold(Contribution(counts, ()) if counts else EMPTY)
        return entity


class _KeptEntity(Entity):
    """An entity whose share is kept as it was settled (every kind but events: their shares are few
    or small, and an inspection's marks are not derived from a view)."""

    __slots__ = ("share",)

    def _reset(self, key: str) -> None:
        super()._reset(key)
        self.share = EMPTY

    @property
    def contribution(self) -> Contribution:
        return self.share

    def settle(self, share: Contribution) -> None:
        self.share = share

    def hold(self, share: Contribution) -> None:
        self.share = share


class _SingleEntity(_KeptEntity):
    """An entity of one record (an inspection, a catalogue item, a disclosure): one slot, named ""."""

    __slots__ = ("only",)
    FIELDS = {"": "only"}  # noqa: RUF012 - class constants, never changed

    def _reset(self, key: str) -> None:
        self.key = key
        self.listed = False
        self.extra = None
        self.only: Slot | None = None
        self.share = EMPTY

    def items(self) -> list[tuple[str, Slot]]:
        only, extra = self.only, self.extra
        found = [] if only is None else [("", only)]
        if extra:
            found.extend(extra.items())
        return found

    def values(self) -> list[Slot]:
        only, extra = self.only, self.extra
        found = [] if only is None else [only]
        if extra:
            found.extend(extra.values())
        return found


class InspectionEntity(_SingleEntity):
    __slots__ = ()
    kind = INSPECTION

    def ruled(self) -> list[list[Any]]:
        # Accuracy and mobile cells only (:func:`_inspection_contribution`), neither ruled: every
        # checkpoint asks this of each new inspection, and the walk over its cells cost ~1 us.
        return []


class ItemEntity(_SingleEntity):
    __slots__ = ()
    kind = ITEM

    def ruled(self) -> list[list[Any]]:
        return []  # accuracy cells only (:func:`_item_contribution`)

    def resident(self) -> bool:
        return True  # the catalogue is small and every scrape reads all of it


class DisclosureEntity(_SingleEntity):
    __slots__ = ()
    kind = DISCLOSURE

    def resident(self) -> bool:
        slot = self.only
        return slot is not None and slot.valid and data_of(slot, DisclosureData).status == "published"


_EVENT_ACTIONS: Final[tuple[str, ...]] = get_args(EventAction)
_REQUEST_ACTIONS: Final[tuple[str, ...]] = get_args(RequestAction)


class RequestEntity(_KeptEntity):
    """A withdraw/modify application: one slot per action."""

    __slots__ = ("approved", "executed", "rejected", "submitted")
    kind = REQUEST
    FIELDS = {name: name for name in _REQUEST_ACTIONS}  # noqa: RUF012 - class constants, never changed

    def _reset(self, key: str) -> None:
        self.key = key
        self.listed = False
        self.extra = None
        self.submitted: Slot | None = None
        self.approved: Slot | None = None
        self.rejected: Slot | None = None
        self.executed: Slot | None = None
        self.share = EMPTY

    def resident(self) -> bool:
        submitted = self.submitted
        if submitted is None or not submitted.valid:
            return self.any_valid()
        return not any(slot is not None and slot.valid for slot in (self.executed, self.rejected))


class EventEntity(Entity):
    """An event: one slot per lifecycle action, and the deadline of its :class:`EventView`.

    Neither its share of the aggregates nor its view is kept: both are derived from the slots when
    asked for (:func:`_event_counts`, :func:`_view_of`, ~1 us together), but for the one input that
    depends on the rules, the deadline, which is the one :meth:`settle` was given (None while there
    is no valid created). So until the slots change the derivation gives back exactly what was
    added. A kept share was ~550 B of each open event's ~1,300, a kept view 88 B of ~635
    (bench/throughput.py, bytes per open event). ``override`` holds a share that derivation would
    not give: what :meth:`hold` was given (the stored ruled cells of an event loaded under other
    rules), until the next :meth:`settle`.
    """

    __slots__ = ("cancelled", "created", "deadline", "handled", "override", "reassigned", "signed")
    kind = EVENT
    FIELDS = {name: name for name in _EVENT_ACTIONS}  # noqa: RUF012 - class constants, never changed

    def _reset(self, key: str) -> None:
        self.key = key
        self.listed = False
        self.extra = None
        self.created: Slot | None = None
        self.signed: Slot | None = None
        self.reassigned: Slot | None = None
        self.handled: Slot | None = None
        self.cancelled: Slot | None = None
        self.deadline: float | None = None
        self.override: Contribution | None = None

    def items(self) -> list[tuple[str, Slot]]:
        # Spelled out in the order of FIELDS: every checkpoint writes each dirty event's slots.
        found = [
            (name, slot)
            for name, slot in (
                ("created", self.created),
                ("signed", self.signed),
                ("reassigned", self.reassigned),
                ("handled", self.handled),
                ("cancelled", self.cancelled),
            )
            if slot is not None
        ]
        if self.extra:
            found.extend(self.extra.items())
        return found

    def values(self) -> list[Slot]:
        found = [
            slot
            for slot in (self.created, self.signed, self.reassigned, self.handled, self.cancelled)
            if slot is not None
        ]
        if self.extra:
            found.extend(self.extra.values())
        return found

    @property
    def view(self) -> EventView | None:
        deadline = self.deadline
        return None if deadline is None else _view_of(self, deadline)

    @property
    def contribution(self) -> Contribution:
        override = self.override
        if override is not None:
            return override
        deadline = self.deadline
        view = None if deadline is None else _view_of(self, deadline)
        counts = _event_counts(self, view)
        return Contribution(counts, (), view) if counts or view is not None else EMPTY

    def settle(self, share: Contribution) -> None:
        """Keep only the deadline of ``share``'s view: the rest is what the slots derive."""
        view = share.view
        self.deadline = None if view is None else view.deadline
        self.override = None

    def hold(self, share: Contribution) -> None:
        view = share.view
        self.deadline = None if view is None else view.deadline
        self.override = share

    def ruled(self) -> list[list[Any]]:
        if self.override is not None:
            return super().ruled()
        # On-time, the one ruled series of events, counts handled events only. Spelled out rather
        # than read from a view: every checkpoint asks it of each dirty event.
        deadline, created, handled = self.deadline, self.created, self.handled
        if deadline is None or created is None or not created.valid or handled is None or not handled.valid:
            return []
        cancelled = self.cancelled
        if cancelled is not None and cancelled.valid:
            return []
        reassigned = self.reassigned
        department = (
            reassigned.department if reassigned is not None and reassigned.valid else created.department
        )
        on_time = int(not _event_data(handled).at > deadline)
        return [[created.day, ON_TIME, department, created.division, on_time, 1]]

    def open_labels(self) -> tuple[tuple[str, str, str], float] | None:
        """``(kind, department, division)`` and deadline if the event is open, else None: what a
        scrape reads of every resident event, without deriving a whole view of each (~2x faster)."""
        # _status and _view_of spelled out: this runs for every open event at every scrape.
        deadline = self.deadline
        created = self.created
        if deadline is None or created is None or not created.valid:
            return None
        cancelled, handled = self.cancelled, self.handled
        if (cancelled is not None and cancelled.valid) or (handled is not None and handled.valid):
            return None
        reassigned = self.reassigned
        department = (
            reassigned.department if reassigned is not None and reassigned.valid else created.department
        )
        data = created.data
        if not isinstance(data, EventData):
            raise TypeError(f"expected EventData, got {type(data).__name__}")
        return (data.kind or "", department, created.division), deadline

    def resident(self) -> bool:
        created = self.created
        if self.deadline is None or created is None or not created.valid:
            return self.any_valid()  # orphan actions wait for their created
        return _status(self) == "open"


_CLASSES: Final[dict[str, type[Entity]]] = {
    cls.kind: cls for cls in (EventEntity, InspectionEntity, ItemEntity, DisclosureEntity, RequestEntity)
}


def entity_key(kind: str, ident: str) -> str:
    return f"{kind}:{ident}"


def new_entity(kind: str, key: str) -> Entity:
    """A new entity of ``kind`` without slots, keyed ``key`` (``kind:ident``)."""
    return _CLASSES[kind].fresh(key)


def judge(entity: Entity, name: str, slot: Slot) -> str:
    """What offering ``slot`` to ``entity`` would do (see :func:`offer`), changing nothing."""
    field = entity.FIELDS.get(name)
    current: Slot | None = getattr(entity, field) if field is not None else entity.slot(name)
    if current is None or slot.version > current.version:
        return "applied"
    if slot.version < current.version:
        return "stale"
    return "applied" if slot.fingerprint > current.fingerprint else "duplicate"


def offer(entity: Entity, name: str, slot: Slot) -> str:
    """Put ``slot`` in ``entity`` if it supersedes what is there; say what happened.

    Returns ``applied``, ``duplicate`` or ``stale``. Two different versions with the same number
    are resolved by fingerprint so the outcome does not depend on arrival order (docs/contract.md §9.2).
    The share is not moved: read :attr:`Entity.contribution` before, :meth:`Entity.settle` after.
    """
    outcome = judge(entity, name, slot)
    if outcome == "applied":
        entity.put(name, slot)
    return outcome


# --- contributions -------------------------------------------------------------------------------


def _add(counts: dict[AggKey, tuple[int, int]], key: AggKey, numerator: int, denominator: int) -> None:
    previous = counts.get(key)
    if previous is None:
        counts[key] = (numerator, denominator)
    else:
        counts[key] = (previous[0] + numerator, previous[1] + denominator)


def event_view(entity: Entity, rules: Rules) -> EventView | None:
    """Status, responsible department and deadline of an event, or None while it has no valid created."""
    if not isinstance(entity, EventEntity):
        raise TypeError(f"{entity.key} is not an event")
    created = entity.created
    if created is None or not created.valid:
        return None
    created_data = _event_data(created)
    deadline = created_data.deadline
    reassigned = entity.reassigned
    if reassigned is not None and reassigned.valid:
        reassigned_deadline = _event_data(reassigned).deadline
        if reassigned_deadline is not None:
            deadline = reassigned_deadline
    if deadline is None:
        deadline = rules.deadline(created.day, rules.sla_working_days[created_data.kind or ""])
    return _view_of(entity, deadline)


def _event_data(slot: Slot) -> EventData:
    # data_of, inlined on the paths every event message takes (a view is derived several times).
    data = slot.data
    if not isinstance(data, EventData):
        raise TypeError(f"expected EventData, got {type(data).__name__}")
    return data


def _status(entity: EventEntity) -> str:
    """``cancelled``, ``handled`` or ``open``, for an event with a valid created."""
    cancelled = entity.cancelled
    if cancelled is not None and cancelled.valid:
        return "cancelled"
    handled = entity.handled
    if handled is not None and handled.valid:
        return "handled"
    return "open"


def _view_of(entity: EventEntity, deadline: float) -> EventView | None:
    """The view of an event whose deadline is ``deadline`` (see :func:`event_view`)."""
    created = entity.created
    if created is None or not created.valid:
        return None
    created_data = created.data
    if not isinstance(created_data, EventData):
        raise TypeError(f"expected EventData, got {type(created_data).__name__}")
    kind = created_data.kind or ""
    department = created.department
    reassigned = entity.reassigned
    if reassigned is not None and reassigned.valid:
        department = reassigned.department
    cancelled = entity.cancelled
    if cancelled is not None and cancelled.valid:
        return EventView(kind, department, created.division, created.day, deadline, "cancelled", None)
    handled = entity.handled
    if handled is not None and handled.valid:
        handled_at = _event_data(handled).at
        return EventView(kind, department, created.division, created.day, deadline, "handled", handled_at)
    return EventView(kind, department, created.division, created.day, deadline, "open", None)


def _event_counts(entity: EventEntity, view: EventView | None) -> dict[AggKey, tuple[int, int]]:
    """An event's cells, given its slots and ``view`` (what :func:`event_view` says of them)."""
    counts: dict[AggKey, tuple[int, int]] = {}
    slots: tuple[Slot | None, ...] | list[Slot] = (
        entity.values()
        if entity.extra
        else (entity.created, entity.signed, entity.reassigned, entity.handled, entity.cancelled)
    )
    if view is None:
        # Orphan actions count in no period until their created arrives; erroneous ones count at
        # their own primary (or ingestion) time, as docs/contract.md §4 says.
        for slot in slots:
            if slot is not None and not slot.valid:
                _add(counts, (slot.day, ACCURACY, slot.department, slot.division), 0, 1)
        return counts
    day, department, division = view.created_day, view.department, view.division
    valid = 0
    for slot in slots:
        if slot is None:
            continue
        if slot.valid:
            valid += 1  # every valid action is the responsible department's record, like the event
        else:
            _add(counts, (day, ACCURACY, slot.department, division), 0, 1)
    if valid:
        key = (day, ACCURACY, department, division)
        previous = counts.get(key)
        counts[key] = (valid, valid) if previous is None else (previous[0] + valid, previous[1] + valid)
    status = view.status
    if status == "open":
        counts[(day, HANDLING, department, division)] = (0, 1)
    elif status == "handled":
        counts[(day, HANDLING, department, division)] = (1, 1)
        counts[(day, ON_TIME, department, division)] = (int(not view.late), 1)
    return counts


def _event_contribution(entity: EventEntity, rules: Rules) -> Contribution:
    view = event_view(entity, rules)
    return Contribution(_event_counts(entity, view), (), view)


def _single_slot_accuracy(slot: Slot, counts: dict[AggKey, tuple[int, int]]) -> None:
    _add(counts, (slot.day, ACCURACY, slot.department, slot.division), int(slot.valid), 1)


def _extra_accuracy(entity: Entity, counts: dict[AggKey, tuple[int, int]]) -> None:
    # A single-record entity only ever has its one slot; should another name reach it, it counts
    # as a record of its own like the one slot does.
    if entity.extra:
        for slot in entity.extra.values():
            _single_slot_accuracy(slot, counts)


def _inspection_contribution(entity: InspectionEntity, rules: Rules) -> Contribution:
    slot = entity.only
    if slot is None:
        return EMPTY
    counts: dict[AggKey, tuple[int, int]] = {}
    _single_slot_accuracy(slot, counts)
    _extra_accuracy(entity, counts)
    if not slot.valid:
        return Contribution(counts, ())
    data = data_of(slot, InspectionData)
    _add(counts, (slot.day, MOBILE, slot.department, slot.division), int(data.channel == "mobile"), 1)
    marks: tuple[Mark, ...] = ((data.item_code, slot.day),) if data.double_random else ()
    return Contribution(counts, marks)


def _item_contribution(entity: ItemEntity, rules: Rules) -> Contribution:
    slot = entity.only
    if slot is None:
        return EMPTY
    counts: dict[AggKey, tuple[int, int]] = {}
    _single_slot_accuracy(slot, counts)
    _extra_accuracy(entity, counts)
    return Contribution(counts, ())


def publish_deadline(decided_day: int, rules: Rules) -> float:
    return rules.deadline(decided_day, rules.publish_within)


def _disclosure_contribution(entity: DisclosureEntity, rules: Rules) -> Contribution:
    slot = entity.only
    if slot is None:
        return EMPTY
    counts: dict[AggKey, tuple[int, int]] = {}
    _single_slot_accuracy(slot, counts)
    _extra_accuracy(entity, counts)
    if slot.valid:
        published_at = data_of(slot, DisclosureData).published_at
        if published_at is not None:
            on_time = published_at <= publish_deadline(slot.day, rules)
            _add(counts, (slot.day, DISCLOSURE_ON_TIME, slot.department, slot.division), int(on_time), 1)
    return Contribution(counts, ())


def _request_contribution(entity: RequestEntity, rules: Rules) -> Contribution:
    submitted = entity.submitted
    anchor = submitted if submitted is not None and submitted.valid else None
    counts: dict[AggKey, tuple[int, int]] = {}
    for slot in entity.values():
        if anchor is not None:
            _add(counts, (anchor.day, ACCURACY, slot.department, anchor.division), int(slot.valid), 1)
        elif not slot.valid:
            _add(counts, (slot.day, ACCURACY, slot.department, slot.division), 0, 1)
    executed = entity.executed
    if anchor is not None and executed is not None and executed.valid:
        group = (anchor.department, anchor.division)
        submitted_data, executed_data = data_of(anchor, RequestData), data_of(executed, RequestData)
        elapsed = rules.working_days_between(submitted_data.at, executed_data.at)
        _add(counts, (anchor.day, WITHDRAWAL_DAYS, *group), elapsed, 1)
        batch = executed_data.batch_id or submitted_data.batch_id
        if batch:
            _add(counts, (anchor.day, WITHDRAWAL_BATCH_PREFIX + batch, *group), 1, 1)
    return Contribution(counts, ())


_CONTRIBUTIONS: Final[dict[str, Callable[[Any, Rules], Contribution]]] = {
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

    Everything else is only needed again if a late version arrives, and is then loaded from the store:
    closed events and applications, inspections, disclosures no longer published. Items always stay.
    """
    return entity.resident()
