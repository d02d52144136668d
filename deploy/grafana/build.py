"""Build svmon's Grafana dashboards as JSON, with the standard library only.

``python -m deploy.grafana.build`` rewrites ``deploy/grafana/dashboards/*.json``;
``python -m deploy.grafana.build --check`` exits 1 when the committed files differ from a fresh build.

Conventions every panel follows (tests/unit/test_dashboards.py checks them):
- the data source is the ``${datasource}`` variable, never a fixed uid, so one JSON fits every Grafana;
- each panel has an explicit, stable ``id`` written here (links and alert ``dashboard_url``s survive edits);
- each panel sets its unit: ``percentunit`` for ratios 0-1, ``s`` for ages, ``ops`` for per-second rates;
- queries read the recording rules of ``alerts/rules`` where one exists, so a panel shows exactly
  what an alert evaluates.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Json = dict[str, Any]

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 39

# (indicator id, 中文 name, the period label it is exported under when it has no calendar period)
INDICATORS: list[tuple[str, str]] = [
    ("event_handling_rate", "事件处理率 event handling"),
    ("event_on_time_rate", "按时处置率 on-time handling"),
    ("data_accuracy_rate", "数据准确率 data accuracy"),
    ("item_onboarding_rate", "监管事项入驻率 item onboarding"),
    ("double_random_coverage_rate", "双随机覆盖率 double-random coverage"),
    ("mobile_enforcement_rate", "掌上执法率 mobile enforcement"),
    ("disclosure_on_time_rate", "处罚结果按时公开率 disclosure on time"),
    ("disclosure_compliance_rate", "处罚公开合规率 disclosure compliance"),
]
PERIODS = ["day", "month", "quarter", "year"]

# Recording rules of alerts/rules read by the panels.
_RATIO = "indicator_period:supervision_indicator:ratio"
_RATIO_BY_DEPARTMENT = "indicator_period_department:supervision_indicator:ratio"
_RATIO_BY_DIVISION = "indicator_period_division:supervision_indicator:ratio"
_TARGET = "indicator:supervision_indicator_target:max"
_LATE = "department:supervision_events_handled_late:ratio_rate"
_ERRONEOUS = "department:supervision_records_erroneous:ratio_rate"


def _target(expr: str, legend: str = "", ref: str = "A", *, table: bool = False) -> Json:
    target: Json = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}
    if table:
        target.update({"format": "table", "instant": True, "range": False})
    return target


class _Layout:
    """Places panels left to right on Grafana's 24-column grid, wrapping to a new line when full."""

    def __init__(self) -> None:
        self.panels: list[Json] = []
        self._x = 0
        self._y = 0
        self._line_height = 0

    def row(self, panel_id: int, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self._y},
                "id": panel_id,
                "panels": [],
                "title": title,
                "type": "row",
            }
        )
        self._y += 1

    def add(
        self,
        panel_id: int,
        title: str,
        kind: str,
        targets: list[Json],
        unit: str,
        *,
        width: int = 8,
        height: int = 8,
        description: str = "",
        decimals: int | None = None,
        thresholds: list[tuple[float | None, str]] | None = None,
        options: Json | None = None,
    ) -> None:
        if self._x + width > 24:
            self._newline()
        defaults: Json = {"unit": unit}
        if unit == "percentunit":
            defaults.update({"min": 0, "max": 1})
        if decimals is not None:
            defaults["decimals"] = decimals
        steps = thresholds or [(None, "green")]
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in steps],
        }
        self.panels.append(
            {
                "datasource": DATASOURCE,
                "description": description,
                "fieldConfig": {"defaults": defaults, "overrides": []},
                "gridPos": {"h": height, "w": width, "x": self._x, "y": self._y},
                "id": panel_id,
                "options": options or {},
                "targets": targets,
                "title": title,
                "type": kind,
            }
        )
        self._x += width
        self._line_height = max(self._line_height, height)

    def _newline(self) -> None:
        if self._x:
            self._y += self._line_height
        self._x = 0
        self._line_height = 0


