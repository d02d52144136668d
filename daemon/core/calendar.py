"""China's working-day calendar in Asia/Shanghai (docs/contract.md §6), for deadlines counted in working days.

A day's answer comes from, in order:

1. the override file, for every year it lists (a listed year is described completely by the file,
   so an operator can also correct a year the package gets wrong);
2. the ``chinese-calendar`` package: statutory holidays and 调休 make-up working days (2004–2026 in
   version 1.11; it raises ``NotImplementedError`` outside its range);
3. Monday–Friday. Such fallbacks are counted per year (`WorkingCalendar.fallback_counts`, exported as
   a metric) and logged once per year, because deadlines computed this way are wrong around holidays.

Every answer is memoised per date (and per argument tuple for the helpers): they run per event on
the hot path, and the calendar of a date never changes while the process runs. The memo tables grow
with the number of distinct dates seen (about 366 per year), not with the number of records.

Override file format (YAML)::

    2027:
      holidays:                  # weekdays that are not worked
        - 2027-01-01
        - 2027-02-06..2027-02-12 # inclusive range
      workdays:                  # weekend days that are worked (调休)
        - 2027-02-20
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import chinese_calendar
import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from daemon.config import Settings, describe_validation_error
from daemon.core.state.entities import Rules
from daemon.core.timeutil import SHANGHAI, day_of, day_of_epoch, end_of_day_epoch
from daemon.exceptions import ConfigError

__all__ = ["SHANGHAI", "WorkingCalendar", "local_date"]

_END_OF_DAY = time(23, 59, 59)
_RANGE_SEPARATOR = ".."
# A range longer than a year is a typo (e.g. a wrong year in one end), not a holiday.
_MAX_RANGE_DAYS = 366

_log = structlog.get_logger(__name__)


def local_date(moment: datetime) -> date:
    """The Asia/Shanghai calendar date of an aware *moment*."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: svmon timestamps carry an offset")
    return date.fromordinal(day_of(moment))


