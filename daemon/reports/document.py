"""A small document model for reports: blocks, and the Markdown and HTML writers that print them.

A report is built once as a list of `Block` values (`Heading`, `Paragraph`, `Bullets`, `Table`,
`Figure`) and written by `write_markdown` or `write_html`, so that both formats always say the same
thing. Every text is escaped on the way out, so data never becomes markup: Markdown gets backslashes,
HTML gets entities. A figure is inline SVG the caller made and trusts (`daemon.reports.charts`).

`write_html` gives one self-contained page (inline CSS, no external fonts, scripts or images) that
prints on A4: headings keep with what follows, table rows and figures are not split across pages,
and a table's header repeats on each page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

from daemon.reports.charts import FONT_FAMILY

__all__ = [
    "Block",
    "Bullets",
    "Figure",
    "Heading",
    "Paragraph",
    "ParagraphStyle",
    "Table",
    "write_html",
    "write_markdown",
]

# --- blocks -------------------------------------------------------------------------------------

#: How a paragraph is set: plain, ``small`` print (notes, provenance), ``meta`` (centred lines under
#: the title) or ``issuer`` (the signature, to the right).
ParagraphStyle = Literal["", "small", "meta", "issuer"]


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading of *level* 1 (the title) to 3."""

    level: int
    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One paragraph of text, set in *style*."""

    text: str
    style: ParagraphStyle = ""


@dataclass(frozen=True, slots=True)
class Bullets:
    """A bulleted list, one text per item."""

    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A table: a header and rows of text, which columns are right-aligned (numbers), optional links.

    A line break in a header cell is where HTML breaks it (a narrow A4 column); Markdown joins the
    lines. A cell whose text is exactly `flagged` is shown as bad news in HTML (bold red).
    """

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    right: tuple[bool, ...]
    links: tuple[str, ...] = ()  # per row, the file its `link_column` cell links to
    link_column: int = 0
    compact: bool = False  # cells never wrap (short numbers and words only)
    flagged: str | None = None


@dataclass(frozen=True, slots=True)
class Figure:
    """An inline SVG drawing, written as it is (the caller made it and escaped its texts)."""

    svg: str


Block = Heading | Paragraph | Bullets | Table | Figure


# --- markdown -----------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~&])")


def _md(text: str) -> str:
    # Backslash-escape what Markdown or its raw HTML would interpret, so data never becomes markup.
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def _md_row(cells: Sequence[str], link: str | None, link_column: int = 0) -> str:
    shown = [_md(cell) for cell in cells]
    if link is not None:
        shown[link_column] = f"[{shown[link_column]}]({link})"
    return "| " + " | ".join(shown) + " |"


def _md_table(table: Table) -> list[str]:
    links: Sequence[str | None] = table.links or [None] * len(table.rows)
    lines = [_md_row([header.replace("\n", "") for header in table.header], None)]
    lines.append("|" + "|".join("---:" if right else "---" for right in table.right) + "|")
    lines.extend(_md_row(row, link, table.link_column) for row, link in zip(table.rows, links, strict=True))
    return lines


def write_markdown(blocks: Sequence[Block]) -> str:
    """*blocks* as GitHub-flavoured Markdown, figures inline SVG."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append("#" * block.level + " " + _md(block.text))
        elif isinstance(block, Paragraph):
            text = _md(block.text)
            out.append(f"<small>{text}</small>" if block.style == "small" else text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {_md(item)}" for item in block.items))
        elif isinstance(block, Table):
            out.append("\n".join(_md_table(block)))
        else:
            out.append(block.svg)
    return "\n\n".join(out) + "\n"


# --- html ---------------------------------------------------------------------------------------

_CSS = f"""@page {{ size: A4; margin: 16mm 14mm 18mm 14mm; }}
html {{ font-family: {FONT_FAMILY}; font-size: 10.5pt; line-height: 1.6; color: #1a1a1a; }}
body {{ margin: 0; }}
main {{ max-width: 182mm; margin: 0 auto; padding: 10mm 0; }}
h1 {{ font-size: 16pt; line-height: 1.4; text-align: center; margin: 0 0 3mm; text-wrap: balance; }}
h2 {{ font-size: 12.5pt; margin: 6mm 0 2mm; break-after: avoid; page-break-after: avoid; }}
h3 {{ font-size: 11pt; margin: 4mm 0 1.5mm; break-after: avoid; page-break-after: avoid; }}
p, li {{ margin: 1.5mm 0; }}
ul {{ padding-left: 5mm; }}
.meta {{ text-align: center; text-wrap: balance; }}
.small {{ font-size: 8.5pt; color: #5a6470; }}
.issuer {{ text-align: right; margin-top: 8mm; }}
table {{ width: 100%; border-collapse: collapse; margin: 2mm 0 3mm; font-size: 8.5pt; line-height: 1.4; }}
thead {{ display: table-header-group; }}
tr, figure, svg {{ break-inside: avoid; page-break-inside: avoid; }}
th, td {{ border: 0.5pt solid #9aa3ad; padding: 1mm 1.2mm; vertical-align: top; }}
table.compact td {{ white-space: nowrap; }}
th {{ background: #eef1f5; font-weight: bold; text-align: center; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }}
td.bad {{ color: #b71c1c; font-weight: bold; }}
figure {{ margin: 1mm 0 4mm; }}
figure svg {{ display: block; width: 100%; height: auto; }}
a {{ color: #1f5fa8; }}
@media print {{
  main {{ max-width: none; padding: 0; }}
  th, svg {{ -webkit-print-color-adjust: exact; print-color-adjust: exact; }}
}}"""


def _html_table(table: Table) -> list[str]:
    headers = "".join(
        "<th>" + "<br>".join(escape(part) for part in h.split("\n")) + "</th>" for h in table.header
    )
    lines = ['<table class="compact">' if table.compact else "<table>", f"<thead><tr>{headers}</tr></thead>"]
    lines.append("<tbody>")
    links: Sequence[str | None] = table.links or [None] * len(table.rows)
    for row, link in zip(table.rows, links, strict=True):
        cells = []
        for column, (cell, right) in enumerate(zip(row, table.right, strict=True)):
            classes = [name for name, on in (("num", right), ("bad", cell == table.flagged)) if on]
            attribute = f' class="{" ".join(classes)}"' if classes else ""
            text = escape(cell)
            if link is not None and column == table.link_column:
                text = f'<a href="{escape(link)}">{text}</a>'
            cells.append(f"<td{attribute}>{text}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return lines


def _html_body(blocks: Sequence[Block]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            attribute = f' class="{block.style}"' if block.style else ""
            out.append(f"<p{attribute}>{escape(block.text)}</p>")
        elif isinstance(block, Bullets):
            out += ["<ul>", *(f"<li>{escape(item)}</li>" for item in block.items), "</ul>"]
        elif isinstance(block, Table):
            out += _html_table(block)
        else:
            out += ["<figure>", block.svg, "</figure>"]
    return out


def write_html(title: str, blocks: Sequence[Block]) -> str:
    """*blocks* as one self-contained HTML page titled *title* that prints on A4."""
    document = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        "<main>",
        *_html_body(blocks),
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(document) + "\n"
