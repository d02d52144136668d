"""The full generated 2023 through ``svmon demo`` gives the seed report's figures (``make full-scenario``).

About 99k messages (the year, and its disclosures' lifecycle carried to today); the demo runs
without a terminal and without ``--keep-running``, so it exits by
itself once everything is consumed and checkpointed.  Not in the default suite (``-m "not slow"``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.exceptions import SourceError
from daemon.reports.render import format_percent
from daemon.tools.broker import broker_binary
from daemon.tools.demo import start_of_today
from seeds.scenario import generate
from tests.demo_process import report_json, run_report, start_demo, still_running
from tests.services import unavailable

pytestmark = [pytest.mark.slow, pytest.mark.integration]

#: 宁波市数据局2023年度法治政府建设报告, as docs/contract.md §11 quotes it.
SEED_REPORT = {
    "event_handling_rate": "99.99",  # 事件处理率
    "data_accuracy_rate": "100.00",  # 数据准确率 (after corrections)
    "item_onboarding_rate": "96.70",  # 监管事项入驻率
    "double_random_coverage_rate": "99.75",  # 双随机监管事项覆盖率
    "mobile_enforcement_rate": "99.98",  # 掌上执法率
}


def test_full_2023_scenario_reproduces_the_seed_report(tmp_path: Path) -> None:
    """The full demo year, consumed to the end, makes `svmon report --period 2023` print the seed figures."""
    try:
        broker_binary()
    except SourceError as exc:
        unavailable(str(exc))
    store = f"sqlite:///{tmp_path / 'full.db'}"
    demo = start_demo(tmp_path, "--speed", "fast", "--store", store)
    try:
        code = demo.process.wait(timeout=900)
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait(timeout=30)
    assert code == 0, demo.diagnostics()
    scenario = generate(2023, until=start_of_today())
    total = sum(len(messages) for messages in scenario.messages.values())
    assert f"caught up: all {total:,} messages" in demo.text()
    assert still_running(demo.remember_descendants()) == []

    report, before, after = report_json(store)
    figures = {
        indicator: format_percent(int(entry["numerator"]), int(entry["denominator"]))
        for indicator, entry in report["indicators"].items()
        if indicator in SEED_REPORT
    }
    assert figures == SEED_REPORT
    table, _, _ = run_report(store)
    for indicator, percent in SEED_REPORT.items():
        row = next(line for line in table.splitlines() if f" {indicator} " in line)
        assert f" {percent} " in row

    # 处罚公开合规率: only the planted violations, as the generator (lifecycle carried to today) says.
    compliance = report["indicators"]["disclosure_compliance_rate"]
    truths = {
        tuple(scenario.compliance_at(moment)["indicators"]["disclosure_compliance_rate"])
        for moment in (before, after)
    }
    assert (compliance["numerator"], compliance["denominator"]) in truths
    summary = next(line for line in demo.text().splitlines() if " disclosure_compliance_rate " in line)
    assert f" {format_percent(compliance['numerator'], compliance['denominator'])} " in summary
