"""Thermo Chromeleon result tables exported as text: the "Calibration" sheet of one compound
(per injection: calibration level, amount, area, height) and the "Summary" sheet of a sequence
(per injection and compound: the back-calculated amount).

They are not chromatograms: :func:`read_chromeleon_results` returns a
:class:`~thioquant.model.Run` without traces whose ``reference_peaks`` are the vendor's peaks
(area and height per injection, ``ReferencePeak.injection`` naming it; Chromeleon prints no
retention time in these sheets, so ``rt_min`` is NaN) and whose metadata holds the sequence details
and every row of the table (``metadata["results"]``), so they can be set beside thioquant's own
integration of the chromatogram exports of the same sequence.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from thioquant.errors import InputError
from thioquant.io._common import check_path, decode_text
from thioquant.model import ReferencePeak, Run

_NA = ("", "n.a.", "n.a", "-", "---")
_HEADER_FIRST = ("no.", "sample name", "injection name", "no")
_QUANTITIES = ("amount", "concentration", "area", "height", "rel.area", "rel.height", "retention time",
               "ret.time", "width")


def looks_like_results(text: str) -> bool:
    """True for the first lines of a Chromeleon Calibration or Summary text export."""
    low = text.lstrip("\ufeff").lower()
    first = low.split("\n", 1)[0].split("\t")[0].strip()
    return first in ("calibration", "summary") and (
        "calibration results" in low or "sequence details" in low or "\nsample name\t" in low)


def _num(text: str) -> float:
    t = text.strip()
    if t.lower() in _NA:
        return math.nan
    return float(t)


def read_chromeleon_results(path: str | Path) -> Run:
    """Read a Chromeleon Calibration or Summary table (tab-separated text export).

    Returns
    -------
    Run
        No traces; ``reference_peaks`` with the area (``area_unit`` as printed, e.g. mAU*min) and
        height of every injection of a Calibration sheet; ``metadata``: ``sheet`` (Calibration or
        Summary), the key/value details above the table (sequence name, calibration type...),
        ``columns`` and ``results`` (one dict per table cell row: ``injection``, ``compound``,
        ``channel`` and the quantities with their units).

    Raises
    ------
    InputError
        The file has no result table, or a row holds text where the table has numbers (naming
        the row).
    """
    p = check_path(path)
    lines = decode_text(p.read_bytes(), p).lstrip("\ufeff").splitlines()
    cells = [ln.split("\t") for ln in lines]
    if not cells or not looks_like_results("\n".join(lines[:80])):
        raise InputError("not a Chromeleon Calibration or Summary table", path=p)
    sheet = cells[0][0].strip()
    meta: dict[str, Any] = {"sheet": sheet}
    hdr = next((i for i, c in enumerate(cells) if c[0].strip().lower() in _HEADER_FIRST
                and sum(1 for x in c if x.strip()) >= 2), None)
    if hdr is None:
        raise InputError(f"Chromeleon {sheet} sheet without a result table (no 'No.' or 'Sample Name' row)",
                         path=p)
    for c in cells[1:hdr]:  # key/value details: "Calibration Type", "", "Lin", "", "", "Cal mode"...
        tokens = [x.strip() for x in c if x.strip()]
        for key, val in zip(tokens[::2], tokens[1::2], strict=False):
            meta.setdefault(key.rstrip(":"), val)
    names = [x.strip() for x in cells[hdr]]
    width = len(names)
    units = [""] * width
    compounds = [""] * width
    channels = [""] * width
    common_unit = ""
    i = hdr + 1
    sub = named = 0
    while i < len(cells) and (not cells[i][0].strip() or cells[i][0].strip().lower().startswith("unit:")):
        c = [x.strip() for x in cells[i]] + [""] * width
        if not any(c):
            break
        if c[0].lower().startswith("unit:"):
            common_unit = c[0].split(":", 1)[1].strip()
        elif sub == 0 and any(re.search(r"[*/%]|^(mau|mg|ug|ng|min|s|level)$", x.lower()) for x in c if x):
            for j in range(width):  # units of the quantities; the rest of two-line names ("Level")
                if not c[j]:
                    continue
                if names[j].lower() in _QUANTITIES:
                    units[j] = c[j]
                else:
                    names[j] = f"{names[j]} {c[j]}".strip()
        elif not named:  # the compound of each column, then its channel (UV_VIS_2)
            compounds = c[:width]
            named = 1
        else:
            channels = c[:width]
        sub += 1
        i += 1
    quantity_cols = [j for j in range(1, width) if names[j].lower().rstrip() in _QUANTITIES]
    if not quantity_cols:
        raise InputError(f"Chromeleon {sheet} table has no Amount, Concentration, Area or Height column",
                         path=p)
    inj_col = next((j for j, n in enumerate(names) if n.lower() in ("injection name", "sample name")), 0)
    results: list[dict[str, Any]] = []
    peaks: list[ReferencePeak] = []
    for k in range(i, len(cells)):
        c = [x.strip() for x in cells[k]] + [""] * width
        if not any(c[:width]):
            if results:
                break  # the table ends at the first empty row
            continue
        row: dict[str, Any] = {"injection": c[inj_col]}
        for j, n in enumerate(names):
            if j == inj_col or not n:
                continue
            if j in quantity_cols:
                try:
                    value = _num(c[j])
                except ValueError:
                    raise InputError(f"row {k + 1}, column '{n}': not a number: {c[j]!r}", path=p) from None
                key = n.lower() if sheet.lower() == "calibration" else f"{compounds[j] or n} ({channels[j]})"
                row[key] = value
            else:
                row[n.lower()] = c[j]
        results.append(row)
        if sheet.lower() == "calibration":
            area_j = next((j for j in quantity_cols if names[j].lower() == "area"), None)
            height_j = next((j for j in quantity_cols if names[j].lower() == "height"), None)
            if area_j is not None:
                area = row["area"]
                height = row.get("height", math.nan) if height_j is not None else math.nan
                if math.isfinite(area) or math.isfinite(height):
                    peaks.append(ReferencePeak(
                        rt_min=math.nan, area=area, height=height, name=compounds[area_j],
                        trace=channels[area_j], area_unit=units[area_j], injection=c[inj_col]))
    if not results:
        raise InputError(f"Chromeleon {sheet} table has no data rows", path=p)
    if sheet.lower() == "calibration":
        meta["compound"] = next((x for x in compounds if x), "")
        meta["channel"] = next((x for x in channels if x), "")
    meta["units"] = {names[j]: (units[j] or common_unit) for j in quantity_cols} if sheet.lower() == "calibration" \
        else {"amount": common_unit}
    meta["results"] = results
    return Run(traces=(), source=str(p), format="chromeleon_results", metadata=meta,
               reference_peaks=tuple(peaks))


__all__ = ["looks_like_results", "read_chromeleon_results"]
