"""Working days and the few date helpers the plan needs, all in China Standard Time.

The generator keeps its own calendar rather than the daemon's: the truth must not share code with
what it checks.  It answers as the daemon's `daemon/core/calendar.py` does without an override file:
chinese-calendar where the package has data (2004-2026 in version 1.11), Monday-Friday elsewhere, so
both count the same working days in every year a scenario reaches.
"""

from __future__ import annotations

import bisect
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar

TZ = timezone(timedelta(hours=8))


class Calendar:
    """Working days from chinese-calendar (Monday-Friday outside its range), precomputed for speed.

    Only the days from `first` to `last` are known; asking about another one is an error rather than
    a silent wrong answer (a list index would wrap around or run short).
    """

    def __init__(self, first: date, last: date) -> None:
        self._first = first.toordinal()
        self._last = last.toordinal()
        self.workday: list[bool] = []
        self.holiday: list[bool] = []
        day = first
        while day <= last:
            try:
                is_holiday, name = chinese_calendar.get_holiday_detail(day)
                works = not is_holiday
                statutory = is_holiday and name is not None
            except NotImplementedError:
                works, statutory = day.weekday() < 5, False
            self.workday.append(works)
            self.holiday.append(statutory)
            day += timedelta(days=1)
        self._workdays = [self._first + i for i, works in enumerate(self.workday) if works]

    @property
    def last(self) -> date:
        """The last day this calendar knows."""
        return date.fromordinal(self._last)

    def is_workday(self, day: date) -> bool:
        return self.workday[self._index(day)]

    def is_holiday(self, day: date) -> bool:
        """A statutory holiday (春节, 国庆 ...), as opposed to an ordinary weekend."""
        return self.holiday[self._index(day)]

    def workday_after(self, day: date, n: int) -> date:
        """The `n`-th working day strictly after `day` (n ≥ 1)."""
        self._index(day)
        index = bisect.bisect_right(self._workdays, day.toordinal()) + n - 1
        if index >= len(self._workdays):
            raise ValueError(f"the {n}-th working day after {day} is past the calendar's end ({self.last})")
        return date.fromordinal(self._workdays[index])

    def workdays_between(self, first: date, last: date) -> list[date]:
        """Working days `d` with first < d ≤ last."""
        self._index(first)
        self._index(last)
        low = bisect.bisect_right(self._workdays, first.toordinal())
        high = bisect.bisect_right(self._workdays, last.toordinal())
        return [date.fromordinal(o) for o in self._workdays[low:high]]

    def _index(self, day: date) -> int:
        """`day`'s position in the tables; a day outside them is a planning bug, reported as such."""
        ordinal = day.toordinal()
        if not self._first <= ordinal <= self._last:
            first = date.fromordinal(self._first)
            raise ValueError(f"{day} is outside the calendar ({first} to {self.last})")
        return ordinal - self._first


def end_of(day: date, at: time = time(23, 59, 59)) -> datetime:
    return datetime.combine(day, at, TZ)


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1 → 28 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")
