"""Tabular output of the clinical layer: ``interpretation.csv`` rows from per-analyte results."""

from __future__ import annotations

import contextlib
import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from thioquant import flags as _flags
from thioquant.assay.normalise import canonical_analyte
from thioquant.clinical.context import ClinicalContext
from thioquant.clinical.formatting import format_near
from thioquant.clinical.profiles import Profile, load_profile
from thioquant.clinical.rules import Interpretation, interpret
from thioquant.errors import InputError

#: Columns of ``interpretation.csv``.
INTERPRETATION_COLUMNS = (
    "patient_id", "sample_id", "tgn_pmol_8e8", "mmp_pmol_8e8", "ratio", "category", "comment",
    "notes", "profile", "method_family", "dose_band", "flags",
)

#: Result flags that mean "below the reportable limit": the metabolite is treated as undetectable.
UNDETECTED_FLAGS = frozenset({"NOT_DETECTED", "BELOW_LOD", "BELOW_LLOQ", "NO_PEAK"})

#: Result flags that mean "no usable RBC count": the result (even an undetectable one) cannot be
#: expressed per 8x10^8 RBC, so it is not available for interpretation.
RBC_FLAGS = frozenset({"NO_RBC", "BAD_RBC"})

#: Flags under which a result is not interpreted however it reads, a number or "undetectable"
#: (its values stay in results.csv for the investigation), in the order the note names them:
#: a rejected run; a sample_id on two worklist rows (whose result is the patient's cannot be
#: told); no usable RBC count ("undetectable" per 8x10^8 RBC needs the count: at RBC 0.5 a 6-TG
#: LLOQ of 100 nmol/L is 160 pmol/8x10^8 RBC, so it must not read as non-adherence).
#: HELD (held for review) and DEAD_CHANNEL come from the signal-integrity rules (branch "hold");
#: listed here, the one table, so that a held or dead-channel result is never interpreted.
NOT_INTERPRETED_FLAGS = ("RUN_INVALID", "DUPLICATE_ID", "HELD", "DEAD_CHANNEL", *sorted(RBC_FLAGS))

_NON_PATIENT_TYPES = frozenset({
    "calibrator", "cal", "standard", "qc", "blank", "zero", "double_blank", "solvent",
    "system_suitability", "sst", "carryover", "matrix_blank",
})


def interpretation_row(
    interp: Interpretation, *, patient_id: str = "", sample_id: str = "", decimals: int = 1
) -> dict[str, str]:
    """One ``interpretation.csv`` row (text values, in :data:`INTERPRETATION_COLUMNS` order)."""

    cut = interp.cutoffs

    def num(v: float | None, det: bool, role: str) -> str:
        if not det:
            return "undetectable"
        if v is None or math.isnan(v):
            return ""
        return format_near(v, cut.get(role, ()), decimals)

    return {
        "patient_id": patient_id,
        "sample_id": sample_id,
        "tgn_pmol_8e8": num(interp.tgn, interp.tgn_detected, "tgn"),
        "mmp_pmol_8e8": num(interp.mmp, interp.mmp_detected, "mmp"),
        "ratio": interp.ratio_text(),
        "category": interp.category,
        "comment": interp.comment,
        "notes": " | ".join(interp.notes),
        "profile": interp.profile,
        "method_family": interp.method_family or "",
        "dose_band": interp.dose_band or "",
        "flags": ";".join(interp.flags),
    }


def _get(rec: Any, name: str, default: Any = "") -> Any:
    if isinstance(rec, Mapping):
        return rec.get(name, default)
    return getattr(rec, name, default)


def _role(analyte: str) -> str | None:
    try:
        a = canonical_analyte(analyte)
    except InputError:
        return None
    return {"6-TG": "tgn", "6-MMP": "mmp", "AMTCI": "mmp"}.get(a)


