"""``svmon demo`` end to end: broker, generated year, daemon and summary, then ``svmon report``.

The scenario is shortened (``--scale 0.05``, ~5.6k messages) for the suite's time; the full year is
``tests/e2e/test_full_scenario.py`` (``make full-scenario``).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from daemon.exceptions import SourceError
from daemon.tools.broker import broker_binary
from daemon.tools.demo import start_of_today
from seeds.scenario import Scenario, generate
from tests.demo_process import Demo, report_json, start_demo, still_running
from tests.services import unavailable

pytestmark = pytest.mark.integration

SEED = 7
SCALE = 0.05
COMPLIANCE = "disclosure_compliance_rate"
Ratios = dict[str, tuple[int, int]]


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """What the demo generates: the year, each disclosure's lifecycle carried to today."""
    return generate(SEED, scale=SCALE, until=start_of_today())


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """A running demo of the shortened scenario that stays up until SIGTERM; killed if a test fails."""
    try:
        broker_binary()
    except SourceError as exc:
        unavailable(str(exc))
    store = f"sqlite:///{tmp_path / 'demo.db'}"
    running = start_demo(
        tmp_path,
        "--scale",
        str(SCALE),
        "--seed",
        str(SEED),
        "--speed",
        "fast",
        "--keep-running",
        "--store",
        store,
    )
    try:
        yield running
    finally:
        running.kill_if_running()


def _ratios(indicators: dict[str, Any]) -> Ratios:
    return {name: (int(v["numerator"]), int(v["denominator"])) for name, v in indicators.items()}


def _compliance(scenario: Scenario, before: datetime, after: datetime) -> tuple[int, int] | None:
    """Compliance at the report's "now", known when it is the same at both ends of the report's run."""
    at_start = scenario.compliance_at(before)["indicators"][COMPLIANCE]
    at_end = scenario.compliance_at(after)["indicators"][COMPLIANCE]
    return (int(at_start[0]), int(at_start[1])) if at_start == at_end else None


def test_demo_reproduces_the_truth_and_leaves_no_process_behind(
    demo: Demo, scenario: Scenario, tmp_path: Path
) -> None:
    """Caught up, the demo stops on SIGTERM with exit 0 and no child left; its store reports the truth."""
    demo.wait_caught_up(timeout=180)
    metrics_url = demo.line_with("metrics").split()[-1]
    with urllib.request.urlopen(metrics_url, timeout=10) as response:  # noqa: S310 - loopback http
        exposition = response.read().decode()
    assert "supervision_messages_consumed_total" in exposition
    children = demo.remember_descendants()
    assert len(children) >= 2, f"expected the daemon and the broker below the demo, got {children}"

    assert demo.terminate() == 0, demo.diagnostics()
    assert still_running(children) == []
    assert "caught up: all 5," in demo.text()

    store = f"sqlite:///{tmp_path / 'demo.db'}"
    for _attempt in range(3):
        report, before, after = report_json(store)
        compliance = _compliance(scenario, before, after)
        if compliance is not None:
            break
    else:
        pytest.fail("a publicity period kept expiring during every report run")
    truth: Ratios = {k: (int(v[0]), int(v[1])) for k, v in scenario.truth["indicators"].items()}
    # The truth's compliance is at the scenario's end; the report judges it at its own "now".
    truth[COMPLIANCE] = compliance
    assert _ratios(report["indicators"]) == truth
    by_department = {
        group["department"]: {
            k: v for k, v in _ratios(group["indicators"]).items() if v[1] and k != COMPLIANCE
        }
        for group in report["groups"]
    }
    truth_by_department = {
        department: {k: (int(v[0]), int(v[1])) for k, v in cells.items() if v[1] and k != COMPLIANCE}
        for department, cells in scenario.truth["by_department"].items()
    }
    assert {d: c for d, c in by_department.items() if c} == {
        d: c for d, c in truth_by_department.items() if c
    }
    assert report["period"] == {"label": "2023", "start": "2023-01-01", "end": "2023-12-31"}
