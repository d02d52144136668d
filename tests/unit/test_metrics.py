"""Tests of daemon.exposition: the exposition (golden file, promtool), bounded labels (contract §9.4)."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from daemon import __version__
from daemon.core.indicators import INDICATOR_IDS, VIOLATIONS
from daemon.core.prepare import Message, Pipeline
from daemon.core.snapshot import Snapshot
from daemon.exposition.collectors import StateCollector
from daemon.exposition.counters import (
    CHANNELS,
    EVENT_KINDS,
    PERIODS,
    REJECTIONS_BY_SCHEMA,
    FlowCounters,
)
from daemon.runtime.engine import Engine
from daemon.streams import SCHEMAS, UNKNOWN_SCHEMA
from schemas.errors import ErrorCode
from schemas.registry import load_registry
from tests import records
from tests.records import INGESTED, FakeDlq
from tests.services import unavailable
from tests.unit.test_schemas_decode import ERROR_CASES, INGESTED_AT

GOLDEN = Path(__file__).parent / "data" / "exposition.txt"
REGISTRY = load_registry(None)
TOPICS = list(records.TOPICS.values())
TODAY = INGESTED - timedelta(hours=1)


def _exposition(engine: Engine, messages: list[records.Raw]) -> tuple[str, CollectorRegistry]:
    registry = CollectorRegistry(auto_describe=False)
    counters = FlowCounters(registry, REGISTRY, TOPICS)
    registry.register(StateCollector(engine.snapshot, engine.settings.targets.model_dump()))
    for scope in ("events", "inspections", "disclosures"):
        engine.open_scope((scope, 0))
    dlq = FakeDlq()
    counters.apply(engine.process(records.assign_offsets(messages), dlq).tally)
    written = engine.checkpoint(dlq)
    counters.checkpoint_written(written.seconds, engine.clock())
    return generate_latest(registry).decode(), registry


def _sample(tmp_path: Path) -> tuple[str, CollectorRegistry]:
    messages = [
        records.raw(records.event("E1", "created", TODAY, kind="clue")),
        records.raw(records.event("E1", "handled", TODAY + timedelta(minutes=5))),
        records.raw(records.event("E2", "created", TODAY - timedelta(days=30), kind="complaint")),
        records.raw(records.item("I1", TODAY)),
        records.raw(records.inspection("R1", "I1", TODAY, double_random_task="T1", channel="pc")),
        records.raw(records.disclosure("D1", TODAY.date() - timedelta(days=40), procedure="simple")),
        records.raw(records.disclosure_request("Q1", "submitted", TODAY)),
        records.raw(records.spoil(records.event("E3", "created", TODAY)), valid=False),
        records.Raw("events", b"", b"garbage", None, False),
    ]
    return _exposition(records.make_engine(f"sqlite:///{tmp_path}/state.db"), messages)


def test_exposition_matches_the_golden_file(tmp_path: Path) -> None:
    """The exposition for a fixed input and clock is byte for byte the reviewed golden file."""
    text, _ = _sample(tmp_path)
    text = text.replace(f'version="{__version__}"', 'version="VERSION"')
    # Checkpoint timings are the one thing a fixed input and clock cannot pin down.
    text = "".join(
        line
        for line in text.splitlines(keepends=True)
        if not line.startswith("supervision_checkpoint_duration")
    )
    if os.environ.get("SVMON_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def _promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(promtool).exists():
        unavailable("promtool not installed (Debian package prometheus)")
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )


def test_exposition_passes_promtool(tmp_path: Path) -> None:
    """`promtool check metrics` finds nothing to complain about in the exposition."""
    text, _ = _sample(tmp_path)
    result = _promtool_check(text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert result.stderr.strip() == ""


def test_every_family_passes_promtool_when_it_has_samples() -> None:
    """With a calendar fallback and executed withdrawals to show, promtool's lint still finds nothing."""
    snapshot = Snapshot(
        calendar_fallbacks={2027: 3},
        withdrawals={("year", "330200.scjgj"): (4, 9, 2)},
        requests_open={("330200.scjgj", "withdraw", "expired"): 1},
        violations={("330200.scjgj", "published_late"): 1},
        open_events={("complaint", "330200.scjgj", "330200"): 2},
        overdue_events={("complaint", "330200.scjgj", "330200"): 1},
        lag={("svmon.events", 0): 5},
        ready=True,
    )
    registry = CollectorRegistry()
    registry.register(StateCollector(lambda: snapshot, dict.fromkeys(INDICATOR_IDS, 0.9)))
    text = generate_latest(registry).decode()
    assert "supervision_calendar_fallback_dates_total" in text
    assert 'supervision_disclosure_withdrawal_workdays{department="330200.scjgj",period="year"} 9.0' in text
    result = _promtool_check(text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_indicator_values_read_from_the_registry(tmp_path: Path) -> None:
    """Numerators and denominators of the current day and year are exposed per indicator and group."""
    _, registry = _sample(tmp_path)
    labels = {"indicator": "event_handling_rate", "department": "330200.scjgj", "division": "330200"}
    assert registry.get_sample_value("supervision_indicator_numerator", {**labels, "period": "day"}) == 1
    assert registry.get_sample_value("supervision_indicator_denominator", {**labels, "period": "year"}) == 2
    open_labels = {"kind": "complaint", "department": "330200.scjgj", "division": "330200"}
    assert registry.get_sample_value("supervision_events_open", open_labels) == 1
    assert registry.get_sample_value("supervision_events_created_total", {**open_labels, "kind": "clue"}) == 1
    assert (
        registry.get_sample_value("supervision_indicator_target", {"indicator": "event_handling_rate"})
        == 0.999
    )
    assert registry.get_sample_value("supervision_events_created_created", open_labels) is None


def _allowed() -> dict[str, set[str] | None]:
    departments = {*REGISTRY.departments, "_unregistered"}
    divisions = {*REGISTRY.divisions, "_unknown"}
    return {
        "department": departments,
        "division": divisions,
        "indicator": set(INDICATOR_IDS),
        "period": {*PERIODS, "now"},
        "kind": {*EVENT_KINDS, "withdraw", "modify"},
        "channel": set(CHANNELS),
        "schema": {*SCHEMAS, UNKNOWN_SCHEMA},
        "error": {code.value for code in ErrorCode},
        "violation": set(VIOLATIONS),
        "reason": {
            "legacy_improper",
            "expired",
            "revoked",
            "credit_repair",
            "correction",
            "duplicate",
            "stale",
        },
        "topic": set(TOPICS),
        "version": {__version__},
        "partition": {"0"},
        "le": None,  # histogram buckets
        "year": None,
    }


def _garbage(rng: random.Random) -> list[records.Raw]:
    out = []
    for message in records.mixed_stream(rng, 60, garbage=10):
        if message.record is None or rng.random() < 0.5:
            out.append(message)
            continue
        record = dict(message.record)
        field = rng.choice(["department", "division", "kind", "channel", "action", "schema", "reason"])
        record[field] = rng.choice(["<script>", "330200.x" * 20, "张三 13812345678", "", "330999"])
        out.append(records.Raw(message.stream, message.key, records.encode(record), record, False))
    return out


def test_label_values_stay_in_the_registry_and_closed_enums_for_garbage(tmp_path: Path) -> None:
    """Whatever the input, every label value is a registered code, a closed enum value or a fallback."""
    text, _ = _exposition(records.make_engine(f"sqlite:///{tmp_path}/state.db"), _garbage(random.Random(7)))
    allowed = _allowed()
    seen = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for name, value in sample.labels.items():
                assert name in allowed, (sample.name, name)
                permitted = allowed[name]
                if permitted is not None:
                    assert value in permitted, (sample.name, name, value)
                    seen += 1
    assert seen > 100
    assert "13812345678" not in text


def test_every_rejection_of_a_registered_department_has_a_precreated_label_set() -> None:
    """A rejected record of a registered department counts under a label set that was already at 0.

    Otherwise ``rate()`` misses the first rejection of each (schema, department, error) after every
    start. Inputs: every error case of the decode tests and every message of a generated year.
    """
    registry = CollectorRegistry(auto_describe=False)
    FlowCounters(registry, REGISTRY, TOPICS)
    precreated = {
        (sample.labels["schema"], sample.labels["department"], sample.labels["error"])
        for family in registry.collect()
        if family.name == "supervision_records_erroneous"
        for sample in family.samples
    }
    pipeline = Pipeline(REGISTRY, 1 << 20)
    stamp = int(INGESTED_AT.timestamp() * 1000)
    later = INGESTED_AT + timedelta(days=1)
    crafted = [
        records.inspection("R1", "I1", INGESTED_AT, division="999999"),
        records.item("I1", later),
    ]
    values = [value for _, value, _ in ERROR_CASES] + [records.encode(record) for record in crafted]
    messages = [Message("svmon.events", 0, 0, None, value, stamp) for value in values]
    messages += records.scenario_messages(5, scale=0.05)
    rejected: set[tuple[str, str, str]] = set()
    for message in messages:
        prepared = pipeline.prepare(message, INGESTED_AT)
        if prepared.rejected is not None and prepared.department in REGISTRY.departments:
            rejected.add((prepared.schema, prepared.department, str(prepared.rejected.errors[0].code)))
    assert rejected <= precreated
    # ...and the inputs reach every pre-created (schema, error): the list holds no guesses.
    listed = {(schema, str(error)) for schema, errors in REJECTIONS_BY_SCHEMA.items() for error in errors}
    assert {(schema, error) for schema, _, error in rejected} == listed
