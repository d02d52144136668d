"""The record types (docs/contract.md §3) and the DLQ envelope (§5), as strict, frozen pydantic models.

Checks that need nothing but the record itself (identifier check digits, decision numbers, the
fields each event action may carry, times that contradict each other) live here as validators, so a
record built in code obeys the same contract as one read from Kafka.  Each such validator raises a
`PydanticCustomError` whose *type* is the `ErrorCode` value and whose context may name the offending
sub-field (`subfield`); `schemas.decode` turns that into a `FieldError` without a lookup table.
Checks that need outside knowledge (the registry, the ingestion time) are in `schemas.decode`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.errors import ErrorCode, FieldError
from schemas.identifiers import is_valid_decision_no, is_valid_resident_id, is_valid_uscc

__all__ = [
    "EVENT_ACTION_FIELDS",
    "EVENT_ACTION_SPECIFIC",
    "RECORD_TYPES",
    "SHANGHAI",
    "DisclosureRecord",
    "DisclosureRequestRecord",
    "DlqError",
    "DlqRecord",
    "DlqSource",
    "EventAction",
    "EventRecord",
    "InspectionRecord",
    "ItemRecord",
    "Party",
    "Record",
    "RequestAction",
    "Target",
    "event_action_problems",
    "shanghai_date",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")
_CHINA_STANDARD_OFFSET = timedelta(hours=8)
# Asia/Shanghai has been UTC+8 without daylight saving since 1991.
_LAST_SHANGHAI_DST_YEAR = 1991


def shanghai_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware timestamp.

    A timestamp already written in +08:00 (nearly all of them) needs no time-zone conversion, which
    costs ~0.5 µs on a path every disclosure takes.
    """
    if moment.utcoffset() == _CHINA_STANDARD_OFFSET and moment.year > _LAST_SHANGHAI_DST_YEAR:
        return moment.date()
    return moment.astimezone(SHANGHAI).date()


# Length caps keep one hostile record from pinning megabytes of state per key.
_Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_Text128 = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# Codes are checked against the registry in `schemas.decode` (unknown_department/unknown_division),
# so here they are only bounded strings: a malformed code is "unknown", not "invalid".
_DepartmentCode = _Text64
_DivisionCode = _Text64
# Upper bound: versions are stored as signed 64-bit integers.
_Version = Annotated[int, Field(ge=1, le=2**63 - 1)]
TargetType = Literal["legal_person", "natural_person", "other"]


class _Model(BaseModel):
    # strict: no "1" -> 1 or 0 -> False coercions, and timestamps only as RFC 3339 strings in JSON.
    # populate_by_name lets code build records with `schema_=`; the alias is what travels on the wire.
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        serialize_by_alias=True,
    )


class _Record(_Model):
    # Each subclass declares `schema_` then `version` first, so they lead the serialised JSON.
    SCHEMA: ClassVar[str]
    #: Fields whose values identify one record: a higher `version` of the same values supersedes.
    RECORD_KEY_FIELDS: ClassVar[tuple[str, ...]]
    #: The field producers key this record type's Kafka messages by, so an entity stays in one partition.
    MESSAGE_KEY_FIELD: ClassVar[str]
    #: The field that places a record in a calendar period.
    PRIMARY_TIME_FIELD: ClassVar[str]
    #: Fields holding when something happened, which therefore must not lie in the future.
    EVENT_TIME_FIELDS: ClassVar[tuple[str, ...]] = ("at",)

    @property
    def record_key(self) -> tuple[str, ...]:
        """The identity a higher `version` supersedes: the record type, then its key fields' values."""
        return (self.SCHEMA.split("/", 1)[0], *(str(getattr(self, name)) for name in self.RECORD_KEY_FIELDS))

    @property
    def message_key(self) -> str:
        """The Kafka message key producers use for this record."""
        return str(getattr(self, self.MESSAGE_KEY_FIELD))

    @property
    def primary_time(self) -> datetime | date:
        """The time that places this record in a period; for an event action, its own `at`."""
        value: datetime | date = getattr(self, self.PRIMARY_TIME_FIELD)
        return value


