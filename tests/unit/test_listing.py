"""Tests of daemon.core.listing: which entities are listed where, attributed as their counts are."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.listing import ERROR, OPEN, PUBLISHED, REQUEST_LIST, entries, keyless_entry
from daemon.core.state.entities import ACCURACY, Entity, contribution
from daemon.core.state.slots import DisclosureData, ErrorData, EventData, RequestData, Slot
from daemon.core.timeutil import SHANGHAI, end_of_day_epoch

RULES = make_rules(Settings(), WorkingCalendar(None))
DAY = date(2023, 9, 28).toordinal()
AT = datetime(2023, 9, 28, 9, tzinfo=SHANGHAI).timestamp()
SCJGJ, JTJ = "330200.scjgj", "330200.jtj"


def _event(*actions: tuple[str, Slot]) -> Entity:
    return Entity("event", "E1", dict(actions))


def _created(department: str = SCJGJ, deadline: float | None = None) -> Slot:
    return Slot(1, 1, True, DAY, department, "330203", EventData(AT, "complaint", deadline))


def _erroneous(version: int = 2, department: str = JTJ, day: int = DAY - 3) -> Slot:
    errors = ErrorData("event/v1", (("invalid_field", "at"),), "svmon.events", 1, 42)
    return Slot(version, 7, False, day, department, "_unknown", errors)


def test_an_open_event_is_listed_under_its_responsible_department_and_cohort() -> None:
    """An open event is one ``open`` entry due at its deadline, with the reassigned department."""
    reassigned = Slot(1, 1, True, DAY + 1, JTJ, "", EventData(AT + 60, deadline=AT + 3600))
    (entry,) = entries(_event(("created", _created()), ("reassigned", reassigned)), RULES)
    assert (entry.list, entry.department, entry.division, entry.day) == (OPEN, JTJ, "330203", DAY)
    assert entry.due == entry.rank == AT + 3600
    assert entry.fields["id"] == "E1"
    assert entry.kind == "complaint"


def test_a_handled_or_cancelled_event_is_not_listed() -> None:
    """Closing an event removes its ``open`` entry."""
    handled = Slot(1, 1, True, DAY, SCJGJ, "", EventData(AT + 10))
    assert entries(_event(("created", _created()), ("handled", handled)), RULES) == []
    assert entries(_event(("created", _created()), ("cancelled", handled)), RULES) == []


def test_an_erroneous_action_is_listed_where_its_inaccuracy_counts() -> None:
    """The error entry of an action has the day, department and division of its accuracy cell."""
    event = _event(("created", _created()), ("signed", _erroneous()))
    event.settle(contribution(event, RULES))
    errors = [entry for entry in entries(event, RULES) if entry.list == ERROR]
    (error,) = errors
    inaccurate = {
        (day, department, division)
        for (day, indicator, department, division), (
            numerator,
            denominator,
        ) in event.contribution.counts.items()
        if indicator == ACCURACY and numerator < denominator
    }
    assert inaccurate == {(error.day, error.department, error.division)}
    assert error.key == "event:E1#signed"
    assert error.fields["errors"] == [["invalid_field", "at"]]
    assert (error.fields["topic"], error.fields["partition"], error.fields["offset"]) == (
        "svmon.events",
        1,
        42,
    )


def test_an_orphan_erroneous_action_counts_at_its_own_day() -> None:
    """Without a valid created, an erroneous action is listed at its own day and department."""
    (error,) = entries(_event(("handled", _erroneous())), RULES)
    assert (error.list, error.day, error.department) == (ERROR, DAY - 3, JTJ)


def _disclosure(**changes: object) -> Entity:
    data = {
        "published_at": AT + 3600,
        "status": "published",
        "procedure": "general",
        "withdrawn_at": None,
        "revoked_at": None,
        "publicity_until": None,
        "exposed": [],
        "decision_no": "甬市监罚〔2023〕12号",
        **changes,
    }
    return Entity(
        "disclosure", "D1", {"": Slot(1, 1, True, DAY, SCJGJ, "330200", DisclosureData.from_json(data))}
    )


def test_a_published_disclosure_is_flagged_only_for_violations_that_do_not_wait() -> None:
    """Exposure and simple procedure flag it at once; a publicity end only sets when it may become due."""
    clean = entries(_disclosure(), RULES)[0]
    assert (clean.list, clean.flagged, clean.due) == (PUBLISHED, False, None)
    exposed = entries(_disclosure(exposed=["content"], procedure="simple"), RULES)[0]
    assert exposed.flagged
    assert exposed.fields["violations"] == ["personal_info_exposed", "simple_procedure_published"]
    assert exposed.fields["exposed"] == ["content"]
    until = date(2023, 12, 28).toordinal()
    expiring = entries(_disclosure(publicity_until=until), RULES)[0]
    assert not expiring.flagged
    assert expiring.due == end_of_day_epoch(until)


def test_a_withdrawn_disclosure_is_not_listed() -> None:
    """Only currently published disclosures are on the published list."""
    assert entries(_disclosure(status="withdrawn"), RULES) == []


def test_a_request_is_listed_until_executed_or_rejected() -> None:
    """An open application is a ``request`` entry at its submission; executing it removes it."""
    submitted = Slot(1, 1, True, DAY, SCJGJ, "330200", RequestData(AT, "D1", "withdraw", "expired", "B1"))
    request = Entity("request", "Q1", {"submitted": submitted})
    (entry,) = entries(request, RULES)
    assert (entry.list, entry.kind, entry.rank, entry.day) == (REQUEST_LIST, "withdraw", AT, DAY)
    executed = Slot(
        1, 1, True, DAY + 2, SCJGJ, "330200", RequestData(AT + 86400, "D1", "withdraw", "expired", "B1")
    )
    request.put("executed", executed)
    assert entries(request, RULES) == []


def test_a_message_without_a_record_key_is_listed_by_its_coordinates() -> None:
    """A keyless rejection is an error entry keyed by topic, partition and offset, at its own day."""
    slot = Slot(
        1, 0, False, DAY, "_unregistered", "_unknown", ErrorData("unknown", (("malformed", None),), "t", 0, 9)
    )
    entry = keyless_entry("t:0:9", slot)
    assert (entry.list, entry.key, entry.day, entry.kind) == (ERROR, "t:0:9", DAY, "unknown")
    assert entry.fields["offset"] == 9


def test_valid_inspections_and_items_are_not_listed() -> None:
    """Entities with nothing wrong and nothing open have no entries (most entities)."""
    item = Entity("item", "I1", {"": Slot(1, 1, True, DAY, SCJGJ, "330200", None)})
    assert entries(item, RULES) == []
    assert entries(_event(("created", _created(deadline=AT + timedelta(days=1).total_seconds()))), RULES)
