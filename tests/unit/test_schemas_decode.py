"""decode(): every error code (contract §5), field paths, and what a rejection still tells the daemon."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from schemas.decode import FUTURE_TOLERANCE, Accepted, Rejected, decode
from schemas.errors import ErrorCode
from schemas.records import DisclosureRecord, EventRecord, InspectionRecord
from schemas.registry import Registry, load_registry

CST = timezone(timedelta(hours=8))
INGESTED_AT = datetime(2023, 10, 9, 12, 0, tzinfo=CST)
USCC = "91330200MA2AB1234Y"
RESIDENT_ID = "330204199003071239"
DROP = object()  # marks a field to remove from a base record


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The shipped registry."""
    return load_registry()


def _event(**changes: Any) -> dict[str, Any]:
    return _apply(
        {
            "schema": "event/v1",
            "event_id": "EV-1",
            "action": "created",
            "at": "2023-10-08T09:30:00+08:00",
            "kind": "complaint",
            "department": "330200.scjgj",
            "division": "330203",
        },
        changes,
    )


def _inspection(**changes: Any) -> dict[str, Any]:
    return _apply(
        {
            "schema": "inspection/v1",
            "record_id": "INS-1",
            "item_code": "ITEM-1",
            "department": "330225.yyj",
            "division": "330225",
            "at": "2023-10-08T09:30:00+08:00",
            "channel": "mobile",
            "double_random_task": "DR-1",
            "target": {"type": "legal_person", "id": USCC},
            "inspectors": ["33020012345", "33020012346"],
            "result": "compliant",
        },
        changes,
    )


def _item(**changes: Any) -> dict[str, Any]:
    return _apply(
        {
            "schema": "item/v1",
            "item_code": "ITEM-1",
            "name": "食品经营检查",
            "department": "330200.scjgj",
            "at": "2023-01-01T00:00:00+08:00",
            "double_random": True,
            "onboarded": False,
            "active": True,
        },
        changes,
    )


def _disclosure(**changes: Any) -> dict[str, Any]:
    return _apply(
        {
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
        },
        changes,
    )


def _request(**changes: Any) -> dict[str, Any]:
    return _apply(
        {
            "schema": "disclosure-request/v1",
            "request_id": "R-1",
            "disclosure_id": "D-1",
            "action": "submitted",
            "at": "2023-10-09T10:00:00+08:00",
            "kind": "withdraw",
            "reason": "legacy_improper",
            "department": "330225.czj",
            "batch_id": None,
        },
        changes,
    )


def _apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **changes}
    return {name: value for name, value in merged.items() if value is not DROP}


def _bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()


def _decode(registry: Registry, value: bytes | None, key: bytes | None = None) -> Accepted | Rejected:
    return decode(value, key=key, ingested_at=INGESTED_AT, registry=registry)


def _rejected(registry: Registry, value: bytes | None) -> Rejected:
    result = _decode(registry, value)
    assert isinstance(result, Rejected), result
    return result


def _codes(rejected: Rejected) -> set[tuple[str, str | None]]:
    return {(error.code.value, error.field) for error in rejected.errors}


@pytest.mark.parametrize(
    "data",
    [
        _event(),
        _event(action="reassigned", kind=DROP, division=DROP, deadline="2023-10-20T00:00:00+08:00"),
        _event(action="handled", kind=DROP, department=DROP, division=DROP, item_code="ITEM-1"),
        _event(action="signed", kind=None, department=None, division=None),
        _inspection(),
        _inspection(target={"type": "natural_person", "id": RESIDENT_ID}, double_random_task=None),
        _item(),
        _disclosure(),
        _disclosure(party={"type": "natural_person", "name": "张某", "id": RESIDENT_ID}),
        _request(),
        _request(version=7),
    ],
)
def test_valid_records_are_accepted(registry: Registry, data: dict[str, Any]) -> None:
    """Well-formed records of every schema decode to Accepted with equal content."""
    result = _decode(registry, _bytes(data))
    assert isinstance(result, Accepted), result
    assert result.record.model_dump(mode="json", exclude_none=True) == {
        "version": 1,
        **{name: value for name, value in data.items() if value is not None},
    }


