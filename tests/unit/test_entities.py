"""Tests of daemon.core.state.entities: supersede rules, event derivation, contributions, residency."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

import orjson

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.prepare import Pipeline
from daemon.core.state.entities import (
    ACCURACY,
    EMPTY,
    EVENT,
    HANDLING,
    ON_TIME,
    RULED,
    AggKey,
    Entity,
    EventEntity,
    Rules,
    contribution,
    event_view,
    is_resident,
    offer,
)
from daemon.core.state.partition import PartitionState, StoredScope
from daemon.core.state.slots import ErrorData, EventData, InspectionData, Slot
from daemon.core.timeutil import SHANGHAI, end_of_day_epoch
from schemas.registry import load_registry
from tests import records

RULES = make_rules(Settings(), WorkingCalendar(None))
DAY = date(2023, 9, 28).toordinal()
AT = datetime(2023, 9, 28, 9, tzinfo=SHANGHAI).timestamp()


def _slot(version: int = 1, fingerprint: int = 1, valid: bool = True, at: float = AT) -> Slot:
    """An event action's slot (erroneous ones hold no data)."""
    return Slot(version, fingerprint, valid, DAY, "330200.scjgj", "330200", EventData(at) if valid else None)


def _created(deadline: float | None = None) -> Slot:
    return Slot(1, 1, True, DAY, "330200.scjgj", "330200", EventData(AT, "complaint", deadline))


def test_higher_version_supersedes() -> None:
    """A higher version replaces the slot and is reported as applied."""
    entity = Entity("event", "E1")
    assert offer(entity, "created", _slot(1)) == "applied"
    assert offer(entity, "created", _slot(2, fingerprint=0)) == "applied"
    assert entity.slots["created"].version == 2


def test_equal_version_same_bytes_is_a_duplicate() -> None:
    """The same version with the same fingerprint is a duplicate and changes nothing."""
    entity = Entity("event", "E1")
    offer(entity, "created", _slot(1, fingerprint=5))
    assert offer(entity, "created", _slot(1, fingerprint=5)) == "duplicate"


def test_lower_version_is_stale() -> None:
    """A lower version than the one held is stale and ignored."""
    entity = Entity("event", "E1")
    offer(entity, "created", _slot(3))
    assert offer(entity, "created", _slot(2, fingerprint=99)) == "stale"
    assert entity.slots["created"].version == 3


def test_equal_version_conflict_resolves_the_same_in_either_order() -> None:
    """Two different records with one version number end with the same winner whatever comes first."""
    low, high = _slot(1, fingerprint=1), _slot(1, fingerprint=2)
    one, two = Entity("event", "E1"), Entity("event", "E1")
    offer(one, "created", low)
    offer(one, "created", high)
    offer(two, "created", high)
    offer(two, "created", low)
    assert one.slots["created"] is two.slots["created"] is high


def test_default_deadline_counts_working_days_across_the_national_day_holiday() -> None:
    """A complaint created 2023-09-28 is due end of 2023-10-13: 09-29..10-06 off, 10-07/10-08 worked."""
    entity = Entity("event", "E1", {"created": _created()})
    view = event_view(entity, RULES)
    assert view is not None
    assert view.deadline == end_of_day_epoch(date(2023, 10, 13).toordinal())


def test_reassignment_moves_department_and_deadline() -> None:
    """A valid reassigned record sets the responsible department and its deadline wins over created's."""
    reassigned = Slot(1, 1, True, DAY, "330200.jtj", "330200", EventData(AT, deadline=AT + 60))
    entity = Entity("event", "E1", {"created": _created(deadline=AT + 30), "reassigned": reassigned})
    view = event_view(entity, RULES)
    assert view is not None
    assert (view.department, view.deadline) == ("330200.jtj", AT + 60)


def test_cancelled_wins_over_handled() -> None:
    """With both valid, cancelled is the status; an erroneous cancelled leaves the event handled."""
    handled = _slot(at=AT + 10)
    entity = Entity("event", "E1", {"created": _created(), "handled": handled, "cancelled": _slot(at=AT)})
    view = event_view(entity, RULES)
    assert view is not None
    assert view.status == "cancelled"
    entity.put("cancelled", _slot(2, valid=False))
    view = event_view(entity, RULES)
    assert view is not None
    assert (view.status, view.handled_at) == ("handled", AT + 10)


def test_cancelled_event_leaves_the_handling_denominator() -> None:
    """A cancelled event contributes no handling cell, only its records' accuracy."""
    entity = Entity("event", "E1", {"created": _created(), "cancelled": _slot(at=AT)})
    counts = contribution(entity, RULES).counts
    assert (DAY, HANDLING, "330200.scjgj", "330200") not in counts
    assert counts[(DAY, ACCURACY, "330200.scjgj", "330200")] == (2, 2)


