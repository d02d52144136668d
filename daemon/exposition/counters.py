"""Flow counters: what the consumer loop counts, for ``rate()`` and burn-rate alerts.

The engine counts a batch in a :class:`daemon.core.tally.Tally`; :meth:`FlowCounters.apply` adds it
here. Counters are pre-created at 0 for every registered department, so the first real increment
is visible to ``rate()``. Label values come only from the registry (or ``_unregistered``) and
closed enums. Produces, for example::

    supervision_events_created_total{kind="complaint",department="330200.scjgj",division="330200"} 3.0
    supervision_records_erroneous_total{schema="event/v1",department="330200.scjgj",error="invalid_field"} 1.0
    supervision_messages_consumed_total{topic="svmon.events"} 4.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from daemon import __version__, streams
from daemon.core.tally import Tally
from schemas.errors import ErrorCode
from schemas.registry import UNREGISTERED_DEPARTMENT, Registry

# No `*_created` series beside every counter: they double the series count for nothing we use.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client

EVENT_KINDS = ("risk_warning", "collaborative", "complaint", "clue")
CHANNELS = ("mobile", "pc", "paper")
PERIODS = ("day", "month", "quarter", "year")
# The first error a record that names a registered department can be rejected with, per schema
# label: the `supervision_records_erroneous_total` label sets pre-created for every department.
# Messages that name none (not JSON, too large, unknown department) count under `_unregistered`.
# tests/unit/test_metrics.py checks every rejection of the decode tests and of a generated year.
REJECTIONS_BY_SCHEMA: dict[str, tuple[ErrorCode, ...]] = {
    "event/v1": (
        ErrorCode.INVALID_FIELD,
        ErrorCode.UNKNOWN_DIVISION,
        ErrorCode.FUTURE_TIME,
        ErrorCode.INCONSISTENT_TIME,
    ),
    "inspection/v1": (
        ErrorCode.INVALID_FIELD,
        ErrorCode.UNKNOWN_DIVISION,
        ErrorCode.INVALID_USCC,
        ErrorCode.INVALID_RESIDENT_ID,
        ErrorCode.FUTURE_TIME,
    ),
    "item/v1": (ErrorCode.INVALID_FIELD, ErrorCode.FUTURE_TIME),
    "disclosure/v1": (
        ErrorCode.INVALID_FIELD,
        ErrorCode.UNKNOWN_DIVISION,
        ErrorCode.INVALID_USCC,
        ErrorCode.INVALID_DECISION_NO,
        ErrorCode.FUTURE_TIME,
        ErrorCode.INCONSISTENT_TIME,
    ),
    "disclosure-request/v1": (ErrorCode.INVALID_FIELD, ErrorCode.FUTURE_TIME),
    streams.UNKNOWN_SCHEMA: (ErrorCode.UNKNOWN_SCHEMA,),
}


class FlowCounters:
    """Counters the processing loop increments; each registered department pre-created at 0."""

    def __init__(self, registry: CollectorRegistry, departments: Registry, topics: list[str]) -> None:
        flow = ("kind", "department", "division")
        self.events_created = Counter(
            "supervision_events_created", "Events created (派发), by kind.", flow, registry=registry
        )
        self.events_handled = Counter(
            "supervision_events_handled", "Events handled (办结).", flow, registry=registry
        )
        self.events_handled_late = Counter(
            "supervision_events_handled_late", "Events handled after their deadline.", flow, registry=registry
        )
        self.records = Counter(
            "supervision_records", "Records consumed, by schema.", ("schema", "department"), registry=registry
        )
        self.records_erroneous = Counter(
            "supervision_records_erroneous",
            "Records rejected by validation, each counted once under its first error code.",
            ("schema", "department", "error"),
            registry=registry,
        )
        self.inspections = Counter(
            "supervision_inspections",
            "Valid inspections, by channel (mobile = 掌上执法).",
            ("department", "division", "channel"),
            registry=registry,
        )
        self.messages_consumed = Counter(
            "supervision_messages_consumed", "Kafka messages consumed.", ("topic",), registry=registry
        )
        self.dlq_writes = Counter(
            "supervision_dlq_writes",
            "Messages written to the DLQ, by source topic.",
            ("topic",),
            registry=registry,
        )
        self.key_mismatches = Counter(
            "supervision_key_mismatches",
            "Messages whose Kafka key differs from their entity key.",
            ("topic",),
            registry=registry,
        )
        self.ignored = Counter(
            "supervision_records_ignored",
            "Record versions ignored as duplicates or stale (superseded).",
            ("topic", "reason"),
            registry=registry,
        )
        self.checkpoint_duration = Histogram(
            "supervision_checkpoint_duration_seconds",
            "Time to write one checkpoint (state + offsets in one transaction).",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.checkpoint_failures = Counter(
            "supervision_checkpoint_failures", "Checkpoints that failed and were retried.", registry=registry
        )
        self.checkpoint_last_success = Gauge(
            "supervision_checkpoint_last_success_timestamp_seconds",
            "Unix time of the last successful checkpoint.",
            registry=registry,
        )
        self.last_event_time = Gauge(
            "supervision_last_event_timestamp_seconds",
            "Kafka timestamp of the newest message consumed, per topic.",
            ("topic",),
            registry=registry,
        )
        build = Gauge("supervision_build_info", "svmon build.", ("version",), registry=registry)
        build.labels(__version__).set(1)
        # Label children by (counter, label values); label values are bounded by the registry and
        # closed enums, so this stays small.
        self._children: dict[tuple[int, tuple[str, ...]], Counter] = {}
        self._precreate(departments, topics)

    def _precreate(self, departments: Registry, topics: list[str]) -> None:
        codes = [*departments.departments, UNREGISTERED_DEPARTMENT]
        for code in departments.departments:
            division = departments.division_of(code)
            for kind in EVENT_KINDS:
                for counter in (self.events_created, self.events_handled, self.events_handled_late):
                    counter.labels(kind, code, division)
            for channel in CHANNELS:
                self.inspections.labels(code, division, channel)
        for code in codes:
            for schema in (*streams.SCHEMAS, streams.UNKNOWN_SCHEMA):
                self.records.labels(schema, code)
        for code in departments.departments:
            for schema, errors in REJECTIONS_BY_SCHEMA.items():
                for error in errors:
                    self.records_erroneous.labels(schema, code, str(error))
        for topic in topics:
            self.messages_consumed.labels(topic)
            self.dlq_writes.labels(topic)
            self.key_mismatches.labels(topic)
            for reason in ("duplicate", "stale"):
                self.ignored.labels(topic, reason)

    def apply(self, tally: Tally) -> None:
        """Add a batch's tally: one ``labels().inc(n)`` per label set instead of one per message.

        Each ``labels()`` call takes a lock and a dictionary lookup; per message that cost about as
        much as validating the message. A batch still has hundreds of label sets, so the children
        are kept here after the first ``labels()``.
        """
        self._add(self.events_created, tally.events_created)
        self._add(self.events_handled, tally.events_handled)
        self._add(self.events_handled_late, tally.events_handled_late)
        self._add(self.records, tally.records)
        self._add(self.records_erroneous, tally.records_erroneous)
        self._add(self.inspections, tally.inspections)
        self._add(self.messages_consumed, tally.messages_consumed)
        self._add(self.dlq_writes, tally.dlq_writes)
        self._add(self.key_mismatches, tally.key_mismatches)
        self._add(self.ignored, tally.ignored)
        for topic, seconds in tally.newest.items():
            self.last_event_time.labels(topic).set(seconds)

    def checkpoint_written(self, seconds: float, at: float) -> None:
        """A checkpoint took ``seconds`` and succeeded at Unix time ``at``."""
        self.checkpoint_duration.observe(seconds)
        self.checkpoint_last_success.set(at)

    def _add(self, counter: Counter, counts: Mapping[Any, int]) -> None:
        # Keys are label values: a tuple of them, or one topic name (Any: dict keys are invariant).
        children = self._children
        for labels, count in counts.items():
            values: tuple[str, ...] = labels if isinstance(labels, tuple) else (labels,)
            key = (id(counter), values)
            child = children.get(key)
            if child is None:
                child = children[key] = counter.labels(*values)
            child.inc(count)
