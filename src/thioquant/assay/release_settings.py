"""Method settings for what happens to a result after release: the delta check and LIS coding.

Two optional tables of a method TOML, validated when the method loads:

``[delta]`` (see docs/history.md)::

    cv_analytical_pct = { "6-TG" = 8.1, "6-MMP" = 8.1 }     # the method's analytical CV
    cv_within_subject_pct = { "6-TG" = 20, "6-MMP" = 30 }   # UNVERIFIED: no published figure
    limit_pct = { "6-MMP" = 100 }                           # optional fixed limit, replaces the RCV

``[lis]`` (see docs/lis.md)::

    sending_application = "THIOQUANT"
    sending_facility = "LAB"
    patient_id_system = "urn:oid:..."     # assigning authority of the lab's patient ids
    panel = { code = "THIOMET", display = "Thiopurine metabolites, RBC", loinc = "" }
    [lis.analytes."6-TG"]
    code = "TGN"; display = "6-Thioguanine nucleotides"; loinc = ""; ucum = "pmol/(8.10*8{RBC})"

No LOINC code ships as a default: none could be verified against the LOINC table or a reference
laboratory's catalogue (docs/lis.md says what was found). An empty ``loinc`` sends the local
code only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thioquant.errors import MethodError

#: UCUM for pmol/8x10^8 RBC: 8 x 10^8 annotated cells (an annotation is a unity, so the unit
#: is dimensionally pmol); configurable per analyte. The tests parse it with ucumvert.
UCUM_PMOL_8E8_RBC = "pmol/(8.10*8{RBC})"

_LOINC = re.compile(r"^\d{1,7}-\d$")

_DEFAULT_CODES = {"6-TG": ("TGN", "6-Thioguanine nucleotides"),
                  "6-MMP": ("MMPN", "6-Methylmercaptopurine nucleotides")}


@dataclass(frozen=True)
class AnalyteCoding:
    """How one analyte is named in a LIS message."""

    code: str
    display: str
    loinc: str = ""
    ucum: str = UCUM_PMOL_8E8_RBC


@dataclass(frozen=True)
class LisSettings:
    """The ``[lis]`` table of a method."""

    sending_application: str = "THIOQUANT"
    sending_facility: str = "LAB"
    receiving_application: str = "LIS"
    receiving_facility: str = ""
    patient_id_system: str = "urn:thioquant:patient-id"
    panel_code: str = "THIOMET"
    panel_display: str = "Thiopurine metabolites, RBC"
    panel_loinc: str = ""
    analytes: Mapping[str, AnalyteCoding] = field(default_factory=dict)

    def coding(self, analyte: str, reports_as: str = "") -> AnalyteCoding:
        """The coding of ``analyte`` (a local code from its name when the method sets none)."""
        if analyte in self.analytes:
            return self.analytes[analyte]
        code, display = _DEFAULT_CODES.get(analyte, (re.sub(r"[^A-Za-z0-9]", "", analyte).upper() or "X",
                                                     reports_as or analyte))
        return AnalyteCoding(code=code, display=display)

    def as_dict(self) -> dict[str, Any]:
        return {"sending_application": self.sending_application, "sending_facility": self.sending_facility,
                "receiving_application": self.receiving_application,
                "receiving_facility": self.receiving_facility, "patient_id_system": self.patient_id_system,
                "panel": {"code": self.panel_code, "display": self.panel_display, "loinc": self.panel_loinc},
                "analytes": {k: {"code": a.code, "display": a.display, "loinc": a.loinc, "ucum": a.ucum}
                             for k, a in self.analytes.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> LisSettings:
        """Inverse of :meth:`as_dict` (as stored in ``results.json``); tolerant of missing keys."""
        d = d or {}
        panel = d.get("panel") or {}
        return cls(
            sending_application=str(d.get("sending_application", "THIOQUANT")),
            sending_facility=str(d.get("sending_facility", "LAB")),
            receiving_application=str(d.get("receiving_application", "LIS")),
            receiving_facility=str(d.get("receiving_facility", "")),
            patient_id_system=str(d.get("patient_id_system", "urn:thioquant:patient-id")),
            panel_code=str(panel.get("code", "THIOMET")), panel_display=str(panel.get("display", "Thiopurine metabolites, RBC")),
            panel_loinc=str(panel.get("loinc", "")),
            analytes={k: AnalyteCoding(str(a.get("code", k)), str(a.get("display", k)), str(a.get("loinc", "")),
                                       str(a.get("ucum", UCUM_PMOL_8E8_RBC)))
                      for k, a in (d.get("analytes") or {}).items()},
        )


@dataclass(frozen=True)
class DeltaSettings:
    """The ``[delta]`` table of a method: what change between two results is flagged ``DELTA``."""

    cv_analytical_pct: Mapping[str, float] = field(default_factory=dict)
    cv_within_subject_pct: Mapping[str, float] = field(default_factory=dict)
    limit_pct: Mapping[str, float] = field(default_factory=dict)

    def limit(self, analyte: str) -> tuple[float | None, str]:
        """(limit in %, how it was obtained) for ``analyte``; (None, why) when it cannot be set.

        The default is the reference change value (Fraser; two-sided, 95 %):
        ``RCV = 1.96 * sqrt(2) * sqrt(CVa^2 + CVi^2)``.
        """
        if analyte in self.limit_pct:
            return self.limit_pct[analyte], f"fixed limit {self.limit_pct[analyte]:g} %"
        cva, cvi = self.cv_analytical_pct.get(analyte), self.cv_within_subject_pct.get(analyte)
        if cva is None or cvi is None:
            missing = " and ".join(n for n, v in (("cv_analytical_pct", cva), ("cv_within_subject_pct", cvi))
                                   if v is None)
            return None, f"no delta limit: the method's [delta] {missing} for {analyte} is not set"
        rcv = rcv_pct(cva, cvi)
        return rcv, (f"reference change value {rcv:.1f} % (CVa {cva:g} %, CVi {cvi:g} % - the "
                     "within-subject CV is a lab setting, unverified: no published figure)")

    def as_dict(self) -> dict[str, Any]:
        return {"cv_analytical_pct": dict(self.cv_analytical_pct),
                "cv_within_subject_pct": dict(self.cv_within_subject_pct), "limit_pct": dict(self.limit_pct)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> DeltaSettings:
        d = d or {}
        return cls(*({k: float(v) for k, v in (d.get(name) or {}).items()}
                     for name in ("cv_analytical_pct", "cv_within_subject_pct", "limit_pct")))


def rcv_pct(cv_analytical_pct: float, cv_within_subject_pct: float, z: float = 1.96) -> float:
    """Reference change value in %: ``z * sqrt(2) * sqrt(CVa^2 + CVi^2)``."""
    return z * math.sqrt(2.0) * math.hypot(cv_analytical_pct, cv_within_subject_pct)


def _fail(path: str, key: str, reason: str) -> MethodError:
    return MethodError(reason, path=path, key=key)


def _pct_table(d: Any, key: str, path: str, analytes: set[str], hi: float) -> dict[str, float]:
    if d is None:
        return {}
    if not isinstance(d, Mapping):
        raise _fail(path, key, "must be a table of analyte = percent")
    out = {}
    for name, v in d.items():
        if name not in analytes:
            raise _fail(path, f"{key}.{name}", f"not an analyte of the method ({', '.join(sorted(analytes))})")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not 0 < v <= hi:
            raise _fail(path, f"{key}.{name}", f"must be a percentage in (0, {hi:g}], got {v!r}")
        out[name] = float(v)
    return out


def parse_delta(raw: Mapping[str, Any], path: str, analytes: set[str]) -> DeltaSettings:
    """Validate a method's ``[delta]`` table (empty settings when absent)."""
    d = raw.get("delta")
    if d is None:
        return DeltaSettings()
    if not isinstance(d, Mapping):
        raise _fail(path, "delta", "must be a table")
    allowed = {"cv_analytical_pct", "cv_within_subject_pct", "limit_pct"}
    extra = sorted(set(d) - allowed)
    if extra:
        raise _fail(path, f"delta.{extra[0]}", f"unknown setting (allowed: {', '.join(sorted(allowed))})")
    return DeltaSettings(_pct_table(d.get("cv_analytical_pct"), "delta.cv_analytical_pct", path, analytes, 100),
                         _pct_table(d.get("cv_within_subject_pct"), "delta.cv_within_subject_pct", path, analytes, 200),
                         _pct_table(d.get("limit_pct"), "delta.limit_pct", path, analytes, 10000))


