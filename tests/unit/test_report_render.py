"""Tests of `daemon.reports.render`: period parsing, the Report JSON, its table, CSV, Markdown, JSON forms."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from daemon.reports.render import (
    INDICATORS,
    Period,
    build_report,
    format_percent,
    parse_period,
    render,
    render_empty,
)

CST = timezone(timedelta(hours=8))
AS_OF = datetime(2024, 1, 31, 12, 0, tzinfo=CST)
TARGETS = {
    "event_handling_rate": 0.999,
    "event_on_time_rate": 0.95,
    "data_accuracy_rate": 0.999,
    "item_onboarding_rate": 0.95,
    "double_random_coverage_rate": 0.99,
    "mobile_enforcement_rate": 0.99,
    "disclosure_on_time_rate": 0.95,
    "disclosure_compliance_rate": 1.0,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023", Period("2023", date(2023, 1, 1), date(2023, 12, 31))),
        ("2023Q4", Period("2023Q4", date(2023, 10, 1), date(2023, 12, 31))),
        ("2024q1", Period("2024Q1", date(2024, 1, 1), date(2024, 3, 31))),
        ("2024-02", Period("2024-02", date(2024, 2, 1), date(2024, 2, 29))),
        ("2023-10-08", Period("2023-10-08", date(2023, 10, 8), date(2023, 10, 8))),
        (" 2023-01-01..2023-06-30 ", Period("2023-01-01..2023-06-30", date(2023, 1, 1), date(2023, 6, 30))),
    ],
)
def test_parse_period_accepts_every_documented_form(text: str, expected: Period) -> None:
    """Years, quarters, months, days and inclusive ranges parse to their first and last day."""
    assert parse_period(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2023Q5", "accepted: 2023, 2023Q4"),
        ("2023-13", "month must be 01-12"),
        ("2023-02-30", "not a calendar date"),
        ("2023-06-30..2023-01-01", "ends (2023-01-01) before it starts (2023-06-30)"),
        ("2023-01-01..June", "is not a date YYYY-MM-DD"),
        ("", "no period given"),
        ("last year", "invalid period 'last year'"),
    ],
)
def test_parse_period_rejects_bad_input_with_a_readable_message(text: str, message: str) -> None:
    """Input that names no period raises ValueError saying what is wrong or what is accepted."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_period(text)


def test_indicators_are_the_eight_of_the_spec_in_order_with_chinese_names() -> None:
    """INDICATORS lists docs/contract.md §7's ids in the report order with their Chinese names."""
    assert list(INDICATORS.items()) == [
        ("event_handling_rate", "事件处理率"),
        ("event_on_time_rate", "按时处置率"),
        ("data_accuracy_rate", "数据准确率"),
        ("item_onboarding_rate", "监管事项入驻率"),
        ("double_random_coverage_rate", "双随机监管事项覆盖率"),
        ("mobile_enforcement_rate", "掌上执法率"),
        ("disclosure_on_time_rate", "处罚结果按时公开率"),
        ("disclosure_compliance_rate", "处罚公开合规率"),
    ]


def _report(
    by: str = "department", groups: dict[str, dict[str, tuple[int, int]]] | None = None
) -> dict[str, Any]:
    return build_report(
        parse_period("2023"),
        AS_OF,
        {"event_handling_rate": (39996, 40000), "item_onboarding_rate": (967, 1000)},
        groups
        if groups is not None
        else {
            "330225.czj": {"event_handling_rate": (99, 100), "item_onboarding_rate": (3, 4)},
            "330200.scjgj": {"event_handling_rate": (1000, 1000)},
            "330203.zhzfj": {"event_handling_rate": (198, 200)},
        },
        by,
        TARGETS,
        {"330225.czj": "象山县财政局", "330200.scjgj": "宁波市市场监督管理局"},
    )


