"""Tests of daemon.store.sql on SQLite: checkpoint, restore, fetch, fencing, schema versions.

The behaviour tests take a ``store_url`` fixture, so tests/integration/test_store_postgres.py runs the
same ones against a real PostgreSQL server.
"""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.core.prepare import Message
from daemon.core.state.partition import PartitionState
from daemon.core.state.slots import Slot
from daemon.exceptions import StoreError, StoreVersionError
from daemon.reports.lists import ListFilters, Lists
from daemon.reports.query import report_counts
from daemon.runtime.engine import Engine
from daemon.store import SqlStore, open_store
from daemon.store import sql as sql_module
from daemon.store.protocol import SCHEMA_VERSION, FencedError
from daemon.store.sqlite import WalCopier
from tests import records
from tests.records import INGESTED, FakeDlq

STAMP = int(INGESTED.timestamp() * 1000)
EVERYTHING = (date(2000, 1, 1).toordinal(), date(2030, 1, 1).toordinal())
START = records.at(date(2023, 3, 1))


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh SQLite store in the test's directory."""
    return f"sqlite:///{tmp_path}/state.db"


def _engine(url: str, *scopes: tuple[str, int]) -> Engine:
    engine = records.make_engine(url)
    for scope in scopes or (("events", 0),):
        engine.open_scope(scope)
    return engine


def _message(record: dict[str, object], offset: int, partition: int = 0, key: bytes | None = None) -> Message:
    raw = records.raw(record)
    return Message(raw.topic, partition, offset, raw.key if key is None else key, raw.value, STAMP)


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines a test opens, closed afterwards."""
    opened: list[Engine] = []
    yield opened
    for engine in opened:
        engine.store.close()


def test_checkpoint_then_restore_gives_the_same_state(store_url: str, engines: list[Engine]) -> None:
    """A new engine on the same store restores open entities, aggregates, marks and offsets."""
    first = _engine(store_url, ("events", 0), ("inspections", 0))
    engines.append(first)
    dlq = FakeDlq()
    inspection = records.inspection("R1", "I1", START, double_random_task="T1")
    first.process(
        [
            _message(records.event("E1", "created", START), 0),
            _message(records.item("I1", START), 0),
            _message(inspection, 1, key=b"I1"),
        ],
        dlq,
    )
    first.checkpoint(dlq)
    second = _engine(store_url, ("events", 0), ("inspections", 0))
    engines.append(second)
    for scope, state in first.states.items():
        restored = second.states[scope]
        assert restored.offsets == state.offsets
        assert restored.aggregates == state.aggregates
        assert restored.marks == state.marks
        assert {k: e.to_json() for k, e in restored.entities.items()} == {
            k: e.to_json() for k, e in state.entities.items()
        }
    assert "event:E1" in second.states[("events", 0)].entities


def test_a_restore_read_in_several_batches_gives_the_same_state(
    store_url: str, engines: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Resident rows fetched a few at a time are all restored, each with its own row."""
    monkeypatch.setattr(sql_module, "_RESTORE_BATCH", 2)
    first = _engine(store_url)
    engines.append(first)
    dlq = FakeDlq()
    first.process(
        [_message(records.event(f"E{n}", "created", START + timedelta(hours=n)), n) for n in range(7)], dlq
    )
    first.checkpoint(dlq)
    second = _engine(store_url)
    engines.append(second)
    state, restored = first.states[("events", 0)], second.states[("events", 0)]
    assert len(restored.entities) == 7
    assert {k: e.to_json() for k, e in restored.entities.items()} == {
        k: e.to_json() for k, e in state.entities.items()
    }
    assert restored.offsets == state.offsets


def test_a_restore_hands_the_page_cache_back_to_the_checkpoints(tmp_path: Path) -> None:
    """SQLite reads a scope's rows through a small page cache, then gets its checkpoints' size back."""
    store = open_store(f"sqlite:///{tmp_path}/state.db")
    seen: list[int] = []
    original = store._execute

    def execute(statement: str, parameters: Any = ()) -> Any:
        if statement.startswith("SELECT key, data FROM svmon_entities"):
            seen.append(original("PRAGMA cache_size").fetchone()[0])
        return original(statement, parameters)

    try:
        before = store._execute("PRAGMA cache_size").fetchone()[0]
        store._execute = execute  # type: ignore[method-assign]
        store.load("events", 0, None)
        assert seen == [-2048]
        assert store._execute("PRAGMA cache_size").fetchone()[0] == before == -8192
    finally:
        store.close()


