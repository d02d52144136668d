"""When things happen: days of the year and their weights, hours of the day, volumes split exactly."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from seeds.scenario._calendar import TZ, Calendar

#: Relative weight of each hour of the day for an event's creation: office peaks and a night tail.
EVENT_HOURS = (1, 1, 0, 0, 0, 1, 2, 4, 8, 10, 10, 8, 4, 5, 9, 9, 8, 6, 4, 3, 3, 2, 2, 1)
#: A mild seasonality: fewer cases around 春节 and in autumn, more in early summer.
MONTH_FACTOR = (0.95, 0.95, 1.0, 1.0, 1.05, 1.1, 1.1, 1.05, 1.0, 0.95, 1.0, 1.0)


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainder; deterministic, sums exactly)."""
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    shares = [total * w / whole for w in weights]
    counts = [int(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]


def day_weights(calendar: Calendar, days: Sequence[date], *, weekend: float, holiday: float) -> list[float]:
    """A working day weighs 1.0, a weekend day `weekend`, a statutory holiday `holiday`; times the month."""
    weights = []
    for day in days:
        if calendar.is_workday(day):
            base = 1.0
        elif calendar.is_holiday(day):
            base = holiday
        else:
            base = weekend
        weights.append(base * MONTH_FACTOR[day.month - 1])
    return weights


def at_hour(rng: random.Random, day: date, hours: Sequence[int]) -> datetime:
    """A moment of `day` whose hour is drawn with the weights `hours`, minute and second uniform."""
    hour = rng.choices(range(24), weights=hours)[0]
    return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), TZ)


def office_time(
    rng: random.Random, day: date, earliest: time = time(8, 30), latest: time = time(17, 0)
) -> datetime:
    """A moment of `day` uniformly within [earliest, latest)."""
    low = earliest.hour * 3600 + earliest.minute * 60
    high = latest.hour * 3600 + latest.minute * 60
    second = rng.randrange(low, high)
    return datetime.combine(day, time(second // 3600, second % 3600 // 60, second % 60), TZ)
