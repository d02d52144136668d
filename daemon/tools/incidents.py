"""Named incidents for `svmon demo --live`: each makes one alert of ``alerts/rules/`` fire, and resolve.

An incident changes what :class:`daemon.tools.live.LiveTraffic` produces while it is active; this
module only holds which incidents exist, which are active, and what each one does to the alerts.
The registry is shared between threads (the demo's control server starts and stops incidents while
the producer loop reads them), so every method takes one lock, and the producer learns about each
start and stop from an ordered log (:meth:`Incidents.changes_since`), so that a start quickly
followed by a stop is still seen as both.

The times below assume Prometheus scraping and evaluating rules every 5 s (``svmon demo
--prometheus``, which starts Prometheus once the generated year is consumed, so the year's replay
is in no rate window); each is the sum of what the alert's expression needs and its ``for:``.

``stalled-department`` -> ``SupervisionOnTimeHandlingFastBurn`` (alerts/rules/slo.yml)
    The department stops handling its own events on time: every ``handled`` it would send is held,
    while its ``created`` records keep coming.  What it does close is its old, overdue queue: one
    overdue event every 2 s (30 a minute, each event's ``created`` delivered late three minutes
    before its ``handled``).  The alert needs more than 50 % late over 1 h and 5 m and at least 20
    handled events in the hour (the low-volume guard): the late ones outweigh the warm-up's on-time
    ones about 2 minutes in, firing about 4 minutes after the start (``for: 2m``).  Labels:
    ``department`` (default ``330212.zhzfj``, 宁波市鄞州区综合行政执法局), ``severity=critical``.
    On stop the overdue events still queued are handled at once and the held ones are released;
    the 5m/1h pair clears within 5 minutes, the 6h/30m pair (more than 25 % late over 30 m) about
    30 minutes after the stop, when the alert resolves.  Along the way
    ``SupervisionEventsOverdueGrowing`` (the queued overdue events, after 15 m; resolves at the
    stop) and ``SupervisionOnTimeHandlingSlowBurn`` (after about 20 m; resolves about 2 h after the
    stop) fire for the same department.

``exposed-id`` -> ``SupervisionPersonalInfoExposed`` (alerts/rules/events.yml)
    One penalty result of the department is published with a resident ID number (valid check
    digit, generated) in its content.  The alert has no ``for:``: it fires at the first evaluation
    after the scrape that sees it, within about 15 s.  Labels: ``department`` (default
    ``330200.scjgj``, 宁波市市场监督管理局), ``violation=personal_info_exposed``,
    ``severity=critical``.  On stop a withdrawal request (reason ``correction``) is submitted,
    approved and executed within 40 s and the result is withdrawn: resolved about a minute later.

``silent-topic`` -> ``SupervisionNoRecordsFlowing`` (alerts/rules/pipeline.yml)
    The producer of one stream stops sending (default ``inspections``; its records are kept and
    delivered late, in one burst, on stop).  The alert needs an hour without a single record,
    then ``for: 15m``, and only counts Monday-Friday 09:00-17:00 Asia/Shanghai: it fires about 75
    minutes after the start, inside working hours; started with the demo, after 15 minutes, as
    the demo's Prometheus never saw the topic move (measured: 15.2 minutes).  Labels: ``topic``
    (default ``svmon.inspections``), ``severity=warning``.  Resolves at the first evaluation after
    the held records arrive, within about 10 s of the stop.

``bad-release`` -> ``SupervisionDataAccuracyFastBurn`` (alerts/rules/slo.yml)
    A bad release of the department's 掌上执法 app writes a wrong check digit into every
    inspection's target id (``invalid_uscc``/``invalid_resident_id``), re-uploads its offline
    records that way, and retries every rejected upload without backoff: 400 erroneous records a
    minute.  The alert needs more than 1.44 % erroneous over 1 h and 5 m and at least 1000 records
    of the department in the hour (the low-volume guard): reached after about 2.5 minutes, firing
    about 5 minutes after the start (``for: 2m``).  Labels: ``department`` (default ``330206.scjgfj``,
    宁波市市场监督管理局北仑分局), ``severity=critical``.  On stop the fixed release sends each
    rejected record once more, corrected (``version`` 2); the 5m/1h pair clears within 5 minutes,
    the 6h/30m pair about 30 minutes after the stop, when the alert resolves.  Along the way
    ``SupervisionDeadLetterRatioHigh`` (topic ``svmon.inspections``, after 15 m) and
    ``SupervisionDataAccuracySlowBurn`` (after about 20 m) fire too.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from daemon import streams

__all__ = [
    "BAD_RELEASE",
    "EXPOSED_ID",
    "NAMES",
    "SILENT_TOPIC",
    "STALLED_DEPARTMENT",
    "Incident",
    "Incidents",
]

STALLED_DEPARTMENT: Final = "stalled-department"
EXPOSED_ID: Final = "exposed-id"
SILENT_TOPIC: Final = "silent-topic"
BAD_RELEASE: Final = "bad-release"
NAMES: Final = (STALLED_DEPARTMENT, EXPOSED_ID, SILENT_TOPIC, BAD_RELEASE)


@dataclass(frozen=True)
class Incident:
    """What one incident does to the alerts: the alert it fires, its labels, and how long it takes."""

    name: str
    alert: str
    rule_file: str
    labels: Mapping[str, str]
    fires_after: str
    resolves_after: str
    summary: str
    side_effects: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, object]:
        """The incident as the control port lists it."""
        return {
            "name": self.name,
            "alert": self.alert,
            "rule_file": self.rule_file,
            "labels": dict(self.labels),
            "fires_after": self.fires_after,
            "resolves_after": self.resolves_after,
            "summary": self.summary,
            "side_effects": list(self.side_effects),
        }


def _catalogue(
    stalled_department: str, exposed_department: str, flood_department: str, silent_stream: str, topic: str
) -> dict[str, Incident]:
    """The four incidents with the labels their alerts will carry (see the module docstring)."""
    return {
        STALLED_DEPARTMENT: Incident(
            STALLED_DEPARTMENT,
            "SupervisionOnTimeHandlingFastBurn",
            "alerts/rules/slo.yml",
            MappingProxyType({"department": stalled_department, "severity": "critical"}),
            "about 4 minutes (late outweighs on time in the hour at 30 late a minute, then for: 2m)",
            "about 30 minutes after the stop (the 6h/30m pair's short window)",
            f"{stalled_department} stops handling its events on time and closes only overdue ones",
            (
                "SupervisionEventsOverdueGrowing after about 15 minutes, resolved at the stop",
                "SupervisionOnTimeHandlingSlowBurn after about 20 minutes, resolved about 2 hours later",
            ),
        ),
        EXPOSED_ID: Incident(
            EXPOSED_ID,
            "SupervisionPersonalInfoExposed",
            "alerts/rules/events.yml",
            MappingProxyType(
                {
                    "department": exposed_department,
                    "violation": "personal_info_exposed",
                    "severity": "critical",
                }
            ),
            "within about 15 seconds (no for:)",
            "about a minute after the stop (withdrawn through a request executed within 40 s)",
            f"{exposed_department} publishes a penalty result with a resident ID number in its content",
        ),
        SILENT_TOPIC: Incident(
            SILENT_TOPIC,
            "SupervisionNoRecordsFlowing",
            "alerts/rules/pipeline.yml",
            MappingProxyType({"topic": topic, "severity": "warning"}),
            "about 75 minutes (an hour of silence, then for: 15m; 15 minutes when started with the demo),"
            " Mon-Fri 09:00-17:00 Asia/Shanghai only",
            "within about 10 seconds of the stop (the held records arrive in one burst)",
            f"the {silent_stream} producer stops sending; its records are delivered on stop",
        ),
        BAD_RELEASE: Incident(
            BAD_RELEASE,
            "SupervisionDataAccuracyFastBurn",
            "alerts/rules/slo.yml",
            MappingProxyType({"department": flood_department, "severity": "critical"}),
            "about 5 minutes (1000 records of the department in the hour at 400 a minute, then for: 2m)",
            "about 30 minutes after the stop (the 6h/30m pair's short window)",
            f"a bad release at {flood_department} floods erroneous inspection records (retried, no backoff)",
            (
                "SupervisionDeadLetterRatioHigh for the inspections topic after about 15 minutes",
                "SupervisionDataAccuracySlowBurn after about 20 minutes",
            ),
        ),
    }


class Incidents:
    """The named incidents, which of them are active, and the ordered log of starts and stops.

    Thread-safe: the control server's threads call :meth:`start` and :meth:`stop` while the
    producer loop calls :meth:`changes_since` and :meth:`active`.
    """

    NAMES: Final = NAMES

    def __init__(
        self,
        *,
        stalled_department: str = "330212.zhzfj",
        exposed_department: str = "330200.scjgj",
        flood_department: str = "330206.scjgfj",
        silent_stream: str = "inspections",
        silent_topic: str | None = None,
    ) -> None:
        if silent_stream not in streams.BY_NAME:
            raise ValueError(f"unknown stream {silent_stream!r}; known: {', '.join(streams.NAMES)}")
        self.stalled_department = stalled_department
        self.exposed_department = exposed_department
        self.flood_department = flood_department
        self.silent_stream = silent_stream
        topic = silent_topic or streams.BY_NAME[silent_stream].default_topic
        self._incidents = _catalogue(
            stalled_department, exposed_department, flood_department, silent_stream, topic
        )
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._log: list[tuple[str, bool]] = []

    def _known(self, name: str) -> str:
        """`name` if it is an incident, else a `ValueError` that lists the known ones."""
        if name not in self._incidents:
            raise ValueError(f"unknown incident {name!r}; known incidents: {', '.join(NAMES)}")
        return name

    def describe(self, name: str) -> Incident:
        """What incident `name` fires, with which labels, how soon."""
        return self._incidents[self._known(name)]

    def all(self) -> tuple[Incident, ...]:
        """Every incident, in `NAMES` order."""
        return tuple(self._incidents[name] for name in NAMES)

    def start(self, name: str) -> bool:
        """Make incident `name` active; False when it already was (nothing changes then)."""
        self._known(name)
        with self._lock:
            if name in self._active:
                return False
            self._active.add(name)
            self._log.append((name, True))
            return True

    def stop(self, name: str) -> bool:
        """End incident `name`; False when it was not active (nothing changes then)."""
        self._known(name)
        with self._lock:
            if name not in self._active:
                return False
            self._active.discard(name)
            self._log.append((name, False))
            return True

    def active(self) -> frozenset[str]:
        """The incidents active now."""
        with self._lock:
            return frozenset(self._active)

    def is_active(self, name: str) -> bool:
        self._known(name)
        with self._lock:
            return name in self._active

    def changes_since(self, cursor: int) -> tuple[int, list[tuple[str, bool]]]:
        """The starts (True) and stops (False) after the first `cursor` ones, and the new cursor.

        Each reader keeps its own cursor, so several generators can follow one registry.
        """
        with self._lock:
            return len(self._log), list(self._log[cursor:])
