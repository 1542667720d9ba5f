"""The clinical layer: interpretation of a patient's 6-TGN / 6-MMP pair as decision support.

Modules (a reader finds a rule and its source in one place):

- :mod:`~thioquant.clinical.profiles`: cut-offs and clinical settings from TOML profiles;
- :mod:`~thioquant.clinical.context`: per-sample context and the controlled vocabularies
  (drug, phenotype, star-allele genotype, indication);
- :mod:`~thioquant.clinical.rules`: the pattern table and context rules, with :data:`RULES`
  naming each rule's source;
- :mod:`~thioquant.clinical.wording`: category labels and comment templates;
- :mod:`~thioquant.clinical.formatting`: numbers that never contradict their cut-offs;
- :mod:`~thioquant.clinical.plausibility`: checks on hand-entered values;
- :mod:`~thioquant.clinical.tables`: ``interpretation.csv``;
- :mod:`~thioquant.clinical.codes`: the flags.

See docs/interpretation.md. Every comment is decision support for the clinician, never an
instruction.
"""

from thioquant.clinical.codes import (
    FLAG_AGED,
    FLAG_ALLOPURINOL_FULL_DOSE,
    FLAG_CENSORED,
    FLAG_DOSE,
    FLAG_FAMILY,
    FLAG_LEUKOPENIA,
    FLAG_LFT,
    FLAG_LFT_REVIEW,
    FLAG_MMP_HIGH,
    FLAG_NOT_INTERPRETED,
    FLAG_PRE_STEADY_STATE,
    FLAG_RATIO_HIGH,
    FLAG_TGN_HIGH,
    FLAG_TGN_LOW,
    FLAG_THIOGUANINE,
    FLAG_THROMBOCYTOPENIA,
    FLAG_TPMT_PATTERN,
    FLAG_UNDETECTABLE,
)
from thioquant.clinical.context import (
    ALLELE_FUNCTION,
    DRUGS,
    INDICATIONS,
    PHENOTYPES,
    ClinicalContext,
    ContextProblem,
    parse_drug,
    parse_indication,
    parse_phenotype,
    phenotype_from_genotype,
)
from thioquant.clinical.formatting import format_near, format_ratio
from thioquant.clinical.plausibility import (
    PLAUSIBLE_MAX_PMOL_8E8,
    PLAUSIBLE_MIN_PMOL_8E8,
    implausible_level,
)
from thioquant.clinical.profiles import Profile, list_profiles, load_profile, parse_profile
from thioquant.clinical.rules import RULES, Interpretation, Rule, interpret
from thioquant.clinical.tables import (
    INTERPRETATION_COLUMNS,
    NOT_INTERPRETED_FLAGS,
    RBC_FLAGS,
    UNDETECTED_FLAGS,
    interpretation_row,
    interpretation_rows,
    write_interpretation_csv,
)
from thioquant.clinical.wording import CATEGORIES, DEFAULT_COMMENTS, DEFAULT_MONITORING

__all__ = [
    "ALLELE_FUNCTION", "CATEGORIES", "DEFAULT_COMMENTS", "DEFAULT_MONITORING", "DRUGS", "FLAG_AGED",
    "FLAG_ALLOPURINOL_FULL_DOSE", "FLAG_CENSORED", "FLAG_DOSE", "FLAG_FAMILY", "FLAG_LEUKOPENIA", "FLAG_LFT",
    "FLAG_LFT_REVIEW", "FLAG_MMP_HIGH", "FLAG_NOT_INTERPRETED", "FLAG_PRE_STEADY_STATE", "FLAG_RATIO_HIGH",
    "FLAG_TGN_HIGH", "FLAG_TGN_LOW", "FLAG_THIOGUANINE", "FLAG_THROMBOCYTOPENIA", "FLAG_TPMT_PATTERN",
    "FLAG_UNDETECTABLE", "INDICATIONS", "INTERPRETATION_COLUMNS", "NOT_INTERPRETED_FLAGS", "PHENOTYPES",
    "PLAUSIBLE_MAX_PMOL_8E8", "PLAUSIBLE_MIN_PMOL_8E8", "RBC_FLAGS", "RULES", "UNDETECTED_FLAGS",
    "ClinicalContext", "ContextProblem", "Interpretation", "Profile", "Rule", "format_near", "format_ratio",
    "implausible_level", "interpret", "interpretation_row", "interpretation_rows", "list_profiles",
    "load_profile", "parse_drug", "parse_indication", "parse_phenotype", "parse_profile",
    "phenotype_from_genotype", "write_interpretation_csv",
]
