"""Held for review: no clinical interpretation from an implausible integration or signal.

A patient or QC result is *held* (flags ``HELD`` and ``HELD:<reason>``, see :data:`REASONS`) when one of the
checks below fails; a held result keeps its numbers in ``results.csv`` for the investigation but
is not interpreted (``thioquant.assay.interpret.NOT_INTERPRETED_FLAGS``), and the reports and the
terminal list it first. The checks, each a setting of ``[qc]`` (docs/qc.md, "Held for review"):

* ``is_response``: the internal standard response lies outside ``is_band_pct`` (50-150 % of the
  calibrators' and QCs' mean). ICH M10 (2022) asks for the IS response of every run to be
  monitored and samples that deviate to be investigated, not reported as is.
* ``width``: the half-height width of the quantifier or of the internal standard lies outside
  ``hold_width_ratio`` (0.5-2) times the calibrators' median width for that compound: a peak
  cut to a sliver, or two peaks integrated as one.
* ``is_apex``: the analyte's apex is off its internal standard's by more than
  ``hold_is_apex_tolerance_min`` (0.05 min) beyond the calibrators' median offset: a labelled
  internal standard co-elutes with its analyte, so another peak, or a fragment, was integrated.
* ``ion_ratio``: the run QC flagged the qualifier/quantifier ratio (CLSI C62-A: +/-20 %).
* ``peak_flags``: the quantifier or internal standard peak carries one of ``hold_peak_flags``
  (FUSED, FEW_POINTS); a FUSED peak whose bounds contain its whole width at 5 % height (a minor
  neighbour cut off below 5 % of the apex) is not held.
* ``saturated``: the quantifier, qualifier or internal standard peak is saturated (flat top, or a
  point at the detector's stated maximum): dilute and re-inject (lab practice, domain.md
  section 4).

Width, apex, ion-ratio and peak-flag checks of the analyte apply to quantified results only:
below the LLOQ a peak is at the noise (ICH Q2(R2): quantitation at S/N 10) and its shape and ion
ratio say nothing. One exception (``ion_ratio``): a result the quantifier leaves unquantified while
its qualifier, read through the calibrators' mean ion ratio, implies at least
:data:`QUALIFIER_IMPLIES` times the lowest calibrator's response (IS-normalised) is held: the
quantifier lost its peak (a 33-point dropout over the whole peak in the regenerated validation
package's ISR-06 read "<LLOQ" against 516 nmol/L; docs/noise.md), and "undetectable" would be a
clinical message from a broken acquisition.
The internal standard's checks apply to every result (an "undetectable" is only as good as its
internal standard).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from thioquant.qc.rules import RuleOutcome, ion_ratios
from thioquant.qc.signal import median

HELD = "HELD"
#: a calibrator excluded before the fit because its integration would be held
CAL_HELD = "CAL_HELD"

#: reason code after ``HELD:`` -> plain-language reason
REASONS: Mapping[str, str] = {
    "HELD": "held for review",
    "IS_RESPONSE": "internal standard response outside the accepted band",
    "WIDTH": "peak width outside the accepted multiple of the calibrators' median width",
    "IS_APEX": "apex off the internal standard's apex",
    "ION_RATIO": "qualifier/quantifier ion ratio outside tolerance",
    "FUSED": "peak split from a neighbour above 5 % of its height",
    "FEW_POINTS": "too few points across the peak",
    "SHOULDER": "peak on a shoulder",
    "EDGE": "peak cut at the edge of the trace",
    "FIT_POOR": "peak model fit poor",
    "LOW_SN": "signal-to-noise below the method's threshold",
    "SATURATED": "saturated peak (flat top or detector maximum): dilute and re-inject",
}

#: result flags of results whose analyte peak was not quantified (shape checks do not apply)
UNQUANTIFIED = frozenset({"NOT_DETECTED", "BELOW_LLOQ", "BELOW_LOD", "NO_PEAK"})
#: sample types whose results may be held
HELD_TYPES = frozenset({"unknown", "qc"})
#: an unquantified result is held when its qualifier implies this many times the lowest
#: calibrator's response: a quantifier at most half of what its qualifier says (ion ratio off by
#: >= 100 %), far outside the +/-20 % tolerance and any noise of a result near the LLOQ
QUALIFIER_IMPLIES = 2.0


def width_ratios(widths: Sequence[float], reference_mask: Sequence[bool]) -> np.ndarray:
    """Each width divided by the median width of the reference injections (NaN without one)."""
    w = np.asarray(widths, dtype=float)
    ref = w[np.asarray(reference_mask, dtype=bool) & np.isfinite(w) & (w > 0)]
    if ref.size == 0:
        return np.full(w.shape, math.nan)
    return w / median(ref)


def apex_offsets(rt_analyte: Sequence[float], rt_is: Sequence[float],
                 reference_mask: Sequence[bool]) -> np.ndarray:
    """Analyte apex minus IS apex of each injection, less the reference injections' median of the
    same difference (minutes; NaN where a peak is missing or there is no reference)."""
    d = np.asarray(rt_analyte, dtype=float) - np.asarray(rt_is, dtype=float)
    ref = d[np.asarray(reference_mask, dtype=bool) & np.isfinite(d)]
    if ref.size == 0:
        return np.full(d.shape, math.nan)
    return d - median(ref)


def _fused_cuts(pk: Any) -> bool:
    """A FUSED split that cuts into the peak: its width at 5 % height is not within its bounds."""
    return not math.isfinite(getattr(pk, "width_05_min", math.nan))


def _peak_flag_reasons(pk: Any, holdable: Sequence[str]) -> list[str]:
    out = []
    for f in holdable:
        if f in pk.flags and not (f == "FUSED" and not _fused_cuts(pk)):
            out.append(f)
    return out


def hold_reasons(
    analyte: Any,
    entries: Sequence[Any],
    measurements: Sequence[Any],
    result_flags: Sequence[Sequence[str]],
    settings: Any,
    *,
    types: frozenset[str] = HELD_TYPES,
    checks: Sequence[str] | None = None,
) -> list[list[tuple[str, str]]]:
    """Per injection, the (reason code, detail) pairs that hold the analyte's result.

    Parameters
    ----------
    analyte : the method's :class:`~thioquant.assay.method.Compound`.
    entries, measurements : the worklist rows and their measurements, in run order.
    result_flags : the analyte's result flags per injection, with the run QC's flags added.
    settings : the analyte's :class:`~thioquant.qc.settings.QCSettings`.
    types : sample types judged (patients and QCs; :func:`calibrator_hold_reasons` judges the
        calibrators).
    checks : the checks run (default: ``settings.hold_checks``).
    """
    name = analyte.name
    is_name = analyte.internal_standard
    qual = f"{name} qualifier" if analyte.qualifier is not None else None
    checks = set(settings.hold_checks if checks is None else checks)

    def peak(i: int, key: str | None) -> Any:
        mz = measurements[i]
        return None if key is None or mz.error else mz.peaks.get(key)

    n = len(entries)
    cal = [e.sample_type == "calibrator" and e.usable and not {"SATURATED", CAL_HELD} & set(fl)
           for e, fl in zip(entries, result_flags, strict=True)]
    nan = math.nan
    w_an = width_ratios([getattr(peak(i, name), "width_50_min", nan) for i in range(n)], cal)
    w_is = width_ratios([getattr(peak(i, is_name), "width_50_min", nan) for i in range(n)], cal)
    off = apex_offsets([getattr(peak(i, name), "rt_min", nan) for i in range(n)],
                       [getattr(peak(i, is_name), "rt_min", nan) for i in range(n)], cal)
    is_area = np.array([getattr(peak(i, is_name), "area", nan) for i in range(n)], dtype=float)
    ref = [e.sample_type in ("calibrator", "qc") and e.usable and not {"SATURATED", CAL_HELD} & set(fl)
           for e, fl in zip(entries, result_flags, strict=True)]
    ref_is = is_area[np.array(ref, dtype=bool) & np.isfinite(is_area)]
    is_pct = 100.0 * is_area / float(ref_is.mean()) if ref_is.size else np.full(n, nan)
    lo, hi = settings.hold_width_ratio
    tol = settings.hold_is_apex_tolerance_min
    implied = _qualifier_implied(name, qual, is_name, peak, cal, n) if "ion_ratio" in checks else np.full(n, nan)
    out: list[list[tuple[str, str]]] = []
    for i, e in enumerate(entries):
        reasons: list[tuple[str, str]] = []
        out.append(reasons)
        if e.sample_type not in types or not e.usable or measurements[i].error:
            continue
        fl = {str(f).split(":")[0] for f in result_flags[i]}
        quantified = not (fl & UNQUANTIFIED)
        pk, ipk = peak(i, name), peak(i, is_name)
        if "is_response" in checks and "IS_RESPONSE" in fl:
            got = f"{is_pct[i]:.0f} % of" if math.isfinite(is_pct[i]) else "outside"
            reasons.append(("IS_RESPONSE", f"{is_name} response {got} the calibrator/QC mean (accepted "
                            f"{settings.is_band_pct[0]:g}-{settings.is_band_pct[1]:g} %)"))
        if "width" in checks:
            for key, pkk, ratio, judge in ((name, pk, w_an[i], quantified), (is_name, ipk, w_is[i], True)):
                if judge and pkk is not None and math.isfinite(ratio) and not lo <= ratio <= hi:
                    reasons.append(("WIDTH", f"{key} width {ratio:.2f}x the calibrators' median "
                                    f"(accepted {lo:g}-{hi:g}x)"))
        if "is_apex" in checks and quantified and math.isfinite(off[i]) and abs(off[i]) > tol:
            reasons.append(("IS_APEX", f"{name} apex {off[i] * 60:+.1f} s off {is_name}'s beyond the "
                            f"calibrators' offset (tolerance {tol * 60:g} s)"))
        if "ion_ratio" in checks and quantified and "ION_RATIO" in fl:
            reasons.append(("ION_RATIO", f"{name} qualifier/quantifier ratio outside tolerance"))
        elif "ion_ratio" in checks and not quantified and implied[i] >= QUALIFIER_IMPLIES:
            reasons.append(("ION_RATIO", f"{name} not quantified, but its qualifier implies {implied[i]:.1f}x "
                            "the lowest calibrator's response (the quantifier lost its peak?)"))
        if "peak_flags" in checks:
            for key, pkk, judge in ((name, pk, quantified), (is_name, ipk, True)):
                if judge and pkk is not None:
                    reasons += [(f, f"{key} {f}") for f in _peak_flag_reasons(pkk, settings.hold_peak_flags)]
        if "saturated" in checks:
            for key in (name, qual, is_name):
                pkk = peak(i, key)
                if pkk is not None and "SATURATED" in pkk.flags:
                    reasons.append(("SATURATED", f"{key} peak saturated"))
    return out


def _qualifier_implied(name: str, qual: str | None, is_name: str | None, peak: Any, cal: Sequence[bool],
                       n: int) -> np.ndarray:
    """Per injection, the IS-normalised response its qualifier implies (qualifier area over the
    calibrators' mean ion ratio), in units of the lowest calibrator's response (NaN where a peak
    or the reference is missing)."""
    nan = math.nan
    out = np.full(n, nan)
    if qual is None or is_name is None:
        return out

    def area(i: int, key: str) -> float:
        a = getattr(peak(i, key), "area", nan)
        return float(a) if a is not None and math.isfinite(a) and a > 0 else nan

    q = np.array([area(i, name) for i in range(n)])
    ql = np.array([area(i, qual) for i in range(n)])
    isa = np.array([area(i, is_name) for i in range(n)])
    c = np.asarray(cal, dtype=bool) & np.isfinite(q) & np.isfinite(ql) & np.isfinite(isa)
    if not c.any():
        return out
    ratio = float(np.mean(ion_ratios(q[c], ql[c])))  # the ion-ratio rule's calibrator mean
    lowest = float(np.min(q[c] / isa[c]))
    if not (ratio > 0 and lowest > 0):
        return out
    return (ql / ratio) / isa / lowest


#: the checks that exclude a calibrator from the fit (``[calibration] exclude_held``): the ion
#: ratio's reference is the calibrators themselves, and a saturated calibrator is set aside with
#: its own reason before this. ``width`` stays: a half-height width far below the calibrators'
#: median is a spiky top (a 2x single-point burst on the IS apex added 8-33 % to its area in the
#: measured-noise batches); at 20 % point noise (bench_noise, seeds 1-5) the width-excluded
#: calibrators were within 86-124 %, and without the width check 0 of 5 runs passed r^2 > 0.995
#: (3 of 5 with it); at 12 % on the measured-noise batch (40 seeds) it excluded 18, 16 of them with a burst the
#: apex screen left in (+5 to +16.5 % over an ideal integrator's response, bench_noise_oracle.py) and 2 accurate
CALIBRATOR_CHECKS = ("is_response", "width", "is_apex", "peak_flags")


def calibrator_hold_reasons(
    analyte: Any,
    entries: Sequence[Any],
    measurements: Sequence[Any],
    result_flags: Sequence[Sequence[str]],
    settings: Any,
) -> list[list[tuple[str, str]]]:
    """Per injection, why a calibrator's integration would be held for review (empty for every
    other injection, and for a calibrator that passes).

    The checks of :func:`hold_reasons` that say the integration or the internal standard is
    implausible (``CALIBRATOR_CHECKS`` among ``settings.hold_checks``), with the same
    thresholds; the internal standard's response is judged here against the mean of the
    calibrators and QCs (``is_band_pct``), as the run QC will judge it. A calibrator with such a
    reason is excluded from the fit before it, with the reason recorded (never silently): its
    response is a broken integration's, not the concentration's, and one such point pulls a
    1/x^2 curve so far that the exclusion rule cannot recover the others (bench_noise 12 %,
    seed 10: a 6-MMP-IS cut to a sliver, CAL3 at 301 %, all 8 calibrators outside limits).
    """
    is_name = analyte.internal_standard
    n = len(entries)
    flags = [list(f) for f in result_flags]
    if is_name and "is_response" in settings.hold_checks:
        area = np.array([math.nan if m.error or m.peaks.get(is_name) is None else m.peaks[is_name].area
                         for m in measurements], dtype=float)
        ref = np.array([e.sample_type in ("calibrator", "qc") and e.usable and "SATURATED" not in fl
                        for e, fl in zip(entries, result_flags, strict=True)], dtype=bool)
        vals = area[ref & np.isfinite(area)]
        if vals.size:
            pct = 100.0 * area / float(vals.mean())
            lo, hi = settings.is_band_pct
            for i in range(n):
                if entries[i].sample_type == "calibrator" and math.isfinite(pct[i]) and not lo <= pct[i] <= hi:
                    flags[i].append("IS_RESPONSE")
    checks = [c for c in CALIBRATOR_CHECKS if c in settings.hold_checks]
    return hold_reasons(analyte, entries, measurements, flags, settings,
                        types=frozenset({"calibrator"}), checks=checks)


def hold_outcome(analyte: str, names: Sequence[str], reasons: Sequence[Sequence[tuple[str, str]]],
                 severity: str = "warn") -> RuleOutcome:
    """The run-level outcome of the hold checks for one analyte (fails when any result is held)."""
    held = [(n, r) for n, r in zip(names, reasons, strict=True) if r]
    if not held:
        return RuleOutcome("hold", HELD, True, severity,
                           f"{analyte}: no result held for review", {"analyte": analyte, "n_held": 0})
    shown = "; ".join(f"{n} ({', '.join(d for _, d in r)})" for n, r in held[:10])
    more = f" and {len(held) - 10} more" if len(held) > 10 else ""
    return RuleOutcome(
        "hold", HELD, False, severity,
        f"{analyte}: {len(held)} result(s) held for review, not interpreted: {shown}{more}",
        {"analyte": analyte, "n_held": len(held),
         "held": [{"sample_id": n, "reasons": [c for c, _ in r], "details": [d for _, d in r]} for n, r in held]})


def held_reasons(flags: Sequence[str]) -> list[str]:
    """The reason codes of a result's ``HELD:<reason>`` flags (empty when not held; a plain
    ``HELD`` without reason gives ``"HELD"``)."""
    codes = [str(f).split(":", 1)[1] for f in flags if str(f).startswith(HELD + ":")]
    return codes or [HELD for f in flags if f == HELD][:1]


__all__ = ["CALIBRATOR_CHECKS", "CAL_HELD", "HELD", "HELD_TYPES", "REASONS", "apex_offsets",
           "calibrator_hold_reasons", "held_reasons", "hold_outcome", "hold_reasons", "width_ratios"]
