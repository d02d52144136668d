"""The catalogue of 监管事项: which items exist, which are onboarded, 双随机 or retired, and when.

Items are spread over the departments by profile and named after what each inspects; their states
at the end of the year are decided first, then each item's versions in the year (the January load
or a later addition, a mid-year onboarding, a deactivation).  Volumes: the package docstring.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from seeds.scenario._calendar import TZ
from seeds.scenario._plan.departments import profile
from seeds.scenario._plan.model import ItemVersion, Plan, PlannedItem
from seeds.scenario._plan.rhythm import apportion, office_time
from seeds.scenario._world import World


def plan_catalogue(rng: random.Random, world: World, plan: Plan) -> None:
    """Record into `plan` the year's items, their end-of-year state, and which were added late."""
    inactive = world.scaled(40, 1)
    items = _name_items(world, world.scaled(1000, 10) + inactive)
    shuffled = list(items)
    rng.shuffle(shuffled)
    for item in shuffled[:inactive]:
        item.active = False
        item.double_random = rng.random() < 0.4
        item.onboarded = rng.random() < 0.7
    actives = shuffled[inactive:]
    for item in actives[: world.scaled(33, 1)]:
        item.onboarded = False
    double_random, uncovered = world.scaled(400, 4), world.scaled(1, 1)
    # 双随机 items are drawn from departments that inspect, weighted like their inspections.
    pool = sorted(
        actives, key=lambda it: -rng.random() * profile(world.department(it.department)).inspections
    )
    for item in pool[:double_random]:
        item.double_random = True
    for item in pool[:uncovered]:
        item.covered = False
    for item in pool[uncovered:double_random]:
        item.covered = True
    for index in rng.sample(range(len(items)), k=len(items) // 20):
        items[index].added_late = True
    plan.items = items


def _name_items(world: World, total: int) -> list[PlannedItem]:
    """`total` items spread over the departments by profile, named after what each inspects."""
    counts = apportion(total, [profile(d).items for d in world.departments])
    items: list[PlannedItem] = []
    for department, count in zip(world.departments, counts, strict=True):
        objects = profile(department).objects
        for n in range(count):
            target = objects[n % len(objects)]
            round_no = n // len(objects)
            kind = ("行政检查", "行政处罚", "行政强制")[round_no % 3]
            name = f"对{target}的{kind}" + (f"（{round_no // 3 + 1}）" if round_no >= 3 else "")
            items.append(
                PlannedItem(
                    item_code=f"JG{department.division}{len(items) + 1:06d}",
                    name=name,
                    department=department.code,
                    division=department.division,
                    double_random=False,
                    onboarded=True,
                    active=True,
                )
            )
    return items


def plan_versions(rng: random.Random, world: World, plan: Plan) -> Iterator[PlannedItem]:
    """Each item with its `versions` decided, one at a time.

    Lazy on purpose: the caller writes an item's messages, drawing from the same `rng`, before the
    next item's versions are drawn; that interleaving is part of what a seed produces.
    """
    load_days = world.calendar.workdays_between(date(world.year, 1, 2), date(world.year, 1, 16))
    for item in plan.items:
        if item.added_late:
            first = office_time(rng, date(world.year, 2, 1) + timedelta(days=rng.randrange(240)))
        else:
            first = office_time(rng, rng.choice(load_days))
        planned: list[ItemVersion] = []
        if item.onboarded and rng.random() < 0.15:
            planned.append(ItemVersion(first, onboarded=False, active=True))
            onboarding = first + timedelta(days=rng.randint(10, 150), hours=rng.randint(0, 8))
            planned.append(ItemVersion(onboarding, onboarded=True, active=True))
        else:
            planned.append(ItemVersion(first, item.onboarded, active=True))
        if not item.active:
            retired = planned[-1].at + timedelta(days=rng.randint(20, 200))
            planned.append(ItemVersion(retired, item.onboarded, active=False))
        item.versions = _inside_the_year(world.year, planned)
        yield item


def _inside_the_year(year: int, planned: list[ItemVersion]) -> list[ItemVersion]:
    """The versions moved before the year's end, a minute apart at least, in their order."""
    year_end = datetime(year, 12, 29, 10, 0, tzinfo=TZ)
    versions: list[ItemVersion] = []
    previous = planned[0].at - timedelta(minutes=1)
    for position, version in enumerate(planned):
        at = max(min(version.at, year_end + timedelta(minutes=position)), previous + timedelta(minutes=1))
        previous = at
        versions.append(version._replace(at=at))
    return versions
