"""The true indicators of the year: numerators and denominators counted from the plan itself.

Never computed by running the daemon's code, so a test can compare the daemon's report with it:
overall, per department and per division.  Data accuracy counts one record per planned record (a
message first sent wrong and its correction are one record) and each undecodable message as one
inaccurate record; the package docstring gives the conventions where docs/contract.md §7 leaves a
choice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from schemas.registry import UNKNOWN_DIVISION as REGISTRY_UNKNOWN_DIVISION
from schemas.registry import UNREGISTERED_DEPARTMENT
from seeds.scenario._calendar import Calendar, end_of, rfc3339
from seeds.scenario._plan.model import Plan, PlannedDisclosure
from seeds.scenario._world import World

INDICATOR_IDS: tuple[str, ...] = (
    "event_handling_rate",
    "event_on_time_rate",
    "data_accuracy_rate",
    "item_onboarding_rate",
    "double_random_coverage_rate",
    "mobile_enforcement_rate",
    "disclosure_on_time_rate",
    "disclosure_compliance_rate",
)
UNREGISTERED = UNREGISTERED_DEPARTMENT
UNKNOWN_DIVISION = REGISTRY_UNKNOWN_DIVISION
# The publication and withdrawal deadlines of docs/contract.md §6, in working days.
_PUBLISH_DAYS = 7
_WITHDRAW_DAYS = 3

Ratio = tuple[int, int]


@dataclass
class _Truth:
    """Numerators and denominators per (department, division); the order of `add`s does not matter."""

    counts: dict[tuple[str, str], dict[str, list[int]]] = field(default_factory=dict)

    def add(self, indicator: str, department: str, division: str, hit: bool) -> None:
        groups = self.counts.setdefault((department, division), {})
        pair = groups.setdefault(indicator, [0, 0])
        pair[0] += int(hit)
        pair[1] += 1

    def result(self, indicators: Sequence[str] = INDICATOR_IDS) -> dict[str, Any]:
        overall = {i: [0, 0] for i in indicators}
        by_department: dict[str, dict[str, list[int]]] = {}
        by_division: dict[str, dict[str, list[int]]] = {}
        for (department, division), groups in sorted(self.counts.items()):
            for indicator, (hit, total) in groups.items():
                if indicator not in overall:
                    continue
                for target in (
                    overall,
                    by_department.setdefault(department, {i: [0, 0] for i in indicators}),
                    by_division.setdefault(division, {i: [0, 0] for i in indicators}),
                ):
                    target[indicator][0] += hit
                    target[indicator][1] += total

        def frozen(values: dict[str, list[int]]) -> dict[str, Ratio]:
            return {i: (v[0], v[1]) for i, v in values.items()}

        return {
            "indicators": frozen(overall),
            "by_department": {k: frozen(v) for k, v in sorted(by_department.items())},
            "by_division": {k: frozen(v) for k, v in sorted(by_division.items())},
        }

    def accurate(self, year: int, department: str, division: str, period: date | datetime) -> None:
        """One accurate record, counted if its period is in `year`."""
        if period.year == year:
            self.add("data_accuracy_rate", department, division, True)


def truth(
    world: World,
    plan: Plan,
    *,
    undecodable: Iterable[datetime],
    delivery_facts: Mapping[str, int],
    messages: Mapping[str, int],
    as_of: datetime,
) -> dict[str, Any]:
    """The year's indicators (overall and per group), and what the scenario holds."""
    tally = _Truth()
    _count_catalogue(tally, world, plan)
    _count_events(tally, world, plan)
    _count_inspections(tally, world, plan)
    _count_disclosures(tally, world, plan, as_of)
    for moment in undecodable:
        if moment.year == world.year:
            tally.add("data_accuracy_rate", UNREGISTERED, UNKNOWN_DIVISION, False)
    facts = Counter(delivery_facts)
    facts.update(_plan_facts(plan))
    result = tally.result()
    result.update(
        {
            "year": world.year,
            "seed": world.seed,
            "scale": world.scale,
            "as_of": rfc3339(as_of),
            "messages": dict(messages),
            "facts": dict(sorted(facts.items())),
            "cleanup": {
                "units": list(plan.cleanup_units),
                "batches": facts["cleanup_batches"],
                "disclosures": len(plan.legacy),
            },
        }
    )
    return result


def compliance(
    disclosures: Iterable[PlannedDisclosure], year: int, now: datetime, calendar: Calendar
) -> dict[str, Any]:
    """`disclosure_compliance_rate` of the decisions of `year` at `now`, overall and per group."""
    tally = _Truth()
    for disclosure in disclosures:
        if disclosure.decided.year == year:
            _count_compliance(tally, disclosure, now, calendar)
    return tally.result(("disclosure_compliance_rate",))


