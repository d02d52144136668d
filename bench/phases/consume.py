"""Raw and validating consume: the kafka-python baseline that svmon's rate is compared with."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.dataset import GROUP_TIMINGS, Topics, unique_group
from daemon.tools.broker import TansuBroker


@dataclass(frozen=True)
class Consumed:
    """One group consumer reading every message, timed from its construction."""

    messages: int
    seconds: float
    first_message_s: float  # the group join and first fetch

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def rate_after_first_message(self) -> float:
        return self.messages / max(self.seconds - self.first_message_s, 1e-9)


def consume_raw(broker: TansuBroker, topics: Topics, expected: int, max_poll_records: int) -> Consumed:
    """A plain group consumer that only counts; done when it has read ``expected`` messages."""
    return _consume(broker, topics, expected, max_poll_records)


def consume_validating(broker: TansuBroker, topics: Topics, expected: int, max_poll_records: int) -> Consumed:
    """The same consumer, also validating every value and counting per schema and department."""
    counts: dict[tuple[str, str | None], int] = {}
    consumed = _consume(broker, topics, expected, max_poll_records, _validate_and_count(counts))
    if sum(counts.values()) != expected:
        raise RuntimeError(f"the validating consumer counted {sum(counts.values())} of {expected}")
    return consumed


def _validate_and_count(counts: dict[tuple[str, str | None], int]) -> Callable[[bytes | None], None]:
    """The least a validating consumer does: svmon's pydantic union over the value, then one dict
    increment per schema and department (the "kafka-python + pydantic + dict aggregation" pipeline)."""
    from pydantic import ValidationError

    from schemas.decode import RECORD_ADAPTER

    def handle(value: bytes | None) -> None:
        try:
            record = RECORD_ADAPTER.validate_json(value or b"", by_alias=True, by_name=False)
            key: tuple[str, str | None] = (record.schema_, record.department)
        except ValidationError:
            key = ("invalid", None)
        counts[key] = counts.get(key, 0) + 1

    return handle


def _consume(
    broker: TansuBroker,
    topics: Topics,
    expected: int,
    max_poll_records: int,
    handle: Callable[[bytes | None], None] | None = None,
) -> Consumed:
    """Read until the count equals ``expected``, never until the high watermark: Tansu reports that
    as the base offset of the last batch. ``handle``, when given, gets every message value."""
    from kafka import KafkaConsumer

    started = time.perf_counter()
    consumer = KafkaConsumer(
        *topics.by_stream.values(),
        bootstrap_servers=broker.bootstrap,
        group_id=unique_group("bench-raw"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        **GROUP_TIMINGS,
    )
    count = 0
    first: float | None = None
    deadline = time.monotonic() + 600
    try:
        while count < expected:
            for records in consumer.poll(timeout_ms=200).values():
                count += len(records)
                if handle is not None:
                    for record in records:
                        handle(record.value)
            if first is None and count:
                first = time.perf_counter() - started
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw consumer read {count} of {expected} messages in 600 s")
        elapsed = time.perf_counter() - started
        return Consumed(expected, elapsed, elapsed if first is None else first)
    finally:
        consumer.close(autocommit=False)
