"""The year's 行政检查: on which days, of which items, under a 双随机 task or not, by which channel.

The schedule makes every covered 双随机 item inspected under a task at least once; the uncovered
ones are inspected under a task only in the previous year.  Volumes: the package docstring.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time
from typing import NamedTuple

from seeds.scenario._identifiers import resident_id, uscc
from seeds.scenario._plan.departments import profile
from seeds.scenario._plan.model import Plan, PlannedInspection, PlannedItem
from seeds.scenario._plan.rhythm import apportion, day_weights, days_of, office_time
from seeds.scenario._world import World

_RESULTS = ("compliant", "non_compliant", "target_not_found", "other")


class _Slot(NamedTuple):
    day: date
    item: PlannedItem
    tasked: bool
    channel: str


def plan_inspections(rng: random.Random, world: World, plan: Plan) -> Iterator[PlannedInspection]:
    """Every inspection, recorded into `plan`, in the order its message is written.

    Lazy on purpose: the caller writes each inspection's message, drawing from the same `rng`,
    before the next one is drawn; that interleaving is part of what a seed produces.
    """
    for inspection in _inspections(rng, world, plan.items):
        plan.inspections.append(inspection)
        yield inspection


def _inspections(
    rng: random.Random, world: World, items: Sequence[PlannedItem]
) -> Iterator[PlannedInspection]:
    slots = _schedule(rng, world, items)
    for serial, slot in enumerate(slots, start=1):
        at = office_time(rng, slot.day, time(8, 30), time(18, 0))
        yield _inspection(rng, world, serial, slot.item, at, tasked=slot.tasked, channel=slot.channel)
    # The uncovered 双随机 items were inspected under a task, but in the previous year; this year
    # only outside any task, which must not count as coverage.
    serial = len(slots)
    workdays = [d for d in days_of(world.year) if world.calendar.is_workday(d)]
    before_the_year = world.calendar.workday_after(date(world.year - 1, 12, 10), 1)
    for item in items:
        if item.double_random and item.active and not item.covered:
            serial += 1
            at = office_time(rng, before_the_year)
            yield _inspection(rng, world, serial, item, at, tasked=True, channel="mobile")
            serial += 1
            at = office_time(rng, rng.choice(workdays))
            yield _inspection(rng, world, serial, item, at, tasked=False, channel="mobile")


def _schedule(rng: random.Random, world: World, items: Sequence[PlannedItem]) -> list[_Slot]:
    """The year's inspections except the uncovered items': day, item, task or not, and channel."""
    total = world.scaled(30000, 20)
    not_mobile = world.scaled(6, 1)
    days = days_of(world.year)
    covered = [i for i in items if i.double_random and i.active and i.covered]
    # Each uncovered 双随机 item gets one of the year's inspections outside any task (see above).
    total -= sum(1 for i in items if i.double_random and i.active and not i.covered)
    per_day = apportion(total, day_weights(world.calendar, days, weekend=0.06, holiday=0.03))
    slots = [day for day, count in zip(days, per_day, strict=True) for _ in range(count)]
    active_items = [i for i in items if i.active]
    weights = [profile(world.department(i.department)).inspections for i in active_items]
    if total < len(covered):
        raise ValueError(f"scale {world.scale} leaves fewer inspections than covered 双随机 items")
    plan: list[tuple[PlannedItem, bool]] = [(item, True) for item in covered]
    while len(plan) < total:
        if covered and rng.random() < 0.4:
            plan.append((rng.choice(covered), True))
        else:
            plan.append((rng.choices(active_items, weights=weights)[0], False))
    plan = plan[:total]
    rng.shuffle(plan)
    channels = ["mobile"] * (total - not_mobile) + ["pc", "pc", "paper"] * not_mobile
    channels = channels[:total]
    rng.shuffle(channels)
    slots.sort()
    return [
        _Slot(day, item, tasked, channel)
        for day, (item, tasked), channel in zip(slots, plan, channels, strict=True)
    ]


def _inspection(
    rng: random.Random,
    world: World,
    serial: int,
    item: PlannedItem,
    at: datetime,
    *,
    tasked: bool,
    channel: str,
) -> PlannedInspection:
    department = world.department(item.department)
    division = world.division_for(rng, department)
    roll = rng.random()
    if roll < 0.85:
        target = {"type": "legal_person", "id": uscc(rng, rng.choice(world.districts))}
    elif roll < 0.97:
        target = {"type": "natural_person", "id": resident_id(rng)}
    else:
        target = {"type": "other", "id": f"{department.division}{rng.randrange(10**8):08d}S"}
    inspectors = sorted({f"ZJ{department.division}{rng.randrange(100000):05d}" for _ in range(2)})
    quarter = (at.month - 1) // 3 + 1
    return PlannedInspection(
        record_id=f"JC{at:%Y%m%d}{serial:06d}",
        item=item,
        division=division,
        at=at,
        channel=channel,
        task=f"SSJ-{at.year}Q{quarter}-{item.department}" if tasked else None,
        target=target,
        inspectors=tuple(inspectors),
        result=rng.choices(_RESULTS, weights=(88, 9, 2, 1))[0],
    )