def _count_catalogue(tally: _Truth, world: World, plan: Plan) -> None:
    for item in plan.items:
        tally.accurate(world.year, item.department, item.division, item.versions[-1].at)
        if item.active:
            tally.add("item_onboarding_rate", item.department, item.division, item.onboarded)
            if item.double_random:
                tally.add("double_random_coverage_rate", item.department, item.division, item.covered)


def _count_events(tally: _Truth, world: World, plan: Plan) -> None:
    for event in plan.events:
        department = event.responsible
        for _ in event.actions():
            tally.accurate(world.year, department, event.division, event.created)
        if event.created.year != world.year or event.cancelled is not None:
            continue
        tally.add("event_handling_rate", department, event.division, event.handled is not None)
        if event.handled is not None:
            on_time = event.handled <= event.effective_deadline
            tally.add("event_on_time_rate", department, event.division, on_time)


def _count_inspections(tally: _Truth, world: World, plan: Plan) -> None:
    for inspection in plan.inspections:
        department = inspection.item.department
        tally.accurate(world.year, department, inspection.division, inspection.at)
        if inspection.at.year == world.year:
            tally.add(
                "mobile_enforcement_rate", department, inspection.division, inspection.channel == "mobile"
            )


def _count_disclosures(tally: _Truth, world: World, plan: Plan, as_of: datetime) -> None:
    """This year's decisions and every request (the clean-up's too); the old results count no record.

    Compliance is judged at the scenario's `as_of`; a request counts in the period of its
    `submitted`, so the requests after the year (with `until`) count in no figure of the year.
    """
    for disclosure in plan.disclosures:
        tally.accurate(world.year, disclosure.department, disclosure.division, disclosure.decided)
        on_time = disclosure.published_at <= _publish_limit(disclosure, world.calendar)
        tally.add("disclosure_on_time_rate", disclosure.department, disclosure.division, on_time)
        if disclosure.decided.year == world.year:
            _count_compliance(tally, disclosure, as_of, world.calendar)
    for request in plan.requests:
        division = world.department(request.department).division
        for _ in request.steps:
            tally.accurate(world.year, request.department, division, request.steps[0].at)


def _plan_facts(plan: Plan) -> Counter[str]:
    """What the plan holds, beside the indicators: multi-action events, request steps, clean-up batches."""
    facts: Counter[str] = Counter()
    for event in plan.events:
        if len(event.actions()) > 1:
            facts["events_multi_action"] += 1
    if plan.never_withdrawn:
        facts["disclosures_never_withdrawn"] = len(plan.never_withdrawn)
    batches = set()
    for request in plan.requests:
        for step in request.steps:
            facts[f"requests.{request.reason}.{step.action}"] += 1
        if request.batch_id is not None and request.batch_id not in batches:
            batches.add(request.batch_id)
            facts["cleanup_batches"] += 1
    return facts


def _publish_limit(disclosure: PlannedDisclosure, calendar: Calendar) -> datetime:
    return end_of(calendar.workday_after(disclosure.decided, _PUBLISH_DAYS))


def violations(disclosure: PlannedDisclosure, now: datetime, calendar: Calendar) -> list[str]:
    """The violations of docs/contract.md §7 of `disclosure` were it published at `now`."""
    found = []
    if disclosure.exposes_personal_info:
        found.append("personal_info_exposed")
    if disclosure.procedure == "simple":
        found.append("simple_procedure_published")
    if disclosure.published_at > _publish_limit(disclosure, calendar):
        found.append("published_late")
    if disclosure.publicity_until is not None:
        limit = end_of(calendar.workday_after(disclosure.publicity_until, _WITHDRAW_DAYS))
        if now > limit:
            found.append("expired_not_withdrawn")
    if disclosure.revoked_at is not None:
        limit = end_of(calendar.workday_after(disclosure.revoked_at.date(), _WITHDRAW_DAYS))
        if now > limit:
            found.append("revoked_not_withdrawn")
    return found


def _count_compliance(
    tally: _Truth, disclosure: PlannedDisclosure, now: datetime, calendar: Calendar
) -> None:
    # Every message is ingested before `as_of` ≤ now, so the plan's final state is the state now.
    if disclosure.status == "published":
        hit = not violations(disclosure, now, calendar)
        tally.add("disclosure_compliance_rate", disclosure.department, disclosure.division, hit)
