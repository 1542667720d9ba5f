"""``results.xlsx``: results, calibration, QC, interpretation (and run) on separate sheets.

Written with openpyxl (the library that also writes ``validation.xlsx``: one xlsx writer in the
project, docs/dependencies.md), in its write-only mode, and saved by :func:`save_workbook` with
fixed document properties and zip timestamps so that the same batch gives the same bytes. Numbers
stay numbers (NaN becomes an empty cell); text is always text, never a formula, even when it
starts with ``=``; header rows are bold and frozen; QC and calibration rows are coloured by
pass/fail.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from thioquant.report import content as C
from thioquant.report.tables import RESULT_COLUMNS, batch_rows

SHEETS = ("Run", "Held for review", "Results", "Calibration", "Calibrators", "QC", "QC samples", "Interpretation", "Inputs")

#: document properties and zip member times of every workbook thioquant writes: a rerun of the
#: same batch gives the same bytes (the run's own time is in the Run sheet's audit, not here)
FIXED_TIME = _dt.datetime(2000, 1, 1, 0, 0, 0)
CREATOR = "thioquant"
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


class _FixedZip(zipfile.ZipFile):
    """A ZipFile whose members all carry :data:`_ZIP_TIME` (openpyxl stamps them with "now")."""

    def writestr(self, zinfo_or_arcname: Any, data: Any, compress_type: Any = None,
                 compresslevel: Any = None) -> None:
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            zinfo_or_arcname = zipfile.ZipInfo(str(zinfo_or_arcname), date_time=_ZIP_TIME)
            zinfo_or_arcname.compress_type = zipfile.ZIP_DEFLATED
            zinfo_or_arcname.external_attr = 0o600 << 16
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename: Any, arcname: Any = None, compress_type: Any = None,
              compresslevel: Any = None) -> None:  # worksheets come from temporary files
        self.writestr(arcname or Path(filename).name, Path(filename).read_bytes())


def save_workbook(wb: Any, path: str | Path) -> Path:
    """Save an openpyxl workbook with fixed properties and member times: same content, same bytes."""
    from openpyxl.writer.excel import ExcelWriter

    wb.properties.creator = CREATOR
    wb.properties.lastModifiedBy = None
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    p = Path(path)
    with _FixedZip(p, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).write_data()
    return p


def _clean_text(v: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", v)


class _Sheets:
    """Write-only sheets with a bold frozen header, typed cells and optional row fills."""

    def __init__(self) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font, PatternFill

        self.wb = Workbook(write_only=True)
        self._cell = WriteOnlyCell
        self._bold = Font(bold=True)
        self._fills: dict[str, Any] = {}
        self._fill = PatternFill

    def _value(self, ws: Any, v: Any, fill: Any) -> Any:
        tv = type(v)
        if tv is float:
            v = v if math.isfinite(v) else None
        elif tv is str:
            if v and (v[0] == "=" or not v.isprintable()):
                v = _clean_text(v)
            if v == "":
                v = None
        elif v is None or tv is bool or tv is int:
            pass
        elif isinstance(v, float):
            v = float(v) if math.isfinite(v) else None
        elif isinstance(v, int):
            v = int(v)
        else:
            v = _clean_text(str(v)) or None
        if fill is None and not (type(v) is str and v[:1] == "="):
            return v
        cell = self._cell(ws, value=v)
        if type(v) is str and v[:1] == "=":
            cell.data_type = "s"  # text that looks like a formula stays text
        if fill is not None:
            cell.fill = fill
        return cell

    def add(self, title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]],
            widths: dict[str, int] | None = None, fills: Sequence[str | None] | None = None) -> None:
        from openpyxl.utils import get_column_letter

        ws = self.wb.create_sheet(title)
        ws.freeze_panes = "A2"
        for i, c in enumerate(columns, 1):
            dim = ws.column_dimensions[get_column_letter(i)]
            dim.width = (widths or {}).get(c, max(10, min(40, len(c) + 4)))
        header = []
        for c in columns:
            cell = self._cell(ws, value=c)
            cell.font = self._bold
            header.append(cell)
        ws.append(header)
        value = self._value
        for k, r in enumerate(rows):
            rgb = fills[k] if fills else None
            fill = None
            if rgb is not None:
                fill = self._fills.get(rgb) or self._fills.setdefault(rgb, self._fill("solid", fgColor="FF" + rgb))
            ws.append([value(ws, r.get(c), fill) for c in columns])


_GREEN, _RED, _AMBER, _GREY = "E8F5E9", "FFEBEE", "FFF8E1", "EEF0F3"


def write_xlsx(batch: Any, path: str | Path, rows: Sequence[dict[str, Any]] | None = None) -> Path:
    """Write ``results.xlsx`` for ``batch`` to ``path``; returns the path.

    Sheets: Run (verdict, method, software), Held for review (results not interpreted, first),
    Results (the ``results.csv`` columns), Calibration
    (one row per analyte: model, weighting, equation, r^2, range), Calibrators (back-calculation
    of every calibrator), QC (rule outcomes, coloured), QC samples, Interpretation (one row per
    patient sample) and Inputs (file and sha256).
    """
    from thioquant import __version__

    book = _Sheets()

    def _sheet(_wb: Any, title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]],
               widths: dict[str, int] | None = None, fills: Sequence[str | None] | None = None) -> None:
        book.add(title, columns, rows, widths, fills)

    wb = book.wb
    v = C.verdict_info(batch)
    m = batch.method
    run_rows = [("verdict", v["state"]), ("deciding rule", v["rule"]), ("held for review", v["held"])]
    run_rows += [("reason", r) for r in v["reasons"]] + [("warning", w) for w in v["warnings"]]
    run_rows += [("not evaluated", w) for w in v["not_evaluated"]]
    run_rows += [("method", m.name), ("method file", m.source), ("method sha256", m.sha256),
                 ("batch folder", str(batch.batch_dir)), ("software", f"thioquant {__version__}")]
    _sheet(wb, "Run", ["item", "value"], [{"item": a, "value": b} for a, b in run_rows],
           widths={"item": 16, "value": 100})

    held = C.held_rows(batch)
    _sheet(wb, "Held for review", C.HELD_COLUMNS, held, widths={"reasons": 100},
           fills=[_AMBER] * len(held))

    res = batch_rows(batch) if rows is None else rows
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
           fills=[{"pass": _GREEN, "fail": _RED, "warn": _AMBER, "na": _GREY}[r["state"]] for r in qc])
    qs = C.qc_sample_rows(batch)
    _sheet(wb, "QC samples", C.QC_SAMPLE_COLUMNS, qs, fills=[_GREEN if r["state"] == "pass" else _RED for r in qs])

    from thioquant.assay.interpret import INTERPRETATION_COLUMNS

    interp = []
    for it in batch.interpretations:
        row = dict(it)
        for k in ("tgn_pmol_8e8", "mmp_pmol_8e8", "ratio"):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                row[k] = float(row[k])
        interp.append(row)
    _sheet(wb, "Interpretation", list(INTERPRETATION_COLUMNS), interp,
           widths={"comment": 80, "notes": 50, "flags": 30})
    _sheet(wb, "Inputs", ["file", "sha256"], [{"file": f, "sha256": h} for f, h in C.input_files(batch)],
           widths={"file": 40, "sha256": 70})
    return save_workbook(wb, path)


__all__ = ["SHEETS", "save_workbook", "write_xlsx"]
