"""Broker failover on a 3-broker Apache Kafka cluster: a node SIGKILLed under svmon loses nothing.

Every topic has replication factor 3 and ``min.insync.replicas=2``, so one dead node costs no
acknowledged write. While svmon consumes a generated scenario, the node that leads most of its
partitions (or, separately, the active KRaft controller) is killed: its partitions stall until the
controller fences it and elects new leaders. svmon must keep running, say so on /readyz while it
lasts, recover by itself, and end with exactly the figures of an uninterrupted run and of the
scenario's own truth, with every rejected record in the (replicated) DLQ.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from seeds.scenario import Scenario, generate
from tests.apache_kafka import KafkaCluster
from tests.daemon_process import Daemon, Topics
from tests.integration.test_exactness import (
    _metric_sum,
    _truth_by_department,
    _truth_totals,
    by_department,
    caught_up,
    consumed_count,
    dlq_sources,
    expected_dlq,
    produce,
    totals,
    year_counts,
)
from tests.services import unique_name, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.apache_kafka]

SCALE = 0.25  # ~25k mixed records


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(7013, scale=SCALE)


def _not_ready_because_of_brokers(daemon: Daemon) -> bool:
    status, body = daemon.get("/readyz")
    return status == 503 and "unreachable" in body


@pytest.mark.parametrize("victim", ["partition-leader", "active-controller"])
def test_a_broker_killed_mid_stream_costs_nothing(
    kafka_cluster: KafkaCluster, scenario: Scenario, tmp_path: Path, victim: str, figures: dict[str, str]
) -> None:
    """svmon rides out a SIGKILLed node: readiness flags it, recovers, and every figure stays exact."""
    cluster = kafka_cluster
    topics = Topics.unique("failover")
    placed, ends = produce(cluster, topics, scenario)
    total = sum(ends.values())
    rejected = expected_dlq(scenario, topics, placed)

    steady_path = tmp_path / "steady.db"
    steady = Daemon(cluster.bootstrap, f"sqlite:///{steady_path}", topics, tmp_path, unique_name("g"))
    steady.start()
    try:
        wait_for(lambda: steady.alive() and caught_up(steady_path, ends), 180, "the uninterrupted run")
    finally:
        assert steady.stop() == 0, steady.last_log()

    store_path = tmp_path / "failover.db"
    failover_topics = Topics(**{**topics.__dict__, "dlq": unique_name("dlq-failover")})
    cluster.create_topics([failover_topics.dlq], partitions=1)
    daemon = Daemon(cluster.bootstrap, f"sqlite:///{store_path}", failover_topics, tmp_path, unique_name("g"))
    all_topics = [*failover_topics.by_stream().values(), failover_topics.dlq]
    daemon.start()
    try:
        daemon.wait_ready()
        wait_for(
            lambda: daemon.alive() and consumed_count(store_path, ends) >= total // 3,
            120,
            "a third of the stream to be checkpointed",
        )
        node = (
            cluster.leader_of_most(all_topics)
            if victim == "partition-leader"
            else cluster.active_controller()
        )
        led = sum(1 for leader in cluster.leaders(all_topics).values() if leader == node)
        killed_at = time.monotonic()
        cluster.kill(node)
        wait_for(lambda: _not_ready_because_of_brokers(daemon), 30, "/readyz to report the dead broker")
        still = daemon.get("/healthz")[0]
        wait_for(lambda: daemon.alive() and daemon.get("/readyz")[0] == 200, 120, "readiness to recover")
        recovered_in = time.monotonic() - killed_at
        assert still == 200
        cluster.restart(node)
        wait_for(
            lambda: all(node in isr for isr in cluster.in_sync_replicas(all_topics).values()),
            120,
            f"node {node} back in sync on every partition",
        )
        wait_for(lambda: daemon.alive() and caught_up(store_path, ends), 180, "the failover run to catch up")
        status, metrics = daemon.get("/metrics")
        assert status == 200
    finally:
        assert daemon.stop() == 0, daemon.last_log()
    figures[f"failover ({victim}, node {node} leading {led} partitions)"] = (
        f"ready again {recovered_in:.1f} s after the SIGKILL"
    )

    # Nothing dropped, nothing twice: each message consumed once (svmon itself never restarted),
    # every rejected one in the DLQ, read back from the replicated DLQ topic after the kill.
    assert _metric_sum(metrics, "supervision_messages_consumed_total") == total
    assert _metric_sum(metrics, "supervision_dlq_writes_total") == len(rejected)
    dlq = dlq_sources(cluster.bootstrap, failover_topics.dlq, len(rejected))
    assert {found[:3] for found in dlq} == set(rejected)

    steady_counts = year_counts(f"sqlite:///{steady_path}", scenario)
    assert year_counts(f"sqlite:///{store_path}", scenario) == steady_counts
    assert totals(steady_counts) == _truth_totals(scenario)
    assert by_department(steady_counts) == _truth_by_department(scenario)
