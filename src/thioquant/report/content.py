"""What the human-readable reports show, as plain rows (shared by HTML, PDF and XLSX).

Pure functions of a :class:`~thioquant.pipeline.BatchResult`; no formatting beyond text.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any


def num(v: Any, digits: int = 4) -> str:
    """Short text for a number ('' for NaN/None)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return ""
        text = f"{v:.{digits}g}"
        if "e+" in text and abs(v) < 1e7:
            text = f"{v:.0f}"
        return text
    return str(v)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file ('' when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return ""
    return h.hexdigest()


def input_files(batch: Any) -> list[tuple[str, str]]:
    """(file, sha256) of every input: worklist, batch.toml, method file, the decisions file of
    ``--overrides`` and each raw file."""
    out: list[tuple[str, str]] = []
    root = Path(batch.batch_dir)
    wl = Path(batch.worklist.path) if getattr(batch.worklist, "path", "") else root / "worklist.csv"
    for p in (wl, root / "batch.toml"):
        if p.is_file():
            out.append((_rel(p, root), sha256_file(p)))
    m = batch.method
    if m.source:
        out.append((Path(m.source).name + " (method)", m.sha256 or sha256_file(m.source)))
    dec = getattr(batch, "decisions_file", None)
    if dec:  # quantify --overrides: the sha256 of the bytes applied, as audit.jsonl records it
        out.append((f"{dec['file']} (decisions file)", str(dec.get("sha256", ""))))
    for e, meas in zip(batch.worklist.entries, batch.measurements, strict=False):
        out.append((e.file, meas.sha256 or ("unreadable: " + meas.error if meas.error else "")))
    return out


def _rel(p: Path, root: Path) -> str:
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)


def verdict_info(batch: Any) -> dict[str, Any]:
    """Verdict as a dict: accepted, state text, deciding rule, reasons, warnings, rules not evaluated."""
    v = batch.verdict
    return {
        "accepted": bool(getattr(v, "accepted", False)),
        "state": "ACCEPTED" if getattr(v, "accepted", False) else "REJECTED",
        "rule": str(getattr(v, "deciding_rule", "") or ""),
        "reasons": [str(r) for r in (getattr(v, "reasons", ()) or ())],
        "warnings": [str(w) for w in (getattr(v, "warnings", ()) or ())],
        "not_evaluated": [str(w) for w in (getattr(v, "not_evaluated", ()) or ())],
        "held": len(held_rows(batch)),
    }


HELD_COLUMNS = ["sample_id", "patient_id", "sample_type", "analyte", "value", "unit", "reasons"]


def held_rows(batch: Any) -> list[dict[str, Any]]:
    """Patient and QC results held for review (``HELD:<reason>``) or without a result from a dead
    channel (``DEAD_CHANNEL``), in run order: none is interpreted, each needs a person's review.

    ``value`` is the reported value of a patient result (``conc`` for a QC), kept for the
    investigation; ``reasons`` the plain-language reasons with the numbers the checks found.
    """
    from thioquant.qc.hold import HELD_TYPES, REASONS, held_reasons

    details: dict[tuple[str, str], list[str]] = {}
    for o in batch.qc_outcomes:
        if o.rule == "hold":
            for h in (o.details or {}).get("held", ()):
                details[(str((o.details or {}).get("analyte", "")), h["sample_id"])] = list(h["details"])
    rows = []
    for r in batch.results:
        codes = list(dict.fromkeys(held_reasons(r.flags)))
        dead = "DEAD_CHANNEL" in r.flags
        if r.sample_type not in HELD_TYPES or not (codes or dead):
            continue
        texts = ["dead detector channel: an instrument fault, not 'not detected' (see messages.txt)"] if dead else []
        texts += details.get((r.analyte, r.sample_id)) or [REASONS.get(c, c) for c in codes]
        patient = r.sample_type == "unknown"
        rows.append({"sample_id": r.sample_id, "patient_id": r.patient_id, "sample_type": r.sample_type,
                     "analyte": r.analyte, "value": r.reported if patient else r.conc,
                     "unit": r.reported_unit if patient else r.conc_unit, "reasons": "; ".join(texts),
                     "codes": [*(["DEAD_CHANNEL"] if dead else []), *codes]})
    return rows


def held_text(n: int) -> str:
    """The verdict line's count of held results ('' for none)."""
    return f"{n} result(s) held for review, not interpreted" if n else ""


CALIBRATOR_COLUMNS = ["level", "nominal", "response", "back_calc", "re_pct", "limit_pct", "included", "reason"]


def calibrator_rows(outcome: Any) -> list[dict[str, Any]]:
    """One row per calibrator of a CalibrationOutcome (``re_pct`` = back-calc relative error)."""
    if outcome is None:
        return []
    return [
        {
            "level": p.level, "nominal": p.x, "response": p.y, "back_calc": p.back_calc,
            "re_pct": p.accuracy_pct - 100.0, "limit_pct": p.limit_pct, "included": bool(p.included),
            "reason": p.reason,
        }
        for p in outcome.points
    ]


