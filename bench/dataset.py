"""The run's data: the scenario's messages, the topics they go to, and where each one landed."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from daemon.config import KafkaSettings, Settings
from daemon.config import Topics as TopicNames
from daemon.core.prepare import Message
from daemon.tools.broker import TansuBroker
from seeds.scenario import STREAMS, generate

MESSAGES_PER_SCALE = 96_800  # seed 2023 gives ~96.8k messages per unit of scale
# Consumer group timings that make a join take ~2 s instead of ~20 s against Tansu (measured here);
# every consumer of the run, svmon included, joins with them.
GROUP_TIMINGS = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500, "max_poll_interval_ms": 30000}

Partition = tuple[str, int]
Raw = tuple[bytes | None, bytes, int]  # (key, value, timestamp_ms) as the scenario yields them


def unique_group(prefix: str) -> str:
    """A consumer group of its own, so that no phase starts from another phase's offsets."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Topics:
    """Topic names of this run (unique, so a reused broker never mixes runs).

    Keyed by stream name, which is also the stream's key under ``kafka.topics`` in the settings
    (``daemon/streams.py``).
    """

    by_stream: dict[str, str]
    dlq: str

    @classmethod
    def create(cls, broker: TansuBroker, partitions: int) -> Topics:
        """New topics on ``broker``: ``partitions`` per input stream, one for the DLQ."""
        base = f"bench-{uuid.uuid4().hex[:8]}"
        topics = cls({stream: f"{base}.{stream}" for stream in STREAMS}, f"{base}.dlq")
        broker.create_topics(topics.by_stream.values(), partitions=partitions)
        broker.create_topics([topics.dlq], partitions=1)
        return topics

    def env(self) -> dict[str, str]:
        names = {**self.by_stream, "dlq": self.dlq}
        return {f"SVMON_KAFKA__TOPICS__{name.upper()}": topic for name, topic in names.items()}

    def settings(self) -> Settings:
        return Settings(kafka=KafkaSettings(topics=TopicNames(**self.by_stream, dlq=self.dlq)))


@dataclass(frozen=True)
class Generated:
    """How many messages the scenario gave, and how long generating them took."""

    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def generate_messages(count: int, seed: int) -> tuple[dict[str, list[Raw]], Generated]:
    """Messages per stream from one scenario scaled to about ``count``; and what that took."""
    started = time.perf_counter()
    scenario = generate(seed, scale=count / MESSAGES_PER_SCALE)
    messages = {stream: list(scenario.kafka_messages(stream)) for stream in STREAMS}
    elapsed = time.perf_counter() - started
    return messages, Generated(sum(len(v) for v in messages.values()), elapsed)


@dataclass
class Produced:
    """Where the produced messages landed: end offset per partition (from the acks), in order."""

    ends: dict[Partition, int] = field(default_factory=dict)
    acked: int = 0
    failures: list[BaseException] = field(default_factory=list)
    # (topic, partition, offset, key, value, timestamp) of every message, for the in-process phases
    placed: list[Message] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.ends.values())

    @property
    def rate(self) -> float:
        return self.total / self.seconds


def produce(broker: TansuBroker, topics: Topics, messages: dict[str, list[Raw]]) -> Produced:
    """Produce every stream, recording each ack and the seconds it all took."""
    from kafka import KafkaProducer

    produced = Produced()
    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024, max_block_ms=60_000
    )
    started = time.perf_counter()
    try:
        pending: list[tuple[Any, bytes | None, bytes, int]] = []
        for stream, topic in topics.by_stream.items():
            for key, value, timestamp_ms in messages[stream]:
                future = producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms)
                future.add_errback(produced.failures.append)
                pending.append((future, key, value, timestamp_ms))
        producer.flush(timeout=300)
    finally:
        producer.close(timeout=10)
    produced.seconds = time.perf_counter() - started
    if produced.failures:
        raise RuntimeError(f"{len(produced.failures)} messages were refused: {produced.failures[0]}")
    for future, key, value, timestamp_ms in pending:
        metadata = future.get(timeout=0)
        tp = (metadata.topic, metadata.partition)
        produced.ends[tp] = max(produced.ends.get(tp, 0), metadata.offset + 1)
        produced.placed.append(
            Message(metadata.topic, metadata.partition, metadata.offset, key, value, timestamp_ms)
        )
        produced.acked += 1
    if produced.total != len(pending):
        raise RuntimeError(f"produced end offsets sum to {produced.total}, expected {len(pending)}")
    return produced
