"""The reviewer-decisions file: manual integrations and calibrator exclusions/inclusions.

One CSV that ``thioquant quantify --overrides`` reads and that a signed review version writes
(``OUT/versions/vN/overrides.csv``), so that a version can be reproduced from its files with the
command line. It extends the manual-integration file of :mod:`thioquant.peaks.overrides` (whose
files keep working unchanged) by an optional ``action`` column:

================== ===================== ======================================================
action             start_min, end_min    effect
================== ===================== ======================================================
``integrate``      required              manual integration (the default when the column or
                                         the cell is empty)
exclude_calibrator empty                 the calibrator is left out of the analyte's fit, with
                                         ``excluded by decisions file <path> row <n> (...):
                                         <reason>``
include_calibrator empty                 a calibrator set aside for a held integration
                                         (``CAL_HELD``) enters the fit (``CAL_HELD_INCLUDED``)
================== ===================== ======================================================

A calibrator decision read from a file says where it came from (:meth:`Decisions.source`): the
file, its row, and, for a signed review version's ``versions/vN/overrides.csv`` that is still the
file the version sealed (its sha256 in the version's ``audit.jsonl``), the version and who reviewed
and authorised it (:func:`signed_version`). A reviewer's own decision in ``thioquant review`` keeps
``excluded by reviewer: <reason>``.

The calibrator decisions are calibration-level, so they live here and not in the peak layer;
this module composes the peak layer's row reader and row check for the ``integrate`` rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thioquant.csvcell import safe_cell
from thioquant.errors import InputError
from thioquant.peaks.overrides import (
    ACTION_COLUMN,
    COLUMNS,
    INTEGRATE,
    Override,
    add_override,
    parse_override,
    read_override_rows,
)

EXCLUDE = "exclude_calibrator"
INCLUDE = "include_calibrator"
ACTIONS = (INTEGRATE, EXCLUDE, INCLUDE)
#: the columns a signed version writes (any order is read); ``action`` first, so that no written
#: row starts with a sample id a reader would take for a ``#`` comment
WRITTEN_COLUMNS = ("action", "sample_id", "analyte", "start_min", "end_min", "reason")

Key = tuple[str, str]


@dataclass(frozen=True)
class CalibratorDecision:
    """A reviewer's exclusion or inclusion of one calibrator for one analyte, with its reason."""

    sample_id: str
    analyte: str
    action: str  # EXCLUDE or INCLUDE
    reason: str
    row: int = 0


@dataclass(frozen=True)
class SignedVersion:
    """The signed review version a decisions file was released in (``OUT/versions/vN``)."""

    version: str
    #: the version's ``signature`` entries: user, full_name, role, meaning, time
    signatures: tuple[Mapping[str, Any], ...] = ()

    def text(self) -> str:
        """``signed version v1: reviewed by Alice Analyst (alice) 2026-12-05T07:01:02Z, authorised by ...``"""
        said = []
        for s in self.signatures:
            who = str(s.get("user", ""))
            name = str(s.get("full_name") or who)
            label = f"{name} ({who})" if name != who else who
            when = str(s.get("time", ""))
            said.append(f"{s.get('meaning', 'signed')} by {label}" + (f" {when}" if when else ""))
        return f"signed version {self.version}" + (": " + ", ".join(said) if said else "")


