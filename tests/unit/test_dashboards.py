"""The Grafana dashboards are generated, committed fresh, and follow the panel conventions."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from deploy.grafana import build
from deploy.grafana.specs import Chart, Query, Row, assemble
from tests.e2e.prometheus_fixtures import load_rule_groups

Json = dict[str, Any]

DASHBOARDS = build.dashboards()
UIDS = {
    "overview.json": "svmon-overview",
    "department.json": "svmon-department",
    "pipeline.json": "svmon-pipeline",
}
_INDICATOR_STATS = {10 + offset: name for offset, (_indicator, name) in enumerate(build.INDICATORS)}
# The panels committed before the alert lists and the top-k table were added, by the ids they keep.
EARLIER_PANELS: dict[str, dict[int, str]] = {
    "overview.json": {
        1: "Indicators against targets (day · month · quarter · year; catalogue and compliance: now)",
        **_INDICATOR_STATS,
        20: "Below target this month / year, by department",
        30: "Events",
        31: "Open events by kind",
        32: "Overdue events by department",
        33: "Events created per second by kind",
        34: "Share of events handled late (1h, 1d)",
        35: "Share of records erroneous (1h, 1d)",
        40: "Penalty disclosures",
        41: "Published disclosures in violation, by violation",
        42: "Open withdraw/modify requests by reason",
        50: "Pipeline health",
        51: "Targets up",
        52: "Instances ready",
        53: "Consumer lag by topic",
        54: "Share of messages to the DLQ (30m)",
        55: "Age of the last checkpoint",
    },
    "department.json": {
        1: "$department · $period (catalogue and compliance: now)",
        **_INDICATOR_STATS,
        20: "$department by division",
        30: "Rankings: $indicator · $period (lowest first)",
        31: "Departments ranked by $indicator",
        32: "Divisions ranked by $indicator",
        40: "$department: events, records and disclosures",
        41: "Open events by kind",
        42: "Overdue events by division",
        43: "Share of events handled late (burn-rate windows)",
        44: "Share of records erroneous (burn-rate windows)",
        45: "Erroneous records per second by error",
        46: "Published disclosures in violation",
        47: "Open withdraw/modify requests",
    },
    "pipeline.json": {
        1: "Consumption",
        2: "Consumer lag by partition",
        3: "Messages consumed per second",
        4: "Age of the newest event seen, by topic",
        10: "Dead letters and erroneous records",
        11: "DLQ writes per second",
        12: "Share of messages to the DLQ (30m)",
        13: "Erroneous records per second by error",
        20: "Checkpoints",
        21: "Checkpoint duration (p50, p99)",
        22: "Checkpoint failures (1h)",
        23: "Age of the last successful checkpoint",
        30: "Process",
        31: "Scrape target up",
        32: "Ready",
        33: "Version",
        34: "Calendar fallback days by year",
        35: "Working hours (Asia/Shanghai)",
    },
}


def _panels(dashboard: Json) -> list[Json]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def _of_type(dashboard: Json, kind: str) -> list[Json]:
    return [panel for panel in dashboard["panels"] if panel["type"] == kind]


def _exprs(panel: Json) -> list[str]:
    return [target["expr"] for target in panel.get("targets", [])]


def _alert_list(name: str) -> Json:
    (alert_list,) = _of_type(DASHBOARDS[name], "alertlist")
    return alert_list


def _department_links(panel: Json) -> list[str]:
    """The link URLs on a table's department column."""
    return [
        link["url"]
        for override in panel["fieldConfig"]["overrides"]
        if override["matcher"] == {"id": "byName", "options": "department"}
        for prop in override["properties"]
        if prop["id"] == "links"
        for link in prop["value"]
    ]


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_committed_json_equals_a_fresh_build(name: str) -> None:
    """deploy/grafana/dashboards/<name> is byte-for-byte what build.py generates now."""
    committed = (build.DASHBOARD_DIR / name).read_text(encoding="utf-8")
    assert committed == build.render(DASHBOARDS[name]), "run `python -m deploy.grafana.build`"


