"""Factories of raw records of the five record types (contract §3), valid and invalid, as Kafka carries them.

Shared by unit, property and integration tests and by the benchmark. Everything random takes a
``random.Random`` so a seed reproduces the same bytes. A :class:`Raw` knows, by construction, whether it
is valid and what it is, so tests can compute the expected indicators independently of the daemon.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

from daemon import streams

if TYPE_CHECKING:
    from daemon.core.prepare import Message
    from daemon.runtime.engine import Engine

CST: Final = timezone(timedelta(hours=8))
# Registered departments of the shipped registry (seeds/registry.yaml), with their divisions.
DEPARTMENTS: Final = {
    "330200.scjgj": "330200",
    "330200.sthjj": "330200",
    "330200.jtj": "330200",
    "330200.nyncj": "330200",
    "330200.wsjds": "330200",
}
DEPARTMENT_CODES: Final = tuple(DEPARTMENTS)
DIVISIONS: Final = ("330200", "330203", "330205", "330206", "330212", "330225")
UNREGISTERED: Final = "330200.nosuch"
EVENT_KINDS: Final = ("risk_warning", "collaborative", "complaint", "clue")
EVENT_ACTIONS: Final = ("created", "signed", "reassigned", "handled", "cancelled")
REQUEST_ACTIONS: Final = ("submitted", "approved", "rejected", "executed")
REASONS: Final = ("legacy_improper", "expired", "revoked", "credit_repair", "correction")
CHANNELS: Final = ("mobile", "pc", "paper")

# Stream name -> its default topic, and record type -> stream name (daemon.streams).
TOPICS: Final = {stream.name: stream.default_topic for stream in streams.STREAMS}
SCHEMA_STREAM: Final = {stream.schema: stream.name for stream in streams.STREAMS}

# --- identifiers ---------------------------------------------------------------------------------
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RIC_CHECK = "10X98765432"


def uscc(rng: random.Random) -> str:
    """A valid 统一社会信用代码 (GB 32100-2015)."""
    body = "91" + "330203" + "".join(rng.choice(_USCC_ALPHABET[:10]) for _ in range(9))
    total = sum(_USCC_ALPHABET.index(c) * w for c, w in zip(body, _USCC_WEIGHTS, strict=True))
    return body + _USCC_ALPHABET[(31 - total % 31) % 31]


def resident_id(rng: random.Random) -> str:
    """A valid 居民身份证号 (GB 11643-1999) with a real birth date."""
    birth = date(1960, 1, 1) + timedelta(days=rng.randrange(15000))
    first17 = "330203" + birth.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return first17 + _RIC_CHECK[sum(int(d) * w for d, w in zip(first17, _RIC_WEIGHTS, strict=True)) % 11]


def masked_id(rng: random.Random) -> str:
    """A natural person's resident ID masked as the publication rules ask (`330203********123X`)."""
    number = resident_id(rng)
    return number[:6] + "*" * 8 + number[14:]


