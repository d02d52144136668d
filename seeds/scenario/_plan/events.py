"""The year's 监管事件: when each is created, by whom, with which deadline, and how it ends.

Events are created day by day (this year's, then the previous year's last week), then this year's
endings are decided: cancelled (some after handling), left open in December, or handled on time or
late.  Volumes: the package docstring.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime, time, timedelta

from schemas.registry import Department
from seeds.scenario._calendar import TZ, Calendar, end_of
from seeds.scenario._plan.departments import profile
from seeds.scenario._plan.model import Plan, PlannedEvent, PlannedItem, Reassignment
from seeds.scenario._plan.rhythm import EVENT_HOURS, apportion, at_hour, day_weights, days_of, office_time
from seeds.scenario._world import World

_KINDS = ("complaint", "risk_warning", "clue", "collaborative")
_KIND_WEIGHTS = (45, 20, 20, 15)
# The default handling deadlines of docs/contract.md §6, in working days.
_DEFAULT_SLA = {"risk_warning": 3, "collaborative": 5, "complaint": 7, "clue": 15}


def plan_events(rng: random.Random, world: World, plan: Plan) -> Iterator[PlannedEvent]:
    """Every event with its life decided, recorded into `plan`, in the order its messages are written.

    This year's events are decided in full before the first is yielded; the previous year's each
    get their handling drawn just before they are yielded, after this year's messages have drawn
    from the same `rng` (the order that fixes what a seed produces).
    """
    events = _create(rng, world, plan.items)
    _decide_endings(rng, world, [e for e in events if e.created.year == world.year])
    for event in events:
        if event.created.year != world.year:
            _finish_handled(rng, world.calendar, event)
        plan.events.append(event)
        yield event


def default_deadline(calendar: Calendar, kind: str, created: datetime) -> datetime:
    """The handling deadline when no record sets one (docs/contract.md §6).

    The end (23:59:59) of the kind's N-th working day after the day of `created`.
    """
    return end_of(calendar.workday_after(created.date(), _DEFAULT_SLA[kind]))


def _create(rng: random.Random, world: World, items: Sequence[PlannedItem]) -> list[PlannedEvent]:
    """The created events: this year's day by day, then the previous year's last week."""
    days = days_of(world.year)
    total = world.scaled(20000, 20) + world.scaled(240, 2)
    per_day = apportion(total, day_weights(world.calendar, days, weekend=0.25, holiday=0.12))
    weights = [profile(d).events for d in world.departments]
    active: dict[str, list[PlannedItem]] = {}
    for item in items:
        if item.active:
            active.setdefault(item.department, []).append(item)
    events: list[PlannedEvent] = []
    for day, count in zip(days, per_day, strict=True):
        stamps = sorted(at_hour(rng, day, EVENT_HOURS) for _ in range(count))
        for n, created in enumerate(stamps, start=1):
            event_id = f"EV{day:%Y%m%d}{n:05d}"
            events.append(
                _plan_event(rng, world, event_id=event_id, created=created, weights=weights, active=active)
            )
    # The previous year's last week: the same life, but the previous year's cohort.
    previous = date(world.year - 1, 12, 25)
    for n in range(world.scaled(40, 1)):
        created = at_hour(rng, previous + timedelta(days=n % 7), EVENT_HOURS)
        event_id = f"EV{created:%Y%m%d}{90000 + n:05d}"
        events.append(
            _plan_event(rng, world, event_id=event_id, created=created, weights=weights, active=active)
        )
    return events


def _plan_event(
    rng: random.Random,
    world: World,
    *,
    event_id: str,
    created: datetime,
    weights: Sequence[float],
    active: Mapping[str, list[PlannedItem]],
) -> PlannedEvent:
    kind = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
    department = rng.choices(world.departments, weights=weights)[0]
    items = active.get(department.code, [])
    item_code = rng.choice(items).item_code if items and rng.random() < 0.7 else None
    calendar = world.calendar
    deadline = None
    if rng.random() < 0.6:
        deadline = end_of(calendar.workday_after(created.date(), rng.randint(2, 10)), time(17, 30))
    event = PlannedEvent(
        event_id=event_id,
        kind=kind,
        department=department.code,
        division=world.division_for(rng, department),
        created=created,
        item_code=item_code,
        deadline=deadline,
        effective_deadline=deadline or default_deadline(calendar, kind, created),
    )
    if rng.random() < 0.03:
        event.reassigned = _reassignment(rng, world, department, created)
        if event.reassigned.deadline is not None:
            event.effective_deadline = event.reassigned.deadline
    return event


def _reassignment(
    rng: random.Random, world: World, department: Department, created: datetime
) -> Reassignment:
    """退回改派 within hours, preferably to a department of the same division."""
    at = created + timedelta(minutes=rng.randint(30, 240))
    others = [d for d in world.departments if d.code != department.code]
    same_division = [d for d in others if d.division == department.division]
    target = rng.choice(same_division or others)
    deadline = None
    if rng.random() < 0.5:
        deadline = end_of(world.calendar.workday_after(at.date(), rng.randint(2, 10)), time(17, 30))
    return Reassignment(at, target.code, deadline)


def _decide_endings(rng: random.Random, world: World, this_year: list[PlannedEvent]) -> None:
    """Which of this year's events are cancelled (some after handling), left open, or handled."""
    cancelled = world.scaled(240, 2)
    order = list(range(len(this_year)))
    rng.shuffle(order)
    cancel = set(order[:cancelled])
    after_handling = set(order[: world.scaled(10, 1)])
    december = datetime(world.year, 12, 1, tzinfo=TZ)
    late_in_year = [i for i in order[cancelled:] if this_year[i].created >= december]
    still_open = set(late_in_year[: world.scaled(2, 1)])
    for index, event in enumerate(this_year):
        if index in cancel:
            _finish_cancelled(rng, world.calendar, event, handled_first=index in after_handling)
        elif index not in still_open:
            _finish_handled(rng, world.calendar, event)
        else:
            _sign(rng, world.calendar, event)


