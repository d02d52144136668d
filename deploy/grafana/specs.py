"""Panel, row and variable specs, and how grafana-foundation-sdk turns them into dashboard JSON.

A dashboard is written as rows of panel specs, plain frozen dataclasses (``deploy/grafana/build.py``);
:func:`assemble` lays them out on Grafana's 24-column grid and builds each with the SDK's builder for
its panel type. The conventions every panel follows are applied here, once: the ``${datasource}``
variable on the panel and on each query, the explicit id written in the spec, the unit (0-1 for
``percentunit``), absolute thresholds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import bargauge, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import prometheus as prometheus_model

Json = dict[str, Any]
Kind = Literal["stat", "timeseries", "bargauge", "table"]
# Threshold steps, lowest first: (from value, colour); the first step starts at -infinity (None).
Steps = tuple[tuple[float | None, str], ...]

DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid="${datasource}")
GRID_COLUMNS = 24
GREEN: Steps = ((None, "green"),)


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel and the legend of its series."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Link:
    """A data link: on one column of a table (its rows), or on every series of a chart when None."""

    title: str
    url: str
    column: str | None = None


@dataclass(frozen=True)
class Chart:
    """A panel that draws PromQL queries: a stat, time series, bar gauge or (instant) table."""

    id: int
    title: str
    kind: Kind
    queries: Sequence[Query]
    unit: str
    width: int = 8
    height: int = 8
    description: str = ""
    decimals: int | None = None
    thresholds: Steps = GREEN
    link: Link | None = None
    sort_descending_by: str | None = None  # tables only: the column whose largest values come first


@dataclass(frozen=True)
class AlertList:
    """Grafana's alert-list panel: firing svmon alerts whose labels match ``label_filter``."""

    id: int
    title: str
    label_filter: str
    width: int = GRID_COLUMNS
    height: int = 6
    description: str = ""


Panel = Chart | AlertList


@dataclass(frozen=True)
class Row:
    """A row header and the panels under it, placed left to right and wrapped when a line is full."""

    id: int
    title: str
    panels: Sequence[Panel]


def datasource_variable() -> dashboard_builders.DatasourceVariable:
    """The ``datasource`` variable: any Prometheus data source of the Grafana the JSON is loaded in."""
    return dashboard_builders.DatasourceVariable("datasource").label("Data source").type("prometheus")


def query_variable(
    name: str, label: str, query: str, *, include_all: bool = False
) -> Builder[dashboard_model.VariableModel]:
    """A variable whose values are a PromQL ``label_values`` query, refreshed with the time range."""
    variable = (
        dashboard_builders.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"qryType": 1, "query": query, "refId": f"{name}-variable"})
        .refresh(dashboard_model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dashboard_model.VariableSort.ALPHABETICAL_ASC)
    )
    if include_all:
        # "All" must match every value, and only values: `.+`, not Grafana's list of the values seen.
        variable.include_all(True).all_value(".+").current(_option("All", "$__all"))
    return variable


def custom_variable(
    name: str, label: str, values: Sequence[str], default: str
) -> Builder[dashboard_model.VariableModel]:
    """A variable with a fixed list of values."""
    return (
        dashboard_builders.CustomVariable(name)
        .label(label)
        .values(",".join(values))
        .current(_option(default, default))
        .options([_option(value, value, selected=value == default) for value in values])
    )


def assemble(
    uid: str,
    title: str,
    description: str,
    variables: Sequence[Builder[dashboard_model.VariableModel]],
    rows: Sequence[Row],
) -> Json:
    """The JSON of one svmon dashboard: its rows laid out on the grid, every panel built by the SDK."""
    builder = (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["svmon"])
        .editable()
        .tooltip(dashboard_model.DashboardCursorSync.CROSSHAIR)
        .refresh("1m")
        .time("now-24h", "now")
        .timezone("Asia/Shanghai")
        .version(1)
        .link(
            dashboard_builders.DashboardLink("svmon")
            .type(dashboard_model.DashboardLinkType.DASHBOARDS)
            .tags(["svmon"])
            .icon("dashboard")
            .keep_time(True)
        )
        .variables(list(variables))
    )
    for item, grid in _layout(rows):
        if isinstance(item, Row):
            builder.with_row(dashboard_builders.Row(item.title).id(item.id).grid_pos(grid))
        else:
            builder.with_panel(_alert_list(item, grid) if isinstance(item, AlertList) else _chart(item, grid))
    encoded: Json = json.loads(JSONEncoder().encode(builder.build()))
    return encoded


