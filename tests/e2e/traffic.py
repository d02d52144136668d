"""Traffic in the current periods for a real ``svmon run``: every metric family gets samples.

svmon exports indicators for the current day/month/quarter/year (Asia/Shanghai, wall clock) and the
``now`` state, so every record here is placed earlier *today*: each burst spreads its records over
fractions of the time elapsed since local midnight, in order (created < deadline < handled < now).
Kafka timestamps are the production time, never before an event-time field (no ``future_time``).

The departments, chosen so that exactly one (department, indicator) of the below-target alert
crosses its target, however many bursts are produced (every alerting indicator with a denominator
of 20 or more is either perfect or zhzfj's on-time rate):

* ``330200.scjgj`` and ``330200.sthjj``: large, on time, all mobile, no invalid record; scjgj works
  in three divisions, sthjj in two; open events within and past their deadline; a catalogue with
  onboarded and not-onboarded, 双随机 and ordinary items, inspected under a 双随机 task or not; penalty
  disclosures published at once; withdraw/modify requests open or executed in a batch.
* ``330203.zhzfj`` (:data:`LATE_DEPARTMENT`): handles every event long after its deadline.
* ``330212.zhzfj`` (:data:`SMALL_DEPARTMENT`): a bit of everything, but 9 records per burst, so
  fewer than 20 in any period even after two bursts and its blemishes never trip the volume guard:
  one invalid event and one invalid inspection per burst (DLQ and error counters), a ``pc``
  inspection, an open overdue event, an open withdrawal request, and older penalty disclosures
  (decided last year, so outside every period but the ``now`` compliance view) in violation:
  personal information exposed, published late and expired, revoked, simple procedure.

Plus, per burst, one undecodable message on the events topic. One disclosure was decided in 2003,
a year the holiday calendar does not know, so svmon falls back to Monday-Friday for it (the
calendar-fallback metric has a sample, and its alert fires).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

from kafka import KafkaProducer

from tests.daemon_process import Topics
from tests.records import (
    CST,
    EVENT_KINDS,
    Raw,
    disclosure,
    disclosure_request,
    event,
    inspection,
    item,
    masked_id,
    raw,
    resident_id,
    spoil,
)

LATE_DEPARTMENT: Final = "330203.zhzfj"
SMALL_DEPARTMENT: Final = "330212.zhzfj"
# department -> (divisions its events are in, events per burst)
EVENT_PLAN: Final = {
    "330200.scjgj": (("330200", "330203", "330212"), 12),
    "330200.sthjj": (("330200", "330205"), 8),
    LATE_DEPARTMENT: (("330203",), 12),
}
INSPECTING: Final = ("330200.scjgj", "330200.sthjj", LATE_DEPARTMENT)
HOME_DIVISION: Final = {
    "330200.scjgj": "330200",
    "330200.sthjj": "330200",
    LATE_DEPARTMENT: "330203",
    SMALL_DEPARTMENT: "330212",
}
INSPECTIONS_PER_BURST: Final = 8
UNDECODABLE: Final = b'{"schema": "event/v1", "event_id": '


@dataclass(frozen=True)
class Clock:
    """Instants of one burst: fractions of the time elapsed today, strictly before ``now``."""

    now: datetime

    @property
    def midnight(self) -> datetime:
        local = self.now.astimezone(CST)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def at(self, fraction: float) -> datetime:
        """The instant ``fraction`` (0-1) of the way from local midnight to now."""
        return self.midnight + (self.now.astimezone(CST) - self.midnight) * fraction

    @property
    def today(self) -> date:
        return self.midnight.date()


def _events(clock: Clock, tag: str) -> list[Raw]:
    out: list[Raw] = []
    for department, (divisions, count) in EVENT_PLAN.items():
        late = department == LATE_DEPARTMENT
        for number in range(count):
            event_id = f"{tag}-{_short(department)}-E{number}"
            kind = EVENT_KINDS[number % len(EVENT_KINDS)]
            created = clock.at(0.10 + 0.001 * number)
            common: dict[str, Any] = {
                "kind": kind,
                "department": department,
                "division": divisions[number % len(divisions)],
            }
            if late:
                # Handled at 0.9 of the day so far, its deadline at 0.2: every one late.
                deadline = clock.at(0.20)
                out.append(raw(event(event_id, "created", created, deadline=deadline, **common)))
                out.append(raw(event(event_id, "signed", clock.at(0.15))))
                if number == 0:  # one still open, past its deadline
                    continue
                out.append(raw(event(event_id, "handled", clock.at(0.90))))
                continue
            if number == 0:  # open, past its deadline
                out.append(raw(event(event_id, "created", created, deadline=clock.at(0.30), **common)))
                continue
            if number == 1:  # open, within its deadline
                deadline = clock.now + timedelta(days=10)
                out.append(raw(event(event_id, "created", created, deadline=deadline, **common)))
                out.append(raw(event(event_id, "signed", clock.at(0.50))))
                continue
            if number == 2:  # cancelled
                out.append(raw(event(event_id, "created", created, **common)))
                out.append(raw(event(event_id, "cancelled", clock.at(0.40))))
                continue
            deadline = clock.now + timedelta(days=3)
            out.append(raw(event(event_id, "created", created, deadline=deadline, **common)))
            out.append(raw(event(event_id, "signed", clock.at(0.50))))
            out.append(raw(event(event_id, "handled", clock.at(0.80))))
    small = f"{tag}-{_short(SMALL_DEPARTMENT)}-E"
    common = {"kind": "complaint", "department": SMALL_DEPARTMENT, "division": "330212"}
    out.append(raw(event(f"{small}0", "created", clock.at(0.10), **common)))
    out.append(raw(event(f"{small}0", "handled", clock.at(0.60))))
    out.append(raw(event(f"{small}1", "created", clock.at(0.10), deadline=clock.at(0.30), **common)))
    invalid = event(f"{small}2", "created", clock.at(0.10), **common)
    out.append(raw(spoil(invalid), valid=False))
    return out


def _catalogue(clock: Clock, tag: str) -> tuple[list[Raw], dict[str, list[str]]]:
    """Per inspecting department two 双随机 items, one ordinary, one not onboarded; one for the small."""
    out: list[Raw] = []
    codes: dict[str, list[str]] = {}
    for department in (*INSPECTING, SMALL_DEPARTMENT):
        mine = codes.setdefault(department, [])
        kinds = ((True, True), (True, True), (False, True), (False, False))
        for number, (double_random, onboarded) in enumerate(
            kinds[:1] if department == SMALL_DEPARTMENT else kinds
        ):
            code = f"{tag}-{_short(department)}-I{number}"
            mine.append(code)
            record = item(
                code, clock.at(0.05), department=department, double_random=double_random, onboarded=onboarded
            )
            out.append(raw(record))
    return out, codes


def _inspections(clock: Clock, tag: str, items: dict[str, list[str]]) -> list[Raw]:
    out: list[Raw] = []
    for department in INSPECTING:
        codes = items[department]
        for number in range(INSPECTIONS_PER_BURST):
            code = codes[number % len(codes)]
            # The first 双随机 item is inspected under a task; the second is not (coverage < 1).
            task = "T-2024-01" if number % len(codes) == 0 else None
            record = inspection(
                f"{tag}-{_short(department)}-R{number}",
                code,
                clock.at(0.30 + 0.001 * number),
                department=department,
                division=HOME_DIVISION[department],
                channel="mobile",
                double_random_task=task,
            )
            out.append(raw(record))
    small = items[SMALL_DEPARTMENT][0]
    common: dict[str, Any] = {"department": SMALL_DEPARTMENT, "division": "330212"}
    task = "T-2024-02"
    out.append(
        raw(inspection(f"{tag}-S-R0", small, clock.at(0.30), channel="pc", double_random_task=task, **common))
    )
    invalid = inspection(f"{tag}-S-R1", small, clock.at(0.32), channel="mobile", **common)
    out.append(raw(spoil(invalid), valid=False))
    return out


def _disclosures(clock: Clock, tag: str) -> list[Raw]:
    """Today's decisions, published at once; the small department's older ones in violation."""
    out: list[Raw] = []
    today = clock.today
    for department in (*INSPECTING, SMALL_DEPARTMENT):
        for number in range(1 if department == SMALL_DEPARTMENT else 2):
            disclosure_id = f"{tag}-{_short(department)}-D{number}"
            record = disclosure(
                disclosure_id,
                today,
                published_at=clock.at(0.70),
                department=department,
                division=HOME_DIVISION[department],
                decision_no=f"甬市监罚〔{today.year}〕{number + 1}号",
            )
            out.append(raw(record))
    # Decided in 2003, before the holiday calendar's first year: its publication limit falls back to
    # Monday-Friday (the calendar-fallback metric has a sample, and its alert fires).
    ancient = date(2003, 6, 2)
    out.append(
        raw(
            disclosure(
                f"{tag}-A-2003",
                ancient,
                published_at=datetime(2003, 6, 3, 10, tzinfo=CST),
                department=INSPECTING[0],
                division=HOME_DIVISION[INSPECTING[0]],
                decision_no="甬市监罚〔2003〕7号",
            )
        )
    )
    long_ago = today - timedelta(days=400)
    old: dict[str, Any] = {"department": SMALL_DEPARTMENT, "division": "330212"}
    published = datetime(long_ago.year, long_ago.month, long_ago.day, 10, tzinfo=CST) + timedelta(days=1)
    exposed_party = {"type": "natural_person", "name": "张某", "id": resident_id_of(tag)}
    out.append(
        raw(disclosure(f"{tag}-V-exposed", long_ago, published_at=published, party=exposed_party, **old))
    )
    late = published + timedelta(days=60)
    expired = today - timedelta(days=30)
    out.append(raw(disclosure(f"{tag}-V-late", long_ago, published_at=late, publicity_until=expired, **old)))
    revoked = published + timedelta(days=100)
    out.append(
        raw(disclosure(f"{tag}-V-revoked", long_ago, published_at=published, revoked_at=revoked, **old))
    )
    out.append(
        raw(disclosure(f"{tag}-V-simple", long_ago, published_at=published, procedure="simple", **old))
    )
    masked_party = {"type": "natural_person", "name": "李某", "id": masked_id(_rng(tag))}
    out.append(
        raw(disclosure(f"{tag}-V-masked", long_ago, published_at=published, party=masked_party, **old))
    )
    return out


def _requests(clock: Clock, tag: str) -> list[Raw]:
    """Withdraw/modify requests: three open, one executed in a batch."""
    scjgj, sthjj = INSPECTING[0], INSPECTING[1]
    out = [
        raw(
            disclosure_request(
                f"{tag}-Q3",
                "submitted",
                clock.at(0.75),
                disclosure_id=f"{tag}-V-revoked",
                department=SMALL_DEPARTMENT,
                reason="revoked",
            )
        ),
        raw(
            disclosure_request(
                f"{tag}-Q0", "submitted", clock.at(0.75), disclosure_id=f"{tag}-{_short(scjgj)}-D0"
            )
        ),
        raw(
            disclosure_request(
                f"{tag}-Q1",
                "submitted",
                clock.at(0.75),
                disclosure_id=f"{tag}-{_short(sthjj)}-D0",
                department=sthjj,
                kind="modify",
                reason="correction",
            )
        ),
    ]
    executed: dict[str, Any] = {"disclosure_id": f"{tag}-{_short(scjgj)}-D1", "reason": "credit_repair"}
    out.append(raw(disclosure_request(f"{tag}-Q2", "submitted", clock.at(0.75), **executed)))
    out.append(raw(disclosure_request(f"{tag}-Q2", "approved", clock.at(0.80), **executed)))
    out.append(
        raw(disclosure_request(f"{tag}-Q2", "executed", clock.at(0.85), batch_id=f"{tag}-B1", **executed))
    )
    return out


def _rng(tag: str) -> random.Random:
    return random.Random(tag)


def resident_id_of(tag: str) -> str:
    """A valid, unmasked resident ID: a natural person's identity exposed on a public page."""
    return resident_id(_rng(tag))


