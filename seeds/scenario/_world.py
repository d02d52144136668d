"""What every part of the generator reads: the seed, the year, its calendar, the registry, the scale."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schemas.registry import Department, Registry
from seeds.scenario._calendar import TZ, Calendar


@dataclass(frozen=True)
class World:
    """The fixed world of one generated year, which every planner reads; built by `World.of`."""

    seed: int
    year: int
    scale: float
    registry: Registry
    calendar: Calendar
    #: in registry order: the order weighted draws pick from, so part of what a seed means.
    departments: tuple[Department, ...]
    #: every division except the city itself, where city-level departments also act.
    districts: tuple[str, ...]
    #: the end of the year's traffic (1 March of the next year): the year's own work is planned
    #: before it; without `until`, nothing is planned or ingested at or after it.
    as_of: datetime
    #: when given, the disclosures' lifecycle goes on after `as_of` up to this instant.
    until: datetime | None = None

    @classmethod
    def of(
        cls, seed: int, year: int, scale: float, registry: Registry, *, until: datetime | None = None
    ) -> World:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        as_of = datetime(year + 1, 3, 1, tzinfo=TZ)
        if until is not None:
            if until.utcoffset() is None:
                raise ValueError(f"until must be timezone-aware, got {until!r}")
            if until < as_of:
                raise ValueError(f"until ({until.isoformat()}) is before the year's traffic ends ({as_of})")
        return cls(
            seed=seed,
            year=year,
            scale=scale,
            registry=registry,
            calendar=Calendar(date(2014, 1, 1), _calendar_end(year, until)),
            departments=tuple(registry.departments.values()),
            districts=tuple(d for d in registry.divisions if d != "330200"),
            as_of=as_of,
            until=until,
        )

    @property
    def end(self) -> datetime:
        """The scenario's end: nothing is planned or ingested at or after it."""
        return self.as_of if self.until is None else self.until

    def rng(self, subject: str) -> random.Random:
        """The random stream of one subject; subjects never share one, so each can change alone."""
        return random.Random(f"{self.seed}:{self.year}:{self.scale}:{subject}")

    def scaled(self, value: float, floor: int = 0) -> int:
        """A volume of ``scale=1.0`` at this scale, never below `floor` (rare kinds keep one)."""
        return max(floor, round(value * self.scale))

    def department(self, code: str) -> Department:
        return self.registry.departments[code]

    def division_for(self, rng: random.Random, department: Department) -> str:
        """Where a department acts: a district's in its own division, a city's there (40%) or any district."""
        if department.level == "district" or rng.random() < 0.4:
            return department.division
        return rng.choice(self.districts)


def _calendar_end(year: int, until: datetime | None) -> date:
    """The last day the plan may ask the calendar about.

    Past the end of the longest publicity period (3 years) of a decision of the year and its
    withdrawal deadline; with `until`, also past a withdrawal planned just before `until` and the
    working days that judge it.  The clean-up's oldest result (2015) fixes the start.
    """
    last = date(year + 4, 12, 31)
    if until is not None:
        last = max(last, (until + timedelta(days=400)).date())
    return last
