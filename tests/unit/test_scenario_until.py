"""`generate(until=...)`: the disclosures' lifecycle carried years past the generated year.

Judged from the messages themselves (the latest valid version of each disclosure) and with the
daemon's working-day calendar, never with the generator's own code, except where a test compares
the generator's truth with them.  The last test feeds a scenario through the real engine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from daemon import streams
from daemon.config import KafkaSettings, Topics
from daemon.core.calendar import WorkingCalendar
from daemon.core.prepare import Message
from daemon.reports.lists import ListFilters, Lists
from daemon.reports.query import report_counts
from daemon.runtime.engine import Engine
from schemas.decode import Accepted, Rejected, decode
from schemas.identifiers import is_masked_id
from schemas.registry import load_registry
from seeds.scenario import STREAMS, TZ, Scenario, generate
from seeds.scenario._world import World
from tests import records
from tests.records import FakeDlq

REGISTRY = load_registry()
CALENDAR = WorkingCalendar(None)
YEAR = 2023
UNTIL = datetime(2026, 12, 1, tzinfo=TZ)
#: (seed, scale) of the scenarios carried to UNTIL: the headline year; one whose revocation and
#: credit repair fall after the year's traffic; one whose never-withdrawn revocation does.
CARRIED = [(2023, 1.0), (40, 0.25), (3, 0.1)]
#: sha256 (`_digest`) of `generate(seed, scale=scale)`'s messages, recorded before `until` existed.
BEFORE_UNTIL = {
    (2023, 0.05): "9e8a55bfed1b4a7b82f10fba37d3bc525a294157cb43f032c2bb601c25e738b0",
    (7, 0.02): "adc091f6874b37416c9a12eeed3ee030a3fcf4e8be7d78f379ace69dd1242450",
}
# A mobile number not part of a longer run of digits (docs/contract.md §7).
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
EVENT_TIMES = ("at", "published_at", "withdrawn_at", "revoked_at")
_cache: dict[tuple[int, float, datetime | None], Scenario] = {}


def _generated(seed: int, scale: float, until: datetime | None = UNTIL) -> Scenario:
    """Each scenario once per module run: the scale-1.0 ones take seconds."""
    key = (seed, scale, until)
    if key not in _cache:
        _cache[key] = generate(seed, scale=scale, until=until)
    return _cache[key]


@pytest.fixture(scope="module", params=CARRIED, ids=lambda p: f"{p[0]}@{p[1]}")
def carried(request: pytest.FixtureRequest) -> Scenario:
    seed, scale = request.param
    return _generated(seed, scale)


def _digest(scenario: Scenario) -> str:
    """One hash over every stream's messages (key, value, ingestion time) and `as_of`."""
    h = hashlib.sha256()
    for stream in STREAMS:
        h.update(stream.encode())
        h.update(b"\0")
        for m in scenario.messages[stream]:
            h.update(repr((m.key, m.value, m.ingest_at.isoformat())).encode())
            h.update(b"\n")
    h.update(scenario.as_of.isoformat().encode())
    return h.hexdigest()


