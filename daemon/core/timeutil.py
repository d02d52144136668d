"""Calendar arithmetic in Asia/Shanghai on hot paths.

Asia/Shanghai has kept a fixed UTC+08:00 offset since 1991, so the day a timestamp falls on is
``(epoch_seconds + 8h) // 1 day``: an order of magnitude cheaper than ``astimezone(ZoneInfo)``, which
matters at tens of thousands of records per second. Dates are carried as proleptic ordinals (ints) so
that state and checkpoints hold small integers, not objects.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
_OFFSET_SECONDS = 8 * 3600
_DAY_SECONDS = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_of_epoch(seconds: float) -> int:
    """Ordinal of the Asia/Shanghai calendar day containing the Unix time ``seconds``."""
    return int((seconds + _OFFSET_SECONDS) // _DAY_SECONDS) + _EPOCH_ORDINAL


def day_of(moment: datetime) -> int:
    """Ordinal of the Asia/Shanghai calendar day containing the aware datetime ``moment``."""
    return day_of_epoch(moment.timestamp())


def start_of_day_epoch(ordinal: int) -> float:
    """Unix time of 00:00:00 Asia/Shanghai on the day ``ordinal``."""
    return float((ordinal - _EPOCH_ORDINAL) * _DAY_SECONDS - _OFFSET_SECONDS)


def end_of_day_epoch(ordinal: int) -> float:
    """Unix time of 23:59:59 Asia/Shanghai on the day ``ordinal`` (a deadline instant, contract §6)."""
    return start_of_day_epoch(ordinal) + _DAY_SECONDS - 1


def period_starts(today: int) -> dict[str, int]:
    """First day (ordinal) of the current day, month, quarter and year containing ``today``."""
    current = date.fromordinal(today)
    quarter_month = 3 * ((current.month - 1) // 3) + 1
    return {
        "day": today,
        "month": current.replace(day=1).toordinal(),
        "quarter": current.replace(month=quarter_month, day=1).toordinal(),
        "year": current.replace(month=1, day=1).toordinal(),
    }
