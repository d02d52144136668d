"""Order-freedom (docs/contract.md §9.2): any delivery order, duplicates and stale versions, the same state.

The second half checks the totals of many interleaved entities against an independent computation
written here from docs/contract.md §4, §6 and §7 (with chinese-calendar directly, not the daemon's calendar).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import chinese_calendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.prepare import Message, Pipeline
from daemon.core.state.partition import PartitionState
from daemon.reports.query import report_counts
from schemas.registry import load_registry
from tests import records
from tests.records import CST, INGESTED, Raw

REGISTRY = load_registry(None)
SETTINGS = Settings()
RULES = make_rules(SETTINGS, WorkingCalendar(None))
PIPELINE = Pipeline(REGISTRY, SETTINGS.kafka.max_message_bytes)
STAMP_MS = int(INGESTED.timestamp() * 1000)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def apply_all(messages: list[Raw]) -> PartitionState:
    """Validate and apply messages in the given order to a fresh state (no store)."""
    state = PartitionState("any", 0, RULES)
    for offset, message in enumerate(messages):
        prepared = PIPELINE.prepare(
            Message(message.topic, 0, offset, message.key, message.value, STAMP_MS), INGESTED
        )
        state.take(prepared)
    return state


def _without_coordinates(slots: dict[str, Any]) -> dict[str, Any]:
    # An erroneous slot remembers where its message was, to list it; which copy of a duplicate that is
    # follows the delivery (here, the order gives the offsets). What it counts does not.
    return {
        name: [*row[:6], {k: v for k, v in row[6].items() if k not in ("topic", "partition", "offset")}]
        for name, row in slots.items()
    }


def observed(state: PartitionState) -> tuple[Any, ...]:
    """Slots, non-zero aggregate cells and non-zero marks: everything order must not change."""
    # The stored row of each entity: its slots, and its share (a set: the order of cells is not state).
    slots = {
        key: (_without_coordinates(slots), {tuple(cell) for cell in share})
        for key, (slots, share) in ((key, entity.to_json()) for key, entity in state.entities.items())
    }
    cells = {
        (day, *group): tuple(cell)
        for day, groups in state.aggregates.items()
        for group, cell in groups.items()
        if cell != [0, 0]
    }
    marks = {(code, day): n for code, days in state.marks.items() for day, n in days.items() if n}
    return slots, cells, marks


def with_same_version_rival(rng: random.Random, messages: list[Raw]) -> list[Raw]:
    """Add a different record carrying the same version as an existing one (ties must not depend on order)."""
    chosen = rng.choice([m for m in messages if m.record is not None])
    assert chosen.record is not None
    rival = {**chosen.record, "schema": chosen.record["schema"]}
    rival = (
        records.spoil(rival) if chosen.valid else {k: v for k, v in rival.items() if k != "unexpected_field"}
    )
    return [*messages, records.raw(rival, valid=not chosen.valid)]


EntityFactory = Callable[[random.Random], list[Raw]]


def _event(rng: random.Random) -> list[Raw]:
    day = date(2023, 9, 28)
    start = records.at(day)
    out: list[Raw] = []
    base = [
        records.event("E1", "created", start, kind=rng.choice(records.EVENT_KINDS)),
        records.event("E1", "signed", start + timedelta(hours=1)),
        records.event("E1", "reassigned", start + timedelta(hours=2), department="330200.jtj"),
        records.event("E1", "handled", start + timedelta(days=rng.randint(1, 20))),
    ]
    if rng.random() < 0.5:
        base.append(records.event("E1", "cancelled", start + timedelta(days=2)))
    for record in base:
        out.extend(records.versions(rng, record, max_versions=3))
    return out


def _request(rng: random.Random) -> list[Raw]:
    start = records.at(date(2023, 3, 1))
    out: list[Raw] = []
    for step, days in (("submitted", 0), ("approved", 1), ("executed", 4), ("rejected", 2)):
        if step == "rejected" and rng.random() < 0.5:
            continue
        record = records.disclosure_request("Q1", step, start + timedelta(days=days), batch_id="B1")
        out.extend(records.versions(rng, record, max_versions=3))
    return out


def _disclosure(rng: random.Random) -> list[Raw]:
    return records.disclosure_versions(rng, "D1", date(2023, 5, 8))


def _inspection(rng: random.Random) -> list[Raw]:
    record = records.inspection("R1", "I1", records.at(date(2023, 5, 8)), double_random_task="T1")
    return records.versions(rng, record, max_versions=4)


def _item(rng: random.Random) -> list[Raw]:
    return records.item_versions(rng, "I1", date(2023, 1, 3))


FACTORIES: dict[str, EntityFactory] = {
    "event": _event,
    "request": _request,
    "disclosure": _disclosure,
    "inspection": _inspection,
    "item": _item,
}


@FAST
@given(
    kind=st.sampled_from(sorted(FACTORIES)),
    seed=st.integers(0, 2**32),
    rival=st.booleans(),
    data=st.data(),
)
def test_any_permutation_of_one_entity_gives_the_same_state(
    kind: str, seed: int, rival: bool, data: st.DataObject
) -> None:
    """Every permutation of an entity's versions (duplicates, stale, erroneous, ties) gives one state."""
    rng = random.Random(seed)
    messages = FACTORIES[kind](rng)
    if rival:
        messages = with_same_version_rival(rng, messages)
    shuffled = data.draw(st.permutations(messages))
    assert observed(apply_all(shuffled)) == observed(apply_all(messages))


