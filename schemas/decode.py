"""Bytes from Kafka to a record or a rejection: the single validation entry point (docs/contract.md §5).

The valid path is one `validate_json` over the raw bytes (a discriminated union on `schema`) plus a
few attribute comparisons, because the daemon's budget is a few microseconds per message.  Only
when that fails is the message parsed again with `json` to classify every error and to recover
what the daemon needs from an invalid record (its key, version, department and primary time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Final, TypeVar

from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from schemas.errors import ErrorCode, FieldError
from schemas.records import (
    DisclosureRecord,
    DisclosureRequestRecord,
    EventRecord,
    InspectionRecord,
    ItemRecord,
    Record,
    event_action_problems,
    shanghai_date,
)
from schemas.registry import Registry

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FUTURE_TOLERANCE",
    "RECORD_ADAPTER",
    "SCHEMAS",
    "Accepted",
    "Decoded",
    "Rejected",
    "decode",
]

DEFAULT_MAX_MESSAGE_BYTES: Final = 1_048_576
# docs/contract.md §5: producers' clocks drift; five minutes ahead of ingestion is still "now".
FUTURE_TOLERANCE: Final = timedelta(minutes=5)


# Not frozen: a frozen dataclass costs ~0.3 µs more to build, on the path every valid message takes.
# Treat it as immutable all the same.
@dataclass(slots=True)
class Accepted:
    """A valid record; `key_matches` is False when the message key is not the record's entity key."""

    record: Record
    key_matches: bool = True


@dataclass(frozen=True, slots=True)
class Rejected:
    """An invalid message, with whatever could still be read from it.

    `department`/`division` are already safe as metric labels (`_unregistered`/`_unknown` otherwise).
    `record_key`, `version` and `primary_time` are filled whenever the raw JSON has them in usable
    form, so that a later valid version can correct this one and the error lands in the right period.
    """

    errors: tuple[FieldError, ...]
    schema: str | None
    record_key: tuple[str, ...] | None
    version: int | None
    department: str
    division: str
    primary_time: datetime | date | None


Decoded = Accepted | Rejected

# Every message value is validated with this union (the bench's validating consumer uses it too).
RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Annotated[Record, Field(discriminator="schema_")])
# The adapter's core validator, called directly on the valid path: TypeAdapter.validate_json is a
# Python wrapper that forwards its arguments (~0.3-0.5 us a message). The adapter is built eagerly,
# so this is the real validator, never a deferred stand-in.
_VALIDATE_JSON: Final = RECORD_ADAPTER.validator.validate_json
_AWARE_DATETIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
_DATE: TypeAdapter[date] = TypeAdapter(date)

_SCHEMA_TYPES: Mapping[str, type[Record]] = {
    model.SCHEMA: model
    for model in (EventRecord, InspectionRecord, ItemRecord, DisclosureRecord, DisclosureRequestRecord)
}
SCHEMAS: Final = frozenset(_SCHEMA_TYPES)
_SCHEMA_LIST = ", ".join(sorted(SCHEMAS))

# Per record type, from the models: event-time fields (which must not lie in the future; `deadline`
# and `publicity_until` are meant to), the field placing a record in a period, the record key fields.
_EVENT_TIME_FIELDS: Mapping[str, tuple[str, ...]] = {
    s: model.EVENT_TIME_FIELDS for s, model in _SCHEMA_TYPES.items()
}
_PRIMARY_TIME_FIELD: Mapping[str, str] = {s: model.PRIMARY_TIME_FIELD for s, model in _SCHEMA_TYPES.items()}
_KEY_FIELDS: Mapping[str, tuple[str, ...]] = {
    s: model.RECORD_KEY_FIELDS for s, model in _SCHEMA_TYPES.items()
}
_MAX_VERSION = 2**63 - 1
_CUSTOM_CODES: Mapping[str, ErrorCode] = {code.value: code for code in ErrorCode}