def test_closed_entities_are_fetched_back_by_key(store_url: str, engines: list[Engine]) -> None:
    """A closed entity is not restored into memory but ``fetch`` returns it from its own partition."""
    engine = _engine(store_url)
    engines.append(engine)
    dlq = FakeDlq()
    engine.process(
        [
            _message(records.event("E1", "created", START), 0),
            _message(records.event("E1", "handled", START + timedelta(days=1)), 1),
        ],
        dlq,
    )
    engine.checkpoint(dlq)
    assert "event:E1" not in engine.states[("events", 0)].entities
    fetched = engine.store.fetch("events", 0, ["event:E1", "event:nope"])
    assert [key for key, _ in fetched] == ["event:E1"]
    slots, share = fetched[0][1]
    assert set(slots) == {"created", "handled"}
    day = START.date().toordinal()
    assert share == [[day, "event_on_time_rate", records.DEPARTMENT_CODES[0], "330200", 1, 1]]
    assert engine.store.fetch("events", 1, ["event:E1"]) == []


def test_list_entries_are_replaced_after_a_restart_and_only_inserted_for_new_entities(
    store_url: str, engines: list[Engine]
) -> None:
    """A new entity's entries are inserted without deleting (it has none stored); one restored
    from the store has its stored entries replaced, so a handled event leaves the open list."""
    first = _engine(store_url)
    engines.append(first)
    dlq = FakeDlq()
    first.process([_message(records.event("E1", "created", START), 0)], dlq)
    changes = first.states[("events", 0)].changes()
    assert changes is not None
    assert [owner for owner, entries in changes.listed if entries] == ["event:E1"]
    assert changes.replaced == []  # new: nothing stored to delete
    first.checkpoint(dlq)
    assert _open_list(store_url, first) == (1, False)
    second = _engine(store_url)  # restored: the store holds entries of it
    engines.append(second)
    second.process([_message(records.event("E1", "handled", START + timedelta(days=1)), 1)], dlq)
    changes = second.states[("events", 0)].changes()
    assert changes is not None
    assert changes.replaced == ["event:E1"]
    second.checkpoint(dlq)
    assert _open_list(store_url, second) == (0, False)


def test_the_wal_is_copied_into_the_database_file_by_a_thread_not_by_the_commit(tmp_path: Path) -> None:
    """A checkpoint's COMMIT leaves its pages in the WAL; the copier thread moves them into the
    database file afterwards, and the next open reads them all the same."""
    path = tmp_path / "state.db"
    engine = _engine(f"sqlite:///{path}")
    dlq = FakeDlq()
    assert isinstance(engine.store, SqlStore)
    copier = engine.store.after_checkpoint
    assert isinstance(copier, WalCopier)
    assert copier.passes == 0
    size_before = path.stat().st_size
    engine.process([_message(records.event(f"E{n}", "created", START), n) for n in range(2000)], dlq)
    engine.checkpoint(dlq)
    assert copier.wait_for(1, timeout=30)
    assert path.stat().st_size > size_before  # the pages reached the database file
    engine.store.close()
    reopened = _engine(f"sqlite:///{path}")
    try:
        assert len(reopened.states[("events", 0)].entities) == 2000
    finally:
        reopened.store.close()


def test_the_store_connection_leaves_the_wal_to_the_copier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the copier the database file does not grow, even past the 1,000 pages of WAL at
    which SQLite's own COMMIT would have copied them."""
    path = tmp_path / "state.db"
    monkeypatch.setattr(WalCopier, "checkpointed", lambda self: None)
    engine = _engine(f"sqlite:///{path}")
    dlq = FakeDlq()
    size_before = path.stat().st_size
    for start in range(0, 12_000, 2000):
        batch = range(start, start + 2000)
        engine.process([_message(records.event(f"E{n}", "created", START), n) for n in batch], dlq)
        engine.checkpoint(dlq)
    assert (tmp_path / "state.db-wal").stat().st_size > 1000 * 4096
    assert path.stat().st_size == size_before
    engine.store.close()


