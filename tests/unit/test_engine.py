"""Tests of daemon.runtime.engine without Kafka: batches, the DLQ, checkpoints and snapshots."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from daemon.core.prepare import Message
from daemon.exceptions import DlqError
from daemon.reports.query import report_counts
from daemon.runtime.engine import Engine
from tests import records
from tests.records import CST, INGESTED, FakeDlq

TODAY = INGESTED - timedelta(hours=2)
STAMP = int(INGESTED.timestamp() * 1000)


def _engine(tmp_path: Path, *scopes: tuple[str, int]) -> Engine:
    engine = records.make_engine(f"sqlite:///{tmp_path}/state.db")
    for scope in scopes or (("events", 0), ("inspections", 0), ("disclosures", 0)):
        engine.open_scope(scope)
    return engine


def test_every_message_is_applied_or_sent_to_the_dlq(tmp_path: Path) -> None:
    """Consumed = applied + rejected, and each rejected message is one DLQ write (docs/contract.md §9.3)."""
    engine = _engine(tmp_path)
    messages = records.mixed_stream(random.Random(3), 80, garbage=5)
    dlq = FakeDlq()
    result = engine.process(records.assign_offsets(messages), dlq)
    assert result.consumed == len(messages)
    assert result.applied + result.rejected == len(messages)
    assert result.rejected == sum(not m.valid for m in messages) == len(dlq.sent)
    engine.store.close()


def test_messages_of_unowned_partitions_are_skipped_not_applied(tmp_path: Path) -> None:
    """A message of a partition this engine does not own is counted as skipped and changes nothing."""
    engine = _engine(tmp_path, ("events", 0))
    value = records.encode(records.event("E1", "created", TODAY))
    result = engine.process([Message("svmon.events", 1, 0, b"E1", value, 0)], FakeDlq())
    assert (result.skipped, result.applied) == (1, 0)
    assert engine.checkpointed_offsets() == {}
    engine.store.close()


def test_checkpointed_offsets_move_only_when_a_checkpoint_lands(tmp_path: Path) -> None:
    """Applied records do not move the durable offsets (the lag's base); a checkpoint does."""
    engine = _engine(tmp_path, ("events", 0))
    value = records.encode(records.event("E1", "created", TODAY))
    engine.process([Message("svmon.events", 0, 41, b"E1", value, 0)], FakeDlq())
    assert engine.checkpointed_offsets() == {}
    engine.checkpoint(FakeDlq())
    assert engine.checkpointed_offsets() == {("svmon.events", 0): 42}
    engine.drop_scope(("events", 0))
    assert engine.checkpointed_offsets() == {}
    engine.store.close()


class _BrokenDlq(FakeDlq):
    def flush(self, timeout: float = 30.0) -> int:
        raise DlqError("DLQ svmon.dlq not writable")


def test_no_checkpoint_when_the_dlq_cannot_be_written(tmp_path: Path) -> None:
    """If the DLQ flush fails, nothing is checkpointed: offsets never pass an unsaved rejection."""
    engine = _engine(tmp_path, ("events", 0))
    engine.process(records.assign_offsets([records.Raw("events", b"", b"junk", None, False)]), FakeDlq())
    with pytest.raises(DlqError):
        engine.checkpoint(_BrokenDlq())
    assert engine.store.offsets([("svmon.events", 0)]) == {}
    assert engine.states[("events", 0)].dirty
    engine.store.close()


def test_checkpoint_returns_the_offsets_to_commit(tmp_path: Path) -> None:
    """After a checkpoint, the returned offsets are the next offsets stored per topic-partition."""
    engine = _engine(tmp_path)
    dlq = FakeDlq()
    messages = [records.raw(records.event(f"E{n}", "created", TODAY)) for n in range(3)]
    engine.process(records.assign_offsets(messages), dlq)
    assert engine.checkpoint(dlq).offsets == {("svmon.events", 0): 3}
    assert engine.store.offsets([("svmon.events", 0)]) == {("svmon.events", 0): 3}
    engine.store.close()


def test_snapshot_reports_open_overdue_orphans_and_requests(tmp_path: Path) -> None:
    """The snapshot counts open and overdue events, orphan actions and open withdrawal requests at now."""
    engine = _engine(tmp_path)
    dlq = FakeDlq()
    long_ago = TODAY - timedelta(days=60)
    messages = [
        records.raw(records.event("E1", "created", TODAY, kind="clue")),
        records.raw(records.event("E2", "created", long_ago, kind="risk_warning")),
        records.raw(records.event("E3", "handled", TODAY)),
        records.raw(records.disclosure_request("Q1", "submitted", TODAY, reason="expired")),
    ]
    engine.process(records.assign_offsets(messages), dlq)
    snapshot = engine.snapshot(now=INGESTED.timestamp())
    department = records.DEPARTMENT_CODES[0]
    assert snapshot.open_events == {
        ("clue", department, "330200"): 1,
        ("risk_warning", department, "330200"): 1,
    }
    assert snapshot.overdue_events == {("risk_warning", department, "330200"): 1}
    assert snapshot.orphan_actions == 1
    assert snapshot.requests_open == {(department, "withdraw", "expired"): 1}
    assert snapshot.indicators["day"][("event_handling_rate", department, "330200")] == [0, 1]
    assert snapshot.indicators["quarter"][("event_handling_rate", department, "330200")] == [0, 2]
    engine.store.close()


def test_late_record_of_an_evicted_entity_is_applied_once(tmp_path: Path) -> None:
    """A duplicate of a closed, evicted event changes nothing; a correction moves it back to open."""
    engine = _engine(tmp_path, ("events", 0))
    dlq = FakeDlq()
    created = records.event("E1", "created", TODAY)
    handled = records.event("E1", "handled", TODAY + timedelta(minutes=30))
    engine.process(records.assign_offsets([records.raw(created), records.raw(handled)]), dlq)
    engine.checkpoint(dlq)
    state = engine.states[("events", 0)]
    assert "event:E1" not in state.entities
    before = {day: {k: list(v) for k, v in cells.items()} for day, cells in state.aggregates.items()}
    duplicate = Message("svmon.events", 0, 2, b"E1", records.encode(handled), STAMP)
    engine.process([duplicate], dlq)
    assert state.aggregates == before
    cancelled = records.event("E1", "cancelled", TODAY + timedelta(hours=1))
    engine.process([Message("svmon.events", 0, 3, b"E1", records.encode(cancelled), STAMP)], dlq)
    key = ("event_handling_rate", records.DEPARTMENT_CODES[0], "330200")
    assert state.aggregates[TODAY.date().toordinal()][key] == [0, 0]
    engine.store.close()


def test_a_mis_keyed_catalogue_copy_counts_once_in_reports_at_its_highest_version(tmp_path: Path) -> None:
    """Two partitions holding versions of one item (a mis-keyed message) report it once, at its newest."""
    engine = _engine(tmp_path, ("inspections", 0), ("inspections", 1))
    first = records.encode(records.item("ITEM-1", TODAY, version=1, onboarded=False))
    second = records.encode(records.item("ITEM-1", TODAY, version=2, onboarded=True))
    dlq = FakeDlq()
    engine.process([Message("svmon.catalog", 0, 0, b"ITEM-1", first, STAMP)], dlq)
    engine.process([Message("svmon.catalog", 1, 0, b"elsewhere", second, STAMP)], dlq)
    engine.checkpoint(dlq)
    day = TODAY.date().toordinal()
    counts = report_counts(engine.store, engine.rules, day, day, INGESTED.timestamp())
    onboarding = [cell for (indicator, _, _), cell in counts.items() if indicator == "item_onboarding_rate"]
    assert onboarding == [[1, 1]]
    engine.store.close()


def test_days_before_this_year_live_in_the_store_and_late_records_add_to_them(tmp_path: Path) -> None:
    """Last year's cells are not held in memory; a late handled record still moves them, once."""
    engine = _engine(tmp_path, ("events", 0))
    last_year = TODAY.replace(year=TODAY.year - 1)
    old_day, this_day = last_year.date().toordinal(), TODAY.date().toordinal()
    dlq = FakeDlq()

    def send(offset: int, record: dict[str, object]) -> None:
        value = records.encode(record)
        engine.process([Message("svmon.events", 0, offset, b"E", value, STAMP)], dlq)

    send(0, records.event("OLD", "created", last_year))
    send(1, records.event("NEW", "created", TODAY))
    engine.checkpoint(dlq)
    send(2, records.event("OLD", "handled", last_year + timedelta(hours=3)))  # its cell is only stored
    engine.checkpoint(dlq)
    state = engine.states[("events", 0)]
    assert min(state.aggregates) == this_day  # nothing of last year in memory
    handling = report_counts(engine.store, engine.rules, old_day, old_day, INGESTED.timestamp())
    assert handling[("event_handling_rate", "330200.scjgj", "330200")] == [1, 1]

    reopened = records.make_engine(f"sqlite:///{tmp_path}/state.db")
    restored = reopened.open_scope(("events", 0))
    assert set(restored.aggregates) == {this_day}
    again = report_counts(reopened.store, reopened.rules, old_day, this_day, INGESTED.timestamp())
    assert again[("event_handling_rate", "330200.scjgj", "330200")] == [1, 2]
    engine.store.close()
    reopened.store.close()


def test_executed_withdrawals_are_counted_with_their_working_days_and_distinct_batches() -> None:
    """Executed applications of the period: how many, working days to execute, and distinct batches."""
    engine = records.make_engine("sqlite:///:memory:")
    engine.open_scope(("disclosures", 0))
    submitted = datetime(2025, 5, 12, 10, tzinfo=CST)  # a Monday, weeks before the clock's "now"
    steps = [
        records.disclosure_request("R1", "submitted", submitted, batch_id="B1"),
        records.disclosure_request("R1", "executed", submitted + timedelta(days=2), batch_id="B1"),
        records.disclosure_request("R2", "submitted", submitted, batch_id="B1"),
        records.disclosure_request("R2", "executed", submitted + timedelta(days=7), batch_id="B1"),
        records.disclosure_request("R3", "submitted", submitted, batch_id="B2"),
        records.disclosure_request("R3", "executed", submitted + timedelta(days=1), batch_id="B2"),
        records.disclosure_request("R4", "submitted", submitted),  # still open: not executed
    ]
    batch = [
        Message("svmon.disclosure-requests", 0, n, b"D1", records.encode(step), STAMP)
        for n, step in enumerate(steps)
    ]
    engine.process(batch, FakeDlq())
    figures = engine.snapshot().withdrawals
    # Mon->Wed is 2 working days, Mon->next Mon 5, Mon->Tue 1 (no holiday in those days of 2025).
    assert figures[("quarter", records.DEPARTMENT_CODES[0])] == (3, 2 + 5 + 1, 2)
    assert figures[("year", records.DEPARTMENT_CODES[0])] == (3, 8, 2)
    assert ("month", records.DEPARTMENT_CODES[0]) not in figures  # submitted in May, "now" is June
    engine.store.close()


def test_a_corrected_error_leaves_no_empty_group_in_reports_whatever_the_checkpoints(tmp_path: Path) -> None:
    """An error corrected after a checkpoint leaves a 0/0 row; reports show no phantom group for it."""
    engine = _engine(tmp_path, ("inspections", 0))
    day = TODAY.date().toordinal()
    wrong = records.inspection("I1", "ITEM-1", TODAY, department=records.UNREGISTERED)
    right = records.inspection("I1", "ITEM-1", TODAY, version=2)
    dlq = FakeDlq()
    engine.process([Message("svmon.inspections", 0, 0, b"ITEM-1", records.encode(wrong), STAMP)], dlq)
    engine.checkpoint(dlq)  # the erroneous record's cell is now a stored row
    engine.process([Message("svmon.inspections", 0, 1, b"ITEM-1", records.encode(right), STAMP)], dlq)
    engine.checkpoint(dlq)  # ...which the correction brings back to 0/0
    counts = report_counts(engine.store, engine.rules, day, day, INGESTED.timestamp())
    assert {department for _, department, _ in counts} == {records.DEPARTMENT_CODES[0]}
    engine.store.close()
