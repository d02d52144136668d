"""The drill-down lists of docs/contract.md §13 as they must come out of the year: the generator's own.

Like `_truth`, derived from the plan, never by running the daemon's code, so a test can compare
`svmon list …` with them.  The plan knows each entity's fate; the emission adds only what the plan
cannot know: which message is which version of which record (`RecordVersion`), so that a record whose
latest version was sent erroneous (docs/contract.md §5) is named by its message, and is left out of
the entities built on it (an event whose `created` is erroneous is no event yet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from seeds.scenario._calendar import Calendar
from seeds.scenario._emission.records import RecordVersion
from seeds.scenario._plan.events import default_deadline
from seeds.scenario._plan.model import Plan, PlannedEvent, Reassignment
from seeds.scenario._truth import violations

#: (stream, record key): a record as docs/contract.md §3 identifies it within its stream.
_RecordId = tuple[str, tuple[str, ...]]
_Key = TypeVar("_Key", str, tuple[str, int])
_Value = TypeVar("_Value")


class OpenEvent(NamedTuple):
    """An open event as docs/contract.md §3.1 derives it: who answers for it, where, what, by when."""

    department: str
    division: str
    kind: str
    deadline: datetime
    #: its `created.at`, which decides its cohort (docs/contract.md §4).
    created_at: datetime


class PublishedDisclosure(NamedTuple):
    """A disclosure whose latest version is valid and `published`; `decided_at` decides its period."""

    department: str
    division: str
    decided_at: date


class OpenRequest(NamedTuple):
    """A withdrawal or modification request submitted and neither executed nor rejected."""

    department: str
    kind: str
    reason: str
    #: its `submitted.at`, which decides its period (docs/contract.md §4).
    submitted_at: datetime


@dataclass(frozen=True)
class ScenarioLists:
    """What each `svmon list` must show after every message of the scenario, judged at `at`.

    Every mapping is read-only and sorted by its key.
    """

    #: the instant the lists are judged at ("now").
    at: datetime
    #: event_id -> the event, for every event whose status is `open`.
    open_events: Mapping[str, OpenEvent]
    #: the ids of the open events whose deadline is before `at`.
    overdue_events: frozenset[str]
    #: disclosure_id -> the disclosure, for every disclosure (of any year) currently published.
    published_disclosures: Mapping[str, PublishedDisclosure]
    #: disclosure_id -> its violation codes (docs/contract.md §7), for the published ones with any.
    violating_disclosures: Mapping[str, frozenset[str]]
    #: request_id -> the request, for every open withdrawal/modification request.
    open_requests: Mapping[str, OpenRequest]
    #: (stream, message index) -> the error code planted in that message, for every record whose
    #: latest version is erroneous and every message that is no record at all (see `build_lists`).
    uncorrected_errors: Mapping[tuple[str, int], str]


def build_lists(
    plan: Plan,
    records: Mapping[str, Sequence[RecordVersion | None]],
    erroneous: Mapping[str, Mapping[int, str]],
    calendar: Calendar,
    at: datetime,
) -> ScenarioLists:
    """The lists after every message of `records` (stream -> message index -> record), judged at `at`.

    An uncorrected error is named by the index of its message in the stream; when the latest
    version of a record was sent erroneous more than once (a duplicate), by the first copy's index.
    """
    if at.utcoffset() is None:
        raise ValueError(f"`at` must be timezone-aware, got {at!r}")
    errors = _uncorrected_errors(records, erroneous)
    invalid: set[_RecordId] = set()
    for stream, index in errors:
        record = records[stream][index]
        if record is not None:
            invalid.add((stream, record.key))
    open_events = _open_events(plan, invalid, calendar)
    published: dict[str, PublishedDisclosure] = {}
    violating: dict[str, frozenset[str]] = {}
    for disclosure in (*plan.disclosures, *plan.legacy):
        # Every message is ingested before the scenario ends, so the plan's last state is the
        # disclosure's latest version.
        if disclosure.status != "published" or ("disclosures", (disclosure.disclosure_id,)) in invalid:
            continue
        published[disclosure.disclosure_id] = PublishedDisclosure(
            disclosure.department, disclosure.division, disclosure.decided
        )
        found = violations(disclosure, at, calendar)
        if found:
            violating[disclosure.disclosure_id] = frozenset(found)
    return ScenarioLists(
        at=at,
        open_events=_frozen(open_events),
        overdue_events=frozenset(i for i, event in open_events.items() if event.deadline < at),
        published_disclosures=_frozen(published),
        violating_disclosures=_frozen(violating),
        open_requests=_frozen(_open_requests(plan, invalid)),
        uncorrected_errors=_frozen(errors),
    )


def _uncorrected_errors(
    records: Mapping[str, Sequence[RecordVersion | None]], erroneous: Mapping[str, Mapping[int, str]]
) -> dict[tuple[str, int], str]:
    """Messages that are no record, and the first erroneous copy of each record's latest version.

    A record is corrected once any valid message carries its highest version; an equal or lower
    version after it is a duplicate or stale (docs/contract.md §3).
    """
    found: dict[tuple[str, int], str] = {}
    for stream, sent in records.items():
        planted = erroneous[stream]
        # record key -> (its highest version so far, that version's first erroneous copy or None
        # once a valid copy of it was sent).
        latest: dict[tuple[str, ...], tuple[int, int | None]] = {}
        for index, record in enumerate(sent):
            if record is None:
                found[(stream, index)] = planted[index]
                continue
            seen = latest.get(record.key)
            if seen is None or record.version > seen[0]:
                latest[record.key] = (record.version, index if index in planted else None)
            elif record.version == seen[0] and index not in planted:
                latest[record.key] = (record.version, None)
        for _, first_copy in latest.values():
            if first_copy is not None:
                found[(stream, first_copy)] = planted[first_copy]
    return found


def _open_events(plan: Plan, invalid: set[_RecordId], calendar: Calendar) -> dict[str, OpenEvent]:
    """docs/contract.md §3.1 applied to the valid records of each planned event."""
    found: dict[str, OpenEvent] = {}
    for event in plan.events:
        valid = {
            action for action, _ in event.actions() if ("events", (event.event_id, action)) not in invalid
        }
        if "created" not in valid or valid & {"handled", "cancelled"}:
            continue
        reassigned = event.reassigned if "reassigned" in valid else None
        found[event.event_id] = OpenEvent(
            department=reassigned.department if reassigned else event.department,
            division=event.division,
            kind=event.kind,
            deadline=_deadline(event, reassigned, calendar),
            created_at=event.created,
        )
    return found


def _deadline(event: PlannedEvent, reassigned: Reassignment | None, calendar: Calendar) -> datetime:
    """The valid `reassigned` record's deadline, else `created`'s, else the kind's default."""
    if reassigned is not None and reassigned.deadline is not None:
        return reassigned.deadline
    return event.deadline or default_deadline(calendar, event.kind, event.created)


def _open_requests(plan: Plan, invalid: set[_RecordId]) -> dict[str, OpenRequest]:
    found: dict[str, OpenRequest] = {}
    for request in plan.requests:
        valid = {
            step.action: step.at
            for step in request.steps
            if ("disclosure_requests", (request.request_id, step.action)) not in invalid
        }
        if "submitted" not in valid or valid.keys() & {"executed", "rejected"}:
            continue
        found[request.request_id] = OpenRequest(
            request.department, request.kind, request.reason, valid["submitted"]
        )
    return found


def _frozen(mapping: Mapping[_Key, _Value]) -> Mapping[_Key, _Value]:
    return MappingProxyType(dict(sorted(mapping.items())))
