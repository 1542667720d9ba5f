"""A small PDF writer: pages of text, lines, polygons and RGB images (no dependencies).

Enough for the sign-off report and the per-patient pages, and much faster than drawing every
chromatogram with matplotlib. Coordinates are in points with the origin at the TOP-left of the
page (y grows downwards), converted on output. Text uses the standard PDF fonts (Helvetica,
Helvetica-Bold, Courier) in WinAnsi encoding; text width is computed from the Helvetica metrics
so tables can be laid out and wrapped. Output is deterministic (no dates in the file).

Why not a kept library (measured 2026-12-04 with benchmarks/bench_deps.py, docs/dependencies.md):
on 960 injections fpdf2 took 3.11 s for report.pdf against 1.11 s here and 3.33 s against 1.03 s
for the 547 patient pages, plus 0.97 s to import; reportlab imports in 0.20 s but took 6.45 s and
7.77 s (both format every chromatogram point in Python). That is 55-65 % of the batch's run time
for fpdf2, against the 30 % that issue 23 allows for a library.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

A4 = (595.28, 841.89)

FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Courier"}

# Helvetica advance widths (1/1000 em) for WinAnsi 32..126; other characters use 556.
_HELV = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667,
    556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556,
    556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722,
    500, 500, 500, 334, 260, 334, 584,
]
_HELV_BOLD = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556, 556, 556,
    556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722,
    611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556,
    611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778,
    556, 556, 500, 389, 280, 389, 584,
]


class _Widths(dict):  # type: ignore[type-arg]
    def __missing__(self, ch: str) -> int:
        return 556


_WIDTHS = {
    "F1": _Widths({chr(32 + i): w for i, w in enumerate(_HELV)}),
    "F2": _Widths({chr(32 + i): w for i, w in enumerate(_HELV_BOLD)}),
}


def text_width(text: str, size: float, font: str = "F1") -> float:
    """Width of ``text`` in points."""
    if font == "F3":
        return 0.6 * size * len(text)
    return sum(map(_WIDTHS.get(font, _WIDTHS["F1"]).__getitem__, text)) * size / 1000.0


def wrap(text: str, width: float, size: float, font: str = "F1", measure: Any = None) -> list[str]:
    """Greedy word wrap of ``text`` to ``width`` points (long words are split); ``measure`` is
    the ``text_width(text, size, font)`` to use (this module's by default; the benchmarks pass a
    PDF library's own metrics)."""
    text_width_ = measure or text_width
    lines: list[str] = []
    space = text_width_(" ", size, font)
    for para in str(text).split("\n"):
        cur, cur_w = "", 0.0
        for word in para.split(" "):
            ww = text_width_(word, size, font)
            if not cur:
                if ww <= width:
                    cur, cur_w = word, ww
                    continue
            elif cur_w + space + ww <= width:
                cur, cur_w = f"{cur} {word}", cur_w + space + ww
                continue
            else:
                lines.append(cur)
            while ww > width and len(word) > 1:
                k = max(1, int(len(word) * width / max(ww, 1e-9)))
                lines.append(word[:k])
                word = word[k:]
                ww = text_width_(word, size, font)
            cur, cur_w = word, ww
        lines.append(cur)
    return lines


def _esc(text: str) -> bytes:
    b = str(text).encode("cp1252", errors="replace")
    return b.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)").replace(b"\r", b"").replace(
        b"\n", b" ")


def _rgb(color: Any) -> tuple[float, float, float]:
    if isinstance(color, str):
        return _rgb_hex(color)
    return tuple(float(v) for v in color)  # type: ignore[return-value]


@lru_cache(maxsize=256)
def _rgb_hex(color: str) -> tuple[float, float, float]:
    c = color.lstrip("#")
    return int(c[0:2], 16) / 255, int(c[2:4], 16) / 255, int(c[4:6], 16) / 255


def _f(v: float) -> str:
    return f"{v:.2f}" if v == v else "0"