class _YearOverride(BaseModel):
    """One year of the override file; each entry is a date or an inclusive ``START..END`` range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holidays: list[date | str] = Field(default_factory=list)
    workdays: list[date | str] = Field(default_factory=list)

    @field_validator("holidays", "workdays", mode="before")
    @classmethod
    def _null_is_empty(cls, value: object) -> object:
        # `holidays:` with nothing under it parses as None in YAML; it means "none".
        return [] if value is None else value


_OVERRIDE_FILE = TypeAdapter(dict[int, _YearOverride | None])


def _expand(entry: date | str) -> list[date]:
    if isinstance(entry, date):
        return [entry]
    first, separator, last = entry.partition(_RANGE_SEPARATOR)
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if separator else start
    except ValueError:
        raise ValueError(f"{entry!r} is neither YYYY-MM-DD nor YYYY-MM-DD..YYYY-MM-DD") from None
    if end < start:
        raise ValueError(f"range {entry!r} ends before it starts")
    if (end - start).days >= _MAX_RANGE_DAYS:
        raise ValueError(f"range {entry!r} is longer than a year")
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def _expand_all(year: int, kind: str, entries: Iterable[date | str], problems: list[str]) -> set[date]:
    days: set[date] = set()
    for index, entry in enumerate(entries):
        try:
            expanded = _expand(entry)
        except ValueError as exc:
            problems.append(f"  - {year}.{kind}.{index}: {exc}")
            continue
        outside = [day for day in expanded if day.year != year]
        if outside:
            problems.append(f"  - {year}.{kind}.{index}: {outside[0].isoformat()} is not in {year}")
            continue
        days.update(expanded)
    return days


def _load_override_file(path: Path) -> dict[int, tuple[frozenset[date], frozenset[date]]]:
    """Parse and check the override file; every problem is reported at once in a `ConfigError`."""
    heading = f"calendar override file {path} is invalid"
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"calendar override file {path}: cannot be read: {exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{heading}: not valid YAML: {exc}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{heading}: the top level must map years to {{holidays, workdays}}")
    try:
        parsed = _OVERRIDE_FILE.validate_python(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, heading, env_names=False)) from None

    problems: list[str] = []
    years: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
    for year, override in parsed.items():
        if not 1900 <= year <= 9999:
            problems.append(f"  - {year}: not a plausible year")
            continue
        lists = override or _YearOverride()
        holidays = _expand_all(year, "holidays", lists.holidays, problems)
        workdays = _expand_all(year, "workdays", lists.workdays, problems)
        for day in sorted(holidays & workdays):
            problems.append(f"  - {year}: {day.isoformat()} is listed as both a holiday and a workday")
        years[year] = (frozenset(holidays), frozenset(workdays))
    if problems:
        raise ConfigError("\n".join([f"{heading}:", *problems]))
    return years


class WorkingCalendar:
    """Answers "is this a working day?" and derives deadlines and working-day spans from it.

    Thread-safe: the memo tables only ever gain entries whose value does not depend on timing, and
    the fallback counters (read by the metrics scrape thread) are guarded by a lock.
    """

    def __init__(self, override_file: Path | None = None) -> None:
        self._overrides = _load_override_file(override_file) if override_file is not None else {}
        self._working: dict[date, bool] = {}
        self._nth: dict[tuple[date, int], date] = {}
        self._deadlines: dict[tuple[date, int], datetime] = {}
        self._spans: dict[tuple[date, date], int] = {}
        self._deadline_epochs: dict[tuple[int, int], float] = {}
        self._ordinal_spans: dict[tuple[int, int], int] = {}
        self._fallback_dates: dict[int, int] = {}
        self._lock = threading.Lock()

    @property
    def override_years(self) -> frozenset[int]:
        """The years the override file describes."""
        return frozenset(self._overrides)

    @property
    def fallback_count(self) -> int:
        """How many distinct dates were decided by the Monday–Friday fallback."""
        with self._lock:
            return sum(self._fallback_dates.values())

    @property
    def fallback_counts(self) -> dict[int, int]:
        """Per year, how many distinct dates were decided by the Monday–Friday fallback (a copy)."""
        with self._lock:
            return dict(self._fallback_dates)

    def is_working_day(self, day: date) -> bool:
        """Whether *day* (a calendar date in Asia/Shanghai) is a working day."""
        try:
            return self._working[day]
        except KeyError:
            pass
        # Only on a miss, so the hot path stays a dict lookup: a datetime would hash differently
        # from its date and silently bypass the memo (and the time zone conversion).
        if type(day) is not date:
            raise TypeError(f"expected a date, got {type(day).__name__}; use local_date() for timestamps")
        working = self._decide(day)
        self._working[day] = working
        return working

    def _decide(self, day: date) -> bool:
        override = self._overrides.get(day.year)
        if override is not None:
            holidays, workdays = override
            return day in workdays or (day.weekday() < 5 and day not in holidays)
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return self._fall_back(day)

    def _fall_back(self, day: date) -> bool:
        with self._lock:
            first = day.year not in self._fallback_dates
            self._fallback_dates[day.year] = self._fallback_dates.get(day.year, 0) + 1
        if first:
            _log.warning(
                "calendar_fallback",
                year=day.year,
                reason="chinese-calendar has no data for this year and the override file does not list it",
                effect="working days are Monday to Friday; deadlines around holidays will be wrong",
                fix="add the year's holidays and make-up days to calendar.override_file",
            )
        return day.weekday() < 5

    def nth_working_day_after(self, day: date, n: int) -> date:
        """The *n*-th working day strictly after *day* (n ≥ 1)."""
        key = (day, n)
        try:
            return self._nth[key]
        except KeyError:
            pass
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        current = day
        remaining = n
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        self._nth[key] = current
        return current

    def deadline_after(self, day: date, n: int) -> datetime:
        """The end (23:59:59 Asia/Shanghai) of the *n*-th working day after *day*, as an aware datetime."""
        key = (day, n)
        try:
            return self._deadlines[key]
        except KeyError:
            pass
        deadline = datetime.combine(self.nth_working_day_after(day, n), _END_OF_DAY, tzinfo=SHANGHAI)
        self._deadlines[key] = deadline
        return deadline

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days elapsed from *start*'s day to *end*'s day (Asia/Shanghai).

        Counts the working days after start's day up to and including end's day, so the same day is 0
        and a Friday-to-Monday span is 1; consistent with `nth_working_day_after` (a working day *d*
        is ``nth_working_day_after(start_day, working_days_between(start, d))``). Negative when *end*
        is before *start*.
        """
        first, last = local_date(start), local_date(end)
        key = (first, last)
        try:
            return self._spans[key]
        except KeyError:
            pass
        count = -self._count_after(last, first) if last < first else self._count_after(first, last)
        self._spans[key] = count
        return count

    def _count_after(self, first: date, last: date) -> int:
        count = 0
        current = first
        while current < last:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count += 1
        return count

    # The state machines carry days as proleptic ordinals and instants as Unix seconds
    # (daemon.core.timeutil); these two forms plug straight into them without building datetimes per event.

    def deadline_epoch(self, day_ordinal: int, n: int) -> float:
        """Unix time of the end (23:59:59 Asia/Shanghai) of the *n*-th working day after day *day_ordinal*."""
        key = (day_ordinal, n)
        try:
            return self._deadline_epochs[key]
        except KeyError:
            pass
        deadline = end_of_day_epoch(self.nth_working_day_after(date.fromordinal(day_ordinal), n).toordinal())
        self._deadline_epochs[key] = deadline
        return deadline

    def working_days_between_epoch(self, start: float, end: float) -> int:
        """`working_days_between` for Unix times *start* and *end*."""
        key = (day_of_epoch(start), day_of_epoch(end))
        try:
            return self._ordinal_spans[key]
        except KeyError:
            pass
        first, last = date.fromordinal(key[0]), date.fromordinal(key[1])
        count = -self._count_after(last, first) if last < first else self._count_after(first, last)
        self._ordinal_spans[key] = count
        return count


def make_rules(settings: Settings, calendar: WorkingCalendar) -> Rules:
    """The deadline rules of the settings, counted on ``calendar`` (docs/contract.md §6)."""
    return Rules(
        deadline=calendar.deadline_epoch,
        working_days_between=calendar.working_days_between_epoch,
        sla_working_days=settings.sla_working_days.model_dump(),
        publish_within=settings.disclosure.publish_within_working_days,
        withdraw_within=settings.disclosure.withdraw_within_working_days,
    )