def test_late_handling_is_not_on_time() -> None:
    """Handled after the deadline counts in the on-time denominator but not its numerator."""
    entity = Entity("event", "E1", {"created": _created(deadline=AT + 60), "handled": _slot(at=AT + 61)})
    counts = contribution(entity, RULES).counts
    assert counts[(DAY, ON_TIME, "330200.scjgj", "330200")] == (0, 1)
    assert counts[(DAY, HANDLING, "330200.scjgj", "330200")] == (1, 1)


def test_orphan_actions_count_nowhere_until_created() -> None:
    """Valid actions without a valid created contribute nothing and keep the event resident."""
    entity = Entity("event", "E1", {"handled": _slot(at=AT)})
    entity.settle(contribution(entity, RULES))
    assert entity.contribution.counts == {}
    assert is_resident(entity)


def test_erroneous_orphan_counts_at_its_own_day() -> None:
    """An erroneous action without a created counts as inaccurate at its own primary day and place."""
    slot = Slot(1, 1, False, DAY - 5, "_unregistered", "_unknown", None)
    counts = contribution(Entity("event", "E1", {"handled": slot}), RULES).counts
    assert counts == {(DAY - 5, ACCURACY, "_unregistered", "_unknown"): (0, 1)}


def test_handled_event_is_not_resident_but_an_open_one_is() -> None:
    """Open events stay in memory; handled ones may be evicted."""
    entity = Entity("event", "E1", {"created": _created()})
    entity.settle(contribution(entity, RULES))
    assert is_resident(entity)
    entity.put("handled", _slot(at=AT))
    entity.settle(contribution(entity, RULES))
    assert not is_resident(entity)


def test_entity_json_round_trip() -> None:
    """Entities survive to_json/from_json with identical slots and the ruled cells of their share."""
    entity = Entity("event", "E1", {"created": _created(), "handled": _slot(at=AT)})
    entity.settle(contribution(entity, RULES))
    copy = Entity.from_json(entity.key, json.loads(json.dumps(entity.to_json())))
    assert (copy.kind, copy.ident, copy.slots) == ("event", "E1", entity.slots)
    ruled = {key: cell for key, cell in entity.contribution.counts.items() if key[1] in RULED}
    assert ruled == {(DAY, ON_TIME, "330200.scjgj", "330200"): (1, 1)}
    assert copy.contribution.counts == ruled


def test_an_entity_stored_without_ruled_cells_has_its_share_derived() -> None:
    """Rows of schema version 2 are bare slot objects; rows without ruled cells store none."""
    entity = Entity(
        "inspection",
        "R:1",
        {"": Slot(1, 1, True, DAY, "330200.scjgj", "330200", InspectionData("mobile", "I1", True))},
    )
    entity.settle(contribution(entity, RULES))
    for stored in ({"": entity.slots[""].to_json()}, entity.to_json()):
        copy = Entity.from_json(entity.key, json.loads(json.dumps(stored)))
        assert copy.slots == entity.slots
        assert copy.contribution is EMPTY


def test_a_share_is_read_before_the_slot_changes() -> None:
    """An event's share is derived from its slots, so it says what they add only once settled."""
    state = PartitionState("events", 0, RULES)
    state.apply("event", "E1", "created", _created(deadline=AT + 60))
    state.apply("event", "E1", "handled", _slot(at=AT + 61))
    state.apply("event", "E1", "handled", _slot(2, at=AT + 30))
    cells = {
        (day, *group): tuple(cell)
        for day, groups in state.aggregates.items()
        for group, cell in groups.items()
    }
    assert cells[(DAY, ON_TIME, "330200.scjgj", "330200")] == (1, 1)
    assert cells[(DAY, HANDLING, "330200.scjgj", "330200")] == (1, 1)
    assert cells[(DAY, ACCURACY, "330200.scjgj", "330200")] == (2, 2)


def _rules(deadline: float, working_days: int) -> Rules:
    return Rules(lambda day, n: deadline, lambda start, end: working_days, RULES.sla_working_days, 7, 3)


def _scenario_state() -> PartitionState:
    """One state holding every entity of a small generated scenario (every kind)."""
    pipeline = Pipeline(load_registry(None), 1 << 20)
    state = PartitionState("all", 0, RULES)
    for message in records.scenario_messages(11, scale=0.02):
        prepared = pipeline.prepare(message, datetime.now(UTC))
        if prepared.slot is not None and prepared.kind is not None:
            state.apply(prepared.kind, prepared.ident, prepared.slot_name, prepared.slot)
    return state