def _final(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """disclosure_id -> the latest valid version of each disclosure, as the messages carry it."""
    skip = scenario.erroneous["disclosures"]
    latest: dict[str, dict[str, Any]] = {}
    for index, message in enumerate(scenario.messages["disclosures"]):
        if index in skip:
            continue
        record = json.loads(message.value)
        seen = latest.get(record["disclosure_id"])
        if seen is None or record["version"] > seen["version"]:
            latest[record["disclosure_id"]] = record
    return latest


def _of_the_year(records_: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {i: r for i, r in records_.items() if r["decided_at"].startswith(f"{YEAR}-")}


def _flaws(record: dict[str, Any]) -> set[str]:
    """The flaws a result is published with: personal information or a 简易程序 decision."""
    found = set()
    if PHONE.search(record["content"]):
        found.add("phone")
    party = record["party"]
    if party["type"] == "natural_person" and not is_masked_id(party["id"]):
        found.add("unmasked id")
    if record["procedure"] == "simple":
        found.add("simple procedure")
    return found


def _published_late(record: dict[str, Any]) -> bool:
    """Published after the 7th working day after the decision (docs/contract.md §6)."""
    limit = CALENDAR.deadline_after(date.fromisoformat(record["decided_at"]), 7)
    return datetime.fromisoformat(record["published_at"]) > limit


def _planted(record: dict[str, Any], never_withdrawn: frozenset[str]) -> set[str]:
    """The documented planted violations a result carries (the package docstring, Volumes)."""
    found = _flaws(record)
    if record["revoked_at"] is not None:
        found.add("revoked")
    if record["disclosure_id"] in never_withdrawn:
        found.add("never withdrawn")
    if _published_late(record):
        found.add("published late")
    return found


def _violating_of_the_year(scenario: Scenario, at: datetime) -> dict[str, frozenset[str]]:
    lists = scenario.lists(at)
    return {
        i: codes
        for i, codes in lists.violating_disclosures.items()
        if lists.published_disclosures[i].decided_at.year == YEAR
    }


def _percent(pair: tuple[int, int]) -> str:
    numerator, denominator = pair
    return str((Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def test_at_until_the_years_violations_are_exactly_the_planted_ones(carried: Scenario) -> None:
    """(a) Judged at `until`, every published result of the year with a violation is a planted one.

    And every planted one still published violates: the never-withdrawn few (the documented count,
    each exactly `expired_not_withdrawn`), the flawed, the revoked, the late within publicity.
    """
    final = _of_the_year(_final(carried))
    published = {i for i, r in final.items() if r["status"] == "published"}
    never = carried.never_withdrawn
    planted = {i for i in published if _planted(final[i], never)}
    violating = _violating_of_the_year(carried, UNTIL)
    hit, total = carried.compliance_at(UNTIL)["indicators"]["disclosure_compliance_rate"]
    assert total == len(published)
    assert total - hit == len(violating)
    assert set(violating) == planted
    assert len(never) == max(1, round(3 * carried.scale))
    assert never <= published
    for disclosure_id in never:
        assert violating[disclosure_id] == {"expired_not_withdrawn"}
        assert _planted(final[disclosure_id], never) == {"never withdrawn"}
    assert carried.truth["facts"]["disclosures_never_withdrawn"] == len(never)


def test_planted_violations_still_published_at_the_years_end_are_still_there_at_until(
    carried: Scenario,
) -> None:
    """The flawed and revoked results left published on 1 March are not withdrawn afterwards."""
    plain = _generated(carried.seed, carried.scale, None)
    at_year_end = _of_the_year(_final(plain))
    at_until = _of_the_year(_final(carried))
    kept = {
        i
        for i, r in at_year_end.items()
        if r["status"] == "published" and (_flaws(r) or r["revoked_at"] is not None)
    }
    assert kept
    assert all(at_until[i]["status"] == "published" for i in kept)
    assert kept <= set(_violating_of_the_year(carried, UNTIL))


def test_scale_one_compliance_at_until_is_the_documented_figure() -> None:
    """At scale 1.0 and `until` 2026-12-01: 28 of 40, the 12 violating as the docstring counts them."""
    full = _generated(2023, 1.0)
    assert full.compliance_at(UNTIL)["indicators"]["disclosure_compliance_rate"] == (28, 40)
    final = _final(full)
    kinds = Counter[str]()
    for disclosure_id in _violating_of_the_year(full, UNTIL):
        planted = _planted(final[disclosure_id], full.never_withdrawn)
        kinds["flawed" if _flaws(final[disclosure_id]) else min(planted)] += 1
    assert kinds == {"never withdrawn": 3, "revoked": 2, "flawed": 6, "published late": 1}


def test_every_result_past_its_publicity_is_withdrawn_unless_planted(carried: Scenario) -> None:
    """(b) A result whose publicity ended well before `until` has a withdrawal message, bar the planted.

    "Well before": its second working day after the end is before the day before `until`, so a
    withdrawal 1-2 working days after the end, in office hours, is more than a day before `until`.
    One without any request is withdrawn exactly so: 1-2 working days after, in office hours.
    """
    final = _of_the_year(_final(carried))
    requested = {json.loads(m.value)["disclosure_id"] for m in carried.messages["disclosure_requests"]}
    cut = (UNTIL - timedelta(days=1)).date()
    checked = 0
    for disclosure_id, record in final.items():
        if record["publicity_until"] is None:
            continue
        ended = date.fromisoformat(record["publicity_until"])
        if CALENDAR.nth_working_day_after(ended, 2) >= cut:
            continue
        exempt = _flaws(record) or record["revoked_at"] is not None
        if disclosure_id in carried.never_withdrawn or exempt:
            continue
        checked += 1
        assert record["status"] == "withdrawn", disclosure_id
        withdrawn = datetime.fromisoformat(record["withdrawn_at"])
        if disclosure_id not in requested:
            days = {CALENDAR.nth_working_day_after(ended, n) for n in (1, 2)}
            assert withdrawn.date() in days, disclosure_id
            assert time(8, 30) <= withdrawn.timetz().replace(tzinfo=None) < time(17, 0), disclosure_id
    assert checked > 0.9 * len(final)


def test_no_message_is_ingested_after_until_or_before_its_event_time(carried: Scenario) -> None:
    """(c) Kafka timestamps are at most `until`, and no valid record's is before its latest event time."""
    limit_ms = int(UNTIL.timestamp() * 1000)
    for stream in STREAMS:
        skip = carried.erroneous[stream]
        for index, (_, value, timestamp_ms) in enumerate(carried.kafka_messages(stream)):
            assert timestamp_ms <= limit_ms, (stream, index)
            if index in skip:
                continue
            record = json.loads(value)
            latest = max(datetime.fromisoformat(record[f]) for f in EVENT_TIMES if record.get(f))
            assert timestamp_ms >= int(latest.timestamp() * 1000), (stream, index)


def test_as_of_is_the_first_instant_after_the_last_message(carried: Scenario) -> None:
    """With `until`, `as_of` (and the truth's) is one second after the last ingestion, not after `until`."""
    last = max(m.ingest_at for stream in STREAMS for m in carried.messages[stream])
    assert carried.as_of == last + timedelta(seconds=1)
    assert carried.as_of <= UNTIL
    assert carried.until == UNTIL
    assert carried.truth["as_of"] == carried.as_of.isoformat()
    assert last.year == 2026


def test_the_disclosure_streams_still_decode_except_the_deliberate_errors(carried: Scenario) -> None:
    """The messages after the year are valid records (no withdrawal before publication, no future time)."""
    for stream in ("disclosures", "disclosure_requests"):
        expected = carried.erroneous[stream]
        for index, message in enumerate(carried.messages[stream]):
            result = decode(message.value, key=message.key, ingested_at=message.ingest_at, registry=REGISTRY)
            if index in expected:
                assert isinstance(result, Rejected), (stream, index)
            else:
                assert isinstance(result, Accepted), (stream, index, result)


def test_every_request_ends_before_until(carried: Scenario) -> None:
    """Requests after the year end executed or rejected; at `until` none is open."""
    assert not carried.lists(UNTIL).open_requests


def test_the_years_figures_are_the_same_with_and_without_until(carried: Scenario) -> None:
    """(d) Every figure of the year but compliance is unchanged, overall and per group.

    The year's traffic is the same messages (ingestion of the few deliveries cut at 1 March aside):
    the other streams carry the same values, the disclosure streams those and more.
    """
    plain = _generated(carried.seed, carried.scale, None)
    for grouping in ("indicators", "by_department", "by_division"):
        assert _without_compliance(carried.truth[grouping]) == _without_compliance(plain.truth[grouping])
    for stream in STREAMS:
        values = Counter(m.value for m in carried.messages[stream])
        before = Counter(m.value for m in plain.messages[stream])
        if stream in ("disclosures", "disclosure_requests"):
            assert before <= values, stream
        else:
            assert values == before, stream


def test_scale_one_keeps_the_seed_reports_five_figures_with_until() -> None:
    """(d) At scale 1.0 with `until`, the truth still rounds to the 2023 report's five figures."""
    figures = {k: _percent(v) for k, v in _generated(2023, 1.0).truth["indicators"].items()}
    assert figures["event_handling_rate"] == "99.99"
    assert figures["data_accuracy_rate"] == "100.00"
    assert figures["item_onboarding_rate"] == "96.70"
    assert figures["double_random_coverage_rate"] == "99.75"
    assert figures["mobile_enforcement_rate"] == "99.98"


def _without_compliance(groups: dict[str, Any]) -> dict[str, Any]:
    if "disclosure_compliance_rate" in groups:
        return {k: v for k, v in groups.items() if k != "disclosure_compliance_rate"}
    return {code: _without_compliance(group) for code, group in groups.items()}


def test_the_after_the_year_paths_are_exercised() -> None:
    """The CARRIED seeds do what they are chosen for: a revocation's withdrawal and a credit repair
    left for after the year's traffic (40@0.25), a never-withdrawn revocation left for it (3@0.1).

    Without them (a)-(c) would not cover those paths: they are what `until` adds to the plain year.
    """

    def requests(scenario: Scenario) -> set[tuple[str, str]]:
        found = (json.loads(m.value) for m in scenario.messages["disclosure_requests"])
        return {(r["request_id"], r["reason"]) for r in found}

    added = requests(_generated(40, 0.25)) - requests(_generated(40, 0.25, None))
    assert {reason for _, reason in added} >= {"revoked", "credit_repair"}

    def revoked_published(seed: int, scale: float, until: datetime | None) -> set[str]:
        final = _of_the_year(_final(_generated(seed, scale, until)))
        return {i for i, r in final.items() if r["status"] == "published" and r["revoked_at"]}

    assert revoked_published(3, 0.1, UNTIL) - revoked_published(3, 0.1, None)


def test_same_seed_and_until_give_the_same_bytes() -> None:
    """(e) Determinism: the same seed, scale and `until` give the same messages; another `until` differs."""
    first, again = generate(3, scale=0.1, until=UNTIL), _generated(3, 0.1)
    assert _digest(first) == _digest(again)
    assert first.truth == again.truth
    assert first.never_withdrawn == again.never_withdrawn
    earlier = generate(3, scale=0.1, until=datetime(2025, 6, 1, tzinfo=TZ))
    assert earlier.messages["disclosures"] != first.messages["disclosures"]


@pytest.mark.parametrize(("seed", "scale"), list(BEFORE_UNTIL))
def test_without_until_the_bytes_are_those_from_before_until_existed(seed: int, scale: float) -> None:
    """(f) `until=None` (the default) writes exactly what the generator wrote before `until` existed."""
    scenario = generate(seed, scale=scale)
    assert _digest(scenario) == BEFORE_UNTIL[(seed, scale)]
    assert scenario.as_of == datetime(YEAR + 1, 3, 1, tzinfo=TZ)
    assert scenario.until is None
    assert scenario.never_withdrawn == frozenset()
    assert "disclosures_never_withdrawn" not in scenario.truth["facts"]


def test_until_must_be_aware_and_not_before_the_years_traffic_ends() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(7, scale=0.01, until=datetime(2026, 12, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="before the year's traffic ends"):
        generate(7, scale=0.01, until=datetime(2024, 2, 1, tzinfo=TZ))


def test_the_generators_calendar_agrees_with_the_daemons_in_every_year_it_covers() -> None:
    """Past chinese-calendar's range both fall back to Monday-Friday; the calendar reaches past `until`."""
    until = datetime(2030, 6, 1, tzinfo=TZ)
    calendar = World.of(7, YEAR, 0.01, REGISTRY, until=until).calendar
    day = date(2014, 1, 1)
    while day <= calendar.last:
        assert calendar.is_workday(day) == CALENDAR.is_working_day(day), day
        day += timedelta(days=1)
    assert calendar.last > until.date() + timedelta(days=300)
    with pytest.raises(ValueError, match="outside the calendar"):
        calendar.is_workday(calendar.last + timedelta(days=1))
    with pytest.raises(ValueError, match="outside the calendar"):
        calendar.workday_after(date(2013, 12, 31), 1)
    with pytest.raises(ValueError, match="past the calendar's end"):
        calendar.workday_after(calendar.last - timedelta(days=1), 5)


def test_a_scenario_carried_to_2030_has_only_planted_violations_there() -> None:
    """Past chinese-calendar's data (2027 on) the lifecycle goes on, on Monday-Friday working days."""
    until = datetime(2030, 6, 1, 12, tzinfo=TZ)
    scenario = generate(2023, scale=0.05, until=until)
    final = _of_the_year(_final(scenario))
    violating = _violating_of_the_year(scenario, until)
    published = {i for i, r in final.items() if r["status"] == "published"}
    assert set(violating) == {i for i in published if _planted(final[i], scenario.never_withdrawn)}
    assert scenario.as_of <= until


# --- the daemon agrees -------------------------------------------------------------------------

DAEMON_SEED, DAEMON_SCALE = 40, 0.25


def _scenario_messages(scenario: Scenario) -> list[Message]:
    """`records.scenario_messages` for a scenario generated with `until`: partition 0 of each stream."""
    return [
        Message(stream, 0, offset, key, value, timestamp_ms)
        for stream in STREAMS
        for offset, (key, value, timestamp_ms) in enumerate(scenario.kafka_messages(stream))
    ]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The carried scenario applied in-process and checkpointed, each stream on a topic named after it."""
    path = tmp_path_factory.mktemp("until") / "state.db"
    topics = Topics(**{stream.name: stream.name for stream in streams.STREAMS})
    engine = records.make_engine(f"sqlite:///{path}", now=UNTIL, kafka=KafkaSettings(topics=topics))
    for scope in streams.SCOPES:
        engine.open_scope((scope, 0))
    dlq = FakeDlq()
    messages = _scenario_messages(_generated(DAEMON_SEED, DAEMON_SCALE))
    for start in range(0, len(messages), 5000):
        engine.process(messages[start : start + 5000], dlq)
    engine.checkpoint(dlq)
    yield engine
    engine.store.close()


def test_the_daemon_judges_compliance_at_until_as_the_generator_and_lists_the_planted(engine: Engine) -> None:
    """The engine's 处罚公开合规率 of the year at `until` is `compliance_at(until)`, overall and per
    department, and `svmon list violations --period 2023` names exactly the planted results."""
    scenario = _generated(DAEMON_SEED, DAEMON_SCALE)
    now = UNTIL.timestamp()
    start, end = date(YEAR, 1, 1).toordinal(), date(YEAR, 12, 31).toordinal()
    counts = report_counts(engine.store, engine.rules, start, end, now)
    by_department: dict[str, list[int]] = {}
    for (indicator, department, _), (numerator, denominator) in counts.items():
        if indicator == "disclosure_compliance_rate":
            cell = by_department.setdefault(department, [0, 0])
            cell[0] += numerator
            cell[1] += denominator
    truth = scenario.compliance_at(UNTIL)
    overall = tuple(map(sum, zip(*by_department.values(), strict=True)))
    assert overall == truth["indicators"]["disclosure_compliance_rate"]
    assert {d: tuple(c) for d, c in by_department.items() if c[1]} == {
        d: g["disclosure_compliance_rate"] for d, g in truth["by_department"].items()
    }

    lists = Lists(engine.store, engine.rules, engine.registry)
    listed = {
        item["disclosure_id"]: frozenset(item["violations"])
        for item in lists.items("violations", ListFilters(period=str(YEAR)), now)
    }
    final = _of_the_year(_final(scenario))
    planted = {
        i for i, r in final.items() if r["status"] == "published" and _planted(r, scenario.never_withdrawn)
    }
    assert set(listed) == planted
    assert listed == _violating_of_the_year(scenario, UNTIL)
    assert all(listed[i] == {"expired_not_withdrawn"} for i in scenario.never_withdrawn)
