"""The peer: a Quix Streams application over the same topics, doing the closest work Quix supports.

Quix Streams is a bench-only extra (``pip install -e '.[bench]'``; ``make bench`` keeps it in a
virtualenv of its own). The application runs as a subprocess (``python -m bench.phases.quix
CONFIG``) so that its peak RSS is its own, and does per message what svmon does, in Quix's way:

- the value is validated with svmon's own ``schemas.decode.decode`` (the registry, the ingestion
  time from the Kafka timestamp, the size limit: what ``Pipeline.prepare`` passes); an invalid one
  is counted and skipped, where svmon would write it to the DLQ;
- the entity is keyed as svmon keys it, ``kind:id`` (``daemon.core.state.entities.entity_key``), one
  slot per action for events and withdrawal requests; a slot is replaced only by a higher version
  (equal versions: the higher CRC32 of the value, as ``offer`` does). Quix scopes state by message
  key, so the state key is (message key, entity key): producers key every entity's messages alike,
  which is what svmon's per-partition state relies on as well;
- counts per (department, schema, status) are kept in state too. Quix state is per message key,
  so the only per-department aggregate it supports is ``group_by`` (a repartition topic per input
  topic): the entity step emits +1/-1 deltas when an entity's (department, status) changes, and a
  second stateful step keyed by department adds them up. svmon needs no such round trip: its
  aggregates live in the partition state beside the entities;
- Quix's defaults otherwise: at-least-once, changelog topics, RocksDB state (here in the bench's
  work dir), default GC (svmon tunes its thresholds), librdkafka's fetch settings; the commit
  interval and count are svmon's checkpoint cadence (``store.checkpoint_every_ms`` /
  ``checkpoint_every_records``); a fresh group reading from the earliest offsets, with the bench's
  short group timings.

Timing. ``seconds`` runs from ``app.run()`` to the last message processed (its last delta counted):
it includes the group join and the assignment of the state partitions, and excludes what comes
before ``run()`` (``startup_s``: the interpreter, its imports, and defining the pipeline, which
creates its 15 topics at about a second each, ``topics_s``) and the commit of the last offsets.
Assigning the 40 state partitions took 3.4 s in a 1M-message run here but 18 s in a 20k one: Quix
asks for each changelog partition's watermarks in turn, and librdkafka probably queues each query
behind a long-polling fetch (``fetch.wait.max.ms``, 500 ms by default), which waits only when there is
little to fetch. ``first_message_s`` shows that cost. svmon's own figure
runs from its spawn to its offsets in the store; ``committed_s`` (``app.run()`` until the group's
committed offsets reach the produced end offsets, read with the admin client) measures Quix
the same way, except for the interpreter start-up. The child counts what it processed and writes
that to a progress file, because the high watermark is no use on Tansu: it reports the base offset
of the last batch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.dataset import GROUP_TIMINGS, Partition, Topics, unique_group
from bench.host import cpu_seconds, peak_rss_mib, wait_until
from daemon.config import Settings
from daemon.tools.broker import TansuBroker, stop_child

_CHECKOUT = Path(__file__).resolve().parents[2]
_PROGRESS_EVERY_S = 0.5  # the child's periodic progress writes; "done" is written at once
_COMMIT_WAIT_S = 60.0  # after done, how long to wait for the committed offsets to reach the ends
# Slot precedence per action, for an entity's status: the most advanced slot it holds. Single-slot
# records (inspections, the catalogue, disclosures) use the slot "" .
_RANK = {
    "": 0,
    "created": 0,
    "signed": 1,
    "reassigned": 2,
    "handled": 3,
    "cancelled": 4,
    "submitted": 0,
    "approved": 1,
    "rejected": 2,
    "executed": 3,
}


def quix_missing() -> str | None:
    """One line saying why the Quix phase cannot run in this interpreter, or ``None`` when it can."""
    if importlib.util.find_spec("quixstreams") is not None:
        return None
    return (
        f"quixstreams is not installed in {sys.executable}: `make bench` installs the bench extra into"
        " .venv/bench and runs there (or pip install -e '.[bench]'; --no-quix skips the Quix phase)"
    )


@dataclass(frozen=True)
class QuixRun:
    """The Quix application from ``app.run()`` until it processed every produced message."""

    version: str
    messages: int
    seconds: float  # app.run() to the last message processed (its last delta counted)
    first_message_s: float  # app.run() to the first message: group join, store partitions assigned
    startup_s: float  # spawn to app.run(): interpreter, imports, Application and topics
    topics_s: float  # of which Application() and the pipeline's definition, creating its topics
    committed_s: float | None  # app.run() until the group's committed offsets reach the produced ends
    peak_rss_mib: float | None
    cpu_seconds: float | None  # its process's CPU time (all threads, librdkafka's too) until done
    invalid: int  # skipped (svmon's DLQ writes)
    deltas: int  # count deltas sent through the repartition topics
    entities: int  # entities created in state

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def rate_after_first_message(self) -> float:
        return self.messages / max(self.seconds - self.first_message_s, 1e-9)

    @property
    def cpu_us_per_msg(self) -> float | None:
        """CPU time per message, its start-up included (as svmon's)."""
        return None if self.cpu_seconds is None else 1e6 * self.cpu_seconds / self.messages

    @property
    def committed_rate(self) -> float | None:
        """Until the offsets are durable, as svmon's rate is (which also counts its interpreter)."""
        return None if self.committed_s is None else self.messages / self.committed_s


def run_quix(
    broker: TansuBroker, topics: Topics, work: Path, ends: dict[Partition, int], settings: Settings
) -> QuixRun:
    """Run the Quix application until it has processed every produced message; then stop it.

    ``settings`` are svmon's: the application commits at their checkpoint cadence and validates
    with their registry and size limit.
    """
    _declare_retention(broker, topics)
    group = unique_group("bench-quix")
    progress = work / "quix-progress.json"
    config: dict[str, Any] = {
        "bootstrap": broker.bootstrap,
        "group": group,
        "topics": topics.by_stream,
        "state_dir": str(work / "quix-state"),
        "commit_interval_s": settings.store.checkpoint_every_ms / 1000,
        "commit_every": settings.store.checkpoint_every_records,
        "expected": sum(ends.values()),
        "progress": str(progress),
        "registry_file": None if settings.registry_file is None else str(settings.registry_file),
        "max_message_bytes": settings.kafka.max_message_bytes,
    }
    config_path = work / "quix-config.json"
    config_path.write_text(json.dumps(config))
    log_path = work / "quix.log"
    spawned = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.phases.quix", str(config_path)],
            env={**os.environ, "PYTHONPATH": _pythonpath()},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        done = _wait_for_done(process, progress, log_path)
        rss = peak_rss_mib(process.pid)
        cpu = cpu_seconds(process.pid)
        committed = _wait_for_commit(broker, group, ends, done["started"], lambda: _alive(process, log_path))
        stop_child(process, 60)  # it finishes its batch and commits
    finally:
        stop_child(process, 10)
    return QuixRun(
        version=done["version"],
        messages=config["expected"],
        seconds=done["last"] - done["started"],
        first_message_s=done["first"] - done["started"],
        startup_s=done["started"] - spawned,
        topics_s=done["started"] - done["built"],
        committed_s=committed,
        peak_rss_mib=rss,
        cpu_seconds=cpu,
        invalid=done["invalid"],
        deltas=done["emitted"],
        entities=done["entities"],
    )


def _declare_retention(broker: TansuBroker, topics: Topics) -> None:
    """Set ``retention.ms`` on the input topics explicitly: Quix derives its changelog and repartition
    topics' retention from it, and Tansu reports only configs that were set (Quix then fails with a
    ``KeyError``). ``-1``, unlimited, is what Tansu keeps anyway, and only metadata for the others."""
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": "-1"})
            for name in topics.by_stream.values()
        ]
        result = admin.alter_configs(resources, incremental=True, raise_on_unknown=False)
    finally:
        admin.close()
    failed = {name: r for name, r in result.get("topic", {}).items() if r != "OK"}
    if failed:
        raise RuntimeError(f"setting retention.ms on the input topics failed: {failed}")