def test_only_ruled_numerators_depend_on_the_rules() -> None:
    """What a stored entity keeps of its share (``RULED``) is all that other rules can change.

    Every entity of a generated scenario, judged under rules where everything is late and under
    rules where everything is on time: the cell keys and denominators agree, numerators differ only
    in ``RULED`` series, and they do differ there (or this test would show nothing).
    """
    state = _scenario_state()
    late, on_time = _rules(0.0, 10_000), _rules(float("inf"), 0)
    changed: set[str] = set()
    for entity in state.entities.values():
        under_late, under_on_time = (contribution(entity, r).counts for r in (late, on_time))
        assert under_late.keys() == under_on_time.keys()
        for key, (numerator, denominator) in under_late.items():
            assert denominator == under_on_time[key][1]
            if numerator != under_on_time[key][0]:
                changed.add(key[1])
    assert changed == RULED


def test_every_kind_stores_exactly_the_ruled_cells_of_its_share() -> None:
    """``ruled()`` (what a row keeps of the share) is the ``RULED`` cells of the share, for every
    entity of a generated scenario: the kinds that skip the walk over their cells (inspections,
    catalogue items) must really have none, and events spell theirs out."""
    state = _scenario_state()
    kinds: set[str] = set()
    for entity in state.entities.values():
        expected = sorted(
            [*key, numerator, denominator]
            for key, (numerator, denominator) in entity.contribution.counts.items()
            if key[1] in RULED
        )
        assert sorted(entity.ruled()) == expected, entity.key
        kinds.add(entity.kind)
    assert kinds == {"event", "inspection", "item", "disclosure", "request"}


def _cells(state: PartitionState) -> dict[AggKey, tuple[int, int]]:
    return {
        (day, *group): (cell[0], cell[1])
        for day, groups in state.aggregates.items()
        for group, cell in groups.items()
        if cell != [0, 0]
    }


def _shares(state: PartitionState) -> dict[AggKey, tuple[int, int]]:
    total: dict[AggKey, tuple[int, int]] = {}
    for entity in state.entities.values():
        for key, (numerator, denominator) in entity.contribution.counts.items():
            held = total.get(key, (0, 0))
            total[key] = (held[0] + numerator, held[1] + denominator)
    return {key: cell for key, cell in total.items() if cell != (0, 0)}


def test_a_reload_under_other_rules_takes_back_exactly_what_was_stored() -> None:
    """Entities written under one set of rules and loaded under another keep their stored ruled cells
    until they change, so the aggregates stay the sum of the entities' shares through later updates.
    """
    pipeline = Pipeline(load_registry(None), 1 << 20)
    prepared = [
        pipeline.prepare(message, datetime.now(UTC)) for message in records.scenario_messages(11, 0.02)
    ]
    keyed = [
        (p.kind, p.ident, p.slot_name, p.slot) for p in prepared if p.slot is not None and p.kind is not None
    ]
    half = len(keyed) // 2
    written = PartitionState("all", 0, _rules(0.0, 10_000))  # everything late
    for kind, ident, name, slot in keyed[:half]:
        written.apply(kind, ident, name, slot)
    assert _cells(written) == _shares(written)
    stored = StoredScope(
        entities=[
            (key, json.loads(json.dumps(entity.to_json()))) for key, entity in written.entities.items()
        ],
        aggregates=[(key, n, d) for key, (n, d) in _cells(written).items()],
    )
    loaded = PartitionState("all", 0, _rules(float("inf"), 0))  # everything on time
    loaded.restore(stored)
    held = [e for e in loaded.entities.values() if isinstance(e, EventEntity) and e.override is not None]
    assert held, "no event was loaded under other rules: the test shows nothing"
    assert _cells(loaded) == _shares(loaded) == _cells(written)
    for kind, ident, name, slot in keyed[half:]:
        loaded.apply(kind, ident, name, slot)
    assert _cells(loaded) == _shares(loaded)
    on_time_before = sum(cell[0] for key, cell in _cells(loaded).items() if key[1] == ON_TIME)
    for event in held:  # a corrected created: the event is judged again, under the new rules
        created = event.created
        assert created is not None
        loaded.apply("event", event.ident, "created", replace(created, version=created.version + 1))
        assert event.override is None
    assert _cells(loaded) == _shares(loaded)
    assert sum(cell[0] for key, cell in _cells(loaded).items() if key[1] == ON_TIME) > on_time_before


def test_every_kind_loads_from_its_row_as_it_was() -> None:
    """A row written with orjson loads as the entity it was: every kind, and erroneous slots."""
    state = _scenario_state()
    errors = ErrorData("event", (("invalid_field", "at"), ("missing", None)), "svmon.events", 1, 42)
    state.apply("event", "E-err", "signed", Slot(2, 7, False, DAY, "330200.scjgj", "330200", errors))
    kinds = set()
    for key, entity in state.entities.items():
        copy = Entity.from_json(key, orjson.loads(orjson.dumps(entity.to_json())))
        assert copy.slots == entity.slots
        assert copy.to_json() == entity.to_json()
        kinds.add((entity.kind, all(slot.valid for slot in entity.values())))
    assert {kind for kind, _ in kinds} == {"event", "inspection", "item", "disclosure", "request"}
    assert (EVENT, False) in kinds
