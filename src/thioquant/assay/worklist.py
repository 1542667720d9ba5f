"""Batch worklists (``worklist.csv``): which file is which sample, in injection order.

Columns: ``sample_id``, ``file``, ``sample_type`` (blank | zero | calibrator | qc | unknown) are
required; ``level`` (for calibrators and QCs), ``rbc_count`` (10^12 cells/L of the aliquoted
suspension; required for unknowns reported per RBC, or else ``hct`` (fraction) and ``mcv_fl`` of
that suspension, giving Hct / MCV), ``dilution`` (default 1; outside the method's plausible range
``BAD_DILUTION``), ``patient_id`` and
any clinical-context columns are optional. Row problems never abort the batch: each becomes a
flag on that row with a message naming the file, row and reason; a row whose values cannot be
trusted is kept and flagged but not ``usable``, so it is never quantified. Only a worklist that
cannot be read at all raises :class:`~thioquant.errors.InputError`: missing file, missing required
column, a ``level`` column missing while calibrator/QC rows need it, or an unterminated quote
(a quoted value running over a line break, which would swallow the rows after it).

Every row must have exactly one value per header column (``BAD_ROW`` otherwise: a surplus value is
usually an unquoted decimal comma, a missing one a dropped separator; either way values may sit in
the wrong columns). A row whose first value starts with ``#`` is a comment: skipped, and reported in
the messages (``COMMENT_ROW``). Every row sharing a ``sample_id`` is flagged ``DUPLICATE_ID`` (still
processed; later ones renamed ``<id>#row<n>``), and every row naming the same raw file is flagged
``DUPLICATE_FILE`` and not used. A raw file named by an absolute path or a relative path leading out
of the batch folder is quantified as usual and reported in the messages (``OUTSIDE_BATCH``): the
batch folder then does not hold all its raw data. A duplicate id or file gives one message listing
its rows, on the first of them. ``max_rows`` refuses a worklist longer than a limit (``quantify``:
:data:`MAX_ROWS`, 5,000 rows, unless ``--large``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from types import MappingProxyType
from typing import Any

from thioquant.errors import InputError

SAMPLE_TYPES = ("blank", "zero", "calibrator", "qc", "unknown")
REQUIRED = ("sample_id", "file", "sample_type")
KNOWN = (*REQUIRED, "level", "rbc_count", "hct", "mcv_fl", "dilution", "patient_id", "injection")
# Flags that make an entry's values untrustworthy: it is listed and flagged but never quantified.
UNUSABLE = frozenset({"BAD_TYPE", "BAD_LEVEL", "BAD_DILUTION", "BAD_ROW", "DUPLICATE_FILE"})
# Default plausible dilution factor (the method's normalisation.dilution_min/dilution_max default to
# it). Below 1 the sample would have been concentrated, which is sample preparation common to every
# sample, not a per-row factor: 0.1 is usually "1:10" inverted and would report a tenth of the value.
# Samples above the ULOQ need a few-fold to about 1:10 (6-MMPN in shunters); 100 leaves an order of
# magnitude for a lab's validated dilution, while 10^6 (a count or an id in the wrong column) would
# report a million times the value.
DILUTION_RANGE = (1.0, 100.0)
#: default limit of injection rows in a worklist that ``quantify`` accepts without ``--large``
MAX_ROWS = 5000


@dataclass(frozen=True)
class RowIssue:
    """A problem with one worklist row: flag code plus a message naming file and row."""

    row: int
    sample_id: str
    code: str
    message: str


@dataclass(frozen=True)
class WorklistEntry:
    """One injection. ``row`` is the 1-based line number in the CSV (header = line 1)."""

    row: int
    injection: int
    sample_id: str
    file: str
    sample_type: str
    level: str = ""
    rbc_count: float = math.nan
    dilution: float = 1.0
    patient_id: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        """False when the row's values cannot be trusted (a flag in :data:`UNUSABLE`): unknown type,
        undefined level, bad dilution, values that may sit in the wrong columns (``BAD_ROW``) or a
        raw file another row also names (``DUPLICATE_FILE``)."""
        return not (UNUSABLE & set(self.flags))


@dataclass(frozen=True)
class Worklist:
    path: str
    entries: tuple[WorklistEntry, ...]
    issues: tuple[RowIssue, ...]


def _number(text: str) -> float | None:
    t = text.strip().replace(",", ".") if text.count(",") == 1 and "." not in text else text.strip()
    try:
        v = float(t)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _records(text: str, delimiter: str, path: Path) -> list[tuple[int, list[str]]]:
    """CSV records with the line each starts on (a quoted field could span lines; none may)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    out: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for values in reader:
            if any("\n" in v for v in values):
                # Worklist fields never hold a line break: this is a quote that was never closed,
                # and the csv module has swallowed every following line into one field.
                raise InputError(
                    "unterminated quote: a quoted value opened on this row runs over the line end "
                    f"(up to line {reader.line_num}); close the quote or remove it",
                    path=path, row=start,
                )
            out.append((start, values))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", path=path, row=start) from None
    return out


