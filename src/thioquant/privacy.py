"""Pseudonymisation of patient identifiers in every output.

Patient sample IDs, patient IDs and the raw file names of patient samples are replaced by a keyed
hash (HMAC-SHA256, first 12 hex digits, prefixed ``S-`` or ``PT-``). The same key gives the same
pseudonym across runs, so results can be linked by whoever holds the key and by no one else.
Calibrators, QCs and blanks keep their names. The transformation is applied to the whole
:class:`~thioquant.pipeline.BatchResult`, so every writer (tables, report, audit) sees only
pseudonyms: the identifier fields are mapped exactly, and every other text the batch holds (QC
rule messages and their details, the verdict's reasons and warnings, held-for-review reasons,
measurement problems, messages, interpretations) is rewritten wherever it sits, so a rule that
quotes sample names (the ion-ratio, IS-response and retention-time rules list the injections
they flag) cannot leak one. Only the method (no patient data) is left as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import fields, is_dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from thioquant.errors import InputError

MIN_KEY_LENGTH = 16


def pseudonym(value: str, key: bytes, prefix: str) -> str:
    return f"{prefix}{hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:12]}"


def pseudonym_map(entries: Any, key: str) -> dict[str, str]:
    """Every patient identifier of the worklist ``entries`` (sample id, patient id, raw file
    name of the patient samples) -> its keyed pseudonym."""
    if len(key) < MIN_KEY_LENGTH:
        raise InputError(f"pseudonymisation key must be at least {MIN_KEY_LENGTH} characters")
    k = key.encode()
    mapping: dict[str, str] = {}
    for e in entries:
        if e.sample_type != "unknown":
            continue
        mapping[e.sample_id] = pseudonym(e.sample_id, k, "S-")
        if e.patient_id:
            mapping[e.patient_id] = pseudonym(e.patient_id, k, "PT-")
        # the folder part stays (raw/017_P003.mzML -> raw/S-....mzML): it names where the file is,
        # and messages that quote the path must still point at the right folder
        folder = e.file[: max(e.file.rfind("/"), e.file.rfind("\\")) + 1]
        mapping[e.file] = f"{folder}{mapping[e.sample_id]}{_suffix(e.file)}"
    return mapping


def text_replacer(mapping: dict[str, str]) -> Any:
    """``sub(text)``: ``text`` with every key of ``mapping`` in it replaced (longest first)."""
    if not mapping:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(t) for t in sorted(mapping, key=len, reverse=True)))

    def sub(text: str) -> str:
        return pattern.sub(lambda mt: mapping[mt.group(0)], text) if text else text

    return sub


def pseudonymise(batch: Any, key: str) -> Any:
    """A copy of ``batch`` with patient identifiers replaced by keyed hashes."""
    mapping = pseudonym_map(batch.worklist.entries, key)
    if not mapping:
        return batch
    sub = text_replacer(mapping)

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
    measurements = tuple(replace(m, file=sub(m.file), error=sub(m.error)) for m in batch.measurements)
    manual = tuple({**man, "sample_id": mapping.get(man.get("sample_id", ""), man.get("sample_id", ""))}
                   for man in batch.manual)
    exact = replace(
        batch,
        worklist=replace(batch.worklist, entries=entries),
        results=results,
        measurements=measurements,
        manual=manual,
    )
    # then every text anywhere in the batch: the QC outcomes and the verdict quote sample names
    # in messages ("P001 (+2.5 %)") and details ({"flagged": ["P001", ...]})
    skip = {"method", "batch_dir"}
    changes = {f.name: _scrub(getattr(exact, f.name), sub) for f in fields(exact)
               if f.init and f.name not in skip}
    return replace(exact, **{k: v for k, v in changes.items() if v is not getattr(exact, k)})


def _scrub(obj: Any, sub: Any) -> Any:
    """``obj`` with ``sub`` applied to every string in it (dict keys too), rebuilding only the
    containers and frozen records that change; numbers, numeric arrays and other objects are
    returned as they are."""
    if isinstance(obj, str):
        new = sub(obj)
        return obj if new == obj else new
    if isinstance(obj, (tuple, list)):
        items = [_scrub(x, sub) for x in obj]
        if all(a is b for a, b in zip(items, obj, strict=True)):
            return obj
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
            return type(obj)(*items)
        return type(obj)(items)
    if isinstance(obj, (dict, MappingProxyType)):
        pairs = [(_scrub(k, sub), _scrub(v, sub)) for k, v in obj.items()]
        if all(k2 is k and v2 is v for (k2, v2), (k, v) in zip(pairs, obj.items(), strict=True)):
            return obj
        out = dict(pairs)
        return MappingProxyType(out) if isinstance(obj, MappingProxyType) else out
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "OUS":
            return obj
        items = obj.ravel().tolist()
        new = [_scrub(x, sub) for x in items]
        if all(a is b for a, b in zip(new, items, strict=True)):
            return obj
        return np.array(new, dtype=object if obj.dtype.kind == "O" else None).reshape(obj.shape)
    if is_dataclass(obj) and not isinstance(obj, type):
        changes = {}
        for f in fields(obj):
            if not f.init:
                continue
            v = getattr(obj, f.name)
            v2 = _scrub(v, sub)
            if v2 is not v:
                changes[f.name] = v2
        return replace(obj, **changes) if changes else obj
    return obj


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > name.rfind("/") else ""