def test_same_entity_in_two_partitions_keeps_both_copies(store_url: str, engines: list[Engine]) -> None:
    """A mis-keyed action of an entity lands in another partition without overwriting the entity there."""
    engine = _engine(store_url, ("events", 0), ("events", 1))
    engines.append(engine)
    dlq = FakeDlq()
    engine.process([_message(records.event("E1", "created", START), 0)], dlq)
    engine.process([_message(records.event("E1", "signed", START), 0, partition=1, key=b"x")], dlq)
    engine.checkpoint(dlq)
    reopened = _engine(store_url, ("events", 0), ("events", 1))
    engines.append(reopened)
    assert set(reopened.states[("events", 0)].entities["event:E1"].slots) == {"created"}
    assert set(reopened.states[("events", 1)].entities["event:E1"].slots) == {"signed"}


def test_failed_checkpoint_writes_nothing_and_keeps_rows_dirty(store_url: str, engines: list[Engine]) -> None:
    """A checkpoint that fails midway rolls back state and offsets together and can be retried."""
    engine = _engine(store_url)
    engines.append(engine)
    dlq = FakeDlq()
    engine.process([_message(records.event("E1", "created", START), 0)], dlq)
    state = engine.states[("events", 0)]
    # A mark the store must refuse (NOT NULL count), written after the entity and aggregate rows.
    state.marks["x"] = {1: None}  # type: ignore[dict-item]
    state.dirty.marks.add(("x", 1))
    with pytest.raises(StoreError):
        engine.checkpoint(dlq)
    assert engine.store.offsets([("svmon.events", 0)]) == {}
    assert engine.store.fetch("events", 0, ["event:E1"]) == []
    assert list(engine.store.aggregates(0, 10**6)) == []
    assert state.dirty.offsets == {"svmon.events"}
    state.dirty.marks.discard(("x", 1))
    del state.marks["x"]
    engine.checkpoint(dlq)
    assert engine.store.offsets([("svmon.events", 0)]) == {("svmon.events", 0): 1}


def test_a_second_claim_fences_out_the_first_owner(store_url: str, engines: list[Engine]) -> None:
    """After another claim, the old owner's checkpoint raises FencedError and writes nothing."""
    old = _engine(store_url)
    new = _engine(store_url)
    engines.extend([old, new])
    dlq = FakeDlq()
    old.process([_message(records.event("E1", "created", START), 0)], dlq)
    state = old.states[("events", 0)]
    with pytest.raises(FencedError) as raised:
        old.store.checkpoint([change for change in [state.changes()] if change is not None], old.epochs)
    assert raised.value.scope_id == ("events", 0)
    assert "claimed by another instance" in str(raised.value)
    assert new.store.offsets([("svmon.events", 0)]) == {}


def test_engine_drops_a_fenced_scope_and_checkpoints_the_rest(store_url: str, engines: list[Engine]) -> None:
    """Engine.checkpoint drops a scope another instance claimed and still writes its other scopes."""
    old = _engine(store_url, ("events", 0), ("events", 1))
    engines.append(old)
    dlq = FakeDlq()
    old.process(
        [
            _message(records.event("E1", "created", START), 0),
            _message(records.event("E2", "created", START), 0, partition=1, key=b"E2"),
        ],
        dlq,
    )
    new = _engine(store_url, ("events", 0))
    engines.append(new)
    offsets = old.checkpoint(dlq).offsets
    assert ("events", 0) not in old.states
    assert offsets == {("svmon.events", 1): 1}
    assert old.store.offsets([("svmon.events", 0), ("svmon.events", 1)]) == {("svmon.events", 1): 1}


def test_reports_read_every_partition(store_url: str, engines: list[Engine]) -> None:
    """Aggregates and marks read from the store are summed across partitions and scopes."""
    engine = _engine(store_url, ("events", 0), ("events", 1))
    engines.append(engine)
    dlq = FakeDlq()
    engine.process(
        [
            _message(records.event("E1", "created", START), 0),
            _message(records.event("E2", "created", START), 0, partition=1, key=b"E2"),
        ],
        dlq,
    )
    engine.checkpoint(dlq)
    counts = report_counts(engine.store, engine.rules, *EVERYTHING, INGESTED.timestamp())
    assert counts[("event_handling_rate", records.DEPARTMENT_CODES[0], "330200")] == [0, 2]
    assert engine.store.last_checkpoint_at() is not None