@dataclass(frozen=True)
class Decisions:
    """Everything a decisions file holds, keyed by ``(sample_id, analyte)``."""

    path: str
    integrations: Mapping[Key, Override] = field(default_factory=dict)
    exclusions: Mapping[Key, CalibratorDecision] = field(default_factory=dict)
    inclusions: Mapping[Key, CalibratorDecision] = field(default_factory=dict)
    #: sha256 of the bytes read
    sha256: str = ""
    #: the signed version whose sealed ``overrides.csv`` this file is (None: not one)
    signed: SignedVersion | None = None
    #: why a file in a version's folder is not taken for that version's signed decisions
    signed_note: str = ""

    def source(self, row: int) -> str:
        """Where a decision of row ``row`` came from, as outputs print it: ``decisions file
        <path> row <n>``, with the signed version and its signatures when there is one."""
        text = f"decisions file {self.path} row {row}"
        if self.signed is not None:
            return f"{text} ({self.signed.text()})"
        return f"{text} ({self.signed_note})" if self.signed_note else text

    def record(self) -> dict[str, Any]:
        """What the audit trail records of the file (without the counts of what applied)."""
        doc: dict[str, Any] = {"file": self.path, "sha256": self.sha256}
        if self.signed is not None:
            doc["signed_version"] = self.signed.version
            doc["signatures"] = [{k: s.get(k) for k in ("user", "full_name", "role", "meaning", "time")}
                                 for s in self.signed.signatures]
        elif self.signed_note:
            doc["signed_note"] = self.signed_note
        return doc


@dataclass(frozen=True)
class AppliedDecisions:
    """The decisions of a file that apply to a batch (see :func:`apply_decisions`)."""

    #: sample_id -> channel -> (start_min, end_min), as the measurement takes them
    manual_by_sample: Mapping[str, Mapping[str, tuple[float, float]]]
    #: dicts with sample_id, analyte, start_min, end_min, reason (``BatchResult.manual``)
    manual_records: Sequence[Mapping[str, Any]]
    exclusions: Mapping[Key, str]
    inclusions: Mapping[Key, str]
    #: rows ignored, each naming the file and row
    messages: Sequence[str]
    #: where each applied calibrator decision came from (:meth:`Decisions.source`), by its key
    sources: Mapping[Key, str] = field(default_factory=dict)
    #: rows applied per action (integrate, exclude_calibrator, include_calibrator)
    counts: Mapping[str, int] = field(default_factory=dict)


_VERSION_DIR = re.compile(r"v[0-9]+")


def signed_version(path: str | Path, sha256: str) -> tuple[SignedVersion | None, str]:
    """The signed review version whose decisions file ``path`` is, and why not when it sits in one.

    A file named ``overrides.csv`` in ``.../versions/vN/`` is that version's only when the
    version's ``audit.jsonl`` is an intact hash chain that records an ``overrides.csv`` output with
    this ``sha256`` (the bytes read) and holds the signatures, and the version folder verifies
    (:func:`thioquant.audit.verify_folder`: every file as sealed, the trail closed): a copy edited afterwards, or a file
    put there by hand, is not credited to the people who signed the version. Returns ``(version,
    "")``, ``(None, reason)`` for a file in a version folder that is not the sealed one, or
    ``(None, "")`` for any other file.
    """
    from thioquant.audit import AUDIT_FILE, check_chain

    p = Path(path)
    vdir = p.parent
    if p.name != "overrides.csv" or vdir.parent.name != "versions" or not _VERSION_DIR.fullmatch(vdir.name):
        return None, ""
    trail = vdir / AUDIT_FILE
    try:
        entries, problems = check_chain(trail.read_bytes())
    except OSError:
        return None, f"in signed version folder {vdir.name} without a readable audit trail: not credited to its signers"
    if problems:
        return None, f"signed version {vdir.name}'s audit trail is broken: not credited to its signers"
    docs = [e for _, e in entries]
    sealed = next((e.get("sha256") for e in docs if e.get("event") == "output" and e.get("file") == p.name), None)
    if sealed != sha256:
        return None, (f"not the decisions file signed version {vdir.name} sealed (changed after signing): "
                      "not credited to its signers")
    from thioquant.audit import verify_folder

    try:  # the rest of the version as sealed too: its signatures are then the ones it was released with
        intact = verify_folder(vdir).ok
    except InputError:
        intact = False
    if not intact:
        return None, f"signed version {vdir.name}'s files do not verify: not credited to its signers"
    sigs = tuple({k: e.get(k) for k in ("user", "full_name", "role", "meaning", "time")}
                 for e in docs if e.get("event") == "signature")
    version = next((str(e.get("version")) for e in docs if e.get("event") == "version"), vdir.name)
    return SignedVersion(version, sigs), ""


