"""Tests of daemon.tools.live: the demo's live traffic, judged by svmon's own pipeline and engine.

Every message must pass svmon's validation except the planted erroneous ones, which must fail with
their intended code; the volume must follow the working day; and ten minutes of it on an empty
store must give every figure of the metrics something to show.  The clock is simulated: no test
sleeps.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from daemon import streams
from daemon.core.calendar import WorkingCalendar
from daemon.core.prepare import Message, Pipeline
from daemon.core.tally import Tally
from daemon.runtime.engine import Engine
from daemon.tools.incidents import Incidents
from daemon.tools.live import KnownItem, LiveTraffic, Outgoing, known_items
from schemas.registry import Registry, load_registry
from tests import records
from tests.records import CST, FakeDlq

REGISTRY = load_registry(None)
RATE = 60.0
WORKING_DAY = datetime(2024, 6, 4, 0, 0, tzinfo=CST)  # a Tuesday
OFFICE = WORKING_DAY.replace(hour=10)
SATURDAY = datetime(2024, 6, 8, 0, 0, tzinfo=CST)
HOLIDAY = datetime(2024, 10, 2, 0, 0, tzinfo=CST)  # 国庆节
TOPIC = {stream.name: stream.default_topic for stream in streams.STREAMS}


def _traffic(start: datetime, seed: int = 7, **options: object) -> LiveTraffic:
    incidents = options.pop("incidents", None) or Incidents()
    assert isinstance(incidents, Incidents)
    return LiveTraffic(
        REGISTRY,
        WorkingCalendar(None),
        seed=seed,
        events_per_working_hour=RATE,
        start=start,
        incidents=incidents,
        **options,  # type: ignore[arg-type]
    )


def _run(
    traffic: LiveTraffic, start: datetime, duration: timedelta, step: timedelta = timedelta(seconds=60)
) -> Iterator[tuple[datetime, list[Outgoing]]]:
    """`due` called every `step` from `start` to `start + duration`, with what each call returned."""
    now = start
    while now <= start + duration:
        yield now, traffic.due(now)
        now += step


def _messages(start: datetime, duration: timedelta, seed: int = 7) -> list[Outgoing]:
    return [message for _, out in _run(_traffic(start, seed), start, duration) for message in out]


def _codes(pipeline: Pipeline, message: Outgoing, index: int) -> list[str] | None:
    """The error codes svmon's pipeline rejects `message` with (None: accepted)."""
    consumed = Message(TOPIC[message.stream], 0, index, message.key, message.value, message.timestamp_ms)
    prepared = pipeline.prepare(consumed, datetime.fromtimestamp(message.timestamp_ms / 1000, CST))
    return None if prepared.rejected is None else [str(error.code) for error in prepared.rejected.errors]


@pytest.mark.parametrize(
    ("start", "duration"),
    [
        (WORKING_DAY.replace(hour=8), timedelta(hours=10)),
        (WORKING_DAY.replace(hour=20), timedelta(hours=11)),
        (HOLIDAY, timedelta(hours=24)),
    ],
    ids=["working-day", "night", "holiday"],
)
def test_every_message_is_valid_except_the_planted_errors(start: datetime, duration: timedelta) -> None:
    """svmon accepts every record, and rejects each planted one with its intended code (first)."""
    pipeline = Pipeline(REGISTRY, 1 << 20)
    planted: Counter[str] = Counter()
    wrong: list[tuple[str | None, list[str] | None]] = []
    total = 0
    for index, message in enumerate(_messages(start, duration)):
        total += 1
        codes = _codes(pipeline, message, index)
        if message.error is not None:
            planted[message.error] += 1
        if (message.error is None) != (codes is None) or (codes is not None and codes[0] != message.error):
            wrong.append((message.error, codes))
    assert total > 1000
    assert not wrong
    assert sum(planted.values()) >= 2


