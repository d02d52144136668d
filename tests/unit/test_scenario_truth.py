"""Unit tests of `seeds.scenario._truth`: the indicators counted from a hand-made plan."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from schemas.registry import load_registry
from seeds.scenario._calendar import TZ
from seeds.scenario._plan.model import (
    Plan,
    PlannedDisclosure,
    PlannedEvent,
    PlannedRequest,
    Reassignment,
    RequestStep,
)
from seeds.scenario._truth import compliance, truth
from seeds.scenario._world import World

REGISTRY = load_registry()
FIRST, SECOND = list(REGISTRY.departments)[:2]


@pytest.fixture(scope="module")
def world() -> World:
    return World.of(7, 2023, 0.01, REGISTRY)


def _at(month: int, day: int, hour: int = 10, year: int = 2023) -> datetime:
    return datetime(year, month, day, hour, tzinfo=TZ)


def _truth_of(world: World, plan: Plan, undecodable: list[datetime] | None = None) -> dict[str, Any]:
    return truth(
        world, plan, undecodable=undecodable or [], delivery_facts={}, messages={}, as_of=world.as_of
    )


def _disclosure(**latest: object) -> PlannedDisclosure:
    disclosure = PlannedDisclosure(
        disclosure_id="CF1",
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
        setattr(disclosure, name, value)
    return disclosure


def test_a_reassigned_event_counts_every_action_for_the_department_it_ends_with(world: World) -> None:
    """Each action is one accurate record of the final responsible department; handling counts once."""
    event = PlannedEvent(
        event_id="EV1",
        kind="complaint",
        department=FIRST,
        division="330203",
        created=_at(3, 1),
        item_code=None,
        deadline=None,
        effective_deadline=_at(3, 10, 23),
        reassigned=Reassignment(_at(3, 1, 11), SECOND, None),
        signed=_at(3, 1, 12),
        handled=_at(3, 3),
    )
    result = _truth_of(world, Plan(events=[event]))
    by_department = result["by_department"]
    assert set(by_department) == {SECOND}
    assert by_department[SECOND]["data_accuracy_rate"] == (4, 4)
    assert by_department[SECOND]["event_handling_rate"] == (1, 1)
    assert by_department[SECOND]["event_on_time_rate"] == (1, 1)


def test_an_event_of_the_previous_year_counts_no_record_and_no_handling(world: World) -> None:
    """The previous year's cohort is left out of every indicator of the year."""
    event = PlannedEvent(
        event_id="EV2",
        kind="clue",
        department=FIRST,
        division="330203",
        created=_at(12, 28, year=2022),
        item_code=None,
        deadline=None,
        effective_deadline=_at(1, 20, 23),
        handled=_at(1, 5),
    )
    result = _truth_of(world, Plan(events=[event]))
    assert result["by_department"] == {}


def test_undecodable_messages_are_inaccurate_records_of_their_ingestion_year(world: World) -> None:
    """An undecodable message counts as one inaccurate `_unregistered` record if ingested in the year."""
    result = _truth_of(world, Plan(), undecodable=[_at(3, 14), _at(1, 2, year=2024)])
    assert result["indicators"]["data_accuracy_rate"] == (0, 1)
    assert set(result["by_department"]) == {"_unregistered"}
    assert set(result["by_division"]) == {"_unknown"}


def test_a_revoked_result_left_published_fails_compliance_only_after_the_withdrawal_deadline(
    world: World,
) -> None:
    """Revoked on 4 May and still published: compliant the next day, not past 3 working days (8 May)."""
    revoked = _disclosure(revoked_at=_at(5, 4))
    assert compliance([revoked], 2023, _at(5, 5), world.calendar)["indicators"] == {
        "disclosure_compliance_rate": (1, 1)
    }
    assert compliance([revoked], 2023, _at(5, 12), world.calendar)["indicators"] == {
        "disclosure_compliance_rate": (0, 1)
    }


def test_request_steps_and_clean_up_batches_are_counted_as_facts(world: World) -> None:
    """Each request step is a fact of its reason and action; a batch counts once however many requests."""
    steps = (RequestStep("submitted", _at(4, 3)), RequestStep("approved", _at(4, 4)))
    requests = [
        PlannedRequest(f"Q{n}", "CF1", FIRST, "withdraw", "legacy_improper", "QL2023-01", steps)
        for n in range(3)
    ]
    result = _truth_of(world, Plan(requests=requests))
    assert result["facts"]["requests.legacy_improper.submitted"] == 3
    assert result["facts"]["cleanup_batches"] == 1
    assert result["indicators"]["data_accuracy_rate"] == (6, 6)
