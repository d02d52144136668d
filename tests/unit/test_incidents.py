"""Tests of daemon.tools.incidents and of what each incident does to daemon.tools.live's traffic.

Each incident must change the traffic the way its alert's expression needs (alerts/rules/), within
minutes, and stop doing so once stopped; the traffic of everyone else stays what it would have
been.  The figures are the engine's own flow counters and snapshots, on a simulated clock.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from daemon import streams
from daemon.core.calendar import WorkingCalendar
from daemon.core.prepare import Message
from daemon.core.tally import Tally
from daemon.runtime.engine import Engine
from daemon.tools import incidents as incidents_module
from daemon.tools.incidents import NAMES, Incidents
from daemon.tools.live import LiveTraffic, Outgoing
from schemas.identifiers import find_personal_info, is_valid_resident_id
from schemas.registry import load_registry
from tests import records
from tests.records import CST, FakeDlq

REGISTRY = load_registry(None)
ROOT = Path(__file__).resolve().parents[2]
START = datetime(2024, 6, 4, 10, 0, tzinfo=CST)  # a Tuesday, office hours
TOPIC = {stream.name: stream.default_topic for stream in streams.STREAMS}
STEP = timedelta(seconds=15)


class Demo:
    """Live traffic through a real engine on an empty store, one batch per 15 simulated seconds.

    Keeps, per batch, its time, the messages and the batch's flow counters, so a test can take the
    windows an alert's expression takes (rates over 5 m, 1 h ...).
    """

    def __init__(self, tmp_path: Path, incidents: Incidents | None = None, seed: int = 5) -> None:
        self.incidents = incidents or Incidents()
        self.traffic = LiveTraffic(
            REGISTRY,
            WorkingCalendar(None),
            seed=seed,
            events_per_working_hour=60,
            start=START,
            incidents=self.incidents,
        )
        self.engine: Engine = records.make_engine(f"sqlite:///{tmp_path}/state.db", now=START)
        for scope in streams.SCOPES:
            self.engine.open_scope((scope, 0))
        self.now = START - STEP
        self.batches: list[tuple[datetime, list[Outgoing], Tally]] = []
        self._offsets: Counter[str] = Counter()
        self._dlq = FakeDlq()

    def run(self, duration: timedelta) -> None:
        end = self.now + duration
        while self.now + STEP <= end:
            self.now += STEP
            out = self.traffic.due(self.now)
            batch = []
            for message in out:
                topic = TOPIC[message.stream]
                offset = self._offsets[topic]
                self._offsets[topic] += 1
                batch.append(Message(topic, 0, offset, message.key, message.value, message.timestamp_ms))
            stamp = self.now.timestamp()
            self.engine.clock = lambda stamp=stamp: stamp  # type: ignore[misc]
            result = self.engine.process(batch, self._dlq)
            self.engine.checkpoint(self._dlq)
            self.batches.append((self.now, out, result.tally))

    def window(self, minutes: float, until: datetime | None = None) -> Iterator[tuple[list[Outgoing], Tally]]:
        """The batches of the last `minutes` (up to `until`, default now)."""
        end = until or self.now
        for at, out, tally in self.batches:
            if end - timedelta(minutes=minutes) < at <= end:
                yield out, tally

    def count(self, counter: str, department: str, minutes: float, until: datetime | None = None) -> int:
        """A flow counter's increase for one department over the window (what `increase()` sees)."""
        total = 0
        for _, tally in self.window(minutes, until):
            for labels, count in getattr(tally, counter).items():
                if department in labels:
                    total += count
        return total

    def messages(self, minutes: float, until: datetime | None = None) -> list[Outgoing]:
        return [message for out, _ in self.window(minutes, until) for message in out]

    def close(self) -> None:
        self.engine.store.close()


def _records(messages: list[Outgoing], stream: str) -> list[dict[str, Any]]:
    return [json.loads(m.value) for m in messages if m.stream == stream]


# --- the registry ---------------------------------------------------------------------------


def test_unknown_incidents_are_refused_in_words_that_name_the_known_ones() -> None:
    incidents = Incidents()
    for call in (incidents.start, incidents.stop, incidents.describe, incidents.is_active):
        with pytest.raises(ValueError, match=r"unknown incident 'nope'; known incidents: ") as caught:
            call("nope")
        assert all(name in str(caught.value) for name in NAMES)
    assert incidents.active() == frozenset()


