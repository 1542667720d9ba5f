"""Benchmark only: PDF pages of text, lines, polygons and RGB images, written with reportlab (a kept library).

The report code (:mod:`thioquant.report.pdf`, :mod:`thioquant.report.chart`) draws on
:class:`Page` objects with a top-left origin in points; each page records its drawing operations,
and :meth:`Document.to_bytes` replays them on a reportlab canvas (bottom-left origin), so that a
footer ("page 3 of 7") can still be added to every page once the number of pages is known. Text
uses the standard PDF fonts (Helvetica, Helvetica-Bold, Courier) and :func:`text_width` their
metrics as reportlab ships them. The canvas is ``invariant``: no dates or random identifiers, the
same report gives the same bytes.

A drop-in replacement of ``thioquant.report.pdfdoc`` for benchmarks/bench_deps.py, which measured
it against the own writer (docs/dependencies.md: it costs more than the 30 % of a batch's run time
that issue 23 allows, so the own writer stays). Kept here so the measurement can be repeated.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

A4 = (595.28, 841.89)

FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Courier"}


def _clean(text: str) -> str:
    """One line of text as the standard fonts can show it (Windows-1252; others become '?')."""
    return str(text).encode("cp1252", errors="replace").decode("cp1252").replace("\r", "").replace("\n", " ")


@lru_cache(maxsize=1)
def _metrics() -> Any:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth


def text_width(text: str, size: float, font: str = "F1") -> float:
    """Width of ``text`` in points (the standard font metrics as reportlab ships them)."""
    return _metrics()(_clean(text), FONTS.get(font, FONTS["F1"]), size)


def wrap(text: str, width: float, size: float, font: str = "F1") -> list[str]:
    """thioquant's word wrap, measured with this library's metrics."""
    from thioquant.report.pdfdoc import wrap as _wrap

    return _wrap(text, width, size, font, measure=text_width)


def _rgb(color: Any) -> tuple[float, float, float]:
    if isinstance(color, str):
        return _rgb_hex(color)
    return tuple(float(v) for v in color)  # type: ignore[return-value]


@lru_cache(maxsize=256)
def _rgb_hex(color: str) -> tuple[float, float, float]:
    c = color.lstrip("#")
    return int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255


class Page:
    """One page's drawing operations (top-left origin, points), replayed by :class:`Document`."""

    def __init__(self, size: tuple[float, float] = A4) -> None:
        self.width, self.height = size
        self.ops: list[tuple[Any, ...]] = []

    def text(self, x: float, y: float, text: str, size: float = 9, *, font: str = "F1", color: Any = "#000000",
             align: str = "left") -> float:
        """Draw one line of text with its baseline at ``y``; returns its width."""
        t = _clean(text)
        w = _metrics()(t, FONTS.get(font, FONTS["F1"]), size)
        if align == "right":
            x -= w
        elif align == "center":
            x -= w / 2
        self.ops.append(("text", x, self.height - y, t, size, FONTS.get(font, FONTS["F1"]), _rgb(color)))
        return w

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: Any = "#000000", width: float = 0.5,
             dash: Sequence[float] | None = None) -> None:
        h = self.height
        self.ops.append(("line", x1, h - y1, x2, h - y2, _rgb(color), width, tuple(dash) if dash else None))

    def polyline(self, xs: Any, ys: Any, *, color: Any = "#000000", width: float = 0.5,
                 dash: Sequence[float] | None = None) -> None:
        if len(xs) < 2:
            return
        pts = np.column_stack([np.asarray(xs, dtype=np.float32), self.height - np.asarray(ys, dtype=np.float32)])
        self.ops.append(("polyline", pts, _rgb(color), width, tuple(dash) if dash else None))

    def polygon(self, xs: Any, ys: Any, *, fill: Any = "#000000") -> None:
        if len(xs) < 3:
            return
        pts = np.column_stack([np.asarray(xs, dtype=np.float32), self.height - np.asarray(ys, dtype=np.float32)])
        self.ops.append(("polygon", pts, _rgb(fill)))

    def rect(self, x: float, y: float, w: float, h: float, *, fill: Any = None, stroke: Any = None,
             width: float = 0.5) -> None:
        self.ops.append(("rect", x, self.height - y - h, w, h, None if fill is None else _rgb(fill),
                         None if stroke is None else _rgb(stroke), width))

    def image(self, x: float, y: float, w: float, h: float, rgb: np.ndarray) -> None:
        """Draw an ``(rows, cols, 3|4)`` uint8 or float image scaled into the box."""
        arr = np.asarray(rgb)
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
        self.ops.append(("image", x, self.height - y - h, w, h, np.ascontiguousarray(arr[:, :, :3])))


class Document:
    """A list of pages written as one PDF file (by reportlab)."""

    def __init__(self, title: str = "", size: tuple[float, float] = A4) -> None:
        self.title = title
        self.size = size
        self.pages: list[Page] = []

    def new_page(self) -> Page:
        p = Page(self.size)
        self.pages.append(p)
        return p

    def to_bytes(self) -> bytes:
        from reportlab.pdfgen.canvas import Canvas

        buf = io.BytesIO()
        c = Canvas(buf, pagesize=self.size, invariant=1, pageCompression=1)
        c.setTitle(_clean(self.title))
        c.setProducer("thioquant")
        c.setCreator("thioquant")
        for page in self.pages:
            c.setLineJoin(1)
            for op in page.ops:
                _replay(c, op)
            page.ops = []  # drawn: release the arrays
            c.showPage()
        c.save()
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_bytes(self.to_bytes())
        return p


def _stroke(c: Any, rgb: tuple[float, float, float], width: float, dash: tuple[float, ...] | None) -> None:
    c.setStrokeColorRGB(*rgb)
    c.setLineWidth(width)
    c.setDash(list(dash) if dash else [])


def _replay(c: Any, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "text":
        _, x, y, text, size, font, rgb = op
        c.setFont(font, size)
        c.setFillColorRGB(*rgb)
        c.drawString(x, y, text)
    elif kind == "line":
        _, x1, y1, x2, y2, rgb, width, dash = op
        _stroke(c, rgb, width, dash)
        c.line(x1, y1, x2, y2)
    elif kind in ("polyline", "polygon"):
        pts = op[1].tolist()
        path = c.beginPath()
        path.moveTo(*pts[0])
        for x, y in pts[1:]:
            path.lineTo(x, y)
        if kind == "polyline":
            _stroke(c, op[2], op[3], op[4])
            c.drawPath(path, stroke=1, fill=0)
        else:
            path.close()
            c.setFillColorRGB(*op[2])
            c.drawPath(path, stroke=0, fill=1)
    elif kind == "rect":
        _, x, y, w, h, fill, stroke, width = op
        if fill is not None:
            c.setFillColorRGB(*fill)
        if stroke is not None:
            _stroke(c, stroke, width, None)
        c.rect(x, y, w, h, stroke=int(stroke is not None), fill=int(fill is not None))
    elif kind == "image":
        from PIL import Image
        from reportlab.lib.utils import ImageReader

        _, x, y, w, h, arr = op
        c.drawImage(ImageReader(Image.fromarray(arr, "RGB")), x, y, w, h)


__all__ = ["A4", "Document", "Page", "text_width", "wrap"]