# (value, expected (code, field) pairs) — at least one case for every code of docs/contract.md §5.
ERROR_CASES: list[tuple[str, bytes | None, set[tuple[str, str | None]]]] = [
    ("tombstone", None, {("malformed", None)}),
    ("not utf-8", b'{"schema":"event/v1","event_id":"\xff"}', {("malformed", None)}),
    ("not json", b'{"schema": "event/v1",', {("malformed", None)}),
    ("nan", b'{"schema":"event/v1","version":NaN}', {("malformed", None)}),
    ("json array", b"[1, 2]", {("malformed", None)}),
    ("json string", b'"event/v1"', {("malformed", None)}),
    ("empty", b"", {("malformed", None)}),
    ("unknown schema", _bytes(_event(schema="event/v2")), {("unknown_schema", "schema")}),
    ("missing schema", _bytes(_event(schema=DROP)), {("unknown_schema", "schema")}),
    ("schema not a string", _bytes(_event(schema=1)), {("unknown_schema", "schema")}),
    ("python field name", _bytes(_event(schema=DROP, schema_="event/v1")), {("unknown_schema", "schema")}),
    ("missing at", _bytes(_event(at=DROP)), {("invalid_field", "at")}),
    ("naive time", _bytes(_event(at="2023-10-08T09:30:00")), {("invalid_field", "at")}),
    ("extra field", _bytes(_event(colour="red")), {("invalid_field", "colour")}),
    ("bad action", _bytes(_event(action="closed")), {("invalid_field", "action")}),
    ("version zero", _bytes(_event(version=0)), {("invalid_field", "version")}),
    ("version string", _bytes(_event(version="2")), {("invalid_field", "version")}),
    (
        "kind on handled",
        _bytes(_event(action="handled", department=DROP, division=DROP)),
        {("invalid_field", "kind")},
    ),
    (
        "created without division or kind",
        _bytes(_event(division=DROP, kind=None)),
        {("invalid_field", "division"), ("invalid_field", "kind")},
    ),
    (
        "reassigned without department",
        _bytes(_event(action="reassigned", kind=DROP, department=DROP, division=DROP)),
        {("invalid_field", "department")},
    ),
    ("event id pattern", _bytes(_event(event_id="EV/1")), {("invalid_field", "event_id")}),
    (
        "too many inspectors",
        _bytes(_inspection(inspectors=[str(i) for i in range(11)])),
        {("invalid_field", "inspectors")},
    ),
    (
        "empty inspector",
        _bytes(_inspection(inspectors=["a", "b", "c", ""])),
        {("invalid_field", "inspectors.3")},
    ),
    ("bad channel", _bytes(_inspection(channel="app")), {("invalid_field", "channel")}),
    (
        "target type",
        _bytes(_inspection(target={"type": "company", "id": USCC})),
        {("invalid_field", "target.type")},
    ),
    ("bool as string", _bytes(_item(active="true")), {("invalid_field", "active")}),
    ("item with division", _bytes(_item(division="330200")), {("invalid_field", "division")}),
    (
        "date with time",
        _bytes(_disclosure(decided_at="2023-10-08T00:00:00+08:00")),
        {("invalid_field", "decided_at")},
    ),
    ("request reason", _bytes(_request(reason="because")), {("invalid_field", "reason")}),
    (
        "unknown department",
        _bytes(_inspection(department="330225.nope")),
        {("unknown_department", "department")},
    ),
    ("unknown department on item", _bytes(_item(department="")), {("invalid_field", "department")}),
    (
        "unknown department on request",
        _bytes(_request(department="市财政局")),
        {("unknown_department", "department")},
    ),
    ("abolished division", _bytes(_event(division="330204")), {("unknown_division", "division")}),
    ("division not a code", _bytes(_disclosure(division="鄞州")), {("unknown_division", "division")}),
    (
        "legal person bad uscc",
        _bytes(_inspection(target={"type": "legal_person", "id": "91330200MA2AB1234X"})),
        {("invalid_uscc", "target.id")},
    ),
    (
        "party bad uscc",
        _bytes(_disclosure(party={"type": "legal_person", "name": "某公司", "id": "9133020"})),
        {("invalid_uscc", "party.id")},
    ),
    (
        "natural person bad id",
        _bytes(_inspection(target={"type": "natural_person", "id": "330204199003071238"})),
        {("invalid_resident_id", "target.id")},
    ),
    (
        "natural person bad birth date",
        _bytes(_inspection(target={"type": "natural_person", "id": "330204199002301231"})),
        {("invalid_resident_id", "target.id")},
    ),
    (
        "decision no with 第",
        _bytes(_disclosure(decision_no="甬市监罚〔2023〕第12号")),
        {("invalid_decision_no", "decision_no")},
    ),
    (
        "decision no leading zero",
        _bytes(_disclosure(decision_no="甬市监罚[2023]012号")),
        {("invalid_decision_no", "decision_no")},
    ),
    ("future at", _bytes(_event(at="2023-10-09T12:05:01+08:00")), {("future_time", "at")}),
    ("future at in utc", _bytes(_inspection(at="2023-10-09T04:05:01Z")), {("future_time", "at")}),
    (
        "future published_at",
        _bytes(_disclosure(published_at="2024-01-01T00:00:00+08:00")),
        {("future_time", "published_at")},
    ),
    (
        "future revoked_at",
        _bytes(_disclosure(revoked_at="2023-10-10T00:00:00+08:00")),
        {("future_time", "revoked_at")},
    ),
    ("future request", _bytes(_request(at="2030-01-01T00:00:00+08:00")), {("future_time", "at")}),
    (
        "deadline before at",
        _bytes(_event(deadline="2023-10-08T09:00:00+08:00")),
        {("inconsistent_time", "deadline")},
    ),
    (
        "published before decided",
        _bytes(_disclosure(published_at="2023-10-07T23:00:00+08:00")),
        {("inconsistent_time", "published_at")},
    ),
    (
        "withdrawn before published",
        _bytes(_disclosure(status="withdrawn", withdrawn_at="2023-10-09T09:00:00+08:00")),
        {("inconsistent_time", "withdrawn_at")},
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"), [case[1:] for case in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_error_cases(registry: Registry, value: bytes | None, expected: set[tuple[str, str | None]]) -> None:
    """Each invalid message is rejected with exactly the expected codes and field paths."""
    assert _codes(_rejected(registry, value)) == expected


def test_every_error_code_has_a_case() -> None:
    """The table above exercises every code of the closed set (too_large is tested separately)."""
    covered = {code for _, _, expected in ERROR_CASES for code, _ in expected} | {"too_large"}
    assert covered == {code.value for code in ErrorCode}


def test_too_large_is_checked_before_parsing(registry: Registry) -> None:
    """A message over max_message_bytes is too_large, even when it is otherwise valid."""
    value = _bytes(_event())
    rejected = decode(
        value, key=None, ingested_at=INGESTED_AT, registry=registry, max_message_bytes=len(value) - 1
    )
    assert isinstance(rejected, Rejected)
    assert _codes(rejected) == {("too_large", None)}
    accepted = decode(
        value, key=None, ingested_at=INGESTED_AT, registry=registry, max_message_bytes=len(value)
    )
    assert isinstance(accepted, Accepted)


def test_default_size_limit_is_one_mebibyte(registry: Registry) -> None:
    """Without an explicit limit, 1 MiB + 1 byte is too large."""
    content = "x" * (1_048_576 - len(_bytes(_disclosure(content=""))) + 1)
    rejected = _rejected(registry, _bytes(_disclosure(content=content)))
    assert _codes(rejected) == {("too_large", None)}


def test_future_tolerance_boundary(registry: Registry) -> None:
    """Exactly five minutes after ingestion is allowed; one second more is future_time."""
    limit = INGESTED_AT + FUTURE_TOLERANCE
    assert isinstance(_decode(registry, _bytes(_event(at=limit.isoformat()))), Accepted)
    late = (limit + timedelta(seconds=1)).astimezone(UTC).isoformat()
    assert _codes(_rejected(registry, _bytes(_event(at=late)))) == {("future_time", "at")}


def test_deadline_and_publicity_may_lie_in_the_future(registry: Registry) -> None:
    """Deadlines and publicity ends are meant to be in the future and are not future_time."""
    event = _event(deadline="2030-01-01T00:00:00+08:00")
    assert isinstance(_decode(registry, _bytes(event)), Accepted)
    disclosure = _disclosure(publicity_until="2030-01-01")
    assert isinstance(_decode(registry, _bytes(disclosure)), Accepted)


def test_rejection_reports_every_problem(registry: Registry) -> None:
    """Field errors, registry errors, future and inconsistent times are all listed together."""
    data = _event(
        event_id="bad id",
        department="nope",
        division="330204",
        at="2031-01-01T00:00:00+08:00",
        deadline="2030-01-01T00:00:00+08:00",
        extra=1,
    )
    assert _codes(_rejected(registry, _bytes(data))) == {
        ("invalid_field", "event_id"),
        ("invalid_field", "extra"),
        ("unknown_department", "department"),
        ("unknown_division", "division"),
        ("future_time", "at"),
        ("inconsistent_time", "deadline"),
    }


def test_rejection_carries_key_version_and_primary_time(registry: Registry) -> None:
    """An erroneous event action still names its event, version and time, so it can be corrected."""
    data = _event(action="handled", version=3, kind="clue", department="330225.yyj", division=DROP)
    rejected = _rejected(registry, _bytes(data))
    assert rejected.schema == "event/v1"
    assert rejected.record_key == ("event", "EV-1", "handled")
    assert rejected.version == 3
    assert rejected.primary_time == datetime(2023, 10, 8, 9, 30, tzinfo=CST)
    assert rejected.department == "330225.yyj"
    assert rejected.division == "330225"  # from the department, since the record names none


@pytest.mark.parametrize(
    ("data", "key", "primary"),
    [
        (_inspection(channel="fax"), ("inspection", "INS-1"), datetime(2023, 10, 8, 9, 30, tzinfo=CST)),
        (_item(active=1), ("item", "ITEM-1"), datetime(2023, 1, 1, tzinfo=CST)),
        (_disclosure(decision_no="x"), ("disclosure", "D-1"), date(2023, 10, 8)),
        (
            _request(kind="delete"),
            ("disclosure-request", "R-1", "submitted"),
            datetime(2023, 10, 9, 10, tzinfo=CST),
        ),
    ],
)
def test_rejection_metadata_per_schema(
    registry: Registry, data: dict[str, Any], key: tuple[str, ...], primary: datetime | date
) -> None:
    """Every schema's rejection carries its record key, default version 1 and primary time."""
    rejected = _rejected(registry, _bytes(data))
    assert (rejected.record_key, rejected.version, rejected.primary_time) == (key, 1, primary)


def test_rejection_metadata_when_unparseable(registry: Registry) -> None:
    """Missing or broken key fields, version and time give None rather than a guess."""
    data = _event(event_id=5, version=0, at="yesterday")
    rejected = _rejected(registry, _bytes(data))
    assert (rejected.record_key, rejected.version, rejected.primary_time) == (None, None, None)


def test_rejection_labels_are_registry_safe(registry: Registry) -> None:
    """Unregistered departments and unknown divisions become `_unregistered` and `_unknown`."""
    rejected = _rejected(registry, _bytes(_inspection(department="x" * 60, division="999999", channel="?")))
    assert (rejected.department, rejected.division) == ("_unregistered", "_unknown")
    malformed = _rejected(registry, b"{")
    assert (malformed.department, malformed.division) == ("_unregistered", "_unknown")


def test_valid_record_with_registry_error_keeps_its_metadata(registry: Registry) -> None:
    """A record that parses but fails a registry check is rejected with full metadata."""
    rejected = _rejected(registry, _bytes(_disclosure(department="330200.nope", version=2)))
    assert rejected.errors[0].code is ErrorCode.UNKNOWN_DEPARTMENT
    assert (rejected.schema, rejected.record_key, rejected.version) == (
        "disclosure/v1",
        ("disclosure", "D-1"),
        2,
    )
    assert (rejected.department, rejected.division) == ("_unregistered", "330200")


def test_error_messages_never_contain_personal_numbers(registry: Registry) -> None:
    """Rejections of records with bad or good personal IDs never quote those IDs."""
    bad_id = "330204199003071238"
    data = _inspection(target={"type": "natural_person", "id": bad_id}, at="2031-01-01T00:00:00+08:00")
    rejected = _rejected(registry, _bytes(data))
    assert all(bad_id not in error.message for error in rejected.errors)
    assert all(
        RESIDENT_ID not in error.message
        for error in _rejected(registry, _bytes(_event(event_id=RESIDENT_ID + "!"))).errors
    )


def test_unmasked_natural_person_party_is_accepted(registry: Registry) -> None:
    """A disclosure's unmasked natural-person id is a later violation, not a decode error."""
    data = _disclosure(party={"type": "natural_person", "name": "张三", "id": RESIDENT_ID})
    result = _decode(registry, _bytes(data))
    assert isinstance(result, Accepted)
    assert isinstance(result.record, DisclosureRecord)


@pytest.mark.parametrize(
    ("data", "key", "matches"),
    [
        (_event(), b"EV-1", True),
        (_event(), b"EV-2", False),
        (_event(), None, False),
        (_inspection(), b"ITEM-1", True),  # inspections are keyed by item_code
        (_inspection(), b"INS-1", False),
        (_request(), b"D-1", True),  # requests are keyed by disclosure_id
    ],
)
def test_key_match_is_reported(
    registry: Registry, data: dict[str, Any], key: bytes | None, matches: bool
) -> None:
    """A message keyed differently from its entity is still accepted, flagged by key_matches."""
    result = _decode(registry, _bytes(data), key=key)
    assert isinstance(result, Accepted)
    assert result.key_matches is matches


def test_accepted_record_types(registry: Registry) -> None:
    """The record's class follows its `schema`."""
    event = _decode(registry, _bytes(_event()))
    inspection = _decode(registry, _bytes(_inspection()))
    assert isinstance(event, Accepted)
    assert isinstance(inspection, Accepted)
    assert isinstance(event.record, EventRecord)
    assert isinstance(inspection.record, InspectionRecord)


def test_naive_ingestion_time_is_a_programming_error(registry: Registry) -> None:
    """ingested_at must carry an offset; a naive one raises instead of comparing wrongly."""
    with pytest.raises(ValueError, match="timezone-aware"):
        decode(b"{}", key=None, ingested_at=datetime(2023, 1, 1), registry=registry)  # noqa: DTZ001
