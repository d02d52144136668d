"""docs/contract.md §9.1 and §9.3 against the real thing: ``svmon run`` consuming, killed with SIGKILL.

A generated scenario (duplicates, corrections, out-of-order and late actions, cancellations,
reassignments, invalid records) is produced once; one daemon consumes it uninterrupted, another is
SIGKILLed at six points spread over the stream and restarted each time. Every numerator and
denominator of both stores must be equal, and equal to the scenario's own truth, computed from its
plan rather than by the daemon's code. Every message must be either applied or in the DLQ.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.core.indicators import Counts
from daemon.reports.query import report_counts
from daemon.store import open_store
from seeds.scenario import Scenario, generate
from tests.daemon_process import Daemon, Topics, stored_offsets
from tests.services import Broker, unique_name, wait_for

pytestmark = pytest.mark.integration

SCALE = 0.25  # ~25k messages: a few tens of thousands, within the suite's time budget
PARTITIONS = 3
KILLS = 6

Placed = dict[tuple[str, int], tuple[int, int]]  # (stream, index) -> (partition, offset)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(20231, scale=SCALE)


def produce(broker: Broker, topics: Topics, scenario: Scenario) -> tuple[Placed, dict[tuple[str, int], int]]:
    """Produce every stream; return where each message landed and each partition's end offset."""
    broker.create_topics([*topics.by_stream().values()], partitions=PARTITIONS)
    broker.create_topics([topics.dlq], partitions=1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20, acks="all")
    futures = []
    for stream, topic in topics.by_stream().items():
        for index, (key, value, timestamp_ms) in enumerate(scenario.kafka_messages(stream)):
            future = producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms)
            futures.append(((stream, index), future))
    producer.flush()
    producer.close()
    placed: Placed = {}
    ends: dict[tuple[str, int], int] = {}
    by_stream = topics.by_stream()
    for where, future in futures:
        metadata = future.get(timeout=10)
        placed[where] = (metadata.partition, metadata.offset)
        tp = (by_stream[where[0]], metadata.partition)
        ends[tp] = max(ends.get(tp, 0), metadata.offset + 1)
    return placed, ends


def consumed_count(store_path: Path, ends: dict[tuple[str, int], int]) -> int:
    offsets = stored_offsets(store_path)
    return sum(min(offsets.get(tp, 0), end) for tp, end in ends.items())


def caught_up(store_path: Path, ends: dict[tuple[str, int], int]) -> bool:
    offsets = stored_offsets(store_path)
    return all(offsets.get(tp, 0) >= end for tp, end in ends.items())


def year_counts(store_url: str, scenario: Scenario) -> Counts:
    settings = Settings()
    rules = make_rules(settings, WorkingCalendar())
    store = open_store(store_url)
    try:
        start = date(scenario.year, 1, 1).toordinal()
        end = date(scenario.year, 12, 31).toordinal()
        return report_counts(store, rules, start, end, scenario.as_of.timestamp())
    finally:
        store.close()


def totals(counts: Counts) -> dict[str, tuple[int, int]]:
    summed: dict[str, list[int]] = {}
    for (indicator, _, _), (numerator, denominator) in counts.items():
        cell = summed.setdefault(indicator, [0, 0])
        cell[0] += numerator
        cell[1] += denominator
    return {k: (v[0], v[1]) for k, v in summed.items()}


