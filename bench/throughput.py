"""svmon's throughput benchmark (``make bench``): one run on loopback, figures printed, nothing asserted.

Phases, in order, against one Tansu broker (``daemon.broker``):

1. generate ~``--messages`` realistic records (``seeds.scenario.generate`` at the matching scale) and
   produce them to the five topics (``--partitions`` each, plus a one-partition DLQ);
2. **raw**: a plain kafka-python group consumer reads everything; done when its count equals the
   produced count (never from the high watermark: Tansu reports it wrong, FIELD-NOTES.md);
3. **validating**: the same consumer, also validating every value with svmon's pydantic models and
   counting per schema and department: the ceiling for any consumer built on these two libraries;
4. **svmon**: ``svmon run`` as a subprocess with the product's checkpoint cadence; done when the
   offsets in its SQLite store reach the produced end offsets. Peak RSS is ``VmHWM``, checkpoint time
   comes from ``/metrics``;
5. **restart**: ``svmon run`` again on that store; time until ``/readyz`` answers 200;
6. **engine only**: the same messages through an in-process ``Engine`` (no Kafka), and the bytes
   per open event under ``tracemalloc``;
7. optionally (``--profile PATH``) a further ``svmon run`` under cProfile, summarised per message.

The figures are printed as a table and as one JSON line (paste it into an issue note). Every child
process is stopped on exit, Ctrl-C and SIGTERM included. The load average is printed because the
machine is shared: compare figures only between runs with a similar load.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pstats
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from daemon.app import tune_gc
from daemon.broker import TansuBroker, free_port
from daemon.calendar import WorkingCalendar
from daemon.config import KafkaSettings, Settings
from daemon.config import Topics as TopicNames
from daemon.engine import Engine, topic_streams
from daemon.metrics import FlowCounters
from daemon.pipeline import Message, Pipeline
from daemon.state.entities import EVENT
from daemon.store.sql import open_store
from daemon.timeutil import SHANGHAI
from schemas.registry import load_registry
from seeds.scenario import STREAMS, generate

MESSAGES_PER_SCALE = 96_800  # seed 2023 gives ~96.8k messages per unit of scale
TARGET_RATIO = 0.6  # issue 3: svmon >= 0.6 x the raw consume rate
TARGET_RESTART_S = 10.0  # issue 3: restart-to-ready <= 10 s
_TOPIC_SETTING = {
    "events": "events",
    "inspections": "inspections",
    "catalog": "catalog",
    "disclosures": "disclosures",
    "disclosure_requests": "disclosure_requests",
}
# Consumer group timings that make a join take ~2 s instead of ~20 s against Tansu (FIELD-NOTES.md).
_GROUP_TIMINGS = {"session_timeout_ms": 3000, "heartbeat_interval_ms": 500, "max_poll_interval_ms": 30000}

Partition = tuple[str, int]


# --- small helpers ---------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``condition`` until it holds; ``TimeoutError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def peak_rss_mib(pid: int) -> float | None:
    """``VmHWM`` (peak resident set) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def kafka_crc32c() -> str:
    """Which CRC32C kafka-python checks fetched batches with: the C ``crc32c`` package or pure Python.

    The pure-Python one costs tens of µs per ~300-byte message and dominates both consumers.
    """
    from kafka.record import util

    return "native" if getattr(util, "crc32c_c", None) is not None else "pure-python"


def stored_offsets(path: Path) -> dict[Partition, int]:
    """Next offsets committed in svmon's SQLite store (read-only; empty before its tables exist)."""
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            rows = connection.execute("SELECT topic, part, next_offset FROM svmon_offsets").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {(str(topic), int(part)): int(offset) for topic, part, offset in rows}


def stored_events(path: Path) -> tuple[int, int]:
    """(events in the store, of which resident) — what a restart has to know about and to load."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
        total, resident = connection.execute(
            "SELECT count(*), coalesce(sum(resident), 0) FROM svmon_entities WHERE kind = ?", (EVENT,)
        ).fetchone()
    return int(total), int(resident)


def metric_sums(text: str, names: set[str]) -> dict[str, float]:
    """Sum of every sample of each wanted name (all label sets) in a Prometheus exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    sums = dict.fromkeys(names, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names:
                sums[sample.name] += sample.value
    return sums


# --- the data --------------------------------------------------------------------------------------


@dataclass
class Topics:
    """Topic names of this run (unique, so a reused broker never mixes runs)."""

    by_stream: dict[str, str]
    dlq: str

    @classmethod
    def unique(cls) -> Topics:
        base = f"bench-{uuid.uuid4().hex[:8]}"
        return cls({stream: f"{base}.{stream}" for stream in STREAMS}, f"{base}.dlq")

    def env(self) -> dict[str, str]:
        names = {_TOPIC_SETTING[stream]: topic for stream, topic in self.by_stream.items()}
        names["dlq"] = self.dlq
        return {f"SVMON_KAFKA__TOPICS__{name.upper()}": topic for name, topic in names.items()}

    def settings(self) -> Settings:
        topics = {_TOPIC_SETTING[stream]: topic for stream, topic in self.by_stream.items()}
        return Settings(kafka=KafkaSettings(topics=TopicNames(**topics, dlq=self.dlq)))


@dataclass
class Produced:
    """Where the produced messages landed: end offset per partition (from the acks), in order."""

    ends: dict[Partition, int] = field(default_factory=dict)
    acked: int = 0
    failures: list[BaseException] = field(default_factory=list)
    # (topic, partition, offset, key, value, timestamp) of every message, for the in-process phases
    placed: list[Message] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.ends.values())