def test_a_rule_change_between_runs_leaves_the_aggregates_consistent(
    store_url: str, engines: list[Engine]
) -> None:
    """An entity restored under other deadline rules takes back exactly the share it added.

    Published on the 13th working day: on time under a 20-day rule, late under 7. When a later,
    erroneous version withdraws the on-time judgment, the cell must go back to 0/0 — not to 1/0,
    which is what recomputing the old share under the new rule would leave.
    """
    decided = date(2023, 3, 1)
    first = records.make_engine(store_url, disclosure={"publish_within_working_days": 20})
    engines.append(first)
    first.open_scope(("disclosures", 0))
    dlq = FakeDlq()
    published = records.at(date(2023, 3, 20))
    first.process([_message(records.disclosure("D1", decided, published_at=published), 0)], dlq)
    first.checkpoint(dlq)
    on_time = ("disclosure_on_time_rate", records.DEPARTMENT_CODES[0], "330200")
    assert report_counts(first.store, first.rules, *EVERYTHING, INGESTED.timestamp())[on_time] == [1, 1]

    second = records.make_engine(store_url, disclosure={"publish_within_working_days": 7})
    engines.append(second)
    second.open_scope(("disclosures", 0))
    erroneous = records.disclosure("D1", decided, version=2, published_at=published, department="nope")
    assert second.process([_message(erroneous, 1)], dlq).rejected == 1
    second.checkpoint(dlq)
    counts = report_counts(second.store, second.rules, *EVERYTHING, INGESTED.timestamp())
    assert on_time not in counts
    assert all(numerator <= denominator for numerator, denominator in counts.values())


def test_a_version_4_store_gets_scope_versions_that_checkpoints_bump(
    store_url: str, engines: list[Engine]
) -> None:
    """Schema 5 adds svmon_owners.version: an older store's scopes start at 0, its next checkpoint
    makes the written scope 1 (what a read-ahead is checked against)."""
    writer = _engine(store_url)
    dlq = FakeDlq()
    writer.process([_message(records.event("E1", "created", START), 0)], dlq)
    writer.checkpoint(dlq)
    assert isinstance(writer.store, SqlStore)
    writer.store._execute("ALTER TABLE svmon_owners DROP COLUMN version")
    writer.store._execute("UPDATE svmon_meta SET value = '4' WHERE name = 'schema_version'")
    writer.store._connection.commit()
    writer.store.close()
    reader = _engine(store_url)
    engines.append(reader)
    assert reader.store.migrated_from == 4
    assert reader.store.version("events", 0) == 0
    assert reader.states[("events", 0)].entities.keys() == {"event:E1"}
    reader.process([_message(records.event("E2", "created", START), 1)], dlq)
    reader.checkpoint(dlq)
    assert reader.store.version("events", 0) == 1


