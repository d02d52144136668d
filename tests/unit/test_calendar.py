"""Tests of daemon.core.calendar: China's working days, the override file, the counted fallback, helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from daemon.core.calendar import SHANGHAI, WorkingCalendar, local_date
from daemon.exceptions import ConfigError


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def calendar() -> WorkingCalendar:
    """A calendar without an override file."""
    return WorkingCalendar()


def _override(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "calendar.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2023, 9, 28), True),  # Thursday before the Mid-Autumn/National Day break
        (date(2023, 9, 29), False),  # 中秋节, a Friday
        (date(2023, 10, 2), False),  # Monday inside the break
        (date(2023, 10, 6), False),  # last day of the break, a Friday
        (date(2023, 10, 7), True),  # 调休: a Saturday worked
        (date(2023, 10, 8), True),  # 调休: a Sunday worked
        (date(2023, 10, 9), True),  # ordinary Monday
        (date(2023, 10, 14), False),  # ordinary Saturday
        (date(2024, 2, 4), True),  # 调休 Sunday before the Spring Festival
        (date(2024, 2, 9), True),  # 除夕 2024: officially a working day that year
        (date(2024, 2, 10), False),  # 春节, first day of the break (a Saturday)
        (date(2024, 2, 12), False),  # Monday inside the Spring Festival break
        (date(2024, 2, 16), False),  # Friday inside the Spring Festival break
        (date(2024, 2, 17), False),  # last day of the break
        (date(2024, 2, 18), True),  # 调休 Sunday after the Spring Festival
        (date(2024, 2, 19), True),  # back to work
    ],
)
def test_real_holidays_and_make_up_days(calendar: WorkingCalendar, day: date, working: bool) -> None:
    """Statutory holidays are days off and 调休 weekend days are working days, per chinese-calendar."""
    assert calendar.is_working_day(day) is working
    assert calendar.fallback_count == 0


def test_nth_working_day_after_skips_the_national_day_break(calendar: WorkingCalendar) -> None:
    """Counting starts the day after and jumps the whole break onto the 调休 weekend."""
    start = date(2023, 9, 28)
    assert calendar.nth_working_day_after(start, 1) == date(2023, 10, 7)
    assert calendar.nth_working_day_after(start, 2) == date(2023, 10, 8)
    assert calendar.nth_working_day_after(start, 3) == date(2023, 10, 9)


def test_nth_working_day_after_is_strictly_after(calendar: WorkingCalendar) -> None:
    """A working day is never its own first working day after."""
    assert calendar.nth_working_day_after(date(2023, 10, 9), 1) == date(2023, 10, 10)
    # From a Friday, the next working day is Monday.
    assert calendar.nth_working_day_after(date(2023, 10, 13), 1) == date(2023, 10, 16)


def test_nth_working_day_after_rejects_non_positive_n(calendar: WorkingCalendar) -> None:
    """n = 0 has no meaning as "the 0th working day after" and is refused."""
    with pytest.raises(ValueError, match="at least 1"):
        calendar.nth_working_day_after(date(2023, 10, 9), 0)


def test_spring_festival_deadline(calendar: WorkingCalendar) -> None:
    """Created 2024-02-08 with 3 working days: 02-09, the 调休 Sunday 02-18, then due end of 02-19."""
    deadline = calendar.deadline_after(date(2024, 2, 8), 3)
    assert deadline == datetime(2024, 2, 19, 23, 59, 59, tzinfo=SHANGHAI)
    assert deadline.utcoffset() == timedelta(hours=8)
    assert deadline.astimezone(UTC) == datetime(2024, 2, 19, 15, 59, 59, tzinfo=UTC)


def test_working_days_between_counts_days_after_start_up_to_end(calendar: WorkingCalendar) -> None:
    """Same day is 0, Friday to Monday is 1, and the National Day break counts only the 调休 days."""
    assert calendar.working_days_between(_at("2023-10-09T08:00+08:00"), _at("2023-10-09T18:00+08:00")) == 0
    assert calendar.working_days_between(_at("2023-10-13T17:00+08:00"), _at("2023-10-16T09:00+08:00")) == 1
    assert calendar.working_days_between(_at("2023-09-28T10:00+08:00"), _at("2023-10-09T10:00+08:00")) == 3


def test_working_days_between_uses_shanghai_days(calendar: WorkingCalendar) -> None:
    """Timestamps in other offsets are placed on their Asia/Shanghai day first."""
    # 2023-10-06T16:30Z is 2023-10-07 00:30 in Shanghai: a 调休 working Saturday.
    start = _at("2023-10-06T10:00+08:00")
    assert calendar.working_days_between(start, _at("2023-10-06T16:30+00:00")) == 1
    assert calendar.working_days_between(start, _at("2023-10-06T15:30+00:00")) == 0


def test_working_days_between_is_negative_backwards(calendar: WorkingCalendar) -> None:
    """An end before the start gives the negated forward count."""
    early, late = _at("2023-09-28T10:00+08:00"), _at("2023-10-09T10:00+08:00")
    assert calendar.working_days_between(late, early) == -3


def test_naive_timestamps_are_refused(calendar: WorkingCalendar) -> None:
    """A timestamp without an offset cannot be placed on a Shanghai day and is an error."""
    with pytest.raises(ValueError, match="naive"):
        calendar.working_days_between(datetime(2023, 10, 9, 8), datetime(2023, 10, 10, 8))  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2023, 10, 9, 8))  # noqa: DTZ001


def test_datetime_is_not_taken_for_a_date(calendar: WorkingCalendar) -> None:
    """Passing a datetime where a date is expected fails loudly instead of skipping the memo."""
    with pytest.raises(TypeError, match="local_date"):
        calendar.is_working_day(_at("2023-10-09T08:00+08:00"))


def test_epoch_forms_agree_with_date_forms(calendar: WorkingCalendar) -> None:
    """The ordinal/Unix-time forms used by the state machines give the same answers."""
    day = date(2024, 2, 8)
    assert calendar.deadline_epoch(day.toordinal(), 3) == calendar.deadline_after(day, 3).timestamp()
    start, end = _at("2023-09-28T10:00+08:00"), _at("2023-10-07T00:30+08:00")
    assert calendar.working_days_between_epoch(start.timestamp(), end.timestamp()) == 1
    assert calendar.working_days_between_epoch(end.timestamp(), start.timestamp()) == -1


@given(
    day=st.dates(min_value=date(2004, 1, 1), max_value=date(2026, 10, 31)),
    n=st.integers(min_value=1, max_value=40),
)
def test_nth_working_day_and_span_are_inverse(day: date, n: int) -> None:
    """The n-th working day after a day is a working day exactly n working days later."""
    calendar = _SHARED
    target = calendar.nth_working_day_after(day, n)
    assert calendar.is_working_day(target)
    start = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)
    end = datetime.combine(target, datetime.min.time(), tzinfo=SHANGHAI)
    assert calendar.working_days_between(start, end) == n


_SHARED = WorkingCalendar()


def test_unknown_year_falls_back_to_weekdays_counted_and_logged_once(calendar: WorkingCalendar) -> None:
    """For a year chinese-calendar lacks, Monday–Friday is used, each date counted, one log per year."""
    with structlog.testing.capture_logs() as logs:
        assert calendar.is_working_day(date(2027, 1, 1)) is True  # a Friday (New Year, really)
        assert calendar.is_working_day(date(2027, 1, 2)) is False  # a Saturday
        assert calendar.is_working_day(date(2027, 1, 1)) is True  # memoised: not counted again
        assert calendar.is_working_day(date(2003, 6, 2)) is True  # before the package's range
    assert calendar.fallback_counts == {2027: 2, 2003: 1}
    assert calendar.fallback_count == 3
    fallbacks = [entry for entry in logs if entry["event"] == "calendar_fallback"]
    assert [entry["year"] for entry in fallbacks] == [2027, 2003]
    assert all(entry["log_level"] == "warning" for entry in fallbacks)


_OVERRIDE_2027 = """\
# National Day 2027 as an operator would transcribe it (illustrative dates).
2027:
  holidays:
    - 2027-01-01
    - 2027-10-01..2027-10-07
  workdays:
    - "2027-09-26"
    - 2027-10-09
