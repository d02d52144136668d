"""Unit tests of `Scenario.lists`: the generator's own drill-down lists agree with its truth and messages."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

import chinese_calendar
import pytest

from schemas.registry import load_registry
from seeds.scenario import TZ, OpenEvent, Scenario, ScenarioLists, generate
from seeds.scenario._calendar import Calendar
from seeds.scenario._emission.records import RecordVersion
from seeds.scenario._lists import build_lists
from seeds.scenario._plan.model import (
    Plan,
    PlannedDisclosure,
    PlannedEvent,
    PlannedRequest,
    Reassignment,
    RequestStep,
)
from seeds.scenario._world import World

REGISTRY = load_registry()
FIRST, SECOND = list(REGISTRY.departments)[:2]
# The default handling deadlines of docs/contract.md §6, in working days.
DEFAULT_DAYS = {"risk_warning": 3, "collaborative": 5, "complaint": 7, "clue": 15}
ERRORS_ONLY: dict[str, dict[int, str]] = {"events": {}, "disclosure_requests": {}, "disclosures": {}}


@pytest.fixture(scope="module", params=[(2023, 0.05), (7, 0.25), (99, 0.05)], ids=lambda p: f"{p[0]}@{p[1]}")
def scenario(request: pytest.FixtureRequest) -> Scenario:
    seed, scale = request.param
    return generate(seed, scale=scale)


@pytest.fixture(scope="module")
def calendar() -> Calendar:
    return World.of(7, 2023, 0.01, REGISTRY).calendar


def _at(month: int, day: int, hour: int = 10, year: int = 2023) -> datetime:
    return datetime(year, month, day, hour, tzinfo=TZ)


def _open_in_cohort(scenario: Scenario, lists: ScenarioLists) -> dict[str, OpenEvent]:
    """The open events of the truth's cohort: those created in the scenario's year (docs/contract.md §4)."""
    return {i: e for i, e in lists.open_events.items() if e.created_at.year == scenario.year}


def _latest_valid(scenario: Scenario, stream: str, *key_fields: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Each record key's latest version, among the messages that parse, kept only if it is valid."""
    latest: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    for index, message in enumerate(scenario.messages[stream]):
        try:
            record = json.loads(message.value)
        except ValueError:
            continue
        if not isinstance(record, dict) or any(f not in record for f in key_fields):
            continue
        key = tuple(record[f] for f in key_fields)
        if key not in latest or record["version"] > latest[key][1]["version"]:
            latest[key] = (index, record)
    return {k: r for k, (i, r) in latest.items() if i not in scenario.erroneous[stream]}


def _default_deadline(kind: str, created: datetime) -> datetime:
    """The end of the N-th working day after the creation day, counted with chinese-calendar directly."""
    day, left = created.astimezone(TZ).date(), DEFAULT_DAYS[kind]
    while left:
        day += timedelta(days=1)
        left -= chinese_calendar.is_workday(day)
    return datetime.combine(day, time(23, 59, 59), TZ)


def test_open_events_are_the_unhandled_events_the_handling_truth_counts(scenario: Scenario) -> None:
    """Overall and per group: open events of the cohort = handling denominator − numerator."""
    cohort = _open_in_cohort(scenario, scenario.lists(scenario.as_of))
    numerator, denominator = scenario.truth["indicators"]["event_handling_rate"]
    assert len(cohort) == denominator - numerator > 0
    for grouping, field in (("by_department", "department"), ("by_division", "division")):
        listed = Counter(getattr(event, field) for event in cohort.values())
        unhandled = {
            group: values["event_handling_rate"][1] - values["event_handling_rate"][0]
            for group, values in scenario.truth[grouping].items()
        }
        assert listed == +Counter(unhandled), grouping


def test_uncorrected_errors_are_the_records_the_accuracy_truth_counts_inaccurate(scenario: Scenario) -> None:
    """Errors of the year = accuracy denominator − numerator, each with the code planted in its message."""
    errors = scenario.lists(scenario.as_of).uncorrected_errors
    for (stream, index), code in errors.items():
        assert scenario.erroneous[stream][index] == code
    # The only planted errors never corrected are messages that are no record at all, which the
    # truth counts in the period of their ingestion (docs/contract.md §4).
    of_the_year = [k for k in errors if scenario.messages[k[0]][k[1]].ingest_at.year == scenario.year]
    numerator, denominator = scenario.truth["indicators"]["data_accuracy_rate"]
    assert len(of_the_year) == denominator - numerator > 0