def _datasource_variable() -> Json:
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def _query_variable(name: str, label: str, query: str, *, include_all: bool = False) -> Json:
    variable: Json = {
        "current": {},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        "query": {"qryType": 1, "query": query, "refId": f"{name}-variable"},
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }
    if include_all:
        # "All" must match every division, and only divisions: `.+`, not Grafana's value list.
        variable["allValue"] = ".+"
        variable["current"] = {"selected": True, "text": "All", "value": "$__all"}
    return variable


def _custom_variable(name: str, label: str, values: list[str], default: str) -> Json:
    return {
        "current": {"selected": True, "text": default, "value": default},
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [{"selected": value == default, "text": value, "value": value} for value in values],
        "query": ",".join(values),
        "type": "custom",
    }


def _dashboard(uid: str, title: str, description: str, variables: list[Json], panels: list[Json]) -> Json:
    return {
        "annotations": {"list": []},
        "description": description,
        "editable": True,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": False,
                "icon": "dashboard",
                "includeVars": False,
                "keepTime": True,
                "tags": ["svmon"],
                "title": "svmon",
                "type": "dashboards",
            }
        ],
        "panels": panels,
        "refresh": "1m",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["svmon"],
        "templating": {"list": variables},
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "Asia/Shanghai",
        "title": title,
        "uid": uid,
        "version": 1,
    }


_STAT = {"colorMode": "value", "graphMode": "none", "reduceOptions": {"calcs": ["lastNotNull"]}}
_TABLE = {"showHeader": True}
_BARS = {"displayMode": "basic", "orientation": "horizontal", "reduceOptions": {"calcs": ["lastNotNull"]}}
_BELOW_TARGET = [(None, "red"), (0.95, "yellow"), (0.99, "green")]


