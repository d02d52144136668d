"""``svmon notice``: one notice (通报) per department or division for a period, and an index.

The data side of :mod:`daemon.reports.notice`: the period's report and the previous period's (the
one of the same length just before), a report per month of the period for the trend, and the
unit's lists (its overdue and open events, uncorrected errors, disclosures to withdraw, open
requests), all read from the store exactly as ``svmon report`` and ``svmon list`` read them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from daemon.config import Settings
from daemon.core.calendar import WorkingCalendar, make_rules
from daemon.exceptions import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK
from daemon.reports.charts import RankingEntry, TrendPoint
from daemon.reports.list_render import COLUMNS
from daemon.reports.lists import ListFilters, Lists, incomplete_warning
from daemon.reports.notice import (
    IndicatorLine,
    ListSection,
    NoticeFormat,
    UnitKind,
    UnitNotice,
    index_filename,
    notice_filename,
    render_html,
    render_index,
    render_markdown,
)
from daemon.reports.query import EmptyStoreError, open_existing_store
from daemon.reports.render import INDICATORS, Period, parse_period, ranked, render_empty
from daemon.reports.report import build
from daemon.store.protocol import Store
from schemas.registry import load_registry

__all__ = ["ISSUER", "notice_command", "notices", "previous_period"]

#: Who signs the notices (the seed report's author).
ISSUER: Final = "宁波市数据局"
#: Rows of each list a notice shows (the total is always given).
LIST_ROWS: Final = 20
#: The lists a notice carries, in the order the bureau asks for them.
NOTICE_LISTS: Final = ("overdue", "errors", "violations", "requests")
#: Indicators drawn as charts (ranking and trend) when the unit has data for them.
CHARTED: Final = 3


def previous_period(period: Period) -> Period:
    """The period of the same length just before ``period`` (a year for a year, a quarter for a quarter)."""
    start, end = period.start, period.end
    months = _whole_months(period)
    if months:
        first = _add_months(start, -months)
        last = start - timedelta(days=1)
    else:
        length = (end - start).days + 1
        first, last = start - timedelta(days=length), start - timedelta(days=1)
    return parse_period(f"{first.isoformat()}..{last.isoformat()}")


def _whole_months(period: Period) -> int:
    """How many whole calendar months ``period`` is, or 0 when it is not whole months."""
    start, end = period.start, period.end
    if start.day != 1 or (end + timedelta(days=1)).day != 1:
        return 0
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _months(period: Period) -> list[Period]:
    """The calendar months the period touches, each clipped to the period."""
    found, first = [], period.start.replace(day=1)
    while first <= period.end:
        nxt = _add_months(first, 1)
        start, end = max(first, period.start), min(nxt - timedelta(days=1), period.end)
        found.append(parse_period(f"{start.isoformat()}..{end.isoformat()}"))
        first = nxt
    return found


def notices(
    settings: Settings,
    store: Store,
    period_text: str,
    by: UnitKind,
    now: float,
    *,
    only: str | None = None,
) -> list[UnitNotice]:
    """The notices of every unit with data in the period (or of ``only``), read from ``store``."""
    period = parse_period(period_text)
    previous = previous_period(period)
    registry = load_registry(settings.registry_file)
    rules = make_rules(settings, WorkingCalendar(settings.calendar.override_file))

    def report(text: str) -> dict[str, Any]:
        return build(settings, store, text, by, now, registry=registry, rules=rules)

    current = report(period_text)
    before = report(f"{previous.start}..{previous.end}")
    monthly = [(month, report(f"{month.start}..{month.end}")) for month in _months(period)]
    lists = Lists(store, rules, registry)
    as_of = datetime.fromisoformat(str(current["as_of"]))
    found = []
    for group in current["groups"]:
        code = str(group[by])
        if only is not None and code != only:
            continue
        lines = _lines(current, before, monthly, by, code)
        sections = _sections(lists, by, code, period_text, now)
        found.append(
            UnitNotice(by, code, str(group["name"]), period, previous, as_of, ISSUER, lines, sections)
        )
    if only is not None and not found:
        raise ValueError(f"{only!r} has no data in {period_text}: check the code, or the period")
    return found


def _group(report: Mapping[str, Any], by: str, code: str) -> Mapping[str, Any] | None:
    return next((g for g in report["groups"] if str(g[by]) == code), None)


def _counts(entry: Mapping[str, Any] | None) -> tuple[int, int]:
    return (0, 0) if entry is None else (int(entry["numerator"]), int(entry["denominator"]))


def _lines(
    current: Mapping[str, Any],
    before: Mapping[str, Any],
    monthly: Sequence[tuple[Period, Mapping[str, Any]]],
    by: str,
    code: str,
) -> tuple[IndicatorLine, ...]:
    group = _group(current, by, code)
    previous = _group(before, by, code)
    charted = 0
    lines = []
    for indicator in INDICATORS:
        entry = None if group is None else group["indicators"][indicator]
        numerator, denominator = _counts(entry)
        ordered, _ = ranked(current, indicator)
        rank = next((r for r, g in ordered if str(g[by]) == code), None)
        chart = denominator > 0 and charted < CHARTED
        charted += chart
        lines.append(
            IndicatorLine(
                indicator,
                numerator,
                denominator,
                float(current["indicators"][indicator]["target"]),
                _counts(current["indicators"][indicator]),
                None if previous is None else _counts(previous["indicators"][indicator]),
                rank,
                len(ordered),
                ranking=_ranking(ordered, indicator, by, code) if chart else (),
                trend=_trend(monthly, indicator, by, code) if chart else (),
            )
        )
    return tuple(lines)


def _ranking(
    ordered: Sequence[tuple[int, Mapping[str, Any]]], indicator: str, by: str, code: str
) -> tuple[RankingEntry, ...]:
    return tuple(
        RankingEntry(str(g["name"]), *_counts(g["indicators"][indicator]), highlighted=str(g[by]) == code)
        for _, g in ordered
    )


def _trend(
    monthly: Sequence[tuple[Period, Mapping[str, Any]]], indicator: str, by: str, code: str
) -> tuple[TrendPoint, ...]:
    points = []
    for month, report in monthly:
        group = _group(report, by, code)
        counts = _counts(None if group is None else group["indicators"][indicator])
        points.append(TrendPoint(f"{month.start.month}月", *counts))
    return tuple(points)


def _sections(lists: Lists, by: str, code: str, period: str, now: float) -> tuple[ListSection, ...]:
    filters = (
        ListFilters(department=code, period=period)
        if by == "department"
        else ListFilters(division=code, period=period)
    )
    sections = []
    for what in NOTICE_LISTS:
        columns = [c for c in COLUMNS[what] if not c[0].startswith(("部门", "区划"))]
        rows = tuple(
            tuple(cell(item) for _, cell, _ in columns)
            for item in lists.items(what, filters, now, limit=LIST_ROWS)
        )
        total = int(lists.header(what, filters, now)["total"])
        headers = tuple(title.split(" ")[0] for title, _, _ in columns)
        full_list = f"svmon list {what} --{by} {code} --period {period}"
        sections.append(ListSection(what, headers, rows, total, full_list=full_list))
    return tuple(sections)


def write_notices(found: Sequence[UnitNotice], out: Path, fmt: NoticeFormat) -> list[Path]:
    """Write each notice and the index into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    render = render_html if fmt == "html" else render_markdown
    written = []
    for notice in found:
        path = out / notice_filename(notice, fmt)
        path.write_text(render(notice), encoding="utf-8")
        written.append(path)
    index = out / index_filename(fmt)
    index.write_text(render_index(found, fmt), encoding="utf-8")
    written.append(index)
    return written


def notice_command(settings: Settings, args: argparse.Namespace) -> int:
    """``svmon notice``: write the notices of a period and their index; print what was written."""
    url = getattr(args, "store", None) or settings.store.url
    try:
        store = open_existing_store(url)
    except EmptyStoreError:
        sys.stderr.write(render_empty(url))
        return EXIT_FAILURE
    unlisted = store.unlisted()
    if unlisted:
        sys.stderr.write(incomplete_warning(sorted(f"{scope}/{part}" for scope, part in unlisted)))
    try:
        found = notices(settings, store, args.period, args.by, time.time(), only=args.only)
    except ValueError as exc:
        sys.stderr.write(f"svmon: error: {exc}\n")
        return EXIT_CONFIG
    finally:
        store.close()
    written = write_notices(found, args.out, args.format)
    sys.stdout.write(f"wrote {len(found)} notices and the index to {args.out} ({written[-1].name})\n")
    return EXIT_OK
