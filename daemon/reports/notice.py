"""Notices (通报) to one department or division: a pure renderer from a typed model to Markdown or HTML.

The bureau "regularly informs each department and district of its 事件处置率 and the other
indicators" (the seed report). A `UnitNotice` holds everything one notice says, already queried from
the store by the caller; this module only shapes it, so it is tested without a store:

* `render_markdown` / `render_html`: one self-contained document per unit (inline CSS and SVG, no
  external fonts, scripts or images; HTML prints on A4).
* `render_index`: the table of every unit's notice, worst first on the headline indicator, as the
  bureau ranks, linking the files named by `notice_filename`.

Both formats are written from one list of `daemon.reports.document` blocks (`_document`), so Markdown
and HTML always say the same thing. Numbers are `daemon.reports.render`'s (`format_percent`, `status`,
`gap`): exact fractions, two decimals, rounded half-up; 达标 is decided on the exact fraction; a zero
denominator is "—", never 0% or 100%.
Ranks are the report's (competition style, 1 = the lowest ratio), so the notice says "由低到高".

Privacy (docs/contract.md §9.6, §13): every text taken from the model passes through
`schemas.identifiers.mask_personal_info`, and the list columns named in
`ListSection.person_name_columns` are masked to the surname (``张**``). The rows are expected to be
masked already; this is defense in depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

from daemon.core.timeutil import SHANGHAI
from daemon.reports.charts import RankingEntry, TrendPoint, ranking_svg, trend_svg
from daemon.reports.document import (
    Block,
    Bullets,
    Figure,
    Heading,
    Paragraph,
    Table,
    write_html,
    write_markdown,
)
from daemon.reports.render import (
    DASH,
    GROUP_KINDS,
    INDICATORS,
    MET,
    NO_DATA,
    NOT_MET,
    Period,
    exact_ratio,
    format_percent,
    gap,
    status,
    target_percent,
)
from schemas.identifiers import mask_personal_info

__all__ = [
    "HEADLINE_INDICATOR",
    "LIST_TITLES",
    "IndicatorLine",
    "ListSection",
    "NoticeFormat",
    "UnitKind",
    "UnitNotice",
    "index_filename",
    "notice_filename",
    "render_html",
    "render_index",
    "render_markdown",
]

NoticeFormat = Literal["markdown", "html"]
UnitKind = Literal["department", "division"]

#: The indicator the bureau ranks units by (the seed report's "事件处置率"); the index is sorted on it.
HEADLINE_INDICATOR = "event_handling_rate"

#: The lists of docs/contract.md §13 a notice can carry, by their `svmon list` key, with Chinese titles.
LIST_TITLES: Mapping[str, str] = MappingProxyType(
    {
        "overdue": "逾期未办结事件",
        "open": "未办结事件",
        "errors": "未更正的错误数据",
        "violations": "应撤回的处罚公示",
        "requests": "待处理的撤回/修改申请",
    }
)

_EXTENSIONS: Mapping[str, str] = MappingProxyType({"markdown": "md", "html": "html"})
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


# --- the model ----------------------------------------------------------------------------------


def _check_counts(what: str, counts: tuple[int, int]) -> None:
    numerator, denominator = counts
    if not 0 <= numerator <= denominator:
        raise ValueError(f"{what}: need 0 <= numerator <= denominator, got {numerator}/{denominator}")


@dataclass(frozen=True, slots=True)
class IndicatorLine:
    """One indicator of one unit: its counts against the target, the city and the previous period.

    `city` and `previous` are ``(numerator, denominator)``; `previous` is None when there is no
    previous period. `rank` is the unit's rank among `peers` units with data (the report's ranking:
    1 = the lowest ratio), None when the unit has none. `ranking` (every peer) and `trend` (month by
    month) are drawn as charts when given; a notice gives them for its headline indicators.
    """

    indicator: str
    numerator: int
    denominator: int
    target: float
    city: tuple[int, int]
    previous: tuple[int, int] | None
    rank: int | None
    peers: int
    ranking: tuple[RankingEntry, ...] = ()
    trend: tuple[TrendPoint, ...] = ()

    def __post_init__(self) -> None:
        if self.indicator not in INDICATORS:
            raise ValueError(f"unknown indicator id {self.indicator!r}: use one of {', '.join(INDICATORS)}")
        _check_counts(self.indicator, (self.numerator, self.denominator))
        _check_counts(f"{self.indicator} city", self.city)
        if self.previous is not None:
            _check_counts(f"{self.indicator} previous", self.previous)
        if not 0 <= self.target <= 1:
            raise ValueError(f"{self.indicator}: target {self.target} is not a ratio 0-1")
        if self.rank is not None and not 1 <= self.rank <= self.peers:
            raise ValueError(f"{self.indicator}: rank {self.rank} is not within 1..{self.peers}")

    @property
    def name(self) -> str:
        """The indicator's Chinese name (事件处理率)."""
        return INDICATORS[self.indicator]

    @property
    def counts(self) -> tuple[int, int]:
        """``(numerator, denominator)``, the shape of `city` and `previous`."""
        return self.numerator, self.denominator


