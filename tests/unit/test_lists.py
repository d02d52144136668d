"""Tests of daemon.reports.lists on a SQLite store: filters, judgment at "now", pages, refusals, masking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from daemon.core.prepare import Message
from daemon.reports.lists import ListFilters, Lists
from daemon.runtime.engine import Engine
from tests import records
from tests.records import INGESTED, FakeDlq

RESIDENT_ID = "11010519491231002X"
MOBILE = "13812345678"
DAY = INGESTED - timedelta(days=20)
SCJGJ, JTJ = "330200.scjgj", "330200.jtj"
STAMP = int(INGESTED.timestamp() * 1000)


def _feed(engine: Engine, *items: tuple[str, dict[str, Any]]) -> None:
    offsets: dict[str, int] = {}
    messages = []
    for topic, record in items:
        offset = offsets.get(topic, 0)
        offsets[topic] = offset + 1
        messages.append(Message(topic, 0, offset, records.message_key(record), records.encode(record), STAMP))
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


def _lists(engine: Engine) -> Lists:
    return Lists(engine.store, engine.rules, engine.registry)


def _events(engine: Engine) -> None:
    _feed(
        engine,
        ("svmon.events", records.event("E-late", "created", DAY, kind="risk_warning", department=SCJGJ)),
        ("svmon.events", records.event("E-later", "created", DAY + timedelta(days=5), department=JTJ)),
        ("svmon.events", records.event("E-done", "created", DAY, department=SCJGJ)),
        ("svmon.events", records.event("E-done", "handled", DAY + timedelta(hours=2))),
    )


def test_overdue_is_judged_at_now_and_open_lists_every_open_event(engine: Engine) -> None:
    """An event is overdue once now is past its deadline; handled events are on neither list."""
    _events(engine)
    lists = _lists(engine)
    before, after = DAY.timestamp(), (DAY + timedelta(days=60)).timestamp()
    assert lists.header("overdue", ListFilters(), before)["total"] == 0
    assert [i["event_id"] for i in lists.items("overdue", ListFilters(), after)] == ["E-late", "E-later"]
    assert {i["event_id"] for i in lists.items("open", ListFilters(), before)} == {"E-late", "E-later"}
    late = next(lists.items("overdue", ListFilters(), after))
    assert late["working_days_overdue"] > 0
    assert "working_days_left" in next(lists.items("open", ListFilters(), before))


def test_filters_narrow_the_list(engine: Engine) -> None:
    """Department, kind and period filters each select their share; a period without events is empty."""
    _events(engine)
    lists = _lists(engine)
    now = (DAY + timedelta(days=60)).timestamp()
    assert [i["event_id"] for i in lists.items("open", ListFilters(department=JTJ), now)] == ["E-later"]
    assert [i["event_id"] for i in lists.items("open", ListFilters(kind="risk_warning"), now)] == ["E-late"]
    assert lists.header("open", ListFilters(period=str(DAY.year - 1)), now)["total"] == 0
    assert lists.header("open", ListFilters(period=DAY.date().isoformat()), now)["total"] == 1


@pytest.mark.parametrize(
    ("what", "filters", "reason"),
    [
        ("everything", ListFilters(), "unknown list"),
        ("open", ListFilters(department="330200.nosuch"), "unknown department"),
        ("open", ListFilters(division="999999"), "unknown division"),
        ("open", ListFilters(kind="withdraw"), "unknown kind"),
        ("violations", ListFilters(kind="risk_warning"), "does not apply"),
        ("open", ListFilters(violation="published_late"), "applies to violations"),
        ("violations", ListFilters(violation="rude"), "unknown violation"),
        ("open", ListFilters(period="2023-13"), "month must be 01-12"),
    ],
)
def test_a_bad_filter_is_refused_in_words(
    engine: Engine, what: str, filters: ListFilters, reason: str
) -> None:
    """Unknown lists, codes, kinds, violations and periods are ValueErrors that say what to use."""
    with pytest.raises(ValueError, match=reason):
        _lists(engine).header(what, filters, 0.0)


def test_a_bad_limit_or_cursor_is_refused(engine: Engine) -> None:
    """Page sizes outside 1..1000 and cursors that were not handed out are refused."""
    lists = _lists(engine)
    with pytest.raises(ValueError, match="limit"):
        lists.page("open", ListFilters(), 0.0, limit=0)
    with pytest.raises(ValueError, match="invalid cursor"):
        lists.page("open", ListFilters(), 0.0, cursor="not-a-cursor!")


def test_no_personal_information_reaches_a_list(engine: Engine) -> None:
    """A resident ID or a mobile number in the content or in an entity id is masked in the item."""
    _feed(
        engine,
        (
            "svmon.disclosures",
            records.disclosure(
                f"D{MOBILE}", DAY.date(), content=f"当事人（身份证号{RESIDENT_ID}）违反规定。"
            ),
        ),
        (
            "svmon.disclosures",
            records.disclosure(f"X{MOBILE}", DAY.date(), decision_no=f"甬市监罚〔2023〕{RESIDENT_ID}号"),
        ),
    )
    lists = _lists(engine)
    violations = list(lists.items("violations", ListFilters(), INGESTED.timestamp()))
    errors = list(lists.items("errors", ListFilters(), INGESTED.timestamp()))
    assert [v["violations"] for v in violations] == [["personal_info_exposed"]]
    assert [[error["code"] for error in e["errors"]] for e in errors] == [["invalid_decision_no"]]
    text = repr(violations + errors)
    assert RESIDENT_ID not in text
    assert RESIDENT_ID[:17] not in text
    assert MOBILE not in text
