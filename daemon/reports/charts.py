"""Inline SVG charts for the notices: a ranking of peers and a month-by-month trend, no dependencies.

Both charts are strings of SVG that embed as they are in HTML and in Markdown (raw HTML is valid
CommonMark): sized by ``viewBox`` only, so they scale to the width of an A4 page; with a ``<title>``
and ``aria-label`` for screen readers; every coordinate printed with one decimal, so the same input
gives the same bytes (golden tests). An SVG never contains a blank line, because a blank line ends a
Markdown HTML block.

Values are ``(numerator, denominator)`` counts, like everything else in a report: percentages are
printed by `daemon.reports.render.format_percent`, and a zero denominator is "no data" (no bar, no
point), never 0% or 100%.

The value axis starts at a round value just below the lowest value or target instead of at 0%:
the bureau's indicators sit between 95% and 100%, where bars from 0% would all look the same. The
chart says where the axis starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from html import escape

from daemon.reports.render import format_percent
from schemas.identifiers import mask_personal_info

__all__ = ["FONT_FAMILY", "RankingEntry", "TrendPoint", "ranking_svg", "trend_svg"]

#: CJK-capable fonts first (Debian's fonts-noto-cjk, Adobe's, WenQuanYi, Windows), then the default.
FONT_FAMILY = "'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', sans-serif"


@dataclass(frozen=True, slots=True)
class RankingEntry:
    """One peer in a ranking: its name, its counts, and whether it is the unit the chart is for."""

    name: str
    numerator: int
    denominator: int
    highlighted: bool = False


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One month of a trend: its label (``2023-10``) and its counts (0/0 when there is no data)."""

    label: str
    numerator: int
    denominator: int


_WIDTH = 720
_HIGHLIGHT = "#1f5fa8"
_OTHER = "#b8c4cf"
_TARGET = "#c62828"
_GRID = "#e3e7eb"
_MUTED = "#6b7580"
_STEPS = tuple(Fraction(step) for step in ("0.001", "0.002", "0.005", "0.01", "0.02", "0.05", "0.1", "0.2"))
_MAX_INTERVALS = 5


def _text(value: str) -> str:
    # Defense in depth: chart labels come from masked data, but a chart is one more place to leak.
    return escape(mask_personal_info(value), quote=True)


def _number(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _percent(value: Fraction) -> str:
    return format_percent(value.numerator, value.denominator) + "%"


def _exact_target(target: float) -> Fraction:
    # The target is a decimal in the config (0.999); draw that decimal, not its binary float.
    return Fraction(Decimal(repr(target)))


def _axis(values: Iterable[Fraction]) -> tuple[Fraction, Fraction]:
    """(start, step) of an axis ending at 100%, in at most five intervals, starting below every value."""
    lowest = min(values, default=Fraction(0))
    for step in _STEPS:
        start = (lowest // step) * step
        if start == lowest and start > 0:
            start -= step  # leave the lowest bar visible
        if (1 - start) / step <= _MAX_INTERVALS:
            return max(start, Fraction(0)), step
    return Fraction(0), Fraction(1, 4)


def _ticks(start: Fraction, step: Fraction) -> list[Fraction]:
    ticks, tick = [], start
    while tick <= 1:
        ticks.append(tick)
        tick += step
    return ticks


def _open(title: str, height: float) -> list[str]:
    label = _text(title)
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_number(height)}" role="img" '
        f'aria-label="{label}" font-family="{FONT_FAMILY}" font-size="12" class="chart">',
        f"<title>{label}</title>",
    ]


def _ratio(numerator: int, denominator: int) -> Fraction | None:
    return Fraction(numerator, denominator) if denominator else None


# --- ranking ------------------------------------------------------------------------------------

_LABEL_RIGHT = 188  # names end here, right-aligned
_BAR_LEFT = 196
_BAR_RIGHT = 640
_ROW = 20
_BAR = 12
_RANKING_TOP = 34
_NAME_CHARACTERS = 15


def _ranking_order(entries: Sequence[RankingEntry]) -> list[RankingEntry]:
    """Worst first as the bureau ranks: ratio ascending, larger denominator first, then name; no data last."""
    with_data = [entry for entry in entries if entry.denominator]
    with_data.sort(key=lambda e: (Fraction(e.numerator, e.denominator), -e.denominator, e.name))
    return with_data + [entry for entry in entries if not entry.denominator]


