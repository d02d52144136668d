"""The plan's entities: what exists in the year and what happens to it, before any message is written.

Mutable where the plan decides an entity's fate after creating it (an event is handled, a disclosure
withdrawn); a `Publication` snapshots a disclosure at the moment it is (re)published.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import NamedTuple


class ItemVersion(NamedTuple):
    """One state of a catalogue item, from `at` on."""

    at: datetime
    onboarded: bool
    active: bool


@dataclass
class PlannedItem:
    """A 监管事项 of the catalogue, its state at the end of the year and its versions in the year."""

    item_code: str
    name: str
    department: str
    division: str
    double_random: bool
    onboarded: bool
    active: bool
    #: a 双随机 item inspected under a task this year.
    covered: bool = False
    #: added to the catalogue after the initial January load.
    added_late: bool = False
    versions: list[ItemVersion] = field(default_factory=list)


class Reassignment(NamedTuple):
    """An event's 退回改派: when, to which department, and the new deadline if one was set."""

    at: datetime
    department: str
    deadline: datetime | None


@dataclass
class PlannedEvent:
    """A 监管事件 and its life: created, maybe reassigned, signed, handled or cancelled."""

    event_id: str
    kind: str
    department: str
    division: str
    created: datetime
    item_code: str | None
    #: the deadline written on `created` (None: the kind's default applies).
    deadline: datetime | None
    #: the deadline that applies in the end: the reassignment's, the explicit one, or the default.
    effective_deadline: datetime
    reassigned: Reassignment | None = None
    signed: datetime | None = None
    handled: datetime | None = None
    cancelled: datetime | None = None

    @property
    def responsible(self) -> str:
        """The department answerable for the event in the end (the one it was reassigned to)."""
        return self.reassigned.department if self.reassigned else self.department

    @property
    def assigned_at(self) -> datetime:
        """When the responsible department received the event."""
        return self.reassigned.at if self.reassigned else self.created

    def actions(self) -> list[tuple[str, datetime]]:
        """`(action, at)` of each record the event produces, in the order its producer sends them."""
        actions = [("created", self.created)]
        if self.reassigned:
            actions.append(("reassigned", self.reassigned.at))
        if self.signed:
            actions.append(("signed", self.signed))
        if self.handled:
            actions.append(("handled", self.handled))
        if self.cancelled:
            actions.append(("cancelled", self.cancelled))
        return actions


@dataclass(frozen=True)
class PlannedInspection:
    """A 行政检查 of a catalogue item."""

    record_id: str
    item: PlannedItem
    division: str
    at: datetime
    channel: str
    #: the 双随机 task it ran under, if any.
    task: str | None
    target: dict[str, str]
    inspectors: tuple[str, ...]
    result: str


@dataclass
class PlannedDisclosure:
    """A published 行政处罚 result; the fields after `exposes_personal_info` are its latest state."""

    disclosure_id: str
    decision_no: str
    department: str
    division: str
    decided: date
    published_at: datetime
    procedure: str
    severity: str
    party: dict[str, str]
    content: str
    publicity_until: date | None
    exposes_personal_info: bool
    status: str = "published"
    withdrawn_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Publication:
    """A disclosure, as it stands, (re)published at `at`."""

    disclosure: PlannedDisclosure
    at: datetime
    #: only a decision's first publication may be sent erroneous first (and corrected).
    may_be_erroneous: bool

    @classmethod
    def of(cls, disclosure: PlannedDisclosure, at: datetime, *, may_be_erroneous: bool) -> Publication:
        # A copy: the plan goes on changing the disclosure after this publication.
        return cls(replace(disclosure), at, may_be_erroneous)


class RequestStep(NamedTuple):
    action: str
    at: datetime


@dataclass(frozen=True)
class PlannedRequest:
    """A 撤销/修改 request on a disclosure and the steps it goes through."""

    request_id: str
    disclosure_id: str
    department: str
    kind: str
    reason: str
    #: the clean-up batch it belongs to, if any.
    batch_id: str | None
    steps: tuple[RequestStep, ...]


@dataclass
class Plan:
    """Everything the generator decided, filled in subject by subject as the messages are written."""

    items: list[PlannedItem] = field(default_factory=list)
    events: list[PlannedEvent] = field(default_factory=list)
    inspections: list[PlannedInspection] = field(default_factory=list)
    #: this year's penalty decisions.
    disclosures: list[PlannedDisclosure] = field(default_factory=list)
    #: the pre-2020 results of the clean-up.
    legacy: list[PlannedDisclosure] = field(default_factory=list)
    requests: list[PlannedRequest] = field(default_factory=list)
    #: with `until`: the ids of this year's results planted never to be withdrawn, in decision order.
    never_withdrawn: list[str] = field(default_factory=list)
    #: the units of the clean-up present in the registry, in `CLEANUP_UNITS` order.
    cleanup_units: list[str] = field(default_factory=list)
