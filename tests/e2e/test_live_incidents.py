"""Each live-demo incident makes its alert fire with its labels in Alertmanager, then resolve (slow).

The committed rules' windows and ``for:`` are kept, so this takes most of an hour: the burn-rate
alerts resolve only once their 30-minute window has cleared (``daemon/tools/incidents.py`` gives
each incident's expected times). ``silent-topic`` needs an hour without records *in working hours*
(Monday-Friday 09:00-17:00 Asia/Shanghai), so it has a demo of its own, skipped outside them. Run
with ``make live-incidents``; the times measured are printed at the end of the session.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from daemon.core.calendar import WorkingCalendar
from daemon.core.timeutil import SHANGHAI
from daemon.exceptions import SourceError
from daemon.tools.broker import broker_binary
from daemon.tools.incidents import NAMES, SILENT_TOPIC, Incidents
from daemon.tools.monitoring import Unavailable, find_binaries
from tests.demo_process import http_json, start_demo, still_running
from tests.services import unavailable, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

FIRE_TIMEOUT = timedelta(minutes=100)
RESOLVE_TIMEOUT = timedelta(minutes=60)
POLL_S = 5.0
ACTIVE = "active=true&silenced=false&inhibited=false"
INCIDENTS = Incidents()


def _within_working_hours(start: datetime, length: timedelta) -> bool:
    """Whether [start, start + length] lies in one working day's 09:00-17:00 (Asia/Shanghai)."""
    local, end = start.astimezone(SHANGHAI), (start + length).astimezone(SHANGHAI)
    return (
        WorkingCalendar().is_working_day(local.date())
        and local.date() == end.date()
        and local.hour >= 9
        and (end.hour, end.minute) < (17, 0)
    )


@pytest.mark.timeout(4 * 3600)  # the suite's 600 s per test is for the fast tests
@pytest.mark.parametrize(
    "names",
    [
        pytest.param(tuple(n for n in NAMES if n != SILENT_TOPIC), id="page-and-burn-rates"),
        pytest.param((SILENT_TOPIC,), id="silent-topic"),
    ],
)
def test_every_incident_fires_its_alert_and_resolves(
    names: tuple[str, ...], tmp_path: Path, figures: dict[str, str]
) -> None:
    try:
        broker_binary()
    except SourceError as exc:
        unavailable(str(exc))
    if isinstance(found := find_binaries(), Unavailable):
        unavailable(found.reason)
    if SILENT_TOPIC in names and not _within_working_hours(datetime.now(SHANGHAI), FIRE_TIMEOUT):
        pytest.skip("silent-topic fires only in working hours (Mon-Fri 09:00-17:00 Asia/Shanghai)")
    demo = start_demo(
        tmp_path, "--live", "--prometheus", "--scale", "0.02", "--store", f"sqlite:///{tmp_path / 'd.db'}"
    )
    try:
        demo.wait_caught_up(timeout=180)
        wait_for(lambda: demo.running() and "live since" in demo.text(), 30, "the live phase")
        alertmanager = demo.line_with("alertmanager").split()[1]
        control = demo.line_with("control").split()[1]

        def holds(name: str) -> bool:
            incident = INCIDENTS.describe(name)
            wanted = {"alertname": incident.alert, **incident.labels}
            demo.running()
            return any(
                all(alert["labels"].get(k) == v for k, v in wanted.items())
                for alert in http_json(
                    f"{alertmanager}/api/v2/alerts?active=true&silenced=false&inhibited=false"
                )
            )

        assert not any(holds(name) for name in names), "an incident's alert fired before it started"
        started = time.monotonic()
        for name in names:
            http_json(method="POST", url=f"{control}/{name}")
        fired: dict[str, float] = {}
        deadline = started + FIRE_TIMEOUT.total_seconds()
        while len(fired) < len(names) and time.monotonic() < deadline:
            fired.update({n: time.monotonic() - started for n in names if n not in fired and holds(n)})
            time.sleep(POLL_S)
        assert set(fired) == set(names), f"never fired: {sorted(set(names) - set(fired))}; fired: {fired}"

        stopped = time.monotonic()
        for name in names:
            http_json(method="DELETE", url=f"{control}/{name}")
        resolved: dict[str, float] = {}
        deadline = stopped + RESOLVE_TIMEOUT.total_seconds()
        while len(resolved) < len(names) and time.monotonic() < deadline:
            resolved.update(
                {n: time.monotonic() - stopped for n in names if n not in resolved and not holds(n)}
            )
            time.sleep(POLL_S)
        assert set(resolved) == set(names), f"never resolved: {sorted(set(names) - set(resolved))}"
        figures[f"live incidents {', '.join(names)}"] = "; ".join(
            f"{n}: fired after {fired[n] / 60:.1f} min, resolved {resolved[n] / 60:.1f} min after the stop"
            for n in names
        )

        children = demo.remember_descendants()
        demo.process.send_signal(signal.SIGINT)
        assert demo.process.wait(timeout=90) == 0, demo.diagnostics()
        assert still_running(children) == []
    finally:
        demo.kill_if_running()
