"""``report.pdf`` (the sign-off report, paginated A4) and one-page PDFs per patient sample.

Drawn with the small writer in :mod:`thioquant.report.pdfdoc`: text, tables and chromatograms
and the calibration and Levey-Jennings charts (:mod:`thioquant.report.chart`) are all vector
graphics; matplotlib is not needed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.report import content as C
from thioquant.report.pdfdoc import A4, Document, Page, wrap

MARGIN = 40.0
GREEN, GREEN_BG = "#2e7d32", "#e8f5e9"
RED, RED_BG = "#c62828", "#ffebee"
AMBER, AMBER_BG = "#b26a00", "#fff8e1"
BLUE = "#1f4e8c"
GREY = "#5b6b7c"
GREY_BG = "#eef0f3"
STATE_BG = {"pass": GREEN_BG, "fail": RED_BG, "warn": AMBER_BG, "na": GREY_BG}
STATE_FG = {"pass": GREEN, "fail": RED, "warn": AMBER, "low": RED, "high": RED, "ok": GREEN}


class Flow:
    """Top-to-bottom layout over pages with a running footer."""

    def __init__(self, doc: Document, footer: str) -> None:
        self.doc = doc
        self.footer = footer
        self.page: Page = doc.new_page()
        self.y = MARGIN
        self.width = A4[0] - 2 * MARGIN
        self.bottom = A4[1] - MARGIN - 14

    def new_page(self) -> None:
        self.page = self.doc.new_page()
        self.y = MARGIN

    def need(self, h: float) -> None:
        if self.y + h > self.bottom and self.y > MARGIN + 1:
            self.new_page()

    def heading(self, text: str, size: float = 14, color: str = BLUE) -> None:
        self.need(size + 30)
        self.y += size
        self.page.text(MARGIN, self.y, text, size, font="F2", color=color)
        self.y += 8

    def para(self, text: str, size: float = 9, *, font: str = "F1", color: str = "#222222", indent: float = 0) -> None:
        for line in wrap(text, self.width - indent, size, font):
            self.need(size * 1.3)
            self.y += size * 1.3
            self.page.text(MARGIN + indent, self.y, line, size, font=font, color=color)
        self.y += 2

    def table(self, columns: Sequence[str], rows: Sequence[dict[str, Any]], widths: Sequence[float], *,
              headers: dict[str, str] | None = None, numeric: set[str] = frozenset(), size: float = 7.5,
              row_state: Callable[[dict[str, Any]], str] | None = None,
              cell_state: dict[str, str] | None = None, font: str = "F1") -> None:
        """A table with wrapped cells, repeated header on every page; ``widths`` are fractions."""
        total = sum(widths)
        ws = [self.width * w / total for w in widths]
        lh = size * 1.25

        def header() -> None:
            hl = [wrap((headers or {}).get(c, c), w - 4, size, "F2") for c, w in zip(columns, ws, strict=True)]
            h = max(len(x) for x in hl) * lh + 3
            self.need(h + lh + 3)
            self.page.rect(MARGIN, self.y, self.width, h, fill="#eef2f7")
            x = MARGIN
            for lines, w in zip(hl, ws, strict=True):
                for k, line in enumerate(lines):
                    self.page.text(x + 2, self.y + (k + 1) * lh, line, size, font="F2")
                x += w
            self.y += h

        header()
        for r in rows:
            cells = []
            for c, w in zip(columns, ws, strict=True):
                v = r.get(c, "")
                text = C.num(v) if c in numeric or isinstance(v, bool | float) else str(v)
                cells.append(wrap(text, w - 4, size, font) if text else [""])
            h = max(len(x) for x in cells) * lh + 3
            if self.y + h > self.bottom:
                self.new_page()
                header()
            state = row_state(r) if row_state else ""
            if state in STATE_BG:
                self.page.rect(MARGIN, self.y, self.width, h, fill=STATE_BG[state])
            x = MARGIN
            for c, lines, w in zip(columns, cells, ws, strict=True):
                color = "#222222"
                if cell_state and c in cell_state:
                    color = STATE_FG.get(str(r.get(cell_state[c], "")), color)
                for k, line in enumerate(lines):
                    if c in numeric:
                        self.page.text(x + w - 2, self.y + (k + 1) * lh, line, size, font=font, color=color,
                                       align="right")
                    else:
                        self.page.text(x + 2, self.y + (k + 1) * lh, line, size, font=font, color=color)
                x += w
            self.y += h
            self.page.line(MARGIN, self.y, MARGIN + self.width, self.y, color="#d5dbe3", width=0.4)
        self.y += 8

    def image(self, rgb: np.ndarray, width: float) -> None:
        h = width * rgb.shape[0] / rgb.shape[1]
        self.need(h + 4)
        self.page.image(MARGIN, self.y, width, h, rgb)
        self.y += h + 4

    def finish(self) -> None:
        n = len(self.doc.pages)
        for i, p in enumerate(self.doc.pages, 1):
            p.line(MARGIN, A4[1] - MARGIN + 2, A4[0] - MARGIN, A4[1] - MARGIN + 2, color="#d5dbe3", width=0.5)
            p.text(MARGIN, A4[1] - MARGIN + 13, self.footer, 7, color=GREY)
            p.text(A4[0] - MARGIN, A4[1] - MARGIN + 13, f"page {i} of {n}", 7, color=GREY, align="right")


# --- pieces -------------------------------------------------------------------------------------


def draw_panel(page: Page, panel: Any, x: float, y: float, w: float, h: float) -> None:
    """Draw one chromatogram panel in the box (x, y, w, h) (top-left origin)."""
    from thioquant.report.svg import COLORS, panel_geometry
    from thioquant.views import decimate

    g = panel_geometry(panel)
    page.rect(x, y, w, h, stroke="#e0e5ec", width=0.4)
    px0, py0, px1, py1 = x + 24, y + 12, x + w - 4, y + h - 10

    def X(u: Any) -> Any:
        return px0 + np.asarray(u) * (px1 - px0)

    def Y(v: Any) -> Any:
        return py1 - np.asarray(v) * (py1 - py0)

    page.text(x + 3, y + 8, g.labels["title"], 6, font="F2")
    if g.trace is None:
        page.text(x + w / 2, y + h / 2, g.labels.get("error", "no trace")[:60], 6, color=RED, align="center")
        return
    if g.window is not None:
        a, b = float(X(g.window[0])), float(X(g.window[1]))
        page.rect(a, py0, b - a, py1 - py0, fill=COLORS["window"])
    if g.area is not None:
        page.polygon(X(g.area[0]), Y(g.area[1]), fill=COLORS["area"])
    if g.baseline is not None:
        ua, va, ub, vb = g.baseline
        page.line(float(X(ua)), float(Y(va)), float(X(ub)), float(Y(vb)), color=COLORS["baseline"], width=0.8)
    n = max(60, int(w))  # one point per pt of panel width is plenty on paper
    if g.internal_standard is not None:
        iu, iv = decimate(*g.internal_standard, n)
        page.polyline(X(iu), Y(iv), color=COLORS["is"], width=0.5, dash=(2, 1.5))
    tu, tv = decimate(*g.trace, n)
    page.polyline(X(tu), Y(tv), color=COLORS["trace"], width=0.6)
    if g.apex is not None:
        a = float(X(g.apex))
        page.line(a, py0, a, py0 + 4, color=COLORS["apex"], width=1)
    page.polyline([px0, px0, px1], [py0, py1, py1], color="#555555", width=0.4)
    lb = g.labels
    page.text(x + w - 3, y + 8, lb["info"][:48], 5.5, color="#444444", align="right")
    page.text(px0, py1 + 7, lb["tmin"], 5, color="#444444")
    page.text(px1, py1 + 7, lb["tmax"], 5, color="#444444", align="right")
    page.text(px0 - 2, py0 + 5, lb["yhi"], 5, color="#444444", align="right")
    page.text(px0 - 2, py1, lb["ylo"], 5, color="#444444", align="right")


def _verdict_box(flow: Flow, batch: Any) -> None:
    v = C.verdict_info(batch)
    fg, bg = (GREEN, GREEN_BG) if v["accepted"] else (RED, RED_BG)
    lines = [f"- {C.held_text(v['held'])} (listed below)"] if v.get("held") else []
    lines += [ln for r in v["reasons"] for ln in wrap("- " + r, flow.width - 20, 8)]
    lines += [ln for w in v["warnings"] for ln in wrap("- warning: " + w, flow.width - 20, 8)]
    lines += [ln for w in v["not_evaluated"] for ln in wrap("- not evaluated: " + w, flow.width - 20, 8)]
    h = 34 + 10 * len(lines)
    flow.need(h)
    flow.page.rect(MARGIN, flow.y, flow.width, h, fill=bg, stroke=fg, width=1.5)
    w = flow.page.text(MARGIN + 10, flow.y + 22, f"Run {v['state']}", 18, font="F2", color=fg)
    if v["rule"]:
        flow.page.text(MARGIN + 20 + w, flow.y + 21, f"decided by rule: {v['rule']}", 10, color="#222222")
    for k, line in enumerate(lines):
        flow.page.text(MARGIN + 10, flow.y + 36 + 10 * k, line, 8)
    flow.y += h + 10


def draw_pathway(page: Page, x: float, y: float, scale: float = 0.7) -> float:
    """The thiopurine pathway (boxes and arrows) at (x, y); returns its height."""

    def box(bx: float, by: float, bw: float, bh: float, title: str, sub: str, fill: str, stroke: str,
            bold: bool = False) -> None:
        page.rect(x + bx * scale, y + by * scale, bw * scale, bh * scale, fill=fill, stroke=stroke, width=1)
        cx = x + (bx + bw / 2) * scale
        page.text(cx, y + (by + 24) * scale, title, 12 * scale, font="F2" if bold else "F1", align="center")
        page.text(cx, y + (by + 42) * scale, sub, 9 * scale, color=GREY, align="center")

    def arrow(x1: float, y1: float, x2: float, y2: float, color: str, label: str, lx: float, ly: float) -> None:
        X1, Y1, X2, Y2 = x + x1 * scale, y + y1 * scale, x + x2 * scale, y + y2 * scale
        page.line(X1, Y1, X2, Y2, color=color, width=1.5)
        ang = math.atan2(Y2 - Y1, X2 - X1)
        s = 7
        page.polygon([X2, X2 - s * math.cos(ang - 0.4), X2 - s * math.cos(ang + 0.4)],
                     [Y2, Y2 - s * math.sin(ang - 0.4), Y2 - s * math.sin(ang + 0.4)], fill=color)
        page.text(x + lx * scale, y + ly * scale, label, 10 * scale, font="F2", color=color)

    box(20, 20, 190, 56, "azathioprine", "(AZA, prodrug)", "#eceff1", "#455a64")
    box(20, 140, 190, 56, "6-mercaptopurine", "(6-MP)", "#eceff1", "#455a64")
    box(420, 20, 280, 62, "6-thioguanine nucleotides", "6-TGN: active, measured", "#e3f2fd", BLUE, True)
    box(420, 137, 280, 62, "6-methylmercaptopurine", "6-MMP(N): measured", "#fff3e0", "#d0731d", True)
    box(420, 254, 280, 56, "6-thiouric acid", "(inactive)", "#eceff1", "#455a64")
    arrow(115, 78, 115, 137, "#37474f", "non-enzymatic (glutathione)", 124, 112)
    arrow(212, 150, 416, 55, BLUE, "HPRT (then IMPDH, GMPS)", 250, 88)
    arrow(212, 168, 416, 168, "#a4520f", "TPMT", 290, 160)
    arrow(212, 186, 416, 280, "#37474f", "xanthine oxidase", 245, 262)
    return 320 * scale


# --- the report ---------------------------------------------------------------------------------


def build_report(batch: Any, panels: Sequence[Any] = (), *, lj: Sequence[dict[str, Any]] = (),
                 generated: str | None = None) -> Document:
    """The sign-off report as a :class:`~thioquant.report.pdfdoc.Document`.

    Parameters
    ----------
    batch : BatchResult
    panels : chromatogram panels (:func:`thioquant.report.chrom.collect_panels`).
    lj : Levey-Jennings data dicts; the section is left out when empty.
    generated : timestamp text for the page footers (None: left out).
    """
    steps = iter_report(batch, panels, lj=lj, generated=generated)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


#: one row of the chromatogram grid as drawn: ((injection, sample_id), that injection's panels) each
GridRow = list[tuple[tuple[int, str], list[Any]]]


def iter_report(batch: Any, panels: Sequence[Any] = (), *, lj: Sequence[dict[str, Any]] = (),
                generated: str | None = None) -> Generator[GridRow, None, Document]:
    """:func:`build_report` step by step: yields each row of the chromatogram grid once drawn, and
    returns the :class:`~thioquant.report.pdfdoc.Document` when complete (arguments as there).

    The report writer draws report.html's chromatograms from the same rows as they come, so each
    panel's geometry is computed once for both reports and none is held for the whole batch
    (:func:`thioquant.report.svg.panel_geometry` caches only a few).
    """
    from thioquant import __version__

    m = batch.method
    name = Path(batch.batch_dir).name
    doc = Document(title=f"thioquant report {name}")
    gen = f" - generated {generated}" if generated else ""
    flow = Flow(doc, f"thioquant {__version__} - {name} - {m.name}{gen}")
    flow.page.text(MARGIN, flow.y + 16, f"Thiopurine metabolites - {name}", 16, font="F2", color=BLUE)
    flow.y += 24
    flow.para(f"{m.name} - {len(batch.worklist.entries)} injections - {len(batch.interpretations)} patient samples",
              9, color=GREY)
    _verdict_box(flow, batch)
    held = C.held_rows(batch)
    if held:  # first after the verdict: these must not be released as they stand
        flow.heading(f"Held for review ({C.held_text(len(held))})", color=RED)
        flow.table(C.HELD_COLUMNS, held, [0.9, 0.9, 0.7, 0.7, 0.9, 1.2, 5], size=6.5, numeric={"value"},
                   headers={"sample_id": "sample", "patient_id": "patient", "sample_type": "type"})

    # calibration
    flow.heading("Calibration")
    for aname, oc in batch.calibrations.items():
        s = C.calibration_summary(aname, oc)
        state = "pass" if s["passed"] else "FAIL"
        flow.need(330)
        flow.para(f"{aname}: {state}", 11, font="F2", color=GREEN if s["passed"] else RED)
        if oc is None:
            flow.para("no calibration could be fitted", 9, color=RED)
            continue
        from thioquant.report.chart import PdfCanvas, calibration_chart

        k = 330 / 520
        flow.need(470 * k + 6)
        calibration_chart(PdfCanvas(flow.page, MARGIN, flow.y, k), oc, name=aname, conc_unit=m.conc_unit)
        flow.y += 470 * k + 6
        flow.para(f"{s['equation']}   r^2 = {s['r2']:.5f}   model {s['model']}, weighting {s['weighting']}; "
                  f"{s['n_included']}/{s['n_calibrators']} calibrators included; reportable range "
                  f"{C.num(s['lloq'])} to {C.num(s['uloq'])} {m.conc_unit}", 8, font="F3")
        rows = C.calibrator_rows(oc)
        flow.table(C.CALIBRATOR_COLUMNS, rows, [1, 1.2, 1.2, 1.2, 0.9, 0.8, 0.8, 3],
                   headers={"re_pct": "%RE", "limit_pct": "limit %", "back_calc": "back-calc"},
                   numeric={"nominal", "response", "back_calc", "re_pct", "limit_pct"},
                   row_state=lambda r: "pass" if r["included"] else "fail")
        for reason in s["reasons"]:
            flow.para(reason, 8, color=GREY)

    # QC
    flow.heading("Quality control")
    flow.table(["rule", "analyte", "label", "severity", "message"], C.qc_rule_rows(batch), [1.1, 0.8, 0.7, 0.7, 6],
               headers={"label": "status"}, row_state=lambda r: r["state"])
    qs = C.qc_sample_rows(batch)
    if qs:
        flow.need(80)
        flow.para(f"QC samples (accuracy within 100 +/- {C.qc_tolerance_text(batch)} %)", 10, font="F2")
        flow.table(C.QC_SAMPLE_COLUMNS, qs, [1.2, 0.8, 0.8, 1, 1, 1, 2],
                   headers={"accuracy_pct": "accuracy %", "conc": f"measured ({m.conc_unit})"},
                   numeric={"nominal", "conc", "accuracy_pct"}, row_state=lambda r: r["state"])

    # patients
    flow.heading("Patient results")
    ranges = C.reference_ranges(batch)
    if ranges is not None:
        flow.para("Reference ranges: " + ranges.text(), 8, color=GREY)
    prow = C.patient_rows(batch, ranges)
    if prow:
        unit = ranges.unit if ranges else m.reported_unit
        flow.table(C.PATIENT_COLUMNS, prow, [0.9, 0.8, 0.9, 0.9, 0.7, 1.4, 4.2, 2.2, 1.4], size=6.5,
                   headers={"tgn_pmol_8e8": f"6-TGN ({unit})", "mmp_pmol_8e8": f"6-MMP ({unit})", "ratio": "MMP:TGN",
                            "patient_id": "patient", "sample_id": "sample"},
                   cell_state={"tgn_pmol_8e8": "tgn_state", "mmp_pmol_8e8": "mmp_state", "ratio": "ratio_state"})
    else:
        flow.para("No patient samples in this batch.", 9, color=GREY)

    # chromatograms
    if panels:
        flow.new_page()
        flow.heading("Chromatograms")
        flow.para("Blue: analyte trace; light blue: integrated area; red: baseline; yellow: expected retention "
                  "window; dashed orange: internal standard (scaled).", 7.5, color=GREY)
        yield from _chromatogram_grid(flow, panels)

    if lj:
        from thioquant.report.chart import PdfCanvas, levey_jennings_chart

        flow.new_page()
        flow.heading("Levey-Jennings charts")
        k = flow.width / 620
        for d in lj:
            flow.need(230 * k + 6)
            levey_jennings_chart(PdfCanvas(flow.page, MARGIN, flow.y, k), d)
            flow.y += 230 * k + 6

    flow.heading("Messages")
    if batch.messages:
        for msg in batch.messages:
            flow.para("- " + msg, 8)
    else:
        flow.para("No messages about the input.", 8, color=GREY)
    if batch.manual:
        flow.para("Manual integrations", 10, font="F2")
        flow.table(["sample_id", "analyte", "start_min", "end_min", "reason"], C.manual_rows(batch), [1, 1, 1, 1, 4],
                   numeric={"start_min", "end_min"})

    flow.heading("Help: thiopurine metabolism")
    flow.need(240)
    flow.y += draw_pathway(flow.page, MARGIN, flow.y, 0.7) + 6
    flow.para("6-MP is activated by HPRT to the 6-thioguanine nucleotides (6-TGN, active and myelotoxic), "
              "methylated by TPMT to 6-methylmercaptopurine (6-MMP, associated with hepatotoxicity) or oxidised by "
              "xanthine oxidase to inactive 6-thiouric acid. Results are reported per 8x10^8 erythrocytes.", 8)

    flow.heading("Input files")
    flow.para(f"thioquant {__version__}; method {m.name} ({Path(m.source).name if m.source else ''}), "
              f"sha256 {m.sha256}", 7.5)
    flow.table(["file", "sha256"], [{"file": f, "sha256": h} for f, h in C.input_files(batch)], [1.3, 3], size=6,
               font="F3")
    flow.need(60)
    flow.y += 24
    for line in signoff_lines(batch):
        flow.page.text(MARGIN, flow.y, line, 9)
        flow.y += 13
    flow.finish()
    return doc


def signoff_lines(batch: Any) -> list[str]:
    """The sign-off lines of a page: the electronic signatures of a signed version (who, in which
    role, what it means, when, in UTC), or blank lines for a handwritten signature."""
    sigs = list(getattr(batch, "signatures", ()) or ())
    if not sigs:
        return ["Reviewed by: ______________________   Date: ____________   Signature: __________________"]
    out = []
    for sg in sigs:
        who = sg.get("full_name") or sg.get("user")
        out.append(f"{str(sg.get('meaning', '')).capitalize()} by {who} ({sg.get('user')}, "
                   f"{sg.get('role')}) on {sg.get('time')} - electronic signature")
    return out


def _chromatogram_grid(flow: Flow, panels: Sequence[Any], cols: int = 4,
                       row_h: float = 86) -> Iterator[GridRow]:
    """Draw every injection's panels, ``cols`` panels a row; yields each row once drawn."""
    by_inj: dict[tuple[int, str], list[Any]] = {}
    for p in panels:
        by_inj.setdefault((p.injection, p.sample_id), []).append(p)
    per = max(len(v) for v in by_inj.values())
    inj_per_row = max(1, cols // per)
    cw = flow.width / (inj_per_row * per)
    items = list(by_inj.items())
    for k in range(0, len(items), inj_per_row):
        flow.need(row_h + 12)
        row = items[k:k + inj_per_row]
        for j, ((inj, sid), ps) in enumerate(row):
            x = MARGIN + j * per * cw
            flow.page.text(x + 2, flow.y + 8, f"#{inj} {sid} ({ps[0].sample_type}) {ps[0].file}"[:70], 6.5,
                           font="F2")
            for i, p in enumerate(ps):
                draw_panel(flow.page, p, x + i * cw + 1, flow.y + 11, cw - 2, row_h - 4)
        flow.y += row_h + 12
        yield row


def write_report_pdf(batch: Any, path: str | Path, panels: Sequence[Any] = (), *,
                     lj: Sequence[dict[str, Any]] = (), generated: str | None = None) -> Path:
    """Write ``report.pdf``; see :func:`build_report`."""
    return build_report(batch, panels, lj=lj, generated=generated).save(path)


# --- per patient --------------------------------------------------------------------------------


def _bar(page: Page, x: float, y: float, w: float, label: str, value: float, lo: float | None, hi: float,
         unit: str, text: str = "") -> None:
    """A horizontal scale with the reference range shaded and the value marked (``text``: the
    value as interpretation.csv shows it, which tells "undetectable" from "not reported")."""
    top = max(hi * 1.6, (value if math.isfinite(value) else 0) * 1.1, 1.0)

    def X(v: float) -> float:
        return x + 110 + (w - 120) * min(max(v, 0), top) / top

    page.text(x, y + 9, label, 9, font="F2")
    page.rect(x + 110, y + 2, w - 120, 9, fill="#f1f3f5", stroke="#c5ccd6", width=0.4)
    page.rect(X(lo or 0), y + 2, X(hi) - X(lo or 0), 9, fill=GREEN_BG, stroke=GREEN, width=0.4)
    page.text(X(lo or 0), y + 20, f"{lo:g}" if lo else "0", 6, color=GREY, align="center")
    page.text(X(hi), y + 20, f"{hi:g}", 6, color=GREY, align="center")
    if math.isfinite(value):
        out = value > hi or (lo is not None and value < lo)
        col = RED if out else GREEN
        page.polygon([X(value) - 4, X(value) + 4, X(value)], [y - 3, y - 3, y + 6], fill=col)
        page.line(X(value), y + 2, X(value), y + 11, color=col, width=1.5)
    else:  # "undetectable" is a finding (non-adherence); a value not measured or not reportable is not
        shown = "undetectable" if text == "undetectable" else "not reported (see notes)"
        page.text(x + 110 + (w - 120) / 2, y + 9, shown, 7, color=GREY, align="center")


def build_patient_page(batch: Any, row: dict[str, Any], panels: Sequence[Any] = (),
                       ranges: C.Ranges | None = None, generated: str | None = None,
                       held: Sequence[str] = (), verdict: dict[str, Any] | None = None) -> Document:
    """A one-page PDF for one patient sample (``row`` from :func:`content.patient_rows`);
    ``held``: the analytes of this sample held for review (:func:`content.held_rows`);
    ``verdict``: the run's :func:`content.verdict_info`, when already known (it reads every result)."""
    from thioquant import __version__

    m = batch.method
    doc = Document(title=f"thiopurine metabolites {row.get('patient_id', '')} {row.get('sample_id', '')}")
    page = doc.new_page()
    W = A4[0] - 2 * MARGIN
    page.rect(0, 0, A4[0], 64, fill=BLUE)
    page.text(MARGIN, 30, "Thiopurine metabolites in erythrocytes", 16, font="F2", color="#ffffff")
    page.text(MARGIN, 48, f"{m.name}", 9, color="#dde6f2")
    y = 92.0
    for label, value in (("Patient", row.get("patient_id", "")), ("Sample", row.get("sample_id", "")),
                         ("Batch", Path(batch.batch_dir).name)):
        page.text(MARGIN, y, f"{label}:", 10, font="F2")
        page.text(MARGIN + 60, y, str(value), 10)
        y += 15
    v = C.verdict_info(batch) if verdict is None else verdict
    page.text(MARGIN + W, 92, f"Run {v['state']}", 11, font="F2", color=GREEN if v["accepted"] else RED,
              align="right")
    if held:  # not to be released as it stands
        page.text(MARGIN + W, 107, f"HELD FOR REVIEW: {', '.join(held)}", 10, font="F2", color=RED, align="right")
    y += 10
    unit = ranges.unit if ranges else m.reported_unit
    page.text(MARGIN, y, f"Results ({unit})", 12, font="F2", color=BLUE)
    y += 8
    # table
    cols = [("Metabolite", 150), ("Result", 90), ("Reference", 150), ("", W - 390)]
    page.rect(MARGIN, y, W, 16, fill="#eef2f7")
    x = MARGIN
    for name, w in cols:
        page.text(x + 4, y + 11, name, 9, font="F2")
        x += w
    y += 16
    lines = [
        ("6-thioguanine nucleotides (6-TGN)", row.get("tgn_pmol_8e8", ""), row.get("tgn_state", ""),
         f"{ranges.tgn_low:g}-{ranges.tgn_high:g}" if ranges else ""),
        ("6-methylmercaptopurine (6-MMP)", row.get("mmp_pmol_8e8", ""), row.get("mmp_state", ""),
         ranges.mmp_reference() if ranges else ""),
        ("MMP:TGN ratio", row.get("ratio", ""), row.get("ratio_state", ""),
         ranges.ratio_reference() if ranges else ""),
    ]
    for label, val, state, ref in lines:
        page.text(MARGIN + 4, y + 12, label, 9)
        page.text(MARGIN + 150 + 4, y + 12, str(val) or "-", 10, font="F2", color=STATE_FG.get(state, "#222222"))
        page.text(MARGIN + 240 + 4, y + 12, ref, 9)
        page.text(MARGIN + 390 + 4, y + 12, {"low": "LOW", "high": "HIGH"}.get(state, ""), 9, font="F2", color=RED)
        y += 17
        page.line(MARGIN, y, MARGIN + W, y, color="#d5dbe3", width=0.4)
    y += 14
    if ranges is not None:
        _bar(page, MARGIN, y, W, "6-TGN", C._f(row.get("tgn_pmol_8e8")), ranges.tgn_low, ranges.tgn_high, unit,
             str(row.get("tgn_pmol_8e8", "")))
        y += 30
        _bar(page, MARGIN, y, W, "6-MMP", C._f(row.get("mmp_pmol_8e8")), None, ranges.mmp_high, unit,
             str(row.get("mmp_pmol_8e8", "")))
        y += 34
    page.text(MARGIN, y, "Interpretation", 12, font="F2", color=BLUE)
    y += 16
    page.text(MARGIN, y, f"Category: {row.get('category', '')}", 10, font="F2")
    y += 14
    for line in wrap(row.get("comment", ""), W, 9.5):
        page.text(MARGIN, y, line, 9.5)
        y += 12.5
    if row.get("notes"):
        y += 4
        for line in wrap("Notes: " + row["notes"], W, 8.5):
            page.text(MARGIN, y, line, 8.5, color="#333333")
            y += 11
    if row.get("dose_band"):
        y += 4
        for line in wrap("Dose band: " + row["dose_band"], W, 8.5):
            page.text(MARGIN, y, line, 8.5, color="#333333")
            y += 11
    if row.get("flags"):
        y += 4
        for line in wrap("Flags: " + row["flags"].replace(";", ", "), W, 8):
            page.text(MARGIN, y, line, 8, color=GREY)
            y += 10.5
    if ranges is not None:
        y += 4
        page.text(MARGIN, y, f"Interpretation profile: {ranges.profile}; "
                  f"{ranges.family_text(getattr(m, 'family', '') or '')}", 7.5, color=GREY)
        y += 12
        if ranges.monitoring:
            for line in wrap(ranges.monitoring, W, 7.5):
                page.text(MARGIN, y, line, 7.5, color=GREY)
                y += 10
    if panels:
        y += 8
        page.text(MARGIN, y, "Chromatograms", 12, font="F2", color=BLUE)
        y += 6
        pw = W / max(len(panels), 1)
        ph = min(130.0, A4[1] - MARGIN - 90 - y)
        if ph > 60:
            for i, p in enumerate(panels):
                draw_panel(page, p, MARGIN + i * pw + 1, y, pw - 2, ph)
            y += ph + 6
    ys = A4[1] - MARGIN - 40
    page.line(MARGIN, ys - 14, MARGIN + W, ys - 14, color="#d5dbe3")
    for k, line in enumerate(signoff_lines(batch)):
        page.text(MARGIN, ys + 12 * k, line, 9)
    gen = f" - generated {generated}" if generated else ""
    page.text(MARGIN, A4[1] - MARGIN + 13,
              f"thioquant {__version__} - method sha256 {m.sha256[:16]} - {Path(batch.batch_dir).name}{gen}", 7,
              color=GREY)
    hist = (getattr(batch, "patient_history", None) or {}).get(row.get("sample_id"))
    if hist and (len(hist.get("points") or []) > 1 or (hist.get("phase") or {}).get("follow_up")):
        _trend_page(doc, row, hist, ranges)
    return doc


def _trend_page(doc: Document, row: dict[str, Any], hist: dict[str, Any], ranges: C.Ranges | None) -> None:
    """Second page of a patient PDF: the patient over time (trend, therapy phase, deltas)."""
    from thioquant.report.chart import PdfCanvas
    from thioquant.report.trend import trend_chart

    page = doc.new_page()
    W = A4[0] - 2 * MARGIN
    page.rect(0, 0, A4[0], 40, fill=BLUE)
    page.text(MARGIN, 26, f"Patient over time - {row.get('patient_id', '')}, sample {row.get('sample_id', '')}",
              13, font="F2", color="#ffffff")
    y = 60.0
    k = W / 620.0
    if len(hist.get("points") or []) > 1:
        trend_chart(PdfCanvas(page, MARGIN, y, k), hist.get("points") or [], ranges, width=620, height=300)
        y += 300 * k + 16
    phase = hist.get("phase") or {}
    blocks = [("Therapy phase", f"{phase.get('text', '')} ({phase.get('source', '')})", 9, "#222222")]
    if phase.get("follow_up"):
        blocks.append(("", phase["follow_up"], 9, "#222222"))
        blocks.append(("", f"Source: {phase.get('follow_up_source', '')}", 7.5, GREY))
    for d in hist.get("deltas") or []:
        blocks.append(("DELTA" if d.get("flagged") else "Delta check", d.get("note", ""), 8.5,
                       RED if d.get("flagged") else "#222222"))
    for head, text, size, color in blocks:
        if head:
            page.text(MARGIN, y, head, 11, font="F2", color=BLUE)
            y += 14
        for line in wrap(text, W, size):
            if y > A4[1] - MARGIN - 20:
                return
            page.text(MARGIN, y, line, size, color=color)
            y += size + 3
        y += 4


#: longest file-name stem in UTF-8 bytes; file systems allow 255 bytes for a whole name
PATIENT_STEM_MAX = 120


def patient_filename(row: dict[str, Any]) -> str:
    """A safe file name for a patient page: ``<patient>_<sample>.pdf``.

    A stem longer than :data:`PATIENT_STEM_MAX` bytes is cut and ended with 12 hex digits of the
    sha256 of the whole identifiers, so long identifiers still give distinct, writable names.
    """
    raw = "_".join(x for x in (row.get("patient_id", ""), row.get("sample_id", "")) if x) or "patient"
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in raw)
    if len(stem.encode("utf-8")) > PATIENT_STEM_MAX:
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]
        keep = stem.encode("utf-8")[: PATIENT_STEM_MAX - len(digest) - 1].decode("utf-8", "ignore")
        stem = f"{keep}_{digest}"
    return stem + ".pdf"


