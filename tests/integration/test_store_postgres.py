"""The store behaviour of tests/unit/test_store_sqlite.py against a real PostgreSQL, plus two instances.

Each test gets a fresh schema (fixture ``postgres_dsn``); the SQLite-only tests are not repeated.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from daemon.exceptions import StoreVersionError
from daemon.reports.lists import ListFilters, Lists
from daemon.reports.query import report_counts
from daemon.store import open_store
from tests import records
from tests.records import INGESTED, FakeDlq
from tests.unit.test_store_sqlite import (
    engines,
    test_a_restore_read_in_several_batches_gives_the_same_state,
    test_a_rule_change_between_runs_leaves_the_aggregates_consistent,
    test_a_second_claim_fences_out_the_first_owner,
    test_a_version_3_store_gets_its_lists_from_the_next_daemon_even_after_a_crash,
    test_a_version_4_store_gets_scope_versions_that_checkpoints_bump,
    test_a_version_5_store_gets_a_row_per_day_for_its_cells,
    test_checkpoint_then_restore_gives_the_same_state,
    test_closed_entities_are_fetched_back_by_key,
    test_engine_drops_a_fenced_scope_and_checkpoints_the_rest,
    test_failed_checkpoint_writes_nothing_and_keeps_rows_dirty,
    test_list_entries_are_replaced_after_a_restart_and_only_inserted_for_new_entities,
    test_reports_read_every_partition,
    test_same_entity_in_two_partitions_keeps_both_copies,
)

pytestmark = pytest.mark.integration

__all__ = [
    "engines",
    "test_a_restore_read_in_several_batches_gives_the_same_state",
    "test_a_rule_change_between_runs_leaves_the_aggregates_consistent",
    "test_a_second_claim_fences_out_the_first_owner",
    "test_a_version_3_store_gets_its_lists_from_the_next_daemon_even_after_a_crash",
    "test_a_version_4_store_gets_scope_versions_that_checkpoints_bump",
    "test_a_version_5_store_gets_a_row_per_day_for_its_cells",
    "test_checkpoint_then_restore_gives_the_same_state",
    "test_closed_entities_are_fetched_back_by_key",
    "test_engine_drops_a_fenced_scope_and_checkpoints_the_rest",
    "test_failed_checkpoint_writes_nothing_and_keeps_rows_dirty",
    "test_list_entries_are_replaced_after_a_restart_and_only_inserted_for_new_entities",
    "test_reports_read_every_partition",
    "test_same_entity_in_two_partitions_keeps_both_copies",
]

EVERYTHING = (date(2000, 1, 1).toordinal(), date(2030, 1, 1).toordinal())


@pytest.fixture
def store_url(postgres_dsn: str) -> str:
    """The shared behaviour tests run on a fresh PostgreSQL schema."""
    return postgres_dsn


def test_a_store_from_a_newer_svmon_is_refused_on_postgres(postgres_dsn: str) -> None:
    """PostgreSQL refuses a newer schema version with the same readable message."""
    store = open_store(postgres_dsn)
    store._execute("UPDATE svmon_meta SET value = '99' WHERE name = 'schema_version'")
    store._connection.commit()
    store.close()
    with pytest.raises(StoreVersionError, match="schema version 99"):
        open_store(postgres_dsn)


def test_two_instances_on_different_partitions_sum_to_one_report(postgres_dsn: str, tmp_path: object) -> None:
    """Two engines sharing one PostgreSQL, each owning some partitions, report what one engine would."""
    messages = records.assign_offsets(records.mixed_stream(random.Random(11), 150, garbage=3), partitions=2)
    scopes = ("events", "inspections", "disclosures")
    first = records.make_engine(postgres_dsn)
    second = records.make_engine(postgres_dsn)
    for scope in scopes:
        first.open_scope((scope, 0))
        second.open_scope((scope, 1))
    dlq = FakeDlq()
    first.process([m for m in messages if m.partition == 0], dlq)
    second.process([m for m in messages if m.partition == 1], dlq)
    first.checkpoint(dlq)
    second.checkpoint(dlq)
    shared = report_counts(first.store, first.rules, *EVERYTHING, INGESTED.timestamp())
    alone = records.make_engine(f"sqlite:///{tmp_path}/alone.db")
    for scope in scopes:
        for part in (0, 1):
            alone.open_scope((scope, part))
    alone.process(messages, dlq)
    alone.checkpoint(dlq)
    expected = report_counts(alone.store, alone.rules, *EVERYTHING, INGESTED.timestamp())
    assert {k: v for k, v in shared.items() if v != [0, 0]} == {
        k: v for k, v in expected.items() if v != [0, 0]
    }
    assert shared
    for engine in (first, second, alone):
        engine.store.close()


def test_a_list_is_paged_by_cursor_on_postgres(postgres_dsn: str) -> None:
    """Keyset pages (a row-value range on rank and key) walk every entry once on PostgreSQL too, in
    the order SQLite gives, ties on rank broken by key."""
    engine = records.make_engine(postgres_dsn)
    engine.open_scope(("events", 0))
    moment = records.at(date(2024, 3, 1))
    # Pairs of events with the same deadline: the cursor must break ties on the key.
    values = [records.event(f"E{n:02}", "created", moment + timedelta(hours=n // 2)) for n in range(23)]
    dlq = FakeDlq()
    engine.process(records.assign_offsets([records.raw(v) for v in values]), dlq)
    engine.checkpoint(dlq)
    lists = Lists(engine.store, engine.rules, engine.registry)
    seen: list[str] = []
    cursor = None
    while True:
        page = lists.page("open", ListFilters(), INGESTED.timestamp(), limit=5, cursor=cursor)
        seen += [item["event_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [item["event_id"] for item in lists.items("open", ListFilters(), INGESTED.timestamp())]
    assert sorted(seen) == [f"E{n:02}" for n in range(23)]
    engine.store.close()
