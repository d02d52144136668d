"""The Grafana dashboards are generated, committed fresh, and follow the panel conventions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploy.grafana import build

DASHBOARDS = build.dashboards()
UIDS = {
    "overview.json": "svmon-overview",
    "department.json": "svmon-department",
    "pipeline.json": "svmon-pipeline",
}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_committed_json_equals_a_fresh_build(name: str) -> None:
    """deploy/grafana/dashboards/<name> is byte-for-byte what build.py generates now."""
    committed = (build.DASHBOARD_DIR / name).read_text(encoding="utf-8")
    assert committed == build.render(DASHBOARDS[name]), "run `python -m deploy.grafana.build`"


def test_check_mode_reports_fresh_dashboards() -> None:
    """`python -m deploy.grafana.build --check` succeeds on the committed files."""
    assert build.main(["--check"]) == 0


def test_the_three_dashboards_have_stable_uids() -> None:
    """Overview, department and pipeline dashboards exist under the uids the alerts link to."""
    assert {name: dashboard["uid"] for name, dashboard in DASHBOARDS.items()} == UIDS
    assert {path.name for path in build.DASHBOARD_DIR.glob("*.json")} == set(UIDS)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_ids_are_explicit_and_unique(name: str) -> None:
    """Every panel, rows included, has its own positive integer id."""
    ids = [panel["id"] for panel in DASHBOARDS[name]["panels"]]
    assert all(isinstance(panel_id, int) and panel_id > 0 for panel_id in ids)
    assert len(ids) == len(set(ids))


def test_panel_ids_do_not_move_when_panels_change() -> None:
    """Ids are written in build.py, not counted: the indicator stats keep ids 10-17 in both boards."""
    for name in ("overview.json", "department.json"):
        stats = [p for p in _panels(DASHBOARDS[name]) if p["type"] == "stat"][:8]
        assert [p["id"] for p in stats] == list(range(10, 18))


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_datasource_is_the_templated_variable(name: str) -> None:
    """Panels and their queries use ${datasource}; the dashboard defines that variable."""
    dashboard = DASHBOARDS[name]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
    assert "${datasource}" in json.dumps(dashboard)
    assert '"uid": "prometheus"' not in build.render(dashboard)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_sets_a_unit_and_ratios_are_percentunit(name: str) -> None:
    """Each panel declares its unit; a panel plotting a 0-1 ratio uses percentunit."""
    for panel in _panels(DASHBOARDS[name]):
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit, panel["title"]
        exprs = [target["expr"] for target in panel["targets"]]
        if any(":ratio" in expr for expr in exprs):
            assert unit == "percentunit", panel["title"]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panels_fit_the_grid_without_overlapping(name: str) -> None:
    """Panels lie within Grafana's 24 columns and no two cover the same cell."""
    cells: set[tuple[int, int]] = set()
    for panel in DASHBOARDS[name]["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0
        assert grid["x"] + grid["w"] <= 24
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & mine, panel["title"]
        cells |= mine


def test_overview_shows_the_eight_indicators_against_targets() -> None:
    """The overview has one panel per SPEC §7 indicator, each plotting the ratio and the target."""
    panels = {panel["id"]: panel for panel in _panels(DASHBOARDS["overview.json"])}
    for offset, (indicator, _name) in enumerate(build.INDICATORS):
        exprs = [target["expr"] for target in panels[10 + offset]["targets"]]
        assert any(f'indicator="{indicator}"' in e and ":ratio" in e for e in exprs)
        assert any("supervision_indicator_target" in e for e in exprs)
    assert len(build.INDICATORS) == 8


def test_department_dashboard_has_department_division_period_variables_and_rankings() -> None:
    """The drill-down filters by department and division, picks a period, and ranks departments."""
    dashboard = DASHBOARDS["department.json"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert {"datasource", "department", "division", "period", "indicator"} <= set(variables)
    assert variables["division"]["allValue"] == ".+"
    assert [option["value"] for option in variables["period"]["options"]] == build.PERIODS
    exprs = [target["expr"] for panel in _panels(dashboard) for target in panel["targets"]]
    assert any(expr.startswith("sort(indicator_period_department:") for expr in exprs)
    assert any(expr.startswith("sort(indicator_period_division:") for expr in exprs)
    assert any('division=~"$division"' in expr for expr in exprs)


def test_pipeline_dashboard_covers_lag_throughput_dlq_and_checkpoints() -> None:
    """The pipeline dashboard plots consumer lag, consumption, DLQ writes and checkpoint health."""
    exprs = " ".join(expr for _id, _title, expr in build.panel_queries(DASHBOARDS["pipeline.json"]))
    for metric in (
        "supervision_consumer_lag_messages",
        "supervision_messages_consumed_total",
        "supervision_dlq_writes_total",
        "supervision_checkpoint_duration_seconds_bucket",
        "supervision_checkpoint_last_success_timestamp_seconds",
        "supervision_checkpoint_failures_total",
    ):
        assert metric in exprs
