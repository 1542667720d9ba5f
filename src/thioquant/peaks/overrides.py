"""Manual-integration override file: ``sample_id, analyte, start_min, end_min, reason``.

The same file may hold a reviewer's calibrator decisions in rows with an ``action`` column
(``exclude_calibrator``, ``include_calibrator``); those belong to the calibration, not to the
peaks, and are read by :func:`thioquant.assay.decisions.read_decisions`, which uses the row reader
and the row check below for its ``integrate`` rows.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from thioquant.csvcell import FORMULA_START
from thioquant.errors import InputError

COLUMNS = ("sample_id", "analyte", "start_min", "end_min", "reason")
#: optional column; empty means a manual integration (the only action of an override file)
ACTION_COLUMN = "action"
INTEGRATE = "integrate"


@dataclass(frozen=True)
class Override:
    """One manual integration: boundaries in minutes and the analyst's reason."""

    sample_id: str
    analyte: str
    start_min: float
    end_min: float
    reason: str
    row: int = 0


def _unescape(cell: str) -> str:
    """A cell as written: the apostrophe thioquant's CSV writers put before a cell a spreadsheet
    would run as a formula (:func:`thioquant.csvcell.safe_cell`) is taken off again."""
    if cell.startswith("'") and cell[1:].startswith(FORMULA_START):
        return cell[1:]
    return cell


def read_override_rows(path: str | Path, required: Sequence[str] = COLUMNS, *, data: bytes | None = None
                       ) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header (lower-cased column names) and the data rows of an override file, each as
    ``(row number, {column: stripped value})``.

    The header is required (any column order, names case-insensitive; extra columns are kept);
    blank lines and lines starting with ``#`` are skipped; row numbers count the header as row 1.
    A cell written by thioquant with an apostrophe before a leading ``=``, ``+``, ``-``, ``@``
    (formula-injection guard) is read without it. ``data``: the file's bytes, already read (so
    that what is parsed is what the caller hashed); ``path`` then only names the file in errors.

    Raises
    ------
    InputError
        The file cannot be read, or lacks one of the ``required`` columns.
    """
    p = Path(path)
    try:
        if data is None:
            data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read override file: {exc.strerror or exc}", path=p) from exc
    text = data.decode("utf-8-sig")  # bytes, not text mode: a quoted '\r' stays in its cell
    # the csv module reads the whole text, so a quoted reason may hold a line break
    records = [rec for rec in csv.reader(io.StringIO(text))
               if any(c.strip() for c in rec) and not rec[0].lstrip().startswith("#")]
    if not records:
        return [], []
    header = [h.strip().lower() for h in records[0]]
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"override file lacks column(s) {', '.join(missing)}; "
                         f"expected {', '.join(COLUMNS)}", path=p, row=1)
    out = []
    for rownum, rec in enumerate(records[1:], start=2):
        if len(rec) < len(header):
            rec = rec + [""] * (len(header) - len(rec))
        vals: dict[str, str] = {}
        for i, name in enumerate(header):
            vals.setdefault(name, _unescape(rec[i].strip()))  # a repeated column: its first occurrence
        out.append((rownum, vals))
    return header, out


def parse_override(vals: Mapping[str, str], path: str | Path, row: int) -> Override:
    """Check one manual-integration row (``sample_id, analyte, start_min, end_min, reason``).

    Raises
    ------
    InputError
        With the file and row for an empty sample_id or analyte, a non-numeric, negative or
        non-finite time, an end not after its start, or an empty reason.
    """
    sid, analyte = vals.get("sample_id", ""), vals.get("analyte", "")
    if not sid or not analyte:
        raise InputError("sample_id and analyte must not be empty", path=path, row=row)
    times = []
    for c in ("start_min", "end_min"):
        raw = vals.get(c, "")
        try:
            v = float(raw)
        except ValueError:
            raise InputError(f"{c} '{raw}' is not a number", path=path, row=row) from None
        if not math.isfinite(v) or v < 0:
            raise InputError(f"{c} must be a finite time >= 0, got '{raw}'", path=path, row=row)
        times.append(v)
    if not times[1] > times[0]:
        raise InputError(f"end_min ({times[1]:g}) must be after start_min ({times[0]:g})", path=path, row=row)
    if not vals.get("reason", ""):
        raise InputError("reason must not be empty (it goes into the audit trail)", path=path, row=row)
    return Override(sid, analyte, times[0], times[1], vals["reason"], row)


def read_overrides(path: str | Path) -> dict[tuple[str, str], Override]:
    """Read a manual-integration CSV into ``{(sample_id, analyte): Override}``.

    Columns (header required, any order, extra columns ignored): ``sample_id``, ``analyte``,
    ``start_min``, ``end_min``, ``reason``, and optionally ``action`` (empty or ``integrate``).
    Blank lines and lines starting with ``#`` are skipped.

    Raises
    ------
    InputError
        With the file and row for a missing column, a non-numeric or non-finite time, an end not
        after its start, an empty reason, a duplicated (sample_id, analyte), or a row whose
        ``action`` is not a manual integration (a calibrator decision: read such a file with
        :func:`thioquant.assay.decisions.read_decisions`, which ``quantify --overrides`` uses).
    """
    out: dict[tuple[str, str], Override] = {}
    for rownum, vals in read_override_rows(path)[1]:
        action = vals.get(ACTION_COLUMN, "").lower()
        if action not in ("", INTEGRATE):
            raise InputError(f"action '{vals[ACTION_COLUMN]}' is not a manual integration; a file with "
                             "calibrator decisions is read by thioquant.assay.decisions.read_decisions "
                             "(as quantify --overrides does)", path=path, row=rownum)
        add_override(out, parse_override(vals, path, rownum), path)
    return out


def add_override(out: dict[tuple[str, str], Override], ov: Override, path: str | Path) -> None:
    """Put ``ov`` into ``out``; a second manual integration of a (sample_id, analyte) is refused."""
    key = (ov.sample_id, ov.analyte)
    if key in out:
        raise InputError(f"duplicate manual integration for sample '{key[0]}', analyte '{key[1]}' "
                         f"(first on row {out[key].row})", path=path, row=ov.row)
    out[key] = ov
