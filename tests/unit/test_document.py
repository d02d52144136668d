"""Tests of `daemon.reports.document`: the blocks, and what the Markdown and HTML writers make of them."""

from __future__ import annotations

from daemon.reports import document

_TABLE = document.Table(
    header=("名称", "比率\n(%)"),
    rows=(("甲", "99.50"), ("乙", "未达标")),
    right=(False, True),
    links=("a.md", "b.md"),
    flagged="未达标",
)


def test_markdown_joins_header_lines_aligns_numbers_and_links_the_link_column() -> None:
    """A Markdown table joins a header's lines, right-aligns number columns and links the chosen cell."""
    assert document.write_markdown([_TABLE]) == (
        "| 名称 | 比率(%) |\n|---|---:|\n| [甲](a.md) | 99.50 |\n| [乙](b.md) | 未达标 |\n"
    )


def test_html_breaks_header_lines_and_flags_the_flagged_text() -> None:
    """An HTML table breaks a header at its line break and marks only cells reading `flagged` as bad."""
    html = document.write_html("t", [_TABLE])
    assert "<th>比率<br>(%)</th>" in html
    assert '<td class="num bad">未达标</td>' in html
    assert '<td class="num">99.50</td>' in html
    assert '<td><a href="a.md">甲</a></td>' in html


def test_link_column_chooses_the_linked_cell() -> None:
    """`link_column` names the cell of each row that carries the row's link."""
    table = document.Table(("rank", "name"), (("1", "甲"),), (True, False), links=("a.md",), link_column=1)
    assert "| 1 | [甲](a.md) |" in document.write_markdown([table])


def test_text_never_becomes_markup() -> None:
    """Markdown and HTML special characters in texts are escaped; a figure's SVG is written as it is."""
    blocks: list[document.Block] = [
        document.Heading(1, "<b>#1</b>"),
        document.Paragraph("a|b *c*", "small"),
        document.Bullets(("<i>",)),
        document.Figure("<svg/>"),
    ]
    assert document.write_markdown(blocks) == (
        "# \\<b\\>\\#1\\</b\\>\n\n<small>a\\|b \\*c\\*</small>\n\n- \\<i\\>\n\n<svg/>\n"
    )
    html = document.write_html("<title>", blocks)
    assert "<title>&lt;title&gt;</title>" in html
    assert "<h1>&lt;b&gt;#1&lt;/b&gt;</h1>" in html
    assert '<p class="small">a|b *c*</p>' in html
    assert "<figure>\n<svg/>\n</figure>" in html


def test_html_page_is_self_contained_and_sized_for_a4() -> None:
    """The HTML page carries its own CSS with an A4 page size and loads nothing from outside."""
    html = document.write_html("t", [document.Paragraph("x")])
    assert html.startswith("<!DOCTYPE html>\n")
    assert "@page { size: A4;" in html
    for external in ("src=", "@import", "url(", "<script", "<link"):
        assert external not in html
