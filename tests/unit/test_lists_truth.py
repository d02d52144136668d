"""Every drill-down list of a generated year equals the generator's own truth, the report and /metrics.

A year is applied in-process (no broker) and checkpointed; the lists are then read from the store
as ``svmon list`` reads them and compared with ``Scenario.lists`` (computed from the generator's
plan, never by the daemon's code), with the report's numerators and denominators for the same
period, and with the state gauges of a snapshot at the same instant.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from daemon import streams
from daemon.config import KafkaSettings, Topics
from daemon.reports.lists import ListFilters, Lists
from daemon.reports.query import report_counts
from daemon.runtime.engine import Engine
from seeds.scenario import Scenario, ScenarioLists, generate
from tests import records
from tests.records import FakeDlq

SEED, SCALE = 2023, 0.25
YEAR = ListFilters(period="2023")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate(SEED, scale=SCALE)


@pytest.fixture(scope="module")
def engine(scenario: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The generated year applied and checkpointed, each stream on a topic named after it."""
    path = tmp_path_factory.mktemp("lists") / "state.db"
    topics = Topics(**{stream.name: stream.name for stream in streams.STREAMS})
    engine = records.make_engine(f"sqlite:///{path}", kafka=KafkaSettings(topics=topics))
    for scope in streams.SCOPES:
        engine.open_scope((scope, 0))
    dlq = FakeDlq()
    messages = records.scenario_messages(SEED, SCALE)
    for start in range(0, len(messages), 5000):
        engine.process(messages[start : start + 5000], dlq)
    engine.checkpoint(dlq)
    yield engine
    engine.store.close()


@pytest.fixture(scope="module")
def lists(engine: Engine) -> Lists:
    return Lists(engine.store, engine.rules, engine.registry)


@pytest.fixture(scope="module")
def truth(scenario: Scenario) -> ScenarioLists:
    return scenario.lists(scenario.as_of)


def _now(scenario: Scenario) -> float:
    return scenario.as_of.timestamp()


def test_open_and_overdue_events_are_the_generators(
    lists: Lists, truth: ScenarioLists, scenario: Scenario
) -> None:
    """The open list has the generator's open events, each under its responsible department."""
    now = _now(scenario)
    listed = {item["event_id"]: item["department"] for item in lists.items("open", ListFilters(), now)}
    assert listed == {event_id: event.department for event_id, event in truth.open_events.items()}
    overdue = {item["event_id"] for item in lists.items("overdue", ListFilters(), now)}
    assert overdue == set(truth.overdue_events)


def test_violations_are_the_generators(lists: Lists, truth: ScenarioLists, scenario: Scenario) -> None:
    """Each published disclosure with a violation, and which violations, as the generator judges them."""
    listed = {
        item["disclosure_id"]: frozenset(item["violations"])
        for item in lists.items("violations", ListFilters(), _now(scenario))
    }
    assert listed == dict(truth.violating_disclosures)


def test_open_requests_are_the_generators(lists: Lists, truth: ScenarioLists, scenario: Scenario) -> None:
    """The open withdraw/modify applications are the generator's."""
    listed = {item["request_id"] for item in lists.items("requests", ListFilters(), _now(scenario))}
    assert listed == set(truth.open_requests)


def test_uncorrected_errors_are_the_generators_with_their_kafka_coordinates(
    lists: Lists, truth: ScenarioLists, scenario: Scenario
) -> None:
    """Each record still erroneous is listed once, with the topic and offset of its message."""
    listed = {
        (item["source"]["topic"], item["source"]["offset"]): [e["code"] for e in item["errors"]]
        for item in lists.items("errors", ListFilters(), _now(scenario))
    }
    assert set(listed) == set(truth.uncorrected_errors)
    for where, code in truth.uncorrected_errors.items():
        assert code in listed[where]


def test_list_totals_are_the_reports_numerators_and_denominators(
    engine: Engine, lists: Lists, scenario: Scenario
) -> None:
    """For the year: open = handling d−n, errors = accuracy d−n, violations = compliance d−n."""
    now = _now(scenario)
    counts = report_counts(engine.store, engine.rules, *_year(scenario), now)
    missing = Counter[str]()
    for (indicator, _, _), (numerator, denominator) in counts.items():
        missing[indicator] += denominator - numerator
    assert lists.header("open", YEAR, now)["total"] == missing["event_handling_rate"]
    assert lists.header("errors", YEAR, now)["total"] == missing["data_accuracy_rate"]
    assert lists.header("violations", YEAR, now)["total"] == missing["disclosure_compliance_rate"]


def test_a_departments_list_is_its_share_of_the_report(
    engine: Engine, lists: Lists, scenario: Scenario
) -> None:
    """Filtered by department, the totals are that department's report cells."""
    now = _now(scenario)
    counts = report_counts(engine.store, engine.rules, *_year(scenario), now)
    for department in {department for (_, department, _) in counts}:
        cells = [
            (n, d)
            for (i, dep, _), (n, d) in counts.items()
            if dep == department and i == "disclosure_compliance_rate"
        ]
        expected = sum(d - n for n, d in cells)
        filters = ListFilters(department=department, period="2023")
        assert lists.header("violations", filters, now)["total"] == expected, department


def test_list_totals_are_the_state_gauges(engine: Engine, lists: Lists, scenario: Scenario) -> None:
    """Without filters, the lists count what /metrics' state gauges count at the same instant."""
    now = _now(scenario)
    snapshot = engine.snapshot(now=now)
    none = ListFilters()
    assert lists.header("open", none, now)["total"] == sum(snapshot.open_events.values())
    assert lists.header("overdue", none, now)["total"] == sum(snapshot.overdue_events.values())
    assert lists.header("requests", none, now)["total"] == sum(snapshot.requests_open.values())
    by_violation = Counter(v for item in lists.items("violations", none, now) for v in item["violations"])
    gauges = Counter[str]()
    for (_, violation), count in snapshot.violations.items():
        gauges[violation] += count
    assert +by_violation == +gauges


def test_pages_put_together_are_the_whole_list(lists: Lists, scenario: Scenario) -> None:
    """Following next_cursor page by page gives every item once, in the list's order."""
    now = _now(scenario)
    whole = [item["disclosure_id"] for item in lists.items("violations", ListFilters(), now)]
    paged: list[str] = []
    cursor = None
    while True:
        page = lists.page("violations", ListFilters(), now, limit=7, cursor=cursor)
        paged.extend(item["disclosure_id"] for item in page["items"])
        assert page["total"] == len(whole)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == whole


def _year(scenario: Scenario) -> tuple[int, int]:
    from datetime import date

    return date(scenario.year, 1, 1).toordinal(), date(scenario.year, 12, 31).toordinal()