Raw = tuple[bytes | None, bytes, int]  # (key, value, timestamp_ms) as the scenario yields them


def generate_messages(count: int, seed: int) -> tuple[dict[str, list[Raw]], float]:
    """Messages per stream from one scenario scaled to about ``count``; and the seconds it took."""
    started = time.perf_counter()
    scenario = generate(seed, scale=count / MESSAGES_PER_SCALE)
    messages = {stream: list(scenario.kafka_messages(stream)) for stream in STREAMS}
    return messages, time.perf_counter() - started


def produce(broker: TansuBroker, topics: Topics, messages: dict[str, list[Raw]]) -> tuple[Produced, float]:
    """Produce every stream, recording each ack; return the placement and the seconds it took."""
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
    elapsed = time.perf_counter() - started
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
    return produced, elapsed


# --- raw consumer ----------------------------------------------------------------------------------


def validate_and_count(counts: dict[tuple[str, str | None], int]) -> Callable[[bytes | None], None]:
    """The least a validating consumer does: svmon's pydantic union over the value, then one dict
    increment per schema and department (FIELD-NOTES' "kafka-python + pydantic + dict aggregation")."""
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


def raw_consume(
    broker: TansuBroker,
    topics: Topics,
    expected: int,
    max_poll_records: int,
    handle: Callable[[bytes | None], None] | None = None,
) -> tuple[float, float]:
    """Seconds for a plain group consumer, from construction, to have read ``expected`` messages;
    and the seconds until its first message (the group join and first fetch). ``handle``, when
    given, is called with every message value."""
    from kafka import KafkaConsumer

    started = time.perf_counter()
    consumer = KafkaConsumer(
        *topics.by_stream.values(),
        bootstrap_servers=broker.bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        **_GROUP_TIMINGS,
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
        return elapsed, elapsed if first is None else first
    finally:
        consumer.close(autocommit=False)


# --- svmon as a subprocess -------------------------------------------------------------------------


@dataclass
class Svmon:
    """One ``svmon run`` subprocess on a store; startable again on the same store."""

    bootstrap: str
    store: Path
    topics: Topics
    log_dir: Path
    group: str
    profile_to: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)  # an SVMON_* variable of the caller (e.g. a checkpoint cadence) applies
        env.update(
            {
                "SVMON_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
                "SVMON_KAFKA__GROUP_ID": self.group,
                **{f"SVMON_KAFKA__{name.upper()}": str(value) for name, value in _GROUP_TIMINGS.items()},
                "SVMON_STORE__URL": f"sqlite:///{self.store}",
                "SVMON_HTTP__HOST": "127.0.0.1",
                "SVMON_HTTP__PORT": str(self.port),
                "SVMON_LOG__FORMAT": "json",
                **self.topics.env(),
            }
        )
        return env

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"svmon-{self.group}-{self.starts}.log"

    def start(self) -> None:
        self.port = free_port()
        self.starts += 1
        profile = ["-m", "cProfile", "-o", str(self.profile_to)] if self.profile_to else []
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, *profile, "-m", "daemon", "run"],
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"svmon exited unexpectedly; its log ends with:\n{tail}")
        return True

    def get(self, path: str) -> tuple[int, str]:
        try:
            url = f"http://127.0.0.1:{self.port}{path}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read().decode()
        except OSError as error:
            return 0, str(error)

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (finish the batch, checkpoint), SIGKILL after ``timeout``; safe to call twice."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class SvmonRun:
    seconds: float
    first_checkpoint_s: float
    peak_rss_mib: float | None
    checkpoint_count: int
    checkpoint_seconds: float
    consumed: int
    dlq: int
    stop_seconds: float