def calibration_summary(name: str, outcome: Any) -> dict[str, Any]:
    """Model, weighting, equation, r^2, range and verdict of one analyte's calibration."""
    if outcome is None:
        return {"analyte": name, "model": "", "weighting": "", "equation": "", "r2": math.nan, "lloq": math.nan,
                "uloq": math.nan, "passed": False, "n_included": 0, "n_calibrators": 0,
                "reasons": ["no calibration could be fitted"]}
    from thioquant.model import equation_text

    cal = outcome.calibration
    return {
        "analyte": name, "model": cal.model, "weighting": cal.weighting, "equation": equation_text(cal.model, cal.coefficients),
        "r2": float(cal.r2), "lloq": float(outcome.lloq), "uloq": float(outcome.uloq), "passed": bool(outcome.passed),
        "n_included": int(sum(p.included for p in outcome.points)), "n_calibrators": len(outcome.points),
        "reasons": list(outcome.reasons),
    }


QC_RULE_COLUMNS = ["rule", "code", "analyte", "severity", "passed", "status", "message"]

#: how each row state of the QC rule table reads in the reports
QC_STATE_LABELS = {"pass": "pass", "warn": "warning", "fail": "FAIL", "na": "not evaluated"}


def qc_rule_rows(batch: Any) -> list[dict[str, Any]]:
    """Every QC rule outcome: ``passed`` bool, ``status`` pass / fail / not_evaluated, ``state``
    (row colour) pass / warn / fail / na and ``label``, the state in words."""
    rows = []
    for o in batch.qc_outcomes:
        status = o.status
        if status == "not_evaluated":
            state = "na"
        else:
            state = "pass" if status == "pass" else ("warn" if o.severity == "warn" else "fail")
        rows.append({"rule": o.rule, "code": o.code, "analyte": (o.details or {}).get("analyte", ""),
                     "severity": o.severity, "passed": bool(o.passed), "status": status, "message": o.message,
                     "state": state, "label": QC_STATE_LABELS[state]})
    return rows


QC_SAMPLE_COLUMNS = ["sample_id", "level", "analyte", "nominal", "conc", "accuracy_pct", "flags"]


def qc_tolerance_text(batch: Any) -> str:
    """The QC rule's accuracy limit as the tables' captions state it ("+/-15 %"), from ``[qc]``
    (not the calibrators' tolerance; an LLOQ QC's wider limit applies to that level)."""
    from thioquant.qc.settings import QCSettings

    return f"{QCSettings.from_dict(dict(batch.method.qc)).qc_tolerance_pct:g}"


def qc_sample_rows(batch: Any) -> list[dict[str, Any]]:
    """QC samples with their accuracy; ``state`` is fail when the run QC flagged the sample
    (QC_FAIL: outside its level's tolerance), as the verdict judged it."""
    rows = []
    for r in batch.results:
        if r.sample_type != "qc":
            continue
        ok = math.isfinite(r.accuracy_pct) and "QC_FAIL" not in r.flags
        rows.append({"sample_id": r.sample_id, "level": r.level, "analyte": r.analyte, "nominal": r.nominal,
                     "conc": r.conc, "accuracy_pct": r.accuracy_pct, "flags": ";".join(r.flags),
                     "state": "pass" if ok else "fail"})
    return rows


@dataclass(frozen=True)
class Ranges:
    """Reference ranges of the interpretation profile (pmol/8x10^8 RBC)."""

    profile: str
    unit: str
    tgn_low: float
    tgn_high: float
    mmp_high: float
    ratio_high: float
    #: the profile counts a value equal to the limit as raised (Prometheus: 6-MMP >= 5700)
    mmp_high_includes_limit: bool = False
    ratio_high_includes_limit: bool = False
    #: method families the profile's ranges apply to
    families: tuple[str, ...] = ()
    #: monitoring schedule shown as context on the patient report
    monitoring: str = ""

    def mmp_reference(self) -> str:
        """"<= 5700", or "< 5700" when the profile counts 5700 itself as raised (Prometheus)."""
        return f"{'<' if self.mmp_high_includes_limit else '<='} {self.mmp_high:g}"

    def ratio_reference(self) -> str:
        return f"{'<' if self.ratio_high_includes_limit else '<='} {self.ratio_high:g}"

    def text(self) -> str:
        return (f"6-TGN {self.tgn_low:g}-{self.tgn_high:g}; 6-MMP {self.mmp_reference()}; "
                f"MMP:TGN ratio {self.ratio_reference()} ({self.unit}, profile {self.profile})")

    def family_text(self, family: str) -> str:
        """The batch's method family and whether the profile's ranges apply to it."""
        fams = "/".join(self.families)
        if not family:
            return f"method family not recorded; ranges for {fams} assays"
        if self.families and family not in self.families:
            return f"method family {family}: the profile's ranges ({fams}) are not applied"
        return f"method family {family} (profile ranges for {fams} assays)"

    def mmp_raised(self, mmp: float) -> bool:
        return mmp >= self.mmp_high if self.mmp_high_includes_limit else mmp > self.mmp_high

    def ratio_raised(self, ratio: float) -> bool:
        return ratio >= self.ratio_high if self.ratio_high_includes_limit else ratio > self.ratio_high


