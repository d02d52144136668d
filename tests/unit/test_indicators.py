"""Tests of daemon.core.indicators: violations at an injected now, coverage, onboarding, requests, ratios."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.indicators import (
    compliance,
    coverage,
    disclosure_violations,
    event_gauges,
    onboarding,
    ratio,
    requests_open,
    sum_days,
)
from daemon.core.state.entities import Entity, contribution
from daemon.core.state.slots import DisclosureData, EventData, ItemData, RequestData, Slot
from daemon.core.timeutil import SHANGHAI, end_of_day_epoch

RULES = make_rules(Settings(), WorkingCalendar(None))
DECIDED = date(2023, 9, 28)  # 7 working days later, across the national-day holiday: 2023-10-13
LIMIT = end_of_day_epoch(date(2023, 10, 13).toordinal())
NOW = datetime(2023, 11, 1, tzinfo=SHANGHAI).timestamp()
DEPARTMENT, DIVISION = "330200.scjgj", "330200"


def _disclosure(**changes: Any) -> Entity:
    data: dict[str, Any] = {
        "published_at": LIMIT - 3600,
        "status": "published",
        "procedure": "general",
        "withdrawn_at": None,
        "revoked_at": None,
        "publicity_until": None,
        "exposed": False,
    }
    data.update(changes)
    slot = Slot(1, 1, True, DECIDED.toordinal(), DEPARTMENT, DIVISION, DisclosureData.from_json(data))
    return Entity("disclosure", "D1", {"": slot})


def test_a_clean_disclosure_has_no_violation() -> None:
    """Published on time, general procedure, nothing exposed, not expired or revoked: compliant."""
    assert disclosure_violations(_disclosure(), RULES, NOW) == []


def test_each_violation_is_found() -> None:
    """Each of the five docs/contract.md §7 violations is reported on its own."""
    until = date(2023, 10, 20).toordinal()  # withdraw by the end of 2023-10-25
    revoked = datetime(2023, 10, 20, 10, tzinfo=SHANGHAI).timestamp()
    cases = {
        "personal_info_exposed": _disclosure(exposed=True),
        "simple_procedure_published": _disclosure(procedure="simple"),
        "published_late": _disclosure(published_at=LIMIT + 1),
        "expired_not_withdrawn": _disclosure(publicity_until=until),
        "revoked_not_withdrawn": _disclosure(revoked_at=revoked),
    }
    for violation, entity in cases.items():
        assert disclosure_violations(entity, RULES, NOW) == [violation], violation


def test_withdrawal_limits_depend_on_now() -> None:
    """Expired and revoked results are violations only after the 3rd working day, at the injected now."""
    until = date(2023, 10, 20)  # Friday: limit is the end of Wednesday 2023-10-25
    entity = _disclosure(publicity_until=until.toordinal())
    limit = end_of_day_epoch(date(2023, 10, 25).toordinal())
    assert disclosure_violations(entity, RULES, limit) == []
    assert disclosure_violations(entity, RULES, limit + 1) == ["expired_not_withdrawn"]


def test_withdrawn_results_leave_compliance() -> None:
    """Only currently published results count in compliance; a withdrawn one counts nowhere."""
    counts = compliance(
        [_disclosure(), _disclosure(procedure="simple"), _disclosure(status="withdrawn")], RULES, NOW
    )
    assert counts == {("disclosure_compliance_rate", DEPARTMENT, DIVISION): [1, 2]}


def test_a_running_publicity_period_does_not_ask_the_calendar_about_future_years() -> None:
    """A period ending in 2029 is not judged (nor counted as a calendar fallback) while it is running."""
    calendar = WorkingCalendar(None)
    rules = make_rules(Settings(), calendar)
    entity = _disclosure(publicity_until=date(2029, 6, 30).toordinal())
    assert disclosure_violations(entity, rules, NOW) == []
    assert calendar.fallback_count == 0


def test_compliance_tallies_violations_by_department() -> None:
    """Violations are tallied per (department, violation) when asked."""
    tally: dict[tuple[str, str], int] = {}
    compliance([_disclosure(exposed=True, procedure="simple")], RULES, NOW, violations=tally)
    assert tally == {(DEPARTMENT, "personal_info_exposed"): 1, (DEPARTMENT, "simple_procedure_published"): 1}


def _item(code: str, day: date, **data: Any) -> Entity:
    fields = {"at": 0.0, "double_random": True, "onboarded": True, "active": True, **data}
    slot = Slot(1, 1, True, day.toordinal(), DEPARTMENT, DIVISION, ItemData.from_json(fields))
    return Entity("item", code, {"": slot})


def test_coverage_is_per_period() -> None:
    """An item is covered in a period only with a 双随机 inspection mark inside that period."""
    items = [
        _item("I1", date(2023, 1, 1)),
        _item("I2", date(2023, 1, 1)),
        _item("I3", date(2023, 1, 1), double_random=False),
    ]
    marks = {"I1": {date(2023, 3, 5).toordinal(): 1}, "I2": {date(2023, 5, 5).toordinal(): 0}}
    march = (date(2023, 3, 1).toordinal(), date(2023, 3, 31).toordinal())
    april = (date(2023, 4, 1).toordinal(), date(2023, 4, 30).toordinal())
    assert coverage(items, marks, *march) == {("double_random_coverage_rate", DEPARTMENT, DIVISION): [1, 2]}
    assert coverage(items, marks, *april) == {("double_random_coverage_rate", DEPARTMENT, DIVISION): [0, 2]}


def test_onboarding_counts_active_items_as_of_the_period_end() -> None:
    """Inactive items leave the denominator; items added after the period end are not yet in the catalogue."""
    items = [
        _item("I1", date(2023, 1, 1)),
        _item("I2", date(2023, 1, 1), onboarded=False),
        _item("I3", date(2023, 1, 1), active=False),
        _item("I4", date(2024, 1, 1)),
    ]
    assert onboarding(items, until_day=date(2023, 12, 31).toordinal()) == {
        ("item_onboarding_rate", DEPARTMENT, DIVISION): [1, 2]
    }


def test_requests_open_until_executed_or_rejected() -> None:
    """A submitted request is open until a valid executed or rejected; grouped by department, kind, reason."""
    submitted = Slot(
        1, 1, True, 1, DEPARTMENT, DIVISION, RequestData(0.0, "D1", "withdraw", "legacy_improper", None)
    )
    executed = Slot(
        1, 1, True, 1, DEPARTMENT, DIVISION, RequestData(60.0, "D1", "withdraw", "legacy_improper", None)
    )
    open_one = Entity("request", "Q1", {"submitted": submitted})
    done = Entity("request", "Q2", {"submitted": submitted, "executed": executed})
    wrong = Entity(
        "request", "Q3", {"submitted": submitted, "rejected": Slot(2, 1, False, 1, "d", "v", None)}
    )
    assert requests_open([open_one, done, wrong]) == {(DEPARTMENT, "withdraw", "legacy_improper"): 2}


def test_event_gauges_count_open_overdue_and_orphans() -> None:
    """Open events past their deadline at now are overdue; events with only actions are orphans."""
    at = datetime(2023, 9, 28, 9, tzinfo=SHANGHAI).timestamp()
    created = Slot(1, 1, True, DECIDED.toordinal(), DEPARTMENT, DIVISION, EventData(at, "complaint"))
    event = Entity("event", "E1", {"created": created})
    orphan = Entity("event", "E2", {"handled": Slot(1, 1, True, 1, "", "", EventData(at))})
    for entity in (event, orphan):
        entity.settle(contribution(entity, RULES))
    key = ("complaint", DEPARTMENT, DIVISION)
    assert event_gauges([event, orphan], LIMIT) == ({key: 1}, {}, 1)
    assert event_gauges([event, orphan], LIMIT + 1) == ({key: 1}, {key: 1}, 1)


def test_sum_days_keeps_only_the_period_and_the_indicators() -> None:
    """Summing per-day cells keeps days inside the range and drops report-only series."""
    aggregates = {
        1: {("event_handling_rate", "d", "v"): [1, 2], ("withdrawal_working_days", "d", "v"): [5, 1]},
        2: {("event_handling_rate", "d", "v"): [1, 1]},
        3: {("event_handling_rate", "d", "v"): [0, 9]},
    }
    assert sum_days(aggregates, 1, 2) == {("event_handling_rate", "d", "v"): [2, 3]}


def test_ratio_with_zero_denominator_is_undefined() -> None:
    """A zero denominator gives None, never 0 or 1."""
    assert ratio(0, 0) is None
    assert ratio(1, 4) == 0.25


def test_deadline_rule_matches_a_plain_working_day_count() -> None:
    """The publish limit is the end of the 7th working day after the decision."""
    assert RULES.deadline(DECIDED.toordinal(), 7) == LIMIT
    assert RULES.deadline(date(2023, 10, 9).toordinal(), 1) == end_of_day_epoch(
        date(2023, 10, 10).toordinal()
    )
    assert LIMIT - (datetime(2023, 10, 13, tzinfo=SHANGHAI) + timedelta(days=1)).timestamp() == -1