def timestamp(moment: datetime) -> str:
    """RFC 3339 with an explicit +08:00 offset, as producers write it."""
    return moment.astimezone(CST).isoformat()


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """An aware datetime in Asia/Shanghai on ``day``."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CST)


# --- one record per schema -----------------------------------------------------------------------


def event(
    event_id: str,
    action: str,
    moment: datetime,
    *,
    version: int = 1,
    kind: str | None = None,
    department: str | None = None,
    division: str | None = None,
    deadline: datetime | None = None,
) -> dict[str, Any]:
    """An ``event/v1`` action; ``created`` gets kind/department/division defaults when not given."""
    record: dict[str, Any] = {
        "schema": "event/v1",
        "version": version,
        "event_id": event_id,
        "action": action,
        "at": timestamp(moment),
    }
    if action == "created":
        record["kind"] = kind or "complaint"
        record["department"] = department or DEPARTMENT_CODES[0]
        record["division"] = division or "330200"
    elif action == "reassigned":
        record["department"] = department or DEPARTMENT_CODES[1]
    if deadline is not None:
        record["deadline"] = timestamp(deadline)
    return record


def inspection(
    record_id: str,
    item_code: str,
    moment: datetime,
    *,
    version: int = 1,
    department: str = DEPARTMENT_CODES[0],
    division: str = "330200",
    channel: str = "mobile",
    double_random_task: str | None = None,
    target_id: str = "913302036604876471",
) -> dict[str, Any]:
    """An ``inspection/v1`` record of a legal person."""
    return {
        "schema": "inspection/v1",
        "version": version,
        "record_id": record_id,
        "item_code": item_code,
        "department": department,
        "division": division,
        "at": timestamp(moment),
        "channel": channel,
        "double_random_task": double_random_task,
        "target": {"type": "legal_person", "id": target_id},
        "inspectors": ["33020001234"],
        "result": "compliant",
    }


def item(
    item_code: str,
    moment: datetime,
    *,
    version: int = 1,
    department: str = DEPARTMENT_CODES[0],
    double_random: bool = True,
    onboarded: bool = True,
    active: bool = True,
) -> dict[str, Any]:
    """An ``item/v1`` catalogue version."""
    return {
        "schema": "item/v1",
        "version": version,
        "item_code": item_code,
        "name": f"事项 {item_code}",
        "department": department,
        "at": timestamp(moment),
        "double_random": double_random,
        "onboarded": onboarded,
        "active": active,
    }


def disclosure(
    disclosure_id: str,
    decided: date,
    *,
    version: int = 1,
    published_at: datetime | None = None,
    department: str = DEPARTMENT_CODES[0],
    division: str = "330200",
    procedure: str = "general",
    party: dict[str, str] | None = None,
    content: str = "当事人违反规定，依法给予警告。",
    decision_no: str = "甬市监罚〔2023〕12号",
    publicity_until: date | None = None,
    status: str = "published",
    withdrawn_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> dict[str, Any]:
    """A ``disclosure/v1`` record; published the morning after the decision unless told otherwise."""
    return {
        "schema": "disclosure/v1",
        "version": version,
        "disclosure_id": disclosure_id,
        "decision_no": decision_no,
        "department": department,
        "division": division,
        "decided_at": decided.isoformat(),
        "published_at": timestamp(published_at or at(decided + timedelta(days=1))),
        "procedure": procedure,
        "severity": "general",
        "party": party or {"type": "legal_person", "name": "宁波某某有限公司", "id": "913302036604876471"},
        "content": content,
        "publicity_until": None if publicity_until is None else publicity_until.isoformat(),
        "status": status,
        "withdrawn_at": None if withdrawn_at is None else timestamp(withdrawn_at),
        "revoked_at": None if revoked_at is None else timestamp(revoked_at),
    }


def disclosure_request(
    request_id: str,
    action: str,
    moment: datetime,
    *,
    version: int = 1,
    disclosure_id: str = "D1",
    kind: str = "withdraw",
    reason: str = "legacy_improper",
    department: str = DEPARTMENT_CODES[0],
    batch_id: str | None = None,
) -> dict[str, Any]:
    """A ``disclosure-request/v1`` step."""
    return {
        "schema": "disclosure-request/v1",
        "version": version,
        "request_id": request_id,
        "disclosure_id": disclosure_id,
        "action": action,
        "at": timestamp(moment),
        "kind": kind,
        "reason": reason,
        "department": department,
        "batch_id": batch_id,
    }


def encode(record: dict[str, Any]) -> bytes:
    """The UTF-8 JSON value a producer writes."""
    return json.dumps(record, ensure_ascii=False).encode()


def message_key(record: dict[str, Any]) -> bytes:
    """The Kafka key of docs/contract.md §2 for a record."""
    schema = record["schema"]
    name = {
        "event/v1": "event_id",
        "inspection/v1": "item_code",
        "item/v1": "item_code",
        "disclosure/v1": "disclosure_id",
        "disclosure-request/v1": "disclosure_id",
    }[schema]
    return str(record[name]).encode()


def spoil(record: dict[str, Any]) -> dict[str, Any]:
    """An erroneous copy that keeps record key, version and primary time readable (an unknown field)."""
    return {**record, "unexpected_field": True}


# --- generated streams with their truth ----------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """One generated message: where it goes, its bytes, and what the test knows it to be."""

    stream: str
    key: bytes
    value: bytes
    record: dict[str, Any] | None  # the record as written (None for garbage)
    valid: bool

    @property
    def topic(self) -> str:
        return TOPICS[self.stream]


def raw(record: dict[str, Any], *, valid: bool = True, key: bytes | None = None) -> Raw:
    """Wrap a record dict as a message on its schema's topic."""
    return Raw(
        SCHEMA_STREAM[record["schema"]],
        message_key(record) if key is None else key,
        encode(record),
        record,
        valid,
    )


def versions(rng: random.Random, record: dict[str, Any], max_versions: int = 3) -> list[Raw]:
    """1..max_versions versions of one record key, each valid or erroneous, some sent twice.

    Version numbers are distinct per key except for exact duplicates (same bytes), so the latest
    version is unambiguous without knowing the daemon's tie-break.
    """
    out: list[Raw] = []
    count = rng.randint(1, max_versions)
    for number in range(1, count + 1):
        versioned = {**record, "version": number}
        message = raw(spoil(versioned), valid=False) if rng.random() < 0.25 else raw(versioned)
        out.append(message)
        if rng.random() < 0.2:
            out.append(message)  # an exact duplicate
    return out