def _text(d: Mapping[str, Any], name: str, key: str, path: str, default: str, *, empty: bool = False) -> str:
    v = d.get(name, default)
    if not isinstance(v, str) or (not empty and not v.strip()):
        raise _fail(path, key, f"must be {'text' if empty else 'non-empty text'}, got {v!r}")
    if any(c in v for c in "|^~\\&\r\n"):  # HL7 delimiters would split the field in the message
        raise _fail(path, key, f"must not contain HL7 delimiters (| ^ ~ \\ &) or line breaks: {v!r}")
    return v.strip()


def _loinc(d: Mapping[str, Any], key: str, path: str) -> str:
    v = _text(d, "loinc", key, path, "", empty=True)
    if v and not _LOINC.match(v):
        raise _fail(path, key, f"not a LOINC code (digits, hyphen, check digit): {v!r}")
    if v:  # the LOINC check digit is a mod-10 (Luhn) digit: a typo is caught on load
        digits, check = v.split("-")
        if str(_mod10(digits)) != check:
            raise _fail(path, key, f"LOINC check digit of {v!r} is wrong (expected {_mod10(digits)})")
    return v


def _mod10(digits: str) -> int:
    """LOINC's check digit (the Luhn mod-10 algorithm on the part before the hyphen)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            n = n - 9 if n > 9 else n
        total += n
    return (10 - total % 10) % 10


def parse_lis(raw: Mapping[str, Any], path: str, analytes: set[str]) -> LisSettings:
    """Validate a method's ``[lis]`` table (defaults, no LOINC codes, when absent)."""
    d = raw.get("lis")
    if d is None:
        return LisSettings()
    if not isinstance(d, Mapping):
        raise _fail(path, "lis", "must be a table")
    allowed = {"sending_application", "sending_facility", "receiving_application", "receiving_facility",
               "patient_id_system", "panel", "analytes"}
    extra = sorted(set(d) - allowed)
    if extra:
        raise _fail(path, f"lis.{extra[0]}", f"unknown setting (allowed: {', '.join(sorted(allowed))})")
    base = LisSettings()
    panel = d.get("panel") or {}
    if not isinstance(panel, Mapping) or set(panel) - {"code", "display", "loinc"}:
        raise _fail(path, "lis.panel", "must be a table with code, display and loinc")
    coded = {}
    for name, a in (d.get("analytes") or {}).items():
        key = f"lis.analytes.{name}"
        if name not in analytes:
            raise _fail(path, key, f"not an analyte of the method ({', '.join(sorted(analytes))})")
        if not isinstance(a, Mapping) or set(a) - {"code", "display", "loinc", "ucum"}:
            raise _fail(path, key, "must be a table with code, display, loinc and ucum")
        dflt = base.coding(name)
        coded[name] = AnalyteCoding(
            code=_text(a, "code", f"{key}.code", path, dflt.code),
            display=_text(a, "display", f"{key}.display", path, dflt.display),
            loinc=_loinc(a, f"{key}.loinc", path),
            ucum=_text(a, "ucum", f"{key}.ucum", path, dflt.ucum),
        )
    return LisSettings(
        sending_application=_text(d, "sending_application", "lis.sending_application", path, base.sending_application),
        sending_facility=_text(d, "sending_facility", "lis.sending_facility", path, base.sending_facility),
        receiving_application=_text(d, "receiving_application", "lis.receiving_application", path,
                                    base.receiving_application),
        receiving_facility=_text(d, "receiving_facility", "lis.receiving_facility", path, "", empty=True),
        patient_id_system=_text(d, "patient_id_system", "lis.patient_id_system", path, base.patient_id_system),
        panel_code=_text(panel, "code", "lis.panel.code", path, base.panel_code),
        panel_display=_text(panel, "display", "lis.panel.display", path, base.panel_display),
        panel_loinc=_loinc(panel, "lis.panel.loinc", path),
        analytes=coded,
    )


def method_delta(method: Any) -> DeltaSettings:
    """The delta settings of a loaded :class:`~thioquant.assay.method.Method`."""
    return parse_delta(method.raw, method.source, {a.name for a in method.analytes})


def method_lis(method: Any) -> LisSettings:
    """The LIS settings of a loaded method."""
    return parse_lis(method.raw, method.source, {a.name for a in method.analytes})


__all__ = ["UCUM_PMOL_8E8_RBC", "AnalyteCoding", "DeltaSettings", "LisSettings", "method_delta", "method_lis",
           "parse_delta", "parse_lis", "rcv_pct"]