def decode(
    value: bytes | None,
    *,
    key: bytes | None,
    ingested_at: datetime,
    registry: Registry,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> Accepted | Rejected:
    """Validate one message value against docs/contract.md §3 and §5; never raises for any input bytes.

    `ingested_at` (timezone-aware) is when the message was consumed: timestamps more than
    `FUTURE_TOLERANCE` after it are `future_time`.  `key` only decides `Accepted.key_matches`.
    """
    if ingested_at.tzinfo is None:
        raise ValueError("ingested_at must be timezone-aware")
    if value is None:
        return _whole_message(ErrorCode.MALFORMED, "no value (a tombstone is not a record)", registry)
    if len(value) > max_message_bytes:
        return _whole_message(
            ErrorCode.TOO_LARGE, f"{len(value)} bytes exceed the limit of {max_message_bytes}", registry
        )
    try:
        # by_name=False: only the wire name `schema` is accepted, never the Python name `schema_`.
        record: Record = _VALIDATE_JSON(value, by_alias=True, by_name=False)
    except ValidationError as exc:
        return _classify_failure(value, exc, ingested_at, registry)
    errors = _context_errors(record, _latest_allowed(ingested_at), registry)
    if errors is not None:
        return _rejected_record(record, errors, registry)
    return Accepted(record, key is not None and key == record.message_key.encode())


# --- valid-path checks that need the registry or the ingestion time --------------------------------
# Most producers write `+08:00`; CPython compares two aware datetimes with equal offsets field by
# field but subtracts them when offsets differ (2x slower), so the limit is kept in +08:00. Callers
# that pass `ingested_at` in a fixed +08:00 time zone (the daemon does) save a conversion per message.
_CHINA_STANDARD_TIME: Final = timezone(timedelta(hours=8))


def _latest_allowed(ingested_at: datetime) -> datetime:
    latest = ingested_at + FUTURE_TOLERANCE
    # timezone equality is offset equality; any other tzinfo class is converted.
    return latest if latest.tzinfo == _CHINA_STANDARD_TIME else latest.astimezone(_CHINA_STANDARD_TIME)


def _context_errors(record: Record, latest: datetime, registry: Registry) -> list[FieldError] | None:
    return _CONTEXT_CHECKS[type(record)](record, latest, registry)


# Written per record type, field by field, rather than with getattr loops: this runs for every
# valid message.  Each returns None when all is well, so the common case allocates nothing.
def _check_event(record: EventRecord, latest: datetime, registry: Registry) -> list[FieldError] | None:
    department, division = record.department, record.division
    if (
        (department is None or department in registry.departments)
        and (division is None or division in registry.divisions)
        and not record.at > latest
    ):
        return None
    return _slow_context_errors(record, latest, registry)


def _check_inspection(
    record: InspectionRecord, latest: datetime, registry: Registry
) -> list[FieldError] | None:
    if (
        record.department in registry.departments
        and record.division in registry.divisions
        and not record.at > latest
    ):
        return None
    return _slow_context_errors(record, latest, registry)


def _check_item_or_request(
    record: ItemRecord | DisclosureRequestRecord, latest: datetime, registry: Registry
) -> list[FieldError] | None:
    if record.department in registry.departments and not record.at > latest:
        return None
    return _slow_context_errors(record, latest, registry)


def _check_disclosure(
    record: DisclosureRecord, latest: datetime, registry: Registry
) -> list[FieldError] | None:
    published_at, withdrawn_at, revoked_at = record.published_at, record.withdrawn_at, record.revoked_at
    if (
        record.department in registry.departments
        and record.division in registry.divisions
        and (published_at is None or not published_at > latest)
        and (withdrawn_at is None or not withdrawn_at > latest)
        and (revoked_at is None or not revoked_at > latest)
    ):
        return None
    return _slow_context_errors(record, latest, registry)


_ContextCheck = Callable[[Any, datetime, Registry], list[FieldError] | None]
_CONTEXT_CHECKS: Mapping[type[Record], _ContextCheck] = {
    EventRecord: _check_event,
    InspectionRecord: _check_inspection,
    ItemRecord: _check_item_or_request,
    DisclosureRecord: _check_disclosure,
    DisclosureRequestRecord: _check_item_or_request,
}


def _slow_context_errors(record: Record, latest: datetime, registry: Registry) -> list[FieldError]:
    errors: list[FieldError] = []
    if record.department is not None and record.department not in registry.departments:
        errors.append(_unknown_department())
    division: str | None = getattr(record, "division", None)
    if division is not None and division not in registry.divisions:
        errors.append(_unknown_division())
    for name in _EVENT_TIME_FIELDS[record.SCHEMA]:
        moment: datetime | None = getattr(record, name)
        if moment is not None and moment > latest:
            errors.append(_future(name))
    return errors


def _rejected_record(record: Record, errors: list[FieldError], registry: Registry) -> Rejected:
    division: str | None = getattr(record, "division", None)
    return Rejected(
        errors=tuple(errors),
        schema=record.SCHEMA,
        record_key=record.record_key,
        version=record.version,
        department=registry.department_label(record.department),
        division=_division_label(registry, record.department, division, division_given=division is not None),
        primary_time=record.primary_time,
    )


def _unknown_department() -> FieldError:
    return FieldError(ErrorCode.UNKNOWN_DEPARTMENT, "department", "not a registered department code")


def _unknown_division() -> FieldError:
    return FieldError(ErrorCode.UNKNOWN_DIVISION, "division", "not a registered division code")


def _future(name: str) -> FieldError:
    return FieldError(
        ErrorCode.FUTURE_TIME, name, f"more than {_minutes(FUTURE_TOLERANCE)} minutes after ingestion"
    )


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def _division_label(
    registry: Registry, department: str | None, division: str | None, *, division_given: bool
) -> str:
    # A record without a division (an item, most event actions) is placed in its department's
    # division; a record that names an unknown division is `_unknown`, not silently relocated.
    if division_given:
        return registry.division_label(division)
    return registry.division_of(department)


def _whole_message(code: ErrorCode, message: str, registry: Registry) -> Rejected:
    return Rejected(
        errors=(FieldError(code, None, message),),
        schema=None,
        record_key=None,
        version=None,
        department=registry.department_label(None),
        division=registry.division_label(None),
        primary_time=None,
    )


# --- failure path: classify everything, recover what the daemon can still use --------------------
def _classify_failure(
    value: bytes, exc: ValidationError, ingested_at: datetime, registry: Registry
) -> Rejected:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        return _whole_message(
            ErrorCode.MALFORMED, f"not UTF-8 (invalid byte at {decode_error.start})", registry
        )
    pydantic_errors = exc.errors(include_url=False, include_input=False)
    if any(error["type"] == "json_invalid" for error in pydantic_errors):
        # pydantic's parser is the judge of JSON, so both paths agree on what is malformed.
        return _whole_message(ErrorCode.MALFORMED, "not JSON", registry)
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _whole_message(ErrorCode.MALFORMED, "not JSON", registry)
    if not isinstance(raw, dict):
        return _whole_message(ErrorCode.MALFORMED, "not a JSON object", registry)
    department = _string(raw.get("department"))
    division = _string(raw.get("division"))
    department_label = registry.department_label(department)
    division_label = _division_label(registry, department, division, division_given="division" in raw)
    schema = raw.get("schema")
    if not isinstance(schema, str) or schema not in SCHEMAS:
        return Rejected(
            errors=(FieldError(ErrorCode.UNKNOWN_SCHEMA, "schema", f"schema must be one of {_SCHEMA_LIST}"),),
            schema=None,
            record_key=None,
            version=None,
            department=department_label,
            division=division_label,
            primary_time=None,
        )
    field_errors = list(_pydantic_errors(pydantic_errors))
    # A field that is already invalid is not judged again (an empty department is not also an
    # unknown one; a deadline an action may not carry is not also inconsistent).
    invalid = {error.field for error in field_errors}
    errors = _unique(
        [
            *field_errors,
            *(
                error
                for error in _raw_errors(schema, raw, ingested_at + FUTURE_TOLERANCE, registry)
                if error.field not in invalid or error.code is ErrorCode.INVALID_FIELD
            ),
        ]
    )
    return Rejected(
        errors=tuple(errors),
        schema=schema,
        record_key=_raw_record_key(schema, raw),
        version=_raw_version(raw),
        department=department_label,
        division=division_label,
        primary_time=_raw_primary_time(schema, raw),
    )


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259) even though Python's parser accepts them.
    raise ValueError(f"{name} is not JSON")


