"""What the metrics collector exports from state, taken under the engine's lock at scrape time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from daemon.core.indicators import (
    Counts,
    compliance,
    coverage,
    event_gauges,
    onboarding,
    requests_open,
    sum_days,
    withdrawals,
)
from daemon.core.state.entities import DISCLOSURE, EVENT, ITEM, REQUEST, Entity, Rules
from daemon.core.state.partition import PartitionState
from daemon.core.timeutil import day_of_epoch, period_starts

__all__ = ["Snapshot", "take_snapshot"]


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


def take_snapshot(
    states: Iterable[PartitionState], rules: Rules, at: float, calendar_fallbacks: Mapping[int, int]
) -> Snapshot:
    """Indicators for the day/month/quarter/year containing ``at``, and the state gauges, at ``at``.

    The caller holds the engine's lock: the consumer loop waits while this runs.
    """
    today = day_of_epoch(at)
    starts = period_starts(today)
    # The current year is always there, at 0 when the calendar knew every day asked of it: the
    # pipeline dashboard's panel then says "none" instead of "No data".
    snapshot = Snapshot(calendar_fallbacks={date.fromordinal(today).year: 0, **calendar_fallbacks})
    states = list(states)
    # One pass over each state's resident entities, sorted by kind: every figure below reads
    # one kind, and the consumer loop waits for this lock.
    by_kind: list[dict[str, list[Entity]]] = []
    for state in states:
        kinds: dict[str, list[Entity]] = {ITEM: [], DISCLOSURE: [], EVENT: [], REQUEST: []}
        for entity in state.entities.values():
            kinds.setdefault(entity.kind, []).append(entity)
        by_kind.append(kinds)
        snapshot.resident_entities += len(state.entities)
    for period, start in starts.items():
        counts: Counts = {}
        executed: dict[str, tuple[int, int, set[str]]] = {}
        for state, kinds in zip(states, by_kind, strict=True):
            sum_days(state.aggregates, start, today, into=counts)
            coverage(kinds[ITEM], state.marks, start, today, into=counts)
            withdrawals(state.aggregates, start, today, into=executed)
        snapshot.indicators[period] = counts
        for department, (count, days, batches) in executed.items():
            snapshot.withdrawals[(period, department)] = (count, days, len(batches))
    now_counts: Counts = {}
    for kinds in by_kind:
        onboarding(kinds[ITEM], into=now_counts)
        compliance(kinds[DISCLOSURE], rules, at, into=now_counts, violations=snapshot.violations)
    snapshot.indicators["now"] = now_counts
    events = [entity for kinds in by_kind for entity in kinds[EVENT]]
    requests = [entity for kinds in by_kind for entity in kinds[REQUEST]]
    snapshot.open_events, snapshot.overdue_events, snapshot.orphan_actions = event_gauges(events, at)
    snapshot.requests_open = requests_open(requests)
    return snapshot
