"""The release hook of the review workflow: a signed version into the patient history and the LIS.

The review app calls ``record_release(version_dir)`` after it has written a signed version
(``OUT/versions/vN``). The patient history, the outbox and the formats are the ones the run was
quantified with (its audit trail's parameters), unless given; the version is the folder's. With
``release_on = "authorisation"`` in batch.toml (or ``quantify --release-on authorisation``) this
is the only release: ``quantify`` then compares with the history but records and sends nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thioquant.history import ReleaseSummary, accepted, folder_version, read_results
from thioquant.history import record_release as _record
from thioquant.lis.export import ExportSummary, export_lis


@dataclass(frozen=True)
class Released:
    history: ReleaseSummary | None
    lis: ExportSummary | None


def _run_parameters(out_dir: Path) -> dict[str, Any]:
    """The ``parameters`` of the folder's audit trail (its first entry), or {}."""
    try:
        with open(out_dir / "audit.jsonl", encoding="utf-8") as fh:
            first = json.loads(fh.readline() or "{}")
    except (OSError, ValueError):
        return {}
    params = first.get("parameters") if isinstance(first, dict) else None
    return params if isinstance(params, dict) else {}


def record_release(out_dir: str | Path, history: str | Path | None = None, *, version: int | None = None,
                   outbox: str | Path | None = None, formats: Sequence[str] | None = None,
                   released_by: str | None = None) -> Released:
    """Release a signed version (or any output folder): record it and write its LIS messages.

    Parameters default to the run's own (``patient_history``, ``lis_outbox``, ``lis_formats`` in
    the audit trail's parameters); without a history or an outbox that part is skipped. A
    rejected run is recorded nowhere and sent nowhere.
    """
    out = Path(out_dir)
    if not accepted(read_results(out)):  # nothing of a rejected run is released
        return Released(None, None)
    params = _run_parameters(out)
    history = history or params.get("patient_history")
    outbox = outbox or params.get("lis_outbox")
    formats = formats or params.get("lis_formats") or ("hl7", "fhir")
    version = version or folder_version(out)
    h = _record(out, history, version=version, released_by=released_by) if history else None
    if h is not None and h.status == "rejected":
        return Released(h, None)
    e = export_lis(out, outbox, formats=formats, version=version, history=history) if outbox else None
    return Released(h, e)


__all__ = ["Released", "record_release"]
