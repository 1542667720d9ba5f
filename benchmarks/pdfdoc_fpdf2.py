"""Benchmark only: PDF pages of text, lines, polygons and RGB images, written with fpdf2 (a kept library).

The report code (:mod:`thioquant.report.pdf`, :mod:`thioquant.report.chart`) draws on
:class:`Page` objects with a top-left origin in points; each page records its drawing operations,
and :meth:`Document.to_bytes` replays them into an :class:`fpdf.FPDF` document, so that a footer
("page 3 of 7") can still be added to every page once the number of pages is known. Text uses the
standard PDF fonts (Helvetica, Helvetica-Bold, Courier) in Windows-1252 encoding, and
:func:`text_width` their metrics as fpdf2 ships them. The output is deterministic: a fixed
creation date, and the file identifier fpdf2 derives from the content.

A drop-in replacement of ``thioquant.report.pdfdoc`` for benchmarks/bench_deps.py, which measured
it against the own writer (docs/dependencies.md: it costs more than the 30 % of a batch's run time
that issue 23 allows, so the own writer stays). Kept here so the measurement can be repeated.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

A4 = (595.28, 841.89)

FONTS = {"F1": ("helvetica", ""), "F2": ("helvetica", "B"), "F3": ("courier", "")}
#: the creation date written into every PDF: the same report gives the same bytes
FIXED_TIME = _dt.datetime(2000, 1, 1, tzinfo=_dt.UTC)
ENCODING = "windows-1252"


def _cp1252(text: str) -> str:
    """``text`` as the core fonts can show it: Windows-1252, unknown characters as '?', one line."""
    return str(text).encode(ENCODING, errors="replace").decode(ENCODING).replace("\r", "").replace("\n", " ")


@lru_cache(maxsize=4)
def _widths(font: str) -> dict[str, int]:
    from fpdf.fonts import CORE_FONTS_CHARWIDTHS

    family, style = FONTS.get(font, FONTS["F1"])
    cw = CORE_FONTS_CHARWIDTHS[family + style]
    # fpdf2 keys its tables by the latin-1 character of each Windows-1252 byte
    return {bytes([i]).decode(ENCODING, errors="ignore") or chr(i): cw[chr(i)] for i in range(256)}


def text_width(text: str, size: float, font: str = "F1") -> float:
    """Width of ``text`` in points."""
    w = _widths(font)
    return sum(w.get(c, 556) for c in _cp1252(text)) * size / 1000.0


def wrap(text: str, width: float, size: float, font: str = "F1") -> list[str]:
    """thioquant's word wrap, measured with this library's metrics."""
    from thioquant.report.pdfdoc import wrap as _wrap

    return _wrap(text, width, size, font, measure=text_width)


def _rgb255(color: Any) -> tuple[int, int, int]:
    if isinstance(color, str):
        return _hex255(color)
    return tuple(int(round(float(v) * 255)) for v in color)  # type: ignore[return-value]


@lru_cache(maxsize=256)
def _hex255(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


class Page:
    """One page's drawing operations (top-left origin, points), replayed by :class:`Document`."""

    def __init__(self, size: tuple[float, float] = A4) -> None:
        self.width, self.height = size
        self.ops: list[tuple[Any, ...]] = []

    def text(self, x: float, y: float, text: str, size: float = 9, *, font: str = "F1", color: Any = "#000000",
             align: str = "left") -> float:
        """Draw one line of text with its baseline at ``y``; returns its width."""
        w = text_width(text, size, font)
        if align == "right":
            x -= w
        elif align == "center":
            x -= w / 2
        self.ops.append(("text", x, y, _cp1252(text), size, font, _rgb255(color)))
        return w

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: Any = "#000000", width: float = 0.5,
             dash: Sequence[float] | None = None) -> None:
        self.ops.append(("line", x1, y1, x2, y2, _rgb255(color), width, tuple(dash) if dash else None))

    def polyline(self, xs: Any, ys: Any, *, color: Any = "#000000", width: float = 0.5,
                 dash: Sequence[float] | None = None) -> None:
        if len(xs) < 2:
            return
        pts = np.column_stack([np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32)])
        self.ops.append(("polyline", pts, _rgb255(color), width, tuple(dash) if dash else None))

    def polygon(self, xs: Any, ys: Any, *, fill: Any = "#000000") -> None:
        if len(xs) < 3:
            return
        pts = np.column_stack([np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32)])
        self.ops.append(("polygon", pts, _rgb255(fill)))

    def rect(self, x: float, y: float, w: float, h: float, *, fill: Any = None, stroke: Any = None,
             width: float = 0.5) -> None:
        self.ops.append(("rect", x, y, w, h, None if fill is None else _rgb255(fill),
                         None if stroke is None else _rgb255(stroke), width))

    def image(self, x: float, y: float, w: float, h: float, rgb: np.ndarray) -> None:
        """Draw an ``(rows, cols, 3|4)`` uint8 or float image scaled into the box."""
        arr = np.asarray(rgb)
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
        self.ops.append(("image", x, y, w, h, np.ascontiguousarray(arr[:, :, :3])))


