"""Manual-integration override file: ``sample_id, analyte, start_min, end_min, reason``."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from thioquant.errors import InputError

COLUMNS = ("sample_id", "analyte", "start_min", "end_min", "reason")


@dataclass(frozen=True)
class Override:
    """One manual integration: boundaries in minutes and the analyst's reason."""

    sample_id: str
    analyte: str
    start_min: float
    end_min: float
    reason: str
    row: int = 0


def read_overrides(path: str | Path) -> dict[tuple[str, str], Override]:
    """Read a manual-integration CSV into ``{(sample_id, analyte): Override}``.

    Columns (header required, any order, extra columns ignored): ``sample_id``, ``analyte``,
    ``start_min``, ``end_min``, ``reason``. Blank lines and lines starting with ``#`` are skipped.

    Raises
    ------
    InputError
        With the file and row for a missing column, a non-numeric or non-finite time, an end not
        after its start, an empty reason or a duplicated (sample_id, analyte).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read override file: {exc.strerror or exc}", path=p) from exc
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return {}
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(f"override file lacks column(s) {', '.join(missing)}; "
                         f"expected {', '.join(COLUMNS)}", path=p, row=1)
    col = {c: header.index(c) for c in COLUMNS}
    out: dict[tuple[str, str], Override] = {}
    for rownum, rec in enumerate(reader, start=2):
        if len(rec) < len(header):
            rec = rec + [""] * (len(header) - len(rec))
        vals = {c: rec[i].strip() for c, i in col.items()}
        if not vals["sample_id"] or not vals["analyte"]:
            raise InputError("sample_id and analyte must not be empty", path=p, row=rownum)
        times = []
        for c in ("start_min", "end_min"):
            try:
                v = float(vals[c])
            except ValueError:
                raise InputError(f"{c} '{vals[c]}' is not a number", path=p, row=rownum) from None
            if not math.isfinite(v) or v < 0:
                raise InputError(f"{c} must be a finite time >= 0, got '{vals[c]}'", path=p,
                                 row=rownum)
            times.append(v)
        if not times[1] > times[0]:
            raise InputError(f"end_min ({times[1]:g}) must be after start_min ({times[0]:g})",
                             path=p, row=rownum)
        if not vals["reason"]:
            raise InputError("reason must not be empty (it goes into the audit trail)", path=p,
                             row=rownum)
        key = (vals["sample_id"], vals["analyte"])
        if key in out:
            raise InputError(f"duplicate override for sample '{key[0]}', analyte '{key[1]}' "
                             f"(first on row {out[key].row})", path=p, row=rownum)
        out[key] = Override(key[0], key[1], times[0], times[1], vals["reason"], rownum)
    return out