@dataclass(frozen=True, slots=True)
class ListSection:
    """One drill-down list of a notice: its rows (possibly the first few) and how many there are.

    `key` is a `LIST_TITLES` key. `person_name_columns` are the indices of columns that may hold a
    natural person's name; the renderer masks them to the first character (``张**``) whatever arrives.
    """

    key: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total: int
    person_name_columns: frozenset[int] = field(default_factory=frozenset)
    #: The command that prints the whole list, named when only the first rows are shown.
    full_list: str = ""

    def __post_init__(self) -> None:
        if self.key not in LIST_TITLES:
            raise ValueError(f"unknown list {self.key!r}: use one of {', '.join(LIST_TITLES)}")
        if not len(self.rows) <= self.total:
            raise ValueError(f"list {self.key}: {len(self.rows)} rows shown but a total of {self.total}")
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(
                    f"list {self.key}: a row has {len(row)} cells for {len(self.headers)} headers"
                )
        if any(not 0 <= column < len(self.headers) for column in self.person_name_columns):
            raise ValueError(f"list {self.key}: a person-name column is not one of the headers")

    @property
    def title(self) -> str:
        """The list's Chinese title (逾期未办结事件)."""
        return LIST_TITLES[self.key]


@dataclass(frozen=True, slots=True)
class UnitNotice:
    """Everything one notice says about one unit (department or division) for one period.

    `lines` hold the eight indicators (any order; rendered in the report's order). `as_of` is the
    aware time of the state the numbers reflect; `issuer` signs the notice (宁波市数据局).
    """

    kind: UnitKind
    code: str
    name: str
    period: Period
    previous_period: Period | None
    as_of: datetime
    issuer: str
    lines: tuple[IndicatorLine, ...]
    lists: tuple[ListSection, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in GROUP_KINDS:
            raise ValueError(f"unknown unit kind {self.kind!r}: use one of {', '.join(GROUP_KINDS)}")
        if self.as_of.tzinfo is None or self.as_of.utcoffset() is None:
            raise ValueError("as_of must be an aware datetime")
        ids = [line.indicator for line in self.lines]
        if sorted(ids) != sorted(INDICATORS):
            raise ValueError(f"a notice needs each of the eight indicators once, got {', '.join(ids)}")
        keys = [section.key for section in self.lists]
        if len(set(keys)) != len(keys):
            raise ValueError(f"a list appears twice in the notice: {', '.join(keys)}")

    def line(self, indicator: str) -> IndicatorLine:
        """The line of `indicator`."""
        return next(line for line in self.lines if line.indicator == indicator)

    def ordered_lines(self) -> list[IndicatorLine]:
        """The lines in the report's order (`INDICATORS`)."""
        return [self.line(indicator) for indicator in INDICATORS]


def notice_filename(notice: UnitNotice, fmt: NoticeFormat) -> str:
    """The file name a notice is written to and the index links to: ``department-330200.sthjj.md``."""
    return f"{notice.kind}-{_UNSAFE_IN_FILENAME.sub('_', notice.code)}.{_EXTENSIONS[fmt]}"


def index_filename(fmt: NoticeFormat) -> str:
    """The file name of the index: ``index.md`` or ``index.html``."""
    return f"index.{_EXTENSIONS[fmt]}"


# --- wording ------------------------------------------------------------------------------------

_QUARTERS = ("一", "二", "三", "四")
_SECTION_NUMBERS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十")


def _mask_person_name(text: str) -> str:
    """The first character and two stars (``张**``): the length of the name is not shown either."""
    stripped = mask_personal_info(text.strip())
    return stripped[:1] + "**" if stripped else stripped


def _day_words(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _period_words(period: Period) -> str:
    """``2023年第四季度``, ``2023年``, ``2023年10月``, ``2023年10月8日`` or a range of days."""
    start, end = period.start, period.end
    if start == end:
        return _day_words(start)
    whole_months = start.day == 1 and (end + timedelta(days=1)).day == 1 and start.year == end.year
    months = end.month - start.month + 1
    if whole_months and months == 12:
        return f"{start.year}年"
    if whole_months and months == 3 and start.month % 3 == 1:
        return f"{start.year}年第{_QUARTERS[start.month // 3]}季度"
    if whole_months and months == 1:
        return f"{start.year}年{start.month}月"
    return f"{_day_words(start)}至{_day_words(end)}"


def _as_of_words(moment: datetime) -> str:
    local = moment.astimezone(SHANGHAI)
    return f"{_day_words(local.date())} {local:%H:%M}（北京时间）"


def _percent(counts: tuple[int, int]) -> str:
    """``99.50`` or "—" (a zero denominator is undefined)."""
    return format_percent(*counts)


def _entry(counts: tuple[int, int], target: float | None = None) -> dict[str, object]:
    """*counts* and *target* as a Report JSON indicator entry (docs/contract.md §10), which render reads."""
    numerator, denominator = counts
    return {"numerator": numerator, "denominator": denominator, "target": target}


def _exact(counts: tuple[int, int] | None) -> Fraction | None:
    return None if counts is None else exact_ratio(_entry(counts))


def _exact_target(target: float) -> Fraction:
    # The target is a decimal in the config (0.999); compare against that decimal, not its float.
    return Fraction(Decimal(repr(target)))


@dataclass(frozen=True, slots=True)
class _Difference:
    """``value - reference`` in percentage points: exact sign, and magnitude as the report rounds it."""

    sign: int  # of the exact difference
    magnitude: str  # two decimals, half-up

    @property
    def rounds_to_zero(self) -> bool:
        return self.magnitude == "0.00"


def _difference(value: Fraction, reference: Fraction) -> _Difference:
    delta = value - reference
    size = abs(delta)
    return _Difference((delta > 0) - (delta < 0), format_percent(size.numerator, size.denominator))


def _signed(difference: _Difference) -> str:
    """``+0.10``, ``-0.40`` or ``0.00`` (a difference that rounds to zero), as the report prints gaps."""
    if difference.rounds_to_zero:
        return "0.00"
    return ("+" if difference.sign > 0 else "-") + difference.magnitude


def _arrow(difference: _Difference) -> str:
    """``↑0.30``, ``↓0.30`` or ``0.00``."""
    if difference.rounds_to_zero:
        return "0.00"
    return ("↑" if difference.sign > 0 else "↓") + difference.magnitude


def _compared(difference: _Difference, what: str, shown: str) -> str:
    """``低于全市（99.99%）0.49 个百分点``, ``与全市持平`` or ``与全市基本持平（相差不足 0.01 个百分点）``."""
    if difference.sign == 0:
        return f"与{what}持平"
    if difference.rounds_to_zero:
        return f"与{what}基本持平（相差不足 0.01 个百分点）"
    side = "高于" if difference.sign > 0 else "低于"
    return f"{side}{what}（{shown}%）{difference.magnitude} 个百分点"


def _status(line: IndicatorLine) -> str:
    return status(_entry(line.counts, line.target))


def _rank_words(line: IndicatorLine, kind: str) -> str:
    if line.rank is None:
        return "不参与排名"
    return f"在 {line.peers} 个{GROUP_KINDS[kind]}中由低到高排第 {line.rank} 位"


def _counts_words(numerator: int, denominator: int) -> str:
    return f"{numerator:,}/{denominator:,}"


def _line_sentence(line: IndicatorLine, kind: str) -> str:
    """One sentence on one indicator, as a notice writes it."""
    value = _exact(line.counts)
    target_shown = target_percent(line.target)
    if value is None:
        parts = [f"{line.name}本期无数据（分母为 0，比率无定义），目标 {target_shown}%"]
    else:
        parts = [
            f"{line.name} {_percent(line.counts)}%"
            f"（{_counts_words(line.numerator, line.denominator)}），{_status(line)}，"
            + _compared(_difference(value, _exact_target(line.target)), "目标", target_shown)
        ]
    city = _exact(line.city)
    if city is None:
        parts.append("全市无数据")
    elif value is None:
        parts.append(f"全市 {_percent(line.city)}%")
    else:
        parts.append(_compared(_difference(value, city), "全市", _percent(line.city)))
    previous = _exact(line.previous)
    if previous is None:
        parts.append("上期无数据")
    elif value is None:
        parts.append(f"上期 {_percent((previous.numerator, previous.denominator))}%")
    else:
        change = _difference(value, previous)
        shown = _percent((previous.numerator, previous.denominator))
        parts.append("与上期持平" if change.sign == 0 else f"较上期（{shown}%）{_arrow(change)} 个百分点")
    parts.append(_rank_words(line, kind))
    return "；".join(parts) + "。"


def _summary(lines: Sequence[IndicatorLine]) -> str:
    verdicts = [(line.name, _status(line)) for line in lines]
    met = [name for name, verdict in verdicts if verdict == MET]
    not_met = [name for name, verdict in verdicts if verdict == NOT_MET]
    no_data = [name for name, verdict in verdicts if verdict == NO_DATA]
    text = f"本期 {len(lines)} 项指标中，{len(met)} 项达标，{len(not_met)} 项未达标"
    if not_met:
        text += f"（{'、'.join(not_met)}）"
    if no_data:
        text += f"，{len(no_data)} 项无数据（{'、'.join(no_data)}）"
    return text + "。"


def _table_row(line: IndicatorLine) -> list[str]:
    value = _exact(line.counts)
    city, previous = _exact(line.city), _exact(line.previous)
    return [
        line.name,
        _percent(line.counts),
        _counts_words(line.numerator, line.denominator),
        target_percent(line.target),
        gap(_entry(line.counts, line.target)),
        _status(line),
        _percent(line.city),
        DASH if value is None or city is None else _signed(_difference(value, city)),
        DASH if previous is None else _percent((previous.numerator, previous.denominator)),
        DASH if value is None or previous is None else _arrow(_difference(value, previous)),
        DASH if line.rank is None else f"{line.rank}/{line.peers}",
    ]


# A line break in a header is where HTML breaks it on a narrow A4 column; Markdown joins the lines.
_INDICATOR_HEADER = (
    "指标",
    "本期\n(%)",
    "分子/分母",
    "目标\n(%)",
    "差距\n(百分点)",
    "结论",
    "全市\n(%)",
    "较全市\n(百分点)",
    "上期\n(%)",
    "较上期\n(百分点)",
    "排名\n(由低到高)",
)
_INDICATOR_RIGHT = (False, True, True, True, True, False, True, True, True, True, True)


def _count_words(section: ListSection) -> str:
    if section.total == 0:
        return "无。"
    if len(section.rows) < section.total:
        rest = f"完整名单：{section.full_list}" if section.full_list else ""
        return f"前 {len(section.rows)} 条，共 {section.total} 条。{rest}"
    return f"共 {section.total} 条。"


_COUNT = re.compile(r"[0-9][0-9,]*")


def _is_count_column(rows: Sequence[Sequence[str]], column: int) -> bool:
    """Whether every cell of `column` is a count (right-aligned, as numbers are in every table)."""
    return all(_COUNT.fullmatch(row[column]) for row in rows)


def _masked_rows(section: ListSection) -> list[list[str]]:
    return [
        [
            _mask_person_name(cell) if column in section.person_name_columns else mask_personal_info(cell)
            for column, cell in enumerate(row)
        ]
        for row in section.rows
    ]


# --- the document -------------------------------------------------------------------------------


def _title(notice: UnitNotice) -> str:
    return (
        f"关于{_period_words(notice.period)}{mask_personal_info(notice.name)}“互联网+监管”平台运行情况的通报"
    )


def _charts(notice: UnitNotice) -> Iterator[Block]:
    word = GROUP_KINDS[notice.kind]
    name = mask_personal_info(notice.name)
    for line in notice.ordered_lines():
        if line.ranking:
            title = f"{line.name}：{word}排名（由低到高）"
            yield Heading(3, title)
            yield Figure(ranking_svg(f"{title}，本单位：{name}", line.ranking, line.target))
        if line.trend:
            title = f"{line.name}：月度趋势"
            yield Heading(3, title)
            yield Figure(trend_svg(f"{title}，{name}", line.trend, line.target))


def _lists(notice: UnitNotice) -> Iterator[Block]:
    for number, section in enumerate(notice.lists):
        yield Heading(3, f"（{_SECTION_NUMBERS[number]}）{section.title}")
        yield Paragraph(_count_words(section))
        if section.rows:
            header = tuple(mask_personal_info(h) for h in section.headers)
            rows = tuple(tuple(row) for row in _masked_rows(section))
            right = tuple(_is_count_column(rows, column) for column in range(len(header)))
            yield Table(header, rows, right, flagged=NOT_MET)


def _opening(notice: UnitNotice, lines: Sequence[IndicatorLine]) -> list[Block]:
    """The title, the period and provenance lines, the salutation and the summary."""
    name = mask_personal_info(notice.name)
    period = _period_words(notice.period)
    previous = "" if notice.previous_period is None else f"；上期：{_period_words(notice.previous_period)}"
    return [
        Heading(1, _title(notice)),
        Paragraph(f"数据截至 {_as_of_words(notice.as_of)}", "meta"),
        Paragraph(
            f"统计期间：{_day_words(notice.period.start)}至{_day_words(notice.period.end)}{previous}", "meta"
        ),
        Paragraph(
            f"Supervision notice to {notice.kind} {mask_personal_info(notice.code)}, "
            f"period {notice.period.label}, as of {notice.as_of.isoformat()}.",
            "small",
        ),
        Paragraph(f"{name}："),
        Paragraph(
            f"根据“互联网+监管”平台统计数据，现将你单位{period}平台运行情况通报如下。{_summary(lines)}"
        ),
    ]


def _sections(notice: UnitNotice, lines: Sequence[IndicatorLine]) -> list[Block]:
    """The sections that have content, numbered 一、二、… in order: table, sentences, charts, lists."""
    sections: list[tuple[str, list[Block]]] = [
        (
            "指标完成情况",
            [
                Table(
                    _INDICATOR_HEADER,
                    tuple(tuple(_table_row(line)) for line in lines),
                    _INDICATOR_RIGHT,
                    compact=True,
                    flagged=NOT_MET,
                ),
                Paragraph(
                    "说明：比率单位为 %，差距、较全市、较上期单位为百分点；“—”表示分母为 0、比率无定义"
                    "（不按 0% 或 100% 计）；排名按比率由低到高，第 1 位最低。",
                    "small",
                ),
            ],
        ),
        ("逐项情况", [Bullets(tuple(_line_sentence(line, notice.kind) for line in lines))]),
        ("排名与趋势", list(_charts(notice))),
        ("问题清单", list(_lists(notice))),
    ]
    blocks: list[Block] = []
    number = 0
    for heading, content in sections:
        if content:
            blocks += [Heading(2, f"{_SECTION_NUMBERS[number]}、{heading}"), *content]
            number += 1
    return blocks


def _document(notice: UnitNotice) -> list[Block]:
    lines = notice.ordered_lines()
    return [
        *_opening(notice, lines),
        *_sections(notice, lines),
        Paragraph("请你单位对照上述情况，认真分析原因，抓紧整改落实。"),
        Paragraph(mask_personal_info(notice.issuer), "issuer"),
        Paragraph(
            "本通报由 svmon 根据平台数据生成，个人信息已脱敏。Generated by svmon; personal data masked.",
            "small",
        ),
    ]


def render_markdown(notice: UnitNotice) -> str:
    """The notice as one GitHub-flavoured Markdown file, its charts inline SVG."""
    return write_markdown(_document(notice))


def render_html(notice: UnitNotice) -> str:
    """The notice as one self-contained HTML file (inline CSS and SVG) that prints on A4."""
    return write_html(_title(notice), _document(notice))


# --- index --------------------------------------------------------------------------------------


def _by_headline(notices: Sequence[UnitNotice]) -> list[tuple[int | None, UnitNotice]]:
    """Worst first on the headline indicator, competition ranks as the report gives; no data last."""

    def key(notice: UnitNotice) -> tuple[bool, Fraction, int, str]:
        line = notice.line(HEADLINE_INDICATOR)
        value = _exact(line.counts)
        return (value is None, value or Fraction(0), -line.denominator, notice.code)

    ranked: list[tuple[int | None, UnitNotice]] = []
    previous: Fraction | None = None
    rank = 0
    for position, notice in enumerate(sorted(notices, key=key), start=1):
        line = notice.line(HEADLINE_INDICATOR)
        value = _exact(line.counts)
        if value is None:
            ranked.append((None, notice))
            continue
        if value != previous:
            rank, previous = position, value
        ranked.append((rank, notice))
    return ranked


def _index_table(notices: Sequence[UnitNotice], fmt: NoticeFormat) -> Table:
    """One row per unit, worst first; the unit's name links to its notice."""
    keys = [key for key in LIST_TITLES if any(s.key == key for n in notices for s in n.lists)]
    header = (
        "排名",
        GROUP_KINDS[notices[0].kind],
        "代码",
        f"{INDICATORS[HEADLINE_INDICATOR]}(%)",
        "结论",
        "未达标指标数",
        *(LIST_TITLES[key] for key in keys),
    )
    rows: list[tuple[str, ...]] = []
    links: list[str] = []
    for rank, notice in _by_headline(notices):
        line = notice.line(HEADLINE_INDICATOR)
        totals = {section.key: str(section.total) for section in notice.lists}
        rows.append(
            (
                DASH if rank is None else str(rank),
                mask_personal_info(notice.name),
                mask_personal_info(notice.code),
                _percent(line.counts),
                _status(line),
                str(sum(_status(other) == NOT_MET for other in notice.lines)),
                *(totals.get(key, DASH) for key in keys),
            )
        )
        links.append(notice_filename(notice, fmt))
    right = (True, False, False, True, False, True, *(True for _ in keys))
    return Table(header, tuple(rows), right, tuple(links), link_column=1, flagged=NOT_MET)


def render_index(notices: Sequence[UnitNotice], fmt: NoticeFormat) -> str:
    """The index of one period's notices: a table of units, worst first on `HEADLINE_INDICATOR`.

    Every notice must be of the same period and unit kind; each unit's name links to the file
    `notice_filename` names in the same directory.
    """
    if not notices:
        raise ValueError("an index needs at least one notice")
    first = notices[0]
    if any(n.period != first.period or n.kind != first.kind for n in notices):
        raise ValueError("an index lists notices of one period and one unit kind")
    word = GROUP_KINDS[first.kind]
    title = f"{_period_words(first.period)}各{word}“互联网+监管”平台运行情况通报索引"
    blocks: list[Block] = [
        Heading(1, title),
        Paragraph(
            f"数据截至 {_as_of_words(max(n.as_of for n in notices))}；共 {len(notices)} 个{word}。", "meta"
        ),
        Paragraph(
            f"按{INDICATORS[HEADLINE_INDICATOR]}由低到高排列，第 1 位最低，无数据者列后；"
            f"{word}名称链接到其通报。",
            "small",
        ),
        _index_table(notices, fmt),
    ]
    if fmt == "markdown":
        return write_markdown(blocks)
    if fmt == "html":
        return write_html(title, blocks)
    raise ValueError(f"unknown notice format {fmt!r}: use markdown or html")
