"""The design of a simulated validation package: which injections, in which run, with what truth.

:func:`plan_package` is a pure function of the method, the :class:`Design`, the deliberate
failures and the seed. It returns the runs with their planned injections (a
:class:`~thioquant.simulate.SampleSpec` each, plus the experiment the injection belongs to, its
nominal concentrations and the matrix factors applied to its traces). Random draws (pipetting
error, matrix-lot factors, incurred-sample values) are made in a fixed order whatever the failures,
so a deliberately broken package differs from the clean one only in the injections it breaks.

Run layout (default design, 189 injections):

- R1, day 1: system suitability, calibration, accuracy and precision (A&P), selectivity,
  matrix effect.
- R2, day 1: calibration, A&P, dilution integrity, incurred samples (original analysis).
- R3, day 2: calibration, A&P, stability, incurred samples (reanalysis).

Every run starts with a blank, a zero sample, the calibrators from low to high and a blank
(the carry-over blank); the remaining injections follow in ascending concentration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from thioquant.assay.method import Method
from thioquant.errors import InputError
from thioquant.simulate import SampleSpec

#: Deliberate failures: name -> the experiment that must fail (and nothing else).
FAILURES: dict[str, str] = {
    "accuracy": "accuracy_precision",
    "precision": "accuracy_precision",
    "carryover": "carryover",
    "selectivity": "selectivity",
    "matrix": "matrix_effect",
    "dilution": "dilution_integrity",
    "stability": "stability",
    "isr": "isr",
}

#: What each failure does (documented in docs/validation.md).
FAILURE_EFFECTS: dict[str, str] = {
    "accuracy": "A&P QCs at the low level (QCL) are prepared 25 % too high",
    "precision": "A&P mid QCs (QCM) scatter by +/-20 % around nominal (mean unchanged)",
    "carryover": "0.5 % of each injection is carried into the next (blank after ULOQ ~ 50 % of LLOQ)",
    "selectivity": "one blank source holds an interference at the first analyte (50 % of the LLOQ response)",
    "matrix": "one matrix lot suppresses the first analyte to 60 % while its IS is unaffected",
    "dilution": "diluted QCs receive 20 % too little diluent (results 25 % high)",
    "stability": "bench-top storage at room temperature lasts 7 days instead of 1",
    "isr": "half of the incurred samples change by +40 % or -35 % between analysis and reanalysis",
}


@dataclass(frozen=True)
class StabilityCondition:
    """A storage condition: temperature class, days and freeze-thaw cycles."""

    name: str
    temperature: str  # "room", "4C", "-20C", "-70C"
    days: float
    freeze_thaw_cycles: int = 0
    label: str = ""


DEFAULT_STABILITY = (
    StabilityCondition("bench_top", "room", 1.0, 0, "bench-top, room temperature, 24 h"),
    StabilityCondition("freeze_thaw", "-70C", 0.0, 3, "freeze-thaw, 3 cycles -70 C / room temperature"),
    StabilityCondition("long_term", "-70C", 180.0, 0, "long-term, -70 C, 180 days"),
)

#: Loss per day by temperature (domain.md section 5: 6-TGN falls 2-4 %/day in whole blood at room
#: temperature, Pike 2001; 90 % of baseline after 7 days at 4 C, de Graaf 2010, i.e. ~1.5 %/day).
#: Analytes not listed (6-MMP) are taken as stable (unverified: configuration).
DEFAULT_DEGRADATION: dict[str, dict[str, float]] = {
    "6-TG": {"room": 3.0, "4C": 1.5, "-20C": 0.0, "-70C": 0.0},
}
#: Loss per freeze-thaw cycle, % (unverified: configuration).
DEFAULT_FREEZE_THAW_LOSS: dict[str, float] = {"6-TG": 1.0}


@dataclass(frozen=True)
class Design:
    """Sizes and physics of a simulated validation package.

    The defaults meet the ICH M10 minima: A&P 5 replicates x 4 levels x 3 runs over 2 days,
    6 blank sources, 6 matrix lots x low/high x 3 replicates, 5 diluted replicates, 3 replicates
    per stability condition and level, and 10 incurred samples. :meth:`small` is a reduced design
    for fast tests; its ``package.toml`` lowers the replicate minima accordingly.
    """

    runs: tuple[tuple[str, int], ...] = (("R1", 1), ("R2", 1), ("R3", 2))
    ap_replicates: int = 5
    sst_injections: int = 5
    selectivity_sources: int = 6
    matrix_lots: int = 6
    matrix_replicates: int = 3
    neat_replicates: int = 3
    dilution_factor: float = 10.0
    dilution_x_uloq: float = 5.0
    dilution_replicates: int = 5
    stability: tuple[StabilityCondition, ...] = DEFAULT_STABILITY
    stability_replicates: int = 3
    isr_samples: int = 10
    degradation_pct_per_day: Mapping[str, Mapping[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DEGRADATION.items()})
    freeze_thaw_loss_pct: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_FREEZE_THAW_LOSS))
    carryover_fraction: float = 0.0002
    pooled_matrix_factor: float = 0.85  # LC-MS/MS ion suppression in pooled matrix (analyte and IS)
    lot_mf_sd: float = 0.06  # lot-to-lot spread of the analyte matrix factor (log scale)
    is_tracking_sd: float = 0.02  # how closely the stable-isotope IS follows the analyte
    uv_lot_sd: float = 0.03  # HPLC-UV: lot-to-lot recovery spread
    pipetting_cv: float = 0.01
    rbc_count: float = 4.5  # of QC-type samples reported as unknowns

    def __post_init__(self) -> None:
        counts = ("ap_replicates", "selectivity_sources", "matrix_lots", "matrix_replicates", "neat_replicates",
                  "dilution_replicates", "stability_replicates", "isr_samples")
        for name in counts:
            if int(getattr(self, name)) < 1:
                raise InputError(f"design: {name} must be >= 1")
        if len(self.runs) < 2:
            raise InputError("design: at least 2 runs are needed (incurred samples are reanalysed in another run)")
        if self.dilution_factor <= 1:
            raise InputError("design: dilution_factor must be > 1")

    @classmethod
    def small(cls) -> Design:
        """A reduced design (about 100 injections) for tests and quick looks; not M10-sized."""
        return cls(ap_replicates=2, sst_injections=3, selectivity_sources=3, matrix_lots=3, matrix_replicates=1,
                   neat_replicates=2, dilution_replicates=2, stability_replicates=1, isr_samples=6)

    def criteria_overrides(self) -> dict[str, Any]:
        """Minima of :class:`~thioquant.validation.criteria.Criteria` lowered to this design's sizes."""
        from thioquant.validation.criteria import Criteria

        c = Criteria()
        out: dict[str, Any] = {}
        days = len({d for _, d in self.runs})
        for key, have in (("ap_min_replicates", self.ap_replicates), ("ap_min_runs", len(self.runs)),
                          ("ap_min_days", days), ("selectivity_min_sources", self.selectivity_sources),
                          ("matrix_min_lots", self.matrix_lots), ("matrix_min_replicates", self.matrix_replicates),
                          ("dilution_min_replicates", self.dilution_replicates),
                          ("stability_min_replicates", self.stability_replicates)):
            if have < getattr(c, key):
                out[key] = int(have)
        return out

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if k == "runs":
                v = [{"id": r, "day": day} for r, day in v]
            elif k == "stability":
                v = [c.__dict__.copy() for c in v]
            elif isinstance(v, Mapping):
                v = {a: (dict(b) if isinstance(b, Mapping) else b) for a, b in v.items()}
            d[k] = v
        return d