@pytest.mark.parametrize("later", [timedelta(0), timedelta(days=200), timedelta(days=3 * 366)])
def test_published_minus_violating_is_the_compliance_numerator(scenario: Scenario, later: timedelta) -> None:
    """Overall and by department: (published − violating, published) = compliance."""
    at = scenario.as_of + later
    lists = scenario.lists(at)
    assert set(lists.violating_disclosures) <= set(lists.published_disclosures)
    compliance = scenario.compliance_at(at)
    published = Counter(
        d.department for d in lists.published_disclosures.values() if d.decided_at.year == scenario.year
    )
    violating = Counter(
        lists.published_disclosures[i].department
        for i in lists.violating_disclosures
        if lists.published_disclosures[i].decided_at.year == scenario.year
    )
    overall = (published.total() - violating.total(), published.total())
    assert compliance["indicators"]["disclosure_compliance_rate"] == overall
    assert violating.total() > 0
    assert set(published) == set(compliance["by_department"])
    for department, values in compliance["by_department"].items():
        expected = (published[department] - violating[department], published[department])
        assert values["disclosure_compliance_rate"] == expected, department


def test_violations_use_only_the_codes_of_the_contract(scenario: Scenario) -> None:
    """Every violating disclosure lists a non-empty set of docs/contract.md §7's five codes."""
    codes = {
        "personal_info_exposed",
        "simple_procedure_published",
        "published_late",
        "expired_not_withdrawn",
        "revoked_not_withdrawn",
    }
    for found in scenario.lists(scenario.as_of).violating_disclosures.values():
        assert found
        assert found <= codes


def test_open_requests_are_the_submitted_requests_never_executed_or_rejected(scenario: Scenario) -> None:
    """Per reason, open requests = submitted − executed − rejected steps of the truth's facts."""
    facts = scenario.truth["facts"]
    reasons = {name.split(".")[1] for name in facts if name.startswith("requests.")}
    listed = Counter(r.reason for r in scenario.lists(scenario.as_of).open_requests.values())
    for reason in reasons:
        steps = {a: facts.get(f"requests.{reason}.{a}", 0) for a in ("submitted", "executed", "rejected")}
        assert listed[reason] == steps["submitted"] - steps["executed"] - steps["rejected"], reason
    assert set(listed) <= reasons


def test_overdue_events_are_open_and_only_accumulate_as_time_passes(scenario: Scenario) -> None:
    """Overdue ⊆ open, exactly those past their deadline, never shrinking from December to a year later."""
    start = datetime(scenario.year, 12, 1, tzinfo=TZ)
    instants = [start + timedelta(days=n) for n in range(0, 120, 3)] + [scenario.as_of + timedelta(days=365)]
    previous: frozenset[str] = frozenset()
    for at in instants:
        lists = scenario.lists(at)
        assert lists.overdue_events <= set(lists.open_events)
        assert lists.overdue_events == {i for i, e in lists.open_events.items() if e.deadline < at}
        assert previous <= lists.overdue_events, at
        previous = lists.overdue_events
    assert previous == set(lists.open_events)


def test_open_events_match_a_recount_of_the_latest_valid_messages(scenario: Scenario) -> None:
    """Each open event's department, division, kind and deadline follow docs/contract.md §3.1."""
    actions = _latest_valid(scenario, "events", "event_id", "action")
    expected: dict[str, OpenEvent] = {}
    for (event_id, action), created in actions.items():
        if action != "created" or {(event_id, "handled"), (event_id, "cancelled")} & actions.keys():
            continue
        reassigned = actions.get((event_id, "reassigned"), {})
        at = datetime.fromisoformat(created["at"])
        deadline = reassigned.get("deadline") or created.get("deadline")
        expected[event_id] = OpenEvent(
            department=reassigned.get("department", created["department"]),
            division=created["division"],
            kind=created["kind"],
            deadline=datetime.fromisoformat(deadline) if deadline else _default_deadline(created["kind"], at),
            created_at=at,
        )
    assert dict(scenario.lists(scenario.as_of).open_events) == expected


