"""Build svmon's Grafana dashboards as JSON with grafana-foundation-sdk.

``python -m deploy.grafana.build`` rewrites ``deploy/grafana/dashboards/*.json``;
``python -m deploy.grafana.build --check`` exits 1 when the committed files differ from a fresh build.

Each dashboard is a table of rows and panel specs (``deploy/grafana/specs.py`` turns them into the
SDK's builders). Conventions every panel follows (tests/unit/test_dashboards.py checks them):
- the data source is the ``${datasource}`` variable, never a fixed uid, so one JSON fits every Grafana;
- each panel has an explicit, stable ``id`` written here (links and alert ``dashboard_url``s survive
  edits): take a new id for a new panel, never renumber;
- each panel sets its unit: ``percentunit`` for ratios 0-1, ``s`` for ages, ``ops`` for per-second rates;
- queries read the recording rules of ``alerts/rules`` where one exists, so a panel shows exactly
  what an alert evaluates.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from deploy.grafana.specs import (
    AlertList,
    Chart,
    Json,
    Link,
    Panel,
    Query,
    Row,
    Steps,
    assemble,
    custom_variable,
    datasource_variable,
    query_variable,
)

DASHBOARD_DIR = Path(__file__).resolve().parent / "dashboards"
DEPARTMENT_UID = "svmon-department"

# (indicator id, 中文 name). The indicator stats take panel ids 10-19 in this order: append, never insert.
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
_RATIO_BY_DEPARTMENT_DIVISION = "indicator_period_department_division:supervision_indicator:ratio"
_TARGET = "indicator:supervision_indicator_target:max"
_DEPARTMENT_LATE = "department:supervision_events_handled_late:ratio_rate"
_DEPARTMENT_ERRONEOUS = "department:supervision_records_erroneous:ratio_rate"
_DLQ_SHARE = Query("topic:supervision_dlq_writes:ratio_rate30m", "{{topic}}")
_OVERDUE_BY_DEPARTMENT = "sum by (department) (supervision_events_overdue)"
_LAST_CHECKPOINT = "supervision_checkpoint_last_success_timestamp_seconds"

_BELOW_TARGET: Steps = ((None, "red"), (0.95, "yellow"), (0.99, "green"))
_ANY_IS_BAD: Steps = ((None, "green"), (1, "red"))
_ALL_UP: Steps = ((None, "red"), (1, "green"))
_STALE_CHECKPOINT: Steps = ((None, "green"), (900, "red"))
# The drill-down's selectors. Catalogue and compliance ratios have no calendar period: they are "now".
_PERIOD = 'period=~"$period|now"'
_IN_DEPARTMENT = 'department="$department"'
_IN_DIVISIONS = 'division=~"$division"'


def _by(labels: str, series: str, *, legend: str = "") -> Query:
    """A gauge summed by ``labels``, one series per value (legend: the label, unless given)."""
    return Query(f"sum by ({labels}) ({series})", legend or f"{{{{{labels}}}}}")


def _rate(label: str, counter: str) -> Query:
    """Per-second rate of a counter summed by a label; ``$__rate_interval`` spans at least two scrapes."""
    return Query(f"sum by ({label}) (rate({counter}[$__rate_interval]))", f"{{{{{label}}}}}")


def _windows(panel_id: int, title: str, record: str, selector: str = "") -> Chart:
    """A ratio recorded over the 1h and 1d windows of the burn-rate alerts, on one chart."""
    queries = [Query(f"{record}{window}{selector}", window) for window in ("1h", "1d")]
    return Chart(panel_id, title, "timeseries", queries, "percentunit")


def _indicator_stats(ratio: Callable[[str], str], legend: str, description: str = "") -> list[Chart]:
    """The eight indicators (panel ids 10-17), each against its target; ``ratio`` gives its query."""
    return [
        Chart(
            10 + offset,
            name,
            "stat",
            [Query(ratio(indicator), legend), Query(f'{_TARGET}{{indicator="{indicator}"}}', "target")],
            "percentunit",
            width=6,
            height=5,
            decimals=2,
            thresholds=_BELOW_TARGET,
            description=description.format(indicator=indicator),
        )
        for offset, (indicator, name) in enumerate(INDICATORS)
    ]


def _drilldown(*variables: str, column: str | None = "department") -> Link:
    """A link to the department drill-down for the department of a table row, or of a series (None).

    The drill-down's ``department`` and the other ``variables`` are read from the row's cells (the
    link sits on ``column``) or from the series' labels; data source and time range are kept.
    """

    def value(name: str) -> str:
        return f"${{__data.fields.{name}}}" if column else f"${{__field.labels.{name}}}"

    chosen = "&".join(f"var-{name}={value(name)}" for name in ("department", *variables))
    url = f"/d/{DEPARTMENT_UID}/svmon-department?{chosen}&${{datasource:queryparam}}&${{__url_time_range}}"
    return Link("Open this department", url, column)


# svmon · Overview


def _overview_on_call() -> Row:
    panels: list[Panel] = [
        # The Watchdog (category="meta") fires all the time by design: nothing for the on-call.
        AlertList(61, "Firing svmon alerts", '{category=~"indicator|pipeline"}', width=16, height=8),
        Chart(
            62,
            "Top 10 departments by overdue events",
            "table",
            [Query(f"topk(10, {_OVERDUE_BY_DEPARTMENT})")],
            "short",
            description="Open events past their handling deadline; a row opens its department.",
            link=_drilldown(),
            sort_descending_by="Value",
        ),
    ]
    return Row(60, "On call: firing alerts and the most overdue departments", panels)


def _overview_indicators() -> Row:
    below_target = f'{_RATIO_BY_DEPARTMENT}{{period=~"month|year"}} < on (indicator) group_left () {_TARGET}'
    panels: list[Panel] = [
        *_indicator_stats(
            lambda indicator: f'{_RATIO}{{indicator="{indicator}"}}',
            "{{period}}",
            "City-wide {indicator}: numerators and denominators summed over every department "
            "and instance, then divided.",
        ),
        Chart(
            20,
            "Below target this month / year, by department",
            "table",
            [Query(below_target)],
            "percentunit",
            width=24,
            description="Every department whose month- or year-to-date indicator is under its target; "
            "a row opens its department at that period and indicator.",
            link=_drilldown("period", "indicator"),
        ),
    ]
    title = "Indicators against targets (day · month · quarter · year; catalogue and compliance: now)"
    return Row(1, title, panels)


def _overview_events() -> Row:
    panels: list[Panel] = [
        Chart(31, "Open events by kind", "timeseries", [_by("kind", "supervision_events_open")], "short"),
        Chart(
            32,
            "Overdue events by department",
            "bargauge",
            [Query(f"sort_desc({_OVERDUE_BY_DEPARTMENT})", "{{department}}")],
            "short",
            link=_drilldown(column=None),
        ),
        Chart(
            33,
            "Events created per second by kind",
            "timeseries",
            [_rate("kind", "supervision_events_created_total")],
            "ops",
        ),
        _windows(
            34, "Share of events handled late (1h, 1d)", "job:supervision_events_handled_late:ratio_rate"
        ),
        _windows(35, "Share of records erroneous (1h, 1d)", "job:supervision_records_erroneous:ratio_rate"),
    ]
    return Row(30, "Events", panels)


def _overview_disclosures() -> Row:
    panels: list[Panel] = [
        Chart(
            41,
            "Published disclosures in violation, by violation",
            "bargauge",
            [_by("violation", "supervision_disclosure_violations")],
            "short",
            width=12,
            thresholds=_ANY_IS_BAD,
        ),
        Chart(
            42,
            "Open withdraw/modify requests by reason",
            "bargauge",
            [_by("kind, reason", "supervision_disclosure_requests_open", legend="{{kind}} · {{reason}}")],
            "short",
            width=12,
        ),
    ]
    return Row(40, "Penalty disclosures", panels)


def _overview_pipeline_health() -> Row:
    targets = [Query('sum(up{job="svmon"})', "up"), Query('count(up{job="svmon"})', "targets")]
    panels: list[Panel] = [
        Chart(51, "Targets up", "stat", targets, "short", width=4),
        Chart(
            52,
            "Instances ready",
            "stat",
            [Query("sum(supervision_ready)", "ready")],
            "short",
            width=4,
            thresholds=_ALL_UP,
        ),
        Chart(
            53,
            "Consumer lag by topic",
            "timeseries",
            [Query("topic:supervision_consumer_lag_messages:sum", "{{topic}}")],
            "short",
            width=6,
        ),
        Chart(54, "Share of messages to the DLQ (30m)", "timeseries", [_DLQ_SHARE], "percentunit", width=5),
        Chart(
            55,
            "Age of the last checkpoint",
            "stat",
            [Query(f"time() - max({_LAST_CHECKPOINT})", "age")],
            "s",
            width=5,
            thresholds=_STALE_CHECKPOINT,
        ),
    ]
    return Row(50, "Pipeline health", panels)


# svmon · Department: the department chosen in `$department`, and the city's rankings.


def _department_alerts() -> Row:
    title = "Firing alerts for $department"
    return Row(60, title, [AlertList(61, title, f"{{{_IN_DEPARTMENT}}}")])


def _department_indicators() -> Row:
    by_division = f"{_RATIO_BY_DEPARTMENT_DIVISION}{{{_IN_DEPARTMENT}, {_IN_DIVISIONS}, {_PERIOD}}}"
    panels: list[Panel] = [
        *_indicator_stats(
            lambda indicator: (
                f'{_RATIO_BY_DEPARTMENT}{{{_IN_DEPARTMENT}, indicator="{indicator}", {_PERIOD}}}'
            ),
            "$department",
        ),
        Chart(20, "$department by division", "table", [Query(by_division)], "percentunit", width=24),
    ]
    return Row(1, "$department · $period (catalogue and compliance: now)", panels)


def _department_rankings() -> Row:
    def ranking(panel_id: int, what: str, record: str, label: str) -> Chart:
        query = Query(f'sort({record}{{indicator="$indicator", {_PERIOD}}})', f"{{{{{label}}}}}")
        title = f"{what} ranked by $indicator"
        return Chart(
            panel_id,
            title,
            "bargauge",
            [query],
            "percentunit",
            width=12,
            height=12,
            decimals=2,
            thresholds=_BELOW_TARGET,
        )

    panels: list[Panel] = [
        ranking(31, "Departments", _RATIO_BY_DEPARTMENT, "department"),
        ranking(32, "Divisions", _RATIO_BY_DIVISION, "division"),
    ]
    return Row(30, "Rankings: $indicator · $period (lowest first)", panels)


def _department_work() -> Row:
    department = f"{{{_IN_DEPARTMENT}}}"
    selected = f"{{{_IN_DEPARTMENT}, {_IN_DIVISIONS}}}"
    violations = "department_violation:supervision_disclosure_violations:sum"
    panels: list[Panel] = [
        Chart(
            41,
            "Open events by kind",
            "timeseries",
            [_by("kind", f"supervision_events_open{selected}")],
            "short",
        ),
        Chart(
            42,
            "Overdue events by division",
            "timeseries",
            [_by("division", f"supervision_events_overdue{selected}")],
            "short",
        ),
        _windows(43, "Share of events handled late (burn-rate windows)", _DEPARTMENT_LATE, department),
        _windows(44, "Share of records erroneous (burn-rate windows)", _DEPARTMENT_ERRONEOUS, department),
        Chart(
            45,
            "Erroneous records per second by error",
            "timeseries",
            [_rate("error", f"supervision_records_erroneous_total{department}")],
            "ops",
        ),
        Chart(
            46,
            "Published disclosures in violation",
            "bargauge",
            [Query(f"{violations}{department}", "{{violation}}")],
            "short",
            thresholds=_ANY_IS_BAD,
        ),
        Chart(
            47,
            "Open withdraw/modify requests",
            "bargauge",
            [
                _by(
                    "kind, reason",
                    f"supervision_disclosure_requests_open{department}",
                    legend="{{kind}} · {{reason}}",
                )
            ],
            "short",
        ),
    ]
    return Row(40, "$department: events, records and disclosures", panels)


# svmon · Pipeline


def _pipeline_alerts() -> Row:
    title = "Firing pipeline alerts"
    return Row(60, title, [AlertList(61, title, '{category="pipeline"}')])


def _pipeline_consumption() -> Row:
    lag = _by("topic, partition", "supervision_consumer_lag_messages", legend="{{topic}}/{{partition}}")
    newest = Query("time() - max by (topic) (supervision_last_event_timestamp_seconds)", "{{topic}}")
    panels: list[Panel] = [
        Chart(2, "Consumer lag by partition", "timeseries", [lag], "short"),
        Chart(
            3,
            "Messages consumed per second",
            "timeseries",
            [_rate("topic", "supervision_messages_consumed_total")],
            "ops",
        ),
        Chart(4, "Age of the newest event seen, by topic", "timeseries", [newest], "s"),
    ]
    return Row(1, "Consumption", panels)


def _pipeline_dead_letters() -> Row:
    panels: list[Panel] = [
        Chart(
            11, "DLQ writes per second", "timeseries", [_rate("topic", "supervision_dlq_writes_total")], "ops"
        ),
        Chart(
            12,
            "Share of messages to the DLQ (30m)",
            "timeseries",
            [_DLQ_SHARE],
            "percentunit",
            thresholds=((None, "green"), (0.05, "red")),
        ),
        Chart(
            13,
            "Erroneous records per second by error",
            "timeseries",
            [_rate("error", "supervision_records_erroneous_total")],
            "ops",
        ),
    ]
    return Row(10, "Dead letters and erroneous records", panels)


def _pipeline_checkpoints() -> Row:
    buckets = "rate(supervision_checkpoint_duration_seconds_bucket[$__rate_interval])"
    quantiles = [
        Query(f"histogram_quantile({q}, sum by (le) ({buckets}))", f"p{round(q * 100)}") for q in (0.5, 0.99)
    ]
    failures = Query(
        "sum by (instance) (increase(supervision_checkpoint_failures_total[1h]))", "{{instance}}"
    )
    age = Query(f"time() - max by (instance) ({_LAST_CHECKPOINT})", "{{instance}}")
    panels: list[Panel] = [
        Chart(21, "Checkpoint duration (p50, p99)", "timeseries", quantiles, "s"),
        Chart(22, "Checkpoint failures (1h)", "timeseries", [failures], "short"),
        Chart(
            23,
            "Age of the last successful checkpoint",
            "timeseries",
            [age],
            "s",
            thresholds=_STALE_CHECKPOINT,
        ),
    ]
    return Row(20, "Checkpoints", panels)


def _pipeline_process() -> Row:
    def per_instance(panel_id: int, title: str, expr: str) -> Chart:
        return Chart(
            panel_id, title, "stat", [Query(expr, "{{instance}}")], "short", width=4, thresholds=_ALL_UP
        )

    fallbacks = _by("year", "supervision_calendar_fallback_dates_total")
    working_hours = Query("svmon:working_hours_asia_shanghai:bool", "working hours")
    panels: list[Panel] = [
        per_instance(31, "Scrape target up", 'up{job="svmon"}'),
        per_instance(32, "Ready", "supervision_ready"),
        Chart(33, "Version", "table", [Query("supervision_build_info")], "none", width=6),
        Chart(
            34,
            "Calendar fallback days by year",
            "stat",
            [fallbacks],
            "short",
            width=5,
            thresholds=((None, "green"), (1, "orange")),
        ),
        Chart(35, "Working hours (Asia/Shanghai)", "stat", [working_hours], "bool_yes_no", width=5),
    ]
    return Row(30, "Process", panels)


def overview() -> Json:
    """The bureau's one screen: firing alerts, indicators against targets, open work, pipeline health."""
    return assemble(
        "svmon-overview",
        "svmon · Overview",
        "The eight supervision indicators against their targets, open work and the pipeline's health.",
        [datasource_variable()],
        [
            _overview_on_call(),
            _overview_indicators(),
            _overview_events(),
            _overview_disclosures(),
            _overview_pipeline_health(),
        ],
    )