def _short(name: str) -> str:
    return name if len(name) <= _NAME_CHARACTERS else name[: _NAME_CHARACTERS - 1] + "…"


def ranking_svg(title: str, entries: Sequence[RankingEntry], target: float) -> str:
    """Horizontal bars of every peer, worst at the top, the highlighted one in colour, the target dashed.

    `title` is the chart's accessible name (``<title>`` and ``aria-label``); `target` is a ratio 0–1.
    """
    ordered = _ranking_order(entries)
    goal = _exact_target(target)
    values = [Fraction(e.numerator, e.denominator) for e in ordered if e.denominator]
    start, step = _axis([*values, goal])

    def x(value: Fraction) -> float:
        return _BAR_LEFT + float((value - start) / (1 - start)) * (_BAR_RIGHT - _BAR_LEFT)

    bottom = _RANKING_TOP + _ROW * len(ordered)
    lines = _open(title, bottom + 34)
    for tick in _ticks(start, step):
        lines.append(
            f'<line x1="{_number(x(tick))}" y1="{_RANKING_TOP - 4}" x2="{_number(x(tick))}" '
            f'y2="{bottom}" stroke="{_GRID}" stroke-width="1"/>'
        )
        lines.append(
            f'<text x="{_number(x(tick))}" y="{_RANKING_TOP - 8}" text-anchor="middle" font-size="10" '
            f'fill="{_MUTED}">{_percent(tick)}</text>'
        )
    for row, entry in enumerate(ordered):
        middle = _RANKING_TOP + _ROW * row + _ROW / 2
        weight = ' font-weight="bold"' if entry.highlighted else ""
        colour = _HIGHLIGHT if entry.highlighted else "#222"
        lines.append(
            f'<text x="{_LABEL_RIGHT}" y="{_number(middle + 4)}" text-anchor="end" fill="{colour}"{weight}>'
            f"{_text(_short(entry.name))}</text>"
        )
        value = _ratio(entry.numerator, entry.denominator)
        if value is None:
            lines.append(
                f'<text x="{_BAR_LEFT + 4}" y="{_number(middle + 4)}" font-size="10" fill="{_MUTED}">'
                "无数据</text>"
            )
            shown = "—"
        else:
            fill = _HIGHLIGHT if entry.highlighted else _OTHER
            lines.append(
                f'<rect x="{_BAR_LEFT}" y="{_number(middle - _BAR / 2)}" '
                f'width="{_number(x(value) - _BAR_LEFT)}" height="{_BAR}" fill="{fill}"/>'
            )
            shown = _percent(value)
        lines.append(
            f'<text x="{_WIDTH - 4}" y="{_number(middle + 4)}" text-anchor="end" '
            f'fill="{colour}"{weight}>{shown}</text>'
        )
    goal_x = _number(x(goal))
    lines.append(
        f'<line x1="{goal_x}" y1="{_RANKING_TOP - 4}" x2="{goal_x}" y2="{bottom}" stroke="{_TARGET}" '
        'stroke-width="1.5" stroke-dasharray="5 3"/>'
    )
    legend = bottom + 22
    lines += [
        f'<rect x="{_BAR_LEFT}" y="{legend - 9}" width="12" height="10" fill="{_HIGHLIGHT}"/>',
        f'<text x="{_BAR_LEFT + 16}" y="{legend}" font-size="11">本单位</text>',
        f'<rect x="{_BAR_LEFT + 70}" y="{legend - 9}" width="12" height="10" fill="{_OTHER}"/>',
        f'<text x="{_BAR_LEFT + 86}" y="{legend}" font-size="11">其他单位</text>',
        f'<line x1="{_BAR_LEFT + 154}" y1="{legend - 4}" x2="{_BAR_LEFT + 178}" y2="{legend - 4}" '
        f'stroke="{_TARGET}" stroke-width="1.5" stroke-dasharray="5 3"/>',
        f'<text x="{_BAR_LEFT + 184}" y="{legend}" font-size="11">目标 {_percent(goal)}</text>',
        f'<text x="{_WIDTH - 4}" y="{legend}" text-anchor="end" font-size="10" fill="{_MUTED}">'
        f"横轴自 {_percent(start)} 起</text>",
        "</svg>",
    ]
    return "\n".join(lines)


# --- trend --------------------------------------------------------------------------------------

_PLOT_LEFT = 64
_PLOT_RIGHT = 648
_PLOT_TOP = 24
_PLOT_BOTTOM = 200
_TREND_HEIGHT = 252