def _misaligned(n_values: int, n_columns: int, delimiter: str) -> str:
    """Reason for a row whose value count differs from the header's column count."""
    sep = {",": "comma", ";": "semicolon", "\t": "tab"}.get(delimiter, repr(delimiter))
    if n_values > n_columns:
        cause = f"probably an unquoted {sep} inside a value"
        if delimiter == ",":
            cause += " (e.g. a decimal comma such as 4,6: write 4.6 or quote it)"
    else:
        cause = f"a value or its {sep} is missing (an empty value still needs its {sep})"
    return (f"{n_values} values for {n_columns} columns: {cause}; values may be in the wrong columns, "
            "so the row is not used")


def _rows(lines: list[int]) -> str:
    """'3, 7, 10-9999': each row once, runs of three or more consecutive rows as a range."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        j = i
        while j + 1 < len(lines) and lines[j + 1] == lines[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{lines[i]}-{lines[j]}")
        else:
            out.extend(str(n) for n in lines[i : j + 1])
        i = j + 1
    return ", ".join(out)


def _file_key(worklist: Path, name: str) -> str:
    """A raw file as the batch sees it: absolute, normalised, case kept. Absolute, so that
    ``raw/x.mzML`` and ``/data/batch/raw/x.mzML`` are one file whether the batch folder was given
    as a relative or an absolute path."""
    return os.path.normpath(os.path.join(os.path.abspath(worklist.parent), name))


def _outside_batch(name: str, batch: Path | None = None) -> str | None:
    """Why raw file ``name`` (as written in the worklist) lies outside the batch folder, or None.

    Judged on the text, as written for any system (``C:\\raw``, ``\\\\server\\share``, ``/mnt``):
    a symbolic link inside the batch folder is the lab's own arrangement and is not followed. An
    absolute path into the batch folder itself (``batch``) is inside it.
    """
    if os.path.isabs(name) or name.startswith(("/", "\\")) or PureWindowsPath(name).anchor:
        if batch is not None and os.path.isabs(name):
            inside = os.path.normpath(name)
            root = os.path.abspath(batch)
            with contextlib.suppress(ValueError):  # different drives: not inside
                if os.path.commonpath([inside, root]) == root:
                    return None
        return "absolute path"
    if posixpath.normpath(name.replace("\\", "/")).split("/")[0] == "..":
        return "relative path leading out of the batch folder"
    return None


def read_worklist(
    path: str | Path,
    *,
    calibrator_levels: set[str] | None = None,
    qc_levels: set[str] | None = None,
    rbc_range: tuple[float, float] = (1.0, 8.0),
    require_rbc: bool = True,
    dilution_range: tuple[float, float] = DILUTION_RANGE,
    max_rows: int | None = None,
) -> Worklist:
    """Read and check a worklist.

    Parameters
    ----------
    path : path of the CSV (comma, semicolon or tab separated; UTF-8, BOM allowed).
    calibrator_levels, qc_levels : levels the method defines; other levels are flagged ``BAD_LEVEL``.
    rbc_range : plausible RBC count (10^12/L) of the aliquoted suspension; outside it ``BAD_RBC``.
    require_rbc : whether unknowns need an RBC count (``NO_RBC`` otherwise).
    dilution_range : plausible dilution factor; outside it ``BAD_DILUTION`` (the row is not used).
    max_rows : refuse (InputError) a worklist with more injection rows than this; None: no limit.
        A batch is tens to a few hundred injections; a larger worklist is more often a paste gone
        wrong than a run (``quantify`` allows :data:`MAX_ROWS` unless told ``--large``).
    """
    p = Path(path)
    try:
        if p.exists() and not p.is_file() and not p.is_dir():  # a FIFO would block the read for ever
            raise InputError("worklist is not a regular file (a FIFO or device)", path=p)
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError("worklist not found", path=p) from None
    except OSError as exc:
        raise InputError(f"cannot read worklist ({exc.strerror or exc})", path=p) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"worklist is not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                         "(saved as Latin-1/Windows-1252? save it as UTF-8)", path=p, row=line) from None
    if not text.strip():
        raise InputError("worklist is empty", path=p)
    if "\x00" in text:
        raise InputError("worklist contains NUL bytes: not a text CSV", path=p)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = _records(text, delimiter, p)
    header = [h.strip().lower() for h in rows[0][1]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)} (have: {', '.join(header)})", path=p, row=1
        )
    dup_cols = {h for h in header if header.count(h) > 1 and h}
    if dup_cols:
        raise InputError(f"duplicate column {sorted(dup_cols)[0]!r}", path=p, row=1)

    issues: list[RowIssue] = []
    records: list[tuple[int, list[str], dict[str, str]]] = []
    for lineno, values in rows[1:]:
        if not any(v.strip() for v in values):
            continue
        if values[0].lstrip().startswith("#"):
            # Documented comment rule; reported so a commented-out injection never vanishes unseen.
            # The text itself is not quoted: it may hold patient identifiers that pseudonymisation
            # would not know to replace.
            issues.append(RowIssue(lineno, "", "COMMENT_ROW",
                                   f"{p}: row {lineno}: comment row (first value starts with '#') skipped"))
            continue
        rec = {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)}
        records.append((lineno, values, rec))

    if max_rows is not None and len(records) > max_rows:
        raise InputError(f"worklist has {len(records):,} injection rows, more than the limit of {max_rows:,}; "
                         "if the batch is really that large, quantify it with --large (or --max-rows N)",
                         path=p)

    if "level" not in header:
        # Without it every calibrator and QC would be BAD_LEVEL and the run would fail later with
        # "fewer than 2 calibrators", which hides the cause.
        need = [n for n, _, rec in records if rec["sample_type"].lower() in ("calibrator", "qc")]
        if need:
            raise InputError(
                f"missing column 'level': {len(need)} calibrator/QC row(s) need it (first at row {need[0]})",
                path=p, row=1,
            )

    # Whole-worklist checks first, so every row sharing an id or a file is flagged, not only the later ones.
    by_id: dict[str, list[int]] = {}
    by_file: dict[str, list[int]] = {}
    for lineno, _, rec in records:
        if rec["sample_id"]:
            by_id.setdefault(rec["sample_id"], []).append(lineno)
        if rec["file"]:
            by_file.setdefault(_file_key(p, rec["file"]), []).append(lineno)

    entries: list[WorklistEntry] = []
    for injection, (lineno, values, rec) in enumerate(records, start=1):
        flags: list[str] = []

        def flag(code: str, reason: str, rec: dict[str, str] = rec, lineno: int = lineno, flags: list[str] = flags,
                 say: bool = True) -> None:
            flags.append(code)
            if say:
                issues.append(RowIssue(lineno, rec.get("sample_id", ""), code, f"{p}: row {lineno} ({rec.get('sample_id') or 'no sample_id'}): {reason}"))

        misaligned = len(values) != len(header)
        if misaligned:
            flag("BAD_ROW", _misaligned(len(values), len(header), delimiter))

        sid = rec["sample_id"]
        if not sid:
            sid = f"row{lineno}"
            flag("NO_SAMPLE_ID", f"empty sample_id; named {sid!r} after its row")
        else:
            same = by_id[sid]
            if len(same) > 1:
                # one message per id, on its first row: one per row, each listing every row, grew
                # with the square of the rows (10,000 rows: 2.3 GB of messages)
                first = lineno == same[0]
                flag("DUPLICATE_ID", f"duplicate sample_id {sid!r}, used by {len(same)} rows ({_rows(same)}); "
                     f"rows after the first are renamed <id>#row<n>" if first else "", say=first)
                if lineno != same[0]:
                    sid = f"{sid}#row{lineno}"
        stype = rec["sample_type"].lower()
        if stype not in SAMPLE_TYPES:
            flag("BAD_TYPE", f"unknown sample_type {rec['sample_type']!r} (expected one of {', '.join(SAMPLE_TYPES)})")
        level = rec.get("level", "")
        if stype == "calibrator" and calibrator_levels is not None and level not in calibrator_levels:
            flag("BAD_LEVEL", f"calibrator level {level!r} is not defined in the method ({', '.join(sorted(calibrator_levels))})")
        if stype == "qc" and qc_levels is not None and level not in qc_levels:
            flag("BAD_LEVEL", f"QC level {level!r} is not defined in the method ({', '.join(sorted(qc_levels))})")
        if not rec["file"]:
            flag("MISSING_FILE", "no raw file named")
        else:
            same = by_file[_file_key(p, rec["file"])]
            if len(same) > 1:
                first = lineno == same[0]
                flag("DUPLICATE_FILE", f"raw file {rec['file']!r} is named by {len(same)} rows ({_rows(same)}): "
                     "one file is one injection, so at least one row names the wrong file; none of them is used"
                     if first else "", say=first)
            why = _outside_batch(rec["file"], p.parent)
            if why:
                # Legitimate (a shared raw-data drive), so a message, not a flag on the result: the
                # reviewer learns the batch folder is not self-contained; the audit trail hashes the file.
                issues.append(RowIssue(lineno, rec["sample_id"], "OUTSIDE_BATCH",
                                       f"{p}: row {lineno} ({rec['sample_id'] or 'no sample_id'}): raw file "
                                       f"{rec['file']!r} is outside the batch folder ({why}): quantified, "
                                       "but the batch folder alone does not hold its raw data"))

        dilution = 1.0
        if rec.get("dilution", ""):
            d = _number(rec["dilution"])
            lo, hi = dilution_range
            if d is None or d <= 0:
                flag("BAD_DILUTION", f"dilution {rec['dilution']!r} is not a positive number")
            elif d < lo:
                flag("BAD_DILUTION", f"dilution {rec['dilution']} is below the plausible minimum {lo:g}: a factor "
                     "below 1 concentrates the sample (write 1:10 as 10, not 0.1); the row is not used")
            elif d > hi:
                flag("BAD_DILUTION", f"dilution {rec['dilution']} is above the plausible maximum {hi:g} (method "
                     "normalisation.dilution_max); the row is not used")
            else:
                dilution = d

        rbc = math.nan
        rbc_text = rec.get("rbc_count", "")
        hct_text, mcv_text = rec.get("hct", ""), rec.get("mcv_fl", "")
        source = "rbc_count"
        r: float | None = None
        if rbc_text:
            r = _number(rbc_text)
            if r is None:
                flag("BAD_RBC", f"rbc_count {rbc_text!r} is not a number")
        elif hct_text or mcv_text:
            # the count from the suspension's haematocrit and MCV: Hct / MCV[L]
            source = f"Hct {hct_text or '?'} and MCV {mcv_text or '?'} fL"
            hct, mcv = _number(hct_text), _number(mcv_text)
            if hct is None or mcv is None:
                flag("BAD_RBC", f"{source}: both hct (fraction) and mcv_fl are needed as numbers")
            elif not (0 < hct <= 1 and mcv > 0):
                flag("BAD_RBC", f"{source}: hct must be a fraction in (0, 1] (0.42, not 42) and "
                     "mcv_fl positive")
            else:
                r = hct / mcv * 1000.0  # 10^12/L
        elif stype == "unknown" and require_rbc:
            flag("NO_RBC", "rbc_count (or hct and mcv_fl) missing for a patient sample; result will "
                 "not be normalised")
        if r is not None:
            if not rbc_range[0] <= r <= rbc_range[1]:
                flag("BAD_RBC", f"{'rbc_count ' if source == 'rbc_count' else ''}{r:.3g} x10^12/L"
                     f"{'' if source == 'rbc_count' else ' from ' + source} is outside the "
                     f"plausible range {rbc_range[0]:g}-{rbc_range[1]:g}")
            else:
                rbc = r

        # a misaligned row's clinical context is as doubtful as its numbers: not passed on
        extra = {} if misaligned else {k: v for k, v in rec.items() if k not in KNOWN and v}
        entries.append(
            WorklistEntry(
                row=lineno,
                injection=injection,
                sample_id=sid,
                file=rec["file"],
                sample_type=stype,
                level=level,
                rbc_count=rbc,
                dilution=dilution,
                patient_id=rec.get("patient_id", ""),
                extra=MappingProxyType(extra),
                flags=tuple(flags),
            )
        )
    if not entries:
        raise InputError("worklist has a header but no rows", path=p)
    issues.sort(key=lambda i: i.row)  # comment rows were reported in a first pass
    return Worklist(str(p), tuple(entries), tuple(issues))


def write_worklist(path: str | Path, rows: list[Mapping[str, Any]], columns: list[str]) -> None:
    """Write a worklist CSV with the given column order (used by the simulator)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
