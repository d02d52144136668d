"""Period reports: parsing the period a reader asks for, and rendering indicator totals for people.

The numbers come from the store (the caller queries it); this module only shapes them:

* `parse_period` turns ``2023``, ``2023Q4``, ``2023-10``, ``2023-10-08`` or
  ``2023-01-01..2023-06-30`` into an inclusive `Period` of Asia/Shanghai calendar days.
* `build_report` produces the Report JSON of docs/contract.md §10, the one `/api/v1/indicators` also serves.
* `render` prints that JSON as a table (what a bureau pastes into its annual report), CSV, Markdown or
  JSON.

Percentages are computed from the integer numerator and denominator with decimal arithmetic and
rounded half-up to two decimals, so ``39996 / 40000`` prints ``99.99%`` whatever binary floats would
make of it; "达标" (target met) is decided on the exact fraction, never on a rounded float.

Ranking (``--by department|division``): the periodic notices to departments and districts list, per
indicator, the groups from the worst to the best.  The table and Markdown formats do the same: one
section per indicator, groups ranked by ratio ascending (ties share a rank, competition style
"1, 2, 2, 4"; within a tie the larger denominator first, then the code), groups without data for that
indicator left out and counted in a footnote.  CSV is long ("tidy") format, one row per scope and
indicator with the same rank column, so a spreadsheet can pivot it any way.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

from daemon.config import mask_url_password

__all__ = [
    "DASH",
    "GROUP_KINDS",
    "INDICATORS",
    "MET",
    "NOT_MET",
    "NO_DATA",
    "Format",
    "Period",
    "build_report",
    "exact_ratio",
    "format_percent",
    "gap",
    "parse_period",
    "render",
    "render_empty",
    "status",
    "target_percent",
]

Format = Literal["table", "json", "csv", "markdown"]

#: The eight indicators of docs/contract.md §7, in the order every report lists them, with Chinese names.
INDICATORS: Mapping[str, str] = MappingProxyType(
    {
        "event_handling_rate": "事件处理率",
        "event_on_time_rate": "按时处置率",
        "data_accuracy_rate": "数据准确率",
        "item_onboarding_rate": "监管事项入驻率",
        "double_random_coverage_rate": "双随机监管事项覆盖率",
        "mobile_enforcement_rate": "掌上执法率",
        "disclosure_on_time_rate": "处罚结果按时公开率",
        "disclosure_compliance_rate": "处罚公开合规率",
    }
)

#: What a report may be grouped by, with the Chinese word used in headings.
GROUP_KINDS: Mapping[str, str] = MappingProxyType({"department": "部门", "division": "行政区划"})

#: The verdicts `status` gives: the target is met, not met, or the ratio is undefined (0/0).
MET = "达标"
NOT_MET = "未达标"
NO_DATA = "无数据"
#: What a cell shows for a value that does not exist (a 0/0 ratio, no target, no rank).
DASH = "—"


# --- periods ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive range of Asia/Shanghai calendar days, with the label the reader typed."""

    label: str
    start: date
    end: date


_YEAR = re.compile(r"(\d{4})")
_QUARTER = re.compile(r"(\d{4})[Qq]([1-4])")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ACCEPTED = "2023, 2023Q4, 2023-10, 2023-10-08 or 2023-01-01..2023-06-30"


def _month_end(year: int, month: int) -> date:
    first_of_next = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return first_of_next - timedelta(days=1)


def _parse_day(text: str, whole: str) -> date:
    if _DAY.fullmatch(text) is None:
        raise ValueError(
            f"invalid period {whole!r}: {text!r} is not a date YYYY-MM-DD (accepted: {_ACCEPTED})"
        )
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid period {whole!r}: {text!r} is not a calendar date") from None


def parse_period(text: str) -> Period:
    """The `Period` named by `text`; a `ValueError` that says what is accepted when it names none."""
    whole = text.strip()
    if match := _YEAR.fullmatch(whole):
        year = int(match.group(1))
        if year < 1:
            raise ValueError(f"invalid period {text!r}: year 0 does not exist")
        return Period(whole, date(year, 1, 1), date(year, 12, 31))
    if match := _QUARTER.fullmatch(whole):
        year, quarter = int(match.group(1)), int(match.group(2))
        if year < 1:
            raise ValueError(f"invalid period {text!r}: year 0 does not exist")
        first_month = 3 * quarter - 2
        return Period(f"{year:04d}Q{quarter}", date(year, first_month, 1), _month_end(year, first_month + 2))
    if match := _MONTH.fullmatch(whole):
        year, month = int(match.group(1)), int(match.group(2))
        if year < 1 or not 1 <= month <= 12:
            raise ValueError(f"invalid period {text!r}: month must be 01-12 of a year from 0001")
        return Period(whole, date(year, month, 1), _month_end(year, month))
    if _DAY.fullmatch(whole):
        day = _parse_day(whole, text)
        return Period(whole, day, day)
    if ".." in whole:
        first, _, last = whole.partition("..")
        start, end = _parse_day(first.strip(), text), _parse_day(last.strip(), text)
        if end < start:
            raise ValueError(f"invalid period {text!r}: the range ends ({end}) before it starts ({start})")
        return Period(f"{start.isoformat()}..{end.isoformat()}", start, end)
    if not whole:
        raise ValueError(f"no period given (accepted: {_ACCEPTED})")
    raise ValueError(f"invalid period {text!r} (accepted: {_ACCEPTED})")