def test_start_and_stop_change_the_active_set_once_and_log_every_change() -> None:
    incidents = Incidents()
    assert incidents.NAMES == NAMES == ("stalled-department", "exposed-id", "silent-topic", "bad-release")
    assert incidents.start("exposed-id") is True
    assert incidents.start("exposed-id") is False
    assert incidents.active() == {"exposed-id"}
    assert incidents.stop("silent-topic") is False
    assert incidents.stop("exposed-id") is True
    cursor, changes = incidents.changes_since(0)
    assert (cursor, changes) == (2, [("exposed-id", True), ("exposed-id", False)])
    assert incidents.changes_since(cursor) == (2, [])


def test_the_registry_is_safe_to_share_between_threads() -> None:
    """Threads toggling incidents at once: every change is logged, and the log replays to the state."""
    incidents = Incidents()

    def toggle(name: str) -> None:
        for _ in range(500):
            incidents.start(name)
            incidents.stop(name)
            incidents.start(name)

    threads = [threading.Thread(target=toggle, args=(name,)) for name in NAMES for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _, log = incidents.changes_since(0)
    state: set[str] = set()
    for name, started in log:
        assert (name in state) != started  # each change really changed something
        (state.add if started else state.discard)(name)
    assert state == incidents.active() == set(NAMES)


def _rules() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((ROOT / "alerts" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                yield f"alerts/rules/{path.name}", rule


def _alerts() -> dict[str, tuple[str, dict[str, Any]]]:
    return {rule["alert"]: (file, rule) for file, rule in _rules() if "alert" in rule}


def _mentions(expr: str, label: str, seen: frozenset[str] = frozenset()) -> bool:
    """Whether `label` is named in `expr` or in a recording rule it reads (whose series keep it)."""
    if re.search(rf"(?<![\w:]){label}(?![\w:])", expr):
        return True
    recorded = {rule["record"]: rule["expr"] for _, rule in _rules() if "record" in rule}
    return any(
        _mentions(recorded[name], label, seen | {name})
        for name in re.findall(r"[a-zA-Z_]\w*:[\w:]+", expr)
        if name in recorded and name not in seen
    )


@pytest.mark.parametrize("name", NAMES)
def test_each_incident_names_a_real_alert_its_labels_and_its_times(name: str) -> None:
    """The alert exists in the rule file named, its severity is the one promised, its other labels
    are what its expression keeps, and the module documents the incident."""
    incident = Incidents().describe(name)
    rule_file, rule = _alerts()[incident.alert]
    assert rule_file == incident.rule_file
    assert incident.labels["severity"] == rule["labels"]["severity"]
    for label in set(incident.labels) - {"severity"}:
        assert _mentions(rule["expr"], label), (label, rule["expr"])
    assert re.search(r"\d+ (seconds|minutes|hours)", incident.fires_after)
    assert "stop" in incident.resolves_after
    assert f"``{name}`` -> ``{incident.alert}``" in (incidents_module.__doc__ or "")


# --- what each incident does to the traffic ------------------------------------------------------


def test_stalled_department_handles_only_late_events_while_its_created_ones_continue(
    tmp_path: Path,
) -> None:
    """Its on-time handling stops, late handlings pass the fast-burn thresholds within minutes, and
    after the stop its handling is what it would have been; other departments are not touched."""
    incidents = Incidents()
    department = incidents.stalled_department
    demo, baseline = Demo(tmp_path / "a", incidents), Demo(tmp_path / "b")
    for run in (demo, baseline):
        run.run(timedelta(minutes=5))
    incidents.start("stalled-department")
    for run in (demo, baseline):
        run.run(timedelta(minutes=12))
    # slo.yml SupervisionOnTimeHandlingFastBurn: > 10 * 5 % late over 1 h and 5 m, >= 20 handled in 1 h.
    handled_1h = demo.count("events_handled", department, 60)
    assert handled_1h >= 20
    assert demo.count("events_handled_late", department, 60) > 0.5 * handled_1h
    assert demo.count("events_handled_late", department, 5) == demo.count("events_handled", department, 5) > 0
    # During the stall nothing is handled on time, while new events keep coming.
    assert demo.count("events_handled", department, 12) == demo.count("events_handled_late", department, 12)
    assert baseline.count("events_handled", department, 12) > baseline.count(
        "events_handled_late", department, 12
    )
    # Its new events are not held (at this rate it may have none in 12 minutes: see the test below).
    assert _created(demo.messages(12), department) == _created(baseline.messages(12), department)
    # Everyone else's traffic is what it would have been.
    assert _without(demo, department) == _without(baseline, department)
    incidents.stop("stalled-department")
    for run in (demo, baseline):
        run.run(timedelta(minutes=1))
    # The queued overdue events are handled at once (late, the last of them), and so are the held
    # ones (on time, when the stall held any: at this rate it may have none).
    assert demo.count("events_handled", department, 1) >= demo.count("events_handled_late", department, 1) > 0
    assert sum(_overdue(demo, department)) == sum(_overdue(baseline, department))
    for run in (demo, baseline):
        run.run(timedelta(minutes=20))
    assert demo.count("events_handled_late", department, 20) == baseline.count(
        "events_handled_late", department, 20
    )
    assert demo.count("events_handled", department, 20) == baseline.count("events_handled", department, 20)
    demo.close()
    baseline.close()


def _created(messages: list[Outgoing], department: str) -> list[dict[str, Any]]:
    """The `created` records of the department's own (live, not the incident's) events."""
    return [
        r
        for r in _records(messages, "events")
        if r["action"] == "created" and r["department"] == department and r["event_id"].startswith("LEV")
    ]


def test_stalled_department_keeps_receiving_its_new_events() -> None:
    """An hour of stall at a busier rate: the department's `created` records keep coming, exactly as
    without the incident (only its `handled` ones are held)."""
    stalled, untouched = Incidents(), Incidents()
    department = stalled.stalled_department
    runs = []
    for incidents in (stalled, untouched):
        traffic = LiveTraffic(
            REGISTRY,
            WorkingCalendar(None),
            seed=5,
            events_per_working_hour=240,
            start=START,
            incidents=incidents,
        )
        traffic.due(START)
        if incidents is stalled:
            incidents.start("stalled-department")
        runs.append([m for minute in range(1, 61) for m in traffic.due(START + timedelta(minutes=minute))])
    ours, theirs = (_created(run, department) for run in runs)
    assert len(ours) >= 3
    assert ours == theirs


def _without(run: Demo, department: str) -> list[Outgoing]:
    """Every message but the stalled department's `handled` records and the incident's own events."""
    answerable: set[str] = set()
    for message in run.messages(10**6):
        if message.stream == "events":
            record = json.loads(message.value)
            if record.get("department") is not None and record["action"] in ("created", "reassigned"):
                if record["department"] == department:
                    answerable.add(record["event_id"])
                else:
                    answerable.discard(record["event_id"])
    kept = []
    for message in run.messages(12):
        if message.stream == "events":
            record = json.loads(message.value)
            if record["event_id"].startswith("LEX"):
                continue
            if record["action"] == "handled" and record["event_id"] in answerable:
                continue
        kept.append(message)
    return kept


def _overdue(run: Demo, department: str) -> list[int]:
    snapshot = run.engine.snapshot(now=run.now.timestamp())
    return [count for (_, dep, _), count in snapshot.overdue_events.items() if dep == department]


def test_exposed_id_publishes_a_resident_id_and_the_stop_withdraws_it(tmp_path: Path) -> None:
    """One published result of the department carries a valid resident ID (a personal_info_exposed
    violation at once); after the stop a request withdraws it and the violation is gone."""
    incidents = Incidents()
    department = incidents.exposed_department
    demo = Demo(tmp_path, incidents)
    demo.run(timedelta(minutes=2))
    incidents.start("exposed-id")
    demo.run(timedelta(seconds=30))
    exposed = [r for r in _records(demo.messages(0.5), "disclosures") if r["disclosure_id"].startswith("LCX")]
    assert len(exposed) == 1
    assert exposed[0]["department"] == department
    numbers = re.findall(r"[0-9]{17}[0-9X]", exposed[0]["content"])
    assert numbers
    assert all(is_valid_resident_id(number) for number in numbers)
    assert find_personal_info(exposed[0]["content"])
    violations = demo.engine.snapshot(now=demo.now.timestamp()).violations
    assert violations.get((department, "personal_info_exposed")) == 1
    demo.run(timedelta(minutes=5))
    assert demo.engine.snapshot(now=demo.now.timestamp()).violations.get(
        (department, "personal_info_exposed")
    )
    incidents.stop("exposed-id")
    demo.run(timedelta(minutes=1))
    after = demo.messages(1)
    steps = [r["action"] for r in _records(after, "disclosure_requests") if r["request_id"].startswith("LSX")]
    assert steps == ["submitted", "approved", "executed"]
    withdrawn = [
        r for r in _records(after, "disclosures") if r["disclosure_id"] == exposed[0]["disclosure_id"]
    ]
    assert [(r["version"], r["status"]) for r in withdrawn] == [(2, "withdrawn")]
    violations = demo.engine.snapshot(now=demo.now.timestamp()).violations
    assert (department, "personal_info_exposed") not in violations
    demo.close()


def test_silent_topic_sends_nothing_on_its_stream_then_delivers_it_all_on_stop(tmp_path: Path) -> None:
    """75 minutes without a single inspection (SupervisionNoRecordsFlowing needs an hour of it, then
    15 m) while the other streams flow; on stop the kept records arrive at once, then it flows again."""
    incidents = Incidents()
    demo = Demo(tmp_path, incidents)
    demo.run(timedelta(minutes=2))
    incidents.start("silent-topic")
    started_ms = (demo.now + STEP).timestamp() * 1000  # the first `due` that follows the start
    demo.run(timedelta(minutes=80))
    silent = demo.messages(80)
    # The first batch may still carry what was due before the start (the producer sent it already).
    assert not [m for m in silent if m.stream == "inspections" and m.timestamp_ms >= started_ms]
    assert len([m for m in silent if m.stream == "events"]) > 50
    incidents.stop("silent-topic")
    demo.run(timedelta(seconds=15))
    burst = [m for m in demo.messages(0.25) if m.stream == "inspections"]
    assert len(burst) > 60
    assert len({m.timestamp_ms for m in burst}) == 1  # delivered now, each with its own event time
    assert len({json.loads(m.value)["at"] for m in burst}) > 60
    demo.run(timedelta(minutes=10))
    assert [m for m in demo.messages(10) if m.stream == "inspections"]
    demo.close()


def test_bad_release_floods_erroneous_records_past_the_fast_burn_thresholds(tmp_path: Path) -> None:
    """Within 6 minutes: more than 14.4 * 0.1 % erroneous over 1 h and 5 m and at least 1000 records of
    the department in the hour (slo.yml); after the stop, every rejected upload is corrected."""
    incidents = Incidents()
    department = incidents.flood_department
    demo = Demo(tmp_path, incidents)
    demo.run(timedelta(minutes=10))
    before = demo.count("records_erroneous", department, 10)
    incidents.start("bad-release")
    demo.run(timedelta(minutes=6))
    records_1h = demo.count("records", department, 60)
    assert records_1h >= 1000
    assert demo.count("records_erroneous", department, 60) > 14.4 * 0.001 * records_1h
    assert demo.count("records_erroneous", department, 5) > 14.4 * 0.001 * demo.count(
        "records", department, 5
    )
    codes = {m.error for m in demo.messages(6) if m.error and department.encode() in m.value}
    assert codes <= {"invalid_uscc", "invalid_resident_id"}
    assert before < 5
    incidents.stop("bad-release")
    demo.run(timedelta(minutes=1))
    demo.run(timedelta(minutes=10))
    assert demo.count("records_erroneous", department, 10) == 0
    # Every record the release got wrong was sent again, corrected, and the store holds it valid.
    snapshot = demo.engine.snapshot(now=demo.now.timestamp())
    numerator, denominator = snapshot.indicators["day"][("data_accuracy_rate", department, "330206")]
    assert numerator == denominator
    demo.close()


def test_incidents_leave_the_rest_of_the_traffic_alone(tmp_path: Path) -> None:
    """Incidents draw from their own random stream: with the exposure on and off again, every other
    message is the same as without it."""
    incidents = Incidents()
    demo, baseline = Demo(tmp_path / "a", incidents), Demo(tmp_path / "b")
    demo.run(timedelta(minutes=3))
    baseline.run(timedelta(minutes=3))
    incidents.start("exposed-id")
    demo.run(timedelta(minutes=3))
    incidents.stop("exposed-id")
    demo.run(timedelta(minutes=10))
    baseline.run(timedelta(minutes=13))
    ours = [m for m in demo.messages(60) if b"LCX" not in m.value and b"LSX" not in m.value]
    assert ours == baseline.messages(60)
    demo.close()
    baseline.close()
