"""Write the LIS messages of an output folder into an outbox, atomically and never overwriting.

Each message is one file, ``<batch>_<sample>_v<version>.hl7`` and/or ``.fhir.json``: written to
a hidden temporary file in the outbox and hard-linked to its name, which fails if the name
exists, so a message is complete or absent and a sent message is never replaced. Exporting the
same version again writes nothing new (``already``). A sample whose earlier version was sent
(a file in the outbox, or a row in the patient history's ``lis_sent``) goes out as a correction.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from thioquant.assay.release_settings import LisSettings
from thioquant.errors import InputError, OutputError
from thioquant.history import accepted, batch_id, read_results, release_version, released_samples
from thioquant.lis.model import lis_sample

FORMATS = {"hl7": ".hl7", "fhir": ".fhir.json"}


@dataclass(frozen=True)
class ExportSummary:
    written: tuple[str, ...] = ()
    already: tuple[str, ...] = ()
    corrections: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80] or "_"


def _stem(batch: str, sample: str) -> str:
    return f"{_safe(batch)}_{_safe(sample)}"


def lis_messages(doc: dict[str, Any], *, formats: Sequence[str] = ("hl7", "fhir"), version: int = 1,
                 corrected: set[str] | frozenset[str] = frozenset(), sent_at: datetime | None = None
                 ) -> list[tuple[str, str, str]]:
    """``(sample_id, format, text)`` for every releasable patient sample of ``doc``.

    Raises InputError for a rejected run (nothing of it is ever sent). Samples with a result
    held for review are left out. ``corrected``: sample ids whose earlier version was sent.
    """
    from thioquant.lis import fhir, hl7

    if not accepted(doc):
        raise InputError("the run was rejected: its results are never sent to the LIS")
    settings = LisSettings.from_dict((doc.get("release") or {}).get("lis"))
    when = sent_at or datetime.now().astimezone()
    out = []
    for s in released_samples(doc):
        if s.held or s.blocked or not s.patient_id:
            continue
        sample = lis_sample(doc, s, settings)
        corr = s.sample_id in corrected
        for fmt in formats:
            if fmt == "hl7":
                text = hl7.oru_r01(sample, settings, version=version, corrected=corr, sent_at=when)
            else:
                text = json.dumps(fhir.bundle(sample, settings, version=version, corrected=corr, sent_at=when),
                                  indent=1, ensure_ascii=False) + "\n"
            out.append((s.sample_id, fmt, text))
    return out


def _sent_before(outbox: Path, stem: str, ext: str, version: int, history: Path | None, batch: str,
                 sample: str, fmt: str) -> bool:
    pat = re.compile(re.escape(stem) + r"_v(\d+)" + re.escape(ext) + "$")
    if any(m and int(m.group(1)) < version for m in (pat.match(p.name) for p in outbox.iterdir())):
        return True
    if history is not None and history.is_file():
        with closing(sqlite3.connect(history)) as conn:
            try:
                row = conn.execute("SELECT 1 FROM lis_sent WHERE batch = ? AND sample_id = ? AND format = ? "
                                   "AND version < ?", (batch, sample, fmt, version)).fetchone()
            except sqlite3.Error:
                return False
            return row is not None
    return False


def _write_new(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` only if it does not exist; atomic (temp file + hard link)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def export_lis(out_dir: str | Path, outbox: str | Path, *, formats: Sequence[str] = ("hl7", "fhir"),
               version: int | None = None, history: str | Path | None = None,
               sent_at: datetime | None = None) -> ExportSummary:
    """Write the HL7 and/or FHIR messages of ``out_dir`` into ``outbox``.

    Parameters
    ----------
    out_dir : an output folder (its ``results.json`` is read)
    outbox : folder the LIS interface picks messages up from (created; never inside ``out_dir``,
        whose files the audit trail records)
    formats : ``"hl7"`` and/or ``"fhir"``
    version : output version (default: the one ``results.json`` names, else 1)
    history : patient history file; messages sent are recorded in its ``lis_sent`` table, and
        earlier versions recorded there make this one a correction
    sent_at : message time (default: now)
    """
    bad = sorted(set(formats) - set(FORMATS))
    if bad or not formats:
        raise InputError(f"unknown LIS format(s) {', '.join(bad) or '(none)'}: use hl7 and/or fhir")
    doc = read_results(out_dir)
    if not accepted(doc):
        raise InputError("the run was rejected: its results are never sent to the LIS", path=out_dir)
    ob, od = Path(outbox).resolve(), Path(out_dir).resolve()
    if ob == od or od in ob.parents:
        raise OutputError("the outbox must not be the output folder or inside it (the audit trail records "
                          "every file there)", path=outbox)
    try:
        ob.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"outbox cannot be created ({exc.strerror or exc})", path=outbox) from exc
    ver = release_version(doc, version, out_dir)
    bid = batch_id(doc)
    hist = Path(history) if history is not None else None
    corrected = set()
    for s in released_samples(doc):
        stem = _stem(bid, s.sample_id)
        if any(_sent_before(ob, stem, FORMATS[f], ver, hist, bid, s.sample_id, f) for f in formats):
            corrected.add(s.sample_id)
    when = sent_at or datetime.now().astimezone()
    written, already = [], []
    sent_rows = []
    for sid, fmt, text in lis_messages(doc, formats=formats, version=ver, corrected=corrected, sent_at=when):
        path = ob / f"{_stem(bid, sid)}_v{ver}{FORMATS[fmt]}"
        try:
            new = _write_new(path, text)
        except OSError as exc:
            raise OutputError(f"message cannot be written ({exc.strerror or exc})", path=path) from exc
        (written if new else already).append(path.name)
        if new:
            sent_rows.append((bid, sid, ver, fmt, "C" if sid in corrected else "F", path.name,
                              when.isoformat(timespec="seconds")))
    if hist is not None and sent_rows:
        from thioquant.history import _connect

        with closing(_connect(hist, create=True)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT OR IGNORE INTO lis_sent VALUES (?,?,?,?,?,?,?)", sent_rows)
            conn.execute("COMMIT")
    held = tuple(s.sample_id for s in released_samples(doc) if s.held)
    msgs = [f"{sid}: held for review, not sent" for sid in held]
    msgs += [f"{s.sample_id}: {', '.join(s.blocked)}: whose result it is cannot be told, not sent"
             for s in released_samples(doc) if s.blocked and not s.held]
    return ExportSummary(tuple(written), tuple(already), tuple(sorted(corrected)), held, tuple(msgs))


__all__ = ["FORMATS", "ExportSummary", "export_lis", "lis_messages"]