# --- event/v1 ------------------------------------------------------------------------------------
EventAction = Literal["created", "signed", "reassigned", "handled", "cancelled"]
EventKind = Literal["risk_warning", "collaborative", "complaint", "clue"]
RequestKind = Literal["withdraw", "modify"]
RequestAction = Literal["submitted", "approved", "rejected", "executed"]

# Per action: (fields that must be non-null, fields that may be non-null) beyond the common ones.
# Null and absent mean the same, so producers that always write every key are not penalised.
EVENT_ACTION_FIELDS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "created": (frozenset({"kind", "department", "division"}), frozenset({"item_code", "deadline"})),
    "signed": (frozenset(), frozenset({"item_code"})),
    "reassigned": (frozenset({"department"}), frozenset({"item_code", "deadline"})),
    "handled": (frozenset(), frozenset({"item_code"})),
    "cancelled": (frozenset(), frozenset({"item_code"})),
}
EVENT_ACTION_SPECIFIC = ("kind", "department", "division", "item_code", "deadline")


def event_action_problems(action: str, values: Mapping[str, object]) -> list[tuple[str, str]]:
    """`(field, message)` for each action-specific field of an event that is missing or not allowed.

    `values` maps field names to their values (None = absent); an unknown `action` yields nothing,
    since the action itself is then the error.
    """
    rule = EVENT_ACTION_FIELDS.get(action)
    if rule is None:
        return []
    required, optional = rule
    problems: list[tuple[str, str]] = []
    for name in EVENT_ACTION_SPECIFIC:
        present = values.get(name) is not None
        if name in required and not present:
            problems.append((name, f"required for action {action!r}"))
        elif present and name not in required and name not in optional:
            problems.append((name, f"not allowed for action {action!r}"))
    return problems


class EventRecord(_Record):
    """One lifecycle action of a supervision event (docs/contract.md §3.1); key `(event_id, action)`."""

    SCHEMA: ClassVar[str] = "event/v1"
    RECORD_KEY_FIELDS: ClassVar[tuple[str, ...]] = ("event_id", "action")
    MESSAGE_KEY_FIELD: ClassVar[str] = "event_id"
    PRIMARY_TIME_FIELD: ClassVar[str] = "at"
    schema_: Literal["event/v1"] = Field(alias="schema")
    version: _Version = 1
    event_id: _EventId
    action: EventAction
    at: AwareDatetime
    kind: EventKind | None = None
    department: _DepartmentCode | None = None
    division: _DivisionCode | None = None
    item_code: _Text128 | None = None
    deadline: AwareDatetime | None = None

    @model_validator(mode="after")
    def _check_action_fields(self) -> EventRecord:
        # The spelled-out test mirrors EVENT_ACTION_FIELDS; it runs for every event, and the table
        # walk costs ~1 µs.  The table is consulted only to word the error.
        action = self.action
        if action == "created":
            wrong = self.kind is None or self.department is None or self.division is None
        elif action == "reassigned":
            wrong = self.department is None or self.kind is not None or self.division is not None
        else:
            wrong = (
                self.kind is not None
                or self.department is not None
                or self.division is not None
                or self.deadline is not None
            )
        if wrong:
            problems = event_action_problems(
                action, {name: getattr(self, name) for name in EVENT_ACTION_SPECIFIC}
            )
            field, message = problems[0]
            raise PydanticCustomError(ErrorCode.INVALID_FIELD.value, message, {"subfield": field})
        if self.deadline is not None and self.deadline < self.at:
            raise PydanticCustomError(
                ErrorCode.INCONSISTENT_TIME.value, "deadline is before at", {"subfield": "deadline"}
            )
        return self


# --- inspection/v1 -------------------------------------------------------------------------------
def _check_party_id(party_type: str, party_id: str, *, natural_person_checked: bool) -> None:
    # The message never repeats the id: DLQ messages and logs must not carry personal numbers.
    if party_type == "legal_person" and not is_valid_uscc(party_id):
        raise PydanticCustomError(
            ErrorCode.INVALID_USCC.value,
            "not a valid 统一社会信用代码 (GB 32100-2015)",
            {"subfield": "id"},
        )
    if natural_person_checked and party_type == "natural_person" and not is_valid_resident_id(party_id):
        raise PydanticCustomError(
            ErrorCode.INVALID_RESIDENT_ID.value,
            "not a valid 居民身份证号 (GB 11643-1999)",
            {"subfield": "id"},
        )


