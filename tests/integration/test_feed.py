"""``svmon feed`` (compose's demo profile) against a real broker, driven with ``svmon incident``.

The feeder runs as the compose service does, configured only through ``SVMON_*`` settings and its
command line; the test reads back what it produced with a plain consumer, starts an incident
through ``svmon incident`` as a person would, and stops the feeder with SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from daemon import streams
from daemon.tools.broker import free_port
from tests.daemon_process import Topics
from tests.services import Broker, wait_for

pytestmark = pytest.mark.integration

PARTITIONS = 3  # what compose's KAFKA_NUM_PARTITIONS auto-creates


def _svmon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _schemas(bootstrap: str, topics: Topics) -> dict[str, Counter[str]]:
    """Per stream, the ``schema`` of every message on its topic now."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        found: dict[str, Counter[str]] = {}
        for stream, topic in topics.by_stream().items():
            parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            ends = consumer.end_offsets(parts)
            schemas: Counter[str] = Counter()
            while any(consumer.position(p) < ends[p] for p in parts):
                for records in consumer.poll(timeout_ms=1000).values():
                    schemas.update(json.loads(record.value)["schema"] for record in records)
            found[stream] = schemas
        return found
    finally:
        consumer.close()


def test_feed_produces_every_stream_takes_incidents_and_stops_on_sigterm(
    any_broker: Broker, tmp_path: Path
) -> None:
    topics = Topics.unique("feed")
    any_broker.create_topics(topics.by_stream().values(), partitions=PARTITIONS)
    port = free_port()
    control = f"http://127.0.0.1:{port}/incidents"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SVMON_")},
        "SVMON_KAFKA__BOOTSTRAP_SERVERS": any_broker.bootstrap,
        **topics.env(),
    }
    output = tmp_path / "feed.out"
    with output.open("wb") as out:
        feeder = subprocess.Popen(
            [sys.executable, "-m", "daemon", "feed", "--control-port", str(port), "--seed", "11"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: feeder.poll() is None and control in output.read_text(), 60, "the feeder's control URL"
        )
        # The warm-up (the open stock and the recent past) is produced at once: every stream has some.
        expected = {stream.name: {stream.schema} for stream in streams.STREAMS}
        wait_for(
            lambda: {s: set(c) for s, c in _schemas(any_broker.bootstrap, topics).items()} == expected,
            60,
            "messages of every stream, each of its own schema",
            interval=1.0,
        )

        started = _svmon("incident", "start", "exposed-id", "--control", control, env=env)
        assert (started.returncode, started.stdout) == (0, "exposed-id: started\n"), started.stderr
        listed = _svmon("incident", "list", "--control", control, env=env)
        assert listed.returncode == 0, listed.stderr
        states = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines()}
        assert states == {
            "stalled-department": "-",
            "exposed-id": "active",
            "silent-topic": "-",
            "bad-release": "-",
        }
        unknown = _svmon("incident", "start", "no-such-thing", "--control", control, env=env)
        assert unknown.returncode == 2
        assert "invalid choice" in unknown.stderr
        assert "Traceback" not in unknown.stderr
    finally:
        feeder.send_signal(signal.SIGTERM)
        code = feeder.wait(timeout=60)
    text = output.read_text()
    assert code == 0, text
    assert "stopped: sent" in text
    assert "incidents active: exposed-id" in text
    gone = _svmon("incident", "list", "--control", control, env=env)
    assert gone.returncode == 1
    assert "nothing answers" in gone.stderr