def test_planted_errors_cover_the_error_kinds_and_each_is_corrected_minutes_later() -> None:
    """Erroneous records use several codes of contract §5, each followed by a valid next version."""
    by_record: dict[tuple[str, ...], list[tuple[int, Outgoing]]] = {}
    duration = timedelta(hours=8)
    settled = (OFFICE + duration).timestamp() * 1000 - 301_000  # corrections of later ones may be due
    for message in _messages(OFFICE, duration):
        record = json.loads(message.value)
        fields = streams.BY_NAME[message.stream].record.RECORD_KEY_FIELDS
        key = (message.stream, *(str(record[name]) for name in fields))
        by_record.setdefault(key, []).append((record["version"], message))
    codes = set()
    for versions in by_record.values():
        for version, message in versions:
            if message.error is None or message.timestamp_ms > settled:
                continue
            codes.add(message.error)
            later = [m for v, m in versions if v == version + 1 and m.error is None]
            assert later, f"no correction for a planted {message.error}"
            delay = (later[0].timestamp_ms - message.timestamp_ms) / 1000
            assert 59 <= delay <= 301
    assert len(codes) >= 4
    assert codes <= {
        "unknown_department",
        "unknown_division",
        "invalid_field",
        "invalid_uscc",
        "invalid_resident_id",
        "invalid_decision_no",
        "future_time",
        "inconsistent_time",
    }


def _hourly(start: datetime, hours: int) -> tuple[Counter[int], Counter[tuple[str, int]]]:
    """Live messages (not the warm-up) per hour since `start`, and per (stream, hour)."""
    origin = int(start.timestamp() * 1000)
    per_hour: Counter[int] = Counter()
    per_stream: Counter[tuple[str, int]] = Counter()
    for message in _messages(start, timedelta(hours=hours)):
        if message.timestamp_ms > origin:
            hour = (message.timestamp_ms - origin - 1) // 3_600_000
            per_hour[hour] += 1
            per_stream[(message.stream, hour)] += 1
    return per_hour, per_stream


def test_the_rate_follows_the_working_day_and_never_stops() -> None:
    """Office hours > night > 0; a holiday is quieter than a weekend, which is quieter than a working
    day; every hour has events and inspections."""
    working, working_streams = _hourly(WORKING_DAY, 24)
    weekend, weekend_streams = _hourly(SATURDAY, 24)
    holiday, holiday_streams = _hourly(HOLIDAY, 24)
    assert working[10] > 3 * working[3] > 0
    assert sum(holiday.values()) < sum(weekend.values()) < sum(working.values()) / 2
    for per_stream in (working_streams, weekend_streams, holiday_streams):
        for hour in range(24):
            assert per_stream[("events", hour)] >= 1
            assert per_stream[("inspections", hour)] >= 1
    # The rate given is the busy office hour's: about that many events are created in it.
    created = set()
    for message in _messages(OFFICE, timedelta(hours=1)):
        record = json.loads(message.value)
        if (
            message.error is None
            and record.get("action") == "created"
            and OFFICE <= datetime.fromisoformat(record["at"]) < OFFICE + timedelta(hours=1)
        ):
            created.add(record["event_id"])
    assert 0.8 * RATE <= len(created) <= 1.2 * RATE


def test_timestamps_are_never_ahead_of_now_and_nothing_comes_before_the_start() -> None:
    """Whatever the calls' spacing, no Kafka timestamp is after the `now` it was handed out at."""
    traffic = _traffic(OFFICE)
    assert traffic.due(OFFICE - timedelta(seconds=1)) == []
    now, seen = OFFICE, 0
    for step in [0, 1, 7, 0, 59, 300, 3, 3600, 11] * 3:
        now += timedelta(seconds=step)
        for message in traffic.due(now):
            seen += 1
            assert message.timestamp_ms <= now.timestamp() * 1000
    assert seen > 1000


def test_the_warm_up_is_late_delivery_of_the_recent_past() -> None:
    """The first call returns past records (the open stock, today's), stamped with the start."""
    first = _traffic(OFFICE).due(OFFICE)
    origin = int(OFFICE.timestamp() * 1000)
    assert len(first) > 1000
    assert all(message.timestamp_ms == origin for message in first)
    created = [json.loads(m.value) for m in first if b'"action":"created"' in m.value]
    oldest = min(datetime.fromisoformat(record["at"]) for record in created)
    assert OFFICE - oldest > timedelta(days=14)


