"""A generated year as its users see it: the messages per stream and their truth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.streams import NAMES
from seeds.scenario._calendar import Calendar
from seeds.scenario._emission.records import RecordVersion
from seeds.scenario._lists import ScenarioLists, build_lists
from seeds.scenario._plan.model import Plan
from seeds.scenario._truth import compliance

#: Logical streams, in the order the demo creates and loads them.
#: The streams a scenario produces, by the names of daemon/streams.py.
STREAMS: tuple[str, ...] = NAMES


@dataclass(frozen=True, slots=True)
class ScenarioMessage:
    """One message as a producer sends it: key, raw value, and when the platform ingested it."""

    key: bytes | None
    value: bytes
    ingest_at: datetime


@dataclass(frozen=True)
class Scenario:
    """A generated year: the messages per logical stream (production order) and their true indicators."""

    seed: int
    year: int
    scale: float
    messages: dict[str, list[ScenarioMessage]]
    truth: dict[str, Any]
    #: stream -> message index -> the error code `schemas.decode` must reject that message with.
    erroneous: dict[str, dict[int, str]]
    #: the truth's "now": the first instant after the last message (without `until`, 1 March of the
    #: next year, when the year's traffic ends).
    as_of: datetime
    #: the instant the disclosures' lifecycle was carried to (`generate(until=...)`), if any.
    until: datetime | None = None
    _plan: Plan | None = field(repr=False, default=None)
    _calendar: Calendar | None = field(repr=False, default=None)
    #: stream -> message index -> the record that message is a version of (None: it is no record).
    _records: dict[str, tuple[RecordVersion | None, ...]] = field(repr=False, default_factory=dict)

    def kafka_messages(self, stream: str) -> Iterator[tuple[bytes | None, bytes, int]]:
        """`(key, value, timestamp_ms)` of `stream`, with the ingestion time as the Kafka timestamp."""
        for message in self.messages[stream]:
            yield message.key, message.value, int(message.ingest_at.timestamp() * 1000)

    @property
    def never_withdrawn(self) -> frozenset[str]:
        """With `until`: the year's results planted never to be withdrawn after their publicity period."""
        plan, _ = self._built()
        return frozenset(plan.never_withdrawn)

    def compliance_at(self, now: datetime) -> dict[str, Any]:
        """`disclosure_compliance_rate` of the year's disclosures at `now` (≥ `as_of`): overall and groups."""
        plan, calendar = self._built()
        return compliance((*plan.disclosures, *plan.legacy), self.year, now, calendar)

    def lists(self, at: datetime) -> ScenarioLists:
        """The drill-down lists of docs/contract.md §13 after every message, judged at `at` ("now").

        The state is always the one after the last message, whatever `at` is; `at` (timezone-aware)
        only decides which open events are overdue and which withdrawal limits have passed.  An
        uncorrected error is named by its message's index in `messages[stream]`; where a record's
        latest version was sent erroneous twice (a duplicate), by the first copy's index.
        """
        plan, calendar = self._built()
        return build_lists(plan, self._records, self.erroneous, calendar, at)

    def _built(self) -> tuple[Plan, Calendar]:
        if self._plan is None or self._calendar is None:
            raise RuntimeError("this Scenario was not built by generate()")
        return self._plan, self._calendar


def write_jsonl(scenario: Scenario, out_dir: Path) -> dict[str, Path]:
    """One ``<stream>.jsonl`` per stream in `out_dir`, one raw message value per line, production order.

    Values are written byte for byte (a malformed message stays malformed); none contains a newline.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for stream in STREAMS:
        path = out_dir / f"{stream}.jsonl"
        with path.open("wb") as handle:
            for message in scenario.messages[stream]:
                if b"\n" in message.value:
                    raise ValueError(f"a {stream} message contains a newline and cannot be one JSONL line")
                handle.write(message.value + b"\n")
        paths[stream] = path
    return paths