def test_a_version_5_store_gets_a_row_per_day_for_its_cells(store_url: str, engines: list[Engine]) -> None:
    """Schema 6 keeps a scope's aggregate cells of one day in one row: a version 5 store's rows, one
    per cell, are moved there when it is opened; restore and reports read the same counts, and a late
    record adds to a moved day's cells."""
    recent = records.at(date(2025, 5, 6))  # in the clock's year: held in memory (START is not)
    writer = _engine(store_url, ("events", 0), ("inspections", 0))
    dlq = FakeDlq()
    writer.process(
        [
            _message(records.event("E1", "created", START), 0),
            _message(records.event("E1", "handled", START + timedelta(hours=2)), 1),
            _message(records.event("E2", "created", recent), 2),
            _message(records.inspection("R1", "I1", recent), 0, key=b"I1"),
        ],
        dlq,
    )
    writer.checkpoint(dlq)
    in_memory = {scope: state.aggregates for scope, state in writer.states.items()}
    assert all(in_memory.values())
    reported = sorted(writer.store.aggregates(*EVERYTHING))
    assert isinstance(writer.store, SqlStore)
    store = writer.store
    store._execute(sql_module._CELLS_OF_VERSION_5)
    days = store._execute("SELECT scope, part, day, cells FROM svmon_aggregate_days").fetchall()
    assert {(scope, part) for scope, part, _, _ in days} == {("events", 0), ("inspections", 0)}
    assert {day for _, _, day, _ in days} == {START.date().toordinal(), recent.date().toordinal()}
    insert = "INSERT INTO svmon_aggregates VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    for scope, part, day, cells in days:
        for cell in json.loads(cells):
            store._execute(insert, (scope, part, day, *cell))
    store._execute("DELETE FROM svmon_aggregate_days")
    store._execute("UPDATE svmon_meta SET value = '5' WHERE name = 'schema_version'")
    store._connection.commit()
    store.close()

    reader = _engine(store_url, ("events", 0), ("inspections", 0))
    engines.append(reader)
    assert reader.store.migrated_from == 5
    assert {scope: state.aggregates for scope, state in reader.states.items()} == in_memory
    assert sorted(reader.store.aggregates(*EVERYTHING)) == reported
    assert isinstance(reader.store, SqlStore)
    with pytest.raises(Exception, match="svmon_aggregates"):
        reader.store._execute("SELECT * FROM svmon_aggregates")
    reader.store._rollback()
    handling = ("event_handling_rate", "330200.scjgj", "330200")
    day = START.date().toordinal()
    assert report_counts(reader.store, reader.rules, day, day, START.timestamp())[handling] == [1, 1]
    reader.process([_message(records.event("E3", "created", START), 3)], dlq)  # late: its day is stored
    reader.checkpoint(dlq)
    assert report_counts(reader.store, reader.rules, day, day, START.timestamp())[handling] == [1, 2]


# --- SQLite only ------------------------------------------------------------------------------------


