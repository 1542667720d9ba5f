"""Wording of the clinical layer: category labels and the comment of each pattern.

Every comment is decision support for the clinician: it says what a pattern is "consistent
with" or what "may be considered", never what to do. A profile's ``[comments]`` table overrides
any template here (``str.format`` fields: tgn_low, tgn_high, tgn_very_high, mmp_high,
ratio_high, profile, families; ``not_comparable`` also method_family). The source of each
pattern is in :data:`thioquant.clinical.rules.RULES` and docs/interpretation.md.
"""

from __future__ import annotations

#: Category code -> short label.
CATEGORIES: dict[str, str] = {
    "non_adherence": "both undetectable",
    "subtherapeutic": "sub-therapeutic",
    "preferential_methylation": "preferential methylation",
    "therapeutic": "therapeutic",
    "hepatotoxicity_risk": "hepatotoxicity risk",
    "supratherapeutic": "supratherapeutic",
    "myelotoxicity_risk": "myelotoxicity risk",
    "tpmt_deficiency": "possible TPMT deficiency",
    "thioguanine": "thioguanine therapy: azathioprine/mercaptopurine ranges not applied",
    "not_interpretable": "not interpretable",
    "not_comparable": "method family not covered by profile",
}

#: Default comment per category, and per variant of a category (the keys after the categories:
#: a variant replaces its category's comment where the rule in :mod:`~thioquant.clinical.rules`
#: says so).
DEFAULT_COMMENTS: dict[str, str] = {
    "non_adherence": (
        "6-TGN and 6-MMP both undetectable: consistent with non-adherence (rarely malabsorption); "
        "the clinician may wish to discuss adherence and consider a repeat measurement."
    ),
    "subtherapeutic": (
        "6-TGN below {tgn_low:g} with 6-MMP within normal: consistent with sub-therapeutic dosing; "
        "a dose increase and a repeat measurement at steady state may be considered."
    ),
    "preferential_methylation": (
        "6-TGN below {tgn_low:g} with raised 6-MMP or MMP:TGN ratio above {ratio_high:g}: consistent "
        "with preferential methylation (shunting); dose escalation would be expected to raise "
        "hepatotoxicity risk rather than 6-TGN; specialist review may consider allopurinol with "
        "thiopurine dose reduction to 25-33 %."
    ),
    "therapeutic": (
        "6-TGN within {tgn_low:g}-{tgn_high:g} and 6-MMP within normal: consistent with therapeutic "
        "levels; if the patient is not responding, thiopurine-refractory disease may be considered."
    ),
    "hepatotoxicity_risk": (
        "6-TGN within {tgn_low:g}-{tgn_high:g} with 6-MMP above {mmp_high:g}: associated with "
        "hepatotoxicity risk; a dose reduction and a repeat measurement may be considered."
    ),
    "supratherapeutic": (
        "6-TGN above {tgn_high:g} and 6-MMP above {mmp_high:g}: consistent with supratherapeutic "
        "dosing; a dose reduction may be considered."
    ),
    "myelotoxicity_risk": (
        "6-TGN above {tgn_high:g} with 6-MMP within normal: associated with myelotoxicity risk "
        "(possibly low TPMT activity); a blood count and a dose reduction may be considered."
    ),
    "tpmt_deficiency": (
        "6-TGN above {tgn_very_high:g} with 6-MMP undetectable: pattern consistent with possible "
        "TPMT deficiency; urgent clinical review, including a blood count and TPMT status, may be "
        "warranted."
    ),
    "thioguanine": (
        "Patient recorded as taking thioguanine: 6-MMP is not a thioguanine metabolite and 6-TGN "
        "runs much higher on thioguanine than on azathioprine or mercaptopurine, so the {profile} "
        "profile's azathioprine/mercaptopurine ranges are not applied; the 6-TGN level may be read "
        "against the laboratory's thioguanine experience."
    ),
    "not_interpretable": (
        "6-TGN or 6-MMP result not available (not reportable): the pair has not been interpreted."
    ),
    "not_comparable": (
        "Result from a {method_family}-type method; the {profile} profile's ranges were derived for "
        "{families} assays and are not applied (ranges are not comparable across method families)."
    ),
    # --- variants ---------------------------------------------------------------------------
    "not_interpretable_censored": (
        "A result reported only as below a limit that lies above a cut-off: it may fall on either "
        "side of the cut-off, so the pair has not been interpreted."
    ),
    "subtherapeutic_very_low": (
        "6-TGN and 6-MMP both very low: consistent with non-adherence or partial adherence, or "
        "with sub-therapeutic dosing; adherence may be discussed, and a repeat measurement "
        "considered, before any dose increase."
    ),
    "subtherapeutic_tgn_undetectable": (
        "6-TGN undetectable while 6-MMP is detected: consistent with partial adherence or with "
        "preferential methylation; adherence may be discussed and a repeat measurement considered "
        "before any dose change (a dose increase is not suggested while 6-TGN is undetectable)."
    ),
    "subtherapeutic_pre_steady_state": (
        "6-TGN below {tgn_low:g} with 6-MMP within normal, in a sample taken before steady state: "
        "levels may still be rising; a repeat measurement at steady state may be considered before "
        "any dose change."
    ),
    "subtherapeutic_poor_metaboliser": (
        "6-TGN below {tgn_low:g} with 6-MMP within normal in a TPMT or NUDT15 poor metaboliser: a "
        "low 6-TGN does not make a dose increase safe (CPIC: a non-thiopurine alternative, or for "
        "malignancy a drastically reduced dose); specialist review may be considered."
    ),
    "preferential_methylation_allopurinol": (
        "6-TGN below {tgn_low:g} with raised 6-MMP or MMP:TGN ratio above {ratio_high:g} although "
        "allopurinol is recorded: with allopurinol a low 6-MMP is expected, so this may be "
        "consistent with non-adherence to allopurinol or an allopurinol dose too low; dose "
        "escalation of the thiopurine would be expected to raise hepatotoxicity risk; specialist "
        "review may be considered."
    ),
}

#: The monitoring schedule shown as context on the patient report (the profile may replace it).
DEFAULT_MONITORING = (
    "Monitoring on thiopurines (dosing source, a secondary summary; the treating team's protocol "
    "applies): blood count every 1-2 weeks for the first 8 weeks, then every 3 months; liver tests "
    "every 2 weeks at first, then every 3-6 months."
)
