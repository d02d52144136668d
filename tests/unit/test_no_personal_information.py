"""No resident ID, mobile number or natural person's name leaves svmon, whichever way it is read.

Records carrying personal information where real ones do (a disclosure's content, a natural-person
party, an id, a batch id, a rejected record) are applied and checkpointed; then every list, every
notice in both formats, the API's answers and the /metrics exposition are read, and none of them
may contain the identifier, its first 17 digits, the number or the name. (The log chain is tested
in test_log.py; the DLQ carries the original bytes by design: it is where the data bureau's own
staff correct them, and it is not a list, label, log or notice.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from daemon.core.prepare import Message
from daemon.exposition.registry import metrics_registry
from daemon.reports.api import ReadApi
from daemon.reports.lists import WHATS, ListFilters, Lists
from daemon.reports.notice import render_html, render_markdown
from daemon.reports.notices import notices
from daemon.runtime.engine import Engine
from tests import records
from tests.records import INGESTED, FakeDlq

RESIDENT_ID = "11010519491231002X"  # valid check digit (GB 11643's textbook example)
MOBILE = "13812345678"
NAME = "张三丰"
STAMP = int(INGESTED.timestamp() * 1000)
DAY = INGESTED - timedelta(days=200)  # publicity and withdrawal limits long past: every violation fires


def _records() -> list[tuple[str, dict[str, Any]]]:
    person = {"type": "natural_person", "name": NAME, "id": RESIDENT_ID}
    return [
        ("svmon.disclosures", records.disclosure("D-person", DAY.date(), party=person)),
        (
            "svmon.disclosures",
            records.disclosure("D-content", DAY.date(), content=f"当事人{NAME}（电话{MOBILE}）违反规定。"),
        ),
        (
            "svmon.disclosures",
            records.disclosure(f"D{MOBILE}", DAY.date(), decision_no=f"甬市监罚〔2023〕{RESIDENT_ID}号"),
        ),
        ("svmon.events", records.event(f"E{RESIDENT_ID}", "created", DAY)),
        (
            "svmon.disclosure-requests",
            records.disclosure_request(
                f"R{MOBILE}", "submitted", DAY, disclosure_id="D-person", batch_id=f"B{MOBILE}"
            ),
        ),
    ]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = records.make_engine(f"sqlite:///{tmp_path}/state.db")
    for scope in ("events", "inspections", "disclosures"):
        engine.open_scope((scope, 0))
    offsets: dict[str, int] = {}
    messages = []
    for topic, record in _records():
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        messages.append(Message(topic, 0, offset, records.message_key(record), records.encode(record), STAMP))
    dlq = FakeDlq()
    engine.process(messages, dlq)
    engine.checkpoint(dlq)
    yield engine
    engine.store.close()


def _assert_clean(text: str) -> None:
    assert RESIDENT_ID not in text
    assert RESIDENT_ID[:17] not in text
    assert MOBILE not in text
    assert NAME not in text


def test_the_records_reach_every_list(engine: Engine) -> None:
    """The planted records are on the lists: a clean but empty answer would prove nothing."""
    lists = Lists(engine.store, engine.rules, engine.registry)
    now = INGESTED.timestamp()
    totals = {what: lists.header(what, ListFilters(), now)["total"] for what in WHATS}
    assert totals == {"overdue": 1, "open": 1, "violations": 2, "requests": 1, "errors": 1}
    exposed = {
        item["disclosure_id"]: item["personal_info_fields"]
        for item in lists.items("violations", ListFilters(), now)
    }
    assert exposed == {"D-person": ["party.id"], "D-content": ["content"]}


def test_no_list_names_a_person(engine: Engine) -> None:
    lists = Lists(engine.store, engine.rules, engine.registry)
    for what in WHATS:
        _assert_clean(
            json.dumps(list(lists.items(what, ListFilters(), INGESTED.timestamp())), ensure_ascii=False)
        )


def test_no_api_answer_names_a_person(engine: Engine) -> None:
    api = ReadApi(engine.settings, engine.registry, engine.rules, INGESTED.timestamp)
    answers = [api.lists(what, {}) for what in WHATS]
    answers.append(api.indicators("", {"period": [str(DAY.year)]}))
    assert all(status == 200 for status, _ in answers)
    _assert_clean(json.dumps([body for _, body in answers], ensure_ascii=False))
    api.close()


def test_no_notice_names_a_person(engine: Engine) -> None:
    found = notices(engine.settings, engine.store, str(DAY.year), "department", INGESTED.timestamp())
    assert found
    for notice in found:
        _assert_clean(render_markdown(notice))
        _assert_clean(render_html(notice))


def test_no_metric_label_names_a_person(engine: Engine) -> None:
    registry, _ = metrics_registry(
        lambda: engine.snapshot(now=INGESTED.timestamp()),
        engine.settings.targets.model_dump(),
        engine.registry,
        engine.settings.kafka.topics.inputs(),
    )
    exposition = generate_latest(registry).decode()
    assert "supervision_disclosure_violations" in exposition
    _assert_clean(exposition)