def test_the_same_seed_gives_the_same_messages_however_due_is_called() -> None:
    """Planning is minute by minute from one random stream, so the calls' spacing changes nothing."""
    duration = timedelta(hours=2)
    fine = [m for _, out in _run(_traffic(OFFICE), OFFICE, duration, timedelta(seconds=7)) for m in out]
    coarse = [m for _, out in _run(_traffic(OFFICE), OFFICE, duration, timedelta(minutes=15)) for m in out]
    other = [m for _, out in _run(_traffic(OFFICE, seed=8), OFFICE, duration) for m in out]
    cut = int((OFFICE + duration).timestamp() * 1000) - 15 * 60_000
    assert [m for m in fine if m.timestamp_ms <= cut] == [m for m in coarse if m.timestamp_ms <= cut]
    assert [m.value for m in other[:500]] != [m.value for m in fine[:500]]


def test_known_items_are_read_from_catalogue_messages_and_inspected() -> None:
    """`known_items` keeps each active code's latest version; live inspections then cover them too."""
    values = [
        json.dumps(records.item("K1", OFFICE, version=1, active=True)).encode(),
        json.dumps(records.item("K1", OFFICE, version=2, active=False)).encode(),
        json.dumps(records.item("K2", OFFICE, department="330200.jtj", double_random=True)).encode(),
        b"\xff not json",
        json.dumps(records.event("E1", "created", OFFICE)).encode(),
    ]
    assert known_items(values) == [KnownItem("K2", "330200.jtj", True)]
    known = [KnownItem(f"K{n}", "330200.jtj", True) for n in range(100, 130)]
    traffic = _traffic(OFFICE, known=known)
    inspected = [
        json.loads(m.value)
        for _, out in _run(traffic, OFFICE, timedelta(hours=4))
        for m in out
        if m.stream == "inspections"
    ]
    codes = {item.item_code for item in known}
    assert any(record["item_code"] in codes and record["double_random_task"] for record in inspected)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"events_per_working_hour": 0}, "must be positive"),
        ({"start": OFFICE.replace(tzinfo=None)}, "naive datetime"),
        ({"incidents": Incidents(stalled_department="330200.nosuch")}, "330200.nosuch"),
    ],
)
def test_bad_parameters_are_refused_in_words(options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "seed": 1,
        "events_per_working_hour": RATE,
        "start": OFFICE,
        "incidents": Incidents(),
        **options,
    }
    with pytest.raises(ValueError, match=message):
        LiveTraffic(REGISTRY, WorkingCalendar(None), **arguments)  # type: ignore[arg-type]


# --- ten minutes through the real engine, on an empty store ------------------------------------


@dataclass
class Fed:
    """What an engine made of live traffic: its flow counters, summed over the batches."""

    engine: Engine
    tally: Tally = field(default_factory=Tally)
    rejected: int = 0
    messages: list[Outgoing] = field(default_factory=list)


def feed(engine: Engine, traffic: LiveTraffic, start: datetime, duration: timedelta, fed: Fed) -> datetime:
    """Run `traffic` through `engine` every 15 simulated seconds, checkpointing after each batch."""
    offsets: Counter[str] = Counter()
    dlq = FakeDlq()
    now = start
    for now, out in _run(traffic, start, duration, timedelta(seconds=15)):
        batch = []
        for message in out:
            topic = TOPIC[message.stream]
            batch.append(Message(topic, 0, offsets[topic], message.key, message.value, message.timestamp_ms))
            offsets[topic] += 1
        stamp = now.timestamp()
        engine.clock = lambda stamp=stamp: stamp  # type: ignore[misc]
        result = engine.process(batch, dlq)
        fed.rejected += result.rejected
        fed.messages.extend(out)
        for name in (
            "events_created",
            "events_handled",
            "events_handled_late",
            "records",
            "records_erroneous",
        ):
            counts = getattr(fed.tally, name)
            for labels, count in getattr(result.tally, name).items():
                counts[labels] = counts.get(labels, 0) + count
        engine.checkpoint(dlq)
    return now


def empty_engine(tmp_path: Path, now: datetime, registry: Registry = REGISTRY) -> Engine:
    engine = records.make_engine(f"sqlite:///{tmp_path}/state.db", now=now)
    assert engine.store.is_empty()
    for scope in streams.SCOPES:
        engine.open_scope((scope, 0))
    return engine


