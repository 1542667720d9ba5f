"""Apply the run-QC rules of :mod:`thioquant.qc.rules` to a quantified batch.

This is the glue between the pipeline's per-injection results and the pure rule functions: it
picks the right injections for each rule (QCs, the blank after the highest calibrator, blanks
and zeros, calibrators as reference), adds each rule's flags to the affected rows and returns
the outcomes and the run verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from thioquant.model import Result
from thioquant.qc.coverage import qc_coverage
from thioquant.qc.hold import HELD, hold_outcome, hold_reasons
from thioquant.qc.rules import (
    NO_BLANK_ZERO,
    NO_CARRYOVER_BLANK,
    NO_ION_RATIO_REFERENCE,
    NO_IS_REFERENCE,
    NO_QC_SAMPLES,
    NO_RT_REFERENCE,
    QC_MISSING,
    RuleOutcome,
    Verdict,
    blank_interference,
    calibration_rule,
    carryover,
    ion_ratio_check,
    is_cv_rule,
    is_response,
    qc_acceptance,
    rt_check,
    run_verdict,
)
from thioquant.qc.settings import QCSettings


def _area(v: float) -> float:
    return v if math.isfinite(v) else 0.0


def evaluate_run(
    method: Any,
    entries: Sequence[Any],
    measurements: Sequence[Any],
    results: Sequence[Result],
    calibrations: Mapping[str, Any],
    *,
    history: Any | None = None,
    run_id: str | None = None,
) -> tuple[list[Result], list[RuleOutcome], Verdict]:
    """Run every QC rule of the method on a quantified batch.

    Returns the results with QC flags added, the rule outcomes, and the verdict.
    """
    settings = QCSettings.from_dict(dict(method.qc))
    by_key = {(r.sample_id, r.analyte): r for r in results}
    extra: dict[tuple[str, str], list[str]] = {}
    outcomes: list[Any] = []
    order = list(entries)
    ids = [e.sample_id for e in order]
    types = np.array([e.sample_type for e in order])
    usable = np.array([e.usable for e in order])
    patients = any(e.sample_type == "unknown" for e in order)
    # channels each injection could not measure (unreadable file, no trace, window outside the
    # trace): a blank there read as area 0, i.e. "clean", and passed carry-over and interference
    lost: list[set[str] | None] = [None if mz.error else set(mz.unmeasured) for mz in measurements]

    def measured(i: int, compound: Any) -> bool:
        names = [compound.name] + ([compound.internal_standard] if compound.internal_standard else [])
        return bool(usable[i]) and lost[i] is not None and not (set(names) & lost[i])

    def add_flags(analyte: str, check: Any) -> None:
        for sid, fl in zip(ids, check.flags, strict=True):
            if fl:
                extra.setdefault((sid, analyte), []).extend(fl)

    for analyte in method.analytes:
        name = analyte.name
        s = settings.for_analyte(name)
        sev = s.severity
        rows = [by_key[(sid, name)] for sid in ids]
        oc = calibrations.get(name)
        if oc is None:
            outcomes.append(RuleOutcome("calibration", "CAL_FAIL", False, "reject",
                                        f"{name}: no calibration could be fitted", {"analyte": name}))
            continue
        cal_out = calibration_rule(oc, severity=sev.get("calibration", "reject"), r2_min=s.calibration_r2_min)
        outcomes.append(_tag(cal_out, name))

        # QC accuracy (ICH M10): the LLOQ QC level gets the LLOQ tolerance.
        by_level: dict[str, list[float]] = {}
        level_tol: dict[str, float] = {}
        lloq_nominal = min(v[name] for v in method.calibrators.values() if name in v)
        for r, e in zip(rows, order, strict=True):
            if e.sample_type == "qc" and e.usable:
                by_level.setdefault(e.level, []).append(r.accuracy_pct)
                if math.isclose(r.nominal, lloq_nominal, rel_tol=1e-9):
                    level_tol[e.level] = s.qc_lloq_tolerance_pct
        if by_level:
            qc_out = qc_acceptance(
                by_level, tolerance_pct=s.qc_tolerance_pct, min_fraction=s.qc_min_fraction,
                min_level_fraction=s.qc_min_level_fraction, level_tolerance_pct=level_tol,
                severity=sev.get("qc", "reject"),
            )
            outcomes.append(_tag(qc_out, name))
            for r, e in zip(rows, order, strict=True):
                if e.sample_type == "qc":
                    tol = level_tol.get(e.level, s.qc_tolerance_pct)
                    if not (math.isfinite(r.accuracy_pct) and abs(r.accuracy_pct - 100.0) <= tol):
                        extra.setdefault((r.sample_id, name), []).append("QC_FAIL")
        elif patients:
            # a QC typo in the worklist (level 'QC-L') left none usable: accepting on the
            # calibration alone would release patient results no QC has verified
            n_rows = sum(1 for e in order if e.sample_type == "qc")
            outcomes.append(_tag(RuleOutcome(
                "qc", QC_MISSING, False, sev.get("qc", "reject"),
                (f"no usable QC sample ({n_rows} QC row(s) in the worklist, none usable; see "
                 "messages.txt)" if n_rows else "no QC sample in the worklist (a sample_type "
                 "typo? see messages.txt)") + " in a run with patient samples: the run cannot be "
                "accepted",
                details={"qc_rows": n_rows}), name))
        else:  # a run without patients (calibration only): the calibration rule decides it
            outcomes.append(_tag(RuleOutcome.not_evaluated(
                "qc", NO_QC_SAMPLES, "QC acceptance not evaluated: no usable QC sample in the run",
                severity=sev.get("qc", "reject")), name))

        if patients:
            # ICH M10 coverage of what was run (not of the method's design): low, mid and high
            # in duplicate, and >= 6 QCs or 5 % of the study samples
            cal_nom = [lv[name] for lv in method.calibrators.values() if lv.get(name, 0.0) > 0]
            run_qcs = [(ids[i], method.qcs[e.level][name]) for i, e in enumerate(order)
                       if e.sample_type == "qc" and measured(i, analyte) and e.level in method.qcs
                       and name in method.qcs[e.level]]
            if len(cal_nom) >= 2:
                outcomes.append(_tag(qc_coverage(
                    [x for _, x in run_qcs], min(cal_nom), max(cal_nom),
                    sum(1 for e in order if e.sample_type == "unknown"),
                    min_count=settings.qc_min_count, min_pct=settings.qc_min_pct_of_samples,
                    min_per_level=settings.qc_min_per_level,
                    severity=settings.severity.get("qc_coverage", "reject"),
                    names=[sid for sid, _ in run_qcs]), name))

        # LLOQ response (analyte area) from the calibrators at the lowest included level.
        lloq_areas = [r.area for r, e in zip(rows, order, strict=True)
                      if e.sample_type == "calibrator" and math.isclose(r.nominal, oc.lloq, rel_tol=1e-9)
                      and math.isfinite(r.area)]
        lloq_area = float(np.mean(lloq_areas)) if lloq_areas else math.nan
        is_ref = np.array([r.is_area for r, e in zip(rows, order, strict=True)
                           if e.sample_type in ("calibrator", "qc") and math.isfinite(r.is_area)])
        mean_is = float(is_ref.mean()) if is_ref.size else None
        has_is = analyte.internal_standard is not None and mean_is is not None

        # Carry-over: the blank(s) injected right after the highest calibrator. Without such a
        # blank, or without an LLOQ response to compare with, the rule is not evaluated.
        cal_idx = [i for i, e in enumerate(order) if e.sample_type == "calibrator" and usable[i]]
        after: list[int] = []
        if cal_idx:
            top = max(cal_idx, key=lambda i: rows[i].nominal if math.isfinite(rows[i].nominal) else -1)
            unmeasured: list[int] = []
            for j in range(top + 1, len(order)):
                if order[j].sample_type != "blank":
                    break
                (after if measured(j, analyte) else unmeasured).append(j)
            co = carryover(
                [_area(rows[j].area) for j in after], lloq_area,
                blank_is=[_area(rows[j].is_area) for j in after] if has_is else None,
                mean_is=mean_is if has_is else None,
                limit_pct=s.carryover_limit_pct, is_limit_pct=s.carryover_is_limit_pct,
                severity=sev.get("carryover", "reject"),
            )
            if co.code == NO_CARRYOVER_BLANK:
                why = (f"; {', '.join(ids[j] for j in unmeasured)} could not be measured (see "
                       "messages.txt)") if unmeasured else ""
                co = replace(co, message=f"{co.message} ({ids[top]}){why}",
                             details={**co.details, "highest_calibrator": ids[top]})
            outcomes.append(_tag(co, name))
            if co.failed:
                for j in after:
                    extra.setdefault((ids[j], name), []).append("CARRYOVER")

        # Interference in the other blanks and zeros (IS judged in blanks only).
        blanks = [i for i, e in enumerate(order)
                  if e.sample_type in ("blank", "zero") and measured(i, analyte) and i not in after]
        bi = blank_interference(
            [_area(rows[i].area) for i in blanks], lloq_area,
            blank_is=[(_area(rows[i].is_area) if order[i].sample_type == "blank" else None)
                      for i in blanks] if has_is else None,
            mean_is=mean_is if has_is else None,
            limit_pct=s.interference_limit_pct, is_limit_pct=s.interference_is_limit_pct,
            names=[ids[i] for i in blanks], severity=sev.get("interference", "reject"),
        )
        outcomes.append(_tag(bi, name))
        if bi.failed:
            for i in blanks:
                area_pct = 100 * _area(rows[i].area) / lloq_area
                if area_pct > s.interference_limit_pct:
                    extra.setdefault((ids[i], name), []).append("INTERFERENCE")

        # a saturated peak (quantifier, qualifier or IS: flagged on the result), or a calibrator
        # whose integration is held (CAL_HELD: excluded from the fit), is no reference for the
        # IS response, retention time or ion ratio of the others (a quantifier cut to a sliver
        # in two calibrators moved the ion-ratio mean so far that 38 injections failed it)
        sat = np.array([bool({"SATURATED", "CAL_HELD"} & set(r.flags)) for r in rows], dtype=bool)
        ref_mask = np.isin(types, ["calibrator", "qc"]) & usable & ~sat
        if analyte.internal_standard is not None:
            is_vals = np.array([r.is_area if types[i] != "blank" else math.nan for i, r in enumerate(rows)])
            if np.any(ref_mask & np.isfinite(is_vals)):
                chk = is_response(is_vals, ref_mask, band=s.is_band_pct, names=ids,
                                  severity=sev.get("is_response", "warn"))
                outcomes.append(_tag(chk.outcome, name))
                add_flags(name, chk)
                cv_out = is_cv_rule(chk.cv_pct, s.is_cv_limit_pct, severity=sev.get("is_cv", "warn"))
                outcomes.append(_tag(cv_out, name))
            else:
                why = "no calibrator or QC with an internal standard response"
                outcomes.append(_tag(RuleOutcome.not_evaluated(
                    "is_response", NO_IS_REFERENCE, f"IS response not evaluated: {why}",
                    severity=sev.get("is_response", "warn")), name))
                outcomes.append(_tag(RuleOutcome.not_evaluated(
                    "is_cv", NO_IS_REFERENCE, f"IS CV not evaluated: {why}",
                    severity=sev.get("is_cv", "warn")), name))

        cal_mask = (types == "calibrator") & usable & ~sat
        # Blanks and zeros hold no analyte: a "peak" there is noise at an arbitrary time, judged
        # by the interference rule, not by retention time or ion ratio.
        judged = ~np.isin(types, ["blank", "zero"])
        rts = np.array([r.rt_min if judged[i] else math.nan for i, r in enumerate(rows)])
        relative = analyte.rrt is not None and analyte.internal_standard is not None
        if relative:  # searched relative to the IS: judge the relative retention (2002/657/EC)
            is_rt = np.array([_peak_rt(m, analyte.internal_standard) for m in measurements])
            with np.errstate(invalid="ignore", divide="ignore"):
                rts = rts / is_rt
        if np.any(cal_mask & np.isfinite(rts)):
            chk = rt_check(rts, cal_mask, s.rt_tolerance_pct, names=ids, severity=sev.get("rt", "warn"),
                           relative=relative)
            outcomes.append(_tag(chk.outcome, name))
            add_flags(name, chk)
        else:  # no calibrator peak: the calibration rule judges that; RT has no reference
            outcomes.append(_tag(RuleOutcome.not_evaluated(
                "rt", NO_RT_REFERENCE,
                "retention time not evaluated: no calibrator peak to define the reference retention time",
                severity=sev.get("rt", "warn")), name))

        # Ion ratio only for analytes with a qualifier ion in the method (otherwise it does not apply).
        if analyte.qualifier is not None:
            quant, qual = [], []
            for i, m in enumerate(measurements):
                pq = m.peaks.get(name) if not m.error and judged[i] else None
                pl = m.peaks.get(f"{name} qualifier") if not m.error and judged[i] else None
                quant.append(pq.area if pq is not None else math.nan)
                qual.append(pl.area if pl is not None else math.nan)
            qa, qla = np.array(quant, dtype=float), np.array(qual, dtype=float)
            if np.any(cal_mask & np.isfinite(qa) & (qa > 0) & np.isfinite(qla)):
                chk = ion_ratio_check(quant, qual, cal_mask, s.ion_ratio_tolerance_pct, names=ids,
                                      severity=sev.get("ion_ratio", "warn"))
                outcomes.append(_tag(chk.outcome, name))
                add_flags(name, chk)
            else:
                outcomes.append(_tag(RuleOutcome.not_evaluated(
                    "ion_ratio", NO_ION_RATIO_REFERENCE,
                    "ion ratio not evaluated: no calibrator with both quantifier and qualifier peaks",
                    severity=sev.get("ion_ratio", "warn")), name))

        # Held for review (docs/qc.md): after the IS response and ion ratio flags are known
        now = [list(r.flags) + extra.get((r.sample_id, name), []) for r in rows]
        held = hold_reasons(analyte, order, measurements, now, s)
        outcomes.append(_tag(hold_outcome(name, ids, held, severity=sev.get("hold", "warn")), name))
        for sid, reasons in zip(ids, held, strict=True):
            if reasons:  # plain HELD too: readers that look for the code itself (review, LIS)
                extra.setdefault((sid, name), []).extend([HELD, *(f"{HELD}:{code}" for code, _ in reasons)])

    if patients and settings.require_blank_zero:
        # ICH M10: a curve is blank + zero + >= 6 levels; a run without them (rows left out, or
        # all unusable) would pass carry-over and interference as "not evaluated"
        wanted = ["blank"] + (["zero"] if any(a.internal_standard for a in method.analytes) else [])
        lacking = [t for t in wanted
                   if not any(e.sample_type == t and all(measured(i, a) for a in method.analytes)
                              for i, e in enumerate(order))]
        if lacking:
            outcomes.append(RuleOutcome(
                "calibration", NO_BLANK_ZERO, False, settings.severity.get("calibration", "reject"),
                f"no usable, measured {' or '.join(lacking)} sample in a run with patient samples (ICH M10: the "
                "calibration curve includes a blank and a zero sample; carry-over and interference "
                "cannot be judged without them)", {"lacking": lacking}))

    if history is not None:
        outcomes += _westgard(history, method, results, settings, run_id)

    verdict = run_verdict(outcomes)
    out: list[Result] = []
    for r in results:
        fl = list(r.flags) + extra.get((r.sample_id, r.analyte), [])
        if not verdict.accepted and r.sample_type == "unknown":
            fl.append("RUN_INVALID")
        out.append(replace(r, flags=tuple(dict.fromkeys(fl))) if fl != list(r.flags) else r)
    return out, [o.outcome if hasattr(o, "outcome") else o for o in outcomes], verdict


def _peak_rt(measurement: Any, name: str) -> float:
    """Retention time of a compound's peak in one injection (NaN without it)."""
    pk = None if measurement.error else measurement.peaks.get(name)
    return math.nan if pk is None else pk.rt_min


