"""Pseudonymisation of patient identifiers in every output.

Patient sample IDs, patient IDs and the raw file names of patient samples are replaced by a keyed
hash (HMAC-SHA256, first 12 hex digits, prefixed ``S-`` or ``PT-``). The same key gives the same
pseudonym across runs, so results can be linked by whoever holds the key and by no one else.
Calibrators, QCs and blanks keep their names. The transformation is applied to the whole
:class:`~thioquant.pipeline.BatchResult`, so every writer (tables, report, audit) sees only
pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import replace
from typing import Any

from thioquant.errors import InputError

MIN_KEY_LENGTH = 16


def pseudonym(value: str, key: bytes, prefix: str) -> str:
    return f"{prefix}{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:12]}"


def pseudonymise(batch: Any, key: str) -> Any:
    """A copy of ``batch`` with patient identifiers replaced by keyed hashes."""
    if len(key) < MIN_KEY_LENGTH:
        raise InputError(f"pseudonymisation key must be at least {MIN_KEY_LENGTH} characters")
    k = key.encode()
    mapping: dict[str, str] = {}
    for e in batch.worklist.entries:
        if e.sample_type != "unknown":
            continue
        mapping[e.sample_id] = pseudonym(e.sample_id, k, "S-")
        if e.patient_id:
            mapping[e.patient_id] = pseudonym(e.patient_id, k, "PT-")
        # the folder part stays (raw/017_P003.mzML -> raw/S-....mzML): it names where the file is,
        # and messages that quote the path must still point at the right folder
        folder = e.file[: max(e.file.rfind("/"), e.file.rfind("\\")) + 1]
        mapping[e.file] = f"{folder}{mapping[e.sample_id]}{_suffix(e.file)}"
    if not mapping:
        return batch
    pattern = re.compile("|".join(re.escape(t) for t in sorted(mapping, key=len, reverse=True)))

    def sub(text: str) -> str:
        return pattern.sub(lambda mt: mapping[mt.group(0)], text) if text else text

    entries = tuple(
        replace(e, sample_id=mapping.get(e.sample_id, e.sample_id), patient_id=mapping.get(e.patient_id, e.patient_id),
                file=mapping.get(e.file, e.file))
        if e.sample_type == "unknown" else e
        for e in batch.worklist.entries
    )
    results = tuple(
        replace(r, sample_id=mapping.get(r.sample_id, r.sample_id), patient_id=mapping.get(r.patient_id, r.patient_id),
                file=mapping.get(r.file, r.file))
        if r.sample_type == "unknown" else r
        for r in batch.results
    )
    interpretations = tuple({k2: sub(v) if isinstance(v, str) else v for k2, v in row.items()}
                            for row in batch.interpretations)
    measurements = tuple(replace(m, file=sub(m.file), error=sub(m.error)) for m in batch.measurements)
    manual = tuple({**man, "sample_id": mapping.get(man.get("sample_id", ""), man.get("sample_id", ""))}
                   for man in batch.manual)
    return replace(
        batch,
        worklist=replace(batch.worklist, entries=entries),
        results=results,
        interpretations=interpretations,
        measurements=measurements,
        messages=tuple(sub(m) for m in batch.messages),
        manual=manual,
    )


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > name.rfind("/") else ""
