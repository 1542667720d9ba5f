"""The audit trail: ``audit.jsonl`` in every output folder, hash-chained.

One JSON object per line, in order: the run (user, host, time, software and dependency
versions, parameters), the method file with its hash, the worklist and every raw file with its
sha256, manual integrations and calibrator exclusions with their reasons, the run verdict (with
the QC rules that could not be evaluated), every output file with its sha256, and the end of the
run. Each entry carries ``seq``, the ``prev`` hash of the entry before it and its own ``hash``
(sha256 of its canonical JSON without ``hash``), so editing, removing or reordering a line, or
changing an output file afterwards, is detected by :func:`verify` (``thioquant audit verify
OUT_DIR``).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import platform
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from thioquant import __version__
from thioquant.errors import InputError
from thioquant.io._common import file_sha256

AUDIT_FILE = "audit.jsonl"
GENESIS = "0" * 64
DEPENDENCIES = ("numpy", "scipy", "pyopenms", "pybaselines", "rainbow-api", "matplotlib", "click", "openpyxl")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _canonical(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def software_versions() -> dict[str, str]:
    out = {"thioquant": __version__, "python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def chain(entries: Iterable[Mapping[str, Any]]) -> str:
    """JSON-lines text of ``entries``, each given ``seq``, ``prev`` and ``hash``."""
    lines = []
    prev = GENESIS
    for seq, e in enumerate(entries):
        body = {**e, "seq": seq, "prev": prev}
        digest = hashlib.sha256(_canonical(body)).hexdigest()
        lines.append(json.dumps({**body, "hash": digest}, sort_keys=True, ensure_ascii=False, default=str))
        prev = digest
    return "".join(f"{line}\n" for line in lines)


def run_entries(batch: Any, parameters: Mapping[str, Any], started: str) -> list[dict[str, Any]]:
    """Audit entries describing a quantified batch (everything but the outputs)."""
    entries: list[dict[str, Any]] = [{
        "event": "run_start", "time": started, "user": _user(), "host": socket.gethostname(),
        "software": software_versions(), "parameters": dict(parameters), "batch_dir": batch.batch_dir,
    }]
    m = batch.method
    entries.append({"event": "method", "file": m.source, "sha256": m.sha256, "name": m.name})
    wl = Path(batch.worklist.path)
    entries.append({"event": "worklist", "file": str(wl), "sha256": file_sha256(wl) if wl.is_file() else None})
    for e, meas in zip(batch.worklist.entries, batch.measurements, strict=True):
        entries.append({
            "event": "input", "sample_id": e.sample_id, "file": e.file, "sha256": meas.sha256 or None,
            "error": meas.error or None,
        })
    for man in batch.manual:
        entries.append({"event": "manual_integration", **dict(man)})
    for analyte, oc in batch.calibrations.items():
        if oc is None:
            continue
        for p in oc.points:
            if not p.included:
                entries.append({"event": "calibrator_excluded", "analyte": analyte, "level": p.level,
                                "accuracy_pct": p.accuracy_pct, "reason": p.reason})
    v = batch.verdict
    entries.append({"event": "verdict", "accepted": bool(batch.accepted),
                    "deciding_rule": getattr(v, "deciding_rule", ""), "reasons": list(getattr(v, "reasons", ())),
                    "not_evaluated": list(getattr(v, "not_evaluated", ()))})
    return entries


def write_audit(stage: Path, entries: list[dict[str, Any]]) -> None:
    """Append output-file entries (sha256 of every file in ``stage``) and write ``audit.jsonl``."""
    outs = [{"event": "output", "file": p.name, "sha256": file_sha256(p)}
            for p in sorted(stage.iterdir()) if p.is_file() and p.name != AUDIT_FILE]
    text = chain([*entries, *outs, {"event": "run_end", "time": _now()}])
    (stage / AUDIT_FILE).write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    entries: int
    problems: tuple[str, ...] = field(default_factory=tuple)


def verify(out_dir: str | Path) -> AuditCheck:
    """Check the hash chain of ``OUT_DIR/audit.jsonl`` and the hash of every output file."""
    out = Path(out_dir)
    path = out / AUDIT_FILE
    if not path.is_file():
        raise InputError("no audit.jsonl in this folder", path=out)
    problems: list[str] = []
    prev = GENESIS
    n = 0
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        n += 1
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            problems.append(f"line {lineno}: not valid JSON")
            prev = None  # type: ignore[assignment]
            continue
        claimed = entry.pop("hash", None)
        if entry.get("seq") != lineno - 1:
            problems.append(f"line {lineno}: sequence number {entry.get('seq')} (expected {lineno - 1}): a line was removed or moved")
        if prev is not None and entry.get("prev") != prev:
            problems.append(f"line {lineno}: does not chain to the line before it")
        if hashlib.sha256(_canonical(entry)).hexdigest() != claimed:
            problems.append(f"line {lineno}: content does not match its hash (edited)")
        prev = claimed
        if entry.get("event") == "output":
            f = out / entry.get("file", "")
            if not f.is_file():
                problems.append(f"line {lineno}: output file {entry.get('file')} is missing")
            elif file_sha256(f) != entry.get("sha256"):
                problems.append(f"line {lineno}: output file {entry.get('file')} was changed after the run")
    if n == 0:
        problems.append("audit.jsonl is empty")
    return AuditCheck(not problems, n, tuple(problems))
