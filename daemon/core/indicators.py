"""Indicators of docs/contract.md §7 as pure functions of state and an injected "now".

Five indicators are kept incrementally per day in the aggregates (handling, on-time, accuracy,
mobile enforcement, disclosure on-time); they are summed over a period here. Three are read live from
resident entities: onboarding and coverage from the catalogue (coverage also from the per-day 双随机
marks), compliance from the currently published disclosures, whose violations depend on "now".
Every function returns counts ``{(indicator, department, division): (numerator, denominator)}``;
ratios are taken only by whoever shows them, and a zero denominator is undefined, never 0 or 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

from daemon.core.state.entities import (
    ACCURACY,
    DISCLOSURE_ON_TIME,
    HANDLING,
    MOBILE,
    ON_TIME,
    WITHDRAWAL_BATCH_PREFIX,
    WITHDRAWAL_DAYS,
    Entity,
    EventEntity,
    EventView,
    Rules,
    publish_deadline,
)
from daemon.core.state.slots import DisclosureData, ItemData, RequestData, data_of
from daemon.core.timeutil import day_of_epoch, end_of_day_epoch

ONBOARDING: Final = "item_onboarding_rate"
COVERAGE: Final = "double_random_coverage_rate"
COMPLIANCE: Final = "disclosure_compliance_rate"

INDICATOR_IDS: Final = (
    HANDLING,
    ON_TIME,
    ACCURACY,
    ONBOARDING,
    COVERAGE,
    MOBILE,
    DISCLOSURE_ON_TIME,
    COMPLIANCE,
)
AGGREGATED: Final = frozenset({HANDLING, ON_TIME, ACCURACY, MOBILE, DISCLOSURE_ON_TIME})
VIOLATIONS: Final = (
    "personal_info_exposed",
    "simple_procedure_published",
    "published_late",
    "expired_not_withdrawn",
    "revoked_not_withdrawn",
)

Group = tuple[str, str, str]  # (indicator, department, division)
Counts = dict[Group, list[int]]
_Cell = TypeVar("_Cell", bound=tuple[Any, ...])


def bump(counts: dict[_Cell, list[int]], group: _Cell, numerator: int, denominator: int) -> None:
    """Add a numerator/denominator pair to a group's cell (a :data:`Group`, or one with its day)."""
    cell = counts.get(group)
    if cell is None:
        counts[group] = [numerator, denominator]
    else:
        cell[0] += numerator
        cell[1] += denominator


def sum_days(
    aggregates: Mapping[int, Mapping[Group, list[int]]],
    start_day: int,
    end_day: int,
    into: Counts | None = None,
) -> Counts:
    """Sum per-day aggregate cells of the five incremental indicators over [start_day, end_day]."""
    counts: Counts = {} if into is None else into
    for day, cells in aggregates.items():
        if start_day <= day <= end_day:
            for group, (numerator, denominator) in cells.items():
                if group[0] in AGGREGATED:
                    bump(counts, group, numerator, denominator)
    return counts


def _valid_item(entity: Entity, until_day: int | None) -> tuple[str, str, ItemData] | None:
    slot = entity.slot("")
    if slot is None or not slot.valid:
        return None
    data = data_of(slot, ItemData)
    if not data.active:
        return None
    if until_day is not None and slot.day > until_day:
        return None  # not yet in the catalogue at the end of the period
    return slot.department, slot.division, data


def onboarding(items: Iterable[Entity], until_day: int | None = None, into: Counts | None = None) -> Counts:
    """监管事项入驻率: active items with ``onboarded`` / active items (catalogue as of ``until_day``)."""
    counts: Counts = {} if into is None else into
    for entity in items:
        found = _valid_item(entity, until_day)
        if found is not None:
            department, division, data = found
            bump(counts, (ONBOARDING, department, division), int(data.onboarded), 1)
    return counts


def coverage(
    items: Iterable[Entity],
    marks: Mapping[str, Mapping[int, int]],
    start_day: int,
    end_day: int,
    into: Counts | None = None,
) -> Counts:
    """双随机覆盖率: active 双随机 items with ≥ 1 valid 双随机 inspection in the period / those items."""
    counts: Counts = {} if into is None else into
    for entity in items:
        found = _valid_item(entity, end_day)
        if found is None or not found[2].double_random:
            continue
        department, division, _ = found
        days = marks.get(entity.ident, {})
        covered = any(count > 0 and start_day <= day <= end_day for day, count in days.items())
        bump(counts, (COVERAGE, department, division), int(covered), 1)
    return counts


def published(entity: Entity) -> DisclosureData | None:
    """The data of a disclosure whose latest version is valid and currently published, else None."""
    slot = entity.slot("")
    if slot is None or not slot.valid:
        return None
    data = data_of(slot, DisclosureData)
    return data if data.status == "published" else None


def disclosure_violations(entity: Entity, rules: Rules, now: float) -> list[str]:
    """Violations of a currently published disclosure, evaluated at ``now`` (docs/contract.md §7)."""
    data = published(entity)
    if data is None:
        return []
    return violations_at_rest(data, entity.slots[""].day, rules) + violations_due(data, rules, now)


def violations_at_rest(data: DisclosureData, decided_day: int, rules: Rules) -> list[str]:
    """The violations of a published disclosure that do not depend on the time: exposure, procedure,
    late publication."""
    found: list[str] = []
    if data.exposed:
        found.append("personal_info_exposed")
    if data.procedure == "simple":
        found.append("simple_procedure_published")
    published_at = data.published_at
    if published_at is not None and published_at > publish_deadline(decided_day, rules):
        found.append("published_late")
    return found