def overview() -> Json:
    """The bureau's one screen: indicators against targets, open work, violations, pipeline health."""
    layout = _Layout()
    layout.row(1, "Indicators against targets (day · month · quarter · year; catalogue and compliance: now)")
    for offset, (indicator, name) in enumerate(INDICATORS):
        layout.add(
            10 + offset,
            name,
            "stat",
            [
                _target(f'{_RATIO}{{indicator="{indicator}"}}', "{{period}}"),
                _target(f'{_TARGET}{{indicator="{indicator}"}}', "target", "B"),
            ],
            "percentunit",
            width=6,
            height=5,
            decimals=2,
            description=f"City-wide {indicator}: numerators and denominators summed over every department "
            "and instance, then divided.",
            thresholds=_BELOW_TARGET,
            options=_STAT,
        )
    layout.add(
        20,
        "Below target this month / year, by department",
        "table",
        [
            _target(
                'indicator_period_department:supervision_indicator:ratio{period=~"month|year"}'
                " < on (indicator) group_left () indicator:supervision_indicator_target:max",
                table=True,
            )
        ],
        "percentunit",
        width=24,
        description="Every department whose month- or year-to-date indicator is under its target.",
        options=_TABLE,
    )
    layout.row(30, "Events")
    layout.add(
        31,
        "Open events by kind",
        "timeseries",
        [_target("sum by (kind) (supervision_events_open)", "{{kind}}")],
        "short",
    )
    layout.add(
        32,
        "Overdue events by department",
        "bargauge",
        [_target("sort_desc(sum by (department) (supervision_events_overdue))", "{{department}}")],
        "short",
        options=_BARS,
    )
    layout.add(
        33,
        "Events created per second by kind",
        "timeseries",
        [_target("sum by (kind) (rate(supervision_events_created_total[$__rate_interval]))", "{{kind}}")],
        "ops",
    )
    layout.add(
        34,
        "Share of events handled late (1h, 1d)",
        "timeseries",
        [
            _target("job:supervision_events_handled_late:ratio_rate1h", "1h"),
            _target("job:supervision_events_handled_late:ratio_rate1d", "1d", "B"),
        ],
        "percentunit",
    )
    layout.add(
        35,
        "Share of records erroneous (1h, 1d)",
        "timeseries",
        [
            _target("job:supervision_records_erroneous:ratio_rate1h", "1h"),
            _target("job:supervision_records_erroneous:ratio_rate1d", "1d", "B"),
        ],
        "percentunit",
    )
    layout.row(40, "Penalty disclosures")
    layout.add(
        41,
        "Published disclosures in violation, by violation",
        "bargauge",
        [_target("sum by (violation) (supervision_disclosure_violations)", "{{violation}}")],
        "short",
        width=12,
        thresholds=[(None, "green"), (1, "red")],
        options=_BARS,
    )
    layout.add(
        42,
        "Open withdraw/modify requests by reason",
        "bargauge",
        [_target("sum by (kind, reason) (supervision_disclosure_requests_open)", "{{kind}} · {{reason}}")],
        "short",
        width=12,
        options=_BARS,
    )
    layout.row(50, "Pipeline health")
    layout.add(
        51,
        "Targets up",
        "stat",
        [_target('sum(up{job="svmon"})', "up"), _target('count(up{job="svmon"})', "targets", "B")],
        "short",
        width=4,
        options=_STAT,
    )
    layout.add(
        52,
        "Instances ready",
        "stat",
        [_target("sum(supervision_ready)", "ready")],
        "short",
        width=4,
        thresholds=[(None, "red"), (1, "green")],
        options=_STAT,
    )
    layout.add(
        53,
        "Consumer lag by topic",
        "timeseries",
        [_target("topic:supervision_consumer_lag_messages:sum", "{{topic}}")],
        "short",
        width=6,
    )
    layout.add(
        54,
        "Share of messages to the DLQ (30m)",
        "timeseries",
        [_target("topic:supervision_dlq_writes:ratio_rate30m", "{{topic}}")],
        "percentunit",
        width=5,
    )
    layout.add(
        55,
        "Age of the last checkpoint",
        "stat",
        [_target("time() - max(supervision_checkpoint_last_success_timestamp_seconds)", "age")],
        "s",
        width=5,
        thresholds=[(None, "green"), (900, "red")],
        options=_STAT,
    )
    return _dashboard(
        "svmon-overview",
        "svmon · Overview",
        "The eight supervision indicators against their targets, open work and the pipeline's health.",
        [_datasource_variable()],
        layout.panels,
    )