def test_published_disclosures_match_a_recount_of_the_latest_valid_messages(scenario: Scenario) -> None:
    """A disclosure is listed as published exactly when its latest valid version says `published`."""
    latest = _latest_valid(scenario, "disclosures", "disclosure_id")
    expected = {
        record["disclosure_id"]: (record["department"], record["division"], record["decided_at"])
        for record in latest.values()
        if record["status"] == "published"
    }
    listed = scenario.lists(scenario.as_of).published_disclosures
    assert {i: (d.department, d.division, d.decided_at.isoformat()) for i, d in listed.items()} == expected


def test_the_same_seed_gives_the_same_lists() -> None:
    """Lists are a pure function of (seed, year, scale) and the instant they are judged at."""
    first, again = generate(5, scale=0.05), generate(5, scale=0.05)
    for at in (first.as_of, first.as_of + timedelta(days=500)):
        assert first.lists(at) == again.lists(at)


def _event(event_id: str = "EV1", **changes: Any) -> PlannedEvent:
    event = PlannedEvent(
        event_id=event_id,
        kind="risk_warning",
        department=FIRST,
        division="330203",
        created=_at(9, 28),
        item_code=None,
        deadline=None,
        effective_deadline=_at(10, 9, 23),
    )
    for name, value in changes.items():
        setattr(event, name, value)
    return event


def _event_records(*events: PlannedEvent) -> tuple[RecordVersion, ...]:
    return tuple(RecordVersion((e.event_id, action), 1) for e in events for action, _ in e.actions())


def test_a_reassigned_event_lists_the_department_and_deadline_it_was_reassigned_with(
    calendar: Calendar,
) -> None:
    """The valid `reassigned` record decides the responsible department and, if it sets one, the deadline."""
    new_deadline = datetime.combine(date(2023, 10, 12), time(17, 30), TZ)
    with_deadline = _event("EV1", reassigned=Reassignment(_at(9, 28, 12), SECOND, new_deadline))
    without = _event("EV2", reassigned=Reassignment(_at(9, 28, 12), SECOND, None), deadline=_at(10, 20))
    plan = Plan(events=[with_deadline, without])
    lists = build_lists(
        plan, {"events": _event_records(with_deadline, without)}, ERRORS_ONLY, calendar, _at(11, 1)
    )
    assert lists.open_events["EV1"] == OpenEvent(SECOND, "330203", "risk_warning", new_deadline, _at(9, 28))
    assert lists.open_events["EV2"].department == SECOND
    assert lists.open_events["EV2"].deadline == _at(10, 20)
    assert lists.overdue_events == {"EV1", "EV2"}


def test_an_erroneous_reassignment_leaves_the_created_department_and_the_default_deadline(
    calendar: Calendar,
) -> None:
    """With `reassigned` still erroneous, a risk warning of 28 Sep 2023 is due 9 Oct (国庆 and its 调休)."""
    event = _event(reassigned=Reassignment(_at(9, 28, 12), SECOND, _at(10, 12)))
    records = {"events": _event_records(event)}
    errors = {**ERRORS_ONLY, "events": {1: "unknown_department"}}
    lists = build_lists(Plan(events=[event]), records, errors, calendar, _at(10, 9, 23))
    due = datetime(2023, 10, 9, 23, 59, 59, tzinfo=TZ)
    assert lists.open_events == {"EV1": OpenEvent(FIRST, "330203", "risk_warning", due, _at(9, 28))}
    assert lists.overdue_events == frozenset()
    assert lists.uncorrected_errors == {("events", 1): "unknown_department"}


