"""The JSON record of each planned thing, field for field as its producer writes it.

Field order is part of the bytes a seed produces: change it and every digest changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from seeds.scenario._calendar import rfc3339
from seeds.scenario._plan.model import (
    ItemVersion,
    PlannedDisclosure,
    PlannedEvent,
    PlannedInspection,
    PlannedItem,
    PlannedRequest,
)

#: A record as sent: JSON values, some of them deliberately wrong (see `corruption`).
JsonRecord = dict[str, Any]

# The fields of each stream's record key (docs/contract.md §3): each action of an event or of a
# request is a record of its own.
_RECORD_KEY_FIELDS = {
    "catalog": ("item_code",),
    "events": ("event_id", "action"),
    "inspections": ("record_id",),
    "disclosures": ("disclosure_id",),
    "disclosure_requests": ("request_id", "action"),
}


class RecordVersion(NamedTuple):
    """Which record a message is a version of: its record key (docs/contract.md §3) and `version`."""

    key: tuple[str, ...]
    version: int

    @classmethod
    def of(cls, stream: str, record: JsonRecord) -> RecordVersion:
        return cls(tuple(str(record[f]) for f in _RECORD_KEY_FIELDS[stream]), int(record["version"]))


def dumps(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def item_record(item: PlannedItem, version: int, state: ItemVersion) -> JsonRecord:
    return {
        "schema": "item/v1",
        "version": version,
        "item_code": item.item_code,
        "name": item.name,
        "department": item.department,
        "at": rfc3339(state.at),
        "double_random": item.double_random,
        "onboarded": state.onboarded,
        "active": state.active,
    }


def event_record(event: PlannedEvent, action: str, at: datetime) -> JsonRecord:
    """The record of one action; only `created` and `reassigned` carry fields of their own."""
    record: JsonRecord = {
        "schema": "event/v1",
        "version": 1,
        "event_id": event.event_id,
        "action": action,
        "at": rfc3339(at),
    }
    if action == "created":
        record.update(kind=event.kind, department=event.department, division=event.division)
        if event.item_code:
            record["item_code"] = event.item_code
        if event.deadline:
            record["deadline"] = rfc3339(event.deadline)
    elif action == "reassigned" and event.reassigned is not None:
        record["department"] = event.reassigned.department
        if event.reassigned.deadline:
            record["deadline"] = rfc3339(event.reassigned.deadline)
    return record


def inspection_record(inspection: PlannedInspection) -> JsonRecord:
    return {
        "schema": "inspection/v1",
        "version": 1,
        "record_id": inspection.record_id,
        "item_code": inspection.item.item_code,
        "department": inspection.item.department,
        "division": inspection.division,
        "at": rfc3339(inspection.at),
        "channel": inspection.channel,
        "double_random_task": inspection.task,
        "target": dict(inspection.target),
        "inspectors": list(inspection.inspectors),
        "result": inspection.result,
    }


def disclosure_record(disclosure: PlannedDisclosure, version: int) -> JsonRecord:
    return {
        "schema": "disclosure/v1",
        "version": version,
        "disclosure_id": disclosure.disclosure_id,
        "decision_no": disclosure.decision_no,
        "department": disclosure.department,
        "division": disclosure.division,
        "decided_at": disclosure.decided.isoformat(),
        "published_at": rfc3339(disclosure.published_at),
        "procedure": disclosure.procedure,
        "severity": disclosure.severity,
        "party": dict(disclosure.party),
        "content": disclosure.content,
        "publicity_until": None
        if disclosure.publicity_until is None
        else disclosure.publicity_until.isoformat(),
        "status": disclosure.status,
        "withdrawn_at": None if disclosure.withdrawn_at is None else rfc3339(disclosure.withdrawn_at),
        "revoked_at": None if disclosure.revoked_at is None else rfc3339(disclosure.revoked_at),
    }


def request_record(request: PlannedRequest, action: str, at: datetime) -> JsonRecord:
    return {
        "schema": "disclosure-request/v1",
        "version": 1,
        "request_id": request.request_id,
        "disclosure_id": request.disclosure_id,
        "action": action,
        "at": rfc3339(at),
        "kind": request.kind,
        "reason": request.reason,
        "department": request.department,
        "batch_id": request.batch_id,
    }
