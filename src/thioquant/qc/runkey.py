"""Which batch a run is in the QC history: its folder name and a hash of its raw data.

The QC/Westgard history (``qc_history.sqlite``, shared by every batch of a method; see
:mod:`thioquant.qc.westgard` and :mod:`thioquant.locations`) files each run's QC values under a
``run_id``. It used to be the batch folder's name alone, so two batches named alike, e.g.
``2026-12-05`` acquired on two instruments, or a batch acquired again into a folder of the same
name, collided: the second took the first's place in the series and replaced its values.

The key is now ``<folder name>@<12 hex>``, the hex being the start of the sha256 of the raw data
files the worklist names, each as ``name NUL sha256`` (sorted, duplicates once; a file that
cannot be read counts as ``missing``). Why this and not something else:

- the QC values come from the raw data, so the raw data decide whether two runs are the same
  batch: a re-acquired batch or another instrument's batch of the same name has other bytes and
  is another run, however its folder is named;
- a genuine re-run of the batch (``--force``, a review's re-quantification, a corrected worklist:
  swapped QC labels, a typo in an RBC count) reads the same raw files, keeps its key and so its
  place in the series, and replaces its own values (a worklist is not part of the key: a corrected
  worklist is the same acquisition, whose QC values must not be counted twice);
- the batch folder copied or moved elsewhere (a backup restored, an archive) is the same run; the
  resolved path would have made it a second one, and the Westgard target would count its QC
  values twice;
- the folder name stays in front so that the key is readable in ``qc.csv``, Levey-Jennings charts
  and SQL, and so that the same raw data quantified under two folder names (a deliberate copy
  for a test) stay two runs, as before;
- hashing is the only extra cost: the run reads and hashes every raw file anyway (the measurement
  cache is keyed by it); this reads them once more before the run, about 3 ms per MB from the page
  cache (16 ms for the bundled 42-injection batch, 5.8 MB, worklist read included).

Histories written by the previous keying (``run_id`` = folder name, no ``@``) load unchanged:
their runs stay in the series under their old ids. A re-run of such a batch takes over its old
rows (and their place) only when that is provable: the output folder being replaced, or
reviewed, has an audit trail whose batch folder has that name and whose raw files hash to this
run's key (:func:`legacy_run_id`). Otherwise the old rows stay, as an earlier run that may be
another batch of the same name.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

#: separates the folder name from the hash of the raw data in a run key
SEP = "@"
MISSING = "missing"


def run_key(name: str, files: Iterable[tuple[str, str]]) -> str:
    """``<name>@<12 hex>`` from ``(file as the worklist names it, sha256 or 'missing')`` pairs."""
    h = hashlib.sha256()
    for file, digest in sorted(set(files)):
        h.update(f"{file}\0{digest or MISSING}\n".encode())
    return f"{name}{SEP}{h.hexdigest()[:12]}"


def folder_name(batch_dir: str | Path) -> str:
    """The batch folder's name as the previous keying took it (``Path.resolve().name``)."""
    return Path(batch_dir).resolve().name or "batch"


def qc_run_id(batch_dir: str | Path) -> str:
    """The QC history key of the batch in ``batch_dir`` (module docstring). The worklist is read
    by the worklist's reader with no method (its file column is all that is used); a worklist
    that cannot be read gives the folder name alone (the run then fails on it anyway)."""
    from thioquant.assay.worklist import read_worklist
    from thioquant.errors import ThioquantError
    from thioquant.io import file_sha256

    b = Path(batch_dir)
    name = folder_name(b)
    try:
        entries = read_worklist(b / "worklist.csv", max_rows=None).entries
    except (ThioquantError, OSError):
        return name
    files = []
    for e in entries:
        if not e.file:
            continue
        try:
            digest = file_sha256(b / e.file)
        except (ThioquantError, OSError):
            digest = MISSING
        files.append((e.file, digest))
    return run_key(name, files)


def legacy_run_id(out_dir: str | Path, run_id: str) -> str | None:
    """The previous keying's id of this run (the folder name), when the output folder ``out_dir``
    proves that its earlier run was this batch: its ``audit.jsonl`` is a thioquant run whose
    batch folder has this name and whose raw files (``input`` entries) give ``run_id``. None
    otherwise (no such folder or trail, another batch, a key of the previous form)."""
    from thioquant.audit import AUDIT_FILE, is_thioquant_run

    name, sep, _ = run_id.partition(SEP)
    if not sep:
        return None
    try:
        lines = (Path(out_dir) / AUDIT_FILE).read_text(encoding="utf-8").splitlines()
        entries = [json.loads(line) for line in lines]
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not entries or not is_thioquant_run(entries[0]) or not isinstance(entries[0].get("batch_dir"), str):
        return None
    recorded = entries[0]["batch_dir"]
    cwd = (entries[0].get("parameters") or {}).get("cwd")
    path = Path(recorded) if os.path.isabs(recorded) or not isinstance(cwd, str) else Path(cwd) / recorded
    if path.name != name and Path(os.path.abspath(path)).name != name:
        return None
    files = [(str(e.get("file", "")), str(e.get("sha256") or MISSING)) for e in entries
             if isinstance(e, dict) and e.get("event") == "input" and e.get("file")]
    return name if files and run_key(name, files) == run_id else None


__all__ = ["SEP", "folder_name", "legacy_run_id", "qc_run_id", "run_key"]
