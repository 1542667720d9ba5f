"""What one LIS message carries: a patient sample and its observations, from ``results.json``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from thioquant.assay.release_settings import AnalyteCoding, LisSettings
from thioquant.flags import FLAGS
from thioquant.history import ReleasedSample, species

#: a keyed pseudonym as thioquant.privacy writes it
PSEUDONYM = re.compile(r"^PT-[0-9a-f]{12}$")

DISCLAIMER = "Interpretive comment: decision support for the clinician, not an instruction."

#: result flags that say nothing the value does not (they are not repeated as notes)
_QUIET = {"BELOW_LLOQ", "NOT_DETECTED"}


@dataclass(frozen=True)
class LisObservation:
    analyte: str
    species: str
    coding: AnalyteCoding
    value: float | None
    text: str
    unit_text: str
    low: float | None
    high: float | None
    range_text: str
    abnormal: str  # "H", "L", "N" or "" (not a number)
    reportable: bool  # False: no result could be obtained (no RBC count, no trace...)
    notes: tuple[str, ...]


@dataclass(frozen=True)
class LisSample:
    batch: str
    sample_id: str
    patient_id: str
    pseudonymised: bool
    collected_at: str
    observations: tuple[LisObservation, ...]
    comment: str
    notes: str
    category: str


def _ranges(doc: Mapping[str, Any], sp: str) -> tuple[float | None, float | None, str]:
    rr = doc.get("reference_ranges") or {}
    if sp == "6-TGN" and rr.get("tgn_low") is not None:
        return float(rr["tgn_low"]), float(rr["tgn_high"]), f"{rr['tgn_low']:g}-{rr['tgn_high']:g}"
    if sp == "6-MMPN" and rr.get("mmp_high") is not None:
        return None, float(rr["mmp_high"]), f"0-{rr['mmp_high']:g}"
    return None, None, ""


def _abnormal(v: float | None, low: float | None, high: float | None) -> str:
    if v is None or (low is None and high is None):
        return ""
    if low is not None and v < low:
        return "L"
    if high is not None and v > high:
        return "H"
    return "N"


def lis_sample(doc: Mapping[str, Any], s: ReleasedSample, settings: LisSettings) -> LisSample:
    """The LIS view of one released sample of ``doc`` (a ``results.json``)."""
    from thioquant.history import _value_text, batch_id

    reports = {a["name"]: a.get("reports_as", "") for a in (doc.get("release") or {}).get("analytes") or []}
    deltas = {d.get("species"): d for d in ((doc.get("patient_history") or {}).get(s.sample_id) or {}).get("deltas", [])}
    obs = []
    for r in s.results:
        name = str(r.get("analyte"))
        sp = species(name, reports.get(name, ""))
        v = r.get("reported")
        v = float(v) if isinstance(v, int | float) else None
        text = _value_text(r, s.interpretation, sp)
        low, high, rtext = _ranges(doc, sp)
        flags = [f for f in (r.get("flags") or []) if f not in _QUIET]
        notes = [f"{f}: {FLAGS.get(f, f)}" for f in flags]
        if sp in deltas and deltas[sp].get("note"):
            notes.append("Delta check - " + str(deltas[sp]["note"]))
        obs.append(LisObservation(
            analyte=name, species=sp, coding=settings.coding(name, reports.get(name, "")), value=v, text=text,
            unit_text=str(r.get("reported_unit") or "pmol/8x10^8 RBC"), low=low, high=high, range_text=rtext,
            abnormal=_abnormal(v, low, high), reportable=v is not None or text in ("undetectable", "<LLOQ", ">ULOQ"),
            notes=tuple(notes)))
    interp = s.interpretation
    return LisSample(batch=batch_id(doc), sample_id=s.sample_id, patient_id=s.patient_id,
                     pseudonymised=bool(PSEUDONYM.match(s.patient_id)),
                     collected_at=str(s.context.get("collected_at") or ""), observations=tuple(obs),
                     comment=str(interp.get("comment") or ""), notes=str(interp.get("notes") or ""),
                     category=str(interp.get("category") or ""))


def parse_when(text: str) -> datetime | None:
    """An ISO date or date-time from the worklist, or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


__all__ = ["DISCLAIMER", "LisObservation", "LisSample", "lis_sample", "parse_when"]