def _pydantic_errors(errors: list[ErrorDetails]) -> Iterable[FieldError]:
    for error in errors:
        # loc[0] is the union tag (the schema); the rest is the path inside the record.
        path = [str(part) for part in error["loc"][1:]]
        context = error.get("ctx") or {}
        sub_field = context.get("subfield")
        if isinstance(sub_field, str):
            path.append(sub_field)
        code = _CUSTOM_CODES.get(error["type"], ErrorCode.INVALID_FIELD)
        yield FieldError(code, ".".join(path) or None, error["msg"])


def _raw_errors(
    schema: str, raw: Mapping[str, Any], latest: datetime, registry: Registry
) -> Iterable[FieldError]:
    # Checks a model validator would have made had field validation not stopped first; they are
    # repeated on the raw JSON so that one rejection lists every problem.
    department = raw.get("department")
    if isinstance(department, str) and department not in registry.departments:
        yield _unknown_department()
    division = raw.get("division")
    if schema != "item/v1" and isinstance(division, str) and division not in registry.divisions:
        yield _unknown_division()
    for name in _EVENT_TIME_FIELDS[schema]:
        moment = _raw_datetime(raw.get(name))
        if moment is not None and moment > latest:
            yield _future(name)
    if schema == "event/v1":
        action = raw.get("action")
        if isinstance(action, str):
            for name, message in event_action_problems(action, raw):
                yield FieldError(ErrorCode.INVALID_FIELD, name, message)
        yield from _inconsistent(
            _raw_datetime(raw.get("deadline")), _raw_datetime(raw.get("at")), "deadline", "at"
        )
    elif schema == "disclosure/v1":
        published_at = _raw_datetime(raw.get("published_at"))
        decided_at = _raw_date(raw.get("decided_at"))
        if published_at is not None and decided_at is not None:
            yield from _inconsistent(shanghai_date(published_at), decided_at, "published_at", "decided_at")
        yield from _inconsistent(
            _raw_datetime(raw.get("withdrawn_at")), published_at, "withdrawn_at", "published_at"
        )