def _pythonpath() -> str:
    """The caller's ``PYTHONPATH`` behind this checkout, whose ``bench`` package the child runs."""
    return os.pathsep.join(filter(None, [str(_CHECKOUT), os.environ.get("PYTHONPATH", "")]))


def _alive(process: subprocess.Popen[bytes], log_path: Path) -> bool:
    if process.poll() is not None:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the Quix application exited ({process.returncode}); its log ends with:\n{tail}")
    return True


def _wait_for_done(process: subprocess.Popen[bytes], progress: Path, log_path: Path) -> dict[str, Any]:
    """The child's last progress once it says done (it writes the file atomically)."""
    seen: dict[str, Any] = {}

    def done() -> bool:
        _alive(process, log_path)
        try:
            seen.update(json.loads(progress.read_text()))
        except (OSError, ValueError):
            return False
        return bool(seen.get("done"))

    try:
        wait_until(done, 1800, "the Quix application to process every produced message", interval=0.05)
    except TimeoutError as error:
        raise TimeoutError(f"{error}; its last progress: {seen}") from None
    return seen


def _wait_for_commit(
    broker: TansuBroker, group: str, ends: dict[Partition, int], started: float, alive: Callable[[], bool]
) -> float | None:
    """Seconds from ``started`` (the child's ``time.monotonic()``: one clock for every process on
    Linux) until the group's committed offsets reach ``ends``; ``None`` if not within
    ``_COMMIT_WAIT_S`` (Quix commits on its interval, idle or not, so it should within one)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    deadline = time.monotonic() + _COMMIT_WAIT_S
    try:
        while time.monotonic() < deadline:
            alive()
            offsets = admin.list_group_offsets(group).get(group, {})
            committed = {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
            if all(committed.get(tp, -1) >= end for tp, end in ends.items()):
                return time.monotonic() - started
            time.sleep(0.1)
    finally:
        admin.close()
    return None


# --- the child: the Quix application ----------------------------------------------------------


class Progress:
    """What the application processed, written to a file for the parent (the side channel).

    Done once every produced message was seen and every delta it emitted was counted; at that point
    the file is written at once, with the moment of that last message.
    """

    def __init__(self, path: Path, expected: int, version: str) -> None:
        self.path = path
        self.expected = expected
        self.version = version
        self.built = time.monotonic()  # before Application(): topics are created from here
        self.started = self.built  # app.run(): see start()
        self.first = self.built  # the first message seen
        self.seen = self.invalid = self.emitted = self.counted = self.entities = 0
        self.done = False
        self._written = 0.0

    def start(self) -> None:
        """The application starts: the pipeline and its topics are ready, ``app.run()`` comes next."""
        self.started = time.monotonic()
        self.write(self.started)

    def check(self) -> None:
        """After each message of either step: write when done, else now and then."""
        if self.done:
            return
        now = time.monotonic()
        if self.seen >= self.expected and self.counted >= self.emitted:
            self.done = True
            self.write(now)
        elif now - self._written > _PROGRESS_EVERY_S:
            self.write(now)

    def write(self, now: float) -> None:
        self._written = now
        body = {
            "version": self.version,
            "built": self.built,
            "started": self.started,
            "first": self.first,
            "last": now,
            "done": self.done,
            "seen": self.seen,
            "invalid": self.invalid,
            "emitted": self.emitted,
            "counted": self.counted,
            "entities": self.entities,
        }
        partial = self.path.with_suffix(".part")
        partial.write_text(json.dumps(body))
        partial.replace(self.path)


Slots = dict[str, list[Any]]  # slot name -> [version, fingerprint, department, status]


def _contribution(slots: Slots) -> tuple[str, str]:
    """(department, status) an entity counts under: its most advanced slot's status, and the last
    department its slots name in that order (a reassignment overrides the creating department)."""
    department = ""
    status = ""
    for name in sorted(slots, key=_RANK.__getitem__):
        _, _, slot_department, status = slots[name]
        if slot_department:
            department = slot_department
    return department, status


def _status(record: Any) -> str:
    """The record's indicator-ish bucket: what it says happened (action, result, status, active)."""
    schema = record.SCHEMA
    if schema in ("event/v1", "disclosure-request/v1"):
        return str(record.action)
    if schema == "inspection/v1":
        return str(record.result)
    if schema == "item/v1":
        return "active" if record.active else "inactive"
    return str(record.status)