def read_decisions(path: str | Path) -> Decisions:
    """Read a reviewer-decisions (or plain manual-integration) CSV.

    Columns (header required, any order, names case-insensitive, extra columns ignored):
    ``sample_id``, ``analyte``, ``reason``, ``start_min`` and ``end_min`` (both may be left out
    when the file has an ``action`` column and no ``integrate`` row), and optionally ``action``.

    Raises
    ------
    InputError
        Naming the file and row: a missing column, an unknown action, times given for a
        calibrator action, a bad ``integrate`` row (see
        :func:`thioquant.peaks.overrides.parse_override`), an empty reason, a duplicated
        integration, or a second decision for the same calibrator and analyte (an exclusion and
        an inclusion contradict each other).
    """
    p = Path(path)
    try:  # read once: the sha256 recorded is of the very bytes parsed and applied
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read override file: {exc.strerror or exc}", path=p) from exc
    digest = hashlib.sha256(data).hexdigest()
    header, rows = read_override_rows(p, required=("sample_id", "analyte", "reason"), data=data)
    missing = [c for c in COLUMNS if c not in header]
    if header and ACTION_COLUMN not in header and missing:  # a manual-integration file: all five
        raise InputError(f"override file lacks column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)} "
                         f"(and optionally {ACTION_COLUMN})", path=p, row=1)
    integrations: dict[Key, Override] = {}
    decided: dict[Key, CalibratorDecision] = {}
    for rownum, vals in rows:
        action = vals.get(ACTION_COLUMN, "").lower() or INTEGRATE
        if action not in ACTIONS:
            raise InputError(f"unknown action '{vals[ACTION_COLUMN]}'; the actions are {', '.join(ACTIONS)}",
                             path=p, row=rownum)
        if action == INTEGRATE:
            missing = [c for c in ("start_min", "end_min") if c not in vals]
            if missing:
                raise InputError(f"an integrate row needs the column(s) {', '.join(missing)}", path=p, row=rownum)
            add_override(integrations, parse_override(vals, p, rownum), p)
            continue
        sid, analyte = vals["sample_id"], vals["analyte"]
        if not sid or not analyte:
            raise InputError("sample_id and analyte must not be empty", path=p, row=rownum)
        timed = [c for c in ("start_min", "end_min") if vals.get(c, "")]
        if timed:
            raise InputError(f"{action} takes no integration times: leave {' and '.join(timed)} empty "
                             "(to re-integrate the calibrator, add an integrate row)", path=p, row=rownum)
        if not vals["reason"]:
            raise InputError("reason must not be empty (it goes into the audit trail)", path=p, row=rownum)
        key = (sid, analyte)
        if key in decided:
            first = decided[key]
            what = "duplicate" if first.action == action else "contradicting"
            raise InputError(f"{what} calibrator decision for sample '{sid}', analyte '{analyte}' "
                             f"({first.action} on row {first.row})", path=p, row=rownum)
        decided[key] = CalibratorDecision(sid, analyte, action, vals["reason"], rownum)
    signed, note = signed_version(p, digest)
    return Decisions(str(p), integrations,
                     {k: d for k, d in decided.items() if d.action == EXCLUDE},
                     {k: d for k, d in decided.items() if d.action == INCLUDE},
                     sha256=digest, signed=signed, signed_note=note)