@dataclass(frozen=True)
class Planned:
    """One planned injection.

    ``spec`` is what the simulator receives (true concentration in the vial); ``info`` goes to
    ``package.toml`` (experiment, level, replicate, source/lot, condition, pair, role, nominal);
    ``mf`` and ``mf_is`` are matrix factors applied to the analyte and IS traces; ``key`` orders
    the injections after the carry-over blank.
    """

    spec: SampleSpec
    experiment: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    mf: Mapping[str, float] = field(default_factory=dict)
    mf_is: Mapping[str, float] = field(default_factory=dict)
    key: float = 0.0
    true_sample: Mapping[str, float] = field(default_factory=dict)  # before dilution


@dataclass(frozen=True)
class PlannedRun:
    run_id: str
    day: int
    injections: tuple[Planned, ...]


def check_failures(failures: Any) -> frozenset[str]:
    """Normalise a failure list (names or a comma-separated string); unknown names raise InputError."""
    if failures is None:
        return frozenset()
    if isinstance(failures, str):
        failures = [f for f in failures.replace(" ", "").split(",") if f]
    out = frozenset(str(f).strip().lower() for f in failures)
    unknown = sorted(out - set(FAILURES))
    if unknown:
        raise InputError(f"unknown failure {unknown[0]!r} (known: {', '.join(FAILURES)})")
    return out


