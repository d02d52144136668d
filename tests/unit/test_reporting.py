"""Tests of daemon.reports.report: svmon report and the indicator API read the store."""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from daemon.config import Settings, StoreSettings
from daemon.exceptions import EXIT_FAILURE, EXIT_OK
from daemon.reports.query import EmptyStoreError
from daemon.reports.report import report_command, report_json
from tests import records
from tests.records import INGESTED, FakeDlq

START = records.at(date(2023, 10, 8))


def _args(url: str, period: str = "2023", fmt: str = "json", by: str = "department") -> argparse.Namespace:
    return argparse.Namespace(store=url, period=period, format=fmt, by=by)


def _filled(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/state.db"
    engine = records.make_engine(url)
    engine.open_scope(("events", 0))
    dlq = FakeDlq()
    messages = [
        records.raw(records.event("E1", "created", START)),
        records.raw(records.event("E1", "handled", START + timedelta(days=1))),
        records.raw(records.event("E2", "created", START)),
    ]
    engine.process(records.assign_offsets(messages), dlq)
    engine.checkpoint(dlq)
    engine.store.close()
    return url


def test_missing_store_prints_a_plain_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """svmon report on a store that does not exist says so plainly, creates nothing, and exits 1."""
    url = f"sqlite:///{tmp_path}/absent.db"
    assert report_command(Settings(), _args(url)) == EXIT_FAILURE
    captured = capsys.readouterr()
    assert "No indicator data" in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not (tmp_path / "absent.db").exists()


def test_empty_store_prints_a_plain_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """svmon report on a store that was never checkpointed prints the same plain message."""
    url = f"sqlite:///{tmp_path}/empty.db"
    records.make_engine(url).store.close()
    assert report_command(Settings(), _args(url)) == EXIT_FAILURE
    assert "is empty or does not exist" in capsys.readouterr().err


def test_report_json_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The JSON report carries the docs/contract.md §10 shape with the store's numerators and denominators."""
    url = _filled(tmp_path)
    assert report_command(Settings(), _args(url, period="2023Q4")) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"period", "as_of", "indicators", "groups"}
    assert report["period"] == {"label": "2023Q4", "start": "2023-10-01", "end": "2023-12-31"}
    handling = report["indicators"]["event_handling_rate"]
    assert (handling["numerator"], handling["denominator"], handling["ratio"]) == (1, 2, 0.5)
    assert report["indicators"]["mobile_enforcement_rate"]["ratio"] is None
    assert [group["department"] for group in report["groups"]] == [records.DEPARTMENT_CODES[0]]


def test_a_bad_period_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unparseable period exits 2 with a message saying what is accepted."""
    assert report_command(Settings(), _args(_filled(tmp_path), period="last year")) == 2
    assert "accepted" in capsys.readouterr().err


def test_api_json_groups_by_division(tmp_path: Path) -> None:
    """The API's JSON is the same report, grouped as asked."""
    settings = Settings(store=StoreSettings(url=_filled(tmp_path)))
    report = report_json(settings, period_text="2023-10", by="division", now=INGESTED.timestamp())
    assert [group["division"] for group in report["groups"]] == ["330200"]
    with pytest.raises(ValueError, match="group"):
        report_json(settings, period_text="2023", by="team", now=INGESTED.timestamp())


def test_api_on_an_absent_store_says_no_data_yet(tmp_path: Path) -> None:
    """The API turns a missing store into "no data yet" (shown as 503), without creating the store."""
    settings = Settings(store=StoreSettings(url=f"sqlite:///{tmp_path}/absent.db"))
    with pytest.raises(EmptyStoreError, match="no indicator data"):
        report_json(settings, period_text="2023", by="department", now=INGESTED.timestamp())
    assert not (tmp_path / "absent.db").exists()
