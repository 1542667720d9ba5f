"""``report.html``: one self-contained page (inline CSS and SVG, no script, no network).

Sections: verdict banner, calibration per analyte (curve + %RE residuals + calibrator table),
QC (rule outcomes and QC samples, coloured by pass/fail), patient results with reference ranges,
chromatograms of every injection (thumbnails; click one to enlarge it, CSS ``:target``),
Levey-Jennings charts (when a QC history is given), messages, help (pathway, legend) and a
footer with the software version, method hash and every input file's SHA-256.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from thioquant.report import content as C

CSS = """
:root{--ok:#2e7d32;--okbg:#e8f5e9;--bad:#c62828;--badbg:#ffebee;--warn:#b26a00;--warnbg:#fff8e1;--ink:#1d2733}
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--ink);margin:0;
 background:#f5f7fa;line-height:1.35}
header.top{background:#1f4e8c;color:#fff;padding:14px 24px}
header.top h1{margin:0;font-size:1.35rem} header.top p{margin:2px 0 0;opacity:.85;font-size:.9rem}
nav{background:#fff;border-bottom:1px solid #d5dbe3;padding:6px 24px;position:sticky;top:0;z-index:5}
nav a{margin-right:14px;color:#1f4e8c;text-decoration:none;font-size:.9rem}
main{padding:12px 24px 40px;max-width:1400px}
section{background:#fff;border:1px solid #d5dbe3;border-radius:6px;padding:12px 16px;margin:14px 0}
h2{font-size:1.15rem;margin:0 0 8px} h3{font-size:1rem;margin:10px 0 6px}
.verdict{border-radius:6px;padding:14px 18px;margin:14px 0;border:2px solid}
.verdict.accepted{background:var(--okbg);border-color:var(--ok)} .verdict.rejected{background:var(--badbg);border-color:var(--bad)}
.verdict .state{font-size:1.6rem;font-weight:700} .verdict.accepted .state{color:var(--ok)}
.verdict.rejected .state{color:var(--bad)} .verdict .rule{font-size:1rem;margin-left:10px}
.verdict ul{margin:6px 0 0 18px;padding:0;font-size:.9rem} .verdict li.na{color:#5b6b7c}
.verdict li.held,tr.held td{color:#7b1fa2}
table{border-collapse:collapse;font-size:.84rem;margin:6px 0}
th,td{border:1px solid #d5dbe3;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef2f7} td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.pass td.s,td.pass{background:var(--okbg);color:var(--ok);font-weight:600}
tr.fail td.s,td.fail{background:var(--badbg);color:var(--bad);font-weight:700}
tr.warn td.s,td.warn{background:var(--warnbg);color:var(--warn);font-weight:600}
tr.na td.s,td.na{background:#eef0f3;color:#5b6b7c;font-style:italic}
tr.fail{background:#fff6f6}
table.patients td:nth-child(7){min-width:380px}table.patients td:nth-child(n+3):nth-child(-n+5){white-space:nowrap;text-align:right}
td.low,td.high{color:var(--bad);font-weight:700} td.ok{color:var(--ok)}
.cals{display:flex;flex-wrap:wrap;gap:16px}.cal{flex:1 1 520px;min-width:420px}
.cal .fig svg{width:100%;height:auto;max-width:560px}
.eq{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
.inj{display:inline-block;vertical-align:top;margin:4px;padding:4px;border:1px solid #e0e5ec;border-radius:4px;background:#fff}
.inj h4{margin:0 0 2px;font-size:.78rem;font-weight:600}
.inj h4 span{font-weight:400;color:#5b6b7c}
.thumbs{display:flex;gap:4px}
.thumb{margin:0;position:relative}
.thumb>a.open{display:block;width:300px}
.thumb svg{width:100%;height:auto;display:block;border:1px solid #eef0f3}
.thumb a.close{display:none}
.thumb:target{position:fixed;z-index:20;left:4vw;top:6vh;width:92vw;height:86vh;background:#fff;
 border:2px solid #1f4e8c;border-radius:6px;padding:30px 16px 16px;box-shadow:0 8px 40px rgba(0,0,0,.35)}
.thumb:target>a.open{width:100%;height:100%;pointer-events:none}
.thumb:target svg{width:100%;height:100%}
.thumb:target a.close{display:block;position:absolute;right:14px;top:4px;font-size:1.3rem;color:#1f4e8c;text-decoration:none}
.legend span{display:inline-block;margin-right:14px;font-size:.82rem}
.sw{display:inline-block;width:18px;height:10px;vertical-align:middle;margin-right:4px;border:1px solid #999}
.lj svg{max-width:640px;width:100%;height:auto}
.trend{border-top:1px solid #e0e5ec;margin-top:10px;padding-top:6px}.trend svg{max-width:660px;width:100%;height:auto}
.trend .phase{font-size:.88rem}.trend .src{font-size:.78rem;color:#5b6b7c}
.pathway svg{max-width:720px;width:100%;height:auto}
footer{font-size:.75rem;color:#46535f;padding:10px 24px 30px}
footer table{font-size:.72rem} footer code{font-size:.72rem}
.muted{color:#5b6b7c;font-size:.85rem}
@media print{nav{display:none}section{break-inside:avoid-page}.thumb>a.open{width:180px}}
"""


def _e(v: Any) -> str:
    return escape(str(v))


def _table(columns: Sequence[str], rows: Sequence[dict[str, Any]], *, numeric: set[str] = frozenset(),
           state_key: str | None = None, state_col: str | None = None, cell_state: dict[str, str] | None = None,
           headers: dict[str, str] | None = None, row_cls: str = "", table_cls: str = "") -> str:
    """An HTML table; ``state_key`` colours rows (pass/fail/warn), ``cell_state`` maps a column to
    the row key holding that cell's state class."""
    hdr = "".join(f"<th>{_e((headers or {}).get(c, c))}</th>" for c in columns)
    tc = f' class="{table_cls}"' if table_cls else ""
    out = [f"<table{tc}><thead><tr>{hdr}</tr></thead><tbody>"]
    for r in rows:
        cls = [row_cls] if row_cls else []
        if state_key:
            cls.append(str(r.get(state_key, "")))
        tds = []
        for c in columns:
            v = r.get(c, "")
            classes = []
            if c in numeric:
                classes.append("n")
                v = C.num(v)
            elif isinstance(v, bool):
                v = "yes" if v else "no"
            if state_col == c:
                classes.append("s")
            if cell_state and c in cell_state:
                classes.append(str(r.get(cell_state[c], "")))
            ca = f' class="{" ".join(x for x in classes if x)}"' if any(classes) else ""
            tds.append(f"<td{ca}>{_e(v)}</td>")
        ca = f' class="{" ".join(x for x in cls if x)}"' if any(cls) else ""
        out.append(f"<tr{ca}>{''.join(tds)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def pathway_svg() -> str:
    """The pathway picture shipped with the package (an ``<svg>`` string)."""
    return resources.files("thioquant.report").joinpath("assets/pathway.svg").read_text(encoding="utf-8")


def _verdict(batch: Any) -> str:
    v = C.verdict_info(batch)
    cls = "accepted" if v["accepted"] else "rejected"
    items = "".join(f"<li>{_e(r)}</li>" for r in v["reasons"])
    warns = "".join(f"<li>warning: {_e(w)}</li>" for w in v["warnings"])
    skipped = "".join(f'<li class="na">not evaluated: {_e(w)}</li>' for w in v["not_evaluated"])
    rule = f'<span class="rule">decided by rule <b>{_e(v["rule"])}</b></span>' if v["rule"] else ""
    held = (f'<li class="held"><b><a href="#held">{_e(C.held_text(v["held"]))}</a></b></li>'
            if v.get("held") else "")
    return (f'<div id="verdict" class="verdict {cls}"><span class="state">Run {v["state"]}</span>{rule}'
            f"<ul>{held}{items}{warns}{skipped}</ul></div>")


def _held(batch: Any) -> str:
    """Results held for review, first after the verdict ('' when none)."""
    rows = C.held_rows(batch)
    if not rows:
        return ""
    return ('<section id="held"><h2>Held for review</h2><p>Not interpreted: review the chromatogram, '
            're-integrate or re-inject (a saturated peak: dilute and re-inject). Rules: docs/qc.md.</p>'
            + _table(C.HELD_COLUMNS, rows, numeric={"value"}, row_cls="held",
                     headers={"sample_id": "sample", "patient_id": "patient", "sample_type": "type"})
            + "</section>")


def _calibration(batch: Any, figures: dict[str, str]) -> str:
    m = batch.method
    parts = ['<section id="calibration"><h2>Calibration</h2><div class="cals">']
    for name, oc in batch.calibrations.items():
        s = C.calibration_summary(name, oc)
        state = "pass" if s["passed"] else "fail"
        fig = figures.get(name, '<p class="muted">no calibration could be fitted</p>')
        parts.append(
            f'<div class="cal" id="cal-{_e(name)}" data-analyte="{_e(name)}"><h3>{_e(name)} '
            f'<span class="{state}" style="padding:1px 6px;border-radius:3px">{"pass" if s["passed"] else "FAIL"}</span></h3>'
            f'<div class="fig calfig">{fig}</div>'
        )
        if oc is not None:
            parts.append(
                f'<p class="eq">{_e(s["equation"])} &nbsp; r<sup>2</sup> = {s["r2"]:.5f} &nbsp; model {_e(s["model"])}, '
                f'weighting {_e(s["weighting"])}<br>{s["n_included"]}/{s["n_calibrators"]} calibrators included, '
                f'reportable range {_e(C.num(s["lloq"]))} to {_e(C.num(s["uloq"]))} {_e(m.conc_unit)}</p>'
            )
            rows = C.calibrator_rows(oc)
            for r in rows:
                r["state"] = "pass" if r["included"] else "fail"
            parts.append(_table(C.CALIBRATOR_COLUMNS, rows, numeric={"nominal", "response", "back_calc", "re_pct",
                                                                     "limit_pct"},
                                state_key="state", state_col="included",
                                headers={"re_pct": "%RE", "limit_pct": "limit %", "back_calc": "back-calc"}))
        for reason in s["reasons"]:
            parts.append(f'<p class="muted">{_e(reason)}</p>')
        parts.append("</div>")
    parts.append("</div></section>")
    return "".join(parts)


def _qc(batch: Any) -> str:
    rules = C.qc_rule_rows(batch)
    samples = C.qc_sample_rows(batch)
    out = ['<section id="qc"><h2>Quality control</h2>',
           _table(["rule", "analyte", "label", "severity", "code", "message"], rules, state_key="state",
                  state_col="label", headers={"label": "status"})]
    if samples:
        out.append(f"<h3>QC samples (accuracy within 100 &plusmn; {C.qc_tolerance_text(batch)} %)</h3>")
        out.append(_table(C.QC_SAMPLE_COLUMNS, samples, numeric={"nominal", "conc", "accuracy_pct"},
                          state_key="state", state_col="accuracy_pct",
                          headers={"accuracy_pct": "accuracy %", "conc": f"measured ({batch.method.conc_unit})"}))
    out.append("</section>")
    return "".join(out)


def _patients(batch: Any) -> str:
    ranges = C.reference_ranges(batch)
    rows = C.patient_rows(batch, ranges)
    unit = ranges.unit if ranges else batch.method.reported_unit
    out = ['<section id="patients"><h2>Patient results</h2>']
    if ranges is not None:
        out.append(f'<p class="muted">Reference ranges: {_e(ranges.text())}; '
                   f'{_e(ranges.family_text(getattr(batch.method, "family", "") or ""))}</p>')
    if not rows:
        out.append('<p class="muted">No patient samples in this batch.</p></section>')
        return "".join(out)
    out.append(_table(C.PATIENT_COLUMNS, rows, cell_state={"tgn_pmol_8e8": "tgn_state", "mmp_pmol_8e8": "mmp_state",
                                                            "ratio": "ratio_state"},
                      headers={"tgn_pmol_8e8": f"6-TGN ({unit})", "mmp_pmol_8e8": f"6-MMP ({unit})",
                               "ratio": "MMP:TGN", "patient_id": "patient", "sample_id": "sample"},
                      row_cls="patient", table_cls="patients"))
    out.extend(_trends(batch, ranges))
    out.append("</section>")
    return "".join(out)


def _trends(batch: Any, ranges: Any) -> list[str]:
    """Per patient sample with a patient history: the trend figure, therapy phase and deltas."""
    hist = getattr(batch, "patient_history", None) or {}
    if not hist:
        return []
    from thioquant.report.trend import trend_svg

    out = ['<h3 id="trends">Patients over time (patient history)</h3>']
    for sid, h in hist.items():
        title = f"{h.get('patient_id', '')} - sample {sid}"
        phase = h.get("phase") or {}
        out.append(f'<div class="trend" data-sample="{_e(sid)}"><h4>{_e(title)}</h4>')
        if len(h.get("points") or []) > 1:  # a single point is no trend
            out.append(trend_svg(h.get("points") or [], ranges, label=f"trend {title}"))
        out.append(f'<p class="phase"><b>Therapy phase:</b> {_e(phase.get("text", ""))} '
                   f'<span class="src">({_e(phase.get("source", ""))})</span></p>')
        if phase.get("follow_up"):
            out.append(f'<p class="phase followup"><b>{_e(phase["follow_up"])}</b><br>'
                       f'<span class="src">Source: {_e(phase.get("follow_up_source", ""))}</span></p>')
        for d in h.get("deltas") or []:
            out.append(f'<p class="phase delta{" flagged" if d.get("flagged") else ""}">'
                       f'{"<b>DELTA</b> " if d.get("flagged") else ""}{_e(d.get("note", ""))}</p>')
        out.append("</div>")
    return out


def _chromatograms(batch: Any, panels: Sequence[Any],
                   rows: Iterable[Sequence[tuple[tuple[int, str], Sequence[Any]]]] | None = None) -> Iterator[str]:
    """The chromatogram section, one injection at a time (a large batch's SVGs are never all
    held in memory at once when the parts are written out as they come).

    ``rows``: the injections' panels grouped as the PDF report's grid draws them
    (:func:`thioquant.report.pdf.iter_report`), consumed as they come, so that each panel's
    geometry is computed once for both reports; by default grouped here from ``panels``.
    """
    from thioquant.report.svg import COLORS

    yield ('<section id="chromatograms"><h2>Chromatograms</h2>'
           '<p class="legend">'
           f'<span><i class="sw" style="background:{COLORS["trace"]}"></i>analyte trace</span>'
           f'<span><i class="sw" style="background:{COLORS["area"]}"></i>integrated area</span>'
           f'<span><i class="sw" style="background:{COLORS["baseline"]}"></i>baseline</span>'
           f'<span><i class="sw" style="background:{COLORS["window"]}"></i>expected RT window</span>'
           f'<span><i class="sw" style="background:{COLORS["is"]}"></i>internal standard (dashed, scaled)</span>'
           "<span>Click a chromatogram to enlarge it.</span></p>")
    if rows is None:
        by_inj: dict[tuple[int, str], list[Any]] = {}
        for p in panels:
            by_inj.setdefault((p.injection, p.sample_id), []).append(p)
        rows = [list(by_inj.items())]
    for row in rows:
        for (inj, sid), ps in row:
            yield _injection(inj, sid, ps)
    yield "</section>"


def _injection(inj: int, sid: str, ps: Sequence[Any]) -> str:
    """One injection's thumbnails."""
    from thioquant.report.svg import chromatogram_svg

    st = ps[0].sample_type
    out = [f'<div class="inj"><h4>#{inj} {_e(sid)} <span>{_e(st)} &middot; {_e(ps[0].file)}</span></h4>'
           '<div class="thumbs">']
    for p in ps:
        out.append(f'<figure class="thumb" id="{p.key}"><a class="open" href="#{p.key}">{chromatogram_svg(p)}</a>'
                   f'<a class="close" href="#chromatograms" title="close">&#x2715;</a></figure>')
    out.append("</div></div>")
    return "".join(out)


def _lj(lj_figures: Sequence[tuple[str, str]]) -> str:
    if not lj_figures:
        return ""
    out = ['<section id="levey-jennings"><h2>Levey-Jennings charts</h2>']
    for title, svg in lj_figures:
        out.append(f'<div class="lj" data-series="{_e(title)}">{svg}</div>')
    out.append("</section>")
    return "".join(out)


def _messages(batch: Any) -> str:
    out = ['<section id="messages"><h2>Messages</h2>']
    if batch.messages:
        out.append("<ul>" + "".join(f"<li>{_e(m)}</li>" for m in batch.messages) + "</ul>")
    else:
        out.append('<p class="muted">No messages about the input.</p>')
    if batch.manual:
        out.append("<h3>Manual integrations</h3>")
        out.append(_table(["sample_id", "analyte", "start_min", "end_min", "reason"], C.manual_rows(batch),
                          numeric={"start_min", "end_min"}))
    out.append("</section>")
    return "".join(out)


def _help() -> str:
    return (
        '<section id="help"><h2>Help</h2>'
        "<p>Thiopurines (azathioprine, 6-mercaptopurine) are prodrugs. 6-MP is activated by HPRT to the "
        "6-thioguanine nucleotides (6-TGN, the active, myelotoxic metabolites), methylated by TPMT to "
        "6-methylmercaptopurine (6-MMP, associated with hepatotoxicity) or oxidised by xanthine oxidase to "
        "inactive 6-thiouric acid. This assay measures 6-TGN and 6-MMP in erythrocytes, reported per "
        "8&times;10<sup>8</sup> red blood cells.</p>"
        f'<div class="pathway">{pathway_svg()}</div>'
        "<h3>Reading the report</h3><ul>"
        "<li><b>Verdict</b>: the run is accepted when every rejecting QC rule passes; the rule named decided it.</li>"
        "<li><b>Held for review</b>: results not interpreted although the run is accepted, because a check "
        "of their integration or signal failed (internal standard response, peak width, apex, ion ratio, "
        "a split or saturated peak, a dead channel); review the chromatogram, re-integrate or re-inject.</li>"
        "<li><b>Quality control</b>: each rule passed (green), failed (red; amber when it only warns) or was "
        "<i>not evaluated</i> (grey) because the run lacks the data it needs, e.g. no Westgard target yet or "
        "no blank after the highest calibrator. A rule not evaluated does not count against the run.</li>"
        "<li><b>Calibration</b>: green dots are included calibrators, red crosses excluded ones; the lower panel "
        "shows each calibrator's relative error (%RE) of the back-calculated concentration against its limit.</li>"
        "<li><b>Chromatograms</b>: the blue area is what was integrated, between the trace and the red baseline; "
        "the yellow band is the expected retention window; the dashed orange trace is the internal standard.</li>"
        "<li><b>Patients</b>: values outside the reference range are red; the comment comes from the "
        "interpretation profile named above the table.</li></ul></section>"
    )


def _footer(batch: Any, version: str, generated: str | None) -> str:
    m = batch.method
    rows = "".join(f"<tr><td>{_e(f)}</td><td><code>{_e(h)}</code></td></tr>" for f, h in C.input_files(batch))
    gen = f" &middot; generated {_e(generated)}" if generated else ""
    return (f'<footer id="footer"><p>thioquant {_e(version)}{gen} &middot; method {_e(m.name)} '
            f'(<code>{_e(Path(m.source).name if m.source else "")}</code>, sha256 <code>{_e(m.sha256)}</code>)</p>'
            f"<details open><summary>Input files (sha256)</summary><table>{rows}</table></details></footer>")


def render_html(batch: Any, panels: Sequence[Any] = (), **kwargs: Any) -> str:
    """The text of ``report.html`` (the parts of :func:`iter_html` joined; arguments as there)."""
    return "".join(iter_html(batch, panels, **kwargs))


def write_html(path: str | Path, batch: Any, panels: Sequence[Any] = (), **kwargs: Any) -> None:
    """Write ``report.html`` part by part, so memory does not grow with the batch's page size.

    The parts go to ``<path>.part``, renamed to ``path`` once complete: a renderer that fails
    half-way leaves no truncated report behind.
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    try:
        with open(part, "w", encoding="utf-8", newline="") as fh:
            for text in iter_html(batch, panels, **kwargs):
                fh.write(text)
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)


def iter_html(
    batch: Any,
    panels: Sequence[Any] = (),
    *,
    calibration_figures: dict[str, str] | None = None,
    lj: Sequence[dict[str, Any]] = (),
    generated: str | None = None,
    chromatogram_rows: Iterable[Sequence[tuple[tuple[int, str], Sequence[Any]]]] | None = None,
) -> Iterator[str]:
    """The text of ``report.html``, in parts (each injection's chromatograms one part).

    Parameters
    ----------
    batch : :class:`~thioquant.pipeline.BatchResult`
    panels : chromatogram panels (:func:`thioquant.report.chrom.collect_panels`); none: no chromatograms.
    calibration_figures : analyte -> inline HTML (``<svg>`` or ``<img>``); drawn with
        :func:`thioquant.report.chart.calibration_svg` when not given.
    lj : Levey-Jennings data dicts (:func:`thioquant.report.content.lj_series`); the section is left
        out when empty.
    generated : timestamp text for the footer (None: left out, so the file is deterministic).
    chromatogram_rows : the chromatograms grouped by injection as the PDF report draws them,
        consumed as the section is written (see :func:`_chromatograms`); they must hold the
        same panels as ``panels``, in the same order.
    """
    from thioquant import __version__

    if calibration_figures is None:
        calibration_figures = calibration_svgs(batch)
    lj_figs = lj_svgs(lj)
    m = batch.method
    nav = "".join(f'<a href="#{i}">{t}</a>' for i, t in (
        ("verdict", "Verdict"), ("held", "Held") if C.held_rows(batch) else ("", ""), ("calibration", "Calibration"), ("qc", "QC"), ("patients", "Patients"),
        ("chromatograms", "Chromatograms"), ("levey-jennings", "Levey-Jennings") if lj_figs else ("", ""),
        ("messages", "Messages"), ("help", "Help"), ("footer", "Files")) if i)
    yield from [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>thioquant report: {_e(Path(batch.batch_dir).name)}</title><style>{CSS}</style></head><body>",
        f'<header class="top"><h1>Thiopurine metabolites &ndash; {_e(Path(batch.batch_dir).name)}</h1>'
        f"<p>{_e(m.name)} &middot; {len(batch.worklist.entries)} injections &middot; "
        f"{len(batch.interpretations)} patient samples</p></header>",
        f"<nav>{nav}</nav><main>",
        _verdict(batch),
        _held(batch),
        _calibration(batch, calibration_figures),
        _qc(batch),
        _patients(batch),
    ]
    yield from _chromatograms(batch, panels, chromatogram_rows)
    yield from [
        _lj(lj_figs),
        _messages(batch),
        _help(),
        "</main>",
        _footer(batch, __version__, generated),
        "</body></html>\n",
    ]


def calibration_svgs(batch: Any) -> dict[str, str]:
    """Inline SVG of each analyte's calibration curve with its residual plot (no matplotlib)."""
    from thioquant.report.chart import calibration_svg

    return {name: calibration_svg(oc, name=name, conc_unit=batch.method.conc_unit)
            for name, oc in batch.calibrations.items() if oc is not None}


def lj_svgs(lj: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(title, inline SVG) of each Levey-Jennings series."""
    if not lj:
        return []
    from thioquant.report.chart import levey_jennings_svg

    return [(f"{d.get('analyte', '')} {d.get('level', '')}", levey_jennings_svg(d)) for d in lj]


__all__ = ["calibration_svgs", "iter_html", "lj_svgs", "pathway_svg", "render_html", "write_html"]
