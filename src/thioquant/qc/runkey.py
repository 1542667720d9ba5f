"""Which batch a run is in the QC history: its folder name and a hash of its raw data.

The QC/Westgard history (``qc_history.sqlite``, shared by every batch of a method; see
:mod:`thioquant.qc.westgard` and :mod:`thioquant.locations`) files each run's QC values under a
``run_id``. It used to be the batch folder's name alone, so two batches named alike, e.g.
``2026-12-05`` acquired on two instruments, or a batch acquired again into a folder of the same
name, collided: the second took the first's place in the series and replaced its values.

The key is now ``<folder name>@<12 hex>``, the hex being the start of the sha256 of the raw data
files the worklist names, each as ``name NUL sha256`` (sorted, duplicates once; a file that
could not be read counts as ``missing``). Why this and not something else:

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
- no extra cost: the sha256 are those the measurement computes anyway (it reads every raw file,
  and the measurement cache is keyed by them) and the audit trail records (``input`` entries),
  so the key is formed from the measurements (:func:`measured_run_id`), not by reading the raw
  files again (that would take 0.37 s on a 960-injection batch, 134 MB, measured).

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
from typing import Any

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


def measured_run_id(batch_dir: str | Path, entries: Iterable[Any], measurements: Iterable[Any]) -> str:
    """The QC history key of a quantified batch (module docstring), from its worklist entries
    (``file``) and their measurements (``sha256``, "" for a file that could not be read)."""
    files = [(e.file, m.sha256 or MISSING) for e, m in zip(entries, measurements, strict=True) if e.file]
    return run_key(folder_name(batch_dir), files)


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


__all__ = ["MISSING", "SEP", "folder_name", "legacy_run_id", "measured_run_id", "run_key"]