def test_build_report_produces_the_spec_json() -> None:
    """The report has period, as_of, every indicator (null ratio at 0/0) and groups sorted by code."""
    report = _report()
    assert report["period"] == {"label": "2023", "start": "2023-01-01", "end": "2023-12-31"}
    assert report["as_of"] == "2024-01-31T12:00:00+08:00"
    assert list(report["indicators"]) == list(INDICATORS)
    assert report["indicators"]["event_handling_rate"] == {
        "numerator": 39996,
        "denominator": 40000,
        "ratio": 39996 / 40000,
        "target": 0.999,
    }
    assert report["indicators"]["mobile_enforcement_rate"] == {
        "numerator": 0,
        "denominator": 0,
        "ratio": None,
        "target": 0.99,
    }
    assert [g["department"] for g in report["groups"]] == ["330200.scjgj", "330203.zhzfj", "330225.czj"]
    assert report["groups"][1]["name"] == "330203.zhzfj"  # no name known: the code
    assert report["groups"][2]["name"] == "象山县财政局"
    assert set(report["groups"][0]) == {"department", "name", "indicators"}
    assert json.loads(json.dumps(report)) == report


def test_build_report_refuses_naive_times_unknown_groupings_and_unknown_indicators() -> None:
    """A naive as_of, a `by` other than department/division, or an unknown indicator id is a ValueError."""
    period = parse_period("2023")
    with pytest.raises(ValueError, match="aware"):
        build_report(period, datetime(2024, 1, 1), {}, {}, "department", {}, {})  # noqa: DTZ001
    with pytest.raises(ValueError, match="cannot group"):
        build_report(period, AS_OF, {}, {}, "kind", {}, {})
    with pytest.raises(ValueError, match="unknown indicator ids: typo_rate"):
        build_report(period, AS_OF, {"typo_rate": (1, 1)}, {}, "division", {}, {})


@pytest.mark.parametrize(
    ("numerator", "denominator", "text"),
    [(39996, 40000, "99.99"), (1, 8, "12.50"), (2, 3, "66.67"), (99995, 100000, "100.00"), (5, 0, "—")],
)
def test_percentages_are_rounded_half_up_from_the_integers(
    numerator: int, denominator: int, text: str
) -> None:
    """Percentages come from exact decimal arithmetic, two decimals, half-up; 0/0 prints a dash."""
    assert format_percent(numerator, denominator) == text


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def test_table_aligns_columns_for_double_width_characters() -> None:
    """Every totals row puts the indicator id at the same terminal column despite CJK names."""
    table = render(_report(groups={}), "table")
    lines = table.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("指标"))
    block = lines[header : header + 2 + len(INDICATORS)]
    rule = block.pop(1)
    columns = {
        _width(line[: line.index(marker)])
        for line, marker in zip(block, ["indicator", *INDICATORS], strict=True)
    }
    assert columns == {rule.index("  -") + 2}
    assert "数据截至 (as of) 2024-01-31T12:00:00+08:00" in table


def test_table_states_value_target_gap_and_verdict() -> None:
    """A totals row shows the percentage, target, signed gap in points, and 达标/未达标/无数据."""
    report = build_report(
        parse_period("2023Q4"),
        AS_OF,
        {"event_handling_rate": (999, 1000), "item_onboarding_rate": (9, 10), "event_on_time_rate": (0, 0)},
        {},
        "division",
        TARGETS,
        {},
    )
    rows = {line.split()[1]: line.split() for line in render(report, "table").splitlines() if "_rate" in line}
    assert rows["event_handling_rate"][-4:] == ["99.90", "99.90", "0.00", "达标"]  # exactly on target
    assert rows["item_onboarding_rate"][-4:] == ["90.00", "95.00", "-5.00", "未达标"]
    assert rows["event_on_time_rate"][-4:] == ["—", "95.00", "—", "无数据"]


