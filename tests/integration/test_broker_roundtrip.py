"""The test rig's broker speaks the Kafka protocol that svmon relies on: produce, then group-consume."""

from __future__ import annotations

import json

import pytest
from kafka import KafkaConsumer, KafkaProducer

from tests.services import Broker, unique_name, wait_for

pytestmark = pytest.mark.integration


def test_records_produced_come_back_through_a_consumer_group(any_broker: Broker) -> None:
    """Every keyed message produced is read back exactly once by a kafka-python consumer group."""
    topic = unique_name("roundtrip")
    any_broker.create_topics([topic], partitions=3)
    sent = {f"evt-{i}": {"schema": "event/v1", "n": i} for i in range(200)}
    producer = KafkaProducer(bootstrap_servers=any_broker.bootstrap, linger_ms=5)
    for key, value in sent.items():
        producer.send(topic, key=key.encode(), value=json.dumps(value).encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=any_broker.bootstrap,
        group_id=unique_name("group"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=3000,
        heartbeat_interval_ms=500,
        max_poll_interval_ms=5000,
    )
    received: dict[str, dict[str, object]] = {}
    partitions_seen: set[int] = set()

    def drain() -> bool:
        for batch in consumer.poll(timeout_ms=200).values():
            for message in batch:
                received[message.key.decode()] = json.loads(message.value)
                partitions_seen.add(message.partition)
        return len(received) >= len(sent)

    try:
        wait_for(drain, timeout=60, what="all 200 messages through the consumer group")
    finally:
        consumer.close(autocommit=False)
    assert received == sent
    assert len(partitions_seen) > 1, "keys should spread over the topic's partitions"