def run_svmon(svmon: Svmon, ends: dict[Partition, int]) -> SvmonRun:
    """Start svmon, wait until its store holds every produced offset, read its metrics, stop it."""
    started = time.perf_counter()
    svmon.start()
    first: float | None = None

    def caught_up() -> bool:
        nonlocal first
        svmon.alive()
        offsets = stored_offsets(svmon.store)
        if offsets and first is None:
            first = time.perf_counter() - started
        return all(offsets.get(tp, 0) >= end for tp, end in ends.items())

    wait_until(caught_up, 1800, "svmon's store to reach the produced end offsets", interval=0.05)
    elapsed = time.perf_counter() - started
    rss = peak_rss_mib(svmon.pid)
    status, text = svmon.get("/metrics")
    wanted = {
        "supervision_checkpoint_duration_seconds_sum",
        "supervision_checkpoint_duration_seconds_count",
        "supervision_messages_consumed_total",
        "supervision_dlq_writes_total",
    }
    sums = metric_sums(text, wanted) if status == 200 else dict.fromkeys(wanted, float("nan"))
    stopping = time.perf_counter()
    svmon.stop()
    return SvmonRun(
        seconds=elapsed,
        first_checkpoint_s=first or elapsed,
        peak_rss_mib=rss,
        checkpoint_count=int(sums["supervision_checkpoint_duration_seconds_count"]),
        checkpoint_seconds=sums["supervision_checkpoint_duration_seconds_sum"],
        consumed=int(sums["supervision_messages_consumed_total"]),
        dlq=int(sums["supervision_dlq_writes_total"]),
        stop_seconds=time.perf_counter() - stopping,
    )


def run_group(members: list[Svmon], ends: dict[Partition, int]) -> tuple[float, int]:
    """Start several svmon instances in one consumer group on one store; seconds until the store
    holds every produced offset, and the messages they consumed together (from their /metrics)."""
    started = time.perf_counter()
    for member in members:
        member.start()

    def caught_up() -> bool:
        for member in members:
            member.alive()
        offsets = stored_offsets(members[0].store)
        return all(offsets.get(tp, 0) >= end for tp, end in ends.items())

    wait_until(caught_up, 1800, "the instances' store to reach the produced end offsets", interval=0.05)
    elapsed = time.perf_counter() - started
    consumed = 0
    for member in members:
        status, text = member.get("/metrics")
        if status == 200:
            consumed += int(
                metric_sums(text, {"supervision_messages_consumed_total"})[
                    "supervision_messages_consumed_total"
                ]
            )
        member.stop()
    return elapsed, consumed


def restart_to_ready(svmon: Svmon) -> tuple[float, float | None]:
    """Seconds from starting svmon on an existing store until ``/readyz`` answers 200; and its RSS."""
    started = time.perf_counter()
    svmon.start()
    wait_until(lambda: svmon.alive() and svmon.get("/readyz")[0] == 200, 300, "svmon /readyz 200", 0.05)
    elapsed = time.perf_counter() - started
    rss = peak_rss_mib(svmon.pid)
    svmon.stop()
    return elapsed, rss


# --- in-process engine -----------------------------------------------------------------------------