def test_an_error_is_listed_by_the_first_copy_of_its_latest_version_unless_corrected(
    calendar: Calendar,
) -> None:
    """Latest erroneous versions (by first copy) and keyless messages are listed; corrected ones are not."""
    broken, handled = _event("EV1"), _event("EV2", handled=_at(9, 29))
    records = {
        "events": (
            RecordVersion(("EV1", "created"), 1),  # 0: wrong
            RecordVersion(("EV1", "created"), 2),  # 1: wrong again, the latest version
            RecordVersion(("EV1", "created"), 2),  # 2: its duplicate
            RecordVersion(("EV2", "created"), 1),  # 3
            RecordVersion(("EV2", "handled"), 1),  # 4: wrong
            RecordVersion(("EV2", "handled"), 2),  # 5: the correction
            None,  # 6: no record at all
            RecordVersion(("EV2", "handled"), 1),  # 7: stale
        )
    }
    errors = {
        **ERRORS_ONLY,
        "events": {0: "invalid_field", 1: "future_time", 2: "future_time", 4: "x", 6: "malformed"},
    }
    lists = build_lists(Plan(events=[broken, handled]), records, errors, calendar, _at(12, 1))
    assert lists.uncorrected_errors == {("events", 1): "future_time", ("events", 6): "malformed"}
    assert lists.open_events == {}


def test_only_published_disclosures_are_judged_and_each_lists_every_violation(calendar: Calendar) -> None:
    """A late 简易程序 result lists both codes; a withdrawn one and one still erroneous are not listed."""

    def disclosure(disclosure_id: str, **latest: Any) -> PlannedDisclosure:
        planned = PlannedDisclosure(
            disclosure_id=disclosure_id,
            decision_no="甬市监罚〔2023〕1号",
            department=FIRST,
            division="330203",
            decided=date(2023, 3, 1),
            published_at=_at(3, 2),
            procedure="general",
            severity="general",
            party={"type": "legal_person", "name": "宁波某某有限公司", "id": "x"},
            content="",
            publicity_until=date(2024, 3, 1),
            exposes_personal_info=False,
        )
        for name, value in latest.items():
            setattr(planned, name, value)
        return planned

    late_simple = disclosure("CF1", procedure="simple", published_at=_at(4, 20))
    withdrawn = disclosure("CF2", procedure="simple", status="withdrawn", withdrawn_at=_at(5, 1))
    unfixed = disclosure("CF3", procedure="simple")
    clean = disclosure("CF4")
    records = {"disclosures": tuple(RecordVersion((f"CF{n}",), 1) for n in range(1, 5))}
    errors = {**ERRORS_ONLY, "disclosures": {2: "invalid_decision_no"}}
    plan = Plan(disclosures=[late_simple, withdrawn, unfixed, clean])
    lists = build_lists(plan, records, errors, calendar, _at(6, 1))
    assert set(lists.published_disclosures) == {"CF1", "CF4"}
    assert lists.violating_disclosures == {"CF1": {"simple_procedure_published", "published_late"}}


def test_a_request_is_open_until_a_valid_execution_or_rejection(calendar: Calendar) -> None:
    """Submitted-only and approved requests are open; executed and rejected ones are not."""

    def request(request_id: str, *actions: str) -> PlannedRequest:
        steps = tuple(RequestStep(a, _at(4, 3 + n)) for n, a in enumerate(actions))
        return PlannedRequest(request_id, "CF1", FIRST, "withdraw", "credit_repair", None, steps)

    requests = [
        request("Q1", "submitted"),
        request("Q2", "submitted", "approved"),
        request("Q3", "submitted", "approved", "executed"),
        request("Q4", "submitted", "rejected"),
    ]
    records = {
        "disclosure_requests": tuple(
            RecordVersion((r.request_id, s.action), 1) for r in requests for s in r.steps
        )
    }
    lists = build_lists(Plan(requests=requests), records, ERRORS_ONLY, calendar, _at(5, 1))
    assert set(lists.open_requests) == {"Q1", "Q2"}
    assert lists.open_requests["Q1"].submitted_at == _at(4, 3)


def test_a_naive_instant_is_refused(calendar: Calendar) -> None:
    """`at` without an offset cannot be compared with deadlines, so it is an error."""
    with pytest.raises(ValueError, match="timezone-aware"):
        build_lists(Plan(), {}, {}, calendar, datetime(2024, 3, 1))  # noqa: DTZ001 - the point of the test