def _runs(positions: Sequence[tuple[float, float] | None]) -> list[list[tuple[float, float]]]:
    """Consecutive months with data; a month without data breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for position in positions:
        if position is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(position)
    return [run for run in runs if run]


def _is_dip(values: Sequence[Fraction | None], index: int) -> bool:
    """Whether the line rises on both sides of a point (its label then goes below, clear of the line)."""
    value = values[index]
    neighbours = [values[i] for i in (index - 1, index + 1) if 0 <= i < len(values)]
    known = [n for n in neighbours if n is not None]
    return value is not None and bool(known) and all(n > value for n in known)


def trend_svg(title: str, points: Sequence[TrendPoint], target: float) -> str:
    """A line through the months in the order given, the target dashed; a month without data is a gap.

    `title` is the chart's accessible name (``<title>`` and ``aria-label``); `target` is a ratio 0–1.
    """
    goal = _exact_target(target)
    values = [_ratio(p.numerator, p.denominator) for p in points]
    start, step = _axis([*(v for v in values if v is not None), goal])
    slot = (_PLOT_RIGHT - _PLOT_LEFT) / max(len(points), 1)

    def y(value: Fraction) -> float:
        return _PLOT_BOTTOM - float((value - start) / (1 - start)) * (_PLOT_BOTTOM - _PLOT_TOP)

    lines = _open(title, _TREND_HEIGHT)
    for tick in _ticks(start, step):
        lines.append(
            f'<line x1="{_PLOT_LEFT}" y1="{_number(y(tick))}" x2="{_PLOT_RIGHT}" y2="{_number(y(tick))}" '
            f'stroke="{_GRID}" stroke-width="1"/>'
        )
        lines.append(
            f'<text x="{_PLOT_LEFT - 6}" y="{_number(y(tick) + 3.5)}" text-anchor="end" font-size="10" '
            f'fill="{_MUTED}">{_percent(tick)}</text>'
        )
    goal_y = _number(y(goal))
    lines += [
        f'<line x1="{_PLOT_LEFT}" y1="{goal_y}" x2="{_PLOT_RIGHT}" y2="{goal_y}" stroke="{_TARGET}" '
        'stroke-width="1.5" stroke-dasharray="5 3"/>',
        f'<text x="{_PLOT_RIGHT + 4}" y="{_number(y(goal) + 4)}" font-size="10" fill="{_TARGET}">'
        f"目标 {_percent(goal)}</text>",
    ]
    positions: list[tuple[float, float] | None] = []
    for index, (point, value) in enumerate(zip(points, values, strict=True)):
        middle = _PLOT_LEFT + slot * index + slot / 2
        lines.append(
            f'<text x="{_number(middle)}" y="{_PLOT_BOTTOM + 18}" text-anchor="middle" font-size="10">'
            f"{_text(point.label)}</text>"
        )
        if value is None:
            positions.append(None)
            lines.append(
                f'<text x="{_number(middle)}" y="{_PLOT_BOTTOM - 6}" text-anchor="middle" font-size="10" '
                f'fill="{_MUTED}">无数据</text>'
            )
        else:
            positions.append((middle, y(value)))
    for run in _runs(positions):
        if len(run) > 1:
            coordinates = " ".join(f"{_number(px)},{_number(py)}" for px, py in run)
            lines.append(
                f'<polyline points="{coordinates}" fill="none" stroke="{_HIGHLIGHT}" stroke-width="2"/>'
            )
    for index, (position, value) in enumerate(zip(positions, values, strict=True)):
        if position is not None and value is not None:
            px, py = _number(position[0]), _number(position[1])
            label_y = position[1] + 16 if _is_dip(values, index) else position[1] - 8
            lines.append(f'<circle cx="{px}" cy="{py}" r="3.5" fill="{_HIGHLIGHT}"/>')
            lines.append(
                f'<text x="{px}" y="{_number(label_y)}" text-anchor="middle" font-size="10" '
                f'fill="{_HIGHLIGHT}">{format_percent(value.numerator, value.denominator)}</text>'
            )
    lines += [
        f'<text x="{_PLOT_LEFT}" y="{_TREND_HEIGHT - 10}" font-size="10" fill="{_MUTED}">'
        f"纵轴自 {_percent(start)} 起；单位：%</text>",
        "</svg>",
    ]
    return "\n".join(lines)