def apply_decisions(decisions: Decisions, *, channels: Sequence[str], analytes: Sequence[str],
                    sample_types: Mapping[str, str], aliases: Mapping[str, str] | None = None) -> AppliedDecisions:
    """The decisions of a file that apply to one batch.

    Parameters
    ----------
    decisions : as read by :func:`read_decisions`.
    channels : the method's channel keys a manual integration may name (analytes, qualifiers,
        internal standards).
    analytes : the method's analyte names a calibrator decision may name.
    sample_types : sample_id -> sample type (``calibrator``, ``qc``, ``unknown``...) of the worklist.
    aliases : other names of samples -> their sample_id: the pseudonyms of a ``--pseudonymise``
        run, under which its signed versions name the patient samples.

    Raises
    ------
    InputError
        A row names an analyte or channel the method does not have (a typo must not be recorded
        in the audit trail as a decision that was never applied).

    A row for a sample_id the worklist does not hold, and a calibrator decision on a sample that
    is not a calibrator, are ignored with a message naming the file and row.
    """
    path = decisions.path
    manual_by_sample: dict[str, dict[str, tuple[float, float]]] = {}
    records: list[Mapping[str, Any]] = []
    messages: list[str] = []
    aliases = aliases or {}
    for (named, comp), ov in decisions.integrations.items():
        sid = aliases.get(named, named)
        if comp not in channels:
            raise InputError(f"manual integration for unknown analyte {comp!r}; the method's channels "
                             f"are {', '.join(channels)}", path=path, row=ov.row or None)
        if sid not in sample_types:
            messages.append(f"{path}: row {ov.row}: manual integration for unknown sample_id {named!r} ignored")
            continue  # never applied, so not recorded as done either
        manual_by_sample.setdefault(sid, {})[comp] = (ov.start_min, ov.end_min)
        records.append({"sample_id": sid, "analyte": comp, "start_min": ov.start_min,
                        "end_min": ov.end_min, "reason": ov.reason})
    chosen: dict[str, dict[Key, str]] = {EXCLUDE: {}, INCLUDE: {}}
    sources: dict[Key, str] = {}
    for d in sorted([*decisions.exclusions.values(), *decisions.inclusions.values()], key=lambda d: d.row):
        if d.analyte not in analytes:
            raise InputError(f"{d.action} for unknown analyte {d.analyte!r}; the method's analytes are "
                             f"{', '.join(analytes)}", path=path, row=d.row or None)
        sid = aliases.get(d.sample_id, d.sample_id)
        kind = sample_types.get(sid)
        if kind is None:
            messages.append(f"{path}: row {d.row}: {d.action} for unknown sample_id {d.sample_id!r} ignored")
        elif kind != "calibrator":
            messages.append(f"{path}: row {d.row}: {d.action} ignored: sample {d.sample_id!r} is not a "
                            f"calibrator (sample type {kind})")
        else:
            chosen[d.action][(sid, d.analyte)] = d.reason
            sources[(sid, d.analyte)] = decisions.source(d.row)
    counts = {INTEGRATE: len(records), EXCLUDE: len(chosen[EXCLUDE]), INCLUDE: len(chosen[INCLUDE])}
    return AppliedDecisions(manual_by_sample, records, chosen[EXCLUDE], chosen[INCLUDE], messages,
                            sources, counts)


def decisions_csv(manual: Iterable[Mapping[str, Any]], exclusions: Mapping[Key, str],
                  inclusions: Mapping[Key, str]) -> str:
    """The text of a decisions file (columns :data:`WRITTEN_COLUMNS`): the manual integrations
    (dicts with sample_id, analyte, start_min, end_min, reason), then the calibrator exclusions and
    inclusions (``(sample_id, analyte) -> reason``). Times are written with ``repr`` so that they
    are read back to the same float; a text cell a spreadsheet would run as a formula gets a
    leading apostrophe (:mod:`thioquant.csvcell`), which the reader takes off again, so
    :func:`read_decisions` reads the file back to the same decisions."""
    buf = io.StringIO()
    w = csv.writer(buf)  # "\r\n" rows: a reason holding a "\r" or "\n" is quoted
    w.writerow(WRITTEN_COLUMNS)
    for m in sorted(manual, key=lambda r: (str(r["sample_id"]), str(r["analyte"]))):
        w.writerow([INTEGRATE, safe_cell(str(m["sample_id"])), safe_cell(str(m["analyte"])),
                    repr(float(m["start_min"])), repr(float(m["end_min"])), safe_cell(str(m["reason"]))])
    for action, chosen in ((EXCLUDE, exclusions), (INCLUDE, inclusions)):
        for (sid, analyte), reason in sorted(chosen.items()):
            w.writerow([action, safe_cell(sid), safe_cell(analyte), "", "", safe_cell(reason)])
    return buf.getvalue()
