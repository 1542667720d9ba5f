"""Tabular outputs: ``results.csv`` and ``calibration.json``.

Numbers are formatted deterministically so that the same inputs give byte-identical files. Text
cells that a spreadsheet would run as a formula are neutralised (:mod:`thioquant.csvcell`).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from thioquant.csvcell import safe_cell
from thioquant.flags import describe
from thioquant.model import Result

RESULT_COLUMNS = [
    "injection", "sample_id", "sample_type", "level", "analyte", "patient_id", "file", "rt_min",
    "area", "is_area", "response", "sn", "conc", "conc_low", "conc_high", "conc_unit", "reported",
    "reported_low", "reported_high", "reported_unit", "nominal", "accuracy_pct", "method_family",
    "flags", "flag_messages",
]


def fmt(v: Any, digits: int = 6) -> str:
    """Deterministic text for a number: '' for NaN/None, ``digits`` significant digits."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        return format(v, f".{digits}g")
    return str(v)


def result_rows(results: Iterable[Result],
                notes: Mapping[tuple[str, str, str], str] | None = None) -> list[dict[str, Any]]:
    """Results as plain dicts with the ``results.csv`` columns (numbers kept as numbers).

    ``notes``: ``(sample_id, analyte, flag) -> text`` appended to ``flag_messages`` of a result
    carrying that flag (:func:`decision_notes`: who excluded or included a calibrator, and why)."""
    rows = []
    for r in results:
        d = {c: getattr(r, c, "") for c in RESULT_COLUMNS if c not in ("flags", "flag_messages")}
        d["flags"] = ";".join(r.flags)
        d["flag_messages"] = describe(r.flags)
        if notes:
            extra = [notes[k] for k in ((r.sample_id, r.analyte, f) for f in r.flags) if k in notes]
            if extra:
                d["flag_messages"] = "; ".join([d["flag_messages"], *extra])
        rows.append(d)
    return rows


def decision_notes(batch: Any) -> dict[tuple[str, str, str], str]:
    """What the results table says of each calibrator decision in force: ``(sample_id, analyte,
    flag) -> 'excluded by <who>: <reason>'`` for ``CAL_EXCLUDED`` and ``'included by <who>:
    <reason>'`` for ``CAL_HELD_INCLUDED``, ``<who>`` being the reviewer or the decisions file's
    row (with its signed version) that decided it."""
    notes = {}
    for flag, verb, decided in (("CAL_EXCLUDED", "excluded", getattr(batch, "exclusions", ())),
                                ("CAL_HELD_INCLUDED", "included", getattr(batch, "inclusions", ()))):
        for d in decided:
            notes[(str(d["sample_id"]), str(d["analyte"]), flag)] = \
                f"{verb} by {d.get('source') or 'reviewer'}: {d['reason']}"
    return notes


def batch_rows(batch: Any) -> list[dict[str, Any]]:
    """:func:`result_rows` of a batch, with its calibrator decisions' notes."""
    return result_rows(batch.results, decision_notes(batch))


def results_csv(results: Sequence[Result], rows: Sequence[Mapping[str, Any]] | None = None) -> str:
    """The text of ``results.csv``: one row per sample and analyte (``rows``: ``result_rows`` of
    ``results`` when already built, as the writer shares them between outputs)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(RESULT_COLUMNS)
    for row in result_rows(results) if rows is None else rows:
        w.writerow([safe_cell(fmt(row[c])) for c in RESULT_COLUMNS])
    return buf.getvalue()


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def calibration_json(method: Any, calibrations: Mapping[str, Any]) -> str:
    """The text of ``calibration.json``: per analyte the model, coefficients and back-calculation."""
    doc = {
        "method": method.name,
        "method_file": method.source,
        "method_sha256": method.sha256,
        "conc_unit": method.conc_unit,
        "analytes": {
            name: (None if outcome is None else outcome.as_dict()) for name, outcome in calibrations.items()
        },
    }
    return json.dumps(_clean(doc), indent=2, sort_keys=False) + "\n"


def table_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Generic CSV text with deterministic number formatting and formula-safe text cells."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([safe_cell(fmt(r.get(c))) for c in columns])
    return buf.getvalue()
