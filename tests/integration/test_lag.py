"""The consumer lag on /metrics is the lag Kafka's own tools report for svmon's group.

svmon measures lag from what it has checkpointed, and commits exactly that to Kafka after each
checkpoint, so ``supervision_consumer_lag_messages`` and ``kafka-consumer-groups --describe`` agree.
To see them agree on something other than zero, svmon checkpoints by count only, once per first
half of the scenario: the records produced after it are applied (in memory) but not yet durable,
which is what a crash would replay and what the lag must show. On Apache Kafka the figure must also
equal the lag this test computes from what it produced; Tansu reports a partition's end offset as
the base offset of its last batch (docs/operations.md, "Consumer lag"), so there only the agreement
with the group's committed offsets is checked.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from seeds.scenario import Scenario, generate
from tests import records
from tests.apache_kafka import KafkaCluster
from tests.daemon_process import Daemon, Topics, stored_offsets
from tests.integration.test_exactness import caught_up
from tests.integration.test_outage import new_topics, produce_half
from tests.services import Broker, unique_name, wait_for

pytestmark = pytest.mark.integration

Lag = dict[tuple[str, int], int]
_LAG_SAMPLE = re.compile(r"^supervision_consumer_lag_messages\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(1601, scale=0.05)


def exported_lag(daemon: Daemon) -> Lag:
    """``supervision_consumer_lag_messages`` by (topic, partition), from the daemon's /metrics."""
    status, body = daemon.get("/metrics")
    if status != 200:
        return {}
    lag: Lag = {}
    for sample in _LAG_SAMPLE.finditer(body):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', sample["labels"]))
        lag[(labels["topic"], int(labels["partition"]))] = int(float(sample["value"]))
    return lag


def group_lag(broker: Broker, group: str, partitions: list[tuple[str, int]]) -> Lag:
    """The group's lag as Kafka's tools see it: ``kafka-consumer-groups`` itself on Apache Kafka;
    on Tansu, the same computation through the admin API (end offset − committed offset)."""
    if isinstance(broker, KafkaCluster):
        return broker.consumer_group_lag(group)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, client_id="svmon-tests")
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    try:
        committed = admin.list_group_offsets(group).get(group, {})
        ends = consumer.end_offsets([TopicPartition(*p) for p in partitions])
    finally:
        admin.close()
        consumer.close(autocommit=False)
    return {
        (tp.topic, tp.partition): max(0, end - committed[tp].offset)
        for tp, end in ends.items()
        if tp in committed
    }


def produce_events(broker: Broker, topics: Topics, count: int) -> Lag:
    """``count`` new, valid events; returns how many landed in each partition."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    futures = []
    for n in range(count):
        record = records.event(f"late-{n}", "created", records.at(date(2023, 6, 1)))
        futures.append(
            producer.send(topics.events, key=records.message_key(record), value=records.encode(record))
        )
    producer.flush()
    producer.close()
    landed: Lag = {}
    for future in futures:
        partition = future.get(timeout=10).partition
        landed[(topics.events, partition)] = landed.get((topics.events, partition), 0) + 1
    return landed


def test_lag_on_metrics_is_the_groups_committed_lag(
    any_broker: Broker, scenario: Scenario, tmp_path: Path
) -> None:
    """Records applied but not yet checkpointed are lag, on /metrics as in the group's committed offsets."""
    topics = new_topics(any_broker, "lag")
    first = produce_half(any_broker, topics, scenario, 0)
    group = unique_name("g")
    store_path = tmp_path / "state.db"
    by_count_only = {
        "SVMON_STORE__CHECKPOINT_EVERY_RECORDS": str(sum(first.values())),
        "SVMON_STORE__CHECKPOINT_EVERY_MS": "3600000",
    }
    daemon = Daemon(
        any_broker.bootstrap, f"sqlite:///{store_path}", topics, tmp_path, group, extra_env=by_count_only
    )
    daemon.start()
    try:
        daemon.wait_ready()
        wait_for(
            lambda: daemon.alive() and caught_up(store_path, first), 120, "the first half to be checkpointed"
        )
        checkpointed = stored_offsets(store_path)
        landed = produce_events(any_broker, topics, 25)
        partitions = sorted(set(first) | set(landed))

        seen: list[tuple[Lag, Lag]] = []

        def agree() -> bool:
            svmon = exported_lag(daemon)
            tool = group_lag(any_broker, group, partitions)
            seen[:] = [(svmon, tool)]
            # Tansu under-reports end offsets (only the last batch's base), so its backlog looks smaller.
            backlog = 25 if isinstance(any_broker, KafkaCluster) else 1
            return sum(svmon.values()) >= backlog and svmon == tool

        try:
            wait_for(agree, 60, "svmon's lag and the group's committed lag to agree on the new events")
        except TimeoutError as exc:
            raise AssertionError(f"last seen (svmon, group): {seen}") from exc
        assert stored_offsets(store_path) == checkpointed, "the new events must still be uncheckpointed"
        if isinstance(any_broker, KafkaCluster):
            assert {tp: n for tp, n in exported_lag(daemon).items() if n} == landed
    finally:
        assert daemon.stop() == 0, daemon.last_log()  # the final checkpoint makes them durable
    assert set(group_lag(any_broker, group, partitions).values()) == {0}