def write_patient_pdfs(batch: Any, folder: str | Path, panels: Sequence[Any] = (), *,
                       generated: str | None = None) -> list[Path]:
    """Write one single-page PDF per patient sample into ``folder``; returns the paths."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    ranges = C.reference_ranges(batch)
    by_sample: dict[str, list[Any]] = {}
    for p in panels:
        by_sample.setdefault(p.sample_id, []).append(p)
    paths = []
    seen: set[str] = set()
    # no page for a row whose worklist values cannot be trusted (a raw file named by several rows,
    # values in the wrong columns...): it has no result, and 10,000 duplicated rows made 10,000 pages
    unusable = {e.sample_id for e in batch.worklist.entries if not e.usable}
    held: dict[str, list[str]] = {}
    for h in C.held_rows(batch):
        held.setdefault(h["sample_id"], []).append(h["analyte"])
    # once for every page: it reads every result of the batch (per page, 9,600 injections' 5,500
    # pages took 110 s instead of about 25)
    verdict = C.verdict_info(batch)
    for row in C.patient_rows(batch, ranges):
        if row.get("sample_id", "") in unusable:
            continue
        name = patient_filename(row)
        n = 1
        while name in seen:
            name, n = f"{patient_filename(row)[:-4]}_{n}.pdf", n + 1
        seen.add(name)
        doc = build_patient_page(batch, row, by_sample.get(row.get("sample_id", ""), []), ranges, generated,
                                 held=held.get(row.get("sample_id", ""), ()), verdict=verdict)
        paths.append(doc.save(out / name))
    return paths


__all__ = ["build_patient_page", "build_report", "draw_panel", "draw_pathway", "iter_report", "patient_filename",
           "write_patient_pdfs", "write_report_pdf"]