# --- the report JSON ----------------------------------------------------------------------------


def _indicator_json(fraction: tuple[int, int] | None, target: float | None) -> dict[str, Any]:
    numerator, denominator = fraction if fraction is not None else (0, 0)
    return {
        "numerator": numerator,
        "denominator": denominator,
        # docs/contract.md §7: a zero denominator is undefined, never 0 or 1.
        "ratio": numerator / denominator if denominator else None,
        "target": target,
    }


def _indicators_json(
    fractions: Mapping[str, tuple[int, int]], targets: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    unknown = sorted(set(fractions) - set(INDICATORS))
    if unknown:
        raise ValueError(f"unknown indicator ids: {', '.join(unknown)}")
    return {
        indicator: _indicator_json(fractions.get(indicator), targets.get(indicator))
        for indicator in INDICATORS
    }


def build_report(  # noqa: PLR0917 - the call shape agreed with the CLI and HTTP callers
    period: Period,
    as_of: datetime,
    totals: Mapping[str, tuple[int, int]],
    groups: Mapping[str, Mapping[str, tuple[int, int]]],
    by: str,
    targets: Mapping[str, float],
    names: Mapping[str, str],
) -> dict[str, Any]:
    """The Report JSON (docs/contract.md §10) for `period`, every indicator listed in `INDICATORS` order.

    `totals` and each of `groups` map indicator ids to ``(numerator, denominator)``; an indicator
    that is absent is reported as 0/0 (ratio null).  Groups are listed by code; `names` gives their
    display names (the code itself when it has none).  `as_of` must carry its UTC offset.
    """
    if by not in GROUP_KINDS:
        raise ValueError(f"cannot group a report by {by!r}: use one of {', '.join(GROUP_KINDS)}")
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be an aware datetime (it is printed with its UTC offset)")
    return {
        "period": {"label": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()},
        "as_of": as_of.isoformat(),
        "indicators": _indicators_json(totals, targets),
        "groups": [
            {by: code, "name": names.get(code, code), "indicators": _indicators_json(groups[code], targets)}
            for code in sorted(groups)
        ],
    }


# --- shared formatting --------------------------------------------------------------------------


def format_percent(numerator: int, denominator: int) -> str:
    """``numerator / denominator`` as a percentage with two decimals, rounded half-up, e.g. ``99.99``."""
    if denominator == 0:
        return DASH
    value = (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{value}"


def target_percent(target: float) -> str:
    """A target ratio (0.999) as the percentage it is written as in the config, e.g. ``99.90``."""
    return f"{(Decimal(repr(target)) * 100).quantize(Decimal('0.01'), ROUND_HALF_UP)}"


def exact_ratio(entry: Mapping[str, Any]) -> Fraction | None:
    """The exact ratio of a Report JSON indicator *entry*; None for a zero denominator (undefined)."""
    denominator = int(entry["denominator"])
    if denominator == 0:
        return None
    return Fraction(int(entry["numerator"]), denominator)


def status(entry: Mapping[str, Any]) -> str:
    """`MET` or `NOT_MET` on the exact ratio of *entry* against its target; `NO_DATA`; `DASH` (no target)."""
    ratio, target = exact_ratio(entry), entry.get("target")
    if ratio is None:
        return NO_DATA
    if target is None:
        return DASH
    # The target is a decimal in the config (0.999); compare against that decimal, not its float.
    return MET if ratio >= Fraction(Decimal(repr(target))) else NOT_MET


def gap(entry: Mapping[str, Any]) -> str:
    """Ratio minus target in percentage points, signed, two decimals (rounded half-up)."""
    ratio, target = exact_ratio(entry), entry.get("target")
    if ratio is None or target is None:
        return DASH
    points = Decimal(ratio.numerator) * 100 / Decimal(ratio.denominator) - Decimal(repr(target)) * 100
    rounded = points.quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{rounded:+}" if rounded != 0 else "0.00"


@dataclass(frozen=True, slots=True)
class _Row:
    """One indicator of one scope, already formatted for display."""

    indicator: str
    numerator: int
    denominator: int
    percent: str
    target: str
    gap: str
    status: str


def _row(indicator: str, entry: Mapping[str, Any]) -> _Row:
    numerator, denominator = int(entry["numerator"]), int(entry["denominator"])
    target = entry.get("target")
    return _Row(
        indicator=indicator,
        numerator=numerator,
        denominator=denominator,
        percent=format_percent(numerator, denominator),
        target=DASH if target is None else target_percent(float(target)),
        gap=gap(entry),
        status=status(entry),
    )


def _group_kind(report: Mapping[str, Any]) -> str | None:
    for group in report.get("groups", []):
        for kind in GROUP_KINDS:
            if kind in group:
                return kind
    return None


def ranked(report: Mapping[str, Any], indicator: str) -> tuple[list[tuple[int, Mapping[str, Any]]], int]:
    """Groups with data for `indicator`, worst first, with their competition ranks; and the count without."""
    with_data: list[tuple[Fraction, Mapping[str, Any]]] = []
    without = 0
    kind = _group_kind(report) or "department"
    for group in report.get("groups", []):
        ratio = exact_ratio(group["indicators"][indicator])
        if ratio is None:
            without += 1
        else:
            with_data.append((ratio, group))
    with_data.sort(
        key=lambda pair: (pair[0], -int(pair[1]["indicators"][indicator]["denominator"]), pair[1][kind])
    )
    ranked: list[tuple[int, Mapping[str, Any]]] = []
    previous: Fraction | None = None
    rank = 0
    for position, (ratio, group) in enumerate(with_data, start=1):
        if ratio != previous:
            rank, previous = position, ratio
        ranked.append((rank, group))
    return ranked, without


def _title(report: Mapping[str, Any]) -> list[str]:
    period = report["period"]
    span = period["start"] if period["start"] == period["end"] else f"{period['start']} 至 {period['end']}"
    return [
        f"“互联网+监管”平台运行指标  {period['label']}（{span}）",
        f"数据截至 (as of) {report['as_of']}",
    ]


# --- table (CJK-aware alignment) ----------------------------------------------------------------


def _display_width(text: str) -> int:
    """Terminal columns `text` occupies: wide and full-width characters take two, combining marks none."""
    width = 0
    for character in text:
        if unicodedata.combining(character):
            continue
        width += 2 if unicodedata.east_asian_width(character) in ("W", "F") else 1
    return width


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _display_width(text))
    return fill + text if right else text + fill


def aligned(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """A plain-text table: columns as wide as their widest cell (CJK counts 2), ruled under the header."""
    widths = [max(_display_width(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(_pad(cell, w, r) for cell, w, r in zip(header, widths, right, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(
        "  ".join(_pad(cell, w, r) for cell, w, r in zip(row, widths, right, strict=True)).rstrip()
        for row in rows
    )
    return lines


_TOTAL_HEADER = ("指标", "indicator", "分子", "分母", "比率(%)", "目标(%)", "差距(百分点)", "结论")
_TOTAL_RIGHT = (False, False, True, True, True, True, True, False)


def _total_cells(row: _Row) -> list[str]:
    return [
        INDICATORS[row.indicator],
        row.indicator,
        f"{row.numerator:,}",
        f"{row.denominator:,}",
        row.percent,
        row.target,
        row.gap,
        row.status,
    ]


def _group_sections(report: Mapping[str, Any]) -> Iterator[tuple[str, str, list[list[str]], int]]:
    """Per indicator with data, the ranked group rows of a report ``--by`` something: (group kind,
    indicator, cells worst first, groups without data). The table and Markdown renderers share it."""
    kind = _group_kind(report)
    if kind is None:
        return
    for indicator in INDICATORS:
        ordered, without = ranked(report, indicator)
        if ordered:
            cells = [
                _group_cells(rank, kind, g, _row(indicator, g["indicators"][indicator]))
                for rank, g in ordered
            ]
            yield kind, indicator, cells, without


def _group_cells(rank: int, kind: str, group: Mapping[str, Any], row: _Row) -> list[str]:
    return [
        str(rank),
        str(group[kind]),
        str(group.get("name", group[kind])),
        f"{row.numerator:,}",
        f"{row.denominator:,}",
        row.percent,
        row.target,
        row.gap,
        row.status,
    ]


def _group_header(kind: str) -> tuple[str, ...]:
    word = GROUP_KINDS[kind]
    return (
        "排名",
        f"{word}代码",
        f"{word}名称",
        "分子",
        "分母",
        "比率(%)",
        "目标(%)",
        "差距(百分点)",
        "结论",
    )


_GROUP_RIGHT = (True, False, False, True, True, True, True, True, False)


def _render_table(report: Mapping[str, Any]) -> str:
    lines = _title(report)
    lines.append("")
    rows = [_total_cells(_row(i, e)) for i, e in report["indicators"].items()]
    lines.extend(aligned(_TOTAL_HEADER, rows, _TOTAL_RIGHT))
    for kind, indicator, cells, without in _group_sections(report):
        lines.append("")
        lines.append(f"{INDICATORS[indicator]} ({indicator}) 按{GROUP_KINDS[kind]}排名，由低到高")
        lines.extend(aligned(_group_header(kind), cells, _GROUP_RIGHT))
        if without:
            lines.append(f"另有 {without} 个{GROUP_KINDS[kind]}无数据。")
    return "\n".join(lines) + "\n"


# --- markdown -----------------------------------------------------------------------------------


def md_cell(text: str) -> str:
    """``text`` safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """A Markdown table, numeric columns (``right``) right-aligned."""
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |"]
    lines.append("|" + "|".join("---:" if r else "---" for r in right) + "|")
    lines.extend("| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows)
    return lines


def _render_markdown(report: Mapping[str, Any]) -> str:
    title, as_of = _title(report)
    lines = [f"## {title}", "", f"_{as_of}_", ""]
    rows = [_total_cells(_row(i, e)) for i, e in report["indicators"].items()]
    lines.extend(md_table(_TOTAL_HEADER, rows, _TOTAL_RIGHT))
    for kind, indicator, cells, without in _group_sections(report):
        lines += ["", f"### {INDICATORS[indicator]} (`{indicator}`) 按{GROUP_KINDS[kind]}排名，由低到高", ""]
        lines.extend(md_table(_group_header(kind), cells, _GROUP_RIGHT))
        if without:
            lines += ["", f"另有 {without} 个{GROUP_KINDS[kind]}无数据。"]
    return "\n".join(lines) + "\n"


# --- csv ----------------------------------------------------------------------------------------

_CSV_HEADER = (
    "period",
    "start",
    "end",
    "as_of",
    "scope",
    "code",
    "name",
    "indicator",
    "indicator_name",
    "numerator",
    "denominator",
    "ratio_percent",
    "target_percent",
    "gap_points",
    "status",
    "rank",
)


def _render_csv(report: Mapping[str, Any]) -> str:
    period = report["period"]
    prefix = [period["label"], period["start"], period["end"], report["as_of"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_CSV_HEADER)

    def cells(row: _Row) -> list[str]:
        blank = {DASH: ""}
        return [
            row.indicator,
            INDICATORS[row.indicator],
            str(row.numerator),
            str(row.denominator),
            blank.get(row.percent, row.percent),
            blank.get(row.target, row.target),
            blank.get(row.gap, row.gap),
            row.status,
        ]

    for indicator, entry in report["indicators"].items():
        writer.writerow([*prefix, "total", "", "", *cells(_row(indicator, entry)), ""])
    kind = _group_kind(report)
    if kind is not None:
        for indicator in INDICATORS:
            ordered, _ = ranked(report, indicator)
            ranks = {str(group[kind]): rank for rank, group in ordered}
            for group in report["groups"]:
                rank = ranks.get(str(group[kind]))
                writer.writerow(
                    [
                        *prefix,
                        kind,
                        group[kind],
                        group.get("name", group[kind]),
                        *cells(_row(indicator, group["indicators"][indicator])),
                        "" if rank is None else str(rank),
                    ]
                )
    return buffer.getvalue()


# --- entry points -------------------------------------------------------------------------------


def render(report: Mapping[str, Any], fmt: Format) -> str:
    """`report` (from `build_report`) as text in `fmt`; ``json`` is the report itself, pretty-printed."""
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    if fmt == "table":
        return _render_table(report)
    if fmt == "markdown":
        return _render_markdown(report)
    if fmt == "csv":
        return _render_csv(report)
    raise ValueError(f"unknown report format {fmt!r}: use table, json, csv or markdown")


def render_empty(store_url: str) -> str:
    """What `svmon report` prints when the store holds no state yet, or does not exist (password hidden)."""
    store_url = mask_url_password(store_url)
    return (
        f"没有可报告的数据：存储 {store_url} 为空或不存在。\n"
        f"No indicator data: the store {store_url} is empty or does not exist.\n"
        "Consume the topics first with `svmon run` (or try `svmon demo`), then run the report again.\n"
    )