class _Pen:
    """The drawing state of the fpdf2 document, set only when it changes."""

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf
        self.font: tuple[str, float] | None = None
        self.text_rgb: tuple[int, int, int] | None = None
        self.draw: tuple[Any, ...] | None = None
        self.fill_rgb: tuple[int, int, int] | None = None

    def set_font(self, font: str, size: float) -> None:
        if self.font != (font, size):
            family, style = FONTS.get(font, FONTS["F1"])
            self.pdf.set_font(family, style, size)
            self.font = (font, size)

    def set_text(self, rgb: tuple[int, int, int]) -> None:
        if self.text_rgb != rgb:
            self.pdf.set_text_color(*rgb)
            self.text_rgb = rgb

    def set_draw(self, rgb: tuple[int, int, int], width: float, dash: tuple[float, ...] | None) -> None:
        if self.draw != (rgb, width, dash):
            self.pdf.set_draw_color(*rgb)
            self.pdf.set_line_width(width)
            if dash:
                self.pdf.set_dash_pattern(dash=dash[0], gap=dash[1] if len(dash) > 1 else dash[0])
            else:
                self.pdf.set_dash_pattern()
            self.draw = (rgb, width, dash)

    def set_fill(self, rgb: tuple[int, int, int]) -> None:
        if self.fill_rgb != rgb:
            self.pdf.set_fill_color(*rgb)
            self.fill_rgb = rgb


class Document:
    """A list of pages written as one PDF file (by fpdf2)."""

    def __init__(self, title: str = "", size: tuple[float, float] = A4) -> None:
        self.title = title
        self.size = size
        self.pages: list[Page] = []

    def new_page(self) -> Page:
        p = Page(self.size)
        self.pages.append(p)
        return p

    def to_bytes(self) -> bytes:
        from fpdf import FPDF

        pdf = FPDF(unit="pt", format=self.size)
        pdf.core_fonts_encoding = ENCODING
        pdf.set_creation_date(FIXED_TIME)
        pdf.set_title(_cp1252(self.title))
        pdf.set_producer("thioquant")
        pdf.set_auto_page_break(False)
        pdf.set_margins(0, 0, 0)
        pdf.set_compression(True)
        for page in self.pages:
            pdf.add_page()
            pen = _Pen(pdf)  # fpdf2 resets colours and line width on a new page
            for op in page.ops:
                _replay(pdf, pen, op)
            page.ops = []  # drawn: release the arrays
        return bytes(pdf.output())

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_bytes(self.to_bytes())
        return p


def _replay(pdf: Any, pen: _Pen, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "text":
        _, x, y, text, size, font, rgb = op
        pen.set_font(font, size)
        pen.set_text(rgb)
        pdf.text(x, y, text)
    elif kind == "line":
        _, x1, y1, x2, y2, rgb, width, dash = op
        pen.set_draw(rgb, width, dash)
        pdf.line(x1, y1, x2, y2)
    elif kind == "polyline":
        _, pts, rgb, width, dash = op
        pen.set_draw(rgb, width, dash)
        pdf.polyline(pts.tolist(), style="D")
    elif kind == "polygon":
        _, pts, rgb = op
        pen.set_fill(rgb)
        pdf.polygon(pts.tolist(), style="F")
    elif kind == "rect":
        _, x, y, w, h, fill, stroke, width = op
        if fill is not None:
            pen.set_fill(fill)
        if stroke is not None:
            pen.set_draw(stroke, width, None)
        pdf.rect(x, y, w, h, style="DF" if fill is not None and stroke is not None else ("F" if fill is not None else "D"))
    elif kind == "image":
        from PIL import Image

        _, x, y, w, h, arr = op
        pdf.image(Image.fromarray(arr, "RGB"), x=x, y=y, w=w, h=h)


__all__ = ["A4", "Document", "Page", "text_width", "wrap"]
