"""Prometheus exposition: flow counters updated by the loop, and a collector read fresh at every scrape.

Indicator numerators/denominators, state gauges and lag are computed from state at scrape time by
:class:`StateCollector` (prometheus-client calls ``collect()`` on every scrape), so a label set that
disappears from state stops being exported and nothing goes stale. Counters are pre-created at 0 for
every registered department, so the first real increment is visible to ``rate()``.
Label values come only from the registry (or ``_unregistered``/``_unknown``) and closed enums.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon import __version__
from daemon.indicators import INDICATOR_IDS, VIOLATIONS, Counts
from daemon.pipeline import SCHEMA_LABELS, UNKNOWN_SCHEMA_LABEL
from daemon.state.entities import EventView
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
    UNKNOWN_SCHEMA_LABEL: (ErrorCode.UNKNOWN_SCHEMA,),
}


@dataclass
class Snapshot:
    """Everything the collector exports from state, computed under the app's lock at scrape time."""

    indicators: dict[str, Counts] = field(default_factory=dict)  # period label -> counts
    open_events: dict[tuple[str, str, str], int] = field(default_factory=dict)
    overdue_events: dict[tuple[str, str, str], int] = field(default_factory=dict)
    orphan_actions: int = 0
    violations: dict[tuple[str, str], int] = field(default_factory=dict)
    requests_open: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # (period, department) -> (executed applications, working days to execute in all, distinct batches)
    withdrawals: dict[tuple[str, str], tuple[int, int, int]] = field(default_factory=dict)
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    calendar_fallbacks: dict[int, int] = field(default_factory=dict)
    ready: bool = False
    resident_entities: int = 0


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
        # Label children by (attribute, label values); label values are bounded by the registry and
        # closed enums, so this stays small.
        self._children: dict[tuple[str, tuple[str, ...]], Counter] = {}
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
            for schema in (*SCHEMA_LABELS, UNKNOWN_SCHEMA_LABEL):
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

    def apply(self, tally: Tally, newest: dict[str, float]) -> None:
        """Add a batch's tally: one ``labels().inc(n)`` per label set instead of one per message.

        Each ``labels()`` call takes a lock and a dictionary lookup; per message that cost about as
        much as validating the message. A batch still has hundreds of label sets, so the children
        are kept here after the first ``labels()``.
        """
        children = self._children
        for key, count in tally.items():
            child = children.get(key)
            if child is None:
                name, labels = key
                child = children[key] = getattr(self, name).labels(*labels)
            child.inc(count)
        for topic, seconds in newest.items():
            self.last_event_time.labels(topic).set(seconds)


Tally = dict[tuple[str, tuple[str, ...]], int]
"""Counts of one batch, keyed by (FlowCounters attribute, label values)."""


def tally_event_transition(tally: Tally, before: EventView | None, after: EventView | None) -> None:
    """Count creations and handlings as an event's derived status changes."""
    if after is None:
        return
    labels = (after.kind, after.department, after.division)
    if before is None:
        count_in(tally, "events_created", labels)
    was_handled = before is not None and before.status == "handled"
    if after.status == "handled" and not was_handled:
        count_in(tally, "events_handled", labels)
        if after.late:
            count_in(tally, "events_handled_late", labels)


def tally_rejected(tally: Tally, schema: str, department: str, errors: list[ErrorCode]) -> None:
    """Count a rejected record once, under its first error, so that summing over ``error`` gives the
    number of erroneous records (error ratios and burn rates divide by records, not by errors)."""
    if errors:
        count_in(tally, "records_erroneous", (schema, department, str(errors[0])))


def count_in(tally: Tally, name: str, labels: tuple[str, ...]) -> None:
    """Count one occurrence of ``name`` with ``labels`` in a batch tally."""
    key = (name, labels)
    tally[key] = tally.get(key, 0) + 1