@dataclass
class Stream:
    """A generated mix of messages for all five schemas over one year, with per-entity records."""

    messages: list[Raw] = field(default_factory=list)

    def __iter__(self) -> Iterator[Raw]:
        return iter(self.messages)


def _day(rng: random.Random, year: int) -> date:
    return date(year, 1, 1) + timedelta(days=rng.randrange(365))


def event_versions(rng: random.Random, event_id: str, created_day: date) -> list[Raw]:
    """Every action of one event (created, maybe signed/reassigned/handled/cancelled), in versions."""
    start = at(created_day, rng.randint(8, 17), rng.randrange(60))
    kind = rng.choice(EVENT_KINDS)
    records = [
        event(
            event_id,
            "created",
            start,
            kind=kind,
            department=rng.choice(DEPARTMENT_CODES),
            division=rng.choice(DIVISIONS),
            deadline=start + timedelta(days=rng.randint(1, 20)) if rng.random() < 0.3 else None,
        )
    ]
    if rng.random() < 0.6:
        records.append(event(event_id, "signed", start + timedelta(hours=1)))
    if rng.random() < 0.3:
        records.append(
            event(
                event_id,
                "reassigned",
                start + timedelta(hours=2),
                department=rng.choice(DEPARTMENT_CODES),
                deadline=start + timedelta(days=rng.randint(1, 20)) if rng.random() < 0.5 else None,
            )
        )
    if rng.random() < 0.8:
        records.append(event(event_id, "handled", start + timedelta(days=rng.randint(0, 25), hours=3)))
    if rng.random() < 0.1:
        records.append(event(event_id, "cancelled", start + timedelta(days=1)))
    out: list[Raw] = []
    for record in records:
        out.extend(versions(rng, record))
    return out


def request_versions(rng: random.Random, request_id: str, disclosure_id: str, day: date) -> list[Raw]:
    """Every step of one withdrawal request, in versions."""
    start = at(day)
    common: dict[str, Any] = {
        "disclosure_id": disclosure_id,
        "kind": rng.choice(("withdraw", "modify")),
        "reason": rng.choice(REASONS),
        "department": rng.choice(DEPARTMENT_CODES),
    }
    records = [disclosure_request(request_id, "submitted", start, **common)]
    if rng.random() < 0.7:
        records.append(disclosure_request(request_id, "approved", start + timedelta(days=1), **common))
        if rng.random() < 0.8:
            batch = f"B{rng.randrange(5)}" if rng.random() < 0.7 else None
            records.append(
                disclosure_request(
                    request_id,
                    "executed",
                    start + timedelta(days=rng.randint(1, 10)),
                    batch_id=batch,
                    **common,
                )
            )
    elif rng.random() < 0.5:
        records.append(disclosure_request(request_id, "rejected", start + timedelta(days=2), **common))
    out: list[Raw] = []
    for record in records:
        out.extend(versions(rng, record))
    return out


def disclosure_versions(rng: random.Random, disclosure_id: str, day: date) -> list[Raw]:
    """Versions of one published penalty result, some late, simple, exposed, expired or revoked."""
    published = at(day + timedelta(days=rng.choice((1, 2, 5, 20, 40))))
    person = rng.random() < 0.3
    party = (
        {
            "type": "natural_person",
            "name": "张某",
            "id": masked_id(rng) if rng.random() < 0.8 else resident_id(rng),
        }
        if person
        else {"type": "legal_person", "name": "宁波某某有限公司", "id": uscc(rng)}
    )
    record = disclosure(
        disclosure_id,
        day,
        published_at=published,
        department=rng.choice(DEPARTMENT_CODES),
        division=rng.choice(DIVISIONS),
        procedure="simple" if rng.random() < 0.1 else "general",
        party=party,
        content="违法事实：联系电话13812345678。" if rng.random() < 0.1 else "依法给予警告。",
        decision_no=f"甬市监罚〔{day.year}〕{rng.randint(1, 9999)}号",
        publicity_until=day + timedelta(days=rng.choice((30, 365, 700))) if rng.random() < 0.5 else None,
        status="withdrawn" if rng.random() < 0.1 else "published",
        revoked_at=at(day + timedelta(days=60)) if rng.random() < 0.1 else None,
    )
    if record["status"] == "withdrawn":
        record["withdrawn_at"] = timestamp(published + timedelta(days=3))
    return versions(rng, record)


def item_versions(rng: random.Random, item_code: str, day: date) -> list[Raw]:
    """Versions of one catalogue item."""
    record = item(
        item_code,
        at(day),
        department=rng.choice(DEPARTMENT_CODES),
        double_random=rng.random() < 0.6,
        onboarded=rng.random() < 0.9,
        active=rng.random() < 0.9,
    )
    return versions(rng, record)


