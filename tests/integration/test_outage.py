"""docs/contract.md §9.5 against real services: while the broker or the store is away, svmon keeps answering
/metrics and /healthz, says why it is not ready, and resumes without loss when they return."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from seeds.scenario import Scenario, generate
from tests.daemon_process import Daemon, Topics
from tests.integration.test_exactness import (
    PARTITIONS,
    _truth_totals,
    caught_up,
    totals,
    year_counts,
)
from tests.postgres import PostgresRole
from tests.services import Broker, unique_name, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(977, scale=0.05)


def produce_half(broker: Broker, topics: Topics, scenario: Scenario, half: int) -> dict[tuple[str, int], int]:
    """Produce the first (half=0) or second (half=1) half of every stream; return partition end offsets."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    futures = []
    for stream, topic in topics.by_stream().items():
        messages = list(scenario.kafka_messages(stream))
        middle = len(messages) // 2
        for key, value, timestamp_ms in messages[:middle] if half == 0 else messages[middle:]:
            futures.append((topic, producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms)))
    producer.flush()
    producer.close()
    ends: dict[tuple[str, int], int] = {}
    for topic, future in futures:
        metadata = future.get(timeout=10)
        ends[(topic, metadata.partition)] = max(ends.get((topic, metadata.partition), 0), metadata.offset + 1)
    return ends


def merge(
    first: dict[tuple[str, int], int], second: dict[tuple[str, int], int]
) -> dict[tuple[str, int], int]:
    return {tp: max(first.get(tp, 0), second.get(tp, 0)) for tp in {*first, *second}}


def new_topics(broker: Broker, name: str) -> Topics:
    """The five input topics and the DLQ, under names of this test's own."""
    topics = Topics.unique(name)
    broker.create_topics([*topics.by_stream().values()], partitions=PARTITIONS)
    broker.create_topics([topics.dlq], partitions=1)
    return topics


def not_ready_because(daemon: Daemon, word: str) -> bool:
    status, body = daemon.get("/readyz")
    return status == 503 and word in body


def still_serving(daemon: Daemon) -> None:
    """The liveness and metrics endpoints answer during the outage."""
    assert daemon.get("/healthz")[0] == 200
    status, metrics = daemon.get("/metrics")
    assert status == 200
    assert "supervision_ready 0.0" in metrics


def test_broker_frozen_mid_run_flips_readiness_and_loses_nothing(
    any_broker: Broker, scenario: Scenario, tmp_path: Path
) -> None:
    """A SIGSTOPped broker makes /readyz 503 with the reason; after SIGCONT svmon catches up exactly."""
    topics = new_topics(any_broker, "outage")
    first = produce_half(any_broker, topics, scenario, 0)
    store_path = tmp_path / "state.db"
    daemon = Daemon(any_broker.bootstrap, f"sqlite:///{store_path}", topics, tmp_path, unique_name("g"))
    daemon.start()
    try:
        daemon.wait_ready()
        wait_for(
            lambda: daemon.alive() and caught_up(store_path, first), 120, "the first half to be consumed"
        )
        any_broker.pause()
        try:
            wait_for(lambda: not_ready_because(daemon, "broker"), 30, "/readyz to blame the broker")
            still_serving(daemon)
        finally:
            any_broker.resume()
        second = produce_half(any_broker, topics, scenario, 1)
        everything = merge(first, second)
        wait_for(lambda: daemon.alive() and daemon.get("/readyz")[0] == 200, 120, "readiness to recover")
        wait_for(lambda: caught_up(store_path, everything), 120, "the second half to be consumed")
    finally:
        assert daemon.stop() == 0, daemon.last_log()
    assert totals(year_counts(f"sqlite:///{store_path}", scenario)) == _truth_totals(scenario)


def test_postgres_store_outage_pauses_progress_and_resumes_exactly(
    private_broker: Broker,
    scenario: Scenario,
    tmp_path: Path,
    postgres_role: PostgresRole,
) -> None:
    """With its store refusing connections, svmon says so on /readyz and later catches up exactly."""
    role = postgres_role
    topics = new_topics(private_broker, "pg-outage")
    first = produce_half(private_broker, topics, scenario, 0)
    daemon = Daemon(private_broker.bootstrap, role.dsn, topics, tmp_path, unique_name("g"))
    daemon.start()
    try:
        daemon.wait_ready()
        role.lock_out()
        wait_for(lambda: not_ready_because(daemon, "store"), 30, "/readyz to blame the store")
        still_serving(daemon)
        second = produce_half(private_broker, topics, scenario, 1)
        role.let_in()
        everything = merge(first, second)
        wait_for(lambda: daemon.alive() and daemon.get("/readyz")[0] == 200, 120, "readiness to recover")
        wait_for(lambda: role.caught_up(everything), 120, "everything to be checkpointed")
    finally:
        assert daemon.stop() == 0, daemon.last_log()
    assert totals(year_counts(role.dsn, scenario)) == _truth_totals(scenario)


def test_postgres_store_away_at_start_is_waited_for(
    private_broker: Broker,
    scenario: Scenario,
    tmp_path: Path,
    postgres_role: PostgresRole,
) -> None:
    """Started while its store refuses connections, svmon serves, says why it is not ready, then runs."""
    role = postgres_role
    topics = new_topics(private_broker, "pg-late")
    first = produce_half(private_broker, topics, scenario, 0)
    everything = merge(first, produce_half(private_broker, topics, scenario, 1))
    role.lock_out()
    daemon = Daemon(private_broker.bootstrap, role.dsn, topics, tmp_path, unique_name("g"))
    daemon.start()
    try:
        wait_for(lambda: daemon.alive() and not_ready_because(daemon, "store"), 60, "the store blamed")
        still_serving(daemon)
        role.let_in()
        daemon.wait_ready(120)
        wait_for(lambda: role.caught_up(everything), 120, "everything to be checkpointed")
    finally:
        assert daemon.stop() == 0, daemon.last_log()
    assert totals(year_counts(role.dsn, scenario)) == _truth_totals(scenario)
