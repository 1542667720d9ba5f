"""HL7 v2.5.1 ORU^R01: one unsolicited observation message per patient sample.

Segments: MSH, PID, ORC, OBR (the panel), NTE (interpretive comment, notes), then per analyte
OBX (value, UCUM unit, reference range, abnormal flag, result status F or C) with NTE for its
flags and delta note. Written by hand (a message is a few lines of delimited text); the tests
parse every message back with hl7apy and validate it against the 2.5.1 structure. Mapping:
docs/lis.md.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from thioquant.assay.release_settings import AnalyteCoding, LisSettings
from thioquant.lis.model import DISCLAIMER, LisSample, parse_when

VERSION = "2.5.1"


def escape(text: str) -> str:
    """Text as an HL7 field value: delimiters escaped (``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``),
    line breaks as ``\\.br\\``."""
    out = str(text).replace("\\", "\\E\\")
    for ch, esc in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        out = out.replace(ch, esc)
    return out.replace("\r\n", "\\.br\\").replace("\n", "\\.br\\").replace("\r", "\\.br\\")


def dtm(when: datetime | None) -> str:
    """HL7 DTM: YYYYMMDD[HHMM[SS]][+/-ZZZZ]."""
    if when is None:
        return ""
    if when.hour == when.minute == when.second == 0 and when.tzinfo is None:
        return when.strftime("%Y%m%d")
    return when.strftime("%Y%m%d%H%M%S") + (when.strftime("%z") if when.tzinfo else "")


def _ce(code: str, display: str, loinc: str = "") -> str:
    """CE: LOINC as the primary code when the method sets one, the local code as the alternate."""
    local = f"{escape(code)}^{escape(display)}^L"
    return f"{loinc}^{escape(display)}^LN^{local}" if loinc else local


def _obs_code(c: AnalyteCoding) -> str:
    return _ce(c.code, c.display, c.loinc)


def control_id(sample: LisSample, version: int) -> str:
    """MSH-10: unique per batch, sample and version (20 characters, the field's length)."""
    return hashlib.sha1(f"{sample.batch}|{sample.sample_id}|{version}|hl7".encode()).hexdigest()[:20].upper()


def oru_r01(sample: LisSample, settings: LisSettings, *, version: int, corrected: bool, sent_at: datetime) -> str:
    """The ORU^R01 message of one patient sample, segments separated by carriage returns.

    ``corrected``: the sample was sent before (an earlier output version), so every result
    goes out with status ``C`` (correction) under the same filler order number.
    """
    status = "C" if corrected else "F"
    collected = parse_when(sample.collected_at)
    filler = f"{escape(sample.batch)}-{escape(sample.sample_id)}^{escape(settings.sending_application)}"
    id_type, name = ("ANON", "^^^^^^S") if sample.pseudonymised else ("MR", "^^^^^^U")
    segs = [
        "|".join(["MSH", "^~\\&", escape(settings.sending_application), escape(settings.sending_facility),
                  escape(settings.receiving_application), escape(settings.receiving_facility), dtm(sent_at), "",
                  "ORU^R01^ORU_R01", control_id(sample, version), "P", VERSION]),
        f"PID|1||{escape(sample.patient_id)}^^^{escape(settings.sending_facility)}^{id_type}||{name}",
        f"ORC|RE||{filler}|||||||||||||||||||||",
        "|".join(["OBR", "1", "", filler, _ce(settings.panel_code, settings.panel_display, settings.panel_loinc),
                  "", "", dtm(collected), *[""] * 14, dtm(sent_at), "", "", status]),
    ]
    comments = [c for c in (sample.comment, f"Notes: {sample.notes}" if sample.notes else "",
                            f"Output version {version}" + (" (corrects an earlier version)" if corrected else ""),
                            DISCLAIMER if sample.comment else "") if c]
    segs += [f"NTE|{i}|L|{escape(c)}" for i, c in enumerate(comments, 1)]
    for i, o in enumerate(sample.observations, 1):
        unit = f"{escape(o.coding.ucum)}^{escape(o.unit_text)}^UCUM"
        if o.value is not None:
            vtype, value, st = "NM", f"{o.value:.1f}", status
        elif o.reportable:
            vtype, value, st = "ST", escape(o.text), status
        else:  # no result could be obtained: the reason goes in the NTE
            vtype, value, st = "ST", "", "X"
        segs.append("|".join(["OBX", str(i), vtype, _obs_code(o.coding), "", value, unit, escape(o.range_text),
                              o.abnormal, "", "", st, "", "", dtm(collected)]))
        notes = list(o.notes) if o.reportable else [f"not reported: {o.text}", *o.notes]
        segs += [f"NTE|{k}|L|{escape(n)}" for k, n in enumerate(notes, 1)]
    return "\r".join(segs) + "\r"


__all__ = ["VERSION", "control_id", "dtm", "escape", "oru_r01"]
