"""Reading stored scopes ahead of the assignment (daemon/runtime/readahead.py, Engine.read_ahead).

What is read ahead must be used only when it is what a restore after the claim would read; a
checkpoint by anyone in between, or during the read, makes the scope be read again.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import date
from pathlib import Path

import pytest

from daemon.core.prepare import Message
from daemon.runtime.engine import Engine
from daemon.runtime.readahead import ReadAhead
from daemon.store import open_store
from daemon.store.sql import SqlStore
from tests import records
from tests.records import INGESTED, FakeDlq
from tests.unit.test_store_sqlite import engines

STAMP = int(INGESTED.timestamp() * 1000)
START = records.at(date(2023, 3, 1))
EVENTS = ("events", 0)

__all__ = ["engines"]  # the fixture, shared with the store tests


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/state.db"


def _message(record: dict[str, object], offset: int, partition: int = 0) -> Message:
    raw = records.raw(record)
    return Message(raw.topic, partition, offset, raw.key, raw.value, STAMP)


def _engine(url: str, engines: list[Engine], *scopes: tuple[str, int]) -> Engine:
    engine = records.make_engine(url)
    engines.append(engine)
    for scope in scopes:
        engine.open_scope(scope)
    return engine


def _written(url: str, engines: list[Engine], events: int, partition: int = 0) -> Engine:
    """An owner of events/<partition> that checkpointed ``events`` created events."""
    owner = _engine(url, engines, ("events", partition))
    dlq = FakeDlq()
    created = [records.event(f"E{partition}-{n}", "created", START) for n in range(events)]
    owner.process([_message(record, n, partition) for n, record in enumerate(created)], dlq)
    owner.checkpoint(dlq)
    return owner


def _stored(url: str, engines: list[Engine], events: int, partition: int = 0) -> None:
    """The same, by an owner that has stopped since (a restart's store)."""
    owner = _written(url, engines, events, partition)
    owner.store.close()
    engines.remove(owner)


def _read_ahead(url: str, engine: Engine) -> int:
    store = open_store(url)
    try:
        return engine.read_ahead(store, threading.Event())
    finally:
        store.close()


def _open_count(engine: Engine) -> int:
    state = engine.states[EVENTS]
    return sum(1 for key in state.entities if key.startswith("event:"))


def test_a_scope_unchanged_since_it_was_read_ahead_is_used_as_read(
    store_url: str, engines: list[Engine]
) -> None:
    """Claimed later, the scope read ahead is the state restored: same object, same content."""
    _stored(store_url, engines, 3)
    restarted = _engine(store_url, engines)
    assert _read_ahead(store_url, restarted) == 1
    ahead = restarted.read_ahead_state(EVENTS)
    assert ahead is not None
    restarted.open_scope(EVENTS)
    assert restarted.states[EVENTS] is ahead
    assert _open_count(restarted) == 3
    assert restarted.checkpointed_offsets() == {(restarted.settings.kafka.topics.events, 0): 3}


def test_a_checkpoint_after_the_read_ahead_makes_the_claim_read_again(
    store_url: str, engines: list[Engine]
) -> None:
    """The previous owner checkpoints once more (its revoke) after the read-ahead: the new owner
    restores what that checkpoint wrote, not the older copy, and seeks past it."""
    owner = _written(store_url, engines, 2)
    joining = _engine(store_url, engines)
    assert _read_ahead(store_url, joining) == 1
    stale = joining.read_ahead_state(EVENTS)
    dlq = FakeDlq()
    owner.process([_message(records.event("E0-late", "created", START), 2)], dlq)
    owner.checkpoint(dlq)  # the revoke's checkpoint
    joining.open_scope(EVENTS)
    assert joining.states[EVENTS] is not stale
    assert _open_count(joining) == 3
    assert joining.checkpointed_offsets() == {(joining.settings.kafka.topics.events, 0): 3}


def test_a_checkpoint_during_the_read_ahead_discards_what_was_read(
    store_url: str, engines: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows read while a checkpoint of the scope committed may not belong together: not kept."""
    owner = _written(store_url, engines, 2)
    joining = _engine(store_url, engines)
    original_load = SqlStore.load

    def load_then_checkpoint(self: SqlStore, scope: str, partition: int, first_day: int | None):  # type: ignore[no-untyped-def]
        loaded = original_load(self, scope, partition, first_day)
        dlq = FakeDlq()
        owner.process([_message(records.event("E0-mid", "created", START), 2)], dlq)
        owner.checkpoint(dlq)
        return loaded

    monkeypatch.setattr(SqlStore, "load", load_then_checkpoint)
    assert _read_ahead(store_url, joining) == 0
    assert joining.read_ahead_state(EVENTS) is None


def test_scopes_not_assigned_are_dropped_after_the_restore(store_url: str, engines: list[Engine]) -> None:
    """Only the assigned scopes are kept; the rest of what was read ahead is let go."""
    for partition in (0, 1):
        _stored(store_url, engines, 1, partition)
    member = _engine(store_url, engines)
    assert _read_ahead(store_url, member) == 2
    member.open_scope(("events", 1))
    member.drop_read_ahead()
    assert member.read_ahead_state(EVENTS) is None
    assert set(member.states) == {("events", 1)}


def test_scopes_of_streams_not_configured_are_not_read(store_url: str, engines: list[Engine]) -> None:
    """A store shared with another configuration holds scopes this one never consumes."""
    _stored(store_url, engines, 1)
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as connection:
        connection.execute("INSERT INTO svmon_owners (scope, part, epoch) VALUES ('elsewhere', 0, 1)")
    member = _engine(store_url, engines)
    assert _read_ahead(store_url, member) == 1


def test_every_checkpoint_bumps_the_versions_of_the_scopes_it_writes(
    store_url: str, engines: list[Engine]
) -> None:
    owner = _written(store_url, engines, 1)
    _stored(store_url, engines, 1, partition=1)
    before = owner.store.version("events", 0), owner.store.version("events", 1)
    dlq = FakeDlq()
    owner.process([_message(records.event("E-next", "created", START), 1)], dlq)
    owner.checkpoint(dlq)
    assert owner.store.version("events", 0) == before[0] + 1
    assert owner.store.version("events", 1) == before[1]  # not written by this checkpoint


def test_the_thread_reads_ahead_and_wait_returns_once_it_is_done(
    store_url: str, engines: list[Engine]
) -> None:
    _stored(store_url, engines, 2)
    member = _engine(store_url, engines)
    ReadAhead(member, store_url, threading.Event()).start().wait()
    assert member.read_ahead_state(EVENTS) is not None


def test_a_store_that_cannot_be_opened_leaves_the_restore_to_the_assignment(
    tmp_path: Path, engines: list[Engine]
) -> None:
    member = _engine(f"sqlite:///{tmp_path}/state.db", engines)
    blocked = tmp_path / "file"
    blocked.write_text("")
    ReadAhead(member, f"sqlite:///{blocked}/state.db", threading.Event()).start().wait()
    assert member.read_ahead_state(EVENTS) is None
