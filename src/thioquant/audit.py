"""The audit trail: ``audit.jsonl`` in every output folder, hash-chained.

One JSON object per line, in order: the run (user, host, time, software and dependency
versions, parameters), the method file with its hash, the worklist and every raw file with its
sha256, manual integrations and calibrator exclusions (and held calibrators a reviewer included) with
their reasons, the run verdict (with
the QC rules that could not be evaluated), every output file with its sha256 (``patients/`` PDFs
included, by relative path), and a closing ``run_end`` entry that states how many entries the
trail has. Each entry carries ``seq``, the ``prev`` hash of the entry before it and its own
``hash`` (sha256 of its canonical JSON without ``hash``), so editing, removing, reordering or
cutting off lines, and changing, deleting or adding an output file afterwards, is detected by
:func:`verify` (``thioquant audit verify OUT_DIR``).

Older trails (thioquant 0.1.0 before the closing entry carried its count) end with a ``run_end``
without ``entries`` and record only the top-level files: :func:`verify` still requires that
``run_end`` (a cut-off trail is broken) and lists the files such a trail cannot vouch for (its
``patients/`` PDFs) as warnings, not as verified.
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
    decisions = getattr(batch, "decisions_file", None)
    if decisions:  # quantify --overrides: the file applied (path, sha256 of the bytes read, rows per action)
        entries.append({"event": "decisions_file", **dict(decisions)})
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
    for exc in getattr(batch, "exclusions", ()):
        if exc.get("source"):  # the decision itself, by sample: the point above says why by level
            entries.append({"event": "calibrator_exclusion_decided", **dict(exc)})
    for inc in getattr(batch, "inclusions", ()):
        entries.append({"event": "calibrator_included", **dict(inc)})
    v = batch.verdict
    entries.append({"event": "verdict", "accepted": bool(batch.accepted),
                    "deciding_rule": getattr(v, "deciding_rule", ""), "reasons": list(getattr(v, "reasons", ())),
                    "not_evaluated": list(getattr(v, "not_evaluated", ()))})
    return entries


#: Files a desktop leaves in a folder that is merely browsed (Finder, Explorer): not outputs, not
#: tampering; neither recorded, nor reported, nor a reason to refuse --force.
OS_METADATA = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})


def _os_metadata(name: str) -> bool:
    return name in OS_METADATA or name.startswith("._")  # ._x: macOS AppleDouble


#: sub-folders a review adds to an output folder: its journal and its signed versions, each
#: checked on its own by :func:`verify` (see :mod:`thioquant.review`)
REVIEW_DIR, VERSIONS_DIR = "review", "versions"


def output_files(folder: Path) -> list[str]:
    """Relative POSIX paths of every file under ``folder`` except the audit trail, a desktop's
    metadata files (:data:`OS_METADATA`) and a review's ``review/`` and ``versions/`` folders
    (verified separately), sorted."""
    out = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).as_posix()
        if (p.is_file() and rel != AUDIT_FILE and not _os_metadata(p.name)
                and rel.split("/", 1)[0] not in (REVIEW_DIR, VERSIONS_DIR)):
            out.append(rel)
    return sorted(out)


def write_audit(stage: Path, entries: list[dict[str, Any]]) -> None:
    """Append output-file entries and the closing entry, and write ``audit.jsonl``.

    Every file under ``stage`` (``patients/`` included) gets an entry with its sha256; the last
    entry, ``run_end``, states the number of entries in the trail (itself included), so a trail
    cut off after any line no longer ends with it and :func:`verify` reports it.
    """
    outs = [{"event": "output", "file": name, "sha256": file_sha256(stage / name)} for name in output_files(stage)]
    body = [*entries, *outs]
    end = {"event": "run_end", "time": _now(), "entries": len(body) + 1, "outputs": len(outs)}
    (stage / AUDIT_FILE).write_text(chain([*body, end]), encoding="utf-8")


def first_entry(path: Path) -> dict[str, Any] | None:
    """The first entry of an audit trail file, or None when it has none that parses as an object."""
    try:
        with open(path, "rb") as fh:
            line = fh.readline()
        entry = json.loads(line.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def is_thioquant_run(entry: Mapping[str, Any] | None) -> bool:
    """Whether ``entry`` is the ``run_start`` entry thioquant writes first in every trail."""
    return (isinstance(entry, Mapping) and entry.get("event") == "run_start" and entry.get("seq") == 0
            and isinstance(entry.get("software"), Mapping) and "thioquant" in entry["software"])


def recorded_files(path: Path) -> set[str]:
    """The output files an audit trail records (from the lines that parse), for ``--force``."""
    names: set[str] = set()
    try:
        raw = path.read_bytes()
    except OSError:
        return names
    for line in raw.split(b"\n"):
        try:
            entry = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(entry, dict) and entry.get("event") == "output" and isinstance(entry.get("file"), str):
            names.add(entry["file"])
    return names


@dataclass(frozen=True)
class AuditCheck:
    """What :func:`verify` found.

    Attributes
    ----------
    ok : no problem: the chain is whole and closed, and every file matches its entry.
    entries : number of lines read.
    problems : why the trail is broken (each names its line or file).
    warnings : files an older trail does not record (its ``patients/`` PDFs), which are therefore
        not verified; they do not make ``ok`` False.
    """

    ok: bool
    entries: int
    problems: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)


def verify(out_dir: str | Path) -> AuditCheck:
    """Check an output folder: :func:`verify_folder`, then its review journal and signed versions.

    ``review/journal.jsonl`` must be an intact hash chain whose first line names this folder's
    ``audit.jsonl`` (by sha256); each ``versions/vN`` must verify as an output folder of its own,
    hold the two signatures (reviewed, authorised), name the version it supersedes (``v(N-1)``),
    and match the sha256 the journal recorded when it was released. Nothing else may be in
    ``review/`` or ``versions/``.
    """
    out = Path(out_dir)
    base = verify_folder(out)
    problems, warnings, n = list(base.problems), list(base.warnings), base.entries
    rdir, vdir = out / REVIEW_DIR, out / VERSIONS_DIR
    released: dict[str, str] = {}
    if rdir.exists():
        jpath = rdir / "journal.jsonl"
        extra = [p.name for p in rdir.iterdir() if p.name != "journal.jsonl" and not _os_metadata(p.name)]
        problems += [f"{REVIEW_DIR}/{x} is not written by a review" for x in extra]
        if jpath.is_file():
            try:  # the journal chains its lines as audit.jsonl does (thioquant.review.journal)
                lined, jp = check_chain(jpath.read_bytes())
            except OSError as exc:
                lined, jp = [], [f"cannot be read ({exc.strerror or exc})"]
            problems += [f"{REVIEW_DIR}/journal.jsonl {x}" for x in jp]
            if not jp:
                entries = [e for _, e in lined]
                n += len(entries)
                if entries and entries[0].get("base_audit_sha256") != file_sha256(out / AUDIT_FILE):
                    problems.append(f"{REVIEW_DIR}/journal.jsonl was started on another audit.jsonl")
                released = {e["version"]: e.get("audit_sha256", "") for e in entries if e.get("event") == "release"}
    if vdir.exists() and not (rdir / "journal.jsonl").is_file():
        problems.append(f"{VERSIONS_DIR}/ holds signed versions but {REVIEW_DIR}/journal.jsonl, the review "
                        "journal that released them, is missing")
    if vdir.exists():
        prev = None
        names = sorted((p for p in vdir.iterdir() if not _os_metadata(p.name)),
                       key=lambda p: int(p.name[1:]) if p.name[1:].isdigit() else -1)
        for k, d in enumerate(names, start=1):
            if d.name != f"v{k}" or not d.is_dir():
                problems.append(f"{VERSIONS_DIR}/{d.name} is not a signed version (expected v{k})")
                continue
            if not (d / AUDIT_FILE).is_file():
                problems.append(f"{VERSIONS_DIR}/{d.name} has no audit.jsonl")
                continue
            sub = verify_folder(d)
            n += sub.entries
            problems += [f"{VERSIONS_DIR}/{d.name}: {x}" for x in sub.problems]
            sigs, version = [], None
            for line in (d / AUDIT_FILE).read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    e = json.loads(line)
                except ValueError:
                    break
                if e.get("event") == "signature":
                    sigs.append(e)
                elif e.get("event") == "version":
                    version = e
            meanings = [s.get("meaning") for s in sigs]
            if "reviewed" not in meanings or "authorised" not in meanings:
                problems.append(f"{VERSIONS_DIR}/{d.name}: lacks a reviewed and an authorised signature")
            elif len({s.get("user") for s in sigs}) < 2:
                problems.append(f"{VERSIONS_DIR}/{d.name}: reviewed and authorised by the same person")
            if version is None or version.get("version") != d.name or version.get("supersedes") != prev:
                problems.append(f"{VERSIONS_DIR}/{d.name}: its version entry does not name it, or does not "
                                f"supersede {prev or 'nothing'}")
            if released and released.get(d.name) != file_sha256(d / AUDIT_FILE):
                problems.append(f"{VERSIONS_DIR}/{d.name}: its audit.jsonl is not the one the review journal "
                                "recorded at release")
            prev = d.name
    return AuditCheck(not problems, n, tuple(problems), tuple(warnings))


def check_chain(raw: bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """The entries of a hash-chained JSON-lines file and the problems of its chain.

    Used for ``audit.jsonl`` and the review journal (``review/journal.jsonl``), which chain their
    lines the same way (``seq``, ``prev``, ``hash``). Returns ``(line number, entry without its
    hash)`` for every line that is a JSON object, and one problem per broken line: not UTF-8, not
    a JSON object, out of sequence, not chained to the line before, or not matching its hash.
    """
    problems: list[str] = []
    entries: list[tuple[int, dict[str, Any]]] = []
    prev: str | None = GENESIS
    # bytes split on newlines only: a bad byte is then one broken line (not a crash), and
    # str.splitlines would also split inside a value holding U+2028 and the like
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for lineno, line_bytes in enumerate(lines, start=1):
        try:
            line = line_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"line {lineno}: not valid UTF-8 (byte 0x{line_bytes[exc.start]:02x} at column "
                            f"{exc.start + 1}): the file was altered")
            prev = None
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if not isinstance(entry, dict):
            problems.append(f"line {lineno}: not a valid JSON entry")
            prev = None
            continue
        claimed = entry.pop("hash", None)
        if entry.get("seq") != lineno - 1:
            problems.append(f"line {lineno}: sequence number {entry.get('seq')} (expected {lineno - 1}): a line was removed or moved")
        if prev is not None and entry.get("prev") != prev:
            problems.append(f"line {lineno}: does not chain to the line before it")
        if hashlib.sha256(_canonical(entry)).hexdigest() != claimed:
            problems.append(f"line {lineno}: content does not match its hash (edited)")
        prev = claimed if isinstance(claimed, str) else None
        entries.append((lineno, entry))
    return entries, problems


def verify_folder(out_dir: str | Path) -> AuditCheck:
    """Check ``OUT_DIR/audit.jsonl``: the hash chain, its closing entry, and every file in OUT_DIR.

    Broken: a line that is not UTF-8 or not a JSON object, out of sequence, not chained or not
    matching its hash; no closing ``run_end`` as the last line (the trail was cut off) or one whose
    count of entries differs; an output file missing or changed; a file in the folder the trail does
    not record. An older trail (``run_end`` without a count) is checked the same way except that
    its unrecorded ``patients/`` PDFs are listed as warnings (it never recorded them).

    Raises
    ------
    InputError : the folder has no audit.jsonl, or it cannot be read.
    """
    out = Path(out_dir)
    path = out / AUDIT_FILE
    if not path.is_file():
        raise InputError("no audit.jsonl in this folder", path=out)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror or exc}", path=path) from exc
    entries, problems = check_chain(raw)
    recorded: set[str] = set()
    end: tuple[int, dict[str, Any]] | None = None  # the first run_end entry and its line
    for lineno, entry in entries:
        if entry.get("event") == "run_end" and end is None:
            end = (lineno, entry)
        if entry.get("event") == "output":
            name = str(entry.get("file", ""))
            recorded.add(name)
            f = out / name
            if not f.is_file():
                problems.append(f"line {lineno}: output file {name} is missing")
            elif file_sha256(f) != entry.get("sha256"):
                problems.append(f"line {lineno}: output file {name} was changed after the run")
    n = raw.count(b"\n") + (0 if raw.endswith(b"\n") or not raw else 1)  # lines, as check_chain splits
    if n == 0:
        return AuditCheck(False, 0, ("audit.jsonl is empty",))
    older = False
    if end is None:
        problems.append(f"no closing run_end entry: the trail was cut off after line {n} (truncated)")
    elif end[0] != n:
        problems.append(f"line {end[0]}: the closing run_end entry is followed by {n - end[0]} more line(s)")
    elif "entries" not in end[1]:
        older = True  # written before the closing entry carried its count; its run_end is still required
    elif end[1].get("entries") != n:
        problems.append(f"line {n}: the closing entry counts {end[1].get('entries')} entries, the trail has {n}")
    warnings: list[str] = []
    for name in output_files(out):
        if name in recorded:
            continue
        if older and name.startswith("patients/"):
            warnings.append(f"{name} is not recorded by this older audit trail (written before thioquant "
                            "recorded patients/ PDFs): it cannot be verified")
        else:  # with the trail cut off, its entry may be among the lines lost
            problems.append(f"{name} is not recorded in the audit trail"
                            + (" (added after the run)" if end is not None else ""))
    return AuditCheck(not problems, n, tuple(problems), tuple(warnings))
