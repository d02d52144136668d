"""The planned entities as messages: one record per version or action, some first sent wrong.

A record first sent wrong is followed by its correction: the same record with the next `version`,
2 hours to 5 days later.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import NamedTuple

from seeds.scenario._emission.corruption import (
    Corruptor,
    Undecodable,
    corrupt_disclosure,
    corrupt_event,
    corrupt_inspection,
    corrupt_item,
)
from seeds.scenario._emission.outbox import Outbox
from seeds.scenario._emission.records import (
    JsonRecord,
    RecordVersion,
    disclosure_record,
    dumps,
    event_record,
    inspection_record,
    item_record,
    request_record,
)
from seeds.scenario._plan.model import (
    PlannedEvent,
    PlannedInspection,
    PlannedItem,
    PlannedRequest,
    Publication,
)


class _Errors(NamedTuple):
    """How often a stream's records are first sent wrong, and how."""

    rate: float
    corrupt: Corruptor | None


_EVENT_ERRORS = _Errors(0.004, corrupt_event)
_MOBILE_INSPECTION_ERRORS = _Errors(0.003, corrupt_inspection)
_FIRST_PUBLICATION_ERRORS = _Errors(0.005, corrupt_disclosure)
_NO_ERRORS = _Errors(0.0, None)


def items_sent_wrong(rng: random.Random, count: int, scale: float) -> set[int]:
    """Positions of the catalogue items whose first version is sent wrong: 3 (1 below scale 0.3)."""
    return set(rng.sample(range(count), k=3 if scale >= 0.3 else 1))


class _Sent(NamedTuple):
    """When the valid version of a record was ingested, and its `version`."""

    ingest_at: datetime
    version: int


class Writer:
    """Turns the plan's entities into messages in the outbox, keeping each disclosure's version."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._disclosure_versions: dict[str, int] = {}

    def item(self, rng: random.Random, item: PlannedItem, *, position: int, sent_wrong: bool) -> None:
        """Every version of the catalogue's `position`-th item, the first sent wrong first if `sent_wrong`."""
        version = 1
        for n, state in enumerate(item.versions):
            record = item_record(item, version, state)
            ingest = self._outbox.deliver_at(rng, state.at, None)
            if n == 0 and sent_wrong:
                wrong = corrupt_item(dict(record), position)
                self._outbox.send_erroneous(
                    "catalog",
                    item.item_code,
                    dumps(wrong.record),
                    ingest,
                    wrong.code,
                    record=RecordVersion.of("catalog", wrong.record),
                )
                version += 1
                record["version"] = version
                ingest += timedelta(hours=rng.randint(2, 72))
            self._outbox.send(
                "catalog",
                rng,
                item.item_code,
                dumps(record),
                ingest,
                record=RecordVersion.of("catalog", record),
            )
            version += 1

    def event(self, rng: random.Random, event: PlannedEvent) -> None:
        """One record per action, delivered from the responsible department's connector."""
        arrivals = []
        for action, at in event.actions():
            ingest = self._outbox.deliver_at(rng, at, event.responsible)
            record = event_record(event, action, at)
            sent = self._correctable("events", rng, event.event_id, record, ingest, errors=_EVENT_ERRORS)
            arrivals.append(sent.ingest_at)
        if arrivals != sorted(arrivals):
            self._outbox.facts["events_out_of_order"] += 1

    def inspection(self, rng: random.Random, inspection: PlannedInspection) -> None:
        item = inspection.item
        ingest = self._outbox.deliver_at(rng, inspection.at, item.department)
        errors = _MOBILE_INSPECTION_ERRORS if inspection.channel == "mobile" else _NO_ERRORS
        record = inspection_record(inspection)
        self._correctable("inspections", rng, item.item_code, record, ingest, errors=errors)

    def disclosure(self, rng: random.Random, publication: Publication) -> None:
        """The disclosure as it stands, as the version after the last one sent."""
        disclosure = publication.disclosure
        version = self._disclosure_versions.get(disclosure.disclosure_id, 0) + 1
        record = disclosure_record(disclosure, version)
        ingest = self._outbox.deliver_at(rng, publication.at, None)
        errors = _FIRST_PUBLICATION_ERRORS if publication.may_be_erroneous else _NO_ERRORS
        sent = self._correctable("disclosures", rng, disclosure.disclosure_id, record, ingest, errors=errors)
        self._disclosure_versions[disclosure.disclosure_id] = sent.version

    def request(self, rng: random.Random, request: PlannedRequest) -> None:
        """One record per step, keyed by the disclosure it concerns."""
        for action, at in request.steps:
            ingest = self._outbox.deliver_at(rng, at, None)
            record = request_record(request, action, at)
            self._outbox.send(
                "disclosure_requests",
                rng,
                request.disclosure_id,
                dumps(record),
                ingest,
                record=RecordVersion.of("disclosure_requests", record),
            )

    def undecodable(self, stream: str, message: Undecodable) -> None:
        self._outbox.send_undecodable(stream, message.value, message.ingest_at)

    def _correctable(
        self,
        stream: str,
        rng: random.Random,
        key: str,
        good: JsonRecord,
        ingest_at: datetime,
        *,
        errors: _Errors,
    ) -> _Sent:
        """Send `good`; with probability `errors.rate`, send a corrupted version first, then correct it."""
        corrupt = errors.corrupt
        # No corruptor, no draw: a stream without errors must not consume the random stream.
        if corrupt is None or rng.random() >= errors.rate:
            self._outbox.send(stream, rng, key, dumps(good), ingest_at, record=RecordVersion.of(stream, good))
            return _Sent(ingest_at, int(good["version"]))
        wrong = corrupt(dict(good))
        wrong.record["version"] = good["version"]
        first_ingest = wrong.ingest_at or ingest_at
        self._outbox.send_erroneous(
            stream,
            key,
            dumps(wrong.record),
            first_ingest,
            wrong.code,
            record=RecordVersion.of(stream, wrong.record),
        )
        corrected = dict(good)
        corrected["version"] = good["version"] + 1
        fixed_at = self._outbox.clamp(first_ingest + timedelta(seconds=int(7200 * (60 ** rng.random()))))
        self._outbox.send(
            stream,
            rng,
            key,
            dumps(corrected),
            max(fixed_at, first_ingest + timedelta(seconds=1)),
            record=RecordVersion.of(stream, corrected),
        )
        return _Sent(fixed_at, corrected["version"])
