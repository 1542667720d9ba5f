"""``results.xlsx``: results, calibration, QC, interpretation (and run) on separate sheets.

Written directly as SpreadsheetML (a zip of XML parts, no dependency, fixed timestamps so the
same batch gives the same bytes). Numbers stay numbers (NaN becomes an empty cell); header rows
are bold and frozen; QC and calibration rows are coloured by pass/fail. Any spreadsheet program
and openpyxl/pandas read it.
"""

from __future__ import annotations

import contextlib
import math
import zipfile
from collections.abc import Sequence

# html.escape, not xml.sax.saxutils.escape: that imports urllib.request (40 ms in a fresh interpreter)
from html import escape
from pathlib import Path
from typing import Any

from thioquant.report import content as C
from thioquant.report.tables import RESULT_COLUMNS, result_rows

SHEETS = ("Run", "Held for review", "Results", "Calibration", "Calibrators", "QC", "QC samples", "Interpretation", "Inputs")

# Cell styles (index into cellXfs of styles.xml): 0 plain, 1 bold header, 2 green, 3 red, 4 amber.
_STYLE_OF_FILL = {None: 0, "E8F5E9": 2, "FFEBEE": 3, "FFF8E1": 4}
_STYLES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="5"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFE8F5E9"/></patternFill></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFFFEBEE"/></patternFill></fill>
<fill><patternFill patternType="solid"><fgColor rgb="FFFFF8E1"/></patternFill></fill></fills>
<borders count="1"><border/></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>
<xf numFmtId="0" fontId="0" fillId="2" borderId="0" xfId="0" applyFill="1"/>
<xf numFmtId="0" fontId="0" fillId="3" borderId="0" xfId="0" applyFill="1"/>
<xf numFmtId="0" fontId="0" fillId="4" borderId="0" xfId="0" applyFill="1"/></cellXfs>
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>
</styleSheet>"""
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


def _letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        s = chr(65 + rem) + s
    return s


def _cell_xml(ref: str, v: Any, style: int) -> str:
    st = f' s="{style}"' if style else ""
    tv = type(v)  # fast paths for the two common cell types (60k cells for 960 injections)
    if tv is float and math.isfinite(v):
        return f'<c r="{ref}"{st}><v>{v!r}</v></c>'
    if tv is str and v:
        text = escape(v, quote=False).replace("\x00", "")
        return f'<c r="{ref}"{st} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or v == "":
        return f'<c r="{ref}"{st}/>' if style else ""
    if isinstance(v, bool):
        return f'<c r="{ref}"{st} t="b"><v>{int(v)}</v></c>'
    if isinstance(v, int | float):
        return f'<c r="{ref}"{st}><v>{v!r}</v></c>'
    text = escape(str(v), quote=False).replace("\x00", "")
    return f'<c r="{ref}"{st} t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def sheet_xml(columns: Sequence[str], rows: Sequence[dict[str, Any]], widths: dict[str, int] | None = None,
              fills: Sequence[str | None] | None = None) -> str:
    """The XML of one worksheet: a bold frozen header row, then one row per dict."""
    letters = [_letter(i) for i in range(len(columns))]
    cols = "".join(
        f'<col min="{i + 1}" max="{i + 1}" width="{(widths or {}).get(c, max(10, min(40, len(c) + 4)))}" '
        f'customWidth="1"/>' for i, c in enumerate(columns))
    out = [f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_NS} {_REL_NS}>',
           '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
           'state="frozen"/></sheetView></sheetViews>',
           f"<cols>{cols}</cols><sheetData>",
           '<row r="1">' + "".join(_cell_xml(f"{L}1", c, 1) for L, c in zip(letters, columns, strict=True))
           + "</row>"]
    for k, r in enumerate(rows, 2):
        style = _STYLE_OF_FILL.get(fills[k - 2] if fills else None, 0)
        cells = "".join(_cell_xml(f"{L}{k}", r.get(c), style) for L, c in zip(letters, columns, strict=True))
        out.append(f'<row r="{k}">{cells}</row>')
    out.append("</sheetData></worksheet>")
    return "".join(out)


def _package(sheets: Sequence[tuple[str, str]]) -> dict[str, str]:
    n = len(sheets)
    ct = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
          '<Default Extension="xml" ContentType="application/xml"/>'
          '<Override PartName="/xl/workbook.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
          '<Override PartName="/xl/styles.xml" '
          'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
          + "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
                    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                    for i in range(1, n + 1))
          + "</Types>")
    rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="xl/workbook.xml"/></Relationships>')
    wb = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook {_NS} {_REL_NS}><sheets>'
          + "".join(f'<sheet name="{escape(name, quote=False)}" sheetId="{i}" r:id="rId{i}"/>'
                    for i, (name, _) in enumerate(sheets, 1))
          + "</sheets></workbook>")
    wb_rels = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               + "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                         f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
               + f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
               'relationships/styles" Target="styles.xml"/></Relationships>')
    parts = {"[Content_Types].xml": ct, "_rels/.rels": rels, "xl/workbook.xml": wb,
             "xl/_rels/workbook.xml.rels": wb_rels, "xl/styles.xml": _STYLES}
    for i, (_, xml) in enumerate(sheets, 1):
        parts[f"xl/worksheets/sheet{i}.xml"] = xml
    return parts


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

    sheets: list[tuple[str, str]] = []

    def _sheet(_wb: Any, title: str, columns: Sequence[str], rows: Sequence[dict[str, Any]],
               widths: dict[str, int] | None = None, fills: Sequence[str | None] | None = None) -> None:
        sheets.append((title, sheet_xml(columns, rows, widths, fills)))

    wb = None
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

    res = result_rows(batch.results) if rows is None else rows
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
    p = Path(path)
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, text in _package(sheets).items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            # level 1: a third of level 6's time (0.05 -> 0.02 s at 960 injections), 15 % larger
            z.writestr(info, text.encode("utf-8"), compresslevel=1)
    return p


__all__ = ["SHEETS", "sheet_xml", "write_xlsx"]