def dlq_sources(bootstrap: str, topic: str, expected: int) -> list[tuple[str, int, int, list[str]]]:
    """Every DLQ record as (topic, partition, offset, error codes), once at least ``expected`` are read."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    found: list[tuple[str, int, int, list[str]]] = []

    def read() -> bool:
        for records in consumer.poll(timeout_ms=200).values():
            for record in records:
                body = json.loads(record.value)
                source = body["source"]
                codes = [error["code"] for error in body["errors"]]
                found.append((source["topic"], source["partition"], source["offset"], codes))
        return len({f[:3] for f in found}) >= expected

    try:
        wait_for(read, 60, f"{expected} distinct DLQ records in {topic}")
        while consumer.poll(timeout_ms=300):  # drain what else is there (replayed duplicates)
            read()
    finally:
        consumer.close(autocommit=False)
    return found


def expected_dlq(scenario: Scenario, topics: Topics, placed: Placed) -> dict[tuple[str, int, int], str]:
    by_stream = topics.by_stream()
    return {
        (by_stream[stream], *placed[(stream, index)]): code
        for stream, indexes in scenario.erroneous.items()
        for index, code in indexes.items()
    }


def _truth_totals(scenario: Scenario) -> dict[str, tuple[int, int]]:
    overall: dict[str, Any] = scenario.truth["indicators"]
    return {indicator: (int(value[0]), int(value[1])) for indicator, value in overall.items()}


def by_department(counts: Counts) -> dict[str, dict[str, tuple[int, int]]]:
    grouped: dict[str, dict[str, list[int]]] = {}
    for (indicator, department, _), (numerator, denominator) in counts.items():
        cell = grouped.setdefault(department, {}).setdefault(indicator, [0, 0])
        cell[0] += numerator
        cell[1] += denominator
    return {d: {i: (c[0], c[1]) for i, c in cells.items() if c[1]} for d, cells in grouped.items()}


def _truth_by_department(scenario: Scenario) -> dict[str, dict[str, tuple[int, int]]]:
    return {
        department: {i: (int(v[0]), int(v[1])) for i, v in cells.items() if v[1]}
        for department, cells in scenario.truth["by_department"].items()
        if any(v[1] for v in cells.values())
    }


def test_sigkill_at_six_points_changes_no_numerator_or_denominator(
    any_broker: Broker, scenario: Scenario, tmp_path: Path
) -> None:
    """Killed six times mid-stream and restarted, svmon ends with exactly the uninterrupted run's state."""
    topics = Topics.unique("exact")
    placed, ends = produce(any_broker, topics, scenario)
    total = sum(ends.values())
    assert total == sum(len(m) for m in scenario.messages.values())

    # An uninterrupted run, for reference.
    steady_path = tmp_path / "steady.db"
    steady = Daemon(any_broker.bootstrap, f"sqlite:///{steady_path}", topics, tmp_path, unique_name("g"))
    steady.start()
    try:
        wait_for(
            lambda: steady.alive() and caught_up(steady_path, ends), 180, "the uninterrupted run to catch up"
        )
        status, metrics = steady.get("/metrics")
        assert status == 200
    finally:
        assert steady.stop() == 0, steady.last_log()
    consumed = _metric_sum(metrics, "supervision_messages_consumed_total")
    dlq_writes = _metric_sum(metrics, "supervision_dlq_writes_total")
    rejected = expected_dlq(scenario, topics, placed)
    # Nothing dropped (docs/contract.md §9.3): consumed = applied + DLQ, the DLQ holding exactly the bad ones.
    assert consumed == total
    assert dlq_writes == len(rejected)
    steady_dlq = dlq_sources(any_broker.bootstrap, topics.dlq, len(rejected))
    assert {f[:3] for f in steady_dlq} == set(rejected)
    for source_topic, partition, offset, codes in steady_dlq:
        assert rejected[(source_topic, partition, offset)] in codes

    # The same input, SIGKILLed at six points spread over the stream.
    crash_path = tmp_path / "crash.db"
    crash_topics = Topics(**{**topics.__dict__, "dlq": unique_name("dlq-crash")})
    any_broker.create_topics([crash_topics.dlq], partitions=1)
    crashing = Daemon(
        any_broker.bootstrap, f"sqlite:///{crash_path}", crash_topics, tmp_path, unique_name("g")
    )
    rng = random.Random(7)
    for kill in range(1, KILLS + 1):
        crashing.start()
        threshold = total * kill // (KILLS + 1)
        wait_for(
            partial(_progressed, crashing, crash_path, ends, threshold),
            120,
            f"progress past {threshold} messages before kill {kill}",
        )
        # Random slack, so kills land mid-batch and mid-checkpoint, not just after one.
        _pause(rng.uniform(0.0, 0.08))
        crashing.kill()
    crashing.start()
    try:
        # The last kill may have come after everything was checkpointed: then the store is caught up
        # at once, and a SIGTERM before svmon installs its handlers would just kill it. Ready first.
        crashing.wait_ready()
        wait_for(lambda: crashing.alive() and caught_up(crash_path, ends), 180, "the crashed run to catch up")
    finally:
        assert crashing.stop() == 0, crashing.last_log()
    assert crashing.starts == KILLS + 1

    steady_counts = year_counts(f"sqlite:///{steady_path}", scenario)
    crash_counts = year_counts(f"sqlite:///{crash_path}", scenario)
    assert crash_counts == steady_counts
    # The same numbers as an independent computation from the scenario's plan.
    assert totals(steady_counts) == _truth_totals(scenario)
    assert by_department(steady_counts) == _truth_by_department(scenario)
    crash_dlq = dlq_sources(any_broker.bootstrap, crash_topics.dlq, len(rejected))
    assert {f[:3] for f in crash_dlq} == set(rejected)  # replays may repeat a DLQ write, never lose one


def _progressed(daemon: Daemon, store_path: Path, ends: dict[tuple[str, int], int], threshold: int) -> bool:
    return daemon.alive() and consumed_count(store_path, ends) >= threshold


def _pause(seconds: float) -> None:
    """Let a random sliver of time pass before a kill: the moment itself is what is randomised."""
    time.sleep(seconds)


def _metric_sum(exposition: str, name: str) -> int:
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in _samples(exposition, name)))


def _samples(exposition: str, name: str) -> Iterator[str]:
    for line in exposition.splitlines():
        if line.startswith((name + "{", name + " ")):
            yield line