def test_table_by_department_ranks_worst_first_with_shared_ranks() -> None:
    """Per indicator, groups run from the lowest ratio up; ties share a rank; no-data groups are counted."""
    groups = {
        "330225.czj": {"event_handling_rate": (99, 100)},
        "330200.scjgj": {"event_handling_rate": (1000, 1000)},
        "330203.zhzfj": {"event_handling_rate": (198, 200)},
        "330205.zhzfj": {"event_handling_rate": (10, 10)},
        "330206.zhzfj": {"event_handling_rate": (0, 0)},
    }
    table = render(_report(groups=groups), "table")
    section = table.split("事件处理率 (event_handling_rate) 按部门排名，由低到高\n", 1)[1].split("\n\n", 1)[0]
    ranked = [(line.split()[0], line.split()[1]) for line in section.splitlines()[2:] if line[:1] != "另"]
    assert ranked == [
        ("1", "330203.zhzfj"),
        ("1", "330225.czj"),
        ("3", "330200.scjgj"),
        ("3", "330205.zhzfj"),
    ]
    assert "另有 1 个部门无数据。" in section


def test_markdown_renders_tables_and_escapes_pipes() -> None:
    """Markdown has a heading, a totals table with right-aligned numbers, and escapes `|` in names."""
    report = build_report(
        parse_period("2023"),
        AS_OF,
        {"event_handling_rate": (1, 2)},
        {"330200": {"event_handling_rate": (1, 2)}},
        "division",
        TARGETS,
        {"330200": "市本级|测试"},
    )
    text = render(report, "markdown")
    assert text.startswith("## “互联网+监管”平台运行指标  2023")
    assert "|---|---|---:|---:|---:|---:|---:|---|" in text
    assert "| 事件处理率 | event_handling_rate | 1 | 2 | 50.00 | 99.90 | -49.90 | 未达标 |" in text
    assert "市本级\\|测试" in text
    assert "### 事件处理率 (`event_handling_rate`) 按行政区划排名，由低到高" in text


def test_csv_is_long_format_with_totals_and_ranked_groups() -> None:
    """CSV has one row per scope and indicator; group rows carry their rank, empty when without data."""
    rows = list(csv.DictReader(io.StringIO(render(_report(), "csv"))))
    assert len(rows) == len(INDICATORS) * (1 + 3)
    total = rows[0]
    assert (total["scope"], total["indicator"], total["indicator_name"]) == (
        "total",
        "event_handling_rate",
        "事件处理率",
    )
    assert (total["numerator"], total["denominator"], total["ratio_percent"], total["status"]) == (
        "39996",
        "40000",
        "99.99",
        "达标",
    )
    handling = {
        r["code"]: r["rank"]
        for r in rows
        if r["scope"] == "department" and r["indicator"] == "event_handling_rate"
    }
    assert handling == {"330225.czj": "1", "330203.zhzfj": "1", "330200.scjgj": "3"}
    onboarding = {
        r["code"]: r["rank"]
        for r in rows
        if r["scope"] == "department" and r["indicator"] == "item_onboarding_rate"
    }
    assert onboarding == {"330225.czj": "1", "330203.zhzfj": "", "330200.scjgj": ""}


def test_json_format_is_the_report_itself() -> None:
    """The json format round-trips to exactly the dict build_report returned, Chinese unescaped."""
    report = _report()
    text = render(report, "json")
    assert json.loads(text) == report
    assert "象山县财政局" in text


def test_unknown_format_is_refused() -> None:
    """A format other than table/json/csv/markdown raises ValueError."""
    with pytest.raises(ValueError, match="unknown report format"):
        render(_report(), "html")  # type: ignore[arg-type]


def test_render_empty_names_the_store_without_its_password() -> None:
    """The empty-store message says plainly that there is no data, names the store, hides the password."""
    text = render_empty("postgresql://svmon:s3cret@db.example:5432/svmon")
    assert "postgresql://svmon:**********@db.example:5432/svmon" in text
    assert "s3cret" not in text
    assert "为空或不存在" in text
    assert "empty or does not exist" in text
    assert render_empty("sqlite:///var/lib/svmon/state.db").count("sqlite:///var/lib/svmon/state.db") == 2


def test_as_of_keeps_its_offset() -> None:
    """as_of is printed in the offset it was given (UTC stays UTC), never converted silently."""
    report = build_report(parse_period("2023"), datetime(2024, 1, 1, tzinfo=UTC), {}, {}, "division", {}, {})
    assert report["as_of"] == "2024-01-01T00:00:00+00:00"