def entity_step(progress: Progress, registry: Any, max_message_bytes: int) -> Callable[..., list[Any]]:
    """The stateful step per message: validate, keep the slot if it supersedes, emit count deltas."""
    from daemon import streams
    from daemon.core.timeutil import SHANGHAI
    from schemas.decode import Accepted, decode

    kinds = {stream.schema: stream.kind for stream in streams.STREAMS}

    def step(value: bytes | None, key: Any, timestamp_ms: int, headers: Any, state: Any) -> list[Any]:
        if not progress.seen:
            progress.first = time.monotonic()
        progress.seen += 1
        ingested_at = datetime.fromtimestamp(timestamp_ms / 1000, SHANGHAI)
        decoded = decode(
            value, key=key, ingested_at=ingested_at, registry=registry, max_message_bytes=max_message_bytes
        )
        if not isinstance(decoded, Accepted):
            progress.invalid += 1
            progress.check()
            return []
        record = decoded.record
        _, ident, *name = record.record_key
        entity_key = f"{kinds[record.SCHEMA]}:{ident}"
        slot = name[0] if name else ""
        fingerprint = zlib.crc32(value or b"")
        slots: Slots | None = state.get(entity_key)
        current = None if slots is None else slots.get(slot)
        if current is not None and (record.version, fingerprint) <= (current[0], current[1]):
            progress.check()  # stale or a duplicate: nothing changes
            return []
        before = None if slots is None else _contribution(slots)
        slots = dict(slots or {})
        slots[slot] = [record.version, fingerprint, record.department or "", _status(record)]
        state.set(entity_key, slots)
        after = _contribution(slots)
        deltas = []
        if before != after:
            if before is None:
                progress.entities += 1
            else:
                deltas.append(_delta(before, record.SCHEMA, -1))
            deltas.append(_delta(after, record.SCHEMA, 1))
        progress.emitted += len(deltas)
        progress.check()
        return deltas

    return step


