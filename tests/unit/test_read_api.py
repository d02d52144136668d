"""Tests of daemon.reports.api.ReadApi on a SQLite store: answers, refusals in words, one connection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.core.prepare import Message
from daemon.exceptions import StoreError
from daemon.reports.api import ReadApi
from daemon.reports.lists import ListFilters, Lists
from daemon.reports.openapi import openapi_document
from daemon.reports.query import open_existing_store
from daemon.runtime.engine import Engine
from daemon.store.protocol import Store
from schemas.registry import load_registry
from tests import records
from tests.records import INGESTED, FakeDlq

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
STAMP = int(INGESTED.timestamp() * 1000)
DAY = INGESTED - timedelta(days=40)


def _feed(engine: Engine, stream: str, *values: dict[str, Any]) -> None:
    messages = [
        Message(stream, 0, offset, records.message_key(value), records.encode(value), STAMP)
        for offset, value in enumerate(values)
    ]
    dlq = FakeDlq()
    engine.process(messages, dlq)
    engine.checkpoint(dlq)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = records.make_engine(f"sqlite:///{tmp_path}/state.db")
    for scope in ("events", "inspections", "disclosures"):
        engine.open_scope((scope, 0))
    yield engine
    engine.store.close()


class _Opens:
    """``open_existing_store`` that counts its calls, and can fail the next ones."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = 0

    def __call__(self, url: str) -> Store:
        self.calls += 1
        if self.failing:
            self.failing -= 1
            raise StoreError(f"cannot open {url}: connection refused")
        return open_existing_store(url)


def _api(engine: Engine, opens: _Opens | None = None) -> ReadApi:
    return ReadApi(engine.settings, engine.registry, engine.rules, INGESTED.timestamp, opens or _Opens())


def _events(engine: Engine, count: int) -> None:
    _feed(
        engine,
        "svmon.events",
        *(records.event(f"E{n:02}", "created", DAY + timedelta(minutes=n)) for n in range(count)),
    )


def test_a_list_is_read_page_by_page_to_its_end(engine: Engine) -> None:
    """Following next_cursor walks every item once, in list order, and ends with null."""
    _events(engine, 25)
    api = _api(engine)
    seen: list[str] = []
    query: dict[str, list[str]] = {"limit": ["10"]}
    pages = 0
    while True:
        status, page = api.lists("overdue", query)
        assert status == 200
        assert page["total"] == 25
        seen += [item["event_id"] for item in page["items"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        query = {"limit": ["10"], "cursor": [page["next_cursor"]]}
    whole = Lists(engine.store, engine.rules, engine.registry).items(
        "overdue", ListFilters(), INGESTED.timestamp()
    )
    assert seen == [item["event_id"] for item in whole]
    assert (pages, len(set(seen))) == (3, 25)


def test_the_indicators_are_the_report(engine: Engine) -> None:
    """/api/v1/indicators answers the report JSON of the period, grouped as asked."""
    _events(engine, 3)
    status, report = _api(engine).indicators("", {"period": [str(DAY.year)], "by": ["division"]})
    assert status == 200
    assert report["indicators"]["event_handling_rate"]["denominator"] == 3
    assert {"division", "name", "indicators"} <= set(report["groups"][0])


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({}, "give a period"),
        ({"period": ["last-week"]}, "invalid period"),
        ({"period": ["2023"], "by": ["team"]}, "department or division"),
        ({"period": ["2023"], "sort": ["asc"]}, "unknown parameter 'sort': use period, by"),
        ({"period": ["2023", "2024"]}, "give period once"),
    ],
)
def test_a_bad_indicators_query_is_a_400_in_words(
    engine: Engine, query: dict[str, list[str]], reason: str
) -> None:
    _events(engine, 1)
    status, body = _api(engine).indicators("", query)
    assert status == 400
    assert reason in body["error"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"limit": ["0"]}, "limit must be a whole number from 1 to 1000, got 0"),
        ({"limit": ["ten"]}, "got 'ten'"),
        ({"cursor": ["!!"]}, "invalid cursor"),
        ({"department": ["330200.nosuch"]}, "unknown department"),
        ({"kind": ["withdraw"]}, "unknown kind"),
        ({"violation": ["published_late"]}, "applies to violations"),
        ({"colour": ["red"]}, "unknown parameter 'colour'"),
    ],
)
def test_a_bad_list_query_is_a_400_in_words(engine: Engine, query: dict[str, list[str]], reason: str) -> None:
    _events(engine, 1)
    status, body = _api(engine).lists("open", query)
    assert status == 400
    assert reason in body["error"]


def test_an_unknown_list_is_a_404_that_names_the_lists(engine: Engine) -> None:
    status, body = _api(engine).lists("everything", {})
    assert status == 404
    assert "overdue, open, violations, requests, errors" in body["error"]


def test_nothing_to_read_yet_is_a_503_and_the_api_reads_once_there_is(tmp_path: Path) -> None:
    """Before the first checkpoint the answer is 503 (retry); the same API answers once data lands."""
    url = f"sqlite:///{tmp_path}/state.db"
    engine = records.make_engine(url)
    try:
        api = _api(engine)
        status, body = api.lists("open", {})
        assert status == 503
        assert "no indicator data yet" in body["error"]
        engine.open_scope(("events", 0))
        _events(engine, 2)
        assert api.lists("open", {})[1]["total"] == 2
    finally:
        engine.store.close()


def test_one_connection_serves_every_request_and_a_lost_store_is_reopened(engine: Engine) -> None:
    """Requests share one store connection; after the store was away (503) the next request reopens."""
    _events(engine, 2)
    opens = _Opens()
    api = _api(engine, opens)
    for _ in range(5):
        assert api.lists("open", {})[0] == 200
        assert api.indicators("", {"period": ["2025"]})[0] == 200
    assert opens.calls == 1
    api.close()
    opens.failing = 1
    status, body = api.lists("open", {})
    assert status == 503
    assert "connection refused" in body["error"]
    assert api.lists("open", {})[0] == 200
    assert opens.calls == 3


def test_the_committed_openapi_document_is_the_one_served_with_the_shipped_registry(engine: Engine) -> None:
    """docs/openapi.json is regenerated with `python -m daemon.reports.openapi > docs/openapi.json`."""
    status, served = _api(engine).openapi("", {})
    assert status == 200
    assert served == openapi_document(load_registry(None))
    assert json.loads(DOCUMENT.read_text(encoding="utf-8")) == served