def test_a_store_from_a_newer_svmon_is_refused(tmp_path: Path) -> None:
    """A store whose schema version is newer than this build is refused with a message saying what to do."""
    url = f"sqlite:///{tmp_path}/state.db"
    open_store(url).close()
    with sqlite3.connect(tmp_path / "state.db") as connection:
        connection.execute("UPDATE svmon_meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(StoreVersionError) as raised:
        open_store(url)
    message = str(raised.value)
    assert "schema version 99" in message
    assert f"up to version {SCHEMA_VERSION}" in message
    assert "Upgrade svmon" in message


def test_a_version_1_store_is_migrated_keeping_its_entities(tmp_path: Path) -> None:
    """A store written by schema version 1 (entities keyed by entity key only) opens with its rows intact."""
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE svmon_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        connection.execute("INSERT INTO svmon_meta VALUES ('schema_version', '1')")
        connection.execute(
            "CREATE TABLE svmon_entities (key TEXT PRIMARY KEY, scope TEXT NOT NULL, part INTEGER NOT NULL,"
            " kind TEXT NOT NULL, resident INTEGER NOT NULL, data TEXT NOT NULL)"
        )
        connection.execute("INSERT INTO svmon_entities VALUES ('item:I1', 'inspections', 0, 'item', 1, '{}')")
    store = open_store(f"sqlite:///{path}")
    try:
        assert store.migrated_from == 1
        assert store.fetch("inspections", 0, ["item:I1"]) == [("item:I1", {})]
        state = PartitionState("inspections", 1, records.make_engine(f"sqlite:///{tmp_path}/o.db").rules)
        state.apply("item", "I1", "", Slot(1, 1, False, 1, "d", "v", None))
        changes = state.changes()
        assert changes is not None
        store.checkpoint([changes], {("inspections", 1): store.claim("inspections", 1)})
        assert len(store.fetch("inspections", 1, ["item:I1"])) == 1
        assert len(store.fetch("inspections", 0, ["item:I1"])) == 1
    finally:
        store.close()


def test_a_version_2_store_is_upgraded_and_its_rows_still_load(tmp_path: Path, engines: list[Engine]) -> None:
    """Version 2 rows (bare slots, no share) are restored with their share derived; the store says 3."""
    url = f"sqlite:///{tmp_path}/state.db"
    writer = _engine(url)
    engines.append(writer)
    assert writer.store.migrated_from is None  # a new store is created at the current version
    dlq = FakeDlq()
    writer.process([_message(records.event("E1", "created", START), 0)], dlq)
    writer.checkpoint(dlq)
    written = writer.states[("events", 0)].entities["event:E1"]
    writer.store.close()
    with sqlite3.connect(tmp_path / "state.db") as connection:
        connection.execute("UPDATE svmon_meta SET value = '2' WHERE name = 'schema_version'")
        bare_slots = json.dumps(written.to_json()[0])
        connection.execute("UPDATE svmon_entities SET data = ? WHERE key = 'event:E1'", (bare_slots,))
    reader = _engine(url)
    engines.append(reader)
    assert reader.store.migrated_from == 2
    restored = reader.states[("events", 0)].entities["event:E1"]
    assert restored.slots == written.slots
    assert restored.contribution.counts == written.contribution.counts
    with sqlite3.connect(tmp_path / "state.db") as connection:
        version = connection.execute("SELECT value FROM svmon_meta WHERE name = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


def _open_list(url: str, engine: Engine) -> tuple[int, bool]:
    """(total, incomplete) of the open-events list, as ``svmon list`` reads it from ``url``."""
    store = open_store(url)
    try:
        header = Lists(store, engine.rules, engine.registry).header("open", ListFilters(), START.timestamp())
        return int(header["total"]), "incomplete" in header
    finally:
        store.close()


def test_a_version_3_store_gets_its_lists_from_the_next_daemon_even_after_a_crash(
    store_url: str, engines: list[Engine]
) -> None:
    """A store from before the lists is marked, whoever opens it first (here a reader); the lists
    are rebuilt by the daemon that restores the scope, and the mark goes only with that checkpoint."""
    writer = _engine(store_url)
    engines.append(writer)
    dlq = FakeDlq()
    writer.process([_message(records.event(f"E{n}", "created", START), n) for n in range(3)], dlq)
    writer.checkpoint(dlq)
    assert _open_list(store_url, writer) == (3, False)
    assert isinstance(writer.store, SqlStore)
    writer.store._execute("DELETE FROM svmon_list")
    writer.store._execute("UPDATE svmon_meta SET value = '3' WHERE name = 'schema_version'")
    writer.store._connection.commit()
    writer.store.close()

    assert _open_list(store_url, writer) == (0, True)  # migrated by a reader: it says so
    crashed = _engine(store_url)  # restores and relists in memory, then dies before a checkpoint
    crashed.store.close()
    assert _open_list(store_url, writer) == (0, True)
    daemon = _engine(store_url)
    engines.append(daemon)
    daemon.checkpoint(FakeDlq())
    assert _open_list(store_url, writer) == (3, False)
    assert daemon.store.unlisted() == set()
    again = _engine(store_url)
    engines.append(again)
    assert not again.states[("events", 0)].dirty  # rebuilt once, not on every start


def test_unsupported_url_is_a_readable_error() -> None:
    """An unknown store URL scheme says which ones are supported."""
    with pytest.raises(StoreError, match=r"sqlite:///path or postgresql://"):
        open_store("mysql://x")


def _open_and_report(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        open_store(f"sqlite:///{path}").close()
        results.put("ok")
    except StoreError as exc:
        results.put(str(exc))


def test_instances_opening_a_new_store_at_once_all_get_it(tmp_path: Path) -> None:
    """Two processes creating one store race to switch it to WAL; SQLite fails the loser at once
    ("database is locked", no busy wait). Before svmon retried that, ~1 start in 10 died of it."""
    context = multiprocessing.get_context("fork")
    outcomes: list[str] = []
    for trial in range(60):
        path = str(tmp_path / f"new-{trial}.db")
        barrier, results = context.Barrier(2), context.Queue()
        openers = [context.Process(target=_open_and_report, args=(path, barrier, results)) for _ in range(2)]
        for opener in openers:
            opener.start()
        outcomes.extend(results.get(timeout=60) for _ in openers)
        for opener in openers:
            opener.join(timeout=60)
    assert [outcome for outcome in outcomes if outcome != "ok"] == []
    assert len(outcomes) == 120
