"""Tests of daemon.streams: the one table of streams, and that everything listing streams follows it."""

from __future__ import annotations

from daemon import streams
from daemon.config import Topics
from daemon.core.state.entities import DISCLOSURE, EVENT, INSPECTION, ITEM, REQUEST
from daemon.tools.loader import message_key
from tests import records


def test_the_topic_settings_are_the_streams_and_the_dlq() -> None:
    """``kafka.topics`` has one setting per stream, named like it, defaulting to its topic, plus the DLQ."""
    assert list(Topics.model_fields) == [*streams.NAMES, "dlq"]
    topics = Topics()
    assert topics.inputs() == [stream.default_topic for stream in streams.STREAMS]
    assert topics.dlq == streams.DLQ_DEFAULT_TOPIC


def test_each_topic_maps_back_to_its_stream() -> None:
    """``Topics.streams_by_topic`` inverts the settings, renamed topics included."""
    topics = Topics(events="prod.events", catalog="prod.catalog")
    by_topic = topics.streams_by_topic()
    assert by_topic["prod.events"] is streams.BY_NAME["events"]
    assert by_topic["prod.catalog"] is streams.BY_NAME["catalog"]
    assert len(by_topic) == len(streams.STREAMS)


def test_co_partitioned_streams_share_a_scope() -> None:
    """Inspections share the catalogue's scope, requests the disclosures'; events have their own."""
    scope = {stream.name: stream.scope for stream in streams.STREAMS}
    assert scope["inspections"] == scope["catalog"]
    assert scope["disclosures"] == scope["disclosure_requests"]
    assert len(set(scope.values())) == 3 == len(streams.SCOPES)


def test_entity_kinds_come_from_the_table() -> None:
    """The entity kinds of the state are the streams' kinds, one per stream, all distinct."""
    assert [stream.kind for stream in streams.STREAMS] == [EVENT, INSPECTION, ITEM, DISCLOSURE, REQUEST]
    assert len(streams.BY_KIND) == len(streams.STREAMS)


def test_schema_labels_are_the_record_types_of_the_streams() -> None:
    """Each stream's schema is its record model's, so metric labels and the wire agree."""
    expected = ("event/v1", "inspection/v1", "item/v1", "disclosure/v1", "disclosure-request/v1")
    assert expected == streams.SCHEMAS
    assert all(streams.BY_SCHEMA[stream.schema] is stream for stream in streams.STREAMS)
    assert streams.UNKNOWN_SCHEMA not in streams.SCHEMAS


def test_the_loader_keys_each_record_type_by_its_models_message_key() -> None:
    """``svmon load`` keys a record by the field its model names, e.g. an inspection by its item."""
    inspection = records.inspection("R1", "ITEM-7", records.INGESTED)
    request = records.disclosure_request("Q1", "submitted", records.INGESTED, disclosure_id="D9")
    assert message_key(records.encode(inspection)) == b"ITEM-7"
    assert message_key(records.encode(request)) == b"D9"
