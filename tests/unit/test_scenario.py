"""Unit tests of `seeds.scenario`: determinism, validity, the stated distributions, and the truth."""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest

from schemas.decode import Accepted, Rejected, decode
from schemas.identifiers import is_masked_id
from schemas.registry import load_registry
from seeds.scenario import CLEANUP_UNITS, INDICATOR_IDS, STREAMS, Scenario, generate, write_jsonl

REGISTRY = load_registry()


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(2023, scale=0.05)


def _records(scenario: Scenario, stream: str) -> list[tuple[int, dict[str, Any]]]:
    """(index, parsed JSON) of the stream's messages that are not deliberately erroneous."""
    skip = scenario.erroneous[stream]
    return [(i, json.loads(m.value)) for i, m in enumerate(scenario.messages[stream]) if i not in skip]


def _latest(
    records: list[tuple[int, dict[str, Any]]], *key_fields: str
) -> dict[tuple[Any, ...], dict[str, Any]]:
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for _, record in records:
        key = tuple(record[f] for f in key_fields)
        if key not in latest or record["version"] > latest[key]["version"]:
            latest[key] = record
    return latest


def _percent(pair: tuple[int, int]) -> str:
    numerator, denominator = pair
    return str((Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_same_seed_gives_identical_bytes_and_another_seed_differs() -> None:
    """Generation is a pure function of (seed, year, scale): same arguments, same messages and truth."""
    first, again, other = generate(11, scale=0.02), generate(11, scale=0.02), generate(12, scale=0.02)
    assert first.messages == again.messages
    assert first.truth == again.truth
    assert first.messages["events"] != other.messages["events"]


def test_every_message_decodes_except_the_deliberate_errors(scenario: Scenario) -> None:
    """Each message is accepted with a matching key, unless listed as erroneous with the code it gets."""
    for stream in STREAMS:
        expected_errors = scenario.erroneous[stream]
        for index, message in enumerate(scenario.messages[stream]):
            result = decode(message.value, key=message.key, ingested_at=message.ingest_at, registry=REGISTRY)
            if index in expected_errors:
                assert isinstance(result, Rejected), (stream, index)
                assert expected_errors[index] in {e.code.value for e in result.errors}, (stream, index)
            else:
                assert isinstance(result, Accepted), (stream, index, result)
                assert result.key_matches, (stream, index)
    assert sum(len(e) for e in scenario.erroneous.values()) > 0


def test_messages_are_in_ingestion_order_and_before_as_of(scenario: Scenario) -> None:
    """Each stream is in production (ingestion) order and nothing is ingested at or after `as_of`."""
    for stream in STREAMS:
        moments = [m.ingest_at for m in scenario.messages[stream]]
        assert moments == sorted(moments)
        assert moments[-1] < scenario.as_of
    assert scenario.truth["as_of"] == scenario.as_of.isoformat()


def test_every_error_is_corrected_by_a_higher_version_except_the_malformed(scenario: Scenario) -> None:
    """An erroneous record is followed by a valid one of the same key and higher version; 3 are malformed."""
    key_fields = {
        "events": ("event_id", "action"),
        "inspections": ("record_id",),
        "catalog": ("item_code",),
        "disclosures": ("disclosure_id",),
        "disclosure_requests": ("request_id", "action"),
    }
    malformed = 0
    for stream in STREAMS:
        valid = _records(scenario, stream)
        for index, code in scenario.erroneous[stream].items():
            if code == "malformed":
                malformed += 1
                assert scenario.messages[stream][index].key is None
                continue
            bad = json.loads(scenario.messages[stream][index].value)
            key = tuple(bad[f] for f in key_fields[stream])
            assert any(
                i > index and tuple(r[f] for f in key_fields[stream]) == key and r["version"] > bad["version"]
                for i, r in valid
            ), (stream, index)
    assert malformed == 3


def test_scale_one_truth_reproduces_the_seed_report_quickly() -> None:
    """At scale 1.0 the 2023 truth rounds to the report's five figures, in under 15 s and ≤ 150k messages."""
    started = time.monotonic()
    full = generate()
    elapsed = time.monotonic() - started
    figures = {k: _percent(v) for k, v in full.truth["indicators"].items() if k in INDICATOR_IDS}
    assert figures["event_handling_rate"] == "99.99"
    assert figures["data_accuracy_rate"] == "100.00"
    assert figures["item_onboarding_rate"] == "96.70"
    assert figures["double_random_coverage_rate"] == "99.75"
    assert figures["mobile_enforcement_rate"] == "99.98"
    assert full.truth["indicators"]["item_onboarding_rate"] == (967, 1000)
    assert sum(len(m) for m in full.messages.values()) <= 150_000
    assert elapsed < 15, f"generation took {elapsed:.1f} s"


def test_truth_groups_add_up_to_the_overall_figures(scenario: Scenario) -> None:
    """Per department and per division, numerators and denominators sum to the overall ones."""
    overall = scenario.truth["indicators"]
    for grouping in ("by_department", "by_division"):
        for indicator in INDICATOR_IDS:
            groups = scenario.truth[grouping].values()
            assert sum(g[indicator][0] for g in groups) == overall[indicator][0]
            assert sum(g[indicator][1] for g in groups) == overall[indicator][1]
    assert set(scenario.truth["by_department"]) <= {*REGISTRY.departments, "_unregistered"}
    assert set(scenario.truth["by_division"]) <= {*REGISTRY.divisions, "_unknown"}


def test_truth_matches_a_recount_from_the_messages(scenario: Scenario) -> None:
    """Handling, mobile and onboarding truths equal a straightforward recount of the valid messages."""
    events = _latest(_records(scenario, "events"), "event_id", "action")
    actions: dict[str, set[str]] = defaultdict(set)
    for event_id, action in events:
        actions[event_id].add(action)
    cohort = {e for (e, a), r in events.items() if a == "created" and r["at"].startswith("2023-")}
    live = [e for e in cohort if "cancelled" not in actions[e]]
    handled = [e for e in live if "handled" in actions[e]]
    assert scenario.truth["indicators"]["event_handling_rate"] == (len(handled), len(live))

    inspections = _latest(_records(scenario, "inspections"), "record_id").values()
    this_year = [r for r in inspections if r["at"].startswith("2023-")]
    mobile = [r for r in this_year if r["channel"] == "mobile"]
    assert scenario.truth["indicators"]["mobile_enforcement_rate"] == (len(mobile), len(this_year))

    items = [r for r in _latest(_records(scenario, "catalog"), "item_code").values() if r["active"]]
    onboarded = [r for r in items if r["onboarded"]]
    assert scenario.truth["indicators"]["item_onboarding_rate"] == (len(onboarded), len(items))

    tasked = {r["item_code"] for r in this_year if r["double_random_task"]}
    double_random = [r for r in items if r["double_random"]]
    covered = [r for r in double_random if r["item_code"] in tasked]
    assert scenario.truth["indicators"]["double_random_coverage_rate"] == (len(covered), len(double_random))


def _day_kind(day: date) -> str:
    is_holiday, name = chinese_calendar.get_holiday_detail(day)
    if not is_holiday:
        return "workday"
    return "holiday" if name is not None else "weekend"


def test_events_follow_the_weekly_rhythm_with_holiday_dips(scenario: Scenario) -> None:
    """A statutory holiday has under a fifth, a weekend day under a third, of a working day's events."""
    per_day = Counter(
        datetime.fromisoformat(r["at"]).date()
        for _, r in _records(scenario, "events")
        if r["action"] == "created" and r["version"] == 1 and r["at"].startswith("2023-")
    )
    totals: Counter[str] = Counter()
    days: Counter[str] = Counter()
    day = date(2023, 1, 1)
    while day.year == 2023:
        kind = _day_kind(day)
        days[kind] += 1
        totals[kind] += per_day[day]
        day += timedelta(days=1)
    mean = {kind: totals[kind] / days[kind] for kind in days}
    assert mean["holiday"] < 0.2 * mean["workday"]
    assert 0.15 * mean["workday"] < mean["weekend"] < 0.33 * mean["workday"]


def test_duplicates_late_and_out_of_order_shares_are_as_stated(scenario: Scenario) -> None:
    """About 1% duplicates, ~3% late messages, and ~3-4% of multi-action events out of order."""
    seen: set[tuple[bytes | None, bytes]] = set()
    duplicates = total = 0
    for stream in STREAMS:
        for message in scenario.messages[stream]:
            total += 1
            duplicates += (message.key, message.value) in seen
            seen.add((message.key, message.value))
    assert 0.005 < duplicates / total < 0.015

    records = _records(scenario, "events")
    late = sum(
        1
        for i, r in records
        if scenario.messages["events"][i].ingest_at - datetime.fromisoformat(r["at"]) > timedelta(hours=1)
    )
    assert 0.02 < late / len(records) < 0.06

    arrivals: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for i, r in records:
        arrivals[r["event_id"]].append(
            (datetime.fromisoformat(r["at"]), scenario.messages["events"][i].ingest_at)
        )
    multi = [a for a in arrivals.values() if len({at for at, _ in a}) > 1]
    out_of_order = sum(
        1 for a in multi if [at for at, _ in sorted(a, key=lambda p: p[1])] != sorted(at for at, _ in a)
    )
    assert 0.015 < out_of_order / len(multi) < 0.06


def test_inspections_are_mostly_mobile_and_some_run_under_double_random_tasks(scenario: Scenario) -> None:
    """Nearly every inspection is 掌上执法 (mobile), and a sizeable share belongs to a 双随机 task."""
    inspections = list(_latest(_records(scenario, "inspections"), "record_id").values())
    channels = Counter(r["channel"] for r in inspections)
    assert set(channels) <= {"mobile", "pc", "paper"}
    assert 0 < channels["pc"] + channels["paper"] < 0.01 * len(inspections)
    tasked = sum(1 for r in inspections if r["double_random_task"])
    assert 0.3 < tasked / len(inspections) < 0.6


def test_pre_2020_clean_up_covers_the_twelve_units_in_more_than_twenty_batches(scenario: Scenario) -> None:
    """The seed report's 12 units withdraw or mask pre-2020 results in 20+ executed batches by October."""
    requests = [r for _, r in _records(scenario, "disclosure_requests") if r["reason"] == "legacy_improper"]
    executed = [r for r in requests if r["action"] == "executed"]
    assert {r["department"] for r in executed} == set(CLEANUP_UNITS)
    assert len({r["batch_id"] for r in executed}) > 20
    assert all(r["at"] < "2023-11-01" for r in requests)
    disclosures = _latest(_records(scenario, "disclosures"), "disclosure_id")
    for request in executed:
        final = disclosures[(request["disclosure_id"],)]
        assert final["decided_at"] < "2020-01-01"
        if request["kind"] == "withdraw":
            assert final["status"] == "withdrawn"
        else:
            assert final["party"]["type"] != "natural_person" or is_masked_id(final["party"]["id"])
    assert scenario.truth["cleanup"]["batches"] > 20


def test_natural_persons_in_this_years_disclosures_are_masked(scenario: Scenario) -> None:
    """Published natural-person ids of the year are masked, but for the few planted violations."""
    parties = [
        r["party"]
        for r in _latest(_records(scenario, "disclosures"), "disclosure_id").values()
        if r["decided_at"].startswith("2023-") and r["party"]["type"] == "natural_person"
    ]
    unmasked = [p for p in parties if not is_masked_id(p["id"])]
    assert parties
    assert len(unmasked) <= max(2, 0.01 * len(parties))


def test_compliance_truth_is_given_at_as_of_and_recomputable_later(scenario: Scenario) -> None:
    """compliance_at(as_of) equals the truth; years later, expired results left published fail it."""
    at_end = scenario.compliance_at(scenario.as_of)
    assert (
        at_end["indicators"]["disclosure_compliance_rate"]
        == scenario.truth["indicators"]["disclosure_compliance_rate"]
    )
    later = scenario.compliance_at(scenario.as_of + timedelta(days=3 * 366))
    hit_end, total_end = at_end["indicators"]["disclosure_compliance_rate"]
    hit_later, total_later = later["indicators"]["disclosure_compliance_rate"]
    assert total_later == total_end
    assert hit_later < hit_end


def test_write_jsonl_writes_each_value_as_one_line(scenario: Scenario, tmp_path: Path) -> None:
    """One file per stream, one raw value per line, malformed values byte for byte."""
    paths = write_jsonl(scenario, tmp_path / "out")
    assert set(paths) == set(STREAMS)
    for stream, path in paths.items():
        lines = path.read_bytes().split(b"\n")
        assert lines[-1] == b""
        assert lines[:-1] == [m.value for m in scenario.messages[stream]]