class Page:
    """One page's drawing operations (top-left origin, points)."""

    def __init__(self, size: tuple[float, float] = A4) -> None:
        self.width, self.height = size
        self.ops: list[bytes] = []
        self.images: list[tuple[str, int, int, bytes]] = []
        self.sealed: list[bytes] = []  # finished content streams (compressed)

    def seal(self) -> None:
        """Compress the operations drawn so far into a content stream of their own; later
        drawing (a footer added at the end) goes into another. Keeps a long document's memory
        at its compressed size."""
        if self.ops:
            self.sealed.append(zlib.compress(b"\n".join(self.ops), 1))
            self.ops = []

    def streams(self) -> list[bytes]:
        """The page's compressed content streams, in drawing order."""
        if self.ops or not self.sealed:
            return [*self.sealed, zlib.compress(b"\n".join(self.ops), 1)]
        return list(self.sealed)

    # -- primitives ------------------------------------------------------------------------
    def text(self, x: float, y: float, text: str, size: float = 9, *, font: str = "F1", color: Any = "#000000",
             align: str = "left") -> float:
        """Draw one line of text with its baseline at ``y``; returns its width."""
        w = text_width(text, size, font)
        if align == "right":
            x -= w
        elif align == "center":
            x -= w / 2
        r, g, b = _rgb(color)
        self.ops.append(b"BT /" + font.encode() + f" {_f(size)} Tf {r:.3f} {g:.3f} {b:.3f} rg {_f(x)} "
                        f"{_f(self.height - y)} Td (".encode() + _esc(text) + b") Tj ET")
        return w

    def _stroke(self, color: Any, width: float, dash: Sequence[float] | None) -> str:
        r, g, b = _rgb(color)
        d = f"[{' '.join(_f(v) for v in dash)}] 0 d" if dash else "[] 0 d"
        return f"{r:.3f} {g:.3f} {b:.3f} RG {_f(width)} w {d} 1 j"

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: Any = "#000000", width: float = 0.5,
             dash: Sequence[float] | None = None) -> None:
        h = self.height
        self.ops.append(f"{self._stroke(color, width, dash)} {_f(x1)} {_f(h - y1)} m {_f(x2)} {_f(h - y2)} l S"
                        .encode())

    def _path(self, xs: Any, ys: Any) -> str:
        """Path operators in units of 0.1 pt (integers format fast); callers scale with ``cm``."""
        xs = np.asarray(xs, dtype=float)
        ys = self.height - np.asarray(ys, dtype=float)
        n = xs.size
        if n == 0:
            return ""
        flat = np.rint(np.column_stack([xs, ys]) * 10).astype(np.int64).ravel().tolist()
        return ("{} {} m " + "{} {} l " * (n - 1)).format(*flat)

    def polyline(self, xs: Any, ys: Any, *, color: Any = "#000000", width: float = 0.5,
                 dash: Sequence[float] | None = None) -> None:
        if len(xs) < 2:
            return
        d = [10 * v for v in dash] if dash else None
        self.ops.append(f"q 0.1 0 0 0.1 0 0 cm {self._stroke(color, 10 * width, d)} {self._path(xs, ys)}S Q"
                        .encode())

    def polygon(self, xs: Any, ys: Any, *, fill: Any = "#000000") -> None:
        if len(xs) < 3:
            return
        r, g, b = _rgb(fill)
        self.ops.append(f"q 0.1 0 0 0.1 0 0 cm {r:.3f} {g:.3f} {b:.3f} rg {self._path(xs, ys)}h f Q".encode())

    def rect(self, x: float, y: float, w: float, h: float, *, fill: Any = None, stroke: Any = None,
             width: float = 0.5) -> None:
        y_pdf = self.height - y - h
        ops = []
        if fill is not None:
            r, g, b = _rgb(fill)
            ops.append(f"{r:.3f} {g:.3f} {b:.3f} rg")
        if stroke is not None:
            ops.append(self._stroke(stroke, width, None))
        paint = "B" if fill is not None and stroke is not None else ("f" if fill is not None else "S")
        ops.append(f"{_f(x)} {_f(y_pdf)} {_f(w)} {_f(h)} re {paint}")
        self.ops.append(" ".join(ops).encode())

    def image(self, x: float, y: float, w: float, h: float, rgb: np.ndarray) -> None:
        """Draw an ``(rows, cols, 3|4)`` uint8 or float image scaled into the box."""
        arr = np.asarray(rgb)
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)
        arr = np.ascontiguousarray(arr[:, :, :3])
        name = f"Im{len(self.images) + 1}"
        self.images.append((name, arr.shape[1], arr.shape[0], zlib.compress(arr.tobytes(), 6)))
        self.ops.append(f"q {_f(w)} 0 0 {_f(h)} {_f(x)} {_f(self.height - y - h)} cm /{name} Do Q".encode())