def _delta(contribution: tuple[str, str], schema: str, n: int) -> dict[str, Any]:
    department, status = contribution
    return {"department": department, "schema": schema, "status": status, "n": n}


def count_step(progress: Progress) -> Callable[[Mapping[str, Any], Any], None]:
    """The stateful step keyed by department: add each delta to its (schema, status) count."""

    def step(delta: Mapping[str, Any], state: Any) -> None:
        bucket = f"{delta['schema']}|{delta['status']}"
        state.set(bucket, state.get(bucket, 0) + delta["n"])
        progress.counted += 1
        progress.check()

    return step


def _department(delta: Mapping[str, Any]) -> str:
    return str(delta["department"])


def child(config_path: Path) -> None:
    """Build the application from the parent's config and run it until SIGTERM."""
    import quixstreams
    from quixstreams import Application

    from schemas.registry import load_registry

    config = json.loads(config_path.read_text())
    registry_file = config["registry_file"]
    registry = load_registry(None if registry_file is None else Path(registry_file))
    progress = Progress(Path(config["progress"]), config["expected"], quixstreams.__version__)
    app = Application(
        broker_address=config["bootstrap"],
        consumer_group=config["group"],
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        use_changelog_topics=True,
        commit_interval=config["commit_interval_s"],
        commit_every=config["commit_every"],
        state_dir=config["state_dir"],
        consumer_extra_config={
            "session.timeout.ms": GROUP_TIMINGS["session_timeout_ms"],
            "heartbeat.interval.ms": GROUP_TIMINGS["heartbeat_interval_ms"],
            "max.poll.interval.ms": GROUP_TIMINGS["max_poll_interval_ms"],
        },
    )
    for stream, name in config["topics"].items():
        topic = app.topic(name, key_deserializer="bytes", value_deserializer="bytes")
        sdf = app.dataframe(topic)
        sdf = sdf.apply(
            entity_step(progress, registry, config["max_message_bytes"]),
            stateful=True,
            expand=True,
            metadata=True,
        )
        sdf = sdf.group_by(_department, name=f"department-{stream}")
        sdf = sdf.update(count_step(progress), stateful=True)
    # Defining the pipeline created its topics (Quix polls each creation once a second): a first
    # deployment's cost, kept out of the rate and reported as such.
    progress.start()
    app.run()


if __name__ == "__main__":
    child(Path(sys.argv[1]))
