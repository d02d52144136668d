"""The live feed (daemon/tools/feed.py) with a recording producer, and the demo's live options."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from daemon import streams
from daemon.core.calendar import WorkingCalendar
from daemon.core.timeutil import SHANGHAI
from daemon.exceptions import ConfigError, SourceError
from daemon.tools.demo import _options
from daemon.tools.feed import LiveFeed, incident_command, start_incidents
from daemon.tools.incidents import Incidents
from daemon.tools.live import LiveTraffic
from schemas.registry import load_registry

START = datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)  # a Wednesday, in office hours
TOPICS = {stream.name: f"t.{stream.name}" for stream in streams.STREAMS}


@dataclass
class _Future:
    failure: BaseException | None = None

    def add_errback(self, callback: Callable[[BaseException], Any]) -> None:
        if self.failure is not None:
            callback(self.failure)


@dataclass
class _Producer:
    """Records what it is sent; refuses everything after ``refuse_after`` sends."""

    refuse_after: int | None = None
    sent: list[tuple[str, bytes, bytes, int]] = field(default_factory=list)
    flushes: int = 0

    def send(self, topic: str, *, key: bytes, value: bytes, timestamp_ms: int) -> _Future:
        self.sent.append((topic, key, value, timestamp_ms))
        if self.refuse_after is not None and len(self.sent) > self.refuse_after:
            return _Future(KafkaTimeoutError("the broker is gone"))
        return _Future()

    def flush(self, timeout: float) -> None:
        self.flushes += 1


def _traffic(incidents: Incidents | None = None) -> LiveTraffic:
    return LiveTraffic(
        load_registry(None),
        WorkingCalendar(),
        seed=5,
        events_per_working_hour=60,
        start=START,
        incidents=incidents or Incidents(),
    )


def test_a_tick_produces_what_is_due_to_the_topic_of_its_stream_with_its_timestamp() -> None:
    now = START
    producer = _Producer()
    feed = LiveFeed(producer, _traffic(), TOPICS, clock=lambda: now)
    expected = _traffic().due(START)  # the same generator: the same messages
    assert feed.tick() == len(expected) > 0
    assert producer.sent == [(TOPICS[m.stream], m.key, m.value, m.timestamp_ms) for m in expected]
    assert producer.flushes == 1
    assert feed.counts() == {s: n for s in streams.NAMES if (n := sum(m.stream == s for m in expected))}

    now = START + timedelta(minutes=10)
    later = feed.tick()
    assert later > 0
    assert all(ts <= (now.timestamp() * 1000) for _, _, _, ts in producer.sent[-later:])
    assert feed.total == len(expected) + later


def test_a_refused_message_stops_the_feed_with_the_broker_s_reason() -> None:
    producer = _Producer(refuse_after=3)
    feed = LiveFeed(producer, _traffic(), TOPICS, clock=lambda: START)
    with pytest.raises(SourceError, match=r"refused a live message: .*the broker is gone"):
        feed.tick()
    assert feed.total == 0  # nothing is counted as sent that the broker did not take


def test_the_feed_thread_reports_its_error_instead_of_dying_silently() -> None:
    producer = _Producer(refuse_after=0)
    feed = LiveFeed(producer, _traffic(), TOPICS, clock=lambda: START, tick_s=0.01).start()
    feed.stop(timeout=10)
    assert not feed.running
    assert isinstance(feed.error, SourceError)


def test_every_stream_needs_a_topic() -> None:
    with pytest.raises(ValueError, match="no topic for the streams catalog"):
        LiveFeed(_Producer(), _traffic(), {k: v for k, v in TOPICS.items() if k != "catalog"})


def test_an_unknown_incident_is_a_config_error_naming_the_known_ones() -> None:
    incidents = Incidents()
    with pytest.raises(ConfigError, match="unknown incident 'fire'; known incidents: stalled-department"):
        start_incidents(incidents, ["exposed-id", "fire"])
    assert incidents.active() == {"exposed-id"}


def test_svmon_incident_talks_to_loopback_only() -> None:
    args = argparse.Namespace(action="start", name="exposed-id", control="http://10.0.0.5:9110/incidents")
    with pytest.raises(ConfigError, match="loopback only"):
        incident_command(args)


def test_svmon_incident_start_needs_a_name() -> None:
    args = argparse.Namespace(action="start", name=None, control="http://127.0.0.1:9/incidents")
    with pytest.raises(ConfigError, match="needs the incident's NAME"):
        incident_command(args)


def _demo_args(**given: Any) -> argparse.Namespace:
    defaults: dict[str, Any] = {"speed": "fast", "live": None, "incident": None, "keep_running": False}
    return argparse.Namespace(**{**defaults, **given})


def test_live_defaults_to_the_terminal_and_implies_keep_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert (_options(_demo_args()).live, _options(_demo_args()).keep_running) == (False, False)
    live = _options(_demo_args(live=True, rate=30.0))
    assert (live.live, live.keep_running, live.rate) == (True, True, 30.0)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    assert _options(_demo_args()).live is True
    assert _options(_demo_args(live=False)).live is False


def test_an_incident_without_the_live_phase_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(ConfigError, match="--incident needs the live phase"):
        _options(_demo_args(incident=["exposed-id"]))
