"""The record models: strictness, keys, intrinsic checks, and the DLQ envelope."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeVar

import pydantic
import pytest

from schemas.errors import ErrorCode, FieldError
from schemas.records import (
    RECORD_TYPES,
    DisclosureRecord,
    DisclosureRequestRecord,
    DlqRecord,
    EventRecord,
    InspectionRecord,
    ItemRecord,
    event_action_problems,
    shanghai_date,
)

CST = timezone(timedelta(hours=8))
AT = datetime(2023, 10, 8, 9, 30, tzinfo=CST)
USCC = "91330200MA2AB1234Y"
RESIDENT_ID = "330204199003071239"
_M = TypeVar("_M", bound=pydantic.BaseModel)


def _event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema": "event/v1",
        "event_id": "EV-1",
        "action": "created",
        "at": "2023-10-08T09:30:00+08:00",
        "kind": "complaint",
        "department": "330200.scjgj",
        "division": "330203",
    }
    return {**base, **changes}


def _inspection(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema": "inspection/v1",
        "record_id": "INS-1",
        "item_code": "ITEM-1",
        "department": "330225.yyj",
        "division": "330225",
        "at": "2023-10-08T09:30:00+08:00",
        "channel": "mobile",
        "double_random_task": None,
        "target": {"type": "legal_person", "id": USCC},
        "inspectors": ["33020012345"],
        "result": "compliant",
    }
    return {**base, **changes}


def _disclosure(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema": "disclosure/v1",
        "disclosure_id": "D-1",
        "decision_no": "甬市监罚〔2023〕12号",
        "department": "330200.scjgj",
        "division": "330200",
        "decided_at": "2023-10-08",
        "published_at": "2023-10-09T10:00:00+08:00",
        "procedure": "general",
        "severity": "general",
        "party": {"type": "legal_person", "name": "宁波某某有限公司", "id": USCC},
        "content": "罚款五万元",
        "publicity_until": "2026-10-08",
        "status": "published",
        "withdrawn_at": None,
        "revoked_at": None,
    }
    return {**base, **changes}


def _item() -> dict[str, Any]:
    return {
        "schema": "item/v1",
        "item_code": "ITEM-1",
        "name": "食品经营许可检查",
        "department": "330200.scjgj",
        "at": "2023-01-01T00:00:00+08:00",
        "double_random": True,
        "onboarded": True,
        "active": True,
    }


def _request() -> dict[str, Any]:
    return {
        "schema": "disclosure-request/v1",
        "request_id": "R-1",
        "disclosure_id": "D-1",
        "action": "submitted",
        "at": "2023-10-10T10:00:00+08:00",
        "kind": "withdraw",
        "reason": "legacy_improper",
        "department": "330225.czj",
        "batch_id": "B-7",
    }


def _json(data: dict[str, Any]) -> bytes:
    return pydantic.TypeAdapter(dict[str, Any]).dump_json(data)


def _from_json(model: type[_M], data: dict[str, Any]) -> _M:
    # Strict models take timestamps as strings only from JSON, exactly as they arrive from Kafka.
    return model.model_validate_json(_json(data))


def _error_types(model: type[pydantic.BaseModel], data: dict[str, Any]) -> list[tuple[str, tuple[Any, ...]]]:
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate_json(_json(data))
    return [(error["type"], error["loc"]) for error in caught.value.errors()]


@pytest.mark.parametrize(
    ("model", "data", "key", "message_key", "primary"),
    [
        (EventRecord, _event(), ("event", "EV-1", "created"), "EV-1", AT),
        (InspectionRecord, _inspection(), ("inspection", "INS-1"), "ITEM-1", AT),
        (ItemRecord, _item(), ("item", "ITEM-1"), "ITEM-1", datetime(2023, 1, 1, tzinfo=CST)),
        (DisclosureRecord, _disclosure(), ("disclosure", "D-1"), "D-1", date(2023, 10, 8)),
        (
            DisclosureRequestRecord,
            _request(),
            ("disclosure-request", "R-1", "submitted"),
            "D-1",
            datetime(2023, 10, 10, 10, tzinfo=CST),
        ),
    ],
)
def test_record_keys_and_primary_time(
    model: type[EventRecord], data: dict[str, Any], key: tuple[str, ...], message_key: str, primary: Any
) -> None:
    """Each record exposes its record key (contract §3), message key (§2) and primary time (§4)."""
    record = _from_json(model, data)
    assert record.record_key == key
    assert record.message_key == message_key
    assert record.primary_time == primary
    assert record.version == 1
    assert data["schema"] == record.SCHEMA


def test_record_types_cover_every_schema() -> None:
    """RECORD_TYPES lists the five record schemas of docs/contract.md §3 once each."""
    assert sorted(model.SCHEMA for model in RECORD_TYPES) == [
        "disclosure-request/v1",
        "disclosure/v1",
        "event/v1",
        "inspection/v1",
        "item/v1",
    ]


def test_records_serialise_with_wire_name_and_round_trip() -> None:
    """Dumped JSON carries `schema` (not `schema_`) and validates back to an equal record."""
    record = _from_json(DisclosureRecord, _disclosure())
    dumped = record.model_dump(mode="json")
    assert dumped["schema"] == "disclosure/v1"
    assert "schema_" not in dumped
    assert DisclosureRecord.model_validate_json(record.model_dump_json()) == record


def test_records_can_be_built_in_code_by_field_name() -> None:
    """Code builds records with `schema_=`; the result equals the one parsed from JSON."""
    record = EventRecord(
        schema_="event/v1",
        event_id="EV-1",
        action="handled",
        at=AT,
    )
    assert record == EventRecord.model_validate_json(
        '{"schema":"event/v1","event_id":"EV-1","action":"handled","at":"2023-10-08T09:30:00+08:00"}'
    )


def test_records_are_frozen() -> None:
    """A record cannot be changed after validation."""
    record = _from_json(EventRecord, _event())
    with pytest.raises(pydantic.ValidationError):
        record.action = "handled"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"at": "2023-10-08T09:30:00"}, ("timezone_aware", ("at",))),
        ({"at": 1696728600}, ("datetime_type", ("at",))),
        ({"version": "2"}, ("int_type", ("version",))),
        ({"version": True}, ("int_type", ("version",))),
        ({"version": 0}, ("greater_than_equal", ("version",))),
        ({"extra": 1}, ("extra_forbidden", ("extra",))),
        ({"event_id": "EV 1"}, ("string_pattern_mismatch", ("event_id",))),
        ({"event_id": "E" * 65}, ("string_pattern_mismatch", ("event_id",))),
        ({"action": "closed"}, ("literal_error", ("action",))),
        ({"kind": "Complaint"}, ("literal_error", ("kind",))),
    ],
)
def test_event_is_strict(changes: dict[str, Any], expected: tuple[str, tuple[Any, ...]]) -> None:
    """No coercion, no naive timestamps, no extra fields, patterns and enums enforced."""
    assert expected in _error_types(EventRecord, _event(**changes))


def test_dates_must_be_plain_dates() -> None:
    """`decided_at` is YYYY-MM-DD; a timestamp there is invalid."""
    assert ("date_parsing", ("decided_at",)) in _error_types(
        DisclosureRecord, _disclosure(decided_at="2023-10-08T00:00:00")
    )


@pytest.mark.parametrize(
    ("action", "values", "expected"),
    [
        ("created", {"kind": "clue", "department": "d", "division": "v"}, []),
        ("created", {"kind": "clue", "department": "d"}, [("division", "required for action 'created'")]),
        ("reassigned", {"department": "d", "deadline": AT}, []),
        ("reassigned", {}, [("department", "required for action 'reassigned'")]),
        ("signed", {"item_code": "I"}, []),
        (
            "handled",
            {"kind": "clue", "deadline": AT},
            [("kind", "not allowed for action 'handled'"), ("deadline", "not allowed for action 'handled'")],
        ),
        ("cancelled", {"division": None}, []),
        ("bogus", {"kind": "clue"}, []),
    ],
)
def test_event_action_problems(action: str, values: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    """Per docs/contract.md §3.1, each action requires some fields and forbids those not listed for it."""
    assert event_action_problems(action, values) == expected


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "handled"},
        {"action": "signed", "kind": None, "division": None, "department": "330200.sjj"},
        {"division": None},
    ],
)
def test_event_validator_enforces_action_fields(changes: dict[str, Any]) -> None:
    """The model itself rejects a field an action may not carry, or one it must."""
    types = _error_types(EventRecord, _event(**changes))
    assert types[0][0] == "invalid_field"


def test_event_deadline_before_at_is_inconsistent() -> None:
    """A deadline before the action's time is inconsistent_time."""
    types = _error_types(EventRecord, _event(deadline="2023-10-08T09:29:59+08:00"))
    assert types == [("inconsistent_time", ())]


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ({"type": "legal_person", "id": "91330200MA2AB1234X"}, "invalid_uscc"),
        ({"type": "legal_person", "id": RESIDENT_ID}, "invalid_uscc"),
        ({"type": "natural_person", "id": "330204199003071238"}, "invalid_resident_id"),
        ({"type": "natural_person", "id": "330204********1239"}, "invalid_resident_id"),
    ],
)
def test_inspection_target_id_is_checked_by_type(target: dict[str, str], code: str) -> None:
    """A legal person needs a valid USCC, a natural person a valid resident ID."""
    assert _error_types(InspectionRecord, _inspection(target=target)) == [(code, ("target",))]


