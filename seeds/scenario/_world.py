"""What every part of the generator reads: the seed, the year, its calendar, the registry, the scale."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime

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
    #: the scenario's end: nothing is planned at or after it, and nothing ingested.
    as_of: datetime

    @classmethod
    def of(cls, seed: int, year: int, scale: float, registry: Registry) -> World:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        return cls(
            seed=seed,
            year=year,
            scale=scale,
            registry=registry,
            # From before the oldest clean-up result (2015) to past the end of the longest publicity
            # period (3 years) of a decision of the year, and its withdrawal deadline.
            calendar=Calendar(date(2014, 1, 1), date(year + 4, 12, 31)),
            departments=tuple(registry.departments.values()),
            districts=tuple(d for d in registry.divisions if d != "330200"),
            as_of=datetime(year + 1, 3, 1, tzinfo=TZ),
        )

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
