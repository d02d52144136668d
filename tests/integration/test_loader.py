"""`svmon load` against a real Tansu broker: every line comes back unchanged, keyed per the contract §2."""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from daemon.config import Settings
from daemon.tools.loader import load_command, message_key
from seeds.scenario import generate, write_jsonl
from tests.services import Broker, unique_name, wait_for

pytestmark = pytest.mark.integration


def test_loaded_jsonl_reads_back_byte_for_byte_with_entity_keys(broker: Broker, tmp_path: Path) -> None:
    """All lines of a generated file, malformed ones included, are consumed back with the expected keys."""
    scenario = generate(7, scale=0.01)
    path = write_jsonl(scenario, tmp_path)["events"]
    lines = path.read_bytes().split(b"\n")[:-1]
    expected = [(message_key(line), line) for line in lines]
    assert any(key is None for key, _ in expected), "the file should include an unkeyable line"
    topic = unique_name("load")
    broker.create_topics([topic], partitions=2)

    assert (
        load_command(Settings(), argparse.Namespace(file=path, topic=topic, bootstrap=broker.bootstrap)) == 0
    )

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(2)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    received: list[tuple[bytes | None, bytes, int]] = []

    def drain() -> bool:
        for batch in consumer.poll(timeout_ms=200).values():
            received.extend((m.key, m.value, m.partition) for m in batch)
        return len(received) >= len(expected)

    try:
        wait_for(drain, timeout=60, what=f"{len(expected)} loaded messages")
    finally:
        consumer.close()
    assert sorted((k or b"", v) for k, v, _ in received) == sorted((k or b"", v) for k, v in expected)
    # Everything about one entity lands in one partition, in file order.
    per_key: dict[bytes, list[bytes]] = defaultdict(list)
    partition_of: dict[bytes, set[int]] = defaultdict(set)
    for key, value, partition in received:
        if key is not None:
            per_key[key].append(value)
            partition_of[key].add(partition)
    assert all(len(found) == 1 for found in partition_of.values())
    in_file: dict[bytes, list[bytes]] = defaultdict(list)
    for key, value in expected:
        if key is not None:
            in_file[key].append(value)
    assert per_key == in_file