def _tag(outcome: RuleOutcome, analyte: str) -> RuleOutcome:
    """Name the analyte in an outcome's message and details."""
    details = dict(outcome.details or {})
    details["analyte"] = analyte
    msg = outcome.message if outcome.message.startswith(analyte) else f"{analyte}: {outcome.message}"
    return replace(outcome, message=msg, details=details)


def _westgard(history: Any, method: Any, results: Sequence[Result], settings: QCSettings,
              run_id: str | None) -> list[RuleOutcome]:
    """Add this run's QC values to the history, then evaluate the multirules per analyte and level."""
    import datetime as _dt

    stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    rid = run_id or stamp
    # a run quantified again (--force, each review edit) keeps its place in the series: in a history
    # shared by the method's batches, a later batch's values must stay after it
    stamp = history.run_timestamp(rid) or stamp
    values: dict[tuple[str, str], list[float]] = {}
    for r in results:
        if r.sample_type == "qc" and math.isfinite(r.conc):
            values.setdefault((r.analyte, r.level), []).append(r.conc)
    outs: list[RuleOutcome] = []
    for (analyte, level), vals in sorted(values.items()):
        history.add_run(rid, stamp, analyte, level, vals)
    for analyte in sorted({a for a, _ in values}):
        # Per-level rules for every level, plus the within-run rules across levels (2-2s, R-4s).
        for o in history.evaluate_run(
            analyte, rid, levels=sorted(lv for a, lv in values if a == analyte),
            rules=settings.westgard_rules, min_history=settings.westgard_min_history,
            severity=settings.severity.get("westgard", "reject"),
        ):
            outs.append(_tag(o, analyte))
    return outs
