"""Pure message handling: raw Kafka message -> typed record or rejection -> the slot it fills.

No I/O and no clock here: the ingestion time comes in as an argument, so everything is testable
without Kafka or threads. The app applies the result to partition state and ships rejections to
the DLQ.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from daemon import streams
from daemon.core.state.entities import ACCURACY, AggKey
from daemon.core.state.slots import (
    DisclosureData,
    ErrorData,
    EventData,
    InspectionData,
    ItemData,
    RequestData,
    Slot,
    shared_day,
)
from daemon.core.timeutil import SHANGHAI, day_of, day_of_epoch
from schemas.decode import Accepted, Rejected, decode
from schemas.errors import ErrorCode, FieldError
from schemas.identifiers import find_personal_info, is_masked_id
from schemas.records import (
    DisclosureRecord,
    DisclosureRequestRecord,
    DlqRecord,
    EventRecord,
    InspectionRecord,
    ItemRecord,
    Record,
)
from schemas.registry import UNKNOWN_DIVISION, Registry

# Bytes of a rejected value echoed into its DLQ record: even if every byte is JSON-escaped as \\u00XX
# (6x), the record stays under the 1 MiB Kafka request limit.
DLQ_VALUE_LIMIT: Final = 128 * 1024


# Not frozen: one is built per consumed message, and a frozen dataclass costs ~0.5 us more to build
# (bench/throughput.py). Treat it as immutable all the same.
@dataclass(slots=True)
class Message:
    """One consumed Kafka message, as raw as it came."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


@dataclass(slots=True)
class Prepared:
    """A message after validation: where it goes in state, and what to tell the DLQ and metrics."""

    message: Message
    schema: str  # a label value: a stream's record type (daemon.streams.SCHEMAS) or "unknown"
    department: str  # a label value: registered code or "_unregistered"
    kind: str | None  # entity kind, None for a message without a usable record key
    ident: str
    slot_name: str
    slot: Slot | None
    keyless: dict[AggKey, tuple[int, int]] | None
    rejected: Rejected | None
    key_mismatch: bool


def _epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def exposed_fields(record: DisclosureRecord) -> tuple[str, ...]:
    """Where ``personal_info_exposed`` (contract §7) finds personal information: the field paths, never
    the values. An ID or phone in the text, or a natural person's unmasked ID."""
    fields = [
        path
        for path, text in (
            ("content", record.content),
            ("party.name", record.party.name),
            ("decision_no", record.decision_no),
        )
        if find_personal_info(text)
    ]
    if record.party.type == "natural_person" and not is_masked_id(record.party.id):
        fields.append("party.id")
    return tuple(fields)


class Pipeline:
    """Turns messages into :class:`Prepared` values; holds only configuration, never state."""

    def __init__(self, registry: Registry, max_message_bytes: int) -> None:
        self.registry = registry
        self.max_message_bytes = max_message_bytes

    def prepare(self, message: Message, now: datetime) -> Prepared:
        """Validate ``message``; ``now`` stands in for its ingestion time only when it has no timestamp.

        Ingestion time is the Kafka message timestamp, not the wall clock, so a replay after a crash
        (even days later) places keyless errors and judges ``future_time`` exactly as the first run did.
        """
        timestamp_ms = message.timestamp_ms
        ingested_at = datetime.fromtimestamp(timestamp_ms / 1000, SHANGHAI) if timestamp_ms >= 0 else now
        decoded = decode(
            message.value,
            key=message.key,
            ingested_at=ingested_at,
            registry=self.registry,
            max_message_bytes=self.max_message_bytes,
        )
        fingerprint = zlib.crc32(message.value or b"")
        if isinstance(decoded, Accepted):
            return self._accepted(message, decoded.record, fingerprint, not decoded.key_matches)
        return self._rejected(message, decoded, fingerprint, day_of(ingested_at))

    def _accepted(self, message: Message, record: Record, fingerprint: int, key_mismatch: bool) -> Prepared:
        kind, build = _SLOT_BUILDERS[type(record)]
        ident, name, slot = build(record, fingerprint, self.registry)
        department = record.department or ""
        return Prepared(message, record.SCHEMA, department, kind, ident, name, slot, None, None, key_mismatch)

    def _rejected(
        self, message: Message, rejected: Rejected, fingerprint: int, ingested_day: int
    ) -> Prepared:
        primary = rejected.primary_time
        if isinstance(primary, datetime):
            day = day_of(primary)
        elif isinstance(primary, date):
            day = primary.toordinal()
        else:
            day = ingested_day
        stream = streams.BY_SCHEMA.get(rejected.schema or "")
        schema = streams.UNKNOWN_SCHEMA if stream is None else stream.schema
        division = rejected.division or UNKNOWN_DIVISION
        record_key = rejected.record_key
        errors = ErrorData(
            schema,
            tuple((str(error.code), error.field) for error in rejected.errors),
            message.topic,
            message.partition,
            message.offset,
        )
        slot = Slot(
            rejected.version or 1, fingerprint, False, shared_day(day), rejected.department, division, errors
        )
        if record_key is None or stream is None:
            # No record key: no entity can hold it, and no later version can correct it. It counts as
            # inaccurate where it belongs, and is listed under its Kafka coordinates.
            counts = {(day, ACCURACY, rejected.department, division): (0, 1)}
            return Prepared(message, schema, rejected.department, None, "", "", slot, counts, rejected, False)
        kind = stream.kind
        ident = record_key[1]
        name = record_key[2] if len(record_key) > 2 else ""
        return Prepared(message, schema, rejected.department, kind, ident, name, slot, None, rejected, False)