def department() -> Json:
    """Drill-down into one department and its divisions, with the rankings of the bureau's notices."""
    period = 'period=~"$period|now"'
    layout = _Layout()
    layout.row(1, "$department · $period (catalogue and compliance: now)")
    for offset, (indicator, name) in enumerate(INDICATORS):
        layout.add(
            10 + offset,
            name,
            "stat",
            [
                _target(
                    "indicator_period_department:supervision_indicator:ratio"
                    f'{{department="$department", indicator="{indicator}", {period}}}',
                    "$department",
                ),
                _target(f'{_TARGET}{{indicator="{indicator}"}}', "target", "B"),
            ],
            "percentunit",
            width=6,
            height=5,
            decimals=2,
            thresholds=_BELOW_TARGET,
            options=_STAT,
        )
    layout.add(
        20,
        "$department by division",
        "table",
        [
            _target(
                "indicator_period_department_division:supervision_indicator:ratio"
                f'{{department="$department", division=~"$division", {period}}}',
                table=True,
            )
        ],
        "percentunit",
        width=24,
        options=_TABLE,
    )
    layout.row(30, "Rankings: $indicator · $period (lowest first)")
    layout.add(
        31,
        "Departments ranked by $indicator",
        "bargauge",
        [
            _target(
                f'sort({_RATIO_BY_DEPARTMENT}{{indicator="$indicator", {period}}})',
                "{{department}}",
            )
        ],
        "percentunit",
        width=12,
        height=12,
        decimals=2,
        thresholds=_BELOW_TARGET,
        options=_BARS,
    )
    layout.add(
        32,
        "Divisions ranked by $indicator",
        "bargauge",
        [
            _target(
                f'sort({_RATIO_BY_DIVISION}{{indicator="$indicator", {period}}})',
                "{{division}}",
            )
        ],
        "percentunit",
        width=12,
        height=12,
        decimals=2,
        thresholds=_BELOW_TARGET,
        options=_BARS,
    )
    layout.row(40, "$department: events, records and disclosures")
    selector = 'department="$department", division=~"$division"'
    layout.add(
        41,
        "Open events by kind",
        "timeseries",
        [_target(f"sum by (kind) (supervision_events_open{{{selector}}})", "{{kind}}")],
        "short",
    )
    layout.add(
        42,
        "Overdue events by division",
        "timeseries",
        [_target(f"sum by (division) (supervision_events_overdue{{{selector}}})", "{{division}}")],
        "short",
    )
    layout.add(
        43,
        "Share of events handled late (burn-rate windows)",
        "timeseries",
        [
            _target(f'{_LATE}1h{{department="$department"}}', "1h"),
            _target(f'{_LATE}1d{{department="$department"}}', "1d", "B"),
        ],
        "percentunit",
    )
    layout.add(
        44,
        "Share of records erroneous (burn-rate windows)",
        "timeseries",
        [
            _target(f'{_ERRONEOUS}1h{{department="$department"}}', "1h"),
            _target(f'{_ERRONEOUS}1d{{department="$department"}}', "1d", "B"),
        ],
        "percentunit",
    )
    layout.add(
        45,
        "Erroneous records per second by error",
        "timeseries",
        [
            _target(
                'sum by (error) (rate(supervision_records_erroneous_total{department="$department"}'
                "[$__rate_interval]))",
                "{{error}}",
            )
        ],
        "ops",
    )
    layout.add(
        46,
        "Published disclosures in violation",
        "bargauge",
        [
            _target(
                'department_violation:supervision_disclosure_violations:sum{department="$department"}',
                "{{violation}}",
            )
        ],
        "short",
        thresholds=[(None, "green"), (1, "red")],
        options=_BARS,
    )
    layout.add(
        47,
        "Open withdraw/modify requests",
        "bargauge",
        [
            _target(
                'sum by (kind, reason) (supervision_disclosure_requests_open{department="$department"})',
                "{{kind}} · {{reason}}",
            )
        ],
        "short",
        options=_BARS,
    )
    variables = [
        _datasource_variable(),
        _query_variable("department", "Department", f"label_values({_RATIO_BY_DEPARTMENT}, department)"),
        _query_variable(
            "division",
            "Division",
            'label_values(supervision_indicator_numerator{department="$department"}, division)',
            include_all=True,
        ),
        _custom_variable("period", "Period", PERIODS, "month"),
        _custom_variable("indicator", "Ranked indicator", [i for i, _ in INDICATORS], "event_handling_rate"),
    ]
    return _dashboard(
        "svmon-department",
        "svmon · Department",
        "One department's indicators, divisions, open work and violations, and the city's rankings.",
        variables,
        layout.panels,
    )