class Target(_Model):
    """Who was inspected; `id` is a USCC for a legal person and a resident ID for a natural person."""

    type: TargetType
    id: _Text64

    @model_validator(mode="after")
    def _check_id(self) -> Target:
        _check_party_id(self.type, self.id, natural_person_checked=True)
        return self


class InspectionRecord(_Record):
    """One inspection (行政检查) record (docs/contract.md §3.2); key `record_id`."""

    SCHEMA: ClassVar[str] = "inspection/v1"
    RECORD_KEY_FIELDS: ClassVar[tuple[str, ...]] = ("record_id",)
    MESSAGE_KEY_FIELD: ClassVar[str] = "item_code"  # co-partitioned with the catalogue
    PRIMARY_TIME_FIELD: ClassVar[str] = "at"
    schema_: Literal["inspection/v1"] = Field(alias="schema")
    version: _Version = 1
    record_id: _Text128
    item_code: _Text128
    department: _DepartmentCode
    division: _DivisionCode
    at: AwareDatetime
    channel: Literal["mobile", "pc", "paper"]
    double_random_task: _Text128 | None = None
    target: Target
    inspectors: tuple[_Text64, ...] = Field(min_length=1, max_length=10)
    result: Literal["compliant", "non_compliant", "target_not_found", "other"]


# --- item/v1 -------------------------------------------------------------------------------------
class ItemRecord(_Record):
    """One version of a supervision catalogue item (docs/contract.md §3.3); key `item_code`."""

    SCHEMA: ClassVar[str] = "item/v1"
    RECORD_KEY_FIELDS: ClassVar[tuple[str, ...]] = ("item_code",)
    MESSAGE_KEY_FIELD: ClassVar[str] = "item_code"
    PRIMARY_TIME_FIELD: ClassVar[str] = "at"
    schema_: Literal["item/v1"] = Field(alias="schema")
    version: _Version = 1
    item_code: _Text128
    name: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    department: _DepartmentCode
    at: AwareDatetime
    double_random: bool
    onboarded: bool
    active: bool


# --- disclosure/v1 -------------------------------------------------------------------------------
class Party(_Model):
    """The penalised party; a natural person's `id` is not validated here.

    An unmasked natural-person id is a publication *violation* (docs/contract.md §7), evaluated by the daemon,
    not a record error: the record faithfully reports what was published.
    """

    type: TargetType
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    id: _Text64

    @model_validator(mode="after")
    def _check_id(self) -> Party:
        _check_party_id(self.type, self.id, natural_person_checked=False)
        return self


class DisclosureRecord(_Record):
    """One published administrative-penalty result (docs/contract.md §3.4); key `disclosure_id`."""

    SCHEMA: ClassVar[str] = "disclosure/v1"
    RECORD_KEY_FIELDS: ClassVar[tuple[str, ...]] = ("disclosure_id",)
    MESSAGE_KEY_FIELD: ClassVar[str] = "disclosure_id"
    PRIMARY_TIME_FIELD: ClassVar[str] = "decided_at"
    # `publicity_until` is excluded on purpose: it is *meant* to lie in the future.
    EVENT_TIME_FIELDS: ClassVar[tuple[str, ...]] = ("published_at", "withdrawn_at", "revoked_at")
    schema_: Literal["disclosure/v1"] = Field(alias="schema")
    version: _Version = 1
    disclosure_id: _Text128
    decision_no: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    department: _DepartmentCode
    division: _DivisionCode
    decided_at: date
    published_at: AwareDatetime | None = None
    procedure: Literal["simple", "general"]
    severity: Literal["minor", "general", "serious"]
    party: Party
    content: str
    publicity_until: date | None = None
    status: Literal["published", "withdrawn"]
    withdrawn_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None

    @field_validator("decision_no")
    @classmethod
    def _check_decision_no(cls, value: str) -> str:
        if not is_valid_decision_no(value):
            raise PydanticCustomError(
                ErrorCode.INVALID_DECISION_NO.value,
                "not a document number like 甬市监罚〔2023〕12号 (GB/T 9704-2012)",
            )
        return value

    @model_validator(mode="after")
    def _check_times(self) -> DisclosureRecord:
        # decided_at is a Shanghai calendar date, so published_at is compared on that calendar too.
        if self.published_at is not None and shanghai_date(self.published_at) < self.decided_at:
            raise PydanticCustomError(
                ErrorCode.INCONSISTENT_TIME.value,
                "published_at is before decided_at",
                {"subfield": "published_at"},
            )
        if (
            self.withdrawn_at is not None
            and self.published_at is not None
            and self.withdrawn_at < self.published_at
        ):
            raise PydanticCustomError(
                ErrorCode.INCONSISTENT_TIME.value,
                "withdrawn_at is before published_at",
                {"subfield": "withdrawn_at"},
            )
        return self