_Moment = TypeVar("_Moment", datetime, date)


def _inconsistent(
    later: _Moment | None, earlier: _Moment | None, later_name: str, earlier_name: str
) -> Iterable[FieldError]:
    if later is not None and earlier is not None and later < earlier:
        yield FieldError(ErrorCode.INCONSISTENT_TIME, later_name, f"{later_name} is before {earlier_name}")


def _unique(errors: list[FieldError]) -> list[FieldError]:
    # A model validator and the raw re-check can report the same problem; keep the first wording.
    seen: set[tuple[ErrorCode, str | None]] = set()
    unique: list[FieldError] = []
    for error in errors:
        identity = (error.code, error.field)
        if identity not in seen:
            seen.add(identity)
            unique.append(error)
    return unique


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parsed(adapter: TypeAdapter[Any], value: object) -> Any:
    if not isinstance(value, str):
        return None
    try:
        return adapter.validate_strings(value, strict=True)
    except ValidationError:
        return None


def _raw_datetime(value: object) -> datetime | None:
    parsed: datetime | None = _parsed(_AWARE_DATETIME, value)
    return parsed


def _raw_date(value: object) -> date | None:
    parsed: date | None = _parsed(_DATE, value)
    return parsed


def _raw_record_key(schema: str, raw: Mapping[str, Any]) -> tuple[str, ...] | None:
    parts = [raw.get(name) for name in _KEY_FIELDS[schema]]
    if not all(isinstance(part, str) and part for part in parts):
        return None
    return (schema.removesuffix("/v1"), *(str(part) for part in parts))


def _raw_version(raw: Mapping[str, Any]) -> int | None:
    version = raw.get("version", 1)
    if isinstance(version, int) and not isinstance(version, bool) and 1 <= version <= _MAX_VERSION:
        return version
    return None


_PRIMARY_PARSERS: Mapping[str, Callable[[object], datetime | date | None]] = {
    "at": _raw_datetime,
    "decided_at": _raw_date,
}


def _raw_primary_time(schema: str, raw: Mapping[str, Any]) -> datetime | date | None:
    field = _PRIMARY_TIME_FIELD[schema]
    return _PRIMARY_PARSERS[field](raw.get(field))