class NullDlq:
    """A DLQ that accepts everything (the in-process phases measure the engine, not Kafka)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, key: bytes | None, payload: bytes) -> None:
        self.sent += 1

    def flush(self, timeout: float = 30.0) -> int:
        return 0


def make_engine(settings: Settings, store_path: Path, *, counters: bool) -> Engine:
    registry = load_registry(settings.registry_file)
    flow = None
    if counters:
        from prometheus_client import CollectorRegistry

        flow = FlowCounters(
            CollectorRegistry(auto_describe=False),
            registry,
            list(settings.kafka.topics.model_dump().values()),
        )
    return Engine(settings, registry, WorkingCalendar(), open_store(f"sqlite:///{store_path}"), counters=flow)


def engine_only(settings: Settings, placed: list[Message], work: Path, batch: int) -> tuple[float, float]:
    """Seconds to process every message in-process (with flow counters), and to checkpoint after.

    Under the daemon's garbage-collector thresholds, as ``svmon run`` sets them.
    """
    engine = make_engine(settings, work / "engine-only.db", counters=True)
    previous = tune_gc()
    try:
        scopes = {engine.scope_of(m.topic, m.partition) for m in placed}
        for scope in sorted(scopes):
            engine.open_scope(scope)
        dlq = NullDlq()
        checkpoint_s = 0.0
        started = time.perf_counter()
        for index in range(0, len(placed), batch):
            engine.process(placed[index : index + batch], dlq)
            if (index // batch) % 10 == 9:  # the daemon's default cadence: every 20k records
                tick = time.perf_counter()
                engine.checkpoint(dlq)
                checkpoint_s += time.perf_counter() - tick
        tick = time.perf_counter()
        engine.checkpoint(dlq)
        checkpoint_s += time.perf_counter() - tick
        return time.perf_counter() - started, checkpoint_s
    finally:
        gc.set_threshold(*previous)
        engine.store.close()


def created_events(settings: Settings, placed: list[Message], count: int) -> list[Message]:
    """``count`` realistic, valid created-only events on partition 0 of the events topic.

    Taken from the scenario's own valid ``created`` actions, cycled with a suffixed ``event_id`` when
    the run has fewer than ``count``, so every one opens a distinct event.
    """
    topic = settings.kafka.topics.events
    pipeline = Pipeline(load_registry(settings.registry_file), topic_streams(settings), 10**6)
    seen_at = datetime.now(UTC)
    valid: list[tuple[dict[str, Any], int]] = []
    seen: set[str] = set()
    for message in placed:
        if message.topic != topic or message.value is None or b'"action":"created"' not in message.value:
            continue
        record = json.loads(message.value)
        # Once per event: the scenario also carries duplicates and corrected versions of a created.
        if record.get("event_id") not in seen and pipeline.prepare(message, seen_at).rejected is None:
            seen.add(record["event_id"])
            valid.append((record, message.timestamp_ms))
    if not valid:
        raise RuntimeError("the scenario produced no valid created events")
    out: list[Message] = []
    for index in range(count):
        original, timestamp_ms = valid[index % len(valid)]
        record = dict(original)
        round_ = index // len(valid)
        if round_:
            record["event_id"] = f"{record['event_id']}-r{round_}"
        value = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
        out.append(Message(topic, 0, index, str(record["event_id"]).encode(), value, timestamp_ms))
    return out


def build_large_store(settings: Settings, path: Path, events: int, partitions: int, open_share: float) -> int:
    """A store holding ``events`` events, ``open_share`` of them still open, built in-process.

    Each event is a ``created`` (and, unless it stays open, a ``handled`` a day later) spread over
    2025, applied through the engine and checkpointed as the daemon would. Returns how many events
    stayed open (resident): the part a restart has to load.
    """
    engine = make_engine(settings, path, counters=False)
    topic = settings.kafka.topics.events
    for partition in range(partitions):
        engine.open_scope(("events", partition))
    departments = list(engine.registry.departments)
    dlq = NullDlq()
    offsets = [0] * partitions
    batch: list[Message] = []
    start = datetime(2025, 1, 2, 9, tzinfo=SHANGHAI).timestamp()
    spacing = 365 * 86400 / max(events, 1)
    kinds = ("complaint", "risk_warning", "clue", "collaborative")
    open_every = round(1 / open_share) if open_share > 0 else 0
    still_open = 0
    for index in range(events):
        partition = index % partitions
        department = departments[index % len(departments)]
        created_at = start + index * spacing
        event_id = f"big-{index}"
        key = event_id.encode()
        created = {
            "schema": "event/v1",
            "event_id": event_id,
            "action": "created",
            "at": _rfc3339(created_at),
            "kind": kinds[index % len(kinds)],
            "department": department,
            "division": engine.registry.division_of(department),
        }
        actions = [(created, created_at)]
        if open_every and index % open_every == 0:
            still_open += 1
        else:
            handled_at = created_at + 86400
            handled = {
                "schema": "event/v1",
                "event_id": event_id,
                "action": "handled",
                "at": _rfc3339(handled_at),
            }
            actions.append((handled, handled_at))
        for record, moment in actions:
            value = json.dumps(record, separators=(",", ":")).encode()
            batch.append(
                Message(topic, partition, offsets[partition], key, value, int(moment * 1000) + 60_000)
            )
            offsets[partition] += 1
        if len(batch) >= 5000:
            engine.process(batch, dlq)
            batch = []
            if index % 100_000 < 2500:
                engine.checkpoint(dlq)
    engine.process(batch, dlq)
    engine.checkpoint(dlq)
    engine.store.close()
    return still_open


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, SHANGHAI).isoformat(timespec="seconds")


def bytes_per_open_event(settings: Settings, events: list[Message], work: Path) -> tuple[float, float, int]:
    """Python heap bytes per open event after applying ``events``, before and after a checkpoint."""
    engine = make_engine(settings, work / "open-events.db", counters=False)
    try:
        scope = ("events", 0)
        engine.open_scope(scope)
        dlq = NullDlq()
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        for index in range(0, len(events), 2000):
            engine.process(events[index : index + 2000], dlq)
        applied = tracemalloc.get_traced_memory()[0] - baseline
        engine.checkpoint(dlq)
        checkpointed = tracemalloc.get_traced_memory()[0] - baseline
        tracemalloc.stop()
        resident = len(engine.states[scope].entities)
        if dlq.sent:
            raise RuntimeError(f"{dlq.sent} of the created events were rejected")
        return applied / resident, checkpointed / resident, resident
    finally:
        engine.store.close()


# --- profile ---------------------------------------------------------------------------------------

_AREAS = (
    ("kafka-python: fetch + record parsing", ("/kafka/",)),
    ("pydantic validation", ("/pydantic", "pydantic_core")),
    ("schemas (decode, identifiers)", ("/schemas/",)),
    ("pipeline (prepare)", ("daemon/pipeline.py",)),
    ("state (entities, partition)", ("daemon/state/",)),
    ("store (sqlite checkpoint)", ("daemon/store/", "sqlite3")),
    ("engine (batch loop, counters)", ("daemon/engine.py",)),
    ("prometheus_client (counters)", ("prometheus_client",)),
    ("app loop", ("daemon/app.py", "daemon/source.py")),
    ("json", ("/json/", "_json")),
)


# Where a message's time goes, as cumulative time of the functions that make up the main loop.
_STAGES = (
    ("kafka poll (wait, CRC, parse records)", "daemon/source.py", "poll"),
    ("engine.process", "daemon/engine.py", "process"),
    ("  pipeline.prepare (decode, validate)", "daemon/pipeline.py", "prepare"),
    ("    schemas.decode", "schemas/decode.py", "decode"),
    ("  PartitionState.apply", "daemon/state/partition.py", "apply"),
    ("  FlowCounters (engine._count)", "daemon/engine.py", "_count"),
    ("engine.checkpoint (DLQ flush, SQLite)", "daemon/engine.py", "checkpoint"),
    ("engine.open_scope (restore)", "daemon/engine.py", "open_scope"),
)

# Built-ins the main thread blocks in: waiting for kafka-python's I/O thread, the network, a timer.
_WAITING = ("'acquire' of '_thread.lock'", "select.", "time.sleep", "'wait' of")


def summarise_profile(path: Path, messages: int, top: int = 25) -> list[str]:
    """Own time per area and the top functions, in microseconds per message."""
    stats = pstats.Stats(str(path))
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    by_area: dict[str, float] = {}
    rows: list[tuple[float, int, str]] = []
    total = 0.0
    idle = 0.0
    for (filename, line, name), (_cc, calls, tottime, _cumtime, _callers) in entries.items():
        where = f"{filename}:{line}({name})"
        total += tottime
        if filename == "~" and any(wait in name for wait in _WAITING):
            idle += tottime
            area = "waiting (select/sleep)"
        else:
            area = next((label for label, marks in _AREAS if any(m in where for m in marks)), "other")
        by_area[area] = by_area.get(area, 0.0) + tottime
        rows.append((tottime, calls, where))
    lines = [f"main-thread profile of svmon run: {total:.1f} s own time, {messages:,} messages"]
    lines.append(f"{'stage (cumulative time)':<42} {'µs/msg':>8}")
    for label, suffix, function in _STAGES:
        cumulative = sum(
            value[3]
            for (filename, _line, name), value in entries.items()
            if filename.endswith(suffix) and name == function
        )
        lines.append(f"{label:<42} {cumulative / messages * 1e6:>8.2f}")
    lines.append(f"{'area':<42} {'µs/msg':>8} {'share':>6}")
    for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1]):
        lines.append(f"{area:<42} {seconds / messages * 1e6:>8.2f} {seconds / total:>6.1%}")
    lines.append(f"busy (excluding waiting): {(total - idle) / messages * 1e6:.2f} µs/msg")
    lines.append(f"top {top} functions by own time:")
    for tottime, calls, where in sorted(rows, reverse=True)[:top]:
        short = where.replace(str(Path(sys.prefix)), "<venv>").replace(str(Path.cwd()), ".")
        lines.append(f"  {tottime / messages * 1e6:8.2f} µs/msg {calls:>10,} calls  {short[-110:]}")
    return lines


# --- main ------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=1_000_000, help="about how many records to produce")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of each input topic")
    parser.add_argument("--seed", type=int, default=2023, help="scenario seed")
    parser.add_argument("--open-events", type=int, default=100_000, help="events for the bytes/event figure")
    parser.add_argument(
        "--store-events",
        type=int,
        default=1_000_000,
        help="events in the store for the restart-to-ready figure (0 skips that phase)",
    )
    parser.add_argument("--open-share", type=float, default=0.1, help="share of those events left open")
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="also run this many svmon instances in one group on one SQLite store (scale-out figure)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, stores)")
    parser.add_argument("--profile", type=Path, metavar="PATH", help="also profile svmon run into PATH")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    figures: dict[str, Any] = {
        "load_average_start": load_average(),
        "cpus": os.cpu_count(),
        "kafka_crc32c": kafka_crc32c(),
    }
    notes: list[str] = []
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="svmon-bench-"))
        if args.keep:
            stack.callback(print, f"kept {work}")
        else:
            import shutil

            stack.callback(shutil.rmtree, work, True)
        say = _Say()
        say(f"load average {figures['load_average_start']} on {os.cpu_count()} CPUs; work dir {work}")

        messages, generated_s = generate_messages(args.messages, args.seed)
        count = sum(len(v) for v in messages.values())
        figures.update(messages=count, generate_s=generated_s, generate_rate=count / generated_s)
        say(f"generated {count:,} messages in {generated_s:.1f} s")

        broker = stack.enter_context(TansuBroker(log_path=work / "tansu.log"))
        topics = Topics.unique()
        broker.create_topics(topics.by_stream.values(), partitions=args.partitions)
        broker.create_topics([topics.dlq], partitions=1)
        produced, produce_s = produce(broker, topics, messages)
        del messages
        if produced.total != count:
            raise RuntimeError(f"produced end offsets sum to {produced.total}, expected {count}")
        figures.update(partitions=args.partitions, produce_s=produce_s, produce_rate=count / produce_s)
        say(f"produced {count:,} in {produce_s:.1f} s to {len(produced.ends)} partitions")

        settings = topics.settings()
        raw_s, raw_first_s = raw_consume(broker, topics, count, settings.kafka.max_poll_records)
        figures.update(
            raw_s=raw_s,
            raw_rate=count / raw_s,
            raw_first_message_s=raw_first_s,
            raw_rate_after_first_message=count / max(raw_s - raw_first_s, 1e-9),
        )
        say(f"raw consumer: {count / raw_s:,.0f} msgs/s")

        # The ceiling for any kafka-python consumer that validates with pydantic, whatever else it
        # does: if this misses the target ratio, so must svmon, which also keeps and checkpoints state.
        counts: dict[tuple[str, str | None], int] = {}
        floor_s, _ = raw_consume(
            broker, topics, count, settings.kafka.max_poll_records, validate_and_count(counts)
        )
        if sum(counts.values()) != count:
            raise RuntimeError(f"the validating consumer counted {sum(counts.values())} of {count}")
        figures.update(validating_rate=count / floor_s, validating_ratio=raw_s / floor_s)
        say(f"validating consumer: {count / floor_s:,.0f} msgs/s (ratio {raw_s / floor_s:.2f})")
        if figures["validating_ratio"] < TARGET_RATIO:
            notes.append(
                f"a consumer that only validates with pydantic and counts reaches"
                f" {figures['validating_ratio']:.2f} of the raw rate: below the target of {TARGET_RATIO}"
                " before any state, store or DLQ work"
            )

        svmon = Svmon(
            broker.bootstrap, work / "svmon.db", topics, work, f"bench-svmon-{uuid.uuid4().hex[:8]}"
        )
        stack.callback(svmon.stop, 10)
        run = run_svmon(svmon, produced.ends)
        figures.update(
            svmon_s=run.seconds,
            svmon_rate=count / run.seconds,
            svmon_first_checkpoint_s=run.first_checkpoint_s,
            svmon_rate_after_first_checkpoint=count / max(run.seconds - run.first_checkpoint_s, 1e-9),
            ratio=(count / run.seconds) / (count / raw_s),
            ratio_after_startup=(count / max(run.seconds - run.first_checkpoint_s, 1e-9))
            / figures["raw_rate_after_first_message"],
            peak_rss_mib=run.peak_rss_mib,
            checkpoints=run.checkpoint_count,
            checkpoint_mean_ms=1000 * run.checkpoint_seconds / max(run.checkpoint_count, 1),
            checkpoint_total_s=run.checkpoint_seconds,
            svmon_consumed=run.consumed,
            svmon_dlq=run.dlq,
            svmon_stop_s=run.stop_seconds,
        )
        say(f"svmon: {count / run.seconds:,.0f} msgs/s (ratio {figures['ratio']:.2f})")

        if args.instances > 1:
            members = []
            group_id = f"bench-group-{uuid.uuid4().hex[:8]}"
            for number in range(args.instances):
                member_dir = work / f"instance-{number}"
                member_dir.mkdir()
                member = Svmon(broker.bootstrap, work / "group.db", topics, member_dir, group_id)
                stack.callback(member.stop, 10)
                members.append(member)
            group_s, group_consumed = run_group(members, produced.ends)
            figures.update(
                instances=args.instances,
                instances_s=group_s,
                instances_rate=count / group_s,
                instances_ratio=(count / group_s) / (count / raw_s),
                instances_consumed=group_consumed,
            )
            ratio = figures["instances_ratio"]
            say(f"{args.instances} instances: {count / group_s:,.0f} msgs/s (ratio {ratio:.2f})")

        # The same raw consume once more: how far the machine's speed moved while svmon ran, which
        # is how far the ratios above can be trusted (this machine drifts by tens of percent).
        raw_again_s, _ = raw_consume(broker, topics, count, settings.kafka.max_poll_records)
        figures.update(raw_again_rate=count / raw_again_s, raw_drift=raw_s / raw_again_s - 1)
        say(f"raw consumer again: {count / raw_again_s:,.0f} msgs/s ({figures['raw_drift']:+.0%})")
        if abs(figures["raw_drift"]) > 0.1:
            notes.append(
                f"raw consume moved {figures['raw_drift']:+.0%} between the start and the end of the run:"
                " the ratios are uncertain by about as much"
            )

        events_total, events_resident = stored_events(svmon.store)
        figures.update(store_events=events_total, store_events_resident=events_resident)
        figures["store_mib"] = sum(p.stat().st_size for p in work.glob("svmon.db*")) / 2**20
        if events_total < 1_000_000 and args.store_events <= 0:
            notes.append(
                f"restart measured with {events_total:,} events in the store "
                f"({events_resident:,} resident), not 1,000,000"
            )
        ready_s, ready_rss = restart_to_ready(svmon)
        figures.update(restart_ready_s=ready_s, restart_rss_mib=ready_rss)
        say(f"restart to ready: {ready_s:.1f} s")

        if args.store_events > 0:
            # Fresh, empty topics: the stored offsets point past their ends, so the restart measures
            # joining the group and restoring state, not consuming.
            large_topics = Topics.unique()
            broker.create_topics(list(large_topics.by_stream.values()), partitions=args.partitions)
            broker.create_topics([large_topics.dlq], partitions=1)
            large_path = work / "large.db"
            building = time.perf_counter()
            resident = build_large_store(
                large_topics.settings(), large_path, args.store_events, args.partitions, args.open_share
            )
            figures.update(
                large_store_events=args.store_events,
                large_store_open=resident,
                large_store_build_s=time.perf_counter() - building,
                large_store_mib=sum(p.stat().st_size for p in work.glob("large.db*")) / 2**20,
            )
            say(f"built a store with {args.store_events:,} events ({resident:,} open)")
            large = Svmon(
                broker.bootstrap, large_path, large_topics, work, f"bench-large-{uuid.uuid4().hex[:8]}"
            )
            stack.callback(large.stop, 10)
            large_s, large_rss = restart_to_ready(large)
            figures.update(large_restart_ready_s=large_s, large_restart_rss_mib=large_rss)
            say(f"restart to ready with {args.store_events:,} events in the store: {large_s:.1f} s")

        # The benchmark's own objects (every produced message) must not make the engine's GC passes
        # slower than they are in the daemon.
        gc.collect()
        gc.freeze()
        engine_s, engine_checkpoint_s = engine_only(
            settings, produced.placed, work, settings.kafka.max_poll_records
        )
        figures.update(
            engine_rate=count / engine_s,
            engine_us_per_msg=engine_s / count * 1e6,
            engine_checkpoint_us_per_msg=engine_checkpoint_s / count * 1e6,
        )
        say(f"engine only: {count / engine_s:,.0f} msgs/s")

        events = created_events(settings, produced.placed, args.open_events)
        before, after, resident = bytes_per_open_event(settings, events, work)
        figures.update(bytes_per_open_event=after, bytes_per_open_event_dirty=before, open_events=resident)
        if resident != len(events):
            notes.append(f"only {resident:,} of {len(events):,} created events stayed resident")

        profile_lines: list[str] = []
        if args.profile is not None:
            profiled = Svmon(
                broker.bootstrap,
                work / "profiled.db",
                topics,
                work,
                f"bench-profile-{uuid.uuid4().hex[:8]}",
                profile_to=args.profile.resolve(),
            )
            stack.callback(profiled.stop, 10)
            profiled_run = run_svmon(profiled, produced.ends)
            figures["profiled_rate"] = count / profiled_run.seconds
            profile_lines = summarise_profile(args.profile, count)

        # What the target leaves per message for everything svmon does beyond a validating consumer.
        figures["budget_us_per_msg"] = (
            1e6 / (TARGET_RATIO * figures["raw_rate"]) - 1e6 / figures["validating_rate"]
        )
        figures["load_average_end"] = load_average()
        if count < 1_000_000:
            notes.append(f"{count:,} messages, not 1,000,000 (--messages)")
        print()
        print("\n".join(table(figures, notes)))
        if profile_lines:
            print()
            print("\n".join(profile_lines))
        print()
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


class _Say:
    """Progress lines on stderr, with the seconds since the benchmark started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:7.1f} s] {text}", file=sys.stderr, flush=True)


