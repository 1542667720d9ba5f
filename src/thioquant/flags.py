"""Flag codes carried by peaks and results, each with a plain-language message.

Codes are short, stable strings written into ``results.csv``; messages explain them to a
reader of the report. Modules add their own codes with :func:`register` at import time.
"""

from __future__ import annotations

FLAGS: dict[str, str] = {
    # peaks
    "NO_PEAK": "no peak found in the expected retention window",
    "LOW_SN": "signal-to-noise below the method's detection threshold",
    "SATURATED": "flat-topped peak: the detector is probably saturated",
    "EDGE": "peak truncated at the start or end of the trace",
    "NEGATIVE": "negative peak",
    "FEW_POINTS": "fewer points across the peak than the method requires",
    "FUSED": "peak overlaps a neighbour; split by the fused-peak rule",
    "DECONVOLVED": "area from an exponentially modified Gaussian fit of overlapping peaks",
    "FIT_POOR": "peak model fit is poor (R^2 below threshold)",
    "MANUAL": "manually integrated (see reason in the audit trail)",
    "NO_TRACE": "the raw file has no trace for this analyte's channel: no result (not 'not "
    "detected')",
    "OUT_OF_TRACE": "the retention window lies outside the recorded trace (a truncated file?): no "
    "result (not 'not detected')",
    "MANUAL_FAILED": "the manual integration could not be applied (see messages.txt): no result",
    "NO_IS": "internal standard peak missing: response could not be formed",
    "NO_IS_ADDED": "blank without internal standard (double blank): no response ratio or "
    "concentration is formed; its areas are judged by the interference and carry-over rules",
    "RRT_NO_IS": "internal standard peak not found: the analyte was searched at the method's rt_min "
    "instead of its retention relative to the internal standard",
    # calibration and limits
    "CAL_EXCLUDED": "calibrator excluded from the fit (back-calculated accuracy outside limits, "
    "CAL_HELD, or a reviewer's or decisions file's exclusion; the reason is in calibration.json)",
    "CAL_HELD": "calibrator excluded before the fit: its quantifier or internal standard integration "
    "would be held for review (IS response, width, apex or a FUSED/FEW_POINTS/SPIKE/DROPOUT_LONG peak; "
    "docs/qc.md); counted as not passing in the ICH M10 75 % and 6-level rules",
    "CAL_HELD_INCLUDED": "calibrator whose integration would be held (CAL_HELD) included in the fit by "
    "a reviewer who judged the chromatogram fine, in the review or by a row of a decisions file (who, "
    "which file and row, and why: in calibration.json, the audit trail and the row's flag_messages); "
    "judged by the ICH M10 rules like any calibrator",
    "CAL_FAIL": "calibration failed acceptance: results are not reportable",
    "BELOW_LLOQ": "<LLOQ: below the lower limit of quantification",
    "ABOVE_ULOQ": ">ULOQ: dilute and rerun",
    "BELOW_LOD": "below the limit of detection",
    "NOT_DETECTED": "analyte not detected",
    # QC
    "QC_FAIL": "QC outside its acceptance limit",
    "RT_SHIFT": "retention time outside tolerance of the calibrator mean",
    "ION_RATIO": "qualifier/quantifier ion ratio outside tolerance of the calibrator mean",
    "IS_RESPONSE": "internal standard response outside the accepted band",
    "CARRYOVER": "carry-over in the blank after the highest calibrator exceeds the limit",
    "INTERFERENCE": "interference in a blank or zero sample exceeds the limit",
    # input
    "BAD_ROW": "worklist row malformed (see the message): its values cannot be trusted, so it is not "
    "quantified",
    "NO_SAMPLE_ID": "empty sample_id in the worklist: the row is named after its line (row<n>)",
    "COMMENT_ROW": "worklist row whose first value starts with '#': skipped as a comment (a message in "
    "messages.txt, never a flag on a result)",
    "OUTSIDE_BATCH": "raw file named by an absolute path or a path leading out of the batch folder: "
    "quantified, but the batch folder is not self-contained (a message in messages.txt, never a flag "
    "on a result)",
    "MISSING_FILE": "raw file missing or unreadable",
    "MEASURE_FAILED": "the injection could not be measured because of an internal error (see "
    "messages.txt); please report it",
    "DUPLICATE_ID": "duplicate sample_id in the worklist",
    "DUPLICATE_FILE": "the same raw file is named by more than one row: at least one row names the wrong "
    "file, so none of them is quantified",
    "BAD_TYPE": "unknown sample_type in the worklist",
    "BAD_LEVEL": "calibrator or QC level not defined in the method",
    "NO_RBC": "RBC count missing: result cannot be normalised to erythrocytes",
    "BAD_RBC": "RBC count outside the plausible range: result not normalised",
    "BAD_DILUTION": "dilution factor not a positive number or outside the method's plausible range "
    "(default 1-100): the row is not quantified",
    "RUN_INVALID": "run failed acceptance: results must not be reported",
    # review and signal integrity (docs/qc.md)
    "HELD": "held for review: a check of the integration or of the signal failed (HELD:<reason>; "
    "the report's 'Held for review' list gives the numbers); not interpreted until a person has "
    "reviewed the chromatogram (re-integrate, or dilute and re-inject)",
    "DEAD_CHANNEL": "the detector channel carries no usable signal (all zero, constant, negative "
    "counts or no baseline noise): an instrument fault, not 'not detected'; no result, not "
    "interpreted",
    "SPIKE": "a single-point spike in the retention window was removed before integration "
    "(replaced by the mean of its neighbours; see docs/qc.md)",
    "SPIKE_APEX": "a one- or two-point burst on the peak (above the local fit of its neighbours by "
    "more than the method's limit) was replaced by that fit before width and integration; held "
    "(SPIKE) only when the correction exceeds apex_spike_hold_pct of the area (see docs/qc.md)",
    "DROPOUT": "points missing inside the peak (a dropout run of zeros in the MRM trace) were "
    "filled (from a co-eluting transition, or a straight line) before integration (docs/peaks.md)",
    "DROPOUT_LONG": "a dropout run bridged by a straight line (no co-eluting transition to fill it "
    "from) covers more than 20 % of the peak's points: the area rests on the line, not on measured "
    "points; treated like FEW_POINTS (held for review)",
}


#: flags of an injection x analyte that was not measured (file unreadable, measurement failed,
#: channel absent or dead, window outside the trace, manual integration failed): its missing
#: value is no evidence of "no peak", so it is never a clean blank, never "not detected", never
#: released or sent
UNMEASURED = frozenset({"MISSING_FILE", "MEASURE_FAILED", "NO_TRACE", "OUT_OF_TRACE", "MANUAL_FAILED",
                        "DEAD_CHANNEL"})


def register(code: str, message: str) -> str:
    """Add a flag code (idempotent for an identical message) and return it."""
    old = FLAGS.get(code)
    if old is not None and old != message:
        raise ValueError(f"flag {code} already registered with another message")
    FLAGS[code] = message
    return code


def describe(codes: tuple[str, ...] | list[str]) -> str:
    """Plain-language text for a list of codes, '; '-separated."""
    return "; ".join(f"{c}: {FLAGS.get(c.split(':')[0], c)}" for c in codes)