def _layout(rows: Sequence[Row]) -> Iterator[tuple[Row | Panel, dashboard_model.GridPos]]:
    """Each row and panel with its grid position: left to right, a new line when the next does not fit.

    Positions are computed here rather than by the SDK's ``with_panel``, which wraps only after a line
    is full, so a wide panel after a narrow one would run past column 24.
    """
    y = 0
    for row in rows:
        yield row, dashboard_model.GridPos(h=1, w=GRID_COLUMNS, x=0, y=y)
        y += 1
        x = line_height = 0
        for panel in row.panels:
            if x + panel.width > GRID_COLUMNS:
                x, y, line_height = 0, y + line_height, 0
            yield panel, dashboard_model.GridPos(h=panel.height, w=panel.width, x=x, y=y)
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height


class _PanelBuilder(Protocol):
    """The setters every panel builder of the SDK has (each panel type has its own builder class)."""

    def id(self, id_val: int) -> Self: ...
    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: dashboard_model.DataSourceRef) -> Self: ...
    def grid_pos(self, grid_pos: dashboard_model.GridPos) -> Self: ...
    def unit(self, unit: str) -> Self: ...


_P = TypeVar("_P", bound=_PanelBuilder)


def _placed(builder: _P, panel: Panel, grid: dashboard_model.GridPos) -> _P:
    builder.id(panel.id).title(panel.title).datasource(DATASOURCE).grid_pos(grid)
    if panel.description:
        builder.description(panel.description)
    return builder


def _chart(chart: Chart, grid: dashboard_model.GridPos) -> Builder[dashboard_model.Panel]:
    builder = _placed(_visualisation(chart), chart, grid).unit(chart.unit)
    builder.thresholds(
        dashboard_builders.ThresholdsConfig()
        .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_model.Threshold(value=value, color=color) for value, color in chart.thresholds])
    )
    if chart.unit == "percentunit":
        builder.min(0).max(1)
    if chart.decimals is not None:
        builder.decimals(chart.decimals)
    for index, query in enumerate(chart.queries):
        builder.with_target(_target(query, chr(ord("A") + index), table=chart.kind == "table"))
    if chart.link is not None:
        link = dashboard_builders.DashboardLink(chart.link.title).url(chart.link.url)
        if chart.link.column is None:
            builder.data_links([link])
        else:
            links = dashboard_model.DynamicConfigValue("links", [link.build()])
            builder.override_by_name(chart.link.column, [links])
    return builder


def _visualisation(
    chart: Chart,
) -> stat.Panel | timeseries.Panel | bargauge.Panel | table.Panel:
    """The SDK's builder for the chart's panel type, with the options svmon uses for that type."""
    last_value = common_builders.ReduceDataOptions().calcs(["lastNotNull"])
    match chart.kind:
        case "stat":
            return (
                stat.Panel()
                .color_mode(common.BigValueColorMode.VALUE)
                .graph_mode(common.BigValueGraphMode.NONE)
                .reduce_options(last_value)
            )
        case "bargauge":
            return (
                bargauge.Panel()
                .display_mode(common.BarGaugeDisplayMode.BASIC)
                .orientation(common.VizOrientation.HORIZONTAL)
                .reduce_options(last_value)
            )
        case "table":
            # An instant query's table has a Time column: the same instant on every row.
            hidden = dashboard_model.DynamicConfigValue("custom.hidden", True)
            shown = table.Panel().show_header(True).override_by_name("Time", [hidden])
            if chart.sort_descending_by:
                sort = common_builders.TableSortByFieldState().display_name(chart.sort_descending_by)
                shown.sort_by([sort.desc(True)])
            return shown
        case "timeseries":
            return timeseries.Panel()


def _alert_list(alerts: AlertList, grid: dashboard_model.GridPos) -> Builder[dashboard_model.Panel]:
    # The SDK has no builder for the alert-list panel: the generic panel with the options Grafana 11
    # reads. Grafana does not substitute variables in the `datasource` option (a rule source *name*),
    # so it is left out: rules of every source, narrowed to svmon's by name and to the unit by labels.
    builder = _placed(dashboard_builders.Panel().type("alertlist"), alerts, grid)
    # An alert list draws no numbers; "none" keeps the every-panel-sets-a-unit rule free of exceptions.
    return builder.unit("none").options(
        {
            "viewMode": "list",
            "groupMode": "default",
            "groupBy": [],
            "maxItems": 20,
            "sortOrder": 5,  # newest first (TimeDesc)
            "dashboardAlerts": False,
            "alertName": "Supervision",  # every rule of alerts/rules is named Supervision…
            "alertInstanceLabelFilter": alerts.label_filter,
            "showInstances": True,
            "stateFilter": {
                "firing": True,
                "pending": False,
                "recovering": False,
                "noData": False,
                "normal": False,
                "error": False,
            },
        }
    )


def _target(query: Query, ref: str, *, table: bool) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(query.expr).ref_id(ref).datasource(DATASOURCE)
    if query.legend:
        target.legend_format(query.legend)
    if table:
        target.format(prometheus_model.PromQueryFormat.TABLE).instant()
    return target


def _option(text: str, value: str, *, selected: bool = True) -> dashboard_model.VariableOption:
    return dashboard_model.VariableOption(selected=selected, text=text, value=value)