# --- disclosure-request/v1 -----------------------------------------------------------------------
class DisclosureRequestRecord(_Record):
    """One step of a withdraw/modify application (docs/contract.md §3.5); key `(request_id, action)`."""

    SCHEMA: ClassVar[str] = "disclosure-request/v1"
    RECORD_KEY_FIELDS: ClassVar[tuple[str, ...]] = ("request_id", "action")
    MESSAGE_KEY_FIELD: ClassVar[str] = "disclosure_id"  # co-partitioned with the disclosures
    PRIMARY_TIME_FIELD: ClassVar[str] = "at"
    schema_: Literal["disclosure-request/v1"] = Field(alias="schema")
    version: _Version = 1
    request_id: _Text128
    disclosure_id: _Text128
    action: RequestAction
    at: AwareDatetime
    kind: RequestKind
    reason: Literal["legacy_improper", "expired", "revoked", "credit_repair", "correction"]
    department: _DepartmentCode
    batch_id: _Text128 | None = None


Record = EventRecord | InspectionRecord | ItemRecord | DisclosureRecord | DisclosureRequestRecord
RECORD_TYPES: tuple[type[Record], ...] = (
    EventRecord,
    InspectionRecord,
    ItemRecord,
    DisclosureRecord,
    DisclosureRequestRecord,
)


# --- DLQ envelope (docs/contract.md §5) ----------------------------------------------------------------
Encoding = Literal["utf-8", "base64"]


class DlqSource(_Model):
    """Where the rejected message was consumed; `timestamp` is the Kafka timestamp in epoch ms."""

    topic: Annotated[str, StringConstraints(min_length=1, max_length=249)]
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]
    key: str | None
    timestamp: Annotated[int, Field(ge=0)] | None
    # Not in docs/contract.md §5's list: without it a reader cannot tell a base64 key from a text key.
    key_encoding: Encoding = "utf-8"


class DlqError(_Model):
    """One error of a rejected message, as in `FieldError.to_json()`."""

    code: ErrorCode
    field: str | None
    message: str


def _text_or_base64(raw: bytes | None) -> tuple[str | None, Encoding]:
    if raw is None:
        return None, "utf-8"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


class DlqRecord(_Model):
    """A message that failed validation, produced to the DLQ with its errors (docs/contract.md §5).

    `value` is the original text, or base64 of the original bytes when they are not UTF-8; which one
    is said by `value_encoding` (an addition to docs/contract.md §5, defaulting to its text case).
    """

    SCHEMA: ClassVar[str] = "dlq"
    source: DlqSource
    errors: tuple[DlqError, ...] = Field(min_length=1)
    value: str | None
    value_encoding: Encoding = "utf-8"
    seen_at: AwareDatetime

    @classmethod
    def for_message(
        cls,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        timestamp_ms: int | None,
        value: bytes | None,
        errors: tuple[FieldError, ...] | list[FieldError],
        seen_at: datetime,
    ) -> DlqRecord:
        """The DLQ record of a consumed message, encoding key and value as docs/contract.md §5 asks."""
        key_text, key_encoding = _text_or_base64(key)
        value_text, value_encoding = _text_or_base64(value)
        return cls(
            source=DlqSource(
                topic=topic,
                partition=partition,
                offset=offset,
                key=key_text,
                timestamp=timestamp_ms,
                key_encoding=key_encoding,
            ),
            errors=tuple(DlqError(code=e.code, field=e.field, message=e.message) for e in errors),
            value=value_text,
            value_encoding=value_encoding,
            seen_at=seen_at,
        )