class StateCollector(Collector):
    """Indicator and state gauges computed from a fresh :class:`Snapshot` at each scrape.

    Produces, for example::

        supervision_indicator_numerator{indicator="event_handling_rate",period="month",\
department="330200.scjgj",division="330200"} 1520.0
        supervision_indicator_denominator{indicator="event_handling_rate",period="month",\
department="330200.scjgj",division="330200"} 1521.0
        supervision_indicator_target{indicator="event_handling_rate"} 0.999
        supervision_events_open{kind="complaint",department="330203.zhzfj",division="330203"} 4.0
    """

    def __init__(self, snapshot: Callable[[], Snapshot], targets: dict[str, float]) -> None:
        self._snapshot = snapshot
        self._targets = targets

    def describe(self) -> Iterator[Metric]:
        return iter(())  # computed at scrape time; nothing to pre-register

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot()
        labels = ["indicator", "period", "department", "division"]
        numerator = GaugeMetricFamily(
            "supervision_indicator_numerator",
            "Numerator of an indicator for the current period.",
            labels=labels,
        )
        denominator = GaugeMetricFamily(
            "supervision_indicator_denominator",
            "Denominator of an indicator for the current period.",
            labels=labels,
        )
        for period, counts in snapshot.indicators.items():
            for (indicator, department, division), (num, den) in sorted(counts.items()):
                numerator.add_metric([indicator, period, department, division], num)
                denominator.add_metric([indicator, period, department, division], den)
        yield numerator
        yield denominator
        target = GaugeMetricFamily(
            "supervision_indicator_target", "Target ratio of an indicator.", labels=["indicator"]
        )
        for indicator in INDICATOR_IDS:
            target.add_metric([indicator], self._targets[indicator])
        yield target
        flow = ["kind", "department", "division"]
        yield _family("supervision_events_open", "Events open now.", flow, snapshot.open_events.items())
        yield _family(
            "supervision_events_overdue",
            "Open events past their deadline now.",
            flow,
            snapshot.overdue_events.items(),
        )
        yield GaugeMetricFamily(
            "supervision_event_orphan_actions",
            "Events with actions waiting for their created record.",
            value=snapshot.orphan_actions,
        )
        violations = dict(snapshot.violations)
        for department in {d for d, _ in violations}:
            for violation in VIOLATIONS:
                violations.setdefault((department, violation), 0)
        yield _family(
            "supervision_disclosure_violations",
            "Currently published disclosures with a violation.",
            ["department", "violation"],
            violations.items(),
        )
        yield _family(
            "supervision_disclosure_requests_open",
            "Withdraw/modify applications not yet executed or rejected.",
            ["department", "kind", "reason"],
            snapshot.requests_open.items(),
        )
        executed = sorted(snapshot.withdrawals.items())
        yield _family(
            "supervision_disclosure_withdrawals_executed",
            "Withdraw/modify applications submitted in the current period and executed.",
            ["period", "department"],
            [(key, value[0]) for key, value in executed],
        )
        yield _family(
            "supervision_disclosure_withdrawal_workdays",
            "Working days from submitted to executed, summed over those applications (divide for the mean).",
            ["period", "department"],
            [(key, value[1]) for key, value in executed],
        )
        yield _family(
            "supervision_disclosure_withdrawal_batches",
            "Distinct batches (batch_id) among those executed applications.",
            ["period", "department"],
            [(key, value[2]) for key, value in executed],
        )
        lag = GaugeMetricFamily(
            "supervision_consumer_lag_messages",
            "Messages behind the end of each partition.",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(snapshot.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag
        fallback = CounterMetricFamily(
            "supervision_calendar_fallback_dates",
            "Days the working-day calendar could not answer (Monday-Friday assumed), per year.",
            labels=["year"],
        )
        for year, count in sorted(snapshot.calendar_fallbacks.items()):
            fallback.add_metric([str(year)], count)
        yield fallback
        yield GaugeMetricFamily("supervision_ready", "1 when /readyz is ready.", value=int(snapshot.ready))
        yield GaugeMetricFamily(
            "supervision_resident_entities",
            "Entities held in memory (open, catalogue, published).",
            value=snapshot.resident_entities,
        )


def _family(
    name: str, documentation: str, labels: list[str], values: Iterable[tuple[tuple[str, ...], int]]
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for key, value in sorted(values):
        family.add_metric(list(key), value)
    return family