def interpretation_rows(
    results: Iterable[Any],
    *,
    profile: str | Path | Profile = "default",
    contexts: Mapping[str, ClinicalContext] | None = None,
    method_family: str | None = None,
    below_limits: Mapping[tuple[str, str], float] | None = None,
) -> list[dict[str, str]]:
    """Rows of ``interpretation.csv`` from per-analyte results, one per patient sample.

    Parameters
    ----------
    results : iterable of Result or mapping
        Records with ``sample_id, sample_type, analyte, reported, flags`` and optionally
        ``patient_id`` and ``method_family``. Calibrators, QCs and blanks are skipped. The 6-TGN
        row is the analyte 6-TG (6-TGN); the 6-MMP row is 6-MMP (or AMTCI). Replicate
        injections are averaged. A result flagged NOT_DETECTED/BELOW_LOD/BELOW_LLOQ/NO_PEAK is
        undetectable; a NaN ``reported`` value without such a flag is not available, and so is
        any result flagged RUN_INVALID (the run failed acceptance), DUPLICATE_ID (its sample_id
        names more than one worklist row), or NO_RBC / BAD_RBC (no usable RBC count: even an
        undetectable concentration cannot be called undetectable per 8x10^8 RBC).
    profile : str, Path or Profile
        Interpretation profile (per method or per run).
    contexts : mapping, optional
        ClinicalContext per sample_id (looked up first) or patient_id.
    method_family : str, optional
        Family for results that do not carry their own ``method_family``.
    below_limits : mapping, optional
        ``(sample_id, analyte) -> LLOQ in pmol/8x10^8 RBC`` for that sample (its RBC count and
        dilution applied): an undetectable result is known to be below it, which bounds the
        MMP:TGN ratio from below when 6-TGN is undetectable (see :func:`interpret`).

    Returns
    -------
    list of dict
        Keys :data:`INTERPRETATION_COLUMNS`, in order of first appearance.
    """
    prof = load_profile(profile)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        stype = str(_get(r, "sample_type", "") or "").strip().lower()
        if stype in _NON_PATIENT_TYPES:
            continue
        role = _role(str(_get(r, "analyte", "")))
        if role is None:
            continue
        sid = str(_get(r, "sample_id", ""))
        pid = str(_get(r, "patient_id", "") or "")
        g = groups.setdefault((pid, sid), {"tgn": [], "mmp": [], "fam": ""})
        rflags = {str(f).split(":")[0] for f in (_get(r, "flags", ()) or ())}
        try:
            val = float(_get(r, "reported", math.nan))
        except (TypeError, ValueError):
            val = math.nan
        blocking = [f for f in NOT_INTERPRETED_FLAGS if f in rflags]
        if blocking:
            val = math.nan
            rflags = {blocking[0]}  # the note names the deciding flag
        g[role].append((val, not (rflags & UNDETECTED_FLAGS)))
        if below_limits and rflags & UNDETECTED_FLAGS:
            lim = below_limits.get((sid, str(_get(r, "analyte", ""))))
            if lim is not None and math.isfinite(lim) and lim > 0:
                g.setdefault(f"{role}_below", []).append(float(lim))
        if not math.isfinite(val) and not (rflags & UNDETECTED_FLAGS):
            g.setdefault(f"{role}_why", []).extend(sorted(rflags))
        lo, hi = _get(r, "reported_low", math.nan), _get(r, "reported_high", math.nan)
        with contextlib.suppress(TypeError, ValueError):
            g.setdefault(f"{role}_iv", []).append((float(lo), float(hi)))
        g["fam"] = g["fam"] or str(_get(r, "method_family", "") or "")

    rows = []
    for (pid, sid), g in groups.items():
        args = {}
        for role in ("tgn", "mmp"):
            reps = g[role]
            detected = [v for v, d in reps if d]
            if not reps:
                args[role], args[f"{role}_detected"] = math.nan, True
            elif not detected:
                args[role], args[f"{role}_detected"] = None, False
            else:
                finite = [v for v in detected if math.isfinite(v)]
                args[role] = sum(finite) / len(finite) if finite else math.nan
                args[f"{role}_detected"] = True
        ctx = None
        if contexts:
            ctx = contexts.get(sid) or (contexts.get(pid) if pid else None)
        fam = g["fam"] or method_family
        ivs = {}
        for role in ("tgn", "mmp"):
            finite = [iv for iv in g.get(f"{role}_iv", []) if all(math.isfinite(x) for x in iv)]
            # with replicates, the widest envelope of the replicate intervals is used
            ivs[role] = (min(a for a, _ in finite), max(b for _, b in finite)) if finite else None
        interp = interpret(args["tgn"], args["mmp"], profile=prof, tgn_detected=args["tgn_detected"],
                           mmp_detected=args["mmp_detected"], context=ctx, method_family=fam,
                           tgn_interval=ivs["tgn"], mmp_interval=ivs["mmp"],
                           # replicates below the LLOQ: the largest LLOQ bounds them all
                           tgn_below=max(g.get("tgn_below", []), default=None),
                           mmp_below=max(g.get("mmp_below", []), default=None))
        row = interpretation_row(interp, patient_id=pid or sid, sample_id=sid)
        why = []
        for role, label in (("tgn", "6-TGN"), ("mmp", "6-MMP")):
            if args[f"{role}_detected"] and args[role] is not None and math.isnan(args[role]):
                codes = list(dict.fromkeys(g.get(f"{role}_why", [])))
                reason = f" ({_flags.describe(codes)})" if codes else (
                    " (no result for this analyte)" if not g[role] else "")
                why.append(f"{label} not reportable{reason}.")
        if why:
            row["notes"] = " | ".join([*why, *([row["notes"]] if row["notes"] else [])])
        rows.append(row)
    return rows


def write_interpretation_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write rows (from :func:`interpretation_rows`) to ``path`` as CSV (formula-safe text cells,
    see :mod:`thioquant.csvcell`); returns the path."""
    from thioquant.csvcell import safe_cell

    p = Path(path)
    with p.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(INTERPRETATION_COLUMNS), extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({k: safe_cell(v) if isinstance(v, str) else v for k, v in row.items()})
    return p
