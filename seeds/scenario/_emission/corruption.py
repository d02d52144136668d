"""How a record is first sent wrong, with the error code the decoder must reject it with.

Whether a record is first sent wrong is drawn by the writer; which error it gets follows from its key
(a catalogue item's, from its position), not from the random stream.  The three undecodable messages
at the end are never corrected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import NamedTuple

from seeds.scenario._calendar import TZ, rfc3339
from seeds.scenario._emission.records import JsonRecord
from seeds.scenario._identifiers import bad_check
from seeds.scenario._plan.model import PlannedItem

#: A division code that no longer exists: 江东区, merged into 鄞州/海曙 in 2016.
_ABOLISHED_DIVISION = "330204"


class Corrupted(NamedTuple):
    """The wrong record, its error code, and when it is ingested if not when the good one would be."""

    record: JsonRecord
    code: str
    ingest_at: datetime | None = None


Corruptor = Callable[[JsonRecord], Corrupted]


def corrupt_item(record: JsonRecord, position: int) -> Corrupted:
    if position % 2:
        record["department"] = record["department"].split(".")[0] + ".scj"
        return Corrupted(record, "unknown_department")
    record["onboarded"] = "是" if record["onboarded"] else "否"
    return Corrupted(record, "invalid_field")


def corrupt_event(record: JsonRecord) -> Corrupted:
    choice = sum(map(ord, record["event_id"])) % 4
    if record["action"] == "created":
        if choice == 0:
            record["department"] = record["department"].split(".")[0] + ".xx"
            return Corrupted(record, "unknown_department")
        if choice == 1:
            record["division"] = _ABOLISHED_DIVISION
            return Corrupted(record, "unknown_division")
        if choice == 2 and "deadline" in record:
            at = datetime.fromisoformat(record["at"])
            record["deadline"] = rfc3339(at - timedelta(days=1))
            return Corrupted(record, "inconsistent_time")
        record["kind"] = "complain"
        return Corrupted(record, "invalid_field")
    if choice % 2 == 0:
        record["at"] = record["at"][:-6]  # the offset dropped by a producer
        return Corrupted(record, "invalid_field")
    record["kind"] = "complaint"  # not allowed on this action
    return Corrupted(record, "invalid_field")


def corrupt_inspection(record: JsonRecord) -> Corrupted:
    choice = sum(map(ord, record["record_id"])) % 5
    target = dict(record["target"])
    if choice == 0 and target["type"] in ("legal_person", "natural_person"):
        target["id"] = bad_check(target["id"])
        record["target"] = target
        code = "invalid_uscc" if target["type"] == "legal_person" else "invalid_resident_id"
        return Corrupted(record, code)
    if choice == 1:
        record["channel"] = "app"
        return Corrupted(record, "invalid_field")
    if choice == 2:
        record["division"] = _ABOLISHED_DIVISION
        return Corrupted(record, "unknown_division")
    if choice == 3:
        # A handset whose clock ran two days ahead; ingested right after the real time.
        at = datetime.fromisoformat(record["at"])
        record["at"] = rfc3339(at + timedelta(days=2))
        return Corrupted(record, "future_time", at + timedelta(seconds=30))
    record["department"] = "330200.scjg"
    return Corrupted(record, "unknown_department")


def corrupt_disclosure(record: JsonRecord) -> Corrupted:
    choice = sum(map(ord, record["disclosure_id"])) % 3
    if choice == 0:
        # `第` before the serial: what GB/T 9704 forbids and producers most often write.
        number = record["decision_no"]
        cut = max(number.rfind("〕"), number.rfind("]"), number.rfind("）")) + 1
        record["decision_no"] = number[:cut] + "第" + number[cut:]
        return Corrupted(record, "invalid_decision_no")
    if choice == 1:
        decided = date.fromisoformat(record["decided_at"])
        record["decided_at"] = (decided + timedelta(days=400)).isoformat()  # a year typed wrong
        return Corrupted(record, "inconsistent_time")
    record["division"] = _ABOLISHED_DIVISION
    return Corrupted(record, "unknown_division")


class Undecodable(NamedTuple):
    """A message no version can correct: the truth counts it as one inaccurate record."""

    value: bytes
    ingest_at: datetime


def gbk_item(item: PlannedItem, year: int) -> Undecodable:
    """A catalogue export that a tool wrote in GBK instead of UTF-8."""
    record = {
        "schema": "item/v1",
        "item_code": item.item_code,
        "name": item.name,
        "department": item.department,
    }
    value = json.dumps(record, ensure_ascii=False).encode("gbk")
    return Undecodable(value, datetime(year, 3, 14, 2, 0, tzinfo=TZ))


def truncated_event(year: int, events: int) -> Undecodable:
    """An event record cut off mid-field (`events`, the year's count, only varies its id)."""
    value = (
        f'{{"schema":"event/v1","event_id":"EV{year}0517000{events % 10}","action":"handled",'
        f'"at":"{year}-05-17T16:2'
    ).encode()
    return Undecodable(value, datetime(year, 5, 17, 16, 40, tzinfo=TZ))


def json_array(year: int) -> Undecodable:
    """A JSON array on the disclosure topic: a bulk export sent as one message by mistake."""
    return Undecodable(b'[{"schema":"disclosure/v1"}]', datetime(year, 9, 4, 11, 0, tzinfo=TZ))