def remaining_fraction(design: Design, analyte: str, cond: StabilityCondition) -> float:
    """Fraction of ``analyte`` left after storage ``cond`` (first-order loss per day and per cycle)."""
    per_day = float(design.degradation_pct_per_day.get(analyte, {}).get(cond.temperature, 0.0))
    per_ft = float(design.freeze_thaw_loss_pct.get(analyte, 0.0))
    return (1 - per_day / 100.0) ** cond.days * (1 - per_ft / 100.0) ** cond.freeze_thaw_cycles


def _uloq(method: Method) -> dict[str, float]:
    return {a.name: max(lv.get(a.name, 0.0) for lv in method.calibrators.values()) for a in method.analytes}


def _lloq(method: Method) -> dict[str, float]:
    return {a.name: min(lv[a.name] for lv in method.calibrators.values() if a.name in lv) for a in method.analytes}


def qc_levels(method: Method) -> list[str]:
    """The method's QC levels from low to high."""
    return sorted(method.qcs, key=lambda lv: min(method.qcs[lv].values()))


def plan_package(method: Method, design: Design, failures: frozenset[str], seed: int) -> list[PlannedRun]:
    """Every run of the package with its planned injections, in injection order."""
    rng = np.random.default_rng([seed, 0xD])
    names = [a.name for a in method.analytes]
    first = names[0]
    lcms = method.technique == "lcmsms"
    uloq, lloq = _uloq(method), _lloq(method)
    levels = qc_levels(method)
    low, mid, high = _low_mid_high(levels)
    pooled = design.pooled_matrix_factor if lcms else 1.0
    pool_mf = {a: pooled for a in names}

    def pip(values: Mapping[str, float]) -> dict[str, float]:
        return {a: v * (1 + rng.normal(0, design.pipetting_cv)) for a, v in values.items()}

    def key_of(vial: Mapping[str, float]) -> float:
        return max((vial.get(a, 0.0) / uloq[a] for a in names), default=0.0)

    def item(sid: str, stype: str, conc: Mapping[str, float], experiment: str = "", *, level: str = "",
             rbc: float = math.nan, dilution: float = 1.0, info: Mapping[str, Any] | None = None,
             mf: Mapping[str, float] | None = None, mf_is: Mapping[str, float] | None = None,
             nominal: Mapping[str, float] | None = None, planned_vial: Mapping[str, float] | None = None) -> Planned:
        vial = {a: v / dilution for a, v in conc.items()}
        inf = {"sample_id": sid, "experiment": experiment, "level": level, **(info or {})}
        if nominal is not None:
            inf["nominal"] = dict(nominal)
        if dilution != 1.0:
            inf["dilution"] = dilution
        return Planned(SampleSpec(sid, stype, level if stype in ("qc", "calibrator") else "", vial, {}, rbc, dilution),
                       experiment, inf, dict(mf if mf is not None else pool_mf),
                       dict(mf_is if mf_is is not None else (mf if mf is not None else pool_mf)),
                       key_of(planned_vial if planned_vial is not None else vial), dict(conc))

    runs: dict[str, list[Planned]] = {r: [] for r, _ in design.runs}
    run_ids = [r for r, _ in design.runs]
    r_first, r_second, r_last = run_ids[0], run_ids[min(1, len(run_ids) - 1)], run_ids[-1]

    # Calibration block of every run (blank, zero, calibrators low -> high, carry-over blank).
    head: dict[str, list[Planned]] = {}
    cal_levels = sorted(method.calibrators, key=lambda lv: min(method.calibrators[lv].values()))
    for r in run_ids:
        blk = [item("BLANK-1", "blank", {}, "calibration"), item("ZERO-1", "zero", {}, "calibration")]
        for lv in cal_levels:
            blk.append(item(lv, "calibrator", pip(method.calibrators[lv]), "calibration", level=lv))
        blk.append(item("BLANK-CO", "blank", {}, "carryover", info={"role": "after_uloq"}))
        head[r] = blk

    # System suitability: replicate injections of one vial of a mid-level neat standard.
    sst = []
    for i in range(1, design.sst_injections + 1):
        conc = dict(method.qcs[mid])
        sst.append(item(f"SST-{i}", "unknown", conc, "system_suitability", rbc=design.rbc_count,
                        info={"replicate": i, "qc_level": mid}, nominal=method.qcs[mid], mf={a: 1.0 for a in names}))

    # Accuracy and precision.
    for r in run_ids:
        for lv in levels:
            for rep in range(1, design.ap_replicates + 1):
                nominal = method.qcs[lv]
                conc = pip(nominal)
                planned = dict(conc)
                if "accuracy" in failures and lv == low:
                    conc = {a: v * 1.25 for a, v in conc.items()}
                if "precision" in failures and lv == mid:
                    f = 1.0 if (rep == design.ap_replicates and rep % 2 == 1 and rep > 1) else (1.2 if rep % 2 else 0.8)
                    conc = {a: v * f for a, v in conc.items()}
                runs[r].append(item(f"AP-{lv}-{rep}", "qc", conc, "accuracy_precision", level=lv,
                                    info={"replicate": rep}, nominal=nominal, planned_vial=planned))

    # Selectivity: double blanks from individual sources.
    bad_source = min(3, design.selectivity_sources)
    for k in range(1, design.selectivity_sources + 1):
        conc = {}
        if "selectivity" in failures and k == bad_source:
            conc = {first: 0.5 * lloq[first]}
        runs[r_first].append(item(f"SEL-S{k}", "blank", conc, "selectivity", info={"source": f"S{k}"},
                                  planned_vial={}))

    # Matrix effect: low and high QCs in individual lots; neat solutions for the matrix factor.
    bad_lot = min(4, design.matrix_lots)
    lot_mf: dict[int, tuple[dict[str, float], dict[str, float]]] = {}
    for k in range(1, design.matrix_lots + 1):
        if lcms:
            mf = {a: pooled * float(np.exp(rng.normal(0, design.lot_mf_sd))) for a in names}
            mfi = {a: mf[a] * float(np.exp(rng.normal(0, design.is_tracking_sd))) for a in names}
        else:
            mf = {a: float(np.exp(rng.normal(0, design.uv_lot_sd))) for a in names}
            mfi = dict(mf)
        if "matrix" in failures and k == bad_lot:
            mf = {**mf, first: mf[first] * 0.6}
        lot_mf[k] = (mf, mfi)
    for lv in (low, high):
        for k in range(1, design.matrix_lots + 1):
            mf, mfi = lot_mf[k]
            for rep in range(1, design.matrix_replicates + 1):
                runs[r_first].append(item(f"ME-L{k}-{lv}-{rep}", "unknown", pip(method.qcs[lv]), "matrix_effect",
                                          rbc=design.rbc_count, mf=mf, mf_is=mfi, nominal=method.qcs[lv],
                                          info={"lot": f"L{k}", "qc_level": lv, "replicate": rep, "role": "matrix"}))
        for rep in range(1, design.neat_replicates + 1):
            runs[r_first].append(item(f"ME-NEAT-{lv}-{rep}", "unknown", pip(method.qcs[lv]), "matrix_effect",
                                      rbc=design.rbc_count, mf={a: 1.0 for a in names}, nominal=method.qcs[lv],
                                      info={"lot": "neat", "qc_level": lv, "replicate": rep, "role": "neat"}))

    # Dilution integrity: above-ULOQ samples diluted into the range.
    for rep in range(1, design.dilution_replicates + 1):
        nominal = {a: design.dilution_x_uloq * uloq[a] for a in names}
        conc = pip(nominal)
        planned = {a: v / design.dilution_factor for a, v in conc.items()}
        if "dilution" in failures:
            conc = {a: v * 1.25 for a, v in conc.items()}
        runs[r_second].append(item(f"DIL-{rep}", "unknown", conc, "dilution_integrity", rbc=design.rbc_count,
                                   dilution=design.dilution_factor, nominal=nominal, planned_vial=planned,
                                   info={"replicate": rep, "dilution_factor": design.dilution_factor}))

    # Stability: low and high QCs stored under each condition, against nominal.
    for cond in design.stability:
        use = cond
        if "stability" in failures and cond.name == "bench_top":
            use = replace(cond, days=7.0, label=f"{cond.label} (stored 7 days)")
        for lv in (low, high):
            for rep in range(1, design.stability_replicates + 1):
                conc = pip(method.qcs[lv])
                planned = dict(conc)
                conc = {a: v * remaining_fraction(design, a, use) for a, v in conc.items()}
                runs[r_last].append(item(
                    f"STAB-{cond.name}-{lv}-{rep}", "unknown", conc, "stability", rbc=design.rbc_count,
                    nominal=method.qcs[lv], planned_vial=planned,
                    info={"condition": cond.name, "condition_label": use.label, "temperature": use.temperature,
                          "storage_days": use.days, "freeze_thaw_cycles": use.freeze_thaw_cycles,
                          "qc_level": lv, "replicate": rep}))

    # Incurred samples: patient vials within the range, analysed in one run and reanalysed in another.
    for k in range(1, design.isr_samples + 1):
        vial = {a: float(np.exp(rng.uniform(np.log(3 * lloq[a]), np.log(0.7 * uloq[a])))) for a in names}
        rbc = round(float(rng.uniform(3.5, 5.5)), 2)
        rep_f = 1.0
        if "isr" in failures and k % 2 == 1:
            rep_f = 1.4 if (k // 2) % 2 == 0 else 0.65
        pair = f"ISR-{k:02d}"
        runs[r_second].append(item(f"{pair}-O", "unknown", vial, "isr", rbc=rbc,
                                   info={"pair": pair, "role": "original"}))
        runs[r_last].append(item(f"{pair}-R", "unknown", {a: v * rep_f for a, v in vial.items()}, "isr", rbc=rbc,
                                 info={"pair": pair, "role": "repeat"}, planned_vial=vial))

    out = []
    for r, day in design.runs:
        body = sorted(enumerate(runs[r]), key=lambda iv: (iv[1].key, iv[0]))
        first_block = sst if r == r_first else []
        out.append(PlannedRun(r, day, tuple(first_block + head[r] + [p for _, p in body])))
    return out


def _low_mid_high(levels: list[str]) -> tuple[str, str, str]:
    """The low, mid and high QC levels (QCL, QCM, QCH when they exist)."""
    if {"QCL", "QCM", "QCH"} <= set(levels):
        return "QCL", "QCM", "QCH"
    if len(levels) < 3:
        raise InputError("the method needs at least 3 QC levels for a validation package")
    return levels[-3], levels[-2], levels[-1]
