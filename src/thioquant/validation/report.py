"""Write a :class:`~thioquant.validation.validate.ValidationReport` as HTML and XLSX."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_CSS = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:2em;color:#222;max-width:1300px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}h3{font-size:1em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.85em}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#f2f2f2}
td.t,th.t{text-align:left}.pass{color:#2e7d32;font-weight:600}.fail{color:#c62828;font-weight:700}
.na{color:#777}.verdict{font-size:1.3em;padding:.4em .8em;display:inline-block;border-radius:4px}
.vpass{background:#e8f5e9;color:#2e7d32}.vfail{background:#ffebee;color:#c62828}
.note{color:#555;font-size:.85em}.fig svg{max-width:100%;height:auto}tr.bad td{background:#fff3f3}
"""


def _cell(v: Any) -> tuple[str, str]:
    if v is None:
        return "", "na"
    if isinstance(v, bool):
        return ("pass" if v else "FAIL"), ("pass" if v else "fail")
    if isinstance(v, float):
        return f"{v:.4g}", ""
    s = str(v)
    if s == "pass":
        return s, "pass"
    if s == "FAIL":
        return s, "fail"
    return s, "t" if not _is_num(s) else ""


def _is_num(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='na'>no rows</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    out = ["<table><tr>" + "".join(f"<th class='t'>{html.escape(c)}</th>" for c in cols) + "</tr>"]
    for r in rows:
        bad = r.get("result") == "FAIL" or r.get("passed") is False or r.get("within") is False
        cells = []
        for c in cols:
            text, cls = _cell(r.get(c))
            cells.append(f"<td class='{cls}'>{html.escape(text)}</td>")
        out.append(f"<tr{' class=bad' if bad else ''}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _svg(report: Any, key: str) -> str:
    """The experiment's figure as inline SVG, or "" (no figure, or matplotlib unavailable)."""
    from thioquant.validation.figures import FIGURES

    fn = FIGURES.get(key)
    if fn is None:
        return ""
    try:
        fig = fn(report)
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return ""
    if fig is None:
        return ""
    from thioquant.plot import to_svg

    return f"<div class='fig'>{to_svg(fig)}</div>"


def render_html(report: Any, *, figures: bool = True) -> str:
    """The report as one self-contained HTML page (figures as inline SVG unless ``figures=False``)."""
    from thioquant import __version__

    pkg, m = report.package, report.method
    verdict = "PASSED" if report.passed else "FAILED"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Validation: {html.escape(pkg.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Method validation: {html.escape(m.name)}</h1>",
        f"<p>Package <code>{html.escape(str(pkg.path))}</code>; method <code>{html.escape(m.source)}</code> "
        f"(sha256 {html.escape(m.sha256[:12])}); thioquant {__version__}; concentrations in "
        f"{html.escape(m.conc_unit)}.</p>",
        f"<p class='verdict {'vpass' if report.passed else 'vfail'}'>Validation {verdict}</p>",
    ]
    if pkg.failures:
        parts.append(f"<p class='note'>Simulated package with deliberate failures: "
                     f"{html.escape(', '.join(pkg.failures))}.</p>")
    if report.run_errors:
        parts.append("<p class='fail'>Runs that could not be quantified: "
                     + html.escape("; ".join(f"{k}: {v}" for k, v in report.run_errors.items())) + "</p>")
    if report.messages:
        parts.append("<h2>Messages</h2><ul>" + "".join(f"<li>{html.escape(msg)}</li>" for msg in report.messages)
                     + "</ul>")
    parts += ["<h2>Summary</h2>", _table(report.summary_rows()), "<h2>Runs</h2>", _table(report.run_rows())]
    for e in report.experiments:
        state = "not performed" if not e.performed else ("pass" if e.passed else "FAIL")
        cls = "na" if not e.performed else ("pass" if e.passed else "fail")
        parts.append(f"<h2 id='{e.key}'>{html.escape(e.title)} <span class='{cls}'>({state})</span></h2>")
        parts.append(f"<p class='note'>{html.escape(e.reference)}</p>")
        for n in e.notes:
            parts.append(f"<p class='note'>{html.escape(n)}</p>")
        if figures and e.performed:
            parts.append(_svg(report, e.key))
        for name, rows in e.tables.items():
            parts.append(f"<h3>{html.escape(name.replace('_', ' '))}</h3>")
            parts.append(_table(rows))
        if e.checks:
            parts.append("<h3>criteria</h3>")
            parts.append(_table([c.as_dict() for c in e.checks]))
    parts += ["<h2>Acceptance criteria used</h2>", _table(report.criteria_rows()), "</body></html>"]
    return "\n".join(parts)


def write_html(report: Any, path: str | Path, *, figures: bool = True) -> Path:
    p = Path(path)
    p.write_text(render_html(report, figures=figures), encoding="utf-8")
    return p


def _sheet_name(name: str, used: set[str]) -> str:
    base = name.replace("/", "-")[:31]
    out, i = base, 2
    while out in used:
        suffix = f"~{i}"
        out = base[: 31 - len(suffix)] + suffix
        i += 1
    used.add(out)
    return out


def write_xlsx(report: Any, path: str | Path) -> Path:
    """Summary, checks, runs and criteria sheets, then one sheet per experiment table."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    used: set[str] = set()
    red = PatternFill("solid", fgColor="FFEBEE")
    bold = Font(bold=True)

    def add(title: str, rows: Sequence[dict[str, Any]]) -> None:
        ws = wb.create_sheet(_sheet_name(title, used))
        if not rows:
            ws.append(["no rows"])
            return
        cols = list(dict.fromkeys(k for r in rows for k in r))
        ws.append(cols)
        for c in ws[1]:
            c.font = bold
        for r in rows:
            vals = []
            for c in cols:
                v = r.get(c)
                vals.append(v if v is None or isinstance(v, int | float | str | bool) else str(v))
            ws.append(vals)
            if r.get("result") == "FAIL" or r.get("passed") is False or r.get("within") is False:
                for cell in ws[ws.max_row]:
                    cell.fill = red
        for i, c in enumerate(cols, start=1):
            width = max([len(str(c))] + [len(str(r.get(c, ""))) for r in rows[:200]])
            ws.column_dimensions[ws.cell(1, i).column_letter].width = min(60, max(8, width + 2))
        ws.freeze_panes = "A2"

    wb.remove(wb.active)
    add("summary", report.summary_rows() + [{"experiment": "OVERALL",
                                             "result": "pass" if report.passed else "FAIL"}])
    add("criteria_judged", [c.as_dict() for c in report.checks])
    add("runs", report.run_rows())
    msgs = [{"message": msg} for msg in report.messages]
    msgs += [{"message": f"run {r} not quantified: {e}"} for r, e in report.run_errors.items()]
    if msgs:
        add("messages", msgs)
    for e in report.experiments:
        for name, rows in e.tables.items():
            add(f"{e.key}.{name}", rows)
    add("settings", report.criteria_rows())
    from thioquant.report.xlsx import save_workbook  # fixed properties: same package, same bytes

    return save_workbook(wb, path)