def pipeline() -> Json:
    """svmon itself: consumption, dead letters, checkpoints and process state."""
    layout = _Layout()
    layout.row(1, "Consumption")
    layout.add(
        2,
        "Consumer lag by partition",
        "timeseries",
        [_target("sum by (topic, partition) (supervision_consumer_lag_messages)", "{{topic}}/{{partition}}")],
        "short",
    )
    layout.add(
        3,
        "Messages consumed per second",
        "timeseries",
        [
            _target(
                "sum by (topic) (rate(supervision_messages_consumed_total[$__rate_interval]))", "{{topic}}"
            )
        ],
        "ops",
    )
    layout.add(
        4,
        "Age of the newest event seen, by topic",
        "timeseries",
        [_target("time() - max by (topic) (supervision_last_event_timestamp_seconds)", "{{topic}}")],
        "s",
    )
    layout.row(10, "Dead letters and erroneous records")
    layout.add(
        11,
        "DLQ writes per second",
        "timeseries",
        [_target("sum by (topic) (rate(supervision_dlq_writes_total[$__rate_interval]))", "{{topic}}")],
        "ops",
    )
    layout.add(
        12,
        "Share of messages to the DLQ (30m)",
        "timeseries",
        [_target("topic:supervision_dlq_writes:ratio_rate30m", "{{topic}}")],
        "percentunit",
        thresholds=[(None, "green"), (0.05, "red")],
    )
    layout.add(
        13,
        "Erroneous records per second by error",
        "timeseries",
        [
            _target(
                "sum by (error) (rate(supervision_records_erroneous_total[$__rate_interval]))", "{{error}}"
            )
        ],
        "ops",
    )
    layout.row(20, "Checkpoints")
    layout.add(
        21,
        "Checkpoint duration (p50, p99)",
        "timeseries",
        [
            _target(
                "histogram_quantile(0.5, sum by (le) "
                "(rate(supervision_checkpoint_duration_seconds_bucket[$__rate_interval])))",
                "p50",
            ),
            _target(
                "histogram_quantile(0.99, sum by (le) "
                "(rate(supervision_checkpoint_duration_seconds_bucket[$__rate_interval])))",
                "p99",
                "B",
            ),
        ],
        "s",
    )
    layout.add(
        22,
        "Checkpoint failures (1h)",
        "timeseries",
        [_target("sum by (instance) (increase(supervision_checkpoint_failures_total[1h]))", "{{instance}}")],
        "short",
    )
    layout.add(
        23,
        "Age of the last successful checkpoint",
        "timeseries",
        [
            _target(
                "time() - max by (instance) (supervision_checkpoint_last_success_timestamp_seconds)",
                "{{instance}}",
            )
        ],
        "s",
        thresholds=[(None, "green"), (900, "red")],
    )
    layout.row(30, "Process")
    layout.add(
        31,
        "Scrape target up",
        "stat",
        [_target('up{job="svmon"}', "{{instance}}")],
        "short",
        width=4,
        thresholds=[(None, "red"), (1, "green")],
        options=_STAT,
    )
    layout.add(
        32,
        "Ready",
        "stat",
        [_target("supervision_ready", "{{instance}}")],
        "short",
        width=4,
        thresholds=[(None, "red"), (1, "green")],
        options=_STAT,
    )
    layout.add(
        33,
        "Version",
        "table",
        [_target("supervision_build_info", table=True)],
        "none",
        width=6,
        options=_TABLE,
    )
    layout.add(
        34,
        "Calendar fallback days by year",
        "stat",
        [_target("sum by (year) (supervision_calendar_fallback_dates_total)", "{{year}}")],
        "short",
        width=5,
        thresholds=[(None, "green"), (1, "orange")],
        options=_STAT,
    )
    layout.add(
        35,
        "Working hours (Asia/Shanghai)",
        "stat",
        [_target("svmon:working_hours_asia_shanghai:bool", "working hours")],
        "bool_yes_no",
        width=5,
        options=_STAT,
    )
    return _dashboard(
        "svmon-pipeline",
        "svmon · Pipeline",
        "Kafka consumption, dead letters, checkpoints and process state of svmon.",
        [_datasource_variable()],
        layout.panels,
    )


def dashboards() -> dict[str, Json]:
    """Every dashboard, by the file name it is committed under."""
    return {"overview.json": overview(), "department.json": department(), "pipeline.json": pipeline()}


def render(dashboard: Json) -> str:
    """The committed text of a dashboard: sorted keys so that diffs show real changes only."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def panel_queries(dashboard: Json) -> Iterator[tuple[int, str, str]]:
    """(panel id, panel title, PromQL) for every query of every panel."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["id"], panel["title"], target["expr"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, dashboard in dashboards().items():
        path = DASHBOARD_DIR / name
        text = render(dashboard)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale dashboards, run `python -m deploy.grafana.build`: {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