@pytest.mark.parametrize(
    "target",
    [
        {"type": "legal_person", "id": USCC},
        {"type": "natural_person", "id": RESIDENT_ID},
        {"type": "other", "id": "个体-123"},
    ],
)
def test_inspection_valid_targets(target: dict[str, str]) -> None:
    """Valid identifiers for each target type are accepted; `other` is free-form."""
    assert _from_json(InspectionRecord, _inspection(target=target)).target.id == target["id"]


@pytest.mark.parametrize(
    ("inspectors", "loc"),
    [([], ("inspectors",)), (["a"] * 11, ("inspectors",)), (["a", "b", "c", ""], ("inspectors", 3))],
)
def test_inspectors_count_and_entries(inspectors: list[str], loc: tuple[Any, ...]) -> None:
    """1-10 non-empty certificate numbers; the error names the offending position."""
    assert loc in [
        error_loc for _, error_loc in _error_types(InspectionRecord, _inspection(inspectors=inspectors))
    ]


@pytest.mark.parametrize(
    "party",
    [
        {"type": "natural_person", "name": "张某", "id": RESIDENT_ID},
        {"type": "natural_person", "name": "张某", "id": "330204********1239"},
        {"type": "natural_person", "name": "张某", "id": "not-an-id"},
    ],
)
def test_disclosure_natural_person_id_is_not_a_record_error(party: dict[str, str]) -> None:
    """An unmasked or odd natural-person id is a violation computed later, never a validation error."""
    assert _from_json(DisclosureRecord, _disclosure(party=party)).party.id == party["id"]