@FAST
@given(seed=st.integers(0, 2**32), data=st.data())
def test_replaying_a_prefix_again_changes_nothing(seed: int, data: st.DataObject) -> None:
    """Delivering some messages twice (at-least-once redelivery) gives the state of delivering them once."""
    messages = _event(random.Random(seed))
    again = data.draw(st.lists(st.sampled_from(messages), max_size=len(messages)))
    order = data.draw(st.permutations([*messages, *again]))
    assert observed(apply_all(order)) == observed(apply_all(messages))


# --- independent computation from the contract (docs/contract.md) -----------------------------------

ACCURACY, HANDLING, ON_TIME = "data_accuracy_rate", "event_handling_rate", "event_on_time_rate"
MOBILE, DISCLOSURE_ON_TIME = "mobile_enforcement_rate", "disclosure_on_time_rate"
ONBOARDING, COVERAGE = "item_onboarding_rate", "double_random_coverage_rate"
COMPLIANCE = "disclosure_compliance_rate"
_ID_OR_PHONE = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9X]|1[3-9][0-9]{9})(?![0-9])")


def end_of_nth_working_day(day: date, n: int) -> datetime:
    """docs/contract.md §6: 23:59:59 Asia/Shanghai of the n-th working day after ``day``."""
    current = day
    while n:
        current += timedelta(days=1)
        if chinese_calendar.is_workday(current):
            n -= 1
    return datetime(current.year, current.month, current.day, 23, 59, 59, tzinfo=CST)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _local_day(text: str) -> date:
    return _instant(text).astimezone(CST).date()


def latest_versions(messages: list[Raw]) -> dict[tuple[str, ...], Raw]:
    """The latest version of every record key (generated keys have distinct versions except duplicates)."""
    names = {
        "event/v1": ("event_id", "action"),
        "inspection/v1": ("record_id",),
        "item/v1": ("item_code",),
        "disclosure/v1": ("disclosure_id",),
        "disclosure-request/v1": ("request_id", "action"),
    }
    latest: dict[tuple[str, ...], Raw] = {}
    for message in messages:
        record = message.record
        if record is None:
            continue
        key = (record["schema"], *(record[name] for name in names[record["schema"]]))
        current = latest.get(key)
        if current is None or record["version"] > (current.record or {})["version"]:
            latest[key] = message
    return latest


Expected = dict[tuple[str, str], list[int]]  # (indicator, department) -> [numerator, denominator]


def _bump(expected: Expected, indicator: str, department: str, numerator: int, denominator: int = 1) -> None:
    cell = expected.setdefault((indicator, department), [0, 0])
    cell[0] += numerator
    cell[1] += denominator


def _label(department: str | None) -> str:
    return department if department in records.DEPARTMENTS else "_unregistered"


