"""The HTML notice in a real browser: Debian's headless chromium renders, screenshots and prints it.

Chromium comes from `make system-deps` (with fonts-noto-cjk, without which every Chinese glyph is a
box). Each run gets a fresh profile directory and no network services, so nothing from a previous
run or the machine's own profile can change what is rendered.
"""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

from daemon.reports.notice import render_html
from tests.services import unavailable
from tests.unit.test_notice import sample_notice

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
# A cold start on a loaded two-core machine takes seconds; a minute and a half means it hung.
TIMEOUT_SECONDS = 90
# A4 at 150 dpi: 210 mm x 297 mm.
WINDOW = (1240, 1754)
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TITLE = "关于2023年第四季度宁波市生态环境局“互联网+监管”平台运行情况的通报"


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's chromium, or an unavailable service (fails in CI, skips elsewhere)."""
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing: `make system-deps` installs Debian's chromium")
    return CHROMIUM


@pytest.fixture
def notice_url(tmp_path: Path) -> str:
    """The sample notice written as an HTML file, as a file:// URL."""
    page = tmp_path / "notice.html"
    page.write_text(render_html(sample_notice()), encoding="utf-8")
    return page.as_uri()


def _run(chromium: Path, workdir: Path, *arguments: str) -> bytes:
    """Run chromium to completion in its own process group (killed whole on timeout); its stdout."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
    command = [str(chromium), *_FLAGS, f"--user-data-dir={profile}", *arguments]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            # The renderer and GPU helpers are children: end the whole group this test started.
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


def _png_pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, bytes per pixel, unfiltered rows) of an 8-bit RGB or RGBA PNG."""
    assert data.startswith(_PNG_SIGNATURE)
    position, header, compressed = len(_PNG_SIGNATURE), b"", bytearray()
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        assert (
            zlib.crc32(kind + body)
            == struct.unpack(">I", data[position + 8 + length : position + 12 + length])[0]
        )
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed += body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {2: 3, 6: 4}[colour]
    raw = zlib.decompress(bytes(compressed))
    stride = width * channels
    rows: list[bytes] = []
    previous = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        previous = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], previous, channels)
        rows.append(previous)
    return width, height, channels, rows


def _unfilter(kind: int, line: bytes, above: bytes, bpp: int) -> bytes:
    """One scanline with its PNG filter (None, Sub, Up, Average, Paeth) undone."""
    if kind == 0:
        return line
    if kind == 2:
        return bytes((a + b) & 0xFF for a, b in zip(line, above, strict=True))
    out = bytearray(line)
    for i in range(len(out)):
        left = out[i - bpp] if i >= bpp else 0
        if kind == 1:
            out[i] = (out[i] + left) & 0xFF
        elif kind == 3:
            out[i] = (out[i] + (left + above[i]) // 2) & 0xFF
        else:
            upper_left = above[i - bpp] if i >= bpp else 0
            estimate = left + above[i] - upper_left
            pa, pb, pc = abs(estimate - left), abs(estimate - above[i]), abs(estimate - upper_left)
            predictor = left if pa <= pb and pa <= pc else above[i] if pb <= pc else upper_left
            out[i] = (out[i] + predictor) & 0xFF
    return bytes(out)


def test_the_notice_renders_to_a_non_blank_a4_sized_screenshot(
    chromium: Path, notice_url: str, tmp_path: Path
) -> None:
    """A screenshot at A4 size exists, has the window's size, and shows text and charts, not a blank page."""
    png = tmp_path / "notice.png"
    _run(chromium, tmp_path, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={png}", notice_url)
    width, height, channels, rows = _png_pixels(png.read_bytes())
    assert (width, height) == WINDOW
    pixels = {row[x : x + 3] for row in rows[::8] for x in range(0, width * channels, channels * 4)}
    dark = sum(1 for row in rows[::8] for x in range(0, width * channels, channels * 4) if row[x] < 128)
    assert len(pixels) > 50  # text, table borders, the highlight colour and the target line
    assert dark > 500  # black text covers part of the page, not a few stray pixels


def test_the_rendered_dom_carries_the_title_and_both_charts(
    chromium: Path, notice_url: str, tmp_path: Path
) -> None:
    """The DOM after rendering has the notice's title, its lists and its two inline SVG charts."""
    dom = _run(chromium, tmp_path, "--dump-dom", notice_url).decode("utf-8")
    assert f"<h1>{_TITLE}</h1>" in dom
    assert dom.count("<svg ") == 2
    assert "前 3 条，共 5 条。" in dom


def test_the_notice_prints_to_an_a4_pdf(chromium: Path, notice_url: str, tmp_path: Path) -> None:
    """Printing gives a PDF whose every page is A4 (595 x 842 points), as the @page rule asks."""
    pdf = tmp_path / "notice.pdf"
    _run(chromium, tmp_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", notice_url)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(data) > 20_000
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert boxes
    assert all(round(float(w)) == 595 and round(float(h)) == 842 for w, h in boxes)