def burst(tag: str, now: datetime) -> list[Raw]:
    """One burst of every kind of record, all in the current periods as of ``now``; ids carry ``tag``."""
    clock = Clock(now)
    items, codes = _catalogue(clock, tag)
    out = [*items, *_inspections(clock, tag, codes), *_events(clock, tag), *_disclosures(clock, tag)]
    out.extend(_requests(clock, tag))
    out.append(Raw("events", b"", UNDECODABLE, None, False))
    return out


def _short(department: str) -> str:
    """A department code as it may appear in an identifier (letters, digits, ``_`` and ``-``)."""
    return department.replace(".", "_")


def produce(bootstrap: str, topics: Topics, messages: list[Raw], now: datetime) -> dict[tuple[str, int], int]:
    """Produce ``messages`` stamped ``now``; return each written partition's end offset, as acknowledged."""
    by_stream = topics.by_stream()
    stamp = int(now.timestamp() * 1000)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    try:
        futures = [
            producer.send(by_stream[m.stream], key=m.key or None, value=m.value, timestamp_ms=stamp)
            for m in messages
        ]
        producer.flush(timeout=30)
        ends: dict[tuple[str, int], int] = {}
        for future in futures:
            metadata = future.get(timeout=10)
            where = (metadata.topic, metadata.partition)
            ends[where] = max(ends.get(where, 0), metadata.offset + 1)
        return ends
    finally:
        producer.close(timeout=5)
