"""Pure message handling: raw Kafka message -> typed record or rejection -> the slot it fills.

No I/O and no clock here: the ingestion time comes in as an argument, so everything is testable
without Kafka or threads. The app applies the result to partition state and ships rejections to
the DLQ.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from daemon.state.entities import (
    ACCURACY,
    DISCLOSURE,
    EVENT,
    INSPECTION,
    ITEM,
    REQUEST,
    AggKey,
    Slot,
)
from daemon.timeutil import SHANGHAI, day_of, day_of_epoch
from schemas.decode import Accepted, Rejected, decode
from schemas.errors import ErrorCode, FieldError
from schemas.identifiers import find_personal_info, is_masked_id
from schemas.records import (
    DisclosureRecord,
    DlqRecord,
    EventRecord,
    InspectionRecord,
    ItemRecord,
    Record,
)
from schemas.registry import UNKNOWN_DIVISION, Registry

# Logical streams (SPEC §2) and the state scope each one lives in: co-partitioned topics share one.
STREAM_SCOPE: Final = {
    "events": "events",
    "inspections": "inspections",
    "catalog": "inspections",
    "disclosures": "disclosures",
    "disclosure_requests": "disclosures",
}
SCHEMA_LABELS: Final = ("event/v1", "inspection/v1", "item/v1", "disclosure/v1", "disclosure-request/v1")
UNKNOWN_SCHEMA_LABEL: Final = "unknown"
# Bytes of a rejected value echoed into its DLQ record: even if every byte is JSON-escaped as \\u00XX
# (6x), the record stays under the 1 MiB Kafka request limit.
DLQ_VALUE_LIMIT: Final = 128 * 1024
_KEY_KINDS: Final = {
    "event": EVENT,
    "inspection": INSPECTION,
    "item": ITEM,
    "disclosure": DISCLOSURE,
    "disclosure-request": REQUEST,
}


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
    schema: str  # a label value: one of SCHEMA_LABELS or "unknown"
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


def personal_info_exposed(record: DisclosureRecord) -> bool:
    """SPEC §7 ``personal_info_exposed``: an ID or phone in the text, or an unmasked natural person's ID."""
    if record.party.type == "natural_person" and not is_masked_id(record.party.id):
        return True
    return any(find_personal_info(text) for text in (record.content, record.party.name, record.decision_no))


class Pipeline:
    """Turns messages into :class:`Prepared` values; holds only configuration, never state."""

    def __init__(self, registry: Registry, topic_streams: dict[str, str], max_message_bytes: int) -> None:
        self.registry = registry
        self.topic_streams = topic_streams
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
        registry = self.registry
        department: str = record.department or ""
        name: str
        at = record.at.timestamp() if not isinstance(record, DisclosureRecord) else 0.0
        data: dict[str, Any]
        if isinstance(record, EventRecord):
            kind, ident, name = EVENT, record.event_id, record.action
            data = {"at": at}
            if record.kind is not None:
                data["kind"] = record.kind
            if record.deadline is not None:
                data["deadline"] = record.deadline.timestamp()
            slot = Slot(
                record.version,
                fingerprint,
                True,
                day_of_epoch(at),
                department or "",
                record.division or "",
                data,
            )
        elif isinstance(record, InspectionRecord):
            kind, ident, name = INSPECTION, record.record_id, ""
            data = {
                "channel": record.channel,
                "item_code": record.item_code,
                "double_random": record.double_random_task is not None,
            }
            slot = Slot(
                record.version, fingerprint, True, day_of_epoch(at), department, record.division, data
            )
        elif isinstance(record, ItemRecord):
            kind, ident, name = ITEM, record.item_code, ""
            data = {
                "at": at,
                "double_random": record.double_random,
                "onboarded": record.onboarded,
                "active": record.active,
            }
            division = registry.division_of(department)
            slot = Slot(record.version, fingerprint, True, day_of_epoch(at), department, division, data)
        elif isinstance(record, DisclosureRecord):
            kind, ident, name = DISCLOSURE, record.disclosure_id, ""
            data = {
                "published_at": _epoch(record.published_at),
                "status": record.status,
                "procedure": record.procedure,
                "withdrawn_at": _epoch(record.withdrawn_at),
                "revoked_at": _epoch(record.revoked_at),
                "publicity_until": None
                if record.publicity_until is None
                else record.publicity_until.toordinal(),
                "exposed": personal_info_exposed(record),
            }
            day = record.decided_at.toordinal()
            slot = Slot(record.version, fingerprint, True, day, department, record.division, data)
        else:
            kind, ident, name = REQUEST, record.request_id, record.action
            data = {
                "at": at,
                "disclosure_id": record.disclosure_id,
                "kind": record.kind,
                "reason": record.reason,
                "batch_id": record.batch_id,
            }
            division = registry.division_of(department)
            slot = Slot(record.version, fingerprint, True, day_of_epoch(at), department, division, data)
        return Prepared(
            message,
            record.SCHEMA,
            department or "",
            kind,
            ident,
            name,
            slot,
            None,
            None,
            key_mismatch,
        )

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
        schema = rejected.schema if rejected.schema in SCHEMA_LABELS else UNKNOWN_SCHEMA_LABEL
        division = rejected.division or UNKNOWN_DIVISION
        record_key = rejected.record_key
        slot = Slot(rejected.version or 1, fingerprint, False, day, rejected.department, division, {})
        if record_key is None or record_key[0] not in _KEY_KINDS:
            counts = {(day, ACCURACY, rejected.department, division): (0, 1)}
            return Prepared(message, schema, rejected.department, None, "", "", None, counts, rejected, False)
        kind = _KEY_KINDS[record_key[0]]
        ident = record_key[1]
        name = record_key[2] if len(record_key) > 2 else ""
        return Prepared(message, schema, rejected.department, kind, ident, name, slot, None, rejected, False)


def dlq_payload(prepared: Prepared, seen_at: datetime) -> bytes:
    """The DLQ record of SPEC §5 for a rejected message."""
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