def reference_ranges(batch: Any, profile: Any = None) -> Ranges | None:
    """The reference ranges used to interpret the patients (None when the profile cannot load).

    ``profile`` (name, file or Profile) overrides the method's interpretation profile.
    """
    m = batch.method
    name = profile if profile is not None else m.interpretation_profile
    base = str(Path(m.source).parent) if m.source else ""
    stamp = 0
    for cand in (Path(str(name)), Path(base) / str(name)):
        if cand.is_file():  # a profile file: an edited file is read again
            stamp = cand.stat().st_mtime_ns
            break
    try:
        return _ranges(name, base, stamp)
    except TypeError:  # an unhashable Profile object
        return _ranges.__wrapped__(name, base, stamp)


@lru_cache(maxsize=32)
def _ranges(name: Any, base: str, _stamp: int = 0) -> Ranges | None:
    from thioquant.clinical import load_profile

    try:
        p = load_profile(name, base_dir=base or None)
    except Exception:  # noqa: BLE001 - the report must still be written
        return None
    return Ranges(p.name, p.unit, p.tgn_low, p.tgn_high, p.mmp_high, p.ratio_high,
                  p.mmp_high_includes_limit, p.ratio_high_includes_limit, tuple(p.method_families),
                  p.monitoring)


PATIENT_COLUMNS = ["patient_id", "sample_id", "tgn_pmol_8e8", "mmp_pmol_8e8", "ratio", "category", "comment",
                   "notes", "flags"]


def _f(text: Any) -> float:
    try:
        return float(str(text))
    except ValueError:
        return math.nan


def patient_rows(batch: Any, ranges: Ranges | None = None) -> list[dict[str, Any]]:
    """Interpretation rows with ``tgn_state``/``mmp_state``/``ratio_state``: low / ok / high / ''."""
    rows = []
    for it in batch.interpretations:
        row = {c: str(it.get(c, "") or "") for c in PATIENT_COLUMNS}
        row["dose_band"] = str(it.get("dose_band", "") or "")  # the patient PDF prints it
        tgn, mmp, ratio = _f(row["tgn_pmol_8e8"]), _f(row["mmp_pmol_8e8"]), _f(row["ratio"])
        st = {"tgn_state": "", "mmp_state": "", "ratio_state": ""}
        if ranges is not None:
            if math.isfinite(tgn):
                st["tgn_state"] = "low" if tgn < ranges.tgn_low else ("high" if tgn > ranges.tgn_high else "ok")
            if math.isfinite(mmp):
                st["mmp_state"] = "high" if ranges.mmp_raised(mmp) else "ok"
            if math.isfinite(ratio):
                st["ratio_state"] = "high" if ranges.ratio_raised(ratio) else "ok"
            elif row["ratio"].startswith(">"):  # a lower bound (6-TGN undetectable): high only if it is
                bound = _f(row["ratio"].lstrip("> "))
                if math.isfinite(bound) and ranges.ratio_raised(bound):
                    st["ratio_state"] = "high"
        row.update(st)
        rows.append(row)
    return rows


def lj_series(history: Any, batch: Any) -> list[dict[str, Any]]:
    """Levey-Jennings data for every analyte x QC level of the method with at least one value.

    ``history`` is a :class:`~thioquant.qc.westgard.QCHistory`, a path to its SQLite file, or a
    ready list of ``levey_jennings`` dicts (returned as is). None gives [].
    """
    if history is None:
        return []
    if isinstance(history, Sequence) and not isinstance(history, str):
        return [dict(d) for d in history]
    own = False
    if isinstance(history, str | Path):
        if not Path(history).is_file():
            return []
        from thioquant.qc.westgard import QCHistory

        history = QCHistory(history)
        own = True
    try:
        out = []
        for a in batch.method.analytes:
            for level in batch.method.qcs:
                d = history.levey_jennings(a.name, level)
                if d.get("value"):
                    out.append(d)
        return out
    finally:
        if own:
            history.close()


def manual_rows(batch: Any) -> list[Mapping[str, Any]]:
    return [dict(m) for m in batch.manual]


__all__ = [
    "CALIBRATOR_COLUMNS", "HELD_COLUMNS", "PATIENT_COLUMNS", "QC_RULE_COLUMNS", "QC_SAMPLE_COLUMNS", "Ranges",
    "calibration_summary", "calibrator_rows", "held_rows", "held_text", "input_files", "lj_series", "manual_rows", "num",
    "patient_rows", "qc_rule_rows", "qc_sample_rows", "reference_ranges", "sha256_file", "verdict_info",
]