class Document:
    """A list of pages written as one PDF file."""

    def __init__(self, title: str = "", size: tuple[float, float] = A4) -> None:
        self.title = title
        self.size = size
        self.pages: list[Page] = []

    def new_page(self) -> Page:
        if self.pages:
            self.pages[-1].seal()
        p = Page(self.size)
        self.pages.append(p)
        return p

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        self.write_to(out)
        return out.getvalue()

    def write_to(self, fh: BinaryIO) -> None:
        """Write the PDF to a binary file object, object by object.

        Nothing is joined first: a long report's compressed page streams are already in memory,
        and building the file as one buffer held them two more times and a copy of that buffer
        (8.5 MB of report.pdf at 2,880 injections raised the peak by 27 MB).
        """
        # object numbers first: catalog, page tree, fonts, then per page its images, content
        # streams and the page itself (the page tree lists the pages, so it needs their numbers)
        font_ids = {k: 3 + i for i, k in enumerate(FONTS)}
        fonts = " ".join(f"/{k} {i} 0 R" for k, i in font_ids.items())
        next_id = 3 + len(FONTS)
        layout = []  # (page, image ids, content stream ids, page id)
        for p in self.pages:
            iids = list(range(next_id, next_id + len(p.images)))
            next_id += len(p.images)
            n_streams = len(p.sealed) + (1 if p.ops or not p.sealed else 0)
            cids = list(range(next_id, next_id + n_streams))
            next_id += n_streams
            layout.append((p, iids, cids, next_id))
            next_id += 1
        pages_id = 2
        offsets: list[int] = []
        pos = 0

        def put(*chunks: bytes) -> None:
            nonlocal pos
            for c in chunks:
                fh.write(c)
                pos += len(c)

        def obj(*body: bytes) -> None:
            offsets.append(pos)
            put(f"{len(offsets)} 0 obj\n".encode(), *body, b"\nendobj\n")

        put(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        obj(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
        obj(f"<< /Type /Pages /Kids [{' '.join(f'{k[3]} 0 R' for k in layout)}] /Count {len(layout)} >>".encode())
        for v in FONTS.values():
            obj(f"<< /Type /Font /Subtype /Type1 /BaseFont /{v} /Encoding /WinAnsiEncoding >>".encode())
        for p, iids, cids, _page_id in layout:
            xobj = []
            for (name, w, h, data), iid in zip(p.images, iids, strict=True):
                obj(f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} /ColorSpace /DeviceRGB "
                    f"/BitsPerComponent 8 /Filter /FlateDecode /Length {len(data)} >>\nstream\n".encode(),
                    data, b"\nendstream")
                xobj.append(f"/{name} {iid} 0 R")
            for c in p.streams():
                obj(f"<< /Length {len(c)} /Filter /FlateDecode >>\nstream\n".encode(), c, b"\nendstream")
            contents = f"{cids[0]} 0 R" if len(cids) == 1 else "[" + " ".join(f"{c} 0 R" for c in cids) + "]"
            res = f"<< /Font << {fonts} >>" + (f" /XObject << {' '.join(xobj)} >>" if xobj else "") + " >>"
            obj(f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {_f(p.width)} {_f(p.height)}] "
                f"/Resources {res} /Contents {contents} >>".encode())
        obj(b"<< /Title (" + _esc(self.title) + b") /Producer (thioquant) >>")
        info = len(offsets)
        xref = pos
        put(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
        put("".join(f"{off:010d} 00000 n \n" for off in offsets).encode())
        put((f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R /Info {info} 0 R >>\nstartxref\n{xref}\n"
             "%%EOF\n").encode())

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        with open(p, "wb") as fh:
            self.write_to(fh)
        return p


__all__ = ["A4", "Document", "Page", "text_width", "wrap"]
