"""Properties of decode(): total on any input, closed error set, lossless round trip of valid records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from schemas.decode import Accepted, Rejected, decode
from schemas.errors import ErrorCode
from schemas.records import (
    DisclosureRecord,
    DisclosureRequestRecord,
    EventAction,
    EventRecord,
    InspectionRecord,
    ItemRecord,
    Party,
    Record,
    Target,
    TargetType,
)
from schemas.registry import UNKNOWN_DIVISION, UNREGISTERED_DEPARTMENT, load_registry

REGISTRY = load_registry()
INGESTED_AT = datetime(2023, 10, 9, 12, 0, tzinfo=timezone(timedelta(hours=8)))
_CODES = frozenset(ErrorCode)
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- identifiers, computed from the published algorithms, independent of the code ----
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _uscc(body: str) -> str:
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


def _resident_id(body: str) -> str:
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _RIC_WEIGHTS, strict=True)) % 11]


_alphabet_chars = st.sampled_from(_USCC_ALPHABET)
uscc_codes = st.builds(
    lambda head, division, org: _uscc(head + division + org),
    st.text(_alphabet_chars, min_size=2, max_size=2),
    st.text(st.sampled_from("0123456789"), min_size=6, max_size=6),
    st.text(_alphabet_chars, min_size=9, max_size=9),
)
resident_ids = st.builds(
    lambda area, born, sequence: _resident_id(f"{area}{born:%Y%m%d}{sequence:03}"),
    st.integers(110000, 999999),
    st.dates(date(1900, 1, 1), date(2023, 1, 1)),
    st.integers(0, 999),
)
decision_numbers = st.builds(
    lambda organ, brackets, year, number: f"{organ}{brackets[0]}{year}{brackets[1]}{number}号",
    st.sampled_from(["甬市监罚", "象渔罚", "甬综执罚字", "海综执罚", "甬A罚"]),
    st.sampled_from(["〔〕", "[]", "（）"]),
    st.integers(1990, 2023),
    st.integers(1, 99_999),
)

# --- field values ---------------------------------------------------------------------------------
_OFFSETS = [
    timezone(timedelta(hours=8)),
    UTC,
    timezone(timedelta(hours=-5, minutes=-30)),
    timezone(timedelta(hours=14)),
]
timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - bounds for hypothesis, which adds the zone
    max_value=datetime(2023, 10, 1),  # noqa: DTZ001
    timezones=st.sampled_from(_OFFSETS),
)
_UNICODE = st.characters(codec="utf-8")  # every code point a message can carry (no surrogates)
texts = st.text(_UNICODE, min_size=1, max_size=30)
identifiers = st.text(_UNICODE, min_size=1, max_size=64)
departments = st.sampled_from(sorted(REGISTRY.departments))
divisions = st.sampled_from(sorted(REGISTRY.divisions))
versions = st.integers(1, 2**63 - 1)
_ACTIONS: list[EventAction] = ["created", "signed", "reassigned", "handled", "cancelled"]
_TARGET_TYPES: list[TargetType] = ["legal_person", "natural_person", "other"]
later = st.timedeltas(timedelta(0), timedelta(days=60))


@st.composite
def events(draw: st.DrawFn) -> EventRecord:
    action: EventAction = draw(st.sampled_from(_ACTIONS))
    at = draw(timestamps)
    fields: dict[str, Any] = {"item_code": draw(st.none() | identifiers)}
    if action == "created":
        fields |= {
            "kind": draw(st.sampled_from(["risk_warning", "collaborative", "complaint", "clue"])),
            "department": draw(departments),
            "division": draw(divisions),
        }
    if action == "reassigned":
        fields["department"] = draw(departments)
    if action in ("created", "reassigned"):
        fields["deadline"] = draw(st.none() | later.map(lambda delta: at + delta))
    return EventRecord(
        schema_="event/v1",
        version=draw(versions),
        event_id=draw(st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")),
        action=action,
        at=at,
        **fields,
    )


@st.composite
def inspections(draw: st.DrawFn) -> InspectionRecord:
    target_type: TargetType = draw(st.sampled_from(_TARGET_TYPES))
    target_id = {"legal_person": uscc_codes, "natural_person": resident_ids, "other": identifiers}[
        target_type
    ]
    return InspectionRecord(
        schema_="inspection/v1",
        version=draw(versions),
        record_id=draw(identifiers),
        item_code=draw(identifiers),
        department=draw(departments),
        division=draw(divisions),
        at=draw(timestamps),
        channel=draw(st.sampled_from(["mobile", "pc", "paper"])),
        double_random_task=draw(st.none() | identifiers),
        target=Target(type=target_type, id=draw(target_id)),
        inspectors=tuple(draw(st.lists(identifiers, min_size=1, max_size=10))),
        result=draw(st.sampled_from(["compliant", "non_compliant", "target_not_found", "other"])),
    )


@st.composite
def items(draw: st.DrawFn) -> ItemRecord:
    return ItemRecord(
        schema_="item/v1",
        version=draw(versions),
        item_code=draw(identifiers),
        name=draw(texts),
        department=draw(departments),
        at=draw(timestamps),
        double_random=draw(st.booleans()),
        onboarded=draw(st.booleans()),
        active=draw(st.booleans()),
    )


@st.composite
def disclosures(draw: st.DrawFn) -> DisclosureRecord:
    decided_at = draw(st.dates(date(2015, 1, 1), date(2023, 7, 1)))
    start_of_day = datetime.combine(decided_at, time(), tzinfo=timezone(timedelta(hours=8)))
    published_at = draw(
        st.none()
        | later.map(lambda delta: (start_of_day + delta).astimezone(draw(st.sampled_from(_OFFSETS))))
    )
    withdrawn_at = None
    if published_at is not None:
        withdrawn_at = draw(
            st.none() | st.timedeltas(timedelta(0), timedelta(days=20)).map(lambda d: published_at + d)
        )
    party_type: TargetType = draw(st.sampled_from(_TARGET_TYPES))
    # A natural person's id is published as-is (masked or not): only a legal person's is checked.
    party_id = draw(uscc_codes if party_type == "legal_person" else identifiers)
    return DisclosureRecord(
        schema_="disclosure/v1",
        version=draw(versions),
        disclosure_id=draw(identifiers),
        decision_no=draw(decision_numbers),
        department=draw(departments),
        division=draw(divisions),
        decided_at=decided_at,
        published_at=published_at,
        procedure=draw(st.sampled_from(["simple", "general"])),
        severity=draw(st.sampled_from(["minor", "general", "serious"])),
        party=Party(type=party_type, name=draw(texts), id=party_id),
        content=draw(st.text(_UNICODE, max_size=200)),
        publicity_until=draw(st.none() | st.dates(date(2015, 1, 1), date(2030, 1, 1))),
        status=draw(st.sampled_from(["published", "withdrawn"])),
        withdrawn_at=withdrawn_at,
        revoked_at=draw(st.none() | timestamps),
    )


@st.composite
def requests(draw: st.DrawFn) -> DisclosureRequestRecord:
    return DisclosureRequestRecord(
        schema_="disclosure-request/v1",
        version=draw(versions),
        request_id=draw(identifiers),
        disclosure_id=draw(identifiers),
        action=draw(st.sampled_from(["submitted", "approved", "rejected", "executed"])),
        at=draw(timestamps),
        kind=draw(st.sampled_from(["withdraw", "modify"])),
        reason=draw(
            st.sampled_from(["legacy_improper", "expired", "revoked", "credit_repair", "correction"])
        ),
        department=draw(departments),
        batch_id=draw(st.none() | identifiers),
    )


records: st.SearchStrategy[Record] = st.one_of(events(), inspections(), items(), disclosures(), requests())

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _assert_well_formed_rejection(result: Rejected) -> None:
    assert result.errors
    assert all(error.code in _CODES for error in result.errors)
    assert result.department == UNREGISTERED_DEPARTMENT or result.department in REGISTRY.departments
    assert result.division == UNKNOWN_DIVISION or result.division in REGISTRY.divisions


@_SETTINGS
@given(value=st.binary(max_size=512))
def test_decode_never_raises_on_arbitrary_bytes(value: bytes) -> None:
    """Any byte string decodes to Accepted or to a Rejected with errors from the closed set."""
    result = decode(value, key=None, ingested_at=INGESTED_AT, registry=REGISTRY)
    assert isinstance(result, Accepted | Rejected)
    if isinstance(result, Rejected):
        _assert_well_formed_rejection(result)


@_SETTINGS
@given(value=json_values)
def test_decode_never_raises_on_arbitrary_json(value: Any) -> None:
    """Any JSON document decodes without raising; non-records are rejected with known codes."""
    result = decode(json.dumps(value).encode(), key=None, ingested_at=INGESTED_AT, registry=REGISTRY)
    assert isinstance(result, Rejected)
    _assert_well_formed_rejection(result)


@_SETTINGS
@given(record=records, data=st.data())
def test_decode_never_raises_on_mutated_records(record: Record, data: st.DataObject) -> None:
    """Replacing or deleting any field of a valid record never makes decode raise."""
    document = json.loads(record.model_dump_json())
    name = data.draw(st.sampled_from(sorted(document)))
    if data.draw(st.booleans()):
        del document[name]
    else:
        document[name] = data.draw(json_values)
    result = decode(json.dumps(document).encode(), key=None, ingested_at=INGESTED_AT, registry=REGISTRY)
    if isinstance(result, Rejected):
        _assert_well_formed_rejection(result)
        assert all(error.field is None or isinstance(error.field, str) for error in result.errors)


@_SETTINGS
@given(record=records)
def test_valid_records_round_trip_unchanged(record: Record) -> None:
    """A valid record encoded as JSON decodes to an equal record that re-encodes to the same bytes."""
    encoded = record.model_dump_json().encode()
    result = decode(encoded, key=record.message_key.encode(), ingested_at=INGESTED_AT, registry=REGISTRY)
    assert isinstance(result, Accepted), result
    assert result.key_matches
    assert result.record == record
    assert result.record.model_dump_json().encode() == encoded


@_SETTINGS
@given(record=records)
def test_rejection_metadata_matches_record(record: Record) -> None:
    """When only a registry check fails, the rejection still carries the record's key and version."""
    document = json.loads(record.model_dump_json())
    assume(document.get("department") is not None)  # events' signed/handled/cancelled carry none
    document["department"] = "not-registered"
    result = decode(json.dumps(document).encode(), key=None, ingested_at=INGESTED_AT, registry=REGISTRY)
    assert isinstance(result, Rejected)
    assert [error.code for error in result.errors] == [ErrorCode.UNKNOWN_DEPARTMENT]
    assert result.record_key == record.record_key
    assert result.version == record.version
    assert result.primary_time == record.primary_time
    assert result.department == UNREGISTERED_DEPARTMENT