def table(f: dict[str, Any], notes: list[str]) -> Iterator[str]:
    def fmt(value: Any, unit: str, spec: str = ",.0f") -> str:
        return "n/a" if value is None else f"{value:{spec}} {unit}"

    ratio_verdict = "meets" if f["ratio"] >= TARGET_RATIO else "misses"
    ready_verdict = "meets" if f["restart_ready_s"] <= TARGET_RESTART_S else "misses"
    rows = [
        ("messages produced", fmt(f["messages"], "msgs"), f"{f['partitions']} partitions per topic"),
        ("scenario generation", fmt(f["generate_rate"], "msgs/s"), f"{f['generate_s']:.1f} s"),
        ("produce (kafka-python, acks=1)", fmt(f["produce_rate"], "msgs/s"), f"{f['produce_s']:.1f} s"),
        ("raw consume (kafka-python group)", fmt(f["raw_rate"], "msgs/s"), f"{f['raw_s']:.1f} s"),
        (
            "raw consume, after 1st message",
            fmt(f["raw_rate_after_first_message"], "msgs/s"),
            f"first message at {f['raw_first_message_s']:.1f} s",
        ),
        (
            "kafka-python + pydantic + dict count",
            fmt(f["validating_rate"], "msgs/s"),
            f"ratio {f['validating_ratio']:.2f}: the ceiling for a validating kafka-python consumer",
        ),
        ("svmon run, start to caught up", fmt(f["svmon_rate"], "msgs/s"), f"{f['svmon_s']:.1f} s"),
        (
            "svmon run, after 1st checkpoint",
            fmt(f["svmon_rate_after_first_checkpoint"], "msgs/s"),
            f"first offsets stored at {f['svmon_first_checkpoint_s']:.1f} s",
        ),
        ("ratio svmon / raw", f"{f['ratio']:.2f}", f"target ≥ {TARGET_RATIO} ({ratio_verdict})"),
        ("  same, both after startup", f"{f['ratio_after_startup']:.2f}", "steady state, joins excluded"),
        (
            "raw consume, again at the end",
            fmt(f["raw_again_rate"], "msgs/s"),
            f"{f['raw_drift']:+.0%} against the first: the machine's drift during the run",
        ),
        *(
            [
                (
                    f"{f['instances']} instances, one group and store",
                    fmt(f["instances_rate"], "msgs/s"),
                    f"ratio {f['instances_ratio']:.2f}; consumed {f['instances_consumed']:,}",
                )
            ]
            if "instances" in f
            else []
        ),
        ("peak RSS (VmHWM)", fmt(f["peak_rss_mib"], "MiB", ",.1f"), ""),
        (
            "checkpoint duration (mean)",
            fmt(f["checkpoint_mean_ms"], "ms", ",.1f"),
            f"{f['checkpoints']} checkpoints, {f['checkpoint_total_s']:.1f} s total",
        ),
        ("svmon consumed / DLQ writes", f"{f['svmon_consumed']:,} / {f['svmon_dlq']:,}", "from /metrics"),
        ("SIGTERM to exit", fmt(f["svmon_stop_s"], "s", ".2f"), "final checkpoint included"),
        (
            "events in store (resident)",
            f"{f['store_events']:,} ({f['store_events_resident']:,})",
            f"store {f['store_mib']:.0f} MiB",
        ),
        (
            "restart to ready",
            fmt(f["restart_ready_s"], "s", ".2f"),
            f"target ≤ {TARGET_RESTART_S:.0f} s ({ready_verdict}); "
            f"RSS {fmt(f['restart_rss_mib'], 'MiB', '.0f')}",
        ),
    ]
    if "large_restart_ready_s" in f:
        verdict = "meets" if f["large_restart_ready_s"] <= TARGET_RESTART_S else "misses"
        rows += [
            (
                "store built in-process",
                f"{f['large_store_events']:,} events",
                f"{f['large_store_open']:,} open; {f['large_store_mib']:.0f} MiB;"
                f" built in {f['large_store_build_s']:.0f} s",
            ),
            (
                "restart to ready, that store",
                fmt(f["large_restart_ready_s"], "s", ".2f"),
                f"target ≤ {TARGET_RESTART_S:.0f} s ({verdict});"
                f" RSS {fmt(f['large_restart_rss_mib'], 'MiB', '.0f')}",
            ),
        ]
    rows += [
        (
            "engine only (in-process, no Kafka)",
            fmt(f["engine_rate"], "msgs/s"),
            f"{f['engine_us_per_msg']:.1f} µs/msg",
        ),
        (
            "time left per message at the target",
            fmt(f["budget_us_per_msg"], "µs/msg", ".1f"),
            "for state, store and DLQ beyond validating (the engine above includes validation)",
        ),
        ("bytes per open event", fmt(f["bytes_per_open_event"], "B"), f"{f['open_events']:,} open events"),
        ("  same, before the checkpoint", fmt(f["bytes_per_open_event_dirty"], "B"), "dirty sets included"),
        ("kafka-python CRC32C", f["kafka_crc32c"], "checked on every fetched batch"),
        (
            "load average (1/5/15 min)",
            f"{f['load_average_start']} → {f['load_average_end']}",
            f"{f['cpus']} CPUs",
        ),
    ]
    if "profiled_rate" in f:
        rows.append(
            ("svmon run under cProfile", fmt(f["profiled_rate"], "msgs/s"), "profiling overhead included")
        )
    width = max(len(r[0]) for r in rows)
    yield f"{'figure':<{width}}  {'value':>22}  note"
    for name, value, note in rows:
        yield f"{name:<{width}}  {value:>22}  {note}"
    for note in notes:
        yield f"note: {note}"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every child process was stopped", file=sys.stderr)
        sys.exit(130)
