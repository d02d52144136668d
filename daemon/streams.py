"""The one table of svmon's five input streams; everything that lists streams derives from it.

A *stream* is one topic's kind of traffic (docs/contract.md §2). Its ``name`` is the one name the
code uses for it: the key under ``kafka.topics`` in the settings (``SVMON_KAFKA__TOPICS__<NAME>``),
the stream of a scenario, the file of a loader. The rest of a row says what the stream carries:

- ``record``: the pydantic model of its records; the record type on the wire (``event/v1``, also
  the ``schema`` label of the metrics) and the record's key and time fields live on the model;
- ``kind``: the kind of entity its records build in state, also the prefix of entity keys in the
  store (``event:E1``), which is why the withdrawal requests' kind stays the short ``request``;
- ``scope``: the state scope; co-partitioned streams share one, so that partition N of the
  inspections and of the catalogue is always owned by the same instance (coverage needs both);
- ``default_topic``: the topic name when the settings name none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from schemas.records import (
    DisclosureRecord,
    DisclosureRequestRecord,
    EventRecord,
    InspectionRecord,
    ItemRecord,
    Record,
)

__all__ = [
    "BY_KIND",
    "BY_NAME",
    "BY_SCHEMA",
    "DLQ_DEFAULT_TOPIC",
    "NAMES",
    "SCHEMAS",
    "SCOPES",
    "STREAMS",
    "UNKNOWN_SCHEMA",
    "Stream",
]


@dataclass(frozen=True)
class Stream:
    """One input stream; see the module docstring for what each field means."""

    name: str
    record: type[Record]
    kind: str
    scope: str
    default_topic: str
    description: str

    @property
    def schema(self) -> str:
        """The record type and major version on the wire, e.g. ``event/v1``."""
        return self.record.SCHEMA


STREAMS: Final = (
    Stream("events", EventRecord, "event", "events", "svmon.events", "Supervision event lifecycle"),
    Stream(
        "inspections",
        InspectionRecord,
        "inspection",
        "inspections",
        "svmon.inspections",
        "Inspection records",
    ),
    Stream(
        "catalog", ItemRecord, "item", "inspections", "svmon.catalog", "Supervision item catalogue, compacted"
    ),
    Stream(
        "disclosures",
        DisclosureRecord,
        "disclosure",
        "disclosures",
        "svmon.disclosures",
        "Published penalty results",
    ),
    Stream(
        "disclosure_requests",
        DisclosureRequestRecord,
        "request",
        "disclosures",
        "svmon.disclosure-requests",
        "Withdraw/modify applications",
    ),
)
DLQ_DEFAULT_TOPIC: Final = "svmon.dlq"
#: The ``schema`` label of a message whose record type is not one of the streams'.
UNKNOWN_SCHEMA: Final = "unknown"

NAMES: Final = tuple(stream.name for stream in STREAMS)
SCHEMAS: Final = tuple(stream.schema for stream in STREAMS)
SCOPES: Final = tuple(dict.fromkeys(stream.scope for stream in STREAMS))
BY_NAME: Final[Mapping[str, Stream]] = MappingProxyType({stream.name: stream for stream in STREAMS})
BY_SCHEMA: Final[Mapping[str, Stream]] = MappingProxyType({stream.schema: stream for stream in STREAMS})
BY_KIND: Final[Mapping[str, Stream]] = MappingProxyType({stream.kind: stream for stream in STREAMS})