def test_disclosure_legal_person_needs_valid_uscc() -> None:
    """A legal-person party with a bad credit code is invalid_uscc."""
    party = {"type": "legal_person", "name": "某公司", "id": "91330200MA2AB1234X"}
    assert _error_types(DisclosureRecord, _disclosure(party=party)) == [("invalid_uscc", ("party",))]


def test_disclosure_decision_no_is_checked() -> None:
    """A document number with 第 is invalid_decision_no."""
    types = _error_types(DisclosureRecord, _disclosure(decision_no="甬市监罚〔2023〕第12号"))
    assert types == [("invalid_decision_no", ("decision_no",))]


@pytest.mark.parametrize(
    ("changes", "valid"),
    [
        ({"published_at": "2023-10-07T23:59:59+08:00"}, False),
        ({"published_at": "2023-10-07T16:00:00Z"}, True),  # 2023-10-08 00:00 in Shanghai
        ({"published_at": "2023-10-07T15:59:59Z"}, False),
        ({"published_at": None}, True),
        ({"status": "withdrawn", "withdrawn_at": "2023-10-09T09:59:59+08:00"}, False),
        ({"status": "withdrawn", "withdrawn_at": "2023-10-09T10:00:00+08:00"}, True),
        ({"published_at": None, "withdrawn_at": "2023-10-01T00:00:00+08:00"}, True),
    ],
)
def test_disclosure_time_consistency(changes: dict[str, Any], valid: bool) -> None:
    """published_at not before decided_at (Shanghai calendar); withdrawn_at not before published_at."""
    data = _disclosure(**changes)
    if valid:
        _from_json(DisclosureRecord, data)
    else:
        assert _error_types(DisclosureRecord, data) == [("inconsistent_time", ())]


