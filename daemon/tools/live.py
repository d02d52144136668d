"""Live traffic for `svmon demo --live`: current records, at the real "now", with the platform's rhythm.

`LiveTraffic.due(now)` returns every message whose time has come since the previous call, as the
five input streams' producers would send them; the demo produces them (`Outgoing.stream` is a
stream name of `daemon.streams`, which the demo maps to its topic).  Nothing here reads a clock or
talks to Kafka: "now" is handed in, so a test can run a simulated day in a second.

What it produces
    * events (`event/v1`): created, signed (97 %), some reassigned (3 %, 退回改派) and signed again,
      handled, a few cancelled (1 %).  Kinds complaint 45 %, risk_warning 20 %, clue 20 %,
      collaborative 15 %; 60 % carry an explicit deadline (17:30 of the 2nd-10th working day), the
      rest rely on the defaults of docs/contract.md §6 (``sla_working_days``).  About 35 % are
      handled within three hours, the rest in office hours on a working day up to the deadline;
      about 2.5 % are handled late, 1-3 working days after it (never more than 1 in 25 of a
      department's events of a month, so that normal traffic keeps every department on target).
    * inspections (`inspection/v1`), 1.5 per event: 40 % under a 双随机 task on an active 双随机
      item; mobile (掌上执法) except a rare ``pc``/``paper`` one, allowed only while the department's
      month stays at ≥ 99 % mobile.
    * the catalogue (`item/v1`): a load of its own items at the start (2.5 per event of a busy hour,
      at least 40; 40 % 双随机, 97 % onboarded), then new items, onboardings and deactivations.
    * penalty disclosures (`disclosure/v1`), 0.1 per event: decided today (the first of each day
      always) or up to 5 working days ago, a few published late (at most 1 in 25 of a month); and
      withdraw/modify requests (`disclosure-request/v1`), 0.04 per event, submitted -> approved ->
      executed (or rejected) within two or three hours, each executed one re-publishing its
      disclosure withdrawn (or corrected).
    * erroneous records: about one live record in 65 is first sent wrong, with one of the error
      codes of docs/contract.md §5 (the scenario's corruptions: unknown department or division, a
      bad check digit, a timestamp without offset, a field not allowed for the action,
      contradictory times, a device clock days ahead, a non-standard decision number), and
      corrected by ``version`` + 1 one to five minutes later.  `Outgoing.error` names the code svmon
      must reject it with.

Rhythm (Asia/Shanghai, `WorkingCalendar` for working days)
    ``events_per_working_hour`` is the rate of created events in a busy office hour of a working
    day; the hours follow the scenario's event curve (peaks 9-11 and 14-17, a thin night).  A
    weekend day has 0.25 of a working day's events and 0.06 of its inspections, a statutory holiday
    (chinese-calendar) 0.12 and 0.03; disclosures, requests and catalogue changes happen in office
    hours of working days only.  Events and inspections never fall below 2 an hour each, so no
    hour is ever silent (bar the ``silent-topic`` incident).  Arrivals are counted, not drawn: a
    per-stream accumulator gains the rate every minute, so the volume of an hour is exact.

Warm-up
    At ``start`` the generator has already lived through the past: the events of the last 19
    working days whose life is not over yet (the open stock: some overdue), and everything since
    the start of the previous working day (at least the last 6 hours).  The first `due` returns
    them, each record with its own past event time and ``start`` as its Kafka timestamp: late
    delivery, never ``future_time``.
    Then, so that the first minutes show every figure: 2 overdue events are handled (late) and 2
    events on time within the first 8 and 5 minutes, three results whose publicity has ended get
    withdrawal requests (one submitted today and executed within 4 minutes), and one disclosure
    published late.  And whatever the hour (a night, a holiday, 00:01 of a new year), today's
    figures start within 4 minutes: an event created and handled at once, an inspection, a decision
    of today published, and one erroneous inspection (corrected 1-5 minutes later).

Incidents (`daemon.tools.incidents`)
    `due` follows the registry's log of starts and stops; what each incident changes is described
    there.  Incidents draw from a random stream of their own, so the rest of the traffic is the
    same with or without them.

Determinism
    The same seed, rate, ``start`` and calendar give the same messages, however `due` is called:
    everything is planned minute by minute in time order from one random stream, and `due` only
    hands out what is planned.  Identifiers carry a tag of ``start`` (its minute, base 36), so two
    runs never reuse an identifier.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Final

import chinese_calendar

from daemon import streams
from daemon.core.calendar import WorkingCalendar
from daemon.tools.incidents import BAD_RELEASE, EXPOSED_ID, SILENT_TOPIC, STALLED_DEPARTMENT, Incidents
from schemas.registry import Department, Registry
from seeds.scenario._calendar import TZ, add_months
from seeds.scenario._emission.corruption import (
    Corrupted,
    corrupt_disclosure,
    corrupt_event,
    corrupt_inspection,
    corrupt_item,
)
from seeds.scenario._emission.records import (
    JsonRecord,
    disclosure_record,
    dumps,
    event_record,
    inspection_record,
    item_record,
    request_record,
)
from seeds.scenario._identifiers import bad_check, resident_id, uscc
from seeds.scenario._plan.departments import decision_prefix, profile
from seeds.scenario._plan.model import (
    ItemVersion,
    PlannedDisclosure,
    PlannedEvent,
    PlannedInspection,
    PlannedItem,
    PlannedRequest,
    Reassignment,
    RequestStep,
)
from seeds.scenario._plan.rhythm import EVENT_HOURS
from seeds.scenario._plan.wording import decision_text, party

__all__ = ["DEFAULT_SLA_WORKING_DAYS", "KnownItem", "LiveTraffic", "Outgoing", "known_items"]

DEFAULT_SLA_WORKING_DAYS: Final[Mapping[str, int]] = {
    "risk_warning": 3,
    "collaborative": 5,
    "complaint": 7,
    "clue": 15,
}
_KINDS: Final = ("risk_warning", "collaborative", "complaint", "clue")
_KIND_WEIGHTS: Final = (20, 15, 45, 20)
_SLOT_S: Final = 60
# Per hour of the day, relative to a busy office hour (1.0).
_EVENT_HOURS: Final = tuple(weight / max(EVENT_HOURS) for weight in EVENT_HOURS)
_INSPECTION_HOURS: Final = (
    *(0.0,) * 7,
    *(0.05, 0.5, 1.0, 1.0, 0.9, 0.3, 0.6, 1.0, 1.0, 0.9, 0.4, 0.1, 0.05, 0.03),
    *(0.0,) * 3,
)
_OFFICE_HOURS: Final = (*(0.0,) * 8, 0.5, 1.0, 1.0, 0.8, 0.2, 0.6, 1.0, 1.0, 0.8, 0.3, *(0.0,) * 6)
# flow -> (share of the event rate, hour weights, weekend factor, holiday factor, floor per hour)
_FLOWS: Final[Mapping[str, tuple[float, tuple[float, ...], float, float, float]]] = {
    "events": (1.0, _EVENT_HOURS, 0.25, 0.12, 2.0),
    "inspections": (1.5, _INSPECTION_HOURS, 0.06, 0.03, 2.0),
    "disclosures": (0.1, _OFFICE_HOURS, 0.0, 0.0, 0.0),
    "disclosure_requests": (0.04, _OFFICE_HOURS, 0.0, 0.0, 0.0),
    "catalog": (0.05, _OFFICE_HOURS, 0.0, 0.0, 0.0),
}
# How far back the open stock reaches, beyond the longest deadline: late handling (3 working days)
# and a margin.
_LOOKBACK_MARGIN_WORKING_DAYS: Final = 4
_HISTORY_AT_LEAST: Final = timedelta(hours=6)
_PUBLICITY_MONTHS: Final = {"minor": 3, "general": 12, "serious": 36}
_RESULTS: Final = ("compliant", "non_compliant", "target_not_found", "other")
# One late event (or disclosure) per this many of its month at most; one non-mobile inspection per
# this many of the department's month at most.
_LATE_ONE_IN: Final = 25
_NOT_MOBILE_ONE_IN: Final = 100
# Incidents: a stalled department closes one overdue event every 2 s, each `created` delivered
# three minutes before its `handled`; a bad release sends 20 erroneous records every 3 s.
_STALL_EVERY_S: Final = 2.0
_STALL_QUEUE_S: Final = 180.0
_FLOOD_EVERY_S: Final = 3.0
_FLOOD_BURST: Final = 20
_FLOOD_OFFLINE_RECORDS: Final = 30
_MESSAGE_KEY: Final = {stream.name: stream.record.MESSAGE_KEY_FIELD for stream in streams.STREAMS}

# Job tags: what the producer loop must look at when a job's time comes.
_HANDLED: Final = "handled"
_BACKLOG: Final = "backlog"
_STALL_TICK: Final = "stall-tick"
_FLOOD_TICK: Final = "flood-tick"


@dataclass(frozen=True)
class Outgoing:
    """One message to produce: its stream (daemon.streams name), key, value and Kafka timestamp.

    ``error`` is the error code svmon must reject it with, for the planted erroneous records; None
    for every record meant to be valid.
    """

    stream: str
    key: bytes
    value: bytes
    timestamp_ms: int
    error: str | None = None


@dataclass(frozen=True)
class KnownItem:
    """A catalogue item that exists already (the generated year's): live inspections may inspect it."""

    item_code: str
    department: str
    double_random: bool


def known_items(values: Iterable[bytes]) -> list[KnownItem]:
    """The active items of a catalogue's raw `item/v1` messages, latest version of each code.

    For the demo, which hands the generated year's catalogue to `LiveTraffic` so that live
    inspections also cover its 双随机 items; values that are not a well-formed item are skipped.
    """
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for value in values:
        try:
            record = json.loads(value)
        except (UnicodeDecodeError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("schema") != "item/v1":
            continue
        code, version = record.get("item_code"), record.get("version", 1)
        if not isinstance(code, str) or not isinstance(version, int):
            continue
        if code not in latest or latest[code][0] < version:
            latest[code] = (version, record)
    return [
        KnownItem(code, str(record["department"]), record.get("double_random") is True)
        for code, (_, record) in latest.items()
        if record.get("active") is True and isinstance(record.get("department"), str)
    ]


@dataclass(eq=False)
class _Event:
    """A planned event with what the producer loop needs: who answers for it, when it is handled."""

    plan: PlannedEvent
    responsible: str
    late: bool
    handled_job: _Job | None = None


@dataclass(eq=False)
class _Job:
    """One message due at `due` (seconds), or a tick of an incident; `cancelled` ones are skipped."""

    due: float
    stream: str
    record: JsonRecord
    error: str | None = None
    tag: str = ""
    event: _Event | None = None
    cancelled: bool = False


@dataclass
class _Incident:
    """What an active incident holds: since when, its tick, and what it keeps back."""

    since: float
    tick: _Job | None = None
    held: list[_Job] = field(default_factory=list)
    queued: list[_Job] = field(default_factory=list)
    # bad-release: (erroneous record, its correction) per rejected upload.
    pool: list[tuple[JsonRecord, str, JsonRecord]] = field(default_factory=list)
    cursor: int = 0
    disclosure: PlannedDisclosure | None = None


def _epoch(moment: datetime) -> float:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: give the time zone")
    return moment.timestamp()


def _moment(seconds: float) -> datetime:
    """The whole second at or before `seconds`, in +08:00 (records carry seconds)."""
    return datetime.fromtimestamp(math.floor(seconds), TZ)


def _on(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), TZ)


def _tag(start: float) -> str:
    """Five base-36 characters of the start minute: identifiers of two runs never collide."""
    minute = int(start // 60) % 36**5
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    for _ in range(5):
        minute, digit = divmod(minute, 36)
        text = digits[digit] + text
    return text


class _Rhythm:
    """Rates per hour of each flow, from the working-day calendar; memoised per day and hour."""

    def __init__(self, calendar: WorkingCalendar, events_per_working_hour: float) -> None:
        self.calendar = calendar
        self.rate = events_per_working_hour
        self._days: dict[date, str] = {}
        self._rates: dict[tuple[str, int], float] = {}  # (flow, hour since the epoch in +08:00)

    def day_kind(self, day: date) -> str:
        """``working``, ``holiday`` (a statutory one, per chinese-calendar) or ``weekend``."""
        kind = self._days.get(day)
        if kind is None:
            kind = "working" if self.calendar.is_working_day(day) else self._rest_kind(day)
            self._days[day] = kind
        return kind

    @staticmethod
    def _rest_kind(day: date) -> str:
        try:
            is_holiday, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            return "weekend"
        return "holiday" if is_holiday and name is not None else "weekend"

    def per_hour(self, flow: str, seconds: float) -> float:
        """The rate of `flow` per hour in the Asia/Shanghai hour containing Unix time `seconds`."""
        key = (flow, int((seconds + 8 * 3600) // 3600))
        rate = self._rates.get(key)
        if rate is None:
            moment = _moment(seconds)
            share, hours, weekend, holiday, floor = _FLOWS[flow]
            factor = {"working": 1.0, "weekend": weekend, "holiday": holiday}[self.day_kind(moment.date())]
            rate = max(self.rate * share * hours[moment.hour] * factor, floor)
            self._rates[key] = rate
        return rate


class LiveTraffic:
    """See the module docstring."""

    def __init__(
        self,
        registry: Registry,
        calendar: WorkingCalendar,
        *,
        seed: int,
        events_per_working_hour: float,
        start: datetime,
        incidents: Incidents,
        known: Sequence[KnownItem] = (),
        sla_working_days: Mapping[str, int] | None = None,
        publish_within_working_days: int = 7,
    ) -> None:
        if not (math.isfinite(events_per_working_hour) and events_per_working_hour > 0):
            raise ValueError(f"events_per_working_hour must be positive, got {events_per_working_hour}")
        for department in (
            incidents.stalled_department,
            incidents.exposed_department,
            incidents.flood_department,
        ):
            if department not in registry.departments:
                raise ValueError(f"incident department {department} is not in the registry")
        self.registry = registry
        self.calendar = calendar
        self.incidents = incidents
        self._sla = {**DEFAULT_SLA_WORKING_DAYS, **(sla_working_days or {})}
        self._publish_within = publish_within_working_days
        self._start = _epoch(start)
        # Deterministic demo traffic, not secrets: a seeded generator is the point.
        self._rng = random.Random(f"live:{seed}:plan")  # noqa: S311
        self._irng = random.Random(f"live:{seed}:incidents")  # noqa: S311
        self._rhythm = _Rhythm(calendar, events_per_working_hour)
        self._tag = _tag(self._start)
        self._serials: dict[str, Iterator[int]] = {}
        self._queue: list[tuple[float, int, _Job]] = []
        self._seq = itertools.count()
        self._departments = tuple(registry.departments.values())
        self._districts = tuple(code for code in registry.divisions if code != "330200")
        self._weights = {
            flow: [float(getattr(profile(d), flow)) for d in self._departments]
            for flow in ("events", "disclosures", "items")
        }
        self._cumulative = {flow: list(itertools.accumulate(w)) for flow, w in self._weights.items()}
        self._accumulators = {flow: self._rng.random() for flow in _FLOWS}
        self._until_error = self._rng.randint(1, 4)
        self._counts: Counter[tuple[str, ...]] = Counter()
        self._items: dict[str, tuple[PlannedItem, int]] = {}  # live items: item, latest version
        self._pool: list[PlannedItem] = []  # active items that inspections pick from
        self._pool_weights: list[float] | None = None
        self._double_random: list[PlannedItem] | None = None
        self._by_department: dict[str, list[str]] | None = None
        self._spans: dict[tuple[date, date], list[date]] = {}
        self._requestable: list[PlannedDisclosure] = []
        self._disclosure_versions: dict[str, int] = {}
        self._decided_today: set[date] = set()
        self._cursor = 0
        self._active: dict[str, _Incident] = {}
        self._warm: dict[str, list[_Event]] = {"late": [], "on_time": []}
        self._warming = True
        self._history_start = self._start
        self._next_slot = int(self._start // _SLOT_S)
        self._planners: Mapping[str, Callable[[datetime], None]] = {
            "events": self._plan_event,
            "inspections": self._plan_inspection,
            "disclosures": self._plan_disclosure,
            "disclosure_requests": self._plan_request,
            "catalog": self._plan_catalog_change,
        }
        self._add_known(known)
        self._warm_up(start)
        self._warming = False

    # --- the producer loop's side ---------------------------------------------------------------

    def due(self, now: datetime) -> list[Outgoing]:
        """Every message whose time has come since the last call (none before ``start``), in time order.

        Kafka timestamps are never after `now`; incidents started or stopped since the last call
        take effect from `now`.
        """
        t = _epoch(now)
        if t < self._start:
            return []
        self._follow_incidents(t)
        self._plan_until(t)
        out: list[Outgoing] = []
        while self._queue and self._queue[0][0] <= t:
            _, _, job = heapq.heappop(self._queue)
            self._deliver(job, out)
        return out

    def _deliver(self, job: _Job, out: list[Outgoing]) -> None:
        """Hand out one job, unless an incident holds it back, changes it, or it is a tick."""
        if job.cancelled:
            return
        if job.tag == _STALL_TICK:
            self._stall_tick(job)
            return
        if job.tag == _FLOOD_TICK:
            self._flood_tick(job)
            return
        silent = self._active.get(SILENT_TOPIC)
        if silent is not None and job.stream == self.incidents.silent_stream and job.due >= silent.since:
            silent.held.append(job)
            return
        stall = self._active.get(STALLED_DEPARTMENT)
        if (
            stall is not None
            and job.tag == _HANDLED
            and job.due >= stall.since
            and job.event is not None
            and job.event.responsible == self.incidents.stalled_department
        ):
            stall.held.append(job)
            return
        flood = self._active.get(BAD_RELEASE)
        if (
            flood is not None
            and job.stream == "inspections"
            and job.due >= flood.since
            and job.error is None
            and job.record["department"] == self.incidents.flood_department
        ):
            job = self._spoiled_by_release(flood, job)
        out.append(self._outgoing(job))

    def _outgoing(self, job: _Job) -> Outgoing:
        key = str(job.record[_MESSAGE_KEY[job.stream]]).encode()
        return Outgoing(job.stream, key, dumps(job.record), math.floor(job.due * 1000), job.error)

    def _schedule(self, job: _Job) -> _Job:
        heapq.heappush(self._queue, (job.due, next(self._seq), job))
        return job

    def _serial(self, name: str) -> int:
        counter = self._serials.get(name)
        if counter is None:
            counter = self._serials[name] = itertools.count(1)
        return next(counter)

    def _push(
        self,
        at: datetime,
        stream: str,
        record: JsonRecord,
        *,
        tag: str = "",
        event: _Event | None = None,
        plantable: bool = False,
        corrupt: Callable[[JsonRecord], Corrupted] | None = None,
    ) -> tuple[_Job, int]:
        """Schedule `record` a few seconds after its event time `at` (warm-up: at the start).

        Every so many records planned after the warm-up, a `plantable` one is first sent wrong
        (`corrupt`, or the stream's corruption) and corrected by its next version 1-5 minutes
        later.  Returns the job that carries the (final) valid record, and that record's version.
        """
        seconds = at.timestamp()
        due = max(seconds + self._rng.uniform(0.5, 5.0), self._start)
        if plantable and not self._warming and self._error_now():
            wrong = (corrupt or _CORRUPTORS[stream])(copy.deepcopy(record))
            self._schedule(_Job(due, stream, wrong.record, wrong.code))
            correction = {**record, "version": record["version"] + 1}
            job = _Job(due + self._rng.uniform(60, 300), stream, correction, tag=tag, event=event)
            return self._schedule(job), correction["version"]
        return self._schedule(_Job(due, stream, record, tag=tag, event=event)), record["version"]

    def _error_now(self) -> bool:
        """True for about one live record in 65 (a countdown, so errors come at a steady pace)."""
        self._until_error -= 1
        if self._until_error > 0:
            return False
        self._until_error = self._rng.randint(40, 90)
        return True

    # --- planning, minute by minute --------------------------------------------------------------

    def _plan_until(self, t: float) -> None:
        while self._next_slot * _SLOT_S <= t:
            self._plan_slot(self._next_slot)
            self._next_slot += 1

    def _plan_slot(self, slot: int) -> None:
        """The arrivals of one minute, per flow, each planned with its whole future."""
        begin = slot * _SLOT_S
        arrivals: list[tuple[float, str]] = []
        for flow in _FLOWS:
            if flow != "events" and begin + _SLOT_S <= self._history_start:
                continue  # before the warm-up's history only the open stock of events matters
            self._accumulators[flow] += self._rhythm.per_hour(flow, begin) / 60
            count = int(self._accumulators[flow])
            self._accumulators[flow] -= count
            arrivals.extend((begin + self._rng.random() * _SLOT_S, flow) for _ in range(count))
        for at, flow in sorted(arrivals):
            if flow == "events" or at >= self._history_start:
                self._planners[flow](_moment(at))

    def _pick(self, flow: str, exclude: str | None = None) -> Department:
        """A department drawn by its profile's weight for `flow` (``events``, ``disclosures``, ``items``)."""
        departments = self._departments
        if exclude is not None:
            weights = self._weights[flow]
            pairs = [(d, w) for d, w in zip(departments, weights, strict=True) if d.code != exclude]
            return self._rng.choices([d for d, _ in pairs], weights=[w for _, w in pairs])[0]
        return self._rng.choices(departments, cum_weights=self._cumulative[flow])[0]

    def _division_for(self, department: Department, rng: random.Random | None = None) -> str:
        """Where a department acts: a district's in its own division, a city's there (40 %) or a district."""
        rng = rng or self._rng
        if department.level == "district" or not self._districts or rng.random() < 0.4:
            return department.division
        return rng.choice(self._districts)

    def _working_day_before(self, day: date, n: int) -> date:
        current, remaining = day, n
        while remaining:
            current -= timedelta(days=1)
            if self.calendar.is_working_day(current):
                remaining -= 1
        return current

    def _working_days(self, first: date, last: date) -> list[date]:
        """The working days from `first` to `last` inclusive (memoised: events share their spans)."""
        days = self._spans.get((first, last))
        if days is None:
            days, day = [], first
            while day <= last:
                if self.calendar.is_working_day(day):
                    days.append(day)
                day += timedelta(days=1)
            self._spans[(first, last)] = days
        return days

    def _office_moment(
        self,
        day: date,
        low: datetime | None = None,
        high: datetime | None = None,
        rng: random.Random | None = None,
    ) -> datetime | None:
        """A moment of `day` in office hours (08:30-17:30) within [low, high), or None if there is none.

        `rng` defaults to the plan's stream; an incident passes its own, so as not to shift the plan.
        """
        begin, end = _on(day, 8, 30), _on(day, 17, 30)
        begin = max(begin, low) if low is not None else begin
        end = min(end, high) if high is not None else end
        if end <= begin:
            return None
        return _moment((begin + (end - begin) * (rng or self._rng).random()).timestamp())

    # --- events ------------------------------------------------------------------------------------

    def _plan_event(self, created: datetime) -> None:
        rng = self._rng
        department = self._pick("events")
        kind = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
        day = created.date()
        explicit = None
        if rng.random() < 0.6:
            explicit = _on(self.calendar.nth_working_day_after(day, rng.randint(2, 10)), 17, 30)
        reassigned = self._reassignment(created, department.code) if rng.random() < 0.03 else None
        default = self.calendar.deadline_after(day, self._sla[kind])
        deadline = (reassigned.deadline if reassigned else None) or explicit or default
        plan = PlannedEvent(
            event_id=f"LEV{self._tag}{self._serial('event'):07d}",
            kind=kind,
            department=department.code,
            division=department.division,
            created=created,
            item_code=None,
            deadline=explicit,
            effective_deadline=deadline,
            reassigned=reassigned,
        )
        event = _Event(plan, plan.responsible, late=False)
        self._fate(event)
        end = plan.handled or plan.cancelled
        if created.timestamp() < self._history_start and end is not None and end.timestamp() < self._start:
            return  # closed before the start and older than the warm-up's history: not sent
        # Drawn only for the events sent (most of the past's are not): the warm-up stays quick.
        plan.division = self._division_for(department)
        plan.item_code = self._item_of(department.code) if rng.random() < 0.5 else None
        self._send_event(event)

    def _reassignment(self, created: datetime, department: str) -> Reassignment | None:
        if len(self._departments) < 2:
            return None
        rng = self._rng
        at = _moment((created + timedelta(minutes=rng.uniform(10, 120))).timestamp())
        other = self._pick("events", exclude=department)
        deadline = None
        if rng.random() < 0.5:
            deadline = _on(self.calendar.nth_working_day_after(at.date(), rng.randint(2, 8)), 17, 30)
        return Reassignment(at, other.code, deadline)

    def _fate(self, event: _Event) -> None:
        """Signed, then handled on time, late or cancelled: decided now, sent when due."""
        rng, plan = self._rng, event.plan
        assigned = plan.assigned_at
        if rng.random() < 0.97:
            plan.signed = _moment((assigned + timedelta(minutes=rng.uniform(2, 90))).timestamp())
        after = plan.signed or assigned
        month = (event.responsible, str(plan.created.year), str(plan.created.month))
        self._counts[("created", *month)] += 1
        roll = rng.random()
        if roll < 0.01:
            plan.cancelled = _moment((after + timedelta(minutes=rng.uniform(30, 1440))).timestamp())
            return
        if roll < 0.035 and self._counts[("created", *month)] >= _LATE_ONE_IN * (
            self._counts[("late", *month)] + 1
        ):
            self._counts[("late", *month)] += 1
            event.late = True
            late_day = self.calendar.nth_working_day_after(plan.effective_deadline.date(), rng.randint(1, 3))
            plan.handled = self._office_moment(late_day)
            return
        plan.handled = self._on_time(after, plan.effective_deadline)

    def _on_time(self, after: datetime, deadline: datetime) -> datetime:
        """Within three hours (35 %), else in office hours of a working day before the deadline."""
        rng = self._rng
        if rng.random() < 0.35:
            quick = after + timedelta(minutes=rng.uniform(10, 180))
            if quick < deadline - timedelta(hours=1):
                return _moment(quick.timestamp())
        low, high = after + timedelta(minutes=10), deadline - timedelta(minutes=30)
        days = self._working_days(after.date(), deadline.date())
        for _ in range(4):
            if not days:
                break
            moment = self._office_moment(rng.choice(days), low, high)
            if moment is not None:
                return moment
        return _moment((after + (deadline - after) / 2).timestamp())

    def _send_event(self, event: _Event) -> None:
        """Schedule every record of the event; the warm-up remembers the ones it may move."""
        plan = event.plan
        self._push(plan.created, "events", event_record(plan, "created", plan.created), plantable=True)
        if plan.reassigned is not None:
            at = plan.reassigned.at
            self._push(at, "events", event_record(plan, "reassigned", at), plantable=True)
        if plan.signed is not None:
            self._push(plan.signed, "events", event_record(plan, "signed", plan.signed), plantable=True)
        if plan.cancelled is not None:
            self._push(plan.cancelled, "events", event_record(plan, "cancelled", plan.cancelled))
        if plan.handled is not None:
            record = event_record(plan, "handled", plan.handled)
            event.handled_job = self._push(plan.handled, "events", record, tag=_HANDLED, event=event)[0]
            if self._warming and plan.handled.timestamp() >= self._start:
                overdue = plan.effective_deadline.timestamp() < self._start
                if event.late and overdue:
                    self._warm["late"].append(event)
                elif (
                    not event.late
                    and plan.handled.timestamp() > self._start + 300
                    and (plan.signed or plan.assigned_at).timestamp() < self._start
                ):
                    self._warm["on_time"].append(event)

    def _rehandle(self, event: _Event, at: datetime, tag: str = _HANDLED) -> _Job:
        """Move an event's `handled` to `at`: the old job is cancelled, a new one scheduled for `at`."""
        if event.handled_job is not None:
            event.handled_job.cancelled = True
        event.plan.handled = at
        record = event_record(event.plan, "handled", at)
        job = self._schedule(_Job(at.timestamp(), "events", record, tag=tag, event=event))
        event.handled_job = job
        return job

    # --- inspections and the catalogue --------------------------------------------------------

    def _add_known(self, known: Sequence[KnownItem]) -> None:
        for item in known:
            department = self.registry.departments.get(item.department)
            if department is not None:
                self._pool.append(
                    PlannedItem(
                        item.item_code,
                        "",
                        item.department,
                        department.division,
                        item.double_random,
                        True,
                        True,
                    )
                )

    def _load_catalogue(self, at: datetime) -> None:
        """The live catalogue's first load: items per department by profile, all sent at the start."""
        rng = self._rng
        total = max(40, round(2.5 * self._rhythm.rate))
        for n in range(total):
            department = self._pick("items")
            item = self._new_item(department, double_random=rng.random() < 0.4, onboarded=rng.random() < 0.97)
            moment = _moment(at.timestamp() + n)
            self._send_item(item, 1, moment)

    def _new_item(self, department: Department, *, double_random: bool, onboarded: bool) -> PlannedItem:
        serial = self._serial("item")
        objects = profile(department).objects
        kind = ("行政检查", "行政处罚", "行政强制")[serial % 3]
        return PlannedItem(
            item_code=f"LJG{self._tag}{serial:05d}",
            name=f"对{objects[serial % len(objects)]}的{kind}",
            department=department.code,
            division=department.division,
            double_random=double_random,
            onboarded=onboarded,
            active=True,
        )

    def _send_item(self, item: PlannedItem, version: int, at: datetime) -> None:
        record = item_record(item, version, ItemVersion(at, item.onboarded, item.active))
        position = self._serial("item-position")
        _, version = self._push(
            at, "catalog", record, plantable=version == 1, corrupt=lambda r: corrupt_item(r, position)
        )
        self._items[item.item_code] = (item, version)
        if item.active and item not in self._pool:
            self._pool.append(item)
        elif not item.active and item in self._pool:
            self._pool.remove(item)
        self._pool_weights = self._double_random = self._by_department = None

    def _plan_catalog_change(self, at: datetime) -> None:
        """A new item (40 %), an onboarding (35 %) or a deactivation (25 %) of a live item."""
        rng = self._rng
        roll = rng.random()
        live = [item for item, _ in self._items.values() if item.active]
        waiting = [item for item in live if not item.onboarded]
        if roll < 0.35 and waiting:
            item = rng.choice(waiting)
            item.onboarded = True
            self._send_item(item, self._items[item.item_code][1] + 1, at)
            return
        by_department = Counter(item.department for item in self._pool)
        retirable = [item for item in live if by_department[item.department] > 2]
        if roll < 0.6 and len(self._pool) > 20 and retirable:
            item = rng.choice(retirable)
            item.active = False
            self._send_item(item, self._items[item.item_code][1] + 1, at)
            return
        department = self._pick("items")
        item = self._new_item(department, double_random=rng.random() < 0.4, onboarded=rng.random() < 0.85)
        self._send_item(item, 1, at)

    def _item_of(self, department: str) -> str | None:
        """An active item of the department, if it has one (an event's `item_code`)."""
        if self._by_department is None:
            self._by_department = {}
            for item in self._pool:
                self._by_department.setdefault(item.department, []).append(item.item_code)
        codes = self._by_department.get(department)
        return self._rng.choice(codes) if codes else None

    def _plan_inspection(self, at: datetime) -> None:
        if not self._pool:
            return
        rng = self._rng
        if self._pool_weights is None or self._double_random is None:
            departments = self.registry.departments
            self._pool_weights = [profile(departments[item.department]).inspections for item in self._pool]
            self._double_random = [item for item in self._pool if item.double_random]
        tasked = bool(self._double_random) and rng.random() < 0.4
        if tasked:
            item = rng.choice(self._double_random)
        else:
            item = rng.choices(self._pool, weights=self._pool_weights)[0]
        ident = f"LJC{self._tag}{self._serial('inspection'):07d}"
        channel = self._channel(item.department, at, rng)
        inspection = self._inspection(item, at, tasked=tasked, rng=rng, ident=ident, channel=channel)
        self._push(at, "inspections", inspection_record(inspection), plantable=True)

    def _inspection(
        self, item: PlannedItem, at: datetime, *, tasked: bool, rng: random.Random, ident: str, channel: str
    ) -> PlannedInspection:
        department = self.registry.departments[item.department]
        roll = rng.random()
        if roll < 0.85:
            target = {"type": "legal_person", "id": uscc(rng, rng.choice(self._districts or ("330200",)))}
        elif roll < 0.97:
            target = {"type": "natural_person", "id": resident_id(rng)}
        else:
            target = {"type": "other", "id": f"{department.division}{rng.randrange(10**8):08d}S"}
        inspectors = sorted({f"ZJ{department.division}{rng.randrange(100000):05d}" for _ in range(2)})
        quarter = (at.month - 1) // 3 + 1
        return PlannedInspection(
            record_id=ident,
            item=item,
            division=self._division_for(department, rng),
            at=at,
            channel=channel,
            task=f"SSJ-{at.year}Q{quarter}-{item.department}" if tasked else None,
            target=target,
            inspectors=tuple(inspectors),
            result=rng.choices(_RESULTS, weights=(88, 9, 2, 1))[0],
        )

    def _channel(self, department: str, at: datetime, rng: random.Random) -> str:
        """Mobile, or rarely pc/paper while the department's month stays ≥ 99 % mobile."""
        month = (department, str(at.year), str(at.month))
        self._counts[("inspections", *month)] += 1
        allowed = self._counts[("inspections", *month)] >= _NOT_MOBILE_ONE_IN * (
            self._counts[("not_mobile", *month)] + 1
        )
        if allowed and rng.random() < 0.005:
            self._counts[("not_mobile", *month)] += 1
            return rng.choice(("pc", "pc", "paper"))
        return "mobile"

    # --- disclosures and requests ------------------------------------------------------------------

    def _plan_disclosure(self, published: datetime) -> None:
        rng = self._rng
        today = published.date()
        month = ("disclosures", str(today.year), str(today.month))
        self._counts[month] += 1
        roll = rng.random()
        if today not in self._decided_today or roll < 0.45:
            self._decided_today.add(today)
            decided = today
        elif roll < 0.96 or self._counts[month] < _LATE_ONE_IN * (self._counts[("late-d", *month[1:])] + 1):
            decided = self._working_day_before(today, rng.randint(1, 5))
        else:
            self._counts[("late-d", *month[1:])] += 1
            decided = self._working_day_before(today, self._publish_within + rng.randint(2, 6))
        department = self._pick("disclosures")
        ident = f"LCF{self._tag}{self._serial('disclosure'):06d}"
        self._publish(self._disclosure(department, decided, published, rng, ident), plantable=True)

    def _disclosure(
        self,
        department: Department,
        decided: date,
        published: datetime,
        rng: random.Random,
        ident: str,
        *,
        series: str = "decision",
    ) -> PlannedDisclosure:
        """A decision of `department` and its publication; its number counts in `series` per prefix."""
        division = self._division_for(department, rng)
        prefix = decision_prefix(department)
        published_party, name = party(rng, division)
        severity = rng.choices(("minor", "general", "serious"), weights=(30, 60, 10))[0]
        number = self._serial(f"{series}:{prefix}:{decided.year}") + (9000 if series != "decision" else 0)
        return PlannedDisclosure(
            disclosure_id=ident,
            decision_no=f"{prefix}〔{decided.year}〕{number}号",
            department=department.code,
            division=division,
            decided=decided,
            published_at=published,
            procedure="general",
            severity=severity,
            party=published_party,
            content=decision_text(rng, name),
            publicity_until=add_months(decided, _PUBLICITY_MONTHS[severity]),
            exposes_personal_info=False,
        )

    def _publish(
        self, disclosure: PlannedDisclosure, *, plantable: bool = False, requestable: bool = True
    ) -> None:
        """Schedule a first publication; later requests may pick it when `requestable`."""
        record = disclosure_record(disclosure, 1)
        _, version = self._push(disclosure.published_at, "disclosures", record, plantable=plantable)
        self._disclosure_versions[disclosure.disclosure_id] = version
        if requestable:
            self._requestable.append(disclosure)

    def _plan_request(self, submitted: datetime) -> None:
        """A withdraw/modify application on a published live result, and what its execution does."""
        if not self._requestable:
            return
        rng = self._rng
        disclosure = self._requestable.pop(rng.randrange(len(self._requestable)))
        roll = rng.random()
        kind, reason = "withdraw", "credit_repair"
        if roll >= 0.75:
            kind, reason = "modify", "correction"
        elif roll >= 0.55:
            reason = "revoked"
        rejected = reason == "credit_repair" and rng.random() < 0.15
        approved = submitted + timedelta(minutes=rng.uniform(10, 90))
        executed = approved + timedelta(minutes=rng.uniform(10, 90))
        steps = [RequestStep("submitted", submitted)]
        if rejected:
            steps.append(RequestStep("rejected", submitted + timedelta(minutes=rng.uniform(20, 120))))
        else:
            steps += [RequestStep("approved", approved), RequestStep("executed", executed)]
        batch = f"PL{submitted:%Y%m%d}-{disclosure.department}" if rng.random() < 0.3 else None
        self._request(disclosure, steps, kind=kind, reason=reason, batch=batch, rng=rng)

    def _request(
        self,
        disclosure: PlannedDisclosure,
        steps: Sequence[RequestStep],
        *,
        kind: str,
        reason: str,
        batch: str | None,
        rng: random.Random,
    ) -> None:
        """Schedule a request's steps; an executed one re-publishes its disclosure changed."""
        ident = f"LSQ{self._tag}{self._serial('request'):06d}"
        steps = [RequestStep(step.action, _moment(step.at.timestamp())) for step in steps]
        request = PlannedRequest(
            ident, disclosure.disclosure_id, disclosure.department, kind, reason, batch, tuple(steps)
        )
        for step in steps:
            self._push(step.at, "disclosure_requests", request_record(request, step.action, step.at))
        executed = next((step.at for step in steps if step.action == "executed"), None)
        if executed is None:
            return
        if kind == "modify":
            changed = replace(disclosure, content=disclosure.content + "（已更正）")
        elif reason == "revoked":
            revoked = max(disclosure.published_at, steps[0].at - timedelta(hours=rng.uniform(1, 48)))
            changed = replace(
                disclosure, status="withdrawn", withdrawn_at=executed, revoked_at=_moment(revoked.timestamp())
            )
        else:
            changed = replace(disclosure, status="withdrawn", withdrawn_at=executed)
        version = self._disclosure_versions.get(disclosure.disclosure_id, 1) + 1
        self._disclosure_versions[disclosure.disclosure_id] = version
        self._push(executed, "disclosures", disclosure_record(changed, version))

    # --- warm-up -------------------------------------------------------------------------------

    def _warm_up(self, start: datetime) -> None:
        """Live through the past (see the module docstring), then plant what the first minutes need."""
        longest = max(*self._sla.values(), 10)
        first_day = self._working_day_before(start.date(), longest + _LOOKBACK_MARGIN_WORKING_DAYS)
        yesterday = _on(self._working_day_before(start.date(), 1), 0).timestamp()
        self._history_start = min(yesterday, self._start - _HISTORY_AT_LEAST.total_seconds())
        self._next_slot = int(_on(first_day, 0).timestamp() // _SLOT_S)
        self._load_catalogue(_on(first_day, 9))
        # Requests only concern results published in the history (their slots come first).
        self._plan_until(self._start - 1e-6)
        self._first_minutes()
        self._expired_results(start)
        self._late_result(start)
        self._today(start)

    def _first_minutes(self) -> None:
        """2 overdue events handled late within 8 minutes, 2 handled on time within 5."""
        for events, count, window in (
            (self._warm["late"], 2, (60.0, 480.0)),
            (self._warm["on_time"], 2, (30.0, 300.0)),
        ):
            chosen = self._rng.sample(events, min(count, len(events)))
            for event in chosen:
                self._rehandle(event, _moment(self._start + self._rng.uniform(*window)))

    def _today(self, start: datetime) -> None:
        """Today's figures from the first minutes, whatever the hour (a night, a holiday, 00:01 of a new
        year): an event created and handled at once (即办), an inspection, and a decision of today
        published; their periods are the current day, month, quarter and year."""
        rng = self._rng
        created = _moment(self._start + rng.uniform(5, 40))
        department = self._pick("events")
        kind = "complaint"
        plan = PlannedEvent(
            event_id=f"LEV{self._tag}{self._serial('event'):07d}",
            kind=kind,
            department=department.code,
            division=department.division,
            created=created,
            item_code=self._item_of(department.code),
            deadline=None,
            effective_deadline=self.calendar.deadline_after(created.date(), self._sla[kind]),
        )
        plan.signed = _moment(created.timestamp() + rng.uniform(20, 60))
        plan.handled = _moment(created.timestamp() + rng.uniform(90, 200))
        self._send_event(_Event(plan, plan.responsible, late=False))
        self._plan_inspection(_moment(self._start + rng.uniform(30, 150)))
        # And one erroneous record (an inspection), corrected 1-5 minutes later, for the error panels.
        self._warming, self._until_error = False, 1
        self._plan_inspection(_moment(self._start + rng.uniform(20, 100)))
        self._warming = True
        published = _moment(self._start + rng.uniform(60, 200))
        department = self._pick("disclosures")
        ident = f"LCF{self._tag}{self._serial('disclosure'):06d}"
        self._publish(self._disclosure(department, published.date(), published, rng, ident))

    def _expired_results(self, start: datetime) -> None:
        """Three results whose publicity ended yesterday or the day before, with withdrawal requests."""
        rng = self._rng
        # The first one is submitted today (for today's withdrawal figures) and executed within 4 minutes.
        since_midnight = (self._start - _on(start.date(), 0).timestamp()) / 60
        submitted = -min(120.0, since_midnight)
        executed = rng.uniform(1.5, 4)
        steps_at = (
            (submitted, (submitted + executed) / 2, executed),
            (-40.0, 20.0, 70.0),
            (-10.0, 140.0, 190.0),
        )
        for submitted, approved, executed in steps_at:
            until = start.date() - timedelta(days=rng.randint(1, 2))
            decided = add_months(until, -_PUBLICITY_MONTHS["minor"])
            department = self._pick("disclosures")
            published = self._office_moment(self.calendar.nth_working_day_after(decided, 1)) or _on(
                decided, 10
            )
            disclosure = replace(
                self._disclosure(
                    department, decided, published, rng, f"LCF{self._tag}{self._serial('disclosure'):06d}"
                ),
                severity="minor",
                publicity_until=until,
            )
            self._publish(disclosure, requestable=False)
            minute = 60.0
            steps = [
                RequestStep("submitted", _moment(self._start + submitted * minute)),
                RequestStep("approved", _moment(self._start + approved * minute)),
                RequestStep("executed", _moment(self._start + executed * minute)),
            ]
            self._request(disclosure, steps, kind="withdraw", reason="expired", batch=None, rng=rng)

    def _late_result(self, start: datetime) -> None:
        """One result of the history published after its limit (a published_late violation)."""
        rng = self._rng
        published = _moment(max(self._history_start, self._start - 3600 * rng.uniform(0.5, 3)))
        decided = self._working_day_before(published.date(), self._publish_within + rng.randint(2, 6))
        department = self._pick("disclosures")
        ident = f"LCF{self._tag}{self._serial('disclosure'):06d}"
        self._publish(self._disclosure(department, decided, published, rng, ident))

    # --- incidents -----------------------------------------------------------------------------

    def _follow_incidents(self, t: float) -> None:
        self._cursor, changes = self.incidents.changes_since(self._cursor)
        for name, started in changes:
            if started:
                self._active[name] = _Incident(since=t)
                self._starts[name](self._active[name], t)
            elif name in self._active:
                self._stops[name](self._active.pop(name), t)

    @property
    def _starts(self) -> Mapping[str, Callable[[_Incident, float], None]]:
        return {
            STALLED_DEPARTMENT: self._start_stall,
            EXPOSED_ID: self._start_exposure,
            SILENT_TOPIC: lambda incident, t: None,
            BAD_RELEASE: self._start_flood,
        }

    @property
    def _stops(self) -> Mapping[str, Callable[[_Incident, float], None]]:
        return {
            STALLED_DEPARTMENT: self._stop_stall,
            EXPOSED_ID: self._stop_exposure,
            SILENT_TOPIC: self._stop_silence,
            BAD_RELEASE: self._stop_flood,
        }

    def _stop_silence(self, incident: _Incident, t: float) -> None:
        """The producer is back: everything it kept arrives now, in order."""
        for job in incident.held:
            job.due = t
            self._schedule(job)

    # stalled-department

    def _start_stall(self, incident: _Incident, t: float) -> None:
        incident.tick = self._schedule(_Job(t, "events", {}, tag=_STALL_TICK))

    def _stall_tick(self, tick: _Job) -> None:
        """One overdue event of the stalled department surfaces; it is handled, late, 3 minutes on."""
        incident = self._active.get(STALLED_DEPARTMENT)
        if incident is None or incident.tick is not tick:
            return
        rng, t = self._irng, tick.due
        department = self.registry.departments[self.incidents.stalled_department]
        kind = rng.choice(("risk_warning", "collaborative", "complaint"))
        now = _moment(t)
        day = self._working_day_before(now.date(), self._sla[kind] + rng.randint(2, 5))
        created = self._office_moment(day, rng=rng) or _on(day, 10)
        plan = PlannedEvent(
            event_id=f"LEX{self._tag}{self._serial('incident-event'):06d}",
            kind=kind,
            department=department.code,
            division=self._division_for(department, rng),
            created=created,
            item_code=None,
            deadline=None,
            effective_deadline=self.calendar.deadline_after(day, self._sla[kind]),
        )
        plan.signed = _moment((created + timedelta(minutes=rng.uniform(5, 60))).timestamp())
        for action, at in (("created", created), ("signed", plan.signed)):
            self._schedule(_Job(t, "events", event_record(plan, action, at)))
        event = _Event(plan, department.code, late=True)
        incident.queued = [job for job in incident.queued if job.due > t]
        incident.queued.append(self._rehandle(event, _moment(t + _STALL_QUEUE_S), tag=_BACKLOG))
        incident.tick = self._schedule(_Job(t + _STALL_EVERY_S, "events", {}, tag=_STALL_TICK))

    def _stop_stall(self, incident: _Incident, t: float) -> None:
        """The queued overdue events are closed at once (late), then the held ones, on time."""
        if incident.tick is not None:
            incident.tick.cancelled = True
        moment = t
        for job in incident.queued:
            if not job.cancelled and job.due > t and job.event is not None:
                moment += 0.25  # the queue is 90 events long: closed within 25 s
                self._rehandle(job.event, _moment(moment), tag=_BACKLOG)
        for job in incident.held:
            if job.event is not None:
                moment += 1
                self._rehandle(job.event, _moment(moment))

    # exposed-id

    def _start_exposure(self, incident: _Incident, t: float) -> None:
        """A result published with a resident ID number in its content (valid check digit)."""
        rng = self._irng
        department = self.registry.departments[self.incidents.exposed_department]
        now = _moment(t)
        ident = f"LCX{self._tag}{self._serial('incident-disclosure'):04d}"
        disclosure = self._disclosure(department, now.date(), now, rng, ident, series="incident")
        number = resident_id(rng)
        disclosure = replace(
            disclosure,
            content=disclosure.content + f"（当事人身份证号：{number}）",
            exposes_personal_info=True,
        )
        incident.disclosure = disclosure
        self._schedule(_Job(t, "disclosures", disclosure_record(disclosure, 1)))
        self._disclosure_versions[ident] = 1

    def _stop_exposure(self, incident: _Incident, t: float) -> None:
        """Withdrawn through a request (``correction``) submitted, approved and executed in 40 s."""
        disclosure = incident.disclosure
        if disclosure is None:
            return
        steps = [
            RequestStep(action, _moment(t + offset))
            for action, offset in (("submitted", 0), ("approved", 20), ("executed", 40))
        ]
        ident = f"LSX{self._tag}{self._serial('incident-request'):04d}"
        request = PlannedRequest(
            ident,
            disclosure.disclosure_id,
            disclosure.department,
            "withdraw",
            "correction",
            None,
            tuple(steps),
        )
        for step in steps:
            self._schedule(
                _Job(
                    step.at.timestamp(), "disclosure_requests", request_record(request, step.action, step.at)
                )
            )
        withdrawn = replace(disclosure, status="withdrawn", withdrawn_at=steps[-1].at)
        self._schedule(_Job(steps[-1].at.timestamp(), "disclosures", disclosure_record(withdrawn, 2)))

    # bad-release

    def _start_flood(self, incident: _Incident, t: float) -> None:
        """The release re-uploads the day's offline records, every one with a bad check digit."""
        rng = self._irng
        department = self.registry.departments[self.incidents.flood_department]
        items = [item for item in self._pool if item.department == department.code] or self._pool
        for _ in range(_FLOOD_OFFLINE_RECORDS if items else 0):
            at = _moment(t - rng.uniform(300, 7200))
            ident = f"LJX{self._tag}{self._serial('incident-inspection'):06d}"
            item = rng.choice(items)
            inspection = self._inspection(item, at, tasked=False, rng=rng, ident=ident, channel="mobile")
            record = {**inspection_record(inspection), "department": department.code}
            self._spoiled_by_release(incident, _Job(t, "inspections", record))
        incident.tick = self._schedule(_Job(t, "inspections", {}, tag=_FLOOD_TICK))

    def _spoiled_by_release(self, incident: _Incident, job: _Job) -> _Job:
        """The record as the bad release sends it; it joins the uploads retried until the stop."""
        wrong = copy.deepcopy(job.record)
        target = dict(wrong["target"])
        if target["type"] == "natural_person":
            target["id"], code = bad_check(target["id"]), "invalid_resident_id"
        else:
            valid = target["id"] if target["type"] == "legal_person" else uscc(self._irng, "330206")
            target.update(type="legal_person", id=bad_check(valid))
            code = "invalid_uscc"
        wrong["target"] = target
        correction = {**job.record, "version": job.record["version"] + 1}
        incident.pool.append((wrong, code, correction))
        return _Job(job.due, job.stream, wrong, code)

    def _flood_tick(self, tick: _Job) -> None:
        """The retry loop: the next 10 rejected uploads, sent again unchanged."""
        incident = self._active.get(BAD_RELEASE)
        if incident is None or incident.tick is not tick:
            return
        for _ in range(_FLOOD_BURST if incident.pool else 0):
            wrong, code, _ = incident.pool[incident.cursor % len(incident.pool)]
            incident.cursor += 1
            self._schedule(_Job(tick.due, "inspections", wrong, code))
        incident.tick = self._schedule(_Job(tick.due + _FLOOD_EVERY_S, "inspections", {}, tag=_FLOOD_TICK))

    def _stop_flood(self, incident: _Incident, t: float) -> None:
        """The fixed release sends each rejected upload once more, corrected (its next version)."""
        if incident.tick is not None:
            incident.tick.cancelled = True
        for index, (_, _, correction) in enumerate(incident.pool):
            self._schedule(_Job(t + 0.5 * index, "inspections", correction))


_CORRUPTORS: Final[Mapping[str, Callable[[JsonRecord], Corrupted]]] = {
    "events": corrupt_event,
    "inspections": corrupt_inspection,
    "disclosures": corrupt_disclosure,
}