# --- one slot builder per record type: (entity id, slot name, slot) ------------------------------
# Instants become Unix seconds and dates day ordinals: state and checkpoints hold numbers, not objects.
# A day ordinal is the one int kept for that day (shared_day): 32 B less per slot of an open entity.
# The catalogue and withdrawal requests name no division; theirs is their department's (registry).

_Built = tuple[str, str, Slot]


def _event_slot(record: EventRecord, fingerprint: int, registry: Registry) -> _Built:
    at = record.at.timestamp()
    deadline = None if record.deadline is None else record.deadline.timestamp()
    data = EventData(at, record.kind, deadline)
    slot = Slot(
        record.version,
        fingerprint,
        True,
        shared_day(day_of_epoch(at)),
        record.department or "",
        record.division or "",
        data,
    )
    return record.event_id, record.action, slot


def _inspection_slot(record: InspectionRecord, fingerprint: int, registry: Registry) -> _Built:
    data = InspectionData(record.channel, record.item_code, record.double_random_task is not None)
    day = shared_day(day_of_epoch(record.at.timestamp()))
    return (
        record.record_id,
        "",
        Slot(record.version, fingerprint, True, day, record.department, record.division, data),
    )


def _item_slot(record: ItemRecord, fingerprint: int, registry: Registry) -> _Built:
    at = record.at.timestamp()
    data = ItemData(at, record.double_random, record.onboarded, record.active)
    division = registry.division_of(record.department)
    return (
        record.item_code,
        "",
        Slot(
            record.version, fingerprint, True, shared_day(day_of_epoch(at)), record.department, division, data
        ),
    )


def _disclosure_slot(record: DisclosureRecord, fingerprint: int, registry: Registry) -> _Built:
    data = DisclosureData(
        published_at=_epoch(record.published_at),
        status=record.status,
        procedure=record.procedure,
        withdrawn_at=_epoch(record.withdrawn_at),
        revoked_at=_epoch(record.revoked_at),
        publicity_until=None if record.publicity_until is None else record.publicity_until.toordinal(),
        exposed=exposed_fields(record),
        decision_no=record.decision_no,
    )
    day = shared_day(record.decided_at.toordinal())
    return (
        record.disclosure_id,
        "",
        Slot(record.version, fingerprint, True, day, record.department, record.division, data),
    )


def _request_slot(record: DisclosureRequestRecord, fingerprint: int, registry: Registry) -> _Built:
    at = record.at.timestamp()
    data = RequestData(at, record.disclosure_id, record.kind, record.reason, record.batch_id)
    division = registry.division_of(record.department)
    slot = Slot(
        record.version, fingerprint, True, shared_day(day_of_epoch(at)), record.department, division, data
    )
    return record.request_id, record.action, slot


# Keyed by the exact model class (a record is an instance of exactly one), so each builder gets its
# type; with the entity kind of its stream, looked up once here rather than per message.
_SLOT_BUILDERS: Final[dict[type[Record], tuple[str, Callable[[Any, int, Registry], _Built]]]] = {
    model: (streams.BY_SCHEMA[model.SCHEMA].kind, builder)
    for model, builder in (
        (EventRecord, _event_slot),
        (InspectionRecord, _inspection_slot),
        (ItemRecord, _item_slot),
        (DisclosureRecord, _disclosure_slot),
        (DisclosureRequestRecord, _request_slot),
    )
}


def dlq_payload(prepared: Prepared, seen_at: datetime) -> bytes:
    """The DLQ record of docs/contract.md §5 for a rejected message."""
    message = prepared.message
    rejected = prepared.rejected
    if rejected is None:
        raise ValueError("only rejected messages have a DLQ record")
    value, errors = message.value, rejected.errors
    if value is not None and len(value) > DLQ_VALUE_LIMIT:
        # The DLQ topic has the same size limits as the input: echoing a huge value (JSON-escaped,
        # or base64) would make the DLQ write fail forever and stop the daemon. Keep a prefix.
        value = value[:DLQ_VALUE_LIMIT]
        size = len(message.value or b"")
        note = f"value truncated in this DLQ record to its first {DLQ_VALUE_LIMIT} of {size} bytes"
        errors = (*errors, FieldError(ErrorCode.TOO_LARGE, None, note))
    record = DlqRecord.for_message(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        timestamp_ms=message.timestamp_ms,
        value=value,
        errors=errors,
        seen_at=seen_at,
    )
    return record.model_dump_json(by_alias=True).encode()
