"""When each message reaches the platform, and how often: delivery delays, an outage, duplicates.

Messages are queued per stream in the order they are written; `delivered` gives them in ingestion
order (ties kept in writing order), which is the order the demo produces them in.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from seeds.scenario._calendar import TZ
from seeds.scenario._emission.records import RecordVersion
from seeds.scenario._scenario import STREAMS


class Queued(NamedTuple):
    ingest_at: datetime
    #: position in writing order, across all streams: breaks ties between equal ingestion times.
    order: int
    key: bytes | None
    value: bytes
    #: the error code the decoder must reject this message with, None for a valid message.
    error: str | None
    #: the record this message is a version of; None for a message that is no record at all.
    record: RecordVersion | None


class Outbox:
    """The written messages of every stream, and what delivery did to them (`facts`)."""

    def __init__(self, year: int, as_of: datetime) -> None:
        self._as_of = as_of
        # 宁海县综合行政执法局's connector was down for a week in June.
        self._outage = ("330226.zhzfj", date(year, 6, 12), date(year, 6, 16))
        self._queued: dict[str, list[Queued]] = {stream: [] for stream in STREAMS}
        self._written = 0
        self.facts: Counter[str] = Counter()
        #: ingestion times of the messages that never decode.
        self.undecodable: list[datetime] = []

    def deliver_at(self, rng: random.Random, latest: datetime, department: str | None) -> datetime:
        """When a record whose latest event-time is `latest` reaches the platform."""
        outage_department, first, last = self._outage
        if department == outage_department and first <= latest.date() <= last:
            # Delivered in one burst on the morning three days after the outage (in 2023, the next Monday).
            self.facts["outage_delivered"] += 1
            return datetime.combine(last + timedelta(days=3), time(10, 0), TZ) + timedelta(
                seconds=rng.randrange(600)
            )
        if latest >= self._as_of - timedelta(seconds=1):
            raise AssertionError(f"planned a record after the scenario's end: {latest}")
        if rng.random() < 0.03:
            self.facts["late"] += 1
            return self.clamp(latest + timedelta(seconds=int(3600 * (168 ** rng.random()))))
        return self.clamp(latest + timedelta(seconds=rng.randint(1, 180)))

    def clamp(self, moment: datetime) -> datetime:
        """Nothing is ingested at or after `as_of`: the truth's "now" must see every message."""
        return min(moment, self._as_of - timedelta(seconds=1))

    def send(
        self,
        stream: str,
        rng: random.Random,
        key: str | None,
        value: bytes,
        ingest_at: datetime,
        *,
        record: RecordVersion,
    ) -> None:
        """A valid message, a version of `record`; 1% are delivered again (same bytes) 1 s to 2 days later."""
        encoded_key = self._queue(stream, key, value, ingest_at, error=None, record=record)
        if rng.random() < 0.01:
            again = max(ingest_at, self.clamp(ingest_at + timedelta(seconds=int(172800 ** rng.random()))))
            self._queued[stream].append(Queued(again, self._next(), encoded_key, value, None, record))
            self.facts[f"duplicates.{stream}"] += 1

    def send_erroneous(
        self, stream: str, key: str, value: bytes, ingest_at: datetime, code: str, *, record: RecordVersion
    ) -> None:
        """A message, a version of `record`, that must be rejected with `code`; never duplicated."""
        self._queue(stream, key, value, ingest_at, error=code, record=record)
        self.facts[f"errors.{stream}.{code}"] += 1

    def send_undecodable(self, stream: str, value: bytes, ingest_at: datetime) -> None:
        """A message that is not a record at all: no key, rejected as `malformed`."""
        self._queue(stream, None, value, ingest_at, error="malformed", record=None)
        self.facts["malformed"] += 1
        self.undecodable.append(ingest_at)

    def delivered(self, stream: str) -> list[Queued]:
        """The stream's messages in ingestion order."""
        return sorted(self._queued[stream], key=lambda q: (q.ingest_at, q.order))

    def _queue(
        self,
        stream: str,
        key: str | None,
        value: bytes,
        ingest_at: datetime,
        *,
        error: str | None,
        record: RecordVersion | None,
    ) -> bytes | None:
        encoded_key = None if key is None else key.encode()
        self._queued[stream].append(Queued(ingest_at, self._next(), encoded_key, value, error, record))
        return encoded_key

    def _next(self) -> int:
        self._written += 1
        return self._written
