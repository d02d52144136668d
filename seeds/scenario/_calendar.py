"""Working days and the few date helpers the plan needs, all in China Standard Time.

The generator keeps its own calendar rather than the daemon's: the truth must not share code with
what it checks.
"""

from __future__ import annotations

import bisect
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar

TZ = timezone(timedelta(hours=8))


class Calendar:
    """Working days from chinese-calendar (Monday-Friday outside its range), precomputed for speed."""

    def __init__(self, first: date, last: date) -> None:
        self._first = first.toordinal()
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

    def is_workday(self, day: date) -> bool:
        return self.workday[day.toordinal() - self._first]

    def is_holiday(self, day: date) -> bool:
        """A statutory holiday (春节, 国庆 ...), as opposed to an ordinary weekend."""
        return self.holiday[day.toordinal() - self._first]

    def workday_after(self, day: date, n: int) -> date:
        """The `n`-th working day strictly after `day` (n ≥ 1)."""
        index = bisect.bisect_right(self._workdays, day.toordinal())
        return date.fromordinal(self._workdays[index + n - 1])

    def workdays_between(self, first: date, last: date) -> list[date]:
        """Working days `d` with first < d ≤ last."""
        low = bisect.bisect_right(self._workdays, first.toordinal())
        high = bisect.bisect_right(self._workdays, last.toordinal())
        return [date.fromordinal(o) for o in self._workdays[low:high]]


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