def violations_due(data: DisclosureData, rules: Rules, now: float) -> list[str]:
    """The violations a published disclosure has at ``now`` because it should have been withdrawn."""
    found: list[str] = []
    until = data.publicity_until
    # Only ask the calendar once the publicity period is over: a deadline years ahead would be a
    # working-day question the calendar cannot answer yet (a counted fallback) for no reason.
    if (
        until is not None
        and now > end_of_day_epoch(int(until))
        and now > rules.deadline(int(until), rules.withdraw_within)
    ):
        found.append("expired_not_withdrawn")
    revoked_at = data.revoked_at
    if revoked_at is not None and now > rules.deadline(day_of_epoch(revoked_at), rules.withdraw_within):
        found.append("revoked_not_withdrawn")
    return found


def withdrawal_due_from(data: DisclosureData) -> float | None:
    """The earliest instant a published disclosure can be due for withdrawal, or None if never.

    A lower bound (the end of the last publicity day, or the revocation itself): the exact limit
    counts working days after it, which :func:`violations_due` asks the calendar for only once the
    bound has passed.
    """
    bounds = []
    if data.publicity_until is not None:
        bounds.append(end_of_day_epoch(int(data.publicity_until)))
    if data.revoked_at is not None:
        bounds.append(data.revoked_at)
    return min(bounds) if bounds else None


def compliance(
    disclosures: Iterable[Entity],
    rules: Rules,
    now: float,
    *,
    into: Counts | None = None,
    violations: dict[tuple[str, str], int] | None = None,
    decided: tuple[int, int] | None = None,
) -> Counts:
    """处罚公开合规率 at ``now``; also tallies violations per (department, violation) when asked.

    ``decided`` limits it to disclosures decided in that day range (a report's period, docs/contract.md §4);
    without it every published disclosure counts (the metrics' ``now``).
    """
    counts: Counts = {} if into is None else into
    for entity in disclosures:
        if published(entity) is None:
            continue
        slot = entity.slots[""]
        if decided is not None and not decided[0] <= slot.day <= decided[1]:
            continue
        found = disclosure_violations(entity, rules, now)
        bump(counts, (COMPLIANCE, slot.department, slot.division), int(not found), 1)
        if violations is not None:
            for violation in found:
                key = (slot.department, violation)
                violations[key] = violations.get(key, 0) + 1
    return counts


def event_gauges(
    events: Iterable[Entity], now: float
) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str, str], int], int]:
    """Open and overdue events by (kind, department, division), and the number of orphans."""
    open_events: dict[tuple[str, str, str], int] = {}
    overdue: dict[tuple[str, str, str], int] = {}
    orphans = 0
    for entity in events:
        if isinstance(entity, EventEntity):
            found = entity.open_labels()  # as settled: the share of its slots now
            if found is None:
                created = entity.created
                if (entity.deadline is None or created is None or not created.valid) and entity.any_valid():
                    orphans += 1
                continue
            key, deadline = found
        else:
            view: EventView | None = entity.view
            if view is None:
                if entity.any_valid():
                    orphans += 1
                continue
            if view.status != "open":
                continue
            key, deadline = (view.kind, view.department, view.division), view.deadline
        open_events[key] = open_events.get(key, 0) + 1
        if now > deadline:
            overdue[key] = overdue.get(key, 0) + 1
    return open_events, overdue, orphans


def requests_open(requests: Iterable[Entity]) -> dict[tuple[str, str, str], int]:
    """Withdraw/modify applications submitted, not yet executed or rejected, by (department, kind, reason)."""
    counts: dict[tuple[str, str, str], int] = {}
    for entity in requests:
        submitted = entity.slot("submitted")
        if submitted is None or not submitted.valid:
            continue
        if any((s := entity.slot(f)) is not None and s.valid for f in ("executed", "rejected")):
            continue
        data = data_of(submitted, RequestData)
        key = (submitted.department, data.kind, data.reason)
        counts[key] = counts.get(key, 0) + 1
    return counts


def withdrawals(
    aggregates: Mapping[int, Mapping[Group, list[int]]],
    start_day: int,
    end_day: int,
    into: dict[str, tuple[int, int, set[str]]] | None = None,
) -> dict[str, tuple[int, int, set[str]]]:
    """Executed withdraw/modify applications submitted in [start_day, end_day], per department:
    (executed, working days from submitted to executed in all, distinct executed batch ids);
    docs/contract.md §7."""
    found: dict[str, tuple[int, int, set[str]]] = {} if into is None else into
    for day, cells in aggregates.items():
        if not start_day <= day <= end_day:
            continue
        for (indicator, department, _), (numerator, denominator) in cells.items():
            if indicator == WITHDRAWAL_DAYS:
                executed, days, batches = found.get(department, (0, 0, set()))
                found[department] = (executed + denominator, days + numerator, batches)
            elif indicator.startswith(WITHDRAWAL_BATCH_PREFIX) and numerator > 0:
                executed, days, batches = found.get(department, (0, 0, set()))
                batches.add(indicator.removeprefix(WITHDRAWAL_BATCH_PREFIX))
                found[department] = (executed, days, batches)
    return found


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator, or None (undefined) when the denominator is zero."""
    return None if denominator == 0 else numerator / denominator
