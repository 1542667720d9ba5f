"""``results.xlsx``: results, calibration, QC, interpretation (and run) on separate sheets.

Written with openpyxl in write-only mode (streaming, fast for large batches). Numbers stay
numbers (NaN becomes an empty cell); header rows are bold and frozen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from thioquant.report import content as C
from thioquant.report.tables import RESULT_COLUMNS, result_rows

SHEETS = ("Run", "Results", "Calibration", "Calibrators", "QC", "QC samples", "Interpretation", "Inputs")


def _cell(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    return str(v)


def _sheet(wb: Any, title: str, columns: Sequence[str], rows: Sequence[Any], widths: dict[str, int] | None = None,
           fills: Sequence[str | None] | None = None) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    ws = wb.create_sheet(title)
    ws.freeze_panes = "A2"
    for i, c in enumerate(columns):
        letter = _letter(i)
        ws.column_dimensions[letter].width = (widths or {}).get(c, max(10, min(40, len(c) + 4)))
    bold = Font(bold=True)
    head = []
    for c in columns:
        cell = WriteOnlyCell(ws, value=c)
        cell.font = bold
        head.append(cell)
    ws.append(head)
    fill_cache: dict[str, Any] = {}
    for k, r in enumerate(rows):
        vals = [_cell(r.get(c) if isinstance(r, dict) else r[j]) for j, c in enumerate(columns)]
        color = fills[k] if fills else None
        if color:
            fill = fill_cache.setdefault(color, PatternFill("solid", fgColor=color))
            cells = []
            for v in vals:
                cell = WriteOnlyCell(ws, value=v)
                cell.fill = fill
                cells.append(cell)
            ws.append(cells)
        else:
            ws.append(vals)


def _letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(65 + rem) + s
    return s


_GREEN, _RED, _AMBER = "E8F5E9", "FFEBEE", "FFF8E1"


def write_xlsx(batch: Any, path: str | Path) -> Path:
    """Write ``results.xlsx`` for ``batch`` to ``path``; returns the path.

    Sheets: Run (verdict, method, software), Results (the ``results.csv`` columns), Calibration
    (one row per analyte: model, weighting, equation, r^2, range), Calibrators (back-calculation
    of every calibrator), QC (rule outcomes, coloured), QC samples, Interpretation (one row per
    patient sample) and Inputs (file and sha256).
    """
    from openpyxl import Workbook

    from thioquant import __version__

    wb = Workbook(write_only=True)
    v = C.verdict_info(batch)
    m = batch.method
    run_rows = [("verdict", v["state"]), ("deciding rule", v["rule"])]
    run_rows += [("reason", r) for r in v["reasons"]] + [("warning", w) for w in v["warnings"]]
    run_rows += [("method", m.name), ("method file", m.source), ("method sha256", m.sha256),
                 ("batch folder", str(batch.batch_dir)), ("software", f"thioquant {__version__}")]
    _sheet(wb, "Run", ["item", "value"], [{"item": a, "value": b} for a, b in run_rows],
           widths={"item": 16, "value": 100})

    res = result_rows(batch.results)
    _sheet(wb, "Results", RESULT_COLUMNS, res, widths={"flag_messages": 60, "file": 28})

    cal_cols = ["analyte", "model", "weighting", "equation", "r2", "lloq", "uloq", "n_included", "n_calibrators",
                "passed", "reasons"]
    cal_rows = []
    for name, oc in batch.calibrations.items():
        s = C.calibration_summary(name, oc)
        s["reasons"] = "; ".join(s["reasons"])
        cal_rows.append(s)
    _sheet(wb, "Calibration", cal_cols, cal_rows, widths={"equation": 36, "reasons": 60},
           fills=[_GREEN if r["passed"] else _RED for r in cal_rows])

    pts = []
    for name, oc in batch.calibrations.items():
        for r in C.calibrator_rows(oc):
            pts.append({"analyte": name, **r})
    _sheet(wb, "Calibrators", ["analyte", *C.CALIBRATOR_COLUMNS], pts, widths={"reason": 50},
           fills=[None if r["included"] else _RED for r in pts])

    qc = C.qc_rule_rows(batch)
    _sheet(wb, "QC", C.QC_RULE_COLUMNS, qc, widths={"message": 90},
           fills=[{"pass": _GREEN, "fail": _RED, "warn": _AMBER}[r["state"]] for r in qc])
    qs = C.qc_sample_rows(batch)
    _sheet(wb, "QC samples", C.QC_SAMPLE_COLUMNS, qs, fills=[_GREEN if r["state"] == "pass" else _RED for r in qs])

    from thioquant.assay.interpret import INTERPRETATION_COLUMNS

    _sheet(wb, "Interpretation", list(INTERPRETATION_COLUMNS), [dict(i) for i in batch.interpretations],
           widths={"comment": 80, "notes": 50, "flags": 30})
    _sheet(wb, "Inputs", ["file", "sha256"], [{"file": f, "sha256": h} for f, h in C.input_files(batch)],
           widths={"file": 40, "sha256": 70})
    p = Path(path)
    wb.save(p)
    return p


__all__ = ["SHEETS", "write_xlsx"]
