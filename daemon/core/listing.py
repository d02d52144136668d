"""What each entity contributes to the drill-down lists (docs/contract.md §13), as rows a store keeps.

Every count svmon exports can be traced to the entities behind it. An entity's :func:`entries` are
its lines in the lists, computed from its slots like its contribution to the indicators is, with the
same attribution (department, division, the day that places it in a period):

- ``open``: an open event (its cohort day, its responsible department); overdue once ``due``, its
  deadline, has passed;
- ``published``: a currently published disclosure (its decision day); a violation when it has a
  violation that does not depend on time (``flagged``), or possibly once ``due`` has passed: the
  earliest instant from which it may be due for withdrawal (the reader judges it exactly);
- ``request``: an open withdraw/modify application (its submission day);
- ``error``: one erroneous record version that no valid version has corrected, at the cell its
  inaccuracy counts in (one entry per record key, so an event can have several).

``rank`` orders each list worst first (the earliest deadline, the longest unwithdrawn, the oldest).
Judgments that depend on "now" are left to the reader of the store, which knows what time it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from daemon.core.indicators import violations_at_rest, withdrawal_due_from
from daemon.core.state.entities import (
    DISCLOSURE,
    EVENT,
    INSPECTION,
    ITEM,
    REQUEST,
    Entity,
    EventView,
    Rules,
    event_view,
)
from daemon.core.state.slots import DisclosureData, ErrorData, EventData, RequestData, Slot, data_of

__all__ = ["ERROR", "LISTS", "OPEN", "PUBLISHED", "REQUEST_LIST", "Entry", "entries", "keyless_entry"]

OPEN: Final = "open"
PUBLISHED: Final = "published"
REQUEST_LIST: Final = "request"
ERROR: Final = "error"
LISTS: Final = (OPEN, PUBLISHED, REQUEST_LIST, ERROR)


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a list: its place (``key`` within the list), attribution, ordering and fields."""

    list: str
    key: str
    kind: str  # what a list filters by: the event kind, the request kind, the erroneous record's schema
    department: str
    division: str
    day: int
    rank: float
    due: float | None
    flagged: bool
    fields: dict[str, Any]


def entries(entity: Entity, rules: Rules) -> list[Entry]:
    """The entity's lines in the lists now (none for most entities: closed, valid, not published)."""
    return _BY_KIND[entity.kind](entity, rules)


def keyless_entry(key: str, slot: Slot) -> Entry:
    """The ``error`` line of a message without a usable record key (it names no entity)."""
    return _error(key, slot, _own_place(slot), "")


def _error(key: str, slot: Slot, place: tuple[str, str, int], ident: str) -> Entry:
    department, division, day = place
    data = slot.data if isinstance(slot.data, ErrorData) else None
    fields: dict[str, Any] = {"id": ident, "version": slot.version}
    if data is not None:
        fields.update(data.to_json())
    rank = float(day)  # the oldest first
    schema = data.schema if data is not None else ""
    return Entry(
        ERROR,
        key,
        kind=schema,
        department=department,
        division=division,
        day=day,
        rank=rank,
        due=None,
        flagged=True,
        fields=fields,
    )


def _errors_of(entity: Entity, place: Callable[[Slot], tuple[str, str, int]]) -> list[Entry]:
    """One ``error`` entry per erroneous slot, placed where its inaccuracy counts."""
    found = []
    for name, slot in entity.items():
        if not slot.valid:
            key = f"{entity.key}#{name}" if name else entity.key
            found.append(_error(key, slot, place(slot), entity.ident))
    return found


def _own_place(slot: Slot) -> tuple[str, str, int]:
    return slot.department, slot.division, slot.day


def _event(entity: Entity, rules: Rules) -> list[Entry]:
    view = event_view(entity, rules)
    if view is None:
        return _errors_of(entity, _own_place)  # orphan actions: erroneous ones count at their own day
    # Like the contribution: an erroneous action counts in the event's cohort and division, under
    # the department the action names. Most events have no erroneous action: every checkpoint asks.
    found = (
        _errors_of(entity, lambda slot: (slot.department, view.division, view.created_day))
        if not all(slot.valid for slot in entity.values())
        else []
    )
    if view.status == "open":
        found.append(_open(entity, view))
    return found


def _open(entity: Entity, view: EventView) -> Entry:
    created_slot = entity.slot("created")
    if created_slot is None:
        raise TypeError(f"{entity.key} has a view but no created")
    created = data_of(created_slot, EventData)
    fields = {"id": entity.ident, "kind": view.kind, "created_at": created.at, "deadline": view.deadline}
    return Entry(
        OPEN,
        entity.key,
        kind=view.kind,
        department=view.department,
        division=view.division,
        day=view.created_day,
        rank=view.deadline,
        due=view.deadline,
        flagged=False,
        fields=fields,
    )


def _disclosure(entity: Entity, rules: Rules) -> list[Entry]:
    slot = entity.slot("")
    if slot is None:
        return []
    if not slot.valid:
        return _errors_of(entity, _own_place)
    data = data_of(slot, DisclosureData)
    if data.status != "published":
        return []
    flags = violations_at_rest(data, slot.day, rules)
    due = withdrawal_due_from(data)
    fields = {
        "id": entity.ident,
        "decision_no": data.decision_no,
        "violations": flags,
        "exposed": list(data.exposed),
        "published_at": data.published_at,
        "publicity_until": data.publicity_until,
        "revoked_at": data.revoked_at,
        "withdrawal_due_from": due,
    }
    rank = due if due is not None else (data.published_at or 0.0)
    return [
        Entry(
            PUBLISHED,
            entity.key,
            kind="",
            department=slot.department,
            division=slot.division,
            day=slot.day,
            rank=rank,
            due=due,
            flagged=bool(flags),
            fields=fields,
        )
    ]


def _request(entity: Entity, rules: Rules) -> list[Entry]:
    submitted = entity.slot("submitted")
    anchor = submitted if submitted is not None and submitted.valid else None
    if anchor is None:
        return _errors_of(entity, _own_place)
    found = _errors_of(entity, lambda slot: (slot.department, anchor.division, anchor.day))
    if any((slot := entity.slot(final)) is not None and slot.valid for final in ("executed", "rejected")):
        return found
    data = data_of(anchor, RequestData)
    fields = {
        "id": entity.ident,
        "disclosure_id": data.disclosure_id,
        "kind": data.kind,
        "reason": data.reason,
        "submitted_at": data.at,
        "batch_id": data.batch_id,
    }
    found.append(
        Entry(
            REQUEST_LIST,
            entity.key,
            kind=data.kind,
            department=anchor.department,
            division=anchor.division,
            day=anchor.day,
            rank=data.at,
            due=None,
            flagged=True,
            fields=fields,
        )
    )
    return found


def _single(entity: Entity, rules: Rules) -> list[Entry]:
    return _errors_of(entity, _own_place)


_BY_KIND: Final[dict[str, Callable[[Entity, Rules], list[Entry]]]] = {
    EVENT: _event,
    INSPECTION: _single,
    ITEM: _single,
    DISCLOSURE: _disclosure,
    REQUEST: _request,
}