def test_shanghai_date() -> None:
    """Timestamps in any offset are placed on the Asia/Shanghai calendar."""
    assert shanghai_date(datetime(2023, 10, 7, 16, tzinfo=UTC)) == date(2023, 10, 8)
    assert shanghai_date(datetime(2023, 10, 8, 23, 59, tzinfo=CST)) == date(2023, 10, 8)
    assert shanghai_date(datetime(2023, 10, 8, 1, tzinfo=timezone(timedelta(hours=-5)))) == date(2023, 10, 8)


def test_dlq_record_keeps_utf8_text() -> None:
    """A UTF-8 value and key go into the DLQ record as text."""
    record = DlqRecord.for_message(
        topic="svmon.events",
        partition=2,
        offset=41,
        key=b"EV-1",
        timestamp_ms=1_696_728_600_000,
        value='{"schema":"事件"}'.encode(),
        errors=[FieldError(ErrorCode.UNKNOWN_SCHEMA, "schema", "unknown")],
        seen_at=AT,
    )
    dumped = record.model_dump(mode="json")
    assert dumped["value"] == '{"schema":"事件"}'
    assert dumped["value_encoding"] == "utf-8"
    assert dumped["source"] == {
        "topic": "svmon.events",
        "partition": 2,
        "offset": 41,
        "key": "EV-1",
        "timestamp": 1_696_728_600_000,
        "key_encoding": "utf-8",
    }
    assert dumped["errors"] == [{"code": "unknown_schema", "field": "schema", "message": "unknown"}]
    assert DlqRecord.model_validate_json(record.model_dump_json()) == record


def test_dlq_record_base64_encodes_non_utf8() -> None:
    """Bytes that are not UTF-8 are kept exactly, as base64, and marked so."""
    raw = b"\xff\xfe{}"
    record = DlqRecord.for_message(
        topic="svmon.events",
        partition=0,
        offset=0,
        key=b"\x80",
        timestamp_ms=None,
        value=raw,
        errors=(FieldError(ErrorCode.MALFORMED, None, "not UTF-8"),),
        seen_at=AT,
    )
    assert record.value_encoding == "base64"
    assert record.value is not None
    assert base64.b64decode(record.value) == raw
    assert record.source.key_encoding == "base64"


def test_dlq_record_needs_at_least_one_error() -> None:
    """A DLQ record without errors is not a DLQ record."""
    with pytest.raises(pydantic.ValidationError):
        DlqRecord.for_message(
            topic="t", partition=0, offset=0, key=None, timestamp_ms=None, value=None, errors=[], seen_at=AT
        )


def test_dlq_record_accepts_the_spec_shape() -> None:
    """A DLQ message with exactly docs/contract.md §5's keys (no encoding markers) is valid."""
    text = (
        '{"source":{"topic":"t","partition":0,"offset":3,"key":null,"timestamp":5},'
        '"errors":[{"code":"malformed","field":null,"message":"not JSON"}],'
        '"value":"x","seen_at":"2023-10-08T09:30:00+08:00"}'
    )
    record = DlqRecord.model_validate_json(text)
    assert record.value_encoding == "utf-8"
    assert record.errors[0].code is ErrorCode.MALFORMED


def test_strict_python_validation_wants_real_datetimes() -> None:
    """Built from Python objects, a record needs datetime values, not strings (strict mode)."""
    with pytest.raises(pydantic.ValidationError):
        EventRecord.model_validate(_event())
    assert EventRecord.model_validate(_event(at=AT)).at == AT