def test_check_mode_reports_fresh_dashboards() -> None:
    """`python -m deploy.grafana.build --check` succeeds on the committed files."""
    assert build.main(["--check"]) == 0


def test_check_mode_fails_on_a_stale_dashboard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--check` exits 1 and names the file when a committed dashboard differs from a fresh build."""
    for path in build.DASHBOARD_DIR.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    stale = tmp_path / "pipeline.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("Checkpoints", "Saves"), encoding="utf-8")
    monkeypatch.setattr(build, "DASHBOARD_DIR", tmp_path)
    assert build.main(["--check"]) == 1
    assert "pipeline.json" in capsys.readouterr().err


def test_the_three_dashboards_have_stable_uids() -> None:
    """Overview, department and pipeline dashboards exist under the uids the alerts link to."""
    assert {name: dashboard["uid"] for name, dashboard in DASHBOARDS.items()} == UIDS
    assert {path.name for path in build.DASHBOARD_DIR.glob("*.json")} == set(UIDS)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_panel_ids_are_explicit_and_unique(name: str) -> None:
    """Every panel, rows included, has its own positive integer id."""
    ids = [panel.get("id") for panel in DASHBOARDS[name]["panels"]]
    assert all(isinstance(panel_id, int) and panel_id > 0 for panel_id in ids)
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_earlier_panels_keep_their_ids(name: str) -> None:
    """Each panel that existed before the alert lists and the top-k table still has its id."""
    titles = {panel["id"]: panel["title"] for panel in DASHBOARDS[name]["panels"]}
    assert {panel_id: titles.get(panel_id) for panel_id in EARLIER_PANELS[name]} == EARLIER_PANELS[name]


def test_adding_a_panel_moves_no_other_panel_id() -> None:
    """A panel inserted before others leaves their ids as written: ids are never counted."""
    lag = Chart(7, "Lag", "timeseries", [Query("supervision_consumer_lag_messages")], "short")
    ready = Chart(9, "Ready", "stat", [Query("supervision_ready")], "short")
    new = Chart(30, "New", "stat", [Query("up")], "short")

    def ids(panels: list[Chart]) -> dict[str, int]:
        built = assemble("uid", "title", "", [], [Row(1, "row", panels)])
        return {panel["title"]: panel["id"] for panel in built["panels"]}

    assert ids([new, lag, ready]) == {"row": 1, "New": 30, "Lag": 7, "Ready": 9}
    assert ids([lag, ready]) == {"row": 1, "Lag": 7, "Ready": 9}


def test_indicator_stats_keep_ids_10_to_17() -> None:
    """The indicator stats keep ids 10-17 in both boards, in the order of build.INDICATORS."""
    for name in ("overview.json", "department.json"):
        stats = _of_type(DASHBOARDS[name], "stat")[:8]
        assert [p["id"] for p in stats] == list(range(10, 18))


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_datasource_is_the_templated_variable(name: str) -> None:
    """Panels and their queries use ${datasource}; the dashboard defines that variable."""
    dashboard = DASHBOARDS[name]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}"
    assert '"uid": "prometheus"' not in build.render(dashboard)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_every_panel_sets_a_unit_and_ratios_are_percentunit(name: str) -> None:
    """Each panel declares its unit; a panel plotting a 0-1 ratio uses percentunit, bounded 0 to 1."""
    for panel in _panels(DASHBOARDS[name]):
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("unit"), panel["title"]
        if any(":ratio" in expr for expr in _exprs(panel)):
            assert defaults["unit"] == "percentunit", panel["title"]
        if defaults["unit"] == "percentunit":
            assert (defaults["min"], defaults["max"]) == (0, 1), panel["title"]


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


def test_alert_lists_cover_every_svmon_alert_by_name() -> None:
    """The alert lists select rules named Supervision…, and every alert of alerts/rules is so named."""
    alerts = [rule["alert"] for group in load_rule_groups() for rule in group["rules"] if "alert" in rule]
    assert alerts
    for name in sorted(DASHBOARDS):
        options = _alert_list(name)["options"]
        assert all(options["alertName"] in alert for alert in alerts)
        assert options["stateFilter"]["firing"] is True
        assert options["dashboardAlerts"] is False
        assert "datasource" not in options  # a rule-source *name*: Grafana does not substitute ${datasource}


def test_overview_alert_list_shows_every_category_but_the_watchdog() -> None:
    """The overview lists indicator and pipeline alerts, every category of alerts/rules except meta."""
    categories = {
        rule["labels"]["category"]
        for group in load_rule_groups()
        for rule in group["rules"]
        if "alert" in rule
    }
    label_filter = _alert_list("overview.json")["options"]["alertInstanceLabelFilter"]
    shown = re.fullmatch(r'\{category=~"([a-z|]+)"\}', label_filter)
    assert shown, label_filter
    assert set(shown.group(1).split("|")) == categories - {"meta"}


def test_department_alert_list_is_filtered_by_the_chosen_department() -> None:
    """The drill-down lists only the alerts whose department label is the one chosen in $department."""
    options = _alert_list("department.json")["options"]
    assert options["alertInstanceLabelFilter"] == '{department="$department"}'


def test_overview_ranks_the_top_departments_by_overdue_events() -> None:
    """The overview has a top-k of supervision_events_overdue summed by department, largest first."""
    panels = [
        panel
        for panel in _panels(DASHBOARDS["overview.json"])
        if any(
            re.fullmatch(r"topk\(\d+, sum by \(department\) \(supervision_events_overdue\)\)", e)
            for e in _exprs(panel)
        )
    ]
    assert len(panels) == 1
    (top,) = panels
    assert top["type"] == "table"
    assert top["options"]["sortBy"] == [{"displayName": "Value", "desc": True}]


def test_overview_department_rows_link_to_the_drill_down() -> None:
    """Each department table of the overview links a row to svmon-department with var-department set."""
    tables = [
        panel
        for panel in _of_type(DASHBOARDS["overview.json"], "table")
        if any("department" in expr for expr in _exprs(panel))
    ]
    assert {panel["id"] for panel in tables} == {20, 62}
    drill_down = DASHBOARDS["department.json"]
    variables = {variable["name"] for variable in drill_down["templating"]["list"]}
    for panel in tables:
        (url,) = _department_links(panel)
        assert url.startswith(f"/d/{drill_down['uid']}/"), panel["title"]
        assert "var-department=${__data.fields.department}" in url, panel["title"]
        assert set(re.findall(r"var-(\w+)=", url)) <= variables, panel["title"]
        assert "${datasource:queryparam}" in url
        assert "${__url_time_range}" in url


def test_overview_shows_the_eight_indicators_against_targets() -> None:
    """The overview has one panel per indicator (contract §7), each plotting the ratio and the target."""
    panels = {panel["id"]: panel for panel in _panels(DASHBOARDS["overview.json"])}
    for offset, (indicator, _name) in enumerate(build.INDICATORS):
        exprs = _exprs(panels[10 + offset])
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
    exprs = [expr for panel in _panels(dashboard) for expr in _exprs(panel)]
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


def test_panel_queries_yields_every_query_and_skips_panels_without_any() -> None:
    """panel_queries gives (id, title, expr) for each query; rows and alert lists contribute none."""
    dashboard = DASHBOARDS["overview.json"]
    queries = list(build.panel_queries(dashboard))
    assert len(queries) == sum(len(_exprs(panel)) for panel in dashboard["panels"])
    assert {panel_id for panel_id, _title, _expr in queries} == {
        panel["id"] for panel in dashboard["panels"] if panel["type"] not in {"row", "alertlist"}
    }