def department() -> Json:
    """Drill-down into one department and its divisions, with the rankings of the bureau's notices."""
    variables = [
        datasource_variable(),
        query_variable("department", "Department", f"label_values({_RATIO_BY_DEPARTMENT}, department)"),
        query_variable(
            "division",
            "Division",
            f"label_values(supervision_indicator_numerator{{{_IN_DEPARTMENT}}}, division)",
            include_all=True,
        ),
        custom_variable("period", "Period", PERIODS, "month"),
        custom_variable("indicator", "Ranked indicator", [i for i, _ in INDICATORS], "event_handling_rate"),
    ]
    return assemble(
        DEPARTMENT_UID,
        "svmon · Department",
        "One department's indicators, divisions, open work and violations, and the city's rankings.",
        variables,
        [_department_alerts(), _department_indicators(), _department_rankings(), _department_work()],
    )


def pipeline() -> Json:
    """svmon itself: consumption, dead letters, checkpoints and process state."""
    return assemble(
        "svmon-pipeline",
        "svmon · Pipeline",
        "Kafka consumption, dead letters, checkpoints and process state of svmon.",
        [datasource_variable()],
        [
            _pipeline_alerts(),
            _pipeline_consumption(),
            _pipeline_dead_letters(),
            _pipeline_checkpoints(),
            _pipeline_process(),
        ],
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
    for name, built in dashboards().items():
        path = DASHBOARD_DIR / name
        text = render(built)
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
