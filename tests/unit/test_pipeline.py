"""Tests of daemon.core.prepare: messages to slots or rejections, and the DLQ record (docs/contract.md §5)."""

from __future__ import annotations

import json
from datetime import date, timedelta

from daemon.config import Settings
from daemon.core.prepare import Message, Pipeline, dlq_payload
from daemon.core.state.slots import EventData
from schemas.records import DlqRecord
from schemas.registry import load_registry
from tests import records
from tests.records import INGESTED

SETTINGS = Settings()
PIPELINE = Pipeline(load_registry(None), SETTINGS.kafka.max_message_bytes)
STAMP = int(INGESTED.timestamp() * 1000)
START = records.at(date(2023, 3, 1))


def _message(value: bytes | None, key: bytes | None = b"E1", topic: str = "svmon.events") -> Message:
    return Message(topic, 3, 42, key, value, STAMP)


def test_valid_event_becomes_a_slot_of_its_action() -> None:
    """A valid created fills the created slot of its event with the fields indicators read."""
    prepared = PIPELINE.prepare(_message(records.encode(records.event("E1", "created", START))), INGESTED)
    assert (prepared.kind, prepared.ident, prepared.slot_name) == ("event", "E1", "created")
    assert prepared.slot is not None
    assert prepared.slot.valid
    assert prepared.slot.data == EventData(START.timestamp(), "complaint")
    assert prepared.rejected is None
    assert not prepared.key_mismatch


def test_key_mismatch_is_flagged_but_processed() -> None:
    """A message keyed differently from its entity is still applied and flagged for the metric."""
    prepared = PIPELINE.prepare(
        _message(records.encode(records.event("E1", "created", START)), key=b"x"), INGESTED
    )
    assert prepared.slot is not None
    assert prepared.key_mismatch


def test_invalid_record_with_a_key_becomes_an_erroneous_slot() -> None:
    """An invalid record with a readable key fills its slot as erroneous, so a correction can supersede it."""
    value = records.encode(records.spoil(records.event("E1", "handled", START, version=4)))
    prepared = PIPELINE.prepare(_message(value), INGESTED)
    assert prepared.slot is not None
    assert (prepared.slot_name, prepared.slot.version, prepared.slot.valid) == ("handled", 4, False)
    assert prepared.slot.day == date(2023, 3, 1).toordinal()
    assert prepared.rejected is not None


def test_keyless_garbage_counts_at_ingestion_day() -> None:
    """A malformed message has no entity; it counts one inaccurate record on the ingestion day."""
    prepared = PIPELINE.prepare(_message(b"\xff not json"), INGESTED)
    assert prepared.kind is None
    assert prepared.keyless == {
        (INGESTED.date().toordinal(), "data_accuracy_rate", "_unregistered", "_unknown"): (0, 1)
    }
    assert prepared.schema == "unknown"


def test_ingestion_time_is_the_message_timestamp() -> None:
    """A replay days later judges future_time and places keyless errors as the first run did."""
    later = INGESTED.replace(year=2030)
    first = PIPELINE.prepare(_message(b"nope"), INGESTED)
    replay = PIPELINE.prepare(_message(b"nope"), later)
    assert first.keyless == replay.keyless


def test_future_time_is_judged_against_the_message_timestamp() -> None:
    """Five minutes after the Kafka timestamp is still "now"; one second more is future_time."""
    now = PIPELINE.prepare(_message(records.encode(records.event("E1", "created", INGESTED))), INGESTED)
    assert now.rejected is None
    limit = INGESTED + timedelta(minutes=5)
    for at, rejected in ((limit, False), (limit + timedelta(seconds=1), True)):
        prepared = PIPELINE.prepare(_message(records.encode(records.event("E1", "created", at))), INGESTED)
        codes = [] if prepared.rejected is None else [e.code.value for e in prepared.rejected.errors]
        assert codes == (["future_time"] if rejected else [])


def test_dlq_payload_validates_as_the_dlq_record() -> None:
    """The DLQ payload parses as schemas.records.DlqRecord with source, errors and the original value."""
    value = records.encode(records.spoil(records.event("E1", "handled", START)))
    prepared = PIPELINE.prepare(_message(value), INGESTED)
    payload = dlq_payload(prepared, INGESTED)
    record = DlqRecord.model_validate_json(payload)
    assert (record.source.topic, record.source.partition, record.source.offset) == ("svmon.events", 3, 42)
    assert record.source.key == "E1"
    assert record.source.timestamp == STAMP
    assert record.value == value.decode()
    assert [e.code.value for e in record.errors] == ["invalid_field"]
    assert json.loads(payload)["errors"][0]["field"] == "unexpected_field"


def test_dlq_payload_of_binary_value_is_base64() -> None:
    """A value that is not UTF-8 travels to the DLQ as base64, saying so."""
    prepared = PIPELINE.prepare(_message(b"\xff\xfe", key=None), INGESTED)
    record = DlqRecord.model_validate_json(dlq_payload(prepared, INGESTED))
    assert (record.value, record.value_encoding, record.source.key) == ("//4=", "base64", None)
