"""Per-analyte quantification of a batch's measurements: responses -> calibration ->
concentrations -> normalisation, and the rows of the clinical interpretation.

Pure functions of the method, the worklist and the per-injection measurements; the run QC
(:mod:`thioquant.qc.run`) judges what they return.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from thioquant.assay.method import Compound, Method
from thioquant.assay.worklist import WorklistEntry
from thioquant.errors import ThioquantError
from thioquant.flags import UNMEASURED
from thioquant.measurement import InjectionMeasurement
from thioquant.model import Peak, Result

NAN = math.nan


def _response(peaks: Mapping[str, Peak | None], analyte: Compound,
              sample_type: str = "unknown",
              unmeasured: Mapping[str, str] | None = None) -> tuple[float, float, float, list[str]]:
    """(area, IS area, response, flags) of one analyte in one injection.

    ``unmeasured``: channel key -> flag code for channels that were not measured (no trace, the
    window outside the trace, a failed manual integration). Such an analyte has no response, not
    a zero one: "not detected" would be reported and interpreted as a patient result.
    """
    flags: list[str] = []
    pk = peaks.get(analyte.name)
    area = pk.area if pk is not None else NAN
    code = (unmeasured or {}).get(analyte.name)
    if pk is None and code:
        flags.append(code)
        is_pk = peaks.get(analyte.internal_standard) if analyte.internal_standard else None
        return area, (is_pk.area if is_pk is not None else NAN), NAN, flags
    if pk is None:
        flags.append("NOT_DETECTED")
    else:
        flags += [f for f in pk.flags if f not in flags]
    is_area = NAN
    if analyte.internal_standard:
        ipk = peaks.get(analyte.internal_standard)
        if sample_type == "blank":
            # no IS is added to a double blank: a ratio to whatever noise sits at the IS's time
            # read as thousands of nmol/L (the areas stay, for interference and carry-over)
            flags.append("NO_IS_ADDED")
            return area, (ipk.area if ipk is not None and ipk.area > 0 else NAN), NAN, flags
        if ipk is None or not ipk.area > 0:
            flags.append("NO_IS")
            return area, NAN, NAN, flags
        is_area = ipk.area
        response = (area if pk is not None else 0.0) / is_area
    else:
        response = area if pk is not None else 0.0
    return area, is_area, response, flags


def _quantify_measurements(
    m: Method, entries: Sequence[WorklistEntry], measurements: Sequence[InjectionMeasurement],
    manual: Mapping[str, Mapping[str, tuple[float, float]]],
    exclusions: Mapping[tuple[str, str], str] | None = None,
    inclusions: Mapping[tuple[str, str], str] | None = None,
    sources: Mapping[tuple[str, str], str] | None = None,
) -> tuple[list[Result], dict[str, Any], list[str]]:
    import numpy as np

    from thioquant.assay import normalise
    from thioquant.calibration import accept_calibration, range_flags
    from thioquant.calibration.interval import inverse_interval

    cs = m.calibration
    results: list[Result] = []
    calibrations: dict[str, Any] = {}
    messages: list[str] = []
    for analyte in m.analytes:
        rows = []
        for e, meas in zip(entries, measurements, strict=True):
            if meas.error or not e.usable:
                area = is_area = response = NAN
                flags = list(e.flags) + ((["MEASURE_FAILED"] if meas.internal_error else ["MISSING_FILE"])
                                         if meas.error else [])
                pk = None
            else:
                area, is_area, response, flags = _response(meas.peaks, analyte, e.sample_type,
                                                           meas.unmeasured)
                flags = list(e.flags) + flags + _channel_flags(meas, analyte)
                pk = meas.peaks.get(analyte.name)
            man = manual.get(e.sample_id, {})
            if analyte.name in man or (analyte.internal_standard and analyte.internal_standard in man):
                flags.append("MANUAL")  # its internal standard's area enters the response too
            rows.append((e, pk, area, is_area, response, flags))

        # Calibration from calibrators with a usable response; a saturated one is excluded with
        # that reason before the fit (its response is not proportional to the concentration)
        # a calibrator without a response (no IS peak, file or channel lost) stays in as an
        # excluded point with its reason: left out, it was not counted against the ICH M10 75 %
        # rule, and calibration.json did not show it
        cal_rows = [
            (e, r) for e, _, _, _, r, fl in rows
            if e.sample_type == "calibrator" and e.usable
            and math.isfinite(m.nominal("calibrator", e.level, analyte.name))
        ]
        no_response = {id(e): "no response (" + (", ".join(f for f in fl if f in _NO_RESPONSE) or "not measured") + ")"
                       for e, _, _, _, r, fl in rows if e.sample_type == "calibrator" and not math.isfinite(r)}
        saturated = {id(e) for e, _, _, _, _, fl in rows if e.sample_type == "calibrator" and "SATURATED" in fl}
        all_cal_rows = cal_rows
        cal_rows = [(e, r) for e, r in cal_rows if id(e) not in saturated]
        # a calibrator whose quantifier or IS integration would be held for review (docs/qc.md)
        # is excluded before the fit, with its reason: never silently, and counted as not passing
        held_cal = _held_calibrators(m, analyte, entries, measurements, rows) if cs.exclude_held else {}
        # ... unless a reviewer looked at the chromatogram and included it: it then enters the
        # fit and the run QC's references as any calibrator (as after a manual re-integration),
        # and the ICH M10 rules judge it by its accuracy
        put_back = {id(e): (held_cal.pop(id(e)), (inclusions or {})[(e.sample_id, analyte.name)],
                            (sources or {}).get((e.sample_id, analyte.name), ""))
                    for e, *_ in rows if id(e) in held_cal and (e.sample_id, analyte.name) in (inclusions or {})}
        for e, _, _, _, _, fl in rows:
            if id(e) in held_cal:
                fl.append("CAL_HELD")
            elif id(e) in put_back:
                fl.append("CAL_HELD_INCLUDED")
        for sid, an in sorted(inclusions or {}):
            if an == analyte.name and not any(e.sample_id == sid and id(e) in put_back for e, *_ in rows):
                messages.append(f"{an}: inclusion of calibrator {sid} ignored: it is not set aside for a held "
                                "integration")
        outcome = None
        if sum(math.isfinite(r) for _, r in cal_rows) >= 2:
            x = [m.nominal("calibrator", e.level, analyte.name) for e, _ in cal_rows]
            y = [r for _, r in cal_rows]
            by_reviewer = [(exclusions or {}).get((e.sample_id, analyte.name), "") for e, _ in cal_rows]
            manual_excl = by_reviewer if any(by_reviewer) else None
            # an exclusion from a decisions file names the file and row, not "reviewer"
            by_source = [(sources or {}).get((e.sample_id, analyte.name), "") if why else ""
                         for (e, _), why in zip(cal_rows, by_reviewer, strict=True)]
            manual_src = by_source if any(by_source) else None
            by_rule = ["; ".join(x for x in (no_response.get(id(e), ""), held_cal.get(id(e), "")) if x)
                       for e, _ in cal_rows]
            rule_excl = by_rule if any(by_rule) else None
            try:
                if cs.model == "auto" or cs.weighting == "auto":
                    from thioquant.calibration import candidates_for, select_model

                    outcome, _evidence = select_model(
                        x, y, candidates=candidates_for(cs.model, cs.weighting),
                        levels=[e.level for e, _ in cal_rows], tolerance_pct=cs.tolerance_pct,
                        lloq_tolerance_pct=cs.lloq_tolerance_pct, min_fraction=cs.min_fraction,
                        min_levels=cs.min_levels, manual_exclusions=manual_excl, rule_exclusions=rule_excl,
                        manual_sources=manual_src,
                    )
                else:
                    outcome = accept_calibration(
                        x, y, model=cs.model, weighting=cs.weighting, levels=[e.level for e, _ in cal_rows],
                        tolerance_pct=cs.tolerance_pct, lloq_tolerance_pct=cs.lloq_tolerance_pct,
                        min_fraction=cs.min_fraction, min_levels=cs.min_levels,
                        manual_exclusions=manual_excl, rule_exclusions=rule_excl, manual_sources=manual_src,
                    )
            except ThioquantError as exc:
                messages.append(f"{analyte.name}: calibration could not be fitted: {exc}")
        else:
            messages.append(f"{analyte.name}: fewer than 2 calibrators with a response; no calibration")
        if outcome is not None and put_back:
            outcome = _with_put_back(outcome, cal_rows, put_back)
        if outcome is not None and len(cal_rows) < len(all_cal_rows):
            outcome = _with_set_aside(outcome, all_cal_rows, saturated, m, analyte.name, cs.tolerance_pct)
        calibrations[analyte.name] = outcome
        excluded = set()
        if outcome is not None:
            excluded = {p.level for p in outcome.points if not p.included}
            for reason in outcome.reasons:
                messages.append(f"{analyte.name}: {reason}")

        intervals: dict[int, tuple[float, float]] = {}
        vials: dict[int, float] = {}
        pos = [i for i, row in enumerate(rows) if math.isfinite(row[4]) and row[4] > 0]
        if outcome is not None and pos:  # one vectorised call per analyte, not one per row
            responses = np.array([rows[i][4] for i in pos])
            if outcome.calibration.model != "power":  # elementwise arithmetic: the same values
                inv = np.atleast_1d(outcome.calibration.inverse(responses))
                vials = dict(zip(pos, inv.tolist(), strict=True))
            lows, highs = inverse_interval(outcome.calibration, responses)
            intervals = {i: (float(a), float(b)) for i, a, b in zip(pos, lows, highs, strict=True)}
        for k, (e, pk, area, is_area, response, flags) in enumerate(rows):
            conc = lo = hi = NAN
            reported = rep_lo = rep_hi = NAN
            accuracy = NAN
            # calibrators and QCs are judged by their accuracy against the nominal value; a range
            # flag on them (the LLOQ calibrator back-calculated at 99 %, "<LLOQ") would mislead
            judged_by_nominal = e.sample_type in ("calibrator", "qc")
            nominal = m.nominal(e.sample_type, e.level, analyte.name) if judged_by_nominal else NAN
            if outcome is not None and math.isfinite(response):
                cal = outcome.calibration
                vial = (vials[k] if k in vials else float(cal.inverse(response))) if response > 0 else 0.0
                lo_v, hi_v = intervals.get(k, (NAN, NAN))
                df = e.dilution
                conc, lo, hi = vial * df, lo_v * df, hi_v * df
                if not judged_by_nominal and "NOT_DETECTED" not in flags:
                    if response > 0 and not math.isfinite(vial):
                        flags.append("ABOVE_ULOQ")  # beyond the curve's reach
                    else:
                        flags += range_flags(vial, outcome.lloq, outcome.uloq)
                if not outcome.passed:
                    flags.append("CAL_FAIL")
                if math.isfinite(nominal) and nominal > 0:
                    accuracy = 100.0 * conc / nominal
                if e.sample_type == "calibrator" and e.level in excluded:
                    flags.append("CAL_EXCLUDED")
                quantifiable = not {"NOT_DETECTED", "BELOW_LLOQ", "ABOVE_ULOQ", "CAL_FAIL"} & set(flags)
                if e.sample_type == "unknown" and quantifiable and m.normalisation.mode != "none":
                    reported, rep_lo, rep_hi = _normalise(normalise, m, analyte, e, conc, lo, hi, flags)
            results.append(
                Result(
                    sample_id=e.sample_id, sample_type=e.sample_type, analyte=analyte.name, level=e.level,
                    file=e.file, rt_min=pk.rt_min if pk else NAN, area=area, is_area=is_area, response=response,
                    conc=conc, conc_unit=m.conc_unit, conc_low=lo, conc_high=hi,
                    reported=reported, reported_unit=m.reported_unit if e.sample_type == "unknown" else "",
                    reported_low=rep_lo, reported_high=rep_hi, nominal=nominal, accuracy_pct=accuracy,
                    sn=pk.sn if pk else NAN, method_family=m.family, patient_id=e.patient_id,
                    injection=e.injection, flags=tuple(dict.fromkeys(flags)),
                )
            )
    results.sort(key=lambda r: (r.injection, [a.name for a in m.analytes].index(r.analyte)))
    return results, calibrations, messages


def _channel_flags(meas: InjectionMeasurement, analyte: Compound) -> list[str]:
    """Signal-integrity flags of the analyte's other channels (qualifier, internal standard)
    carried onto its result: ``DEAD_CHANNEL`` (no result can be trusted without them) and
    ``SATURATED`` (the ratio to a saturated peak is not proportional)."""
    out: list[str] = []
    unmeasured = meas.unmeasured
    keys = [analyte.name, f"{analyte.name} qualifier", analyte.internal_standard]
    for key in keys:
        if key is None:
            continue
        if unmeasured.get(key) == "DEAD_CHANNEL" and key != analyte.name:
            out.append("DEAD_CHANNEL")
        pk = meas.peaks.get(key)
        if key != analyte.name and pk is not None and "SATURATED" in pk.flags:
            out.append("SATURATED")
    return out


#: flags that say why an injection has no response
_NO_RESPONSE = ("NO_IS", *sorted(UNMEASURED))


def _held_calibrators(m: Method, analyte: Compound, entries: Sequence[WorklistEntry],
                      measurements: Sequence[InjectionMeasurement], rows: Sequence[tuple]) -> dict[int, str]:
    """Calibrators whose quantifier or internal standard integration would be held for review
    (:func:`~thioquant.qc.hold.calibrator_hold_reasons`, the ``[qc]`` hold settings):
    ``id(entry) -> reason``."""
    from thioquant.qc.hold import calibrator_hold_reasons
    from thioquant.qc.settings import QCSettings

    if not any(e.sample_type == "calibrator" for e in entries):
        return {}
    settings = QCSettings.from_dict(dict(m.qc)).for_analyte(analyte.name)
    flags = [row[5] for row in rows]
    reasons = calibrator_hold_reasons(analyte, entries, measurements, flags, settings)
    return {id(e): "integration held for review (" + "; ".join(d for _, d in r) + ")"
            for e, r in zip(entries, reasons, strict=True) if r}


def _with_put_back(outcome: Any, cal_rows: Sequence[tuple[WorklistEntry, float]],
                   put_back: Mapping[int, tuple[str, str, str]]) -> Any:
    """The calibration outcome with each calibrator a reviewer put back (``put_back``: id of its
    worklist entry -> (the hold's reason, the reviewer's reason, the decisions file's row it came
    from or "")) saying so: in its point's reason while it is included (an accuracy failure keeps
    its own reason) and in ``reasons``."""
    points = list(outcome.points)
    reasons = list(outcome.reasons)
    for k, (e, _r) in enumerate(cal_rows):
        if id(e) not in put_back:
            continue
        held, why, source = put_back[id(e)]
        text = f"included by {source or 'reviewer'}: {why} (would be excluded before the fit: {held})"
        reasons.append(f"calibrator {e.level} (x={points[k].x:g}) {text}")
        if points[k].included:
            points[k] = replace(points[k], reason=text)
    return replace(outcome, points=tuple(points), reasons=reasons)


def _with_set_aside(outcome: Any, cal_rows: Sequence[tuple[WorklistEntry, float]], aside: set[int],
                    m: Method, analyte: str, tolerance_pct: float) -> Any:
    """The calibration outcome with the calibrators set aside before the fit (``aside``: ids of
    their worklist entries; saturated) added back as excluded points, in the order of
    ``cal_rows`` (every calibrator with a response, as the fit's points are), each with its reason."""
    from thioquant.calibration.accept import CalibrationPoint

    cal = outcome.calibration
    it = iter(outcome.points)
    points = []
    reasons = list(outcome.reasons)
    why = "saturated peak (signal integrity): excluded before the fit; dilute and re-inject"
    for e, r in cal_rows:
        if id(e) not in aside:
            points.append(next(it))
            continue
        x = m.nominal("calibrator", e.level, analyte)
        back = float(cal.inverse(r))
        points.append(CalibrationPoint(e.level, x, r, back, 100.0 * back / x if x else NAN, False, why,
                                       tolerance_pct))
        reasons.append(f"{e.level} excluded: {why}")
    return replace(outcome, points=tuple(points), reasons=reasons)


def _normalise(
    normalise: Any, m: Method, analyte: Compound, e: WorklistEntry, conc: float, lo: float, hi: float,
    flags: list[str],
) -> tuple[float, float, float]:
    """Sample concentration (dilution already applied) -> pmol/8x10^8 RBC with its interval.

    ``conc``, ``lo`` and ``hi`` are in the method's ``conc_unit``; they are converted here, and
    only here, to the unit the formula expects (nmol/L for ``rbc_count``, pmol per aliquot for
    ``fixed_cells``). The caller keeps reporting ``conc`` in ``conc_unit``.
    """
    if not math.isfinite(e.rbc_count):
        return NAN, NAN, NAN  # NO_RBC / BAD_RBC already flagged by the worklist reader
    norm = m.normalisation
    f = m.conc_factor(analyte)  # 1.0 for nmol/L and pmol: the same floats as before
    conc, lo, hi = conc * f, lo * f, hi * f
    if norm.mode == "rbc_count":
        value = normalise.per_8e8_rbc(conc, e.rbc_count, dilution=1.0, recovery=analyte.recovery)
    else:  # fixed_cells: conc is an amount (pmol) per aliquot
        n_cells = e.rbc_count * 1e6 * float(norm.aliquot_volume_ul)
        value = normalise.per_8e8_rbc_fixed_cells(conc, n_cells, recovery=analyte.recovery)
    low, high = normalise.normalised_interval(value, lo, hi, conc, rbc_cv_pct=norm.rbc_cv_pct)
    return float(value), float(low), float(high)


def _interpret(
    m: Method, entries: Sequence[WorklistEntry], results: Sequence[Result], messages: list[str],
    calibrations: Mapping[str, Any] | None = None,
) -> list[dict[str, str]]:
    """Rows of ``interpretation.csv``: one per patient sample, with its clinical context.

    A result below the LLOQ is known to be below the LLOQ expressed per 8x10^8 RBC at that
    sample's RBC count and dilution; that bound goes to the interpretation, which uses it for the
    lower bound of the MMP:TGN ratio when 6-TGN is undetectable (issue 19).
    """
    from thioquant.assay import normalise
    from thioquant.clinical import ClinicalContext, interpretation_rows, load_profile

    contexts = {}
    for e in entries:
        if e.sample_type == "unknown" and e.extra:
            # every problem of every row is reported; only the unusable fields are dropped
            ctx, problems = ClinicalContext.from_row_checked(e.extra)
            contexts[e.sample_id] = ctx
            messages.extend(f"row {e.row} ({e.sample_id}): clinical context: {p}" for p in problems)
    base = Path(m.source).parent if m.source else None
    profile = load_profile(m.interpretation_profile, base_dir=base)
    below: dict[tuple[str, str], float] = {}
    by_name = {a.name: a for a in m.analytes}
    undetected = {"NOT_DETECTED", "BELOW_LOD", "BELOW_LLOQ", "NO_PEAK"}
    entry_of = {(x.sample_id, x.injection): x for x in entries}
    for r in results:
        oc = (calibrations or {}).get(r.analyte)
        if r.sample_type != "unknown" or oc is None or not undetected & set(r.flags):
            continue
        e = entry_of.get((r.sample_id, r.injection))
        if e is None or m.normalisation.mode == "none" or not math.isfinite(oc.lloq):
            continue
        with contextlib.suppress(Exception):  # no bound is the old, looser behaviour
            v, _, _ = _normalise(normalise, m, by_name[r.analyte], e, oc.lloq * e.dilution, NAN, NAN, [])
            if math.isfinite(v) and v > 0:
                key = (r.sample_id, r.analyte)
                below[key] = max(below.get(key, 0.0), float(v))
    return interpretation_rows(results, profile=profile, contexts=contexts, method_family=m.family,
                               below_limits=below)
