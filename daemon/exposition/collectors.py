"""The collector prometheus-client calls at every scrape: indicators and state gauges from a fresh snapshot.

Indicator numerators/denominators, state gauges and lag are computed from state at scrape time, so a
label set that disappears from state stops being exported and nothing goes stale. Label values come
only from the registry (or ``_unregistered``/``_unknown``) and closed enums.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from daemon.core.indicators import INDICATOR_IDS, VIOLATIONS
from daemon.core.snapshot import Snapshot

__all__ = ["StateCollector"]


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
        yield from self._indicators(snapshot)
        yield from _state_gauges(snapshot)
        yield from _pipeline(snapshot)

    def _indicators(self, snapshot: Snapshot) -> Iterator[Metric]:
        """``supervision_indicator_{numerator,denominator}`` per period and group, and the targets."""
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


def _state_gauges(snapshot: Snapshot) -> Iterator[Metric]:
    """Open and overdue events, orphan actions, disclosure violations, requests and withdrawals."""
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


def _pipeline(snapshot: Snapshot) -> Iterator[Metric]:
    """Lag, calendar fallbacks, readiness and the resident entities."""
    lag = GaugeMetricFamily(
        "supervision_consumer_lag_messages",
        "Messages between the checkpointed offset and the end of each partition.",
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
