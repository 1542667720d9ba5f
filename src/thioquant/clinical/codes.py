"""Result flags of the clinical layer, registered in :mod:`thioquant.flags`."""

from __future__ import annotations

from thioquant import flags as _flags

FLAG_TGN_LOW = _flags.register("TGN_LOW", "6-TGN below the profile's target range")
FLAG_TGN_HIGH = _flags.register("TGN_HIGH", "6-TGN above the profile's target range (myelotoxicity risk)")
FLAG_MMP_HIGH = _flags.register("MMP_HIGH", "6-MMP above the profile's hepatotoxicity cut-off")
FLAG_RATIO_HIGH = _flags.register(
    "RATIO_HIGH", "MMP:TGN ratio above the profile's cut-off: consistent with preferential methylation"
)
FLAG_UNDETECTABLE = _flags.register(
    "BOTH_UNDETECTABLE", "6-TGN and 6-MMP both undetectable: consistent with non-adherence"
)
FLAG_TPMT_PATTERN = _flags.register(
    "TPMT_PATTERN", "very high 6-TGN with undetectable 6-MMP: pattern of possible TPMT deficiency"
)
FLAG_LFT = _flags.register("LFT_RAISED", "ALT/AST above the profile's hepatotoxicity-note threshold")
FLAG_LFT_REVIEW = _flags.register(
    "LFT_REVIEW", "ALT/AST or bilirubin above the profile's stop-and-review threshold"
)
FLAG_AGED = _flags.register(
    "SAMPLE_AGED", "sample older than the profile's stability limit on receipt: 6-TGN may be underestimated"
)
FLAG_FAMILY = _flags.register(
    "FAMILY_MISMATCH", "result's method family is not one the profile's ranges apply to: not interpreted"
)
FLAG_DOSE = _flags.register(
    "DOSE_ABOVE_BAND", "dose above the CPIC starting-dose band for the recorded TPMT/NUDT15 phenotype"
)
FLAG_NOT_INTERPRETED = _flags.register(
    "NOT_INTERPRETED", "6-TGN or 6-MMP result not available: pair not interpreted"
)
FLAG_ALLOPURINOL_FULL_DOSE = _flags.register(
    "ALLOPURINOL_FULL_DOSE",
    "allopurinol recorded with a thiopurine dose above 25-33 % of the usual dose: interaction risk",
)
FLAG_LEUKOPENIA = _flags.register("LEUKOPENIA", "WBC or neutrophils below the profile's blood-count limit")
FLAG_THROMBOCYTOPENIA = _flags.register("THROMBOCYTOPENIA", "platelets below the profile's blood-count limit")
FLAG_PRE_STEADY_STATE = _flags.register(
    "PRE_STEADY_STATE", "sample taken before steady state after the start or the last dose change"
)
FLAG_THIOGUANINE = _flags.register(
    "THIOGUANINE", "patient on thioguanine: azathioprine/mercaptopurine ranges not applied"
)
FLAG_CENSORED = _flags.register(
    "CENSORED_SPANS_CUTOFF", "a result reported as '<x' whose bound spans a cut-off: pair not classified"
)
