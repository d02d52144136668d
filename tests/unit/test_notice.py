"""Unit tests of `daemon.reports.notice` and `daemon.reports.charts`: one unit's notice, the index, charts.

The golden file is the reviewed Markdown notice of `sample_notice()`. After an intended change,
regenerate it and review the diff:

    SVMON_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_notice.py
"""

from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from daemon.reports.charts import RankingEntry, TrendPoint, ranking_svg, trend_svg
from daemon.reports.notice import (
    IndicatorLine,
    ListSection,
    UnitNotice,
    index_filename,
    notice_filename,
    render_html,
    render_index,
    render_markdown,
)
from daemon.reports.render import Period, parse_period


def _svg(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 - our own renderer's output, not untrusted input


GOLDEN = Path(__file__).parent / "data" / "notice-golden.md"
CST = timezone(timedelta(hours=8))
AS_OF = datetime(2024, 1, 5, 8, 30, tzinfo=CST)
SVG = "{http://www.w3.org/2000/svg}"
HIGHLIGHT = "#1f5fa8"
RESIDENT_ID = "11010519491231002X"
MOBILE = "13812345678"
PERSON = "张三丰"

_PEERS = (
    ("宁波市农业农村局", 980, 1000),
    ("宁波市生态环境局", 1990, 2000),
    ("宁波市交通运输局", 3990, 4000),
    ("宁波市卫生监督所", 799, 800),
    ("宁波市综合行政执法局", 9990, 10000),
    ("宁波市应急管理局", 4996, 5000),
    ("宁波市自然资源和规划局", 1999, 2000),
    ("宁波市卫生健康委员会", 2999, 3000),
    ("宁波市市场监督管理局", 1000, 1000),
    ("宁波市统计局", 50, 50),
    ("宁波市文化市场行政执法队", 600, 600),
    ("宁波市住房和城乡建设局", 700, 700),
    ("宁波市数据局", 0, 0),
)
_TREND = ((997, 1000), (0, 0), (998, 1000), (996, 1000), (999, 1000), (1000, 1000))


def _line(indicator: str, counts: tuple[int, int], target: float, **changes: object) -> IndicatorLine:
    fields: dict[str, object] = {
        "city": (999, 1000),
        "previous": (990, 1000),
        "rank": 6,
        "peers": 12,
        **changes,
    }
    return IndicatorLine(indicator, counts[0], counts[1], target, **fields)  # type: ignore[arg-type]


def sample_lines() -> tuple[IndicatorLine, ...]:
    """The eight indicators of 宁波市生态环境局 in 2023Q4, with every wording case among them."""
    ranking = tuple(RankingEntry(name, n, d, highlighted=name == "宁波市生态环境局") for name, n, d in _PEERS)
    trend = tuple(TrendPoint(f"{month}月", n, d) for month, (n, d) in enumerate(_TREND, start=7))
    return (
        _line(
            "event_handling_rate",
            (1990, 2000),
            0.999,
            city=(39996, 40000),
            previous=(998, 1000),
            rank=2,
            ranking=ranking,
            trend=trend,
        ),
        _line("event_on_time_rate", (1900, 1990), 0.95, city=(9500, 10000), previous=(940, 1000), rank=7),
        _line("data_accuracy_rate", (5000, 5000), 0.999, city=(99998, 100000), previous=(5000, 5000), rank=9),
        _line("item_onboarding_rate", (29, 30), 0.95, city=(967, 1000), previous=None, rank=5),
        _line(
            "double_random_coverage_rate", (0, 0), 0.99, city=(399, 400), previous=(0, 0), rank=None, peers=11
        ),
        _line(
            "mobile_enforcement_rate", (1200, 1200), 0.99, city=(9998, 10000), previous=(1180, 1200), rank=9
        ),
        _line("disclosure_on_time_rate", (18, 20), 0.95, city=(950, 1000), previous=(19, 20), rank=1),
        _line("disclosure_compliance_rate", (40, 40), 1.0, city=(995, 1000), previous=(39, 40), rank=9),
    )


def sample_lists() -> tuple[ListSection, ...]:
    """Four lists: one truncated, one complete, one empty, one with a masked applicant column."""
    return (
        ListSection(
            "overdue",
            ("事件编号", "类型", "创建时间", "办理期限", "逾期(工作日)"),
            (
                ("EV-2023-10-0012", "投诉举报", "2023-10-09 10:12", "2023-10-18 23:59", "12"),
                ("EV-2023-11-0420", "协同事件", "2023-11-20 15:40", "2023-11-27 23:59", "5"),
                ("EV-2023-12-0077", "风险预警", "2023-12-26 09:05", "2023-12-28 23:59", "2"),
            ),
            total=5,
            full_list="svmon list overdue --department 330200.scjgj --period 2023Q4",
        ),
        ListSection(
            "errors",
            ("记录类型", "记录键", "错误代码", "字段", "Kafka 位置"),
            (("inspection/v1", "JC-2023-1207", "invalid_field", "channel", "svmon.inspections/2@18311"),),
            total=1,
        ),
        ListSection("violations", ("公示编号", "违规类型", "字段"), (), total=0),
        ListSection(
            "requests",
            ("申请编号", "公示编号", "类型", "原因", "提交时间", "经办人"),
            (("RQ-2023-0031", "GS-2019-0456", "撤回", "2020年前不当公开", "2023-12-20 14:00", "王**"),),
            total=1,
            person_name_columns=frozenset({5}),
        ),
    )


def sample_notice() -> UnitNotice:
    """The notice to 宁波市生态环境局 for 2023Q4 the golden file and the browser test render."""
    return UnitNotice(
        kind="department",
        code="330200.sthjj",
        name="宁波市生态环境局",
        period=parse_period("2023Q4"),
        previous_period=parse_period("2023Q3"),
        as_of=AS_OF,
        issuer="宁波市数据局",
        lines=sample_lines(),
        lists=sample_lists(),
    )


def _personal_notice() -> UnitNotice:
    rows = (
        ("RQ-1", PERSON, f"身份证 {RESIDENT_ID}，电话 {MOBILE}"),
        ("RQ-2", "李四", f"当事人联系方式：{MOBILE}；证件号{RESIDENT_ID}"),
    )
    section = ListSection(
        "requests", ("申请编号", "当事人", "备注"), rows, total=2, person_name_columns=frozenset({1})
    )
    return dataclasses.replace(sample_notice(), lists=(section,))


def test_markdown_notice_matches_the_golden_file() -> None:
    """The Markdown notice of the sample unit is byte for byte the reviewed golden file."""
    text = render_markdown(sample_notice())
    if os.environ.get("SVMON_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_title_as_of_and_opening_are_written_as_the_bureau_writes_them() -> None:
    """The title names period and unit, the as-of line is Beijing time, and the summary counts statuses."""
    text = render_markdown(sample_notice())
    assert text.startswith("# 关于2023年第四季度宁波市生态环境局“互联网+监管”平台运行情况的通报\n")
    assert "\n\n数据截至 2024年1月5日 08:30（北京时间）\n\n" in text
    assert "\n\n统计期间：2023年10月1日至2023年12月31日；上期：2023年第三季度\n\n" in text
    assert (
        "本期 8 项指标中，5 项达标，2 项未达标（事件处理率、处罚结果按时公开率），"
        "1 项无数据（双随机监管事项覆盖率）。"
    ) in text


def test_undefined_ratios_are_a_dash_never_zero_or_a_hundred_percent() -> None:
    """A zero denominator prints "—" and 无数据 in the table, and the sentence says the ratio is undefined."""
    markdown = render_markdown(sample_notice())
    assert "| 双随机监管事项覆盖率 | — | 0/0 | 99.00 | — | 无数据 | 99.75 | — | — | — | — |" in markdown
    assert "双随机监管事项覆盖率本期无数据（分母为 0，比率无定义）" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| 双随机"))
    assert "0.00" not in row
    assert "100.00" not in row
    html = render_html(sample_notice())
    assert '<td>双随机监管事项覆盖率</td><td class="num">—</td>' in html


def test_gap_change_and_rank_are_worded_with_points_arrows_and_direction() -> None:
    """Gaps are signed 百分点, changes carry ↑/↓, and the rank says among how many and in which direction."""
    text = render_markdown(sample_notice())
    assert (
        "| 事件处理率 | 99.50 | 1,990/2,000 | 99.90 | -0.40 | 未达标 | 99.99 | -0.49 | 99.80 | ↓0.30 | 2/12 |"
        in text
    )
    assert (
        "事件处理率 99.50%（1,990/2,000），未达标，低于目标（99.90%）0.40 个百分点；"
        "低于全市（99.99%）0.49 个百分点；"
        "较上期（99.80%）↓0.30 个百分点；在 12 个部门中由低到高排第 2 位。"
    ) in text
    assert "较上期（94.00%）↑1.48 个百分点" in text
    assert "数据准确率 100.00%（5,000/5,000），达标，高于目标（99.90%）0.10 个百分点；与全市基本持平" in text
    assert "与上期持平" in text
    assert "处罚公开合规率 100.00%（40/40），达标，与目标持平" in text
    assert "低于全市（96.70%）0.03 个百分点；上期无数据；" in text
    assert "不参与排名" in text


def test_a_division_is_ranked_among_divisions() -> None:
    """A division's notice ranks it among 行政区划, not departments."""
    notice = dataclasses.replace(sample_notice(), kind="division", code="330225", name="象山县")
    text = render_markdown(notice)
    assert "在 12 个行政区划中由低到高排第 2 位" in text
    assert notice_filename(notice, "html") == "division-330225.html"


def test_lists_say_how_many_rows_are_shown_of_how_many_and_an_empty_list_says_none() -> None:
    """A truncated list says 前 N 条，共 M 条 and the command for the rest, a complete one 共 M 条, an
    empty one 无 with no table."""
    text = render_markdown(sample_notice())
    rest = "完整名单：svmon list overdue --department 330200.scjgj --period 2023Q4"
    assert f"### （一）逾期未办结事件\n\n前 3 条，共 5 条。{rest}\n\n| 事件编号 |" in text
    assert "### （二）未更正的错误数据\n\n共 1 条。\n\n|" in text
    assert "### （三）应撤回的处罚公示\n\n无。\n\n### （四）待处理的撤回/修改申请" in text


@pytest.mark.parametrize("render", [render_markdown, render_html])
def test_no_resident_id_mobile_or_person_name_survives(render: object) -> None:
    """Resident IDs, mobile numbers and names in list rows are masked in Markdown and in HTML."""
    assert callable(render)
    text = render(_personal_notice())
    assert isinstance(text, str)
    for secret in (RESIDENT_ID, MOBILE, PERSON, "李四"):
        assert secret not in text
    assert "110105********002X" in text.replace("\\*", "*")
    assert "138****5678" in text.replace("\\*", "*")
    assert "张**" in text.replace("\\*", "*")


def test_markdown_cells_never_become_markup() -> None:
    """Pipes, angle brackets and emphasis characters in data are escaped, so a row stays one row of text."""
    section = ListSection("errors", ("记录键", "说明"), (("a|b", "<script>x</script> *y*"),), total=1)
    text = render_markdown(dataclasses.replace(sample_notice(), lists=(section,)))
    assert "| a\\|b | \\<script\\>x\\</script\\> \\*y\\* |" in text
    assert "<script>" not in text
    assert "<script>" not in render_html(dataclasses.replace(sample_notice(), lists=(section,)))


def test_html_is_self_contained_and_prints_on_a4() -> None:
    """The HTML has the A4 @page rule, rows that do not split, and no external reference of any kind."""
    html = render_html(sample_notice())
    assert html.startswith('<!DOCTYPE html>\n<html lang="zh-CN">')
    assert re.search(r"@page \{ size: A4; margin: [^}]+\}", html)
    assert "tr, figure, svg { break-inside: avoid;" in html
    for external in ("src=", "href=http", "@import", "url(", "<script", "<link", "<img"):
        assert external not in html
    assert html.count("<svg ") == 2
    assert "<title>关于2023年第四季度宁波市生态环境局“互联网+监管”平台运行情况的通报</title>" in html


def test_ranking_svg_is_well_formed_sorted_and_highlights_the_unit() -> None:
    """The ranking parses as XML, lists peers worst first with no-data last, and colours only the unit."""
    line = sample_lines()[0]
    root = _svg(ranking_svg("事件处理率：部门排名", line.ranking, line.target))
    assert root.get("viewBox") == "0 0 720 328"
    assert root.get("role") == "img"
    assert root.findtext(f"{SVG}title") == "事件处理率：部门排名"
    names = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end" and t.get("x") == "188"]
    assert names[:3] == ["宁波市农业农村局", "宁波市生态环境局", "宁波市交通运输局"]
    assert names[-1] == "宁波市数据局"
    highlighted = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == HIGHLIGHT]
    assert len(highlighted) == 2  # the unit's bar and the legend's swatch
    bold = [t.text for t in root.iter(f"{SVG}text") if t.get("font-weight") == "bold"]
    assert bold == ["宁波市生态环境局", "99.50%"]
    assert any(line.get("stroke-dasharray") for line in root.iter(f"{SVG}line"))


def test_trend_svg_leaves_a_gap_for_a_month_without_data() -> None:
    """A month with a zero denominator breaks the line into two and shows 无数据 instead of a point."""
    line = sample_lines()[0]
    root = _svg(trend_svg("事件处理率：月度趋势", line.trend, line.target))
    assert len(list(root.iter(f"{SVG}polyline"))) == 1  # Jul alone, then Sep..Dec
    assert len(list(root.iter(f"{SVG}circle"))) == 5
    assert "无数据" in [t.text for t in root.iter(f"{SVG}text")]
    assert root.get("aria-label") == "事件处理率：月度趋势"


def test_charts_escape_and_mask_their_labels() -> None:
    """Chart labels are XML-escaped and masked, so a name can neither break the SVG nor leak a number."""
    svg = ranking_svg("a<b", [RankingEntry(f"A&B {MOBILE}", 1, 2, highlighted=True)], 0.5)
    root = _svg(svg)
    assert MOBILE not in svg
    assert root.findtext(f"{SVG}title") == "a<b"


def test_index_lists_units_worst_first_and_links_their_files() -> None:
    """The index ranks by the headline indicator ascending (ties share a rank, no data last), with links."""
    base = sample_notice()

    def unit(code: str, name: str, counts: tuple[int, int]) -> UnitNotice:
        lines = tuple(
            dataclasses.replace(line, numerator=counts[0], denominator=counts[1])
            if line.indicator == "event_handling_rate"
            else line
            for line in base.lines
        )
        return dataclasses.replace(base, code=code, name=name, lines=lines)

    notices = [
        unit("330200.tjj", "宁波市统计局", (50, 50)),
        base,
        unit("330200.sjj", "宁波市数据局", (0, 0)),
        unit("330200.jtj", "宁波市交通运输局", (995, 1000)),
    ]
    markdown = render_index(notices, "markdown")
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and "排名" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| 1", "| 1", "| 3", "| —"]
    assert rows[0].startswith(
        "| 1 | [宁波市生态环境局](department-330200.sthjj.md) | 330200.sthjj | 99.50 | 未达标 | 2 | 5 |"
    )
    html = render_index(notices, "html")
    assert '<a href="department-330200.sjj.html">宁波市数据局</a>' in html
    assert index_filename("html") == "index.html"
    assert "2023年第四季度各部门“互联网+监管”平台运行情况通报索引" in html


@pytest.mark.parametrize(
    ("period", "words"),
    [
        (parse_period("2023"), "关于2023年宁波市"),
        (parse_period("2023-10"), "关于2023年10月宁波市"),
        (parse_period("2023-10-08"), "关于2023年10月8日宁波市"),
        (
            Period("2023-01-01..2023-06-30", date(2023, 1, 1), date(2023, 6, 30)),
            "关于2023年1月1日至2023年6月30日宁波市",
        ),
    ],
)
def test_every_kind_of_period_is_named_in_chinese(period: Period, words: str) -> None:
    """Years, months, days and ranges are named in Chinese in the title."""
    assert render_markdown(dataclasses.replace(sample_notice(), period=period)).startswith(f"# {words}")


def test_the_model_refuses_inconsistent_input() -> None:
    """Unknown ids, more rows than the total, a missing indicator or a naive time is a ValueError."""
    with pytest.raises(ValueError, match="unknown indicator id 'typo_rate'"):
        _line("typo_rate", (1, 1), 0.9)
    with pytest.raises(ValueError, match="numerator <= denominator"):
        _line("event_handling_rate", (2, 1), 0.9)
    with pytest.raises(ValueError, match=r"rank 13 is not within 1\.\.12"):
        _line("event_handling_rate", (1, 1), 0.9, rank=13)
    with pytest.raises(ValueError, match="2 rows shown but a total of 1"):
        ListSection("overdue", ("a",), (("1",), ("2",)), total=1)
    with pytest.raises(ValueError, match="unknown list 'late'"):
        ListSection("late", (), (), total=0)
    with pytest.raises(ValueError, match="each of the eight indicators once"):
        dataclasses.replace(sample_notice(), lines=sample_lines()[1:])
    with pytest.raises(ValueError, match="aware"):
        dataclasses.replace(sample_notice(), as_of=datetime(2024, 1, 5))  # noqa: DTZ001