def inspection_versions(rng: random.Random, record_id: str, item_code: str, day: date) -> list[Raw]:
    """Versions of one inspection of ``item_code``."""
    record = inspection(
        record_id,
        item_code,
        at(day, rng.randint(8, 17)),
        department=rng.choice(DEPARTMENT_CODES),
        division=rng.choice(DIVISIONS),
        channel=rng.choice(CHANNELS),
        double_random_task=f"T{rng.randrange(10)}" if rng.random() < 0.5 else None,
        target_id=uscc(rng),
    )
    return versions(rng, record)


GARBAGE: Final = (
    b"not json",
    b"\xff\xfe\x00",
    b"[1, 2, 3]",
    b'{"schema": "nope/v9"}',
    b'{"schema": "event/v1", "event_id": 5}',
)


def mixed_stream(rng: random.Random, entities: int, year: int = 2023, garbage: int = 0) -> list[Raw]:
    """Messages of ``entities`` entities of every kind in one shuffled list, plus keyless garbage.

    Orphan actions, duplicates, corrections and erroneous versions arise from the shuffle and from
    :func:`versions`; order within an entity is random.
    """
    out: list[Raw] = []
    items = [f"I{n}" for n in range(max(1, entities // 10))]
    for code in items:
        out.extend(item_versions(rng, code, _day(rng, year)))
    for number in range(entities):
        choice = rng.random()
        if choice < 0.5:
            out.extend(event_versions(rng, f"E{number}", _day(rng, year)))
        elif choice < 0.75:
            out.extend(inspection_versions(rng, f"R{number}", rng.choice(items), _day(rng, year)))
        elif choice < 0.9:
            out.extend(disclosure_versions(rng, f"D{number}", _day(rng, year)))
        else:
            out.extend(request_versions(rng, f"Q{number}", f"D{number}", _day(rng, year)))
    for _ in range(garbage):
        out.append(Raw("events", b"", rng.choice(GARBAGE), None, False))
    rng.shuffle(out)
    return out


# --- driving the engine without Kafka --------------------------------------------------------------

INGESTED: Final = datetime(2025, 6, 2, 10, 0, tzinfo=CST)
"""A fixed ingestion instant, after every generated record (no ``future_time``)."""


class FakeDlq:
    """A DLQ sink that keeps what it was sent; ``flushed`` counts payloads acknowledged by a flush."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []
        self.flushed = 0

    def send(self, key: bytes | None, payload: bytes) -> None:
        self.sent.append((key, payload))

    def flush(self, timeout: float = 30.0) -> int:
        written = len(self.sent) - self.flushed
        self.flushed = len(self.sent)
        return written


def partition_of(key: bytes, partitions: int) -> int:
    """A stable partition for a key (tests need co-partitioning, not Kafka's exact murmur2)."""
    return sum(key) % partitions if partitions > 1 else 0


def scenario_messages(seed: int, scale: float) -> list[Message]:
    """Every message of a generated year as consumed: partition 0 of a topic named after its stream."""
    from daemon.core.prepare import Message
    from seeds.scenario import STREAMS, generate

    scenario = generate(seed, scale=scale)
    return [
        Message(stream, 0, offset, key, value, timestamp_ms)
        for stream in STREAMS
        for offset, (key, value, timestamp_ms) in enumerate(scenario.kafka_messages(stream))
    ]


def assign_offsets(
    messages: list[Raw], partitions: int = 1, timestamp_ms: int | None = None
) -> list[Message]:
    """``Message`` values (daemon.core.prepare) for ``messages``, consecutive offsets per topic-partition."""
    from daemon.core.prepare import Message

    stamp = int(INGESTED.timestamp() * 1000) if timestamp_ms is None else timestamp_ms
    next_offset: dict[tuple[str, int], int] = {}
    out = []
    for message in messages:
        part = partition_of(message.key, partitions)
        offset = next_offset.get((message.topic, part), 0)
        next_offset[(message.topic, part)] = offset + 1
        out.append(Message(message.topic, part, offset, message.key, message.value, stamp))
    return out


def make_engine(store_url: str, now: datetime = INGESTED, **settings: Any) -> Engine:
    """An ``Engine`` on ``store_url`` with the shipped registry and a clock stuck at ``now``."""
    from daemon.config import Settings, StoreSettings
    from daemon.core.calendar import WorkingCalendar
    from daemon.runtime.engine import Engine
    from daemon.store import open_store
    from schemas.registry import load_registry

    config = Settings(store=StoreSettings(url=store_url), **settings)
    stamp = now.timestamp()
    return Engine(
        config, load_registry(None), WorkingCalendar(None), open_store(store_url), clock=lambda: stamp
    )