def expected_totals(messages: list[Raw], start: date, end: date, now: datetime) -> Expected:
    """All eight indicators over [start, end] per department, straight from docs/contract.md §4 and §7."""
    expected: Expected = {}
    latest = latest_versions(messages)
    by_entity: dict[tuple[str, str], dict[str, Raw]] = {}
    for key, message in latest.items():
        if key[0] in ("event/v1", "disclosure-request/v1"):
            by_entity.setdefault((key[0], key[1]), {})[key[2]] = message

    def in_period(day: date) -> bool:
        return start <= day <= end

    ingested = INGESTED.date()
    for (schema, _), actions in by_entity.items():
        anchor_name = "created" if schema == "event/v1" else "submitted"
        anchor = actions.get(anchor_name)
        anchor_valid = anchor is not None and anchor.valid
        if schema == "event/v1":
            reassigned = actions.get("reassigned")
            responsible = None
            if anchor_valid:
                assert anchor is not None
                assert anchor.record is not None
                responsible = anchor.record["department"]
                if reassigned is not None and reassigned.valid:
                    responsible = (reassigned.record or {})["department"]
        for message in actions.values():
            record = message.record or {}
            if anchor_valid:
                assert anchor is not None
                assert anchor.record is not None
                day = _local_day(anchor.record["at"])
                if message.valid:  # every valid action is the responsible department's record
                    department = responsible if schema == "event/v1" else record["department"]
                else:
                    department = _label(record.get("department"))
            elif message.valid:
                continue  # an orphan action counts in no period
            else:
                day = _local_day(record["at"]) if "at" in record else ingested
                department = _label(record.get("department"))
            if in_period(day):
                _bump(expected, ACCURACY, str(department), int(message.valid))
        if schema == "event/v1" and anchor_valid:
            assert anchor is not None
            assert anchor.record is not None
            created = anchor.record
            day = _local_day(created["at"])
            cancelled = actions.get("cancelled")
            handled = actions.get("handled")
            if not in_period(day) or (cancelled is not None and cancelled.valid):
                continue
            is_handled = handled is not None and handled.valid
            _bump(expected, HANDLING, str(responsible), int(is_handled))
            if is_handled:
                assert handled is not None
                assert handled.record is not None
                deadline_text = None
                if reassigned is not None and reassigned.valid:
                    deadline_text = (reassigned.record or {}).get("deadline")
                deadline_text = deadline_text or created.get("deadline")
                deadline = (
                    _instant(deadline_text)
                    if deadline_text
                    else end_of_nth_working_day(day, SETTINGS.sla_working_days.for_kind(created["kind"]))
                )
                _bump(expected, ON_TIME, str(responsible), int(_instant(handled.record["at"]) <= deadline))
    covered: set[str] = set()
    for key, message in latest.items():
        record = message.record or {}
        schema = key[0]
        if schema in ("event/v1", "disclosure-request/v1"):
            continue
        primary = record["decided_at"] if schema == "disclosure/v1" else record["at"]
        day = date.fromisoformat(primary) if schema == "disclosure/v1" else _local_day(primary)
        if in_period(day):
            _bump(expected, ACCURACY, _label(record.get("department")), int(message.valid))
        if not message.valid:
            continue
        department = record["department"]
        if schema == "inspection/v1" and in_period(day):
            _bump(expected, MOBILE, department, int(record["channel"] == "mobile"))
            if record["double_random_task"] is not None:
                covered.add(record["item_code"])
        elif schema == "disclosure/v1" and in_period(day) and record["published_at"] is not None:
            limit = end_of_nth_working_day(day, SETTINGS.disclosure.publish_within_working_days)
            _bump(expected, DISCLOSURE_ON_TIME, department, int(_instant(record["published_at"]) <= limit))
    for key, message in latest.items():
        record = message.record or {}
        if not message.valid:
            continue
        if key[0] == "item/v1" and record["active"] and _local_day(record["at"]) <= end:
            _bump(expected, ONBOARDING, record["department"], int(record["onboarded"]))
            if record["double_random"]:
                _bump(expected, COVERAGE, record["department"], int(key[1] in covered))
        elif key[0] == "disclosure/v1" and record["status"] == "published":
            _bump(expected, COMPLIANCE, record["department"], int(not violations(record, now)))
    return expected


def violations(record: dict[str, Any], now: datetime) -> list[str]:
    """docs/contract.md §7 violations of a currently published disclosure at ``now``."""
    found = []
    party = record["party"]
    texts = (record["content"], party["name"], record["decision_no"])
    if any(_ID_OR_PHONE.search(text) for text in texts) or (
        party["type"] == "natural_person" and "*" not in party["id"]
    ):
        found.append("personal_info_exposed")
    if record["procedure"] == "simple":
        found.append("simple_procedure_published")
    decided = date.fromisoformat(record["decided_at"])
    published = record["published_at"]
    if published and _instant(published) > end_of_nth_working_day(decided, 7):
        found.append("published_late")
    if record["publicity_until"] and now > end_of_nth_working_day(
        date.fromisoformat(record["publicity_until"]), 3
    ):
        found.append("expired_not_withdrawn")
    if record["revoked_at"] and now > end_of_nth_working_day(_local_day(record["revoked_at"]), 3):
        found.append("revoked_not_withdrawn")
    return found


def by_department(counts: dict[tuple[str, str, str], list[int]]) -> Expected:
    """Daemon counts summed over divisions, without all-zero cells."""
    out: Expected = {}
    for (indicator, department, _), (numerator, denominator) in counts.items():
        _bump(out, indicator, department, numerator, denominator)
    return {key: cell for key, cell in out.items() if cell != [0, 0]}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), partitions=st.integers(1, 3))
def test_interleaved_entities_match_an_independent_computation(seed: int, partitions: int) -> None:
    """Hundreds of entities in random order give, per department, the totals docs/contract.md §7 defines."""
    import tempfile

    messages = records.mixed_stream(random.Random(seed), 150, garbage=5)
    with tempfile.TemporaryDirectory() as directory:
        engine = records.make_engine(f"sqlite:///{directory}/state.db")
        scopes = {("events", p) for p in range(partitions)}
        scopes |= {("inspections", p) for p in range(partitions)}
        scopes |= {("disclosures", p) for p in range(partitions)}
        for scope in sorted(scopes):
            engine.open_scope(scope)
        dlq = records.FakeDlq()
        engine.process(records.assign_offsets(messages, partitions), dlq)
        engine.checkpoint(dlq)
        year = (date(2023, 1, 1), date(2023, 12, 31))
        counts = report_counts(
            engine.store, engine.rules, year[0].toordinal(), year[1].toordinal(), INGESTED.timestamp()
        )
        engine.store.close()
    expected = expected_totals(messages, *year, INGESTED)
    assert by_department(counts) == {k: v for k, v in expected.items() if v != [0, 0]}
    assert len(dlq.sent) == sum(not m.valid for m in messages)
