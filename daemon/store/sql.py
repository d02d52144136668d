"""SQL checkpoint store: SQLite (WAL, embedded default) and PostgreSQL, one implementation.

Checkpoint order, inside ONE transaction (docs/contract.md §9.1: state and offsets committed together):
1. check the fencing epoch of every scope written (another instance may have claimed it), and bump
   its version (a read-ahead of it is then known to be stale: daemon/runtime/readahead.py);
2. upsert dirty entities, the aggregate cells of every changed day (one row per scope and day) and
   双随机 marks as absolute values; for days before the resident window (held in the store only),
   read the day's row, add the deltas and write it back;
3. upsert the next offset of every topic-partition in the scope;
4. stamp ``last_checkpoint_at``; COMMIT.
Only after COMMIT are dirty marks cleared; a failure rolls everything back and leaves them dirty, so
the next attempt writes the same rows again. Kafka's own committed offsets are written after this,
for lag tools only: on restart the stored offsets win.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from daemon.core.indicators import Counts, Group, bump
from daemon.core.state.partition import Changes, DayCell, ScopeId, StoredScope
from daemon.exceptions import StoreError, StoreVersionError
from daemon.store.protocol import SCHEMA_VERSION, EntryQuery, FencedError, StoredEntity, StoredEntry

_RESIDENT_INDEX = (
    "CREATE INDEX IF NOT EXISTS svmon_entities_residents ON svmon_entities (scope, part) WHERE resident = 1"
)
_TABLES = (
    "CREATE TABLE IF NOT EXISTS svmon_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # epoch fences out a previous owner (bumped by each claim); version counts the checkpoints that
    # wrote the scope, so that rows read without a claim can be checked (daemon/runtime/readahead.py).
    "CREATE TABLE IF NOT EXISTS svmon_owners (scope TEXT NOT NULL, part INTEGER NOT NULL,"
    " epoch INTEGER NOT NULL, version BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (scope, part))",
    "CREATE TABLE IF NOT EXISTS svmon_offsets (topic TEXT NOT NULL, part INTEGER NOT NULL,"
    " next_offset BIGINT NOT NULL, PRIMARY KEY (topic, part))",
    # Keyed by scope and partition too: a message whose Kafka key differs from its entity key lands in
    # another partition, and each partition's copy of that entity is its own (docs/contract.md §2).
    "CREATE TABLE IF NOT EXISTS svmon_entities (scope TEXT NOT NULL, part INTEGER NOT NULL,"
    " key TEXT NOT NULL, kind TEXT NOT NULL, resident INTEGER NOT NULL, data TEXT NOT NULL,"
    " PRIMARY KEY (scope, part, key))",
    # Only resident rows are ever looked up by residence (a restore reads them): the closed history,
    # most of the table, stays out of this index (schema 6; 5 indexed (scope, part, resident)).
    "DROP INDEX IF EXISTS svmon_entities_resident",
    _RESIDENT_INDEX,
    # A scope's aggregate cells of one day are one row: ``cells`` is a JSON array of [indicator,
    # department, division, numerator, denominator], rewritten whole by each checkpoint that changes
    # the day (schema 6; 5 kept a row per cell). A checkpoint of the bench's 20,000 records changed
    # ~16,000 cells on a few hundred days: as many upserts, the largest share of its writes.
    "CREATE TABLE IF NOT EXISTS svmon_aggregate_days (scope TEXT NOT NULL, part INTEGER NOT NULL,"
    " day INTEGER NOT NULL, cells TEXT NOT NULL, PRIMARY KEY (scope, part, day))",
    "CREATE INDEX IF NOT EXISTS svmon_aggregate_days_day ON svmon_aggregate_days (day)",
    "CREATE TABLE IF NOT EXISTS svmon_marks (scope TEXT NOT NULL, part INTEGER NOT NULL,"
    " item_code TEXT NOT NULL, day INTEGER NOT NULL, count INTEGER NOT NULL,"
    " PRIMARY KEY (scope, part, item_code, day))",
    # The drill-down lists (daemon/core/listing.py): one row per entry, replaced with its owner's
    # (an entity, or a message without a record key) at each checkpoint that changes the owner.
    "CREATE TABLE IF NOT EXISTS svmon_list (scope TEXT NOT NULL, part INTEGER NOT NULL,"
    " owner TEXT NOT NULL, list TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,"
    " department TEXT NOT NULL, division TEXT NOT NULL, day INTEGER NOT NULL,"
    " rank DOUBLE PRECISION NOT NULL, due DOUBLE PRECISION, flagged INTEGER NOT NULL, fields TEXT NOT NULL,"
    " PRIMARY KEY (scope, part, list, key))",
    "CREATE INDEX IF NOT EXISTS svmon_list_owner ON svmon_list (scope, part, owner)",
    # Pages read a list in (rank, key) order from a cursor; the index also holds due and flagged,
    # so that a list's total ("overdue": due before now) is counted from the index alone. On a
    # store of 100,000 overdue events that count took 37-61 ms through (list, rank, key), which
    # read every row, and 6 ms from this one (bench, lists phase).
    "CREATE INDEX IF NOT EXISTS svmon_list_order ON svmon_list (list, rank, key, due, flagged)",
    "CREATE INDEX IF NOT EXISTS svmon_list_department ON svmon_list (list, department, rank, key)",
    "DROP INDEX IF EXISTS svmon_list_rank",  # the first version's, replaced by svmon_list_order
)
_DELETE_LISTED = "DELETE FROM svmon_list WHERE scope = ? AND part = ? AND owner = ?"
_INSERT_LISTED = (
    "INSERT INTO svmon_list (scope, part, owner, list, key, kind, department, division, day, rank, due,"
    " flagged, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_UPSERT_ENTITY = (
    "INSERT INTO svmon_entities (key, scope, part, kind, resident, data) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (scope, part, key) DO UPDATE SET resident = excluded.resident, data = excluded.data"
)
_UPSERT_AGGREGATE_DAY = (
    "INSERT INTO svmon_aggregate_days (scope, part, day, cells) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (scope, part, day) DO UPDATE SET cells = excluded.cells"
)
_ADD_MARK = (
    "INSERT INTO svmon_marks (scope, part, item_code, day, count) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (scope, part, item_code, day) DO UPDATE SET count = svmon_marks.count + excluded.count"
)
_UPSERT_MARK = (
    "INSERT INTO svmon_marks (scope, part, item_code, day, count) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (scope, part, item_code, day) DO UPDATE SET count = excluded.count"
)
_UPSERT_OFFSET = (
    "INSERT INTO svmon_offsets (topic, part, next_offset) VALUES (?, ?, ?)"
    " ON CONFLICT (topic, part) DO UPDATE SET next_offset = excluded.next_offset"
)
# Version 1 keyed entities by entity key alone, so two partitions holding the same entity (a
# mis-keyed message) overwrote each other's row and a restart lost one of them.
_FROM_VERSION_1 = (
    "CREATE TABLE svmon_entities_v2 (scope TEXT NOT NULL, part INTEGER NOT NULL, key TEXT NOT NULL,"
    " kind TEXT NOT NULL, resident INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (scope, part, key))",
    "INSERT INTO svmon_entities_v2 (scope, part, key, kind, resident, data)"
    " SELECT scope, part, key, kind, resident, data FROM svmon_entities",
    "DROP TABLE svmon_entities",
    "ALTER TABLE svmon_entities_v2 RENAME TO svmon_entities",
    _RESIDENT_INDEX,
)
# Version 5 kept a row per aggregate cell; 6 keeps a row per scope and day (svmon_aggregate_days).
# Created here if missing, so that a store of any older version converts the same way.
_CELLS_OF_VERSION_5 = (
    "CREATE TABLE IF NOT EXISTS svmon_aggregates (scope TEXT NOT NULL, part INTEGER NOT NULL,"
    " day INTEGER NOT NULL, indicator TEXT NOT NULL, department TEXT NOT NULL, division TEXT NOT NULL,"
    " numerator BIGINT NOT NULL, denominator BIGINT NOT NULL,"
    " PRIMARY KEY (scope, part, day, indicator, department, division))"
)
_READ_CELLS_OF_VERSION_5 = (
    "SELECT scope, part, day, indicator, department, division, numerator, denominator"
    " FROM svmon_aggregates ORDER BY scope, part, day"
)
#: A scope written before the lists (schema < 4) has none: it is marked here, and the daemon that
#: restores it writes its entries and removes the mark in one checkpoint (``Store.unlisted``).
_MARK_UNLISTED = (
    "INSERT INTO svmon_meta (name, value) SELECT 'unlisted:' || scope || ':' || part, '1'"
    " FROM svmon_owners WHERE true ON CONFLICT (name) DO NOTHING"
)
_ADD_VERSION = "ALTER TABLE svmon_owners ADD COLUMN version BIGINT NOT NULL DEFAULT 0"
_BUMP_VERSION = "UPDATE svmon_owners SET version = version + 1 WHERE scope = ? AND part = ?"
_DELETE_META = "DELETE FROM svmon_meta WHERE name = ?"
_UPSERT_META = (
    "INSERT INTO svmon_meta (name, value) VALUES (?, ?)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
)

EPOCH_QUERY = "SELECT epoch FROM svmon_owners WHERE scope = ? AND part = ?"
# Values asked at a time in one ``IN (...)`` (a statement's parameters are bounded: SQLite's 32,766).
_IN_CHUNK = 500
# Rows fetched at a time on restore: large enough that the per-batch cost vanishes, small enough
# that a batch of raw rows (~250 B each) stays a few MiB.
_RESTORE_BATCH = 10_000


@dataclass(frozen=True)
class Dialect:
    """What differs between the databases svmon stores in (``daemon.store.sqlite``, ``.postgres``)."""

    name: str
    #: The DB-API parameter style: statements here are written with ``?``.
    placeholder: str
    #: Opens a write transaction where the connection does not (SQLite runs in autocommit mode).
    begin_write: str | None
    #: Reads a scope's epoch at checkpoint and holds a rival claim off until COMMIT. SQLite's
    #: ``BEGIN IMMEDIATE`` already holds every other writer off; PostgreSQL needs ``FOR UPDATE``.
    lock_epoch: str
    #: Run before and after reading a scope's rows on restore (:meth:`SqlStore.load`): settings for
    #: one bulk read that would not suit the checkpoints (SQLite's page cache, ``daemon.store.sqlite``).
    before_restore: tuple[str, ...] = ()
    after_restore: tuple[str, ...] = ()


class AfterCheckpoint(Protocol):
    """Work a dialect has done after each committed checkpoint, off the checkpointing thread
    (SQLite copies its write-ahead log back into the database file: ``daemon.store.sqlite``)."""

    def checkpointed(self) -> None:
        """A checkpoint was committed; returns at once."""

    def close(self) -> None:
        """Finish and stop (the store is closing)."""


def _dumps(value: Any) -> str:
    # orjson: the same compact JSON as the standard library's, ~6x faster; a checkpoint encodes every
    # dirty entity, so this is a measurable share of the per-message cost (bench/throughput.py).
    return orjson.dumps(value).decode()


class SqlStore:
    """A :class:`daemon.store.protocol.Store` over a DB-API connection (sqlite3 or psycopg)."""

    def __init__(
        self,
        url: str,
        connect: Callable[[], Any],
        dialect: Dialect,
        after_checkpoint: AfterCheckpoint | None = None,
    ) -> None:
        self.url = url
        self._connect = connect
        self._current: Any = connect()
        self._dialect = dialect
        self._after_checkpoint = after_checkpoint
        self.migrated_from: int | None = None  # the schema version this open upgraded, if any
        self._prepare_schema()

    @property
    def _connection(self) -> Any:
        """The live connection, reconnecting when the last one broke (a restarted server, a cut link)."""
        if self._current is None or getattr(self._current, "closed", False):
            try:
                self._current = self._connect()
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(f"cannot reconnect to the store {self.url}: {exc}") from exc
        return self._current

    @property
    def after_checkpoint(self) -> AfterCheckpoint | None:
        """What runs after each committed checkpoint (SQLite's WAL copier), if anything."""
        return self._after_checkpoint

    # --- plumbing ---------------------------------------------------------------------------------

    def _sql(self, statement: str) -> str:
        placeholder = self._dialect.placeholder
        return statement if placeholder == "?" else statement.replace("?", placeholder)

    def _execute(self, statement: str, parameters: Sequence[Any] = ()) -> Any:
        return self._connection.execute(self._sql(statement), parameters)

    def _executemany(self, statement: str, rows: list[Sequence[Any]]) -> None:
        if rows:
            self._connection.cursor().executemany(self._sql(statement), rows)

    def _rollback(self) -> None:
        """Roll back after a failure; a connection that cannot even roll back is dropped for a new one."""
        if self._current is None:
            return
        try:
            self._current.rollback()
        except Exception:  # the connection is gone; the error that got us here is what matters
            with suppress(Exception):
                self._current.close()
            self._current = None

    def _prepare_schema(self) -> None:
        try:
            for statement in _TABLES:
                self._execute(statement)
            row = self._execute("SELECT value FROM svmon_meta WHERE name = 'schema_version'").fetchone()
            stored = None if row is None else int(row[0])
            if stored is None:
                self._execute(_UPSERT_META, ("schema_version", str(SCHEMA_VERSION)))
            elif stored < SCHEMA_VERSION:
                if self._dialect.begin_write:
                    self._execute(self._dialect.begin_write)  # migrate all or nothing
                if stored == 1:
                    for statement in _FROM_VERSION_1:
                        self._execute(statement)
                # 2 -> 3 changes no table: entity rows written from now on carry their
                # rule-dependent cells, and rows without them are still read (Entity.from_json).
                # 3 -> 4 adds svmon_list (above); every scope already written is marked unlisted,
                # so that whichever daemon restores it next rebuilds its entries (docs/operations.md).
                if stored < 4:
                    self._execute(_MARK_UNLISTED)
                # 4 -> 5: the scope versions. Every scope starts at 0; the first checkpoint makes it 1.
                if not self._has_column("svmon_owners", "version"):
                    self._execute(_ADD_VERSION)
                # 5 -> 6: a row per scope and day for the aggregate cells, and the partial index of
                # resident entities (created above).
                if stored < 6:
                    self._cells_to_days()
                # The version keeps an older svmon, which cannot read the new rows, away.
                self._execute(_UPSERT_META, ("schema_version", str(SCHEMA_VERSION)))
                self.migrated_from = stored
            elif stored > SCHEMA_VERSION:
                self._rollback()
                raise StoreVersionError(
                    f"the store {self.url} has schema version {stored}, written by a newer svmon;"
                    f" this build understands up to version {SCHEMA_VERSION}."
                    " Upgrade svmon or point it at another store."
                )
            self._connection.commit()
        except StoreVersionError:
            raise
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot prepare the store {self.url}: {exc}") from exc

    def _cells_to_days(self) -> None:
        """Move version 5's aggregate rows, one per cell, into svmon_aggregate_days."""
        self._execute(_CELLS_OF_VERSION_5)
        days: dict[tuple[str, int, int], list[DayCell]] = {}
        for scope, part, day, indicator, department, division, numerator, denominator in self._execute(
            _READ_CELLS_OF_VERSION_5
        ).fetchall():
            cell = (indicator, department, division, int(numerator), int(denominator))
            days.setdefault((scope, int(part), int(day)), []).append(cell)
        self._executemany(_UPSERT_AGGREGATE_DAY, [(*where, _dumps(cells)) for where, cells in days.items()])
        self._execute("DROP TABLE svmon_aggregates")

    def _has_column(self, table: str, column: str) -> bool:
        cursor = self._execute(f"SELECT * FROM {table} WHERE false")  # noqa: S608 - a constant table name
        cursor.fetchall()
        return column in {description[0] for description in cursor.description}

    # --- ownership and restore --------------------------------------------------------------------

    def claim(self, scope: str, partition: int) -> int:
        try:
            self._execute(
                "INSERT INTO svmon_owners (scope, part, epoch) VALUES (?, ?, 1)"
                " ON CONFLICT (scope, part) DO UPDATE SET epoch = svmon_owners.epoch + 1",
                (scope, partition),
            )
            row = self._execute(
                "SELECT epoch FROM svmon_owners WHERE scope = ? AND part = ?", (scope, partition)
            ).fetchone()
            self._connection.commit()
            return int(row[0])
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot claim {scope}/{partition} in {self.url}: {exc}") from exc

    def version(self, scope: str, partition: int) -> int:
        rows = self._read("SELECT version FROM svmon_owners WHERE scope = ? AND part = ?", (scope, partition))
        return int(rows[0][0]) if rows else 0

    def scopes(self) -> list[ScopeId]:
        return [(str(scope), int(part)) for scope, part in self._read("SELECT scope, part FROM svmon_owners")]

    def load(self, scope: str, partition: int, first_day: int | None) -> StoredScope:
        stored = StoredScope()
        since = -1 if first_day is None else first_day
        try:
            for statement in self._dialect.before_restore:
                self._execute(statement)
            # Resident rows only, through svmon_entities_resident, in batches: each batch's raw
            # strings are dropped once decoded, so the whole scope is never held both raw and parsed.
            cursor = self._execute(
                "SELECT key, data FROM svmon_entities WHERE scope = ? AND part = ? AND resident = 1",
                (scope, partition),
            )
            entities, loads = stored.entities, orjson.loads
            while batch := cursor.fetchmany(_RESTORE_BATCH):
                entities.extend([(key, loads(data)) for key, data in batch])
            stored.aggregates = [
                ((day, indicator, department, division), numerator, denominator)
                for day, cells in self._execute(
                    "SELECT day, cells FROM svmon_aggregate_days WHERE scope = ? AND part = ? AND day >= ?",
                    (scope, partition, since),
                )
                for indicator, department, division, numerator, denominator in loads(cells)
            ]
            stored.marks = [
                (item_code, int(day), int(count))
                for item_code, day, count in self._execute(
                    "SELECT item_code, day, count FROM svmon_marks WHERE scope = ? AND part = ? AND day >= ?",
                    (scope, partition, since),
                )
            ]
            self._connection.commit()
            for statement in self._dialect.after_restore:
                self._execute(statement)
        except Exception as exc:
            self._rollback()
            if self._current is not None:  # still open: give it back its settings for checkpoints
                with suppress(Exception):
                    for statement in self._dialect.after_restore:
                        self._current.execute(statement)
            raise StoreError(f"cannot restore {scope}/{partition} from {self.url}: {exc}") from exc
        return stored

    def offsets(self, topic_partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Stored next offsets; partitions never checkpointed are absent."""
        wanted = set(topic_partitions)
        try:
            rows = self._execute("SELECT topic, part, next_offset FROM svmon_offsets").fetchall()
            self._connection.commit()
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot read offsets from {self.url}: {exc}") from exc
        return {(t, int(p)): int(o) for t, p, o in rows if (t, int(p)) in wanted}

    def fetch(self, scope: str, partition: int, keys: Sequence[str]) -> list[StoredEntity]:
        if not keys:
            return []
        try:
            rows = self._scope_rows("SELECT key, data FROM svmon_entities", "key", scope, partition, keys)
            found: list[StoredEntity] = [(key, orjson.loads(data)) for key, data in rows]
            self._connection.commit()
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot read entities from {self.url}: {exc}") from exc
        return found

    def _scope_rows(
        self, select: str, column: str, scope: str, partition: int, values: Sequence[Any]
    ) -> list[Any]:
        """``select`` (a query without WHERE) for the scope's rows whose ``column`` is in ``values``,
        asked :data:`_IN_CHUNK` values at a time. ``select`` and ``column`` are this module's
        constants; the values go in as parameters only."""
        found: list[Any] = []
        for start in range(0, len(values), _IN_CHUNK):
            chunk = list(values[start : start + _IN_CHUNK])
            marks = ", ".join("?" * len(chunk))
            query = f"{select} WHERE scope = ? AND part = ? AND {column} IN ({marks})"
            found.extend(self._execute(query, [scope, partition, *chunk]))
        return found

    # --- checkpoint -------------------------------------------------------------------------------

    def checkpoint(self, changes: Sequence[Changes], epochs: dict[ScopeId, int]) -> None:
        if not changes:
            return
        entity_rows: list[Sequence[Any]] = []
        aggregate_rows: list[Sequence[Any]] = []
        mark_rows: list[Sequence[Any]] = []
        offset_rows: list[Sequence[Any]] = []
        mark_delta_rows: list[Sequence[Any]] = []
        unlisted: list[Sequence[Any]] = []
        listed: list[Sequence[Any]] = []
        relisted: list[Sequence[Any]] = []
        for change in changes:
            scope, part = change.scope, change.partition
            if change.relisted:
                relisted.append((_unlisted_mark(scope, part),))
            for key, kind, resident, row in change.entities:
                entity_rows.append((key, scope, part, kind, int(resident), _dumps(row)))
            aggregate_rows.extend((scope, part, day, _dumps(cells)) for day, cells in change.aggregate_days)
            mark_rows.extend((scope, part, code, day, count) for code, day, count in change.marks)
            mark_delta_rows.extend((scope, part, code, day, count) for code, day, count in change.mark_deltas)
            offset_rows.extend((topic, part, offset) for topic, offset in change.offsets)
            unlisted.extend((scope, part, owner) for owner in change.replaced)
            for owner, entries in change.listed:
                listed.extend(
                    (
                        scope,
                        part,
                        owner,
                        e.list,
                        e.key,
                        e.kind,
                        e.department,
                        e.division,
                        e.day,
                        e.rank,
                        e.due,
                        int(e.flagged),
                        _dumps(e.fields),
                    )
                    for e in entries
                )
        try:
            if self._dialect.begin_write:
                self._execute(self._dialect.begin_write)
            for change in changes:
                row = self._execute(self._dialect.lock_epoch, change.scope_id).fetchone()
                expected = epochs.get(change.scope_id)
                if row is None or int(row[0]) != expected:
                    raise FencedError(
                        f"{change.scope}/{change.partition} was claimed by another instance"
                        f" (epoch {None if row is None else row[0]}, ours {expected})",
                        change.scope_id,
                    )
            self._executemany(_BUMP_VERSION, [change.scope_id for change in changes])
            self._executemany(_UPSERT_ENTITY, entity_rows)
            for change in changes:  # days before the resident window: their stored cells plus the deltas
                if change.aggregate_deltas:
                    aggregate_rows.extend(self._added_days(change))
            self._executemany(_UPSERT_AGGREGATE_DAY, aggregate_rows)
            self._executemany(_UPSERT_MARK, mark_rows)
            self._executemany(_ADD_MARK, mark_delta_rows)
            self._executemany(_DELETE_LISTED, unlisted)
            self._executemany(_INSERT_LISTED, listed)
            self._executemany(_DELETE_META, relisted)
            self._executemany(_UPSERT_OFFSET, offset_rows)
            self._execute(_UPSERT_META, ("last_checkpoint_at", repr(time.time())))
            self._connection.commit()
        except FencedError:
            self._rollback()
            raise
        except Exception as exc:
            self._rollback()
            raise StoreError(f"checkpoint to {self.url} failed: {exc}") from exc
        if self._after_checkpoint is not None:
            self._after_checkpoint.checkpointed()

    def _added_days(self, change: Changes) -> list[Sequence[Any]]:
        """Rows of the days ``change.aggregate_deltas`` touch: the stored cells with the deltas added.

        Read inside the checkpoint's transaction, after the epoch check: the scope's rows are this
        instance's alone until COMMIT.
        """
        scope, part = change.scope, change.partition
        added: dict[int, list[tuple[Group, int, int]]] = {}
        for (day, indicator, department, division), numerator, denominator in change.aggregate_deltas:
            added.setdefault(day, []).append(((indicator, department, division), numerator, denominator))
        stored = self._scope_rows(
            "SELECT day, cells FROM svmon_aggregate_days", "day", scope, part, sorted(added)
        )
        cells_of = {int(day): orjson.loads(cells) for day, cells in stored}
        rows: list[Sequence[Any]] = []
        for day, deltas in added.items():
            cells: Counts = {(i, dep, div): [n, d] for i, dep, div, n, d in cells_of.get(day, ())}
            for group, numerator, denominator in deltas:
                bump(cells, group, numerator, denominator)
            rows.append((scope, part, day, _dumps([(*group, n, d) for group, (n, d) in cells.items()])))
        return rows

    # --- health and reading -----------------------------------------------------------------------

    def ping(self) -> None:
        try:
            self._execute("SELECT 1").fetchone()
            self._connection.commit()
        except Exception as exc:
            self._rollback()
            raise StoreError(f"store {self.url} unreachable: {exc}") from exc

    def close(self) -> None:
        if self._after_checkpoint is not None:
            self._after_checkpoint.close()
        if self._current is not None:
            with suppress(Exception):
                self._current.close()
            self._current = None

    def _read(self, statement: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            rows = self._execute(statement, parameters).fetchall()
            self._connection.commit()
            return list(rows)
        except Exception as exc:
            self._rollback()
            raise StoreError(f"cannot read from {self.url}: {exc}") from exc

    def aggregates(self, start_day: int, end_day: int) -> Iterator[tuple[int, str, str, str, int, int]]:
        # Summed over scopes and partitions here: the cells are JSON inside each day's row.
        totals: dict[tuple[int, str, str, str], list[int]] = {}
        rows = self._read(
            "SELECT day, cells FROM svmon_aggregate_days WHERE day >= ? AND day <= ?", (start_day, end_day)
        )
        for day, cells in rows:
            for indicator, department, division, numerator, denominator in orjson.loads(cells):
                bump(totals, (int(day), indicator, department, division), numerator, denominator)
        for (day, indicator, department, division), (numerator, denominator) in sorted(totals.items()):
            yield day, indicator, department, division, numerator, denominator

    def resident_entities(self, kinds: Sequence[str]) -> Iterator[StoredEntity]:
        marks = ", ".join("?" * len(kinds))
        query = f"SELECT key, data FROM svmon_entities WHERE resident = 1 AND kind IN ({marks})"  # noqa: S608
        for key, data in self._read(query, list(kinds)):
            yield key, orjson.loads(data)

    def marks(self, start_day: int, end_day: int) -> Iterator[tuple[str, int, int]]:
        for item_code, day, count in self._read(
            "SELECT item_code, day, SUM(count) FROM svmon_marks WHERE day >= ? AND day <= ?"
            " GROUP BY item_code, day",
            (start_day, end_day),
        ):
            yield item_code, int(day), int(count)

    def entries(
        self, query: EntryQuery, after: tuple[float, str] | None = None, limit: int | None = None
    ) -> Iterator[StoredEntry]:
        where, parameters = _entry_conditions(query)
        if after is not None:
            # A row value is an index range: a page costs the same at the 99,000th entry as at the
            # first (2.3 ms per 1000 rows), where "rank > ? OR (rank = ? AND key > ?)" scanned from the
            # start of the list (16 ms at the 99,000th).
            where.append("(rank, key) > (?, ?)")
            parameters += [after[0], after[1]]
        statement = (
            "SELECT key, kind, department, division, day, rank, due, flagged, fields FROM svmon_list"  # noqa: S608
            f" WHERE {' AND '.join(where)} ORDER BY rank, key"  # only placeholders are interpolated
        )
        if limit is not None:
            statement += f" LIMIT {int(limit)}"
        for key, kind, department, division, day, rank, due, flagged, fields in self._read(
            statement, parameters
        ):
            yield StoredEntry(
                key,
                kind,
                department,
                division,
                int(day),
                float(rank),
                None if due is None else float(due),
                bool(flagged),
                orjson.loads(fields),
            )

    def count_entries(self, query: EntryQuery) -> int:
        where, parameters = _entry_conditions(query)
        statement = f"SELECT COUNT(*) FROM svmon_list WHERE {' AND '.join(where)}"  # noqa: S608
        return int(self._read(statement, parameters)[0][0])

    def last_checkpoint_at(self) -> float | None:
        rows = self._read("SELECT value FROM svmon_meta WHERE name = 'last_checkpoint_at'")
        return float(rows[0][0]) if rows else None

    def unlisted(self) -> set[ScopeId]:
        rows = self._read("SELECT name FROM svmon_meta WHERE name LIKE ?", ("unlisted:%",))
        scopes = set()
        for (name,) in rows:
            _, scope, partition = str(name).rsplit(":", 2)
            scopes.add((scope, int(partition)))
        return scopes

    def is_empty(self) -> bool:
        """True when nothing was ever checkpointed here."""
        return self.last_checkpoint_at() is None


def _unlisted_mark(scope: str, partition: int) -> str:
    return f"unlisted:{scope}:{partition}"


def _entry_conditions(query: EntryQuery) -> tuple[list[str], list[Any]]:
    """The WHERE conditions (with ``?`` placeholders) and parameters of a list query."""
    where: list[str] = ["list = ?"]
    parameters: list[Any] = [query.list]
    for column, value in (
        ("department", query.department),
        ("division", query.division),
        ("kind", query.kind),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            parameters.append(value)
    if query.first_day is not None:
        where.append("day >= ?")
        parameters.append(query.first_day)
    if query.last_day is not None:
        where.append("day <= ?")
        parameters.append(query.last_day)
    if query.due_before is not None:
        where.append("due IS NOT NULL AND due < ?")
        parameters.append(query.due_before)
    if query.flagged_or_due_before is not None:
        where.append("(flagged = 1 OR (due IS NOT NULL AND due < ?))")
        parameters.append(query.flagged_or_due_before)
    return where, parameters
