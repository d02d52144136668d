"""Slots: the latest version of one record key, and the few fields of it that indicators read.

Every entity is a set of slots (``daemon.core.state.entities``), one per record key; a slot keeps
the version that supersedes the others and, when that version is valid, its data as one of the
typed classes here, one per entity kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeVar

from daemon import streams

__all__ = [
    "DisclosureData",
    "ErrorData",
    "EventData",
    "InspectionData",
    "ItemData",
    "RequestData",
    "Slot",
    "SlotData",
    "data_of",
    "shared_day",
]

# --- what a valid record version keeps: the few fields indicators read, instants as Unix seconds ---
# Stored as JSON objects with these keys (the store's row format, schema version 3); an erroneous
# version keeps none (``{}`` in the store, ``None`` here).


@dataclass(slots=True)
class EventData:
    """An event action: when it happened; ``kind`` on ``created``; a ``deadline`` when one was set."""

    at: float
    kind: str | None = None
    deadline: float | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"at": self.at}
        if self.kind is not None:
            data["kind"] = self.kind
        if self.deadline is not None:
            data["deadline"] = self.deadline
        return data

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EventData:
        return cls(raw["at"], raw.get("kind"), raw.get("deadline"))


@dataclass(slots=True)
class InspectionData:
    """An inspection: its channel (``mobile`` = 掌上执法), its item, and whether it is 双随机."""

    channel: str
    item_code: str
    double_random: bool

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "item_code": self.item_code, "double_random": self.double_random}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> InspectionData:
        return cls(raw["channel"], raw["item_code"], raw["double_random"])


@dataclass(slots=True)
class ItemData:
    """A catalogue item version."""

    at: float
    double_random: bool
    onboarded: bool
    active: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "double_random": self.double_random,
            "onboarded": self.onboarded,
            "active": self.active,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ItemData:
        return cls(raw["at"], raw["double_random"], raw["onboarded"], raw["active"])


@dataclass(slots=True)
class DisclosureData:
    """A published penalty result: its publication facts, and which fields expose personal information."""

    published_at: float | None
    status: str
    procedure: str
    withdrawn_at: float | None
    revoked_at: float | None
    publicity_until: int | None  # day ordinal
    exposed: tuple[str, ...]  # field paths holding personal information, e.g. ("content",): never the value
    decision_no: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "published_at": self.published_at,
            "status": self.status,
            "procedure": self.procedure,
            "withdrawn_at": self.withdrawn_at,
            "revoked_at": self.revoked_at,
            "publicity_until": self.publicity_until,
            "exposed": list(self.exposed),
            "decision_no": self.decision_no,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DisclosureData:
        exposed = raw["exposed"]
        # Rows of schema version 3 kept a bool: a True names no field.
        fields = tuple(exposed) if isinstance(exposed, list) else (("unknown",) if exposed else ())
        return cls(
            raw["published_at"],
            raw["status"],
            raw["procedure"],
            raw["withdrawn_at"],
            raw["revoked_at"],
            raw["publicity_until"],
            fields,
            raw.get("decision_no", ""),
        )


@dataclass(slots=True)
class RequestData:
    """A withdraw/modify application action."""

    at: float
    disclosure_id: str
    kind: str
    reason: str
    batch_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "disclosure_id": self.disclosure_id,
            "kind": self.kind,
            "reason": self.reason,
            "batch_id": self.batch_id,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RequestData:
        return cls(raw["at"], raw["disclosure_id"], raw["kind"], raw["reason"], raw["batch_id"])


@dataclass(slots=True)
class ErrorData:
    """An erroneous version: its errors (code, field path) and where its message is in Kafka."""

    schema: str
    errors: tuple[tuple[str, str | None], ...]
    topic: str
    partition: int
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "errors": [list(error) for error in self.errors],
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ErrorData:
        errors = tuple((str(code), None if field is None else str(field)) for code, field in raw["errors"])
        return cls(raw["schema"], errors, raw["topic"], int(raw["partition"]), int(raw["offset"]))


SlotData = EventData | InspectionData | ItemData | DisclosureData | RequestData
_DATA_TYPES: Final[dict[str, type[SlotData]]] = {
    streams.BY_NAME["events"].kind: EventData,
    streams.BY_NAME["inspections"].kind: InspectionData,
    streams.BY_NAME["catalog"].kind: ItemData,
    streams.BY_NAME["disclosures"].kind: DisclosureData,
    streams.BY_NAME["disclosure_requests"].kind: RequestData,
}


@dataclass(slots=True)
class Slot:
    """The latest version of one record key.

    ``day``/``department``/``division`` place an erroneous version (docs/contract.md §4); ``data`` holds
    what a valid version says, or for an erroneous one its errors and Kafka coordinates (None in rows
    written before schema version 4).
    """

    version: int
    fingerprint: int
    valid: bool
    day: int
    department: str
    division: str
    data: SlotData | ErrorData | None

    def to_json(self) -> list[Any]:
        return [
            self.version,
            self.fingerprint,
            self.valid,
            self.day,
            self.department,
            self.division,
            {} if self.data is None else self.data.to_json(),
        ]

    @classmethod
    def from_json(cls, kind: str, raw: list[Any]) -> Slot:
        # Rows are parsed by orjson: the numbers and the flag already have their types.
        version, fingerprint, valid, day, department, division, data = raw
        typed: SlotData | ErrorData | None = None
        if data:
            typed = _DATA_TYPES[kind].from_json(data) if valid else ErrorData.from_json(data)
        return cls(version, fingerprint, bool(valid), shared_day(day), department, division, typed)


# Day ordinals (~739,000) are ints of their own (28 B) in every slot; the few thousand days of a
# state's life are kept once instead. Bounded: a run of hostile dates only restarts the table.
_DAYS: dict[int, int] = {}
_DAYS_KEPT = 1 << 16


def shared_day(day: int) -> int:
    """``day`` as the one int object kept for that day ordinal."""
    kept = _DAYS.get(day)
    if kept is None:
        if len(_DAYS) >= _DAYS_KEPT:
            _DAYS.clear()
        kept = _DAYS[day] = int(day)
    return kept


_Data = TypeVar("_Data", EventData, InspectionData, ItemData, DisclosureData, RequestData)


def data_of(slot: Slot, expected: type[_Data]) -> _Data:
    """The data of a valid slot of the expected kind; ``TypeError`` for an erroneous or foreign one."""
    data = slot.data
    if not isinstance(data, expected):
        raise TypeError(f"expected {expected.__name__}, got {type(data).__name__}")
    return data
