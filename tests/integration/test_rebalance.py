"""Two ``svmon run`` members of one consumer group sharing one store (docs/contract.md §9.1, §10 Config).

Both shared stores are covered: PostgreSQL (several hosts) and one SQLite file (several processes on
one host, the way to use more than one core; README "Performance").

The second member's join makes the first revoke partitions (checkpoint, then let go); SIGKILLing the
first mid-stream hands its partitions to the survivor, which restores them from the store. The
figures must still equal the scenario's own truth: nothing lost, nothing counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from seeds.scenario import Scenario, generate
from tests.daemon_process import Daemon, Topics, stored_offsets
from tests.integration.test_exactness import PARTITIONS, _metric_sum, _truth_totals, totals, year_counts
from tests.integration.test_outage import merge, produce_half
from tests.postgres import schema_dsn
from tests.services import Broker, unique_name, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(4242, scale=0.15)


Offsets = Callable[[], dict[tuple[str, int], int]]


@pytest.fixture(params=["postgresql", "sqlite"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Offsets]]:
    """A store URL both members use, and a reader of the offsets stored in it."""
    if request.param == "sqlite":
        path = tmp_path / "shared.db"
        yield f"sqlite:///{path}", lambda: stored_offsets(path)
        return
    # Asked for here rather than as a parameter, so the SQLite case needs no PostgreSQL.
    server: str = request.getfixturevalue("postgres_server")
    admin = psycopg.connect(server, connect_timeout=3, autocommit=True)
    schema = unique_name("svmon_group").replace("-", "_")
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_dsn(server, schema), lambda: _postgres_offsets(admin, schema)
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


def _postgres_offsets(
    admin: psycopg.Connection[tuple[object, ...]], schema: str
) -> dict[tuple[str, int], int]:
    try:
        rows = admin.execute(f'SELECT topic, part, next_offset FROM "{schema}".svmon_offsets').fetchall()
    except psycopg.errors.UndefinedTable:
        return {}
    return {(str(topic), int(str(part))): int(str(offset)) for topic, part, offset in rows}


def test_two_members_rebalancing_and_one_killed_still_count_exactly(
    any_broker: Broker,
    scenario: Scenario,
    tmp_path: Path,
    shared_store: tuple[str, Offsets],
) -> None:
    """A join, a revoke and a SIGKILLed member later, every figure equals the scenario's truth."""
    dsn, stored_offsets = shared_store
    topics = Topics.unique("group")
    any_broker.create_topics([*topics.by_stream().values()], partitions=PARTITIONS)
    any_broker.create_topics([topics.dlq], partitions=1)
    first_half = produce_half(any_broker, topics, scenario, 0)
    group = unique_name("g")
    # The first member checkpoints only when it must (on revoke and at exit), so whatever it does
    # after the rebalance is still uncommitted when it is killed: the survivor has to replay it.
    rarely = {
        "SVMON_STORE__CHECKPOINT_EVERY_MS": "600000",
        "SVMON_STORE__CHECKPOINT_EVERY_RECORDS": "100000000",
    }
    first = Daemon(any_broker.bootstrap, dsn, topics, tmp_path, group, extra_env=rarely)
    (tmp_path / "second").mkdir()
    second = Daemon(any_broker.bootstrap, dsn, topics, tmp_path / "second", group)

    def stored(ends: dict[tuple[str, int], int]) -> int:
        offsets = stored_offsets()
        return sum(min(offsets.get(tp, 0), end) for tp, end in ends.items())

    def consumed_by_first() -> int:
        status, metrics = first.get("/metrics")
        return _metric_sum(metrics, "supervision_messages_consumed_total") if status == 200 else 0

    half = sum(first_half.values())
    first.start()
    try:
        wait_for(
            lambda: first.alive() and consumed_by_first() >= half // 2, 120, "the first member's progress"
        )
        second.start()  # joining makes the first member revoke (checkpoint) and hand over partitions
        wait_for(
            lambda: second.alive() and "partitions assigned" in _log(second),
            60,
            "the second member to be given partitions",
        )
        before = consumed_by_first()
        everything = merge(first_half, produce_half(any_broker, topics, scenario, 1))
        total = sum(everything.values())
        wait_for(lambda: consumed_by_first() > before + 100, 120, "the first member to take in new records")
        at_kill = stored(everything)
        first.kill()  # its partitions are lost to the group; the survivor restores them from the store
        wait_for(lambda: second.alive() and stored(everything) >= total, 180, "the survivor to finish")
    finally:
        if first.process is not None and first.process.poll() is None:
            first.stop()
        assert second.stop() == 0, second.last_log()
    assert at_kill < total, "the killed member must leave uncommitted work for the survivor to replay"
    assert "partitions revoked" in _log(first, every_start=True)
    assert totals(year_counts(dsn, scenario)) == _truth_totals(scenario)


def _log(daemon: Daemon, every_start: bool = False) -> str:
    """The member's log (its last start, or all of them)."""
    paths = sorted(daemon.log_dir.glob(f"svmon-{daemon.group}-*.log"))
    chosen = paths if every_start else paths[-1:]
    return "".join(path.read_text(errors="replace") for path in chosen)