def test_ten_minutes_on_an_empty_store_give_every_figure_data(tmp_path: Path) -> None:
    """Every state gauge and every current-period indicator has data after ten minutes of live traffic
    alone: handled-late, open and overdue events, open requests, executed withdrawals, errors and
    their corrections."""
    engine = empty_engine(tmp_path, OFFICE)
    fed = Fed(engine)
    end = feed(engine, _traffic(OFFICE), OFFICE, timedelta(minutes=10), fed)
    snapshot = engine.snapshot(now=end.timestamp())
    families = {
        "event_handling_rate",
        "event_on_time_rate",
        "data_accuracy_rate",
        "double_random_coverage_rate",
        "mobile_enforcement_rate",
        "disclosure_on_time_rate",
    }
    for period in ("day", "month", "quarter", "year"):
        denominators: Counter[str] = Counter()
        for (indicator, _, _), (_, denominator) in snapshot.indicators[period].items():
            denominators[indicator] += denominator
        assert {family for family in families if denominators[family] > 0} == families, period
        assert any(key[0] == period for key in snapshot.withdrawals), period
    now_denominators = Counter(
        indicator for (indicator, _, _), (_, d) in snapshot.indicators["now"].items() if d
    )
    assert set(now_denominators) == {"item_onboarding_rate", "disclosure_compliance_rate"}
    assert sum(snapshot.open_events.values()) > 100
    assert sum(snapshot.overdue_events.values()) > 0
    assert sum(snapshot.requests_open.values()) > 0
    assert sum(snapshot.violations.values()) > 0
    assert sum(executed for executed, _, _ in snapshot.withdrawals.values()) > 0
    assert sum(fed.tally.events_handled_late.values()) > 0
    assert sum(fed.tally.events_handled.values()) > sum(fed.tally.events_handled_late.values())
    # Errors were made and corrected: the DLQ saw them, and every one but those of the last minutes
    # has its valid next version in the store (accuracy numerator = denominator - still pending).
    planted = [m for m in fed.messages if m.error is not None]
    assert fed.rejected == len(planted) > 0
    pending = sum(1 for m in planted if m.timestamp_ms > (end.timestamp() - 300) * 1000)
    numerator, denominator = (
        sum(
            cell[i]
            for (ind, _, _), cell in snapshot.indicators["year"].items()
            if ind == "data_accuracy_rate"
        )
        for i in (0, 1)
    )
    assert denominator - pending <= numerator < denominator + 1
    assert len(planted) - pending >= 1
    engine.store.close()


def test_normal_traffic_stays_clear_of_the_fast_burn_alerts(tmp_path: Path) -> None:
    """An hour without incidents, warm-up included: no department handles more than 50 % late with
    20 handled, nor sends more than 1.44 % erroneous with 1000 records (alerts/rules/slo.yml)."""
    engine = empty_engine(tmp_path, OFFICE)
    fed = Fed(engine)
    feed(engine, _traffic(OFFICE), OFFICE, timedelta(hours=1), fed)
    handled, late, total, erroneous = _by_department(fed.tally)
    assert all(late[d] <= 0.5 * handled[d] or handled[d] < 20 for d in handled)
    assert all(erroneous[d] <= 0.0144 * total[d] or total[d] < 1000 for d in total)
    assert sum(late.values()) < 0.05 * sum(handled.values())
    engine.store.close()


def _by_department(tally: Tally) -> tuple[Counter[str], Counter[str], Counter[str], Counter[str]]:
    """Handled, handled late, records and erroneous records per department."""
    handled: Counter[str] = Counter()
    late: Counter[str] = Counter()
    total: Counter[str] = Counter()
    erroneous: Counter[str] = Counter()
    for (_, department, _), count in tally.events_handled.items():
        handled[department] += count
    for (_, department, _), count in tally.events_handled_late.items():
        late[department] += count
    for (_, department), count in tally.records.items():
        total[department] += count
    for (_, department, _), count in tally.records_erroneous.items():
        erroneous[department] += count
    return handled, late, total, erroneous
