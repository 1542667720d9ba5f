"""FHIR R4 Bundle: a DiagnosticReport and one Observation per analyte for a patient sample.

Plain JSON built from dicts (no runtime dependency); the tests validate every Bundle with the
``fhir.resources`` models. Resource ids are derived from batch, sample and analyte (not the
version), so a corrected version replaces the same resources with status ``corrected``.
Mapping: docs/lis.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from thioquant.assay.release_settings import LisSettings
from thioquant.lis.model import DISCLAIMER, LisObservation, LisSample, parse_when

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
LOCAL = "urn:thioquant:analyte"
PSEUDONYM_SYSTEM = "urn:thioquant:pseudonym"
_NS = uuid.UUID("6f1c1d2e-7d1b-4c53-9a53-8f1e2f3a4b5c")
_INTERP = {"H": "High", "L": "Low", "N": "Normal"}


def _id(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "|".join(parts)))


def _code(code: str, display: str, loinc: str) -> dict[str, Any]:
    coding = [{"system": LOINC, "code": loinc, "display": display}] if loinc else []
    coding.append({"system": LOCAL, "code": code, "display": display})
    return {"coding": coding, "text": display}


def _when(text: str) -> str | None:
    """FHIR dateTime: a date, or a date-time with its zone (a worklist time without a zone is
    sent as its date: FHIR needs the offset with a time)."""
    w = parse_when(text)
    if w is None:
        return None
    return w.isoformat() if w.tzinfo is not None else w.date().isoformat()


def _quantity(v: float, o: LisObservation) -> dict[str, Any]:
    return {"value": v, "unit": o.unit_text, "system": UCUM, "code": o.coding.ucum}


def _observation(s: LisSample, o: LisObservation, subject: dict[str, Any], status: str, issued: str,
                 when: str | None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": _id(s.batch, s.sample_id, o.analyte),
        "identifier": [{"system": "urn:thioquant:result", "value": f"{s.batch}/{s.sample_id}/{o.analyte}"}],
        "status": status,
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory", "display": "Laboratory"}]}],
        "code": _code(o.coding.code, o.coding.display, o.coding.loinc),
        "subject": subject,
        "issued": issued,
    }
    if when:
        res["effectiveDateTime"] = when
    if o.value is not None:
        res["valueQuantity"] = _quantity(o.value, o)
    elif o.reportable:
        res["valueString"] = o.text
    else:
        res["dataAbsentReason"] = {"coding": [{"system": ABSENT, "code": "error", "display": "Error"}],
                                   "text": f"not reported: {o.text}"}
    if o.abnormal:
        res["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": o.abnormal,
                                              "display": _INTERP[o.abnormal]}]}]
    if o.range_text:
        rr: dict[str, Any] = {"text": f"{o.range_text} {o.unit_text}"}
        if o.low is not None:
            rr["low"] = _quantity(o.low, o)
        if o.high is not None:
            rr["high"] = _quantity(o.high, o)
        res["referenceRange"] = [rr]
    if o.notes:
        res["note"] = [{"text": n} for n in o.notes]
    return res


def bundle(sample: LisSample, settings: LisSettings, *, version: int, corrected: bool,
           sent_at: datetime) -> dict[str, Any]:
    """The FHIR R4 ``collection`` Bundle of one patient sample."""
    status = "corrected" if corrected else "final"
    issued = sent_at.isoformat(timespec="seconds")
    when = _when(sample.collected_at)
    system = PSEUDONYM_SYSTEM if sample.pseudonymised else settings.patient_id_system
    subject = {"identifier": {"system": system, "value": sample.patient_id},
               "display": "pseudonymised patient" if sample.pseudonymised else sample.patient_id}
    obs = [_observation(sample, o, subject, status, issued, when) for o in sample.observations]
    conclusion = " ".join(c for c in (sample.comment, f"Notes: {sample.notes}" if sample.notes else "",
                                      DISCLAIMER if sample.comment else "") if c)
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": _id(sample.batch, sample.sample_id, "report"),
        "identifier": [{"system": "urn:thioquant:report", "value": f"{sample.batch}/{sample.sample_id}"}],
        "status": status,
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB",
                                  "display": "Laboratory"}]}],
        "code": _code(settings.panel_code, settings.panel_display, settings.panel_loinc),
        "subject": subject,
        "issued": issued,
        "result": [{"reference": f"urn:uuid:{o['id']}"} for o in obs],
    }
    if when:
        report["effectiveDateTime"] = when
    if conclusion:
        report["conclusion"] = conclusion
    if sample.category:
        report["conclusionCode"] = [{"coding": [{"system": "urn:thioquant:category", "code": sample.category}]}]
    entries = [{"fullUrl": f"urn:uuid:{report['id']}", "resource": report}]
    entries += [{"fullUrl": f"urn:uuid:{o['id']}", "resource": o} for o in obs]
    return {"resourceType": "Bundle", "id": _id(sample.batch, sample.sample_id, str(version), "bundle"),
            "meta": {"tag": [{"system": "urn:thioquant:output-version", "code": str(version)}]},
            "type": "collection", "timestamp": issued, "entry": entries}


__all__ = ["bundle"]