"""


def test_override_file_covers_an_unknown_year(tmp_path: Path) -> None:
    """A year listed in the override file uses its holidays and workdays, with no fallback."""
    calendar = WorkingCalendar(_override(tmp_path, _OVERRIDE_2027))
    assert calendar.override_years == frozenset({2027})
    with structlog.testing.capture_logs() as logs:
        assert calendar.is_working_day(date(2027, 1, 1)) is False  # listed holiday (a Friday)
        assert calendar.is_working_day(date(2027, 10, 4)) is False  # inside the listed range
        assert calendar.is_working_day(date(2027, 9, 26)) is True  # listed workday (a Sunday)
        assert calendar.is_working_day(date(2027, 10, 9)) is True  # listed workday (a Saturday)
        assert calendar.is_working_day(date(2027, 10, 16)) is False  # ordinary Saturday
        assert calendar.is_working_day(date(2027, 10, 11)) is True  # ordinary Monday
        assert calendar.nth_working_day_after(date(2027, 9, 30), 1) == date(2027, 10, 8)
    assert calendar.fallback_count == 0
    assert logs == []


def test_override_file_wins_over_the_package_for_a_listed_year(tmp_path: Path) -> None:
    """A listed year is described fully by the file, even one chinese-calendar knows."""
    calendar = WorkingCalendar(_override(tmp_path, "2023:\n  holidays: [2023-10-09]\n"))
    assert calendar.is_working_day(date(2023, 10, 9)) is False
    # 2023-10-07 is a 调休 day in the package, but the file does not list it.
    assert calendar.is_working_day(date(2023, 10, 7)) is False
    # Unlisted years still come from the package.
    assert calendar.is_working_day(date(2024, 2, 4)) is True


def test_empty_override_year_means_plain_weekdays(tmp_path: Path) -> None:
    """A year listed with nothing under it is Monday–Friday by the operator's say-so, not a fallback."""
    calendar = WorkingCalendar(_override(tmp_path, "2028:\n"))
    assert calendar.is_working_day(date(2028, 1, 3)) is True
    assert calendar.fallback_count == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027:\n  holidays: [2026-12-31]\n", "2027.holidays.0: 2026-12-31 is not in 2027"),
        ("2027:\n  holidays: [2027-02-01]\n  workdays: [2027-02-01]\n", "both a holiday and a workday"),
        ("2027:\n  holidays: [tomorrow]\n", "2027.holidays.0: 'tomorrow' is neither"),
        ("2027:\n  holidays: [2027-02-10..2027-02-01]\n", "ends before it starts"),
        ("2027:\n  holiday: [2027-02-01]\n", "2027.holiday: Extra inputs are not permitted"),
        ("next_year:\n  holidays: []\n", "next_year"),
        ("- 2027-01-01\n", "must map years"),
        ("2027: {holidays: [2027-01-01\n", "not valid YAML"),
    ],
)
def test_invalid_override_file_is_a_readable_config_error(tmp_path: Path, text: str, expected: str) -> None:
    """Every kind of mistake in the override file is reported as a ConfigError naming the spot."""
    path = _override(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        WorkingCalendar(path)
    message = str(raised.value)
    assert str(path) in message
    assert expected in message


def test_override_file_lists_every_problem_at_once(tmp_path: Path) -> None:
    """Two independent mistakes are both reported, so the operator fixes them in one go."""
    path = _override(tmp_path, "2027:\n  holidays: [2026-01-01, not-a-date]\n")
    with pytest.raises(ConfigError) as raised:
        WorkingCalendar(path)
    assert "2027.holidays.0" in str(raised.value)
    assert "2027.holidays.1" in str(raised.value)


def test_missing_override_file_is_a_config_error(tmp_path: Path) -> None:
    """A path that does not exist is reported, not a FileNotFoundError traceback."""
    with pytest.raises(ConfigError, match="cannot be read"):
        WorkingCalendar(tmp_path / "absent.yaml")
