"""What one batch adds to the flow counters, counted in plain dictionaries, one per counter.

The engine fills a :class:`Tally` while it applies a batch; the runtime hands it to
``daemon.exposition.counters.FlowCounters.apply``, which adds each dictionary to the Prometheus
counter of the same name. Counting in dictionaries and applying once per label set costs a fraction
of one ``labels().inc()`` per message (bench/throughput.py), and keeps prometheus_client out of the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from daemon.core.state.entities import EventView
from schemas.errors import ErrorCode

__all__ = ["EventLabels", "Tally"]

EventLabels = tuple[str, str, str]  # (kind, department, division)
_Key = TypeVar("_Key")


def _bump(counts: dict[_Key, int], key: _Key, count: int = 1) -> None:
    counts[key] = counts.get(key, 0) + count


@dataclass(slots=True)
class Tally:
    """Counts of one batch by label values; the field names are the counters' (FlowCounters)."""

    events_created: dict[EventLabels, int] = field(default_factory=dict)
    events_handled: dict[EventLabels, int] = field(default_factory=dict)
    events_handled_late: dict[EventLabels, int] = field(default_factory=dict)
    records: dict[tuple[str, str], int] = field(default_factory=dict)  # (schema, department)
    records_erroneous: dict[tuple[str, str, str], int] = field(default_factory=dict)  # + error
    inspections: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (dep., div., channel)
    messages_consumed: dict[str, int] = field(default_factory=dict)  # topic
    dlq_writes: dict[str, int] = field(default_factory=dict)  # source topic
    key_mismatches: dict[str, int] = field(default_factory=dict)  # topic
    ignored: dict[tuple[str, str], int] = field(default_factory=dict)  # (topic, duplicate|stale)
    newest: dict[str, float] = field(default_factory=dict)  # topic -> newest Kafka timestamp, seconds

    def consumed(self, topic: str, timestamp_s: float) -> None:
        """One message of ``topic`` consumed, with its Kafka timestamp."""
        _bump(self.messages_consumed, topic)
        if timestamp_s > self.newest.get(topic, 0.0):
            self.newest[topic] = timestamp_s

    def record(self, schema: str, department: str) -> None:
        _bump(self.records, (schema, department))

    def ignored_version(self, topic: str, outcome: str) -> None:
        _bump(self.ignored, (topic, outcome))

    def key_mismatch(self, topic: str) -> None:
        _bump(self.key_mismatches, topic)

    def dlq_write(self, topic: str) -> None:
        _bump(self.dlq_writes, topic)

    def inspection(self, department: str, division: str, channel: str) -> None:
        _bump(self.inspections, (department, division, channel))

    def rejected(self, schema: str, department: str, errors: list[ErrorCode]) -> None:
        """Count a rejected record once, under its first error, so that summing over ``error`` gives
        the number of erroneous records (error ratios and burn rates divide by records, not errors)."""
        if errors:
            _bump(self.records_erroneous, (schema, department, str(errors[0])))

    def event_transition(self, before: EventView | None, after: EventView | None) -> None:
        """Count creations and handlings as an event's derived status changes."""
        if after is None:
            return
        labels = (after.kind, after.department, after.division)
        if before is None:
            _bump(self.events_created, labels)
        was_handled = before is not None and before.status == "handled"
        if after.status == "handled" and not was_handled:
            _bump(self.events_handled, labels)
            if after.late:
                _bump(self.events_handled_late, labels)
