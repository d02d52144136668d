"""Partitions added to a topic while svmon runs are taken over and consumed (Apache Kafka).

Growing a topic changes the group's metadata, and the group leader rejoins by itself. kafka-python
3.0.12 can lose the assignment of such a rejoin (the comment in ``daemon.runtime.source._Listener``
explains how): the member then stays in the group and consumes nothing, for good. The topic grows
six times here, and each time svmon must read records produced to the new partition (without
the workaround about one growth in four was lost here, so six fail on most runs). Tansu 0.6
does not implement CreatePartitions, hence Apache Kafka only.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from kafka import KafkaProducer
from kafka.admin import NewPartitions

from tests import records
from tests.apache_kafka import KafkaCluster
from tests.daemon_process import Daemon, Topics
from tests.integration.test_exactness import _metric_sum
from tests.services import unique_name, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.apache_kafka]


def _send_events(bootstrap: str, topic: str, partition: int, prefix: str, count: int) -> None:
    # A new producer each time: one that knew the topic before it grew has no metadata of the new
    # partition yet and refuses to send to it.
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for n in range(count):
            record = records.event(f"{prefix}-{n}", "created", records.at(date(2023, 3, 1)))
            key, value = records.message_key(record), records.encode(record)
            producer.send(topic, key=key, value=value, partition=partition)
        producer.flush()
    finally:
        producer.close()


def test_partitions_added_while_running_are_consumed(apache_kafka: KafkaCluster, tmp_path: Path) -> None:
    """After each growth of the events topic, records on the new partition are consumed."""
    topics = Topics.unique("grow")
    apache_kafka.create_topics([*topics.by_stream().values()], partitions=2)
    apache_kafka.create_topics([topics.dlq], partitions=1)
    # Metadata refreshed every second, so growth is noticed at once instead of within 5 minutes.
    fast_metadata = {"SVMON_KAFKA__METADATA_MAX_AGE_MS": "1000"}
    store = f"sqlite:///{tmp_path / 'state.db'}"
    daemon = Daemon(
        apache_kafka.bootstrap, store, topics, tmp_path, unique_name("g"), extra_env=fast_metadata
    )

    def consumed() -> int:
        status, metrics = daemon.get("/metrics")
        return _metric_sum(metrics, "supervision_messages_consumed_total") if status == 200 else -1

    _send_events(apache_kafka.bootstrap, topics.events, 0, "first", 20)
    daemon.start()
    try:
        daemon.wait_ready()
        wait_for(lambda: daemon.alive() and consumed() == 20, 60, "the first 20 events")
        expected = 20
        for total in range(3, 9):
            with apache_kafka.admin() as admin:
                admin.create_partitions({topics.events: NewPartitions(total_count=total)})
            _send_events(apache_kafka.bootstrap, topics.events, total - 1, f"grown-{total}", 10)
            expected += 10

            def caught_up(expected: int = expected) -> bool:
                return daemon.alive() and consumed() == expected

            wait_for(
                caught_up,
                60,
                f"the events on new partition {total - 1}",
            )
    finally:
        assert daemon.stop() == 0, daemon.last_log()
