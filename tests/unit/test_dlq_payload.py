"""The DLQ record of a rejected message (docs/contract.md §5), as the pipeline builds it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from daemon.core.prepare import DLQ_VALUE_LIMIT, Message, Pipeline, dlq_payload
from schemas.records import DlqRecord
from schemas.registry import load_registry

SEEN_AT = datetime(2023, 10, 8, 1, 0, tzinfo=UTC)
KAFKA_REQUEST_LIMIT = 1_048_576  # kafka-python's default max_request_size for the DLQ producer


def _prepare(value: bytes, max_bytes: int = 1_048_576) -> bytes:
    pipeline = Pipeline(load_registry(), max_bytes)
    message = Message("t", 2, 41, b"E1", value, 1696726800000)
    prepared = pipeline.prepare(message, SEEN_AT)
    assert prepared.rejected is not None
    return dlq_payload(prepared, SEEN_AT)


def test_small_rejected_value_is_echoed_whole_with_its_source_and_errors() -> None:
    """A malformed message's DLQ record carries its exact text, source position and error code."""
    record = DlqRecord.model_validate_json(_prepare(b"{not json"))
    assert record.value == "{not json"
    assert (record.source.topic, record.source.partition, record.source.offset) == ("t", 2, 41)
    assert [error.code for error in record.errors] == ["malformed"]


def test_huge_rejected_value_is_truncated_so_the_dlq_write_cannot_fail_on_size() -> None:
    """A too_large value is cut to the DLQ limit, said so in an error, and the record fits a Kafka request."""
    value = b'{"content": "' + b'"' * (3 * 1024 * 1024) + b'"}'
    payload = _prepare(value)
    record = DlqRecord.model_validate_json(payload)
    assert len(payload) < KAFKA_REQUEST_LIMIT
    assert record.value is not None
    assert value.startswith(record.value.encode())
    assert len(record.value.encode()) == DLQ_VALUE_LIMIT
    messages = [error.message for error in record.errors if error.code == "too_large"]
    assert any("truncated" in message for message in messages)
    assert json.loads(payload)["errors"][0]["code"] == "too_large"