def _sign(rng: random.Random, calendar: Calendar, event: PlannedEvent) -> None:
    """97% are signed within hours, or first thing the next working day."""
    if rng.random() >= 0.97:
        return
    start = event.assigned_at
    signed = start + timedelta(minutes=rng.randint(5, 180))
    if signed.date() != start.date() or signed.hour >= 20:
        signed = office_time(rng, calendar.workday_after(start.date(), 1), time(8, 30), time(9, 15))
    event.signed = signed


def _finish_handled(rng: random.Random, calendar: Calendar, event: PlannedEvent) -> None:
    _sign(rng, calendar, event)
    base = event.assigned_at.date()
    deadline_day = event.effective_deadline.date()
    if rng.random() < 0.965:
        last = deadline_day
        if event.effective_deadline.time() == time(23, 59, 59):
            # A default deadline: never handled on its last day, so the truth does not depend on
            # how that day is counted.
            last = max(calendar.workdays_between(base, deadline_day)[:-1] or [deadline_day])
        day = rng.choice(calendar.workdays_between(base, last) or [calendar.workday_after(base, 1)])
    else:
        day = calendar.workday_after(deadline_day, rng.randint(1, 8))
    handled = office_time(rng, day, time(9, 30), time(17, 0))
    if event.signed is not None and handled <= event.signed:
        handled = event.signed + timedelta(minutes=rng.randint(10, 60))
    event.handled = handled


def _finish_cancelled(
    rng: random.Random, calendar: Calendar, event: PlannedEvent, *, handled_first: bool
) -> None:
    if handled_first:
        _finish_handled(rng, calendar, event)
        handled = event.handled or event.created
        event.cancelled = handled + timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 5))
        return
    _sign(rng, calendar, event)
    start = event.signed or event.assigned_at
    event.cancelled = office_time(rng, calendar.workday_after(start.date(), rng.randint(1, 5)))
