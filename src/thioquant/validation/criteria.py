"""Acceptance criteria of a method validation, each a named setting with its guideline default.

Defaults are ICH M10 (2022) for the bioanalytical experiments, ICH Q2(R2) for detection and
quantification limits and USP <621> (harmonised 2022) for system suitability. Where a guideline
gives no number (system-suitability %RSD for a bioanalytical method, resolution), the default is
a common laboratory value and says so. A package may override any of them in the ``[criteria]``
table of its ``package.toml``; the report lists every value used and marks the overridden ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from thioquant.errors import MethodError


@dataclass(frozen=True)
class Criteria:
    """Every acceptance criterion of a validation, with its source.

    Attributes
    ----------
    ap_bias_pct, ap_bias_lloq_pct : float
        Accuracy and precision: mean accuracy within +/- 15 % of nominal, +/- 20 % at the LLOQ
        (ICH M10, accuracy and precision), within each run and across runs.
    ap_cv_pct, ap_cv_lloq_pct : float
        Within-run and between-run CV <= 15 %, <= 20 % at the LLOQ (ICH M10, accuracy and precision).
    ap_min_replicates, ap_min_runs, ap_min_days : int
        At least 5 replicates per level per run, 3 runs, 2 days (ICH M10, accuracy and precision),
        at four QC roles: LLOQ, low (<= 3 x LLOQ), mid (30-50 % of the range) and high (>= 75 % of
        the ULOQ), classified by nominal as in :mod:`thioquant.assay.method` (not a setting).
    lloq_level : str
        Name of the method's QC level at the LLOQ. Informative only: the wider A&P limits go to the
        QC level whose nominal equals the analyte's LLOQ (the lowest calibrator), whatever its name;
        a lowest QC above the LLOQ (e.g. at 2.5 x LLOQ) is judged at 15 %.
    calibration_min_runs_passing : float
        Fraction of A&P runs whose calibration curve must meet ICH M10 (1.0 = every run).
    calibration_r2_min : float
        Optional minimum weighted r^2 of each curve; NaN (default) = not judged (ICH M10 sets
        none; CLSI C62-A uses 0.995).
    selectivity_pct, selectivity_is_pct : float
        Blank response < 20 % of the LLOQ analyte response and < 5 % of the IS response
        (ICH M10, selectivity).
    selectivity_min_sources : int
        At least 6 individual blank sources (ICH M10, selectivity).
    selectivity_min_fraction : float
        Fraction of sources that must be free of interference (1.0: each source).
    carryover_pct, carryover_is_pct : float
        Blank after the highest calibrator <= 20 % of the LLOQ response and <= 5 % of the IS
        response (ICH M10, carry-over).
    matrix_bias_pct, matrix_cv_pct : float
        Low and high QC in each matrix lot: mean within +/- 15 % of nominal, CV <= 15 %
        (ICH M10, matrix effect).
    matrix_min_lots : int
        At least 6 lots (ICH M10, matrix effect).
    matrix_min_replicates : int
        At least 3 replicates of the low and of the high QC in each lot (ICH M10, matrix effect);
        both levels must be present.
    matrix_is_mf_cv_pct : float
        CV of the IS-normalised matrix factor across lots <= 15 % (EMA 2011 (matrix effect); M10 accepts
        it as supporting evidence).
    dilution_bias_pct, dilution_cv_pct : float
        Diluted QCs: mean within +/- 15 %, CV <= 15 % (ICH M10, dilution integrity).
    dilution_min_replicates : int
        At least 5 determinations per dilution factor (ICH M10, dilution integrity).
    stability_bias_pct : float
        Mean of stored QCs within +/- 15 % of nominal at each level and condition (ICH M10, stability).
    stability_min_replicates : int
        At least 3 replicates of the low and of the high QC per storage condition (ICH M10,
        stability); both levels must be present.
    isr_diff_pct, isr_min_fraction : float
        Incurred-sample reanalysis: |repeat - original| / mean <= 20 % for >= 2/3 of the pairs
        (ICH M10, incurred sample reanalysis).
    lloq_sn_min : float
        Median S/N of the LLOQ injections >= 10 (ICH Q2(R2) QL by signal-to-noise).
    sst_plates_min : float
        USP plate count N = 5.54 (tR/w_h)^2 >= 2000 (FDA 1994 reviewer guidance; USP sets the
        value per monograph).
    sst_symmetry_min, sst_symmetry_max : float
        USP symmetry factor 0.8-1.8 (USP <621> harmonised 2022).
    sst_resolution_min : float
        Resolution from the nearest preceding peak >= 1.5 (baseline separation), where one exists.
    sst_sn_min : float
        S/N of the system-suitability injections >= 10.
    sst_rsd_max_pct : float
        %RSD of the response of replicate system-suitability injections <= 5 % (laboratory
        default for bioanalysis; the USP <621> table of 0.73-2 % applies to drug-substance assays).
    """

    ap_bias_pct: float = 15.0
    ap_bias_lloq_pct: float = 20.0
    ap_cv_pct: float = 15.0
    ap_cv_lloq_pct: float = 20.0
    ap_min_replicates: int = 5
    ap_min_runs: int = 3
    ap_min_days: int = 2
    lloq_level: str = "QC-LLOQ"
    calibration_min_runs_passing: float = 1.0
    calibration_r2_min: float = math.nan
    selectivity_pct: float = 20.0
    selectivity_is_pct: float = 5.0
    selectivity_min_sources: int = 6
    selectivity_min_fraction: float = 1.0
    carryover_pct: float = 20.0
    carryover_is_pct: float = 5.0
    matrix_bias_pct: float = 15.0
    matrix_cv_pct: float = 15.0
    matrix_min_lots: int = 6
    matrix_min_replicates: int = 3
    matrix_is_mf_cv_pct: float = 15.0
    dilution_bias_pct: float = 15.0
    dilution_cv_pct: float = 15.0
    dilution_min_replicates: int = 5
    stability_bias_pct: float = 15.0
    stability_min_replicates: int = 3
    isr_diff_pct: float = 20.0
    isr_min_fraction: float = 2.0 / 3.0
    lloq_sn_min: float = 10.0
    sst_plates_min: float = 2000.0
    sst_symmetry_min: float = 0.8
    sst_symmetry_max: float = 1.8
    sst_resolution_min: float = 1.5
    sst_sn_min: float = 10.0
    sst_rsd_max_pct: float = 5.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "lloq_level":
                if not isinstance(v, str) or not v:
                    raise MethodError("must be a non-empty level name", key=f"criteria.{f.name}")
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise MethodError(f"must be a number, got {v!r}", key=f"criteria.{f.name}")
            if f.name == "calibration_r2_min" and math.isnan(v):
                continue
            if not math.isfinite(v) or v < 0:
                raise MethodError(f"must be a finite number >= 0, got {v!r}", key=f"criteria.{f.name}")
            if f.type == "int" and int(v) != v:
                raise MethodError(f"must be a whole number, got {v!r}", key=f"criteria.{f.name}")
        for name in ("calibration_min_runs_passing", "selectivity_min_fraction", "isr_min_fraction"):
            if getattr(self, name) > 1:
                raise MethodError("is a fraction and must be <= 1", key=f"criteria.{name}")
        if self.sst_symmetry_min > self.sst_symmetry_max:
            raise MethodError("must not exceed sst_symmetry_max", key="criteria.sst_symmetry_min")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, base: Criteria | None = None) -> Criteria:
        """Criteria with the values of ``data`` (a ``[criteria]`` table) over ``base`` (defaults)."""
        data = dict(data or {})
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise MethodError(f"unknown criterion (known: {', '.join(sorted(known))})", key=f"criteria.{unknown[0]}")
        for k, v in list(data.items()):
            if known[k].type == "int" and isinstance(v, float) and v.is_integer():
                data[k] = int(v)
        return replace(base or cls(), **data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def overridden(self) -> dict[str, Any]:
        """The settings that differ from the guideline defaults."""
        d0 = Criteria().as_dict()
        out = {}
        for k, v in self.as_dict().items():
            v0 = d0[k]
            same = (isinstance(v, float) and isinstance(v0, float) and math.isnan(v) and math.isnan(v0)) or v == v0
            if not same:
                out[k] = v
        return out


#: one line per criterion, shown in the report's settings table
SOURCES: dict[str, str] = {
    "ap_bias_pct": "ICH M10 (accuracy and precision)",
    "ap_bias_lloq_pct": "ICH M10 (accuracy and precision)",
    "ap_cv_pct": "ICH M10 (accuracy and precision)",
    "ap_cv_lloq_pct": "ICH M10 (accuracy and precision)",
    "ap_min_replicates": "ICH M10 (accuracy and precision)",
    "ap_min_runs": "ICH M10 (accuracy and precision)",
    "ap_min_days": "ICH M10 (accuracy and precision)",
    "lloq_level": "method",
    "calibration_min_runs_passing": "ICH M10 (calibration curve)",
    "calibration_r2_min": "CLSI C62-A (off by default)",
    "selectivity_pct": "ICH M10 (selectivity)",
    "selectivity_is_pct": "ICH M10 (selectivity)",
    "selectivity_min_sources": "ICH M10 (selectivity)",
    "selectivity_min_fraction": "ICH M10 (selectivity)",
    "carryover_pct": "ICH M10 (carry-over)",
    "carryover_is_pct": "ICH M10 (carry-over)",
    "matrix_bias_pct": "ICH M10 (matrix effect)",
    "matrix_cv_pct": "ICH M10 (matrix effect)",
    "matrix_min_lots": "ICH M10 (matrix effect)",
    "matrix_min_replicates": "ICH M10 (matrix effect)",
    "matrix_is_mf_cv_pct": "EMA 2011 (matrix effect)",
    "dilution_bias_pct": "ICH M10 (dilution integrity)",
    "dilution_cv_pct": "ICH M10 (dilution integrity)",
    "dilution_min_replicates": "ICH M10 (dilution integrity)",
    "stability_bias_pct": "ICH M10 (stability)",
    "stability_min_replicates": "ICH M10 (stability)",
    "isr_diff_pct": "ICH M10 (incurred sample reanalysis)",
    "isr_min_fraction": "ICH M10 (incurred sample reanalysis)",
    "lloq_sn_min": "ICH Q2(R2)",
    "sst_plates_min": "FDA 1994 reviewer guidance",
    "sst_symmetry_min": "USP <621>",
    "sst_symmetry_max": "USP <621>",
    "sst_resolution_min": "laboratory default",
    "sst_sn_min": "USP <621>",
    "sst_rsd_max_pct": "laboratory default",
}
