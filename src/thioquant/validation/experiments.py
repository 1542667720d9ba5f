"""The computation and judgement of each validation experiment.

Every experiment is a pure function ``(Data, Criteria) -> Experiment``: it reads the per-injection
observations collected from the quantified runs and returns its tables (lists of row dicts) and
its :class:`Check` records (one judged criterion each, with value, limit and verdict).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from thioquant.assay.method import Method

# UNMEASURED: an injection x analyte that was not measured never counts as a clean blank (area 0)
# or as a missing replicate's zero
from thioquant.flags import UNMEASURED
from thioquant.validation.criteria import Criteria
from thioquant.validation.package import Injection, Package

NAN = math.nan


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One judged criterion.

    ``criterion`` is a stable name (``intra_run_cv``, ``lot_accuracy``...), ``item`` what it was
    judged on (an analyte and level, a run, a lot), ``value`` the observed number, ``limit`` the
    rule in words.
    """

    experiment: str
    criterion: str
    analyte: str
    item: str
    value: float
    limit: str
    passed: bool
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "criterion": self.criterion, "analyte": self.analyte,
                "item": self.item, "value": _r(self.value), "limit": self.limit,
                "result": "pass" if self.passed else "FAIL", "detail": self.detail}


@dataclass(frozen=True)
class Experiment:
    """An experiment's tables and judged criteria. ``performed`` is False when the package has none."""

    key: str
    title: str
    reference: str
    tables: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    notes: tuple[str, ...] = ()
    performed: bool = True

    @property
    def passed(self) -> bool:
        return self.performed and all(c.passed for c in self.checks)

    @property
    def failed_criteria(self) -> list[str]:
        return sorted({c.criterion for c in self.checks if not c.passed})


@dataclass(frozen=True)
class Obs:
    """One injection x analyte, with everything the experiments need."""

    run: str
    day: int
    injection: int
    sample_id: str
    sample_type: str
    level: str
    analyte: str
    conc: float
    area: float
    is_area: float
    response: float
    sn: float
    flags: tuple[str, ...]
    peak: Any = None
    is_peak: Any = None
    role: Injection | None = None
    file: str = ""
    #: why the injection (or this analyte's or its IS's channel) was not measured; "" when it was
    unmeasured: str = ""

    def peak_is_area(self) -> float:
        """IS peak area (also for blanks, where the pipeline reports no IS area); 0 without a peak."""
        if self.is_peak is not None:
            return float(self.is_peak.area)
        return self.is_area if math.isfinite(self.is_area) else 0.0


@dataclass
class Data:
    """Observations of a whole package, indexed for the experiments.

    ``obs`` holds the measured observations, the only ones an experiment computes with;
    ``excluded`` those whose file or channel could not be read or measured (``Obs.unmeasured``).
    An experiment takes its design (levels, runs, conditions) from both, so that a group whose
    injections were all excluded shows up without data and fails instead of vanishing.
    """

    package: Package
    method: Method
    obs: list[Obs]
    batches: Mapping[str, Any]
    excluded: list[Obs] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.analytes = [a.name for a in self.method.analytes]
        self._by_exp: dict[str, list[Obs]] = {}
        self._planned: dict[str, list[Obs]] = {}
        for o in self.obs:
            if o.role is not None:
                self._by_exp.setdefault(o.role.experiment, []).append(o)
        run_order = {r.run_id: i for i, r in enumerate(self.package.runs)}
        for o in sorted(self.obs + self.excluded, key=lambda o: (run_order.get(o.run, 0), o.injection)):
            if o.role is not None:
                self._planned.setdefault(o.role.experiment, []).append(o)
        self._by_run: dict[str, list[Obs]] = {}
        self._all_by_run: dict[str, list[Obs]] = {}
        for o in self.obs:
            self._by_run.setdefault(o.run, []).append(o)
        for o in self.obs + self.excluded:
            self._all_by_run.setdefault(o.run, []).append(o)

    def of(self, experiment: str, analyte: str | None = None) -> list[Obs]:
        """Measured observations of one experiment."""
        out = self._by_exp.get(experiment, [])
        return [o for o in out if analyte is None or o.analyte == analyte]

    def planned(self, experiment: str, analyte: str | None = None) -> list[Obs]:
        """Observations of one experiment, measured or not (its design)."""
        out = self._planned.get(experiment, [])
        return [o for o in out if analyte is None or o.analyte == analyte]

    def not_measured(self, experiment: str, analyte: str | None = None) -> list[Obs]:
        return [o for o in self.planned(experiment, analyte) if o.unmeasured]

    def in_run(self, run: str, analyte: str) -> list[Obs]:
        return [o for o in self._by_run.get(run, []) if o.analyte == analyte]

    def lloq_calibrator(self, run: str, analyte: str) -> Obs | None:
        """The run's lowest calibrator, None when it was not measured (the next level up is no LLOQ)."""
        cals = [o for o in self._all_by_run.get(run, []) if o.analyte == analyte and o.sample_type == "calibrator"]
        nominal = {o.level: self.method.nominal("calibrator", o.level, analyte) for o in cals}
        cals = [o for o in cals if math.isfinite(nominal[o.level])]
        low = min(cals, key=lambda o: nominal[o.level]) if cals else None
        return None if low is None or low.unmeasured else low

    def is_name(self, analyte: str) -> str | None:
        return self.method.compound(analyte).internal_standard


# --- small statistics ------------------------------------------------------------------------


def _r(v: Any, digits: int = 4) -> Any:
    if isinstance(v, float | np.floating):
        v = float(v)
        if not math.isfinite(v):
            return None
        return float(f"{v:.{digits}g}") if abs(v) < 1e6 else round(v, 1)
    return v


def _finite(values: Iterable[float]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def mean(values: Iterable[float]) -> float:
    v = _finite(values)
    return statistics.fmean(v) if v else NAN


def cv_pct(values: Iterable[float]) -> float:
    v = _finite(values)
    if len(v) < 2:
        return NAN
    m = statistics.fmean(v)
    return 100.0 * statistics.stdev(v) / abs(m) if m else NAN


def bias_pct(measured_mean: float, nominal: float) -> float:
    return 100.0 * (measured_mean / nominal - 1.0) if nominal and math.isfinite(nominal) else NAN


def _le(value: float, limit: float) -> bool:
    return math.isfinite(value) and value <= limit + 1e-9


def _lt(value: float, limit: float) -> bool:
    """Strictly below ``limit`` (a value at the limit, to rounding, is not below it)."""
    return math.isfinite(value) and value < limit - 1e-9


def _within(value: float, limit: float) -> bool:
    return math.isfinite(value) and abs(value) <= limit + 1e-9


def anova_cv(groups: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Within-run and between-run CV (%) from one-way ANOVA of replicate groups (runs)."""
    gs = [_finite(g) for g in groups]
    gs = [g for g in gs if g]
    if len(gs) < 2 or any(len(g) < 2 for g in gs):
        return NAN, NAN
    grand = statistics.fmean([x for g in gs for x in g])
    k = len(gs)
    n = sum(len(g) for g in gs)
    n0 = (n - sum(len(g) ** 2 for g in gs) / n) / (k - 1)
    ms_within = sum(sum((x - statistics.fmean(g)) ** 2 for x in g) for g in gs) / (n - k)
    ms_between = sum(len(g) * (statistics.fmean(g) - grand) ** 2 for g in gs) / (k - 1)
    var_between = max(0.0, (ms_between - ms_within) / n0)
    return 100.0 * math.sqrt(ms_within) / grand, 100.0 * math.sqrt(var_between) / grand


# --- experiments ---------------------------------------------------------------------------------


#: the QC roles ICH M10 asks of accuracy and precision, with their names in checks
AP_ROLES: tuple[tuple[str, str], ...] = (("lloq", "LLOQ"), ("low", "low"), ("mid", "mid"), ("high", "high"))


def qc_roles(method: Method, level: str, analyte: str) -> set[str]:
    """ICH M10 roles (``lloq``, ``low``, ``mid``, ``high``) a QC level fills for one analyte.

    Classified by the level's nominal against the analyte's calibrated range, never by its name,
    with the same bands as the method's QC placement notes (:func:`thioquant.assay.method.qc_roles_at`).
    """
    return roles_of_nominal(method, analyte, method.nominal("qc", level, analyte))


def roles_of_nominal(method: Method, analyte: str, x: float) -> set[str]:
    """ICH M10 QC roles of a nominal concentration ``x`` of one analyte (see :func:`qc_roles`)."""
    from thioquant.assay.method import qc_roles_at

    cal = [lv[analyte] for lv in method.calibrators.values() if lv.get(analyte, 0.0) > 0]
    if len(cal) < 2 or not math.isfinite(x):
        return set()
    lloq, uloq = min(cal), max(cal)
    if x > uloq * (1 + 1e-9):
        return set()  # above the range: extrapolated, no role (as the placement notes say)
    return qc_roles_at(x, lloq, uloq)


def accuracy_precision(d: Data, c: Criteria) -> Experiment:
    """Intra- and inter-run accuracy (bias) and precision (CV) per QC level (ICH M10, accuracy and precision)."""
    key = "accuracy_precision"
    obs = d.of(key)
    if not obs:
        return _nothing_measured(d, key, "Accuracy and precision", "ICH M10 (accuracy and precision)")
    checks: list[Check] = []
    intra, inter = [], []
    plan = d.planned(key)  # a run or level whose files were all unreadable shows as n = 0, not as nothing
    runs = sorted({(o.run, o.day) for o in plan}, key=lambda rd: [r.run_id for r in d.package.runs].index(rd[0]))
    levels = sorted({o.level for o in plan}, key=lambda lv: min(d.method.qcs[lv].values()))
    days = {day for _, day in runs}
    checks.append(Check(key, "design", "", "runs", float(len(runs)), f">= {c.ap_min_runs} runs",
                        len(runs) >= c.ap_min_runs))
    checks.append(Check(key, "design", "", "days", float(len(days)), f">= {c.ap_min_days} days",
                        len(days) >= c.ap_min_days))
    for a in d.analytes:
        roles = {lv: qc_roles(d.method, lv, a) for lv in levels}
        covered = set().union(*roles.values()) if roles else set()
        missing = [name for role, name in AP_ROLES if role not in covered]
        checks.append(Check(key, "qc_levels", a, "LLOQ, low, mid, high QC", float(len(AP_ROLES) - len(missing)),
                            "a QC at the LLOQ, low (<= 3 x LLOQ), mid (30-50 % of the range) and high "
                            "(>= 75 % of the ULOQ)", not missing,
                            f"missing: {', '.join(missing)} QC" if missing else
                            "; ".join(f"{lv}: {'/'.join(sorted(r)) or 'none'}" for lv, r in roles.items())))
        for lv in levels:
            nominal = d.method.nominal("qc", lv, a)
            # the wider limits belong to a QC at the LLOQ, not to the lowest QC or to a name
            at_lloq = "lloq" in roles[lv]
            b_lim = c.ap_bias_lloq_pct if at_lloq else c.ap_bias_pct
            cv_lim = c.ap_cv_lloq_pct if at_lloq else c.ap_cv_pct
            groups = []
            for run, day in runs:
                vals = [o.conc for o in obs if o.analyte == a and o.level == lv and o.run == run]
                n_ex = sum(o.analyte == a and o.level == lv and o.run == run for o in d.not_measured(key))
                fin = _finite(vals)
                groups.append(fin)
                m, cv = mean(fin), cv_pct(fin)
                b = bias_pct(m, nominal)
                row = {"analyte": a, "level": lv, "role": "/".join(sorted(roles[lv])), "run": run, "day": day,
                       "nominal": nominal,
                       "n": len(fin), "mean": _r(m), "bias_pct": _r(b), "cv_pct": _r(cv),
                       "bias_limit_pct": b_lim, "cv_limit_pct": cv_lim,
                       "values": ", ".join(f"{v:.4g}" for v in fin)}
                if n_ex:
                    row["not_measured"] = n_ex
                intra.append(row)
                item = f"{lv} {run}"
                checks.append(Check(key, "design", a, item, float(len(fin)), f">= {c.ap_min_replicates} replicates",
                                    len(fin) >= c.ap_min_replicates and len(fin) == len(vals),
                                    f"{n_ex} not measured" if n_ex else ""))
                checks.append(Check(key, "intra_run_bias", a, item, b, f"|bias| <= {b_lim:g} %", _within(b, b_lim)))
                checks.append(Check(key, "intra_run_cv", a, item, cv, f"CV <= {cv_lim:g} %", _le(cv, cv_lim)))
            allv = [x for g in groups for x in g]
            m, cv = mean(allv), cv_pct(allv)
            b = bias_pct(m, nominal)
            w_cv, b_cv = anova_cv(groups)
            inter.append({"analyte": a, "level": lv, "role": "/".join(sorted(roles[lv])), "nominal": nominal, "n": len(allv), "runs": len(groups),
                          "mean": _r(m), "bias_pct": _r(b), "cv_pct": _r(cv), "within_run_cv_pct": _r(w_cv),
                          "between_run_cv_pct": _r(b_cv), "bias_limit_pct": b_lim, "cv_limit_pct": cv_lim})
            checks.append(Check(key, "inter_run_bias", a, lv, b, f"|bias| <= {b_lim:g} %", _within(b, b_lim)))
            checks.append(Check(key, "inter_run_cv", a, lv, cv, f"CV <= {cv_lim:g} %", _le(cv, cv_lim)))
    return Experiment(key, "Accuracy and precision", "ICH M10 (accuracy and precision)",
                      {"intra_run": intra, "inter_run": inter}, tuple(checks),
                      ("bias = mean / nominal - 1; inter-run CV is the CV of all replicates of all runs; "
                       "within- and between-run CV are one-way ANOVA components. A level's role is set by its "
                       "nominal against the calibrated range; only a QC at the LLOQ has the wider limits.",))


def calibration(d: Data, c: Criteria) -> Experiment:
    """Calibration curve of every run and back-calculated calibrators across runs (ICH M10, calibration curve)."""
    key = "calibration"
    runs_tab, levels_tab = [], []
    checks: list[Check] = []
    run_ids = [r.run_id for r in d.package.runs]
    for a in d.analytes:
        n_pass = 0
        per_level: dict[str, dict[str, float]] = {}
        cal_x = [lv[a] for lv in d.method.calibrators.values() if lv.get(a, 0.0) > 0]
        lloq, uloq = (min(cal_x), max(cal_x)) if cal_x else (NAN, NAN)
        narrowed: list[str] = []
        for r in run_ids:
            batch = d.batches.get(r)
            out = None if batch is None else batch.calibrations.get(a)
            if out is None:
                runs_tab.append({"analyte": a, "run": r, "model": "", "passed": False, "reasons": "no calibration"})
                continue
            cal = out.calibration
            # a validation run's curve must span the method's range: the routine pipeline may drop a
            # failing LLOQ or ULOQ calibrator and narrow the range, but then this run does not show
            # the range can be calibrated (conservative reading of ICH M10, calibration curve)
            full = math.isclose(out.lloq, lloq, rel_tol=1e-9) and math.isclose(out.uloq, uloq, rel_tol=1e-9)
            ok = bool(out.passed) and full
            if out.passed and not full:
                narrowed.append(f"{r} ({_r(out.lloq)}-{_r(out.uloq)} instead of {_r(lloq)}-{_r(uloq)})")
            n_pass += ok
            runs_tab.append({
                "analyte": a, "run": r, "model": cal.model, "weighting": cal.weighting,
                "intercept": _r(cal.coefficients[0], 6), "slope": _r(cal.coefficients[1], 6),
                "r2": _r(cal.r2, 6), "levels": len(out.points), "included": sum(p.included for p in out.points),
                "lloq": _r(out.lloq), "uloq": _r(out.uloq), "passed": ok,
                "reasons": "; ".join([*out.reasons] + ([] if full or not out.passed else [
                    f"range narrowed from {_r(lloq)}-{_r(uloq)}: a validation curve must include its LLOQ and "
                    "ULOQ calibrators"])),
            })
            if math.isfinite(c.calibration_r2_min):
                checks.append(Check(key, "r2", a, r, float(cal.r2), f"r2 >= {c.calibration_r2_min:g}",
                                    float(cal.r2) >= c.calibration_r2_min))
            for p in out.points:
                per_level.setdefault(p.level, {"nominal": p.x})[r] = p.accuracy_pct
        frac = n_pass / len(run_ids) if run_ids else NAN
        checks.append(Check(key, "curve_accepted", a, "all runs", frac,
                            f">= {100 * c.calibration_min_runs_passing:.0f} % of runs meet ICH M10 (calibration curve)",
                            math.isfinite(frac) and frac + 1e-12 >= c.calibration_min_runs_passing,
                            f"{n_pass}/{len(run_ids)} runs" + (f"; LLOQ or ULOQ calibrator excluded in "
                                                              f"{', '.join(narrowed)}" if narrowed else "")))
        for lv, vals in sorted(per_level.items(), key=lambda kv: kv[1]["nominal"]):
            accs = [vals[r] for r in run_ids if r in vals]
            row = {"analyte": a, "level": lv, "nominal": vals["nominal"]}
            row.update({f"accuracy_pct_{r}": _r(vals.get(r, NAN)) for r in run_ids})
            row.update(mean_accuracy_pct=_r(mean(accs)), cv_pct=_r(cv_pct(accs)))
            levels_tab.append(row)
    return Experiment(key, "Calibration curve (linearity)", "ICH M10 (calibration curve)",
                      {"runs": runs_tab, "back_calculated": levels_tab}, tuple(checks),
                      ("each run's curve is judged by the method's rule: back-calculated calibrators within "
                       "+/-15 % (20 % at the LLOQ), >= 75 % and >= 6 levels passing; in a validation run the "
                       "LLOQ and ULOQ calibrators must also be among them (a narrowed range fails the run).",))


def selectivity(d: Data, c: Criteria) -> Experiment:
    """Blank samples from individual sources against the LLOQ response (ICH M10, selectivity)."""
    key = "selectivity"
    if not d.of(key):
        return _nothing_measured(d, key, "Selectivity", "ICH M10 (selectivity)")
    rows, checks = [], []
    for a in d.analytes:
        obs = d.of(key, a)
        sources = sorted({str(o.role.get("source", o.sample_id)) for o in obs if o.role})
        n_ok = 0
        for o in d.planned(key, a):
            if o.unmeasured:  # not a clean source: not a source at all
                rows.append({"analyte": a, "source": o.role.get("source", "") if o.role else "", "run": o.run,
                             "sample_id": o.sample_id, "blank_area": None, "lloq_area": None, "pct_of_lloq": None,
                             "is_pct": None, "passed": None, "not_measured": o.unmeasured})
                continue
            ref = d.lloq_calibrator(o.run, a)
            lloq_area = ref.area if ref else NAN
            pct = 100.0 * _zero(o.area) / lloq_area if lloq_area and math.isfinite(lloq_area) else NAN
            is_pct = NAN
            if d.is_name(a):
                is_pct = 100.0 * _zero(o.peak_is_area()) / ref.is_area if ref and ref.is_area else NAN
            # ICH M10 (selectivity): "less than" 20 % / 5 %, so a blank at the limit is an interference
            ok = _lt(pct, c.selectivity_pct) and (not d.is_name(a) or _lt(is_pct, c.selectivity_is_pct))
            n_ok += ok
            rows.append({"analyte": a, "source": o.role.get("source", "") if o.role else "", "run": o.run,
                         "sample_id": o.sample_id, "blank_area": _r(_zero(o.area)), "lloq_area": _r(lloq_area),
                         "pct_of_lloq": _r(pct), "is_pct": _r(is_pct), "passed": ok})
        frac = n_ok / len(obs) if obs else NAN
        gone = [o.sample_id for o in d.not_measured(key, a)]
        checks.append(Check(key, "sources", a, "blank sources", float(len(sources)),
                            f">= {c.selectivity_min_sources} sources", len(sources) >= c.selectivity_min_sources,
                            f"not measured: {', '.join(gone)}" if gone else ""))
        checks.append(Check(key, "interference", a, "blank sources", frac,
                            f">= {100 * c.selectivity_min_fraction:.0f} % of sources with analyte < "
                            f"{c.selectivity_pct:g} % of LLOQ" + (f" and IS < {c.selectivity_is_pct:g} %"
                                                                   if d.is_name(a) else ""),
                            math.isfinite(frac) and frac + 1e-12 >= c.selectivity_min_fraction,
                            f"{n_ok}/{len(obs)} sources clean"))
    return Experiment(key, "Selectivity", "ICH M10 (selectivity)", {"blanks": rows}, tuple(checks),
                      ("response of each double blank (no analyte, no IS) at the analyte and IS retention "
                       "times, against the LLOQ calibrator of the same run; no peak counts as 0.",))


def _zero(v: float) -> float:
    return float(v) if v is not None and math.isfinite(v) else 0.0


def _low_high_check(d: Data, key: str, a: str, item: str, nominals: Mapping[str, float]) -> Check:
    """Whether a group of QC levels (name -> nominal) holds a low and a high QC (ICH M10)."""
    roles = {lv: roles_of_nominal(d.method, a, x) for lv, x in nominals.items()}
    covered = set().union(*roles.values()) if roles else set()
    missing = [r for r in ("low", "high") if r not in covered]
    return Check(key, "qc_levels", a, item, float(2 - len(missing)), "a low and a high QC", not missing,
                 f"missing: {' and '.join(missing)} QC" if missing else "")


def _replicates_check(key: str, a: str, item: str, sel: Sequence[Obs], planned: Sequence[Obs],
                      minimum: int, what: str = "replicates") -> Check:
    """At least ``minimum`` measured injections in a group; the count and what was lost in the detail."""
    lost = [o.sample_id for o in planned if o.unmeasured]
    return Check(key, "replicates", a, item, float(len(sel)), f">= {minimum} {what}", len(sel) >= minimum,
                 f"{len(sel)} measured" + (f"; not measured: {', '.join(lost)}" if lost else ""))


def _injection_nominal(d: Data, o: Obs) -> float:
    """The injection's ``nominal`` from ``package.toml`` when given, else its QC level's in the method."""
    given = o.role.nominal.get(o.analyte) if o.role is not None else None
    if given is not None:
        return float(given)
    return d.method.nominal("qc", str(o.role.get("qc_level")) if o.role is not None else o.level, o.analyte)


def _group_accuracy(d: Data, planned: Sequence[Obs], measured: Sequence[Obs]) -> tuple[float, float, float]:
    """Nominal, mean and bias (%) of a group of QCs against each injection's own nominal.

    The nominal is taken from the design (planned injections), so that a group with nothing
    measured still shows it. When the group's nominals differ, the bias is the mean recovery
    (conc / own nominal) - 1 and the nominal shown is their mean.
    """
    noms = [_injection_nominal(d, o) for o in planned]
    m = mean(o.conc for o in measured)
    if len(set(noms)) <= 1:
        nominal = noms[0] if noms else NAN
        return nominal, m, bias_pct(m, nominal)
    rec = mean(o.conc / _injection_nominal(d, o) for o in measured)
    return mean(noms), m, 100.0 * (rec - 1.0)


def carryover(d: Data, c: Criteria) -> Experiment:
    """Blank injected after the highest calibrator, in every run (ICH M10, carry-over)."""
    key = "carryover"
    if not d.of(key):
        return _nothing_measured(d, key, "Carry-over", "ICH M10 (carry-over)")
    rows, checks = [], []
    for a in d.analytes:
        for o in d.planned(key, a):
            if o.unmeasured:
                rows.append({"analyte": a, "run": o.run, "sample_id": o.sample_id, "blank_area": None,
                             "lloq_area": None, "pct_of_lloq": None, "not_measured": o.unmeasured})
                checks.append(Check(key, "analyte_carryover", a, o.run, NAN,
                                    f"<= {c.carryover_pct:g} % of LLOQ response", False,
                                    f"{o.sample_id} not measured: {o.unmeasured}"))
                continue
            ref = d.lloq_calibrator(o.run, a)
            lloq_area = ref.area if ref else NAN
            pct = 100.0 * _zero(o.area) / lloq_area if lloq_area and math.isfinite(lloq_area) else NAN
            row = {"analyte": a, "run": o.run, "sample_id": o.sample_id, "blank_area": _r(_zero(o.area)),
                   "lloq_area": _r(lloq_area), "pct_of_lloq": _r(pct)}
            checks.append(Check(key, "analyte_carryover", a, o.run, pct, f"<= {c.carryover_pct:g} % of LLOQ response",
                                _le(pct, c.carryover_pct)))
            if d.is_name(a):
                is_ref = mean(x.is_area for x in d.in_run(o.run, a) if x.sample_type == "calibrator")
                is_pct = 100.0 * _zero(o.peak_is_area()) / is_ref if is_ref else NAN
                row.update(blank_is_area=_r(_zero(o.peak_is_area())), mean_is_area=_r(is_ref), is_pct=_r(is_pct))
                checks.append(Check(key, "is_carryover", a, o.run, is_pct,
                                    f"<= {c.carryover_is_pct:g} % of the mean IS response", _le(is_pct, c.carryover_is_pct)))
            rows.append(row)
    return Experiment(key, "Carry-over", "ICH M10 (carry-over)", {"blanks_after_uloq": rows}, tuple(checks))


def matrix_effect(d: Data, c: Criteria) -> Experiment:
    """Low and high QCs in individual matrix lots: accuracy, CV and matrix factors (ICH M10, matrix effect)."""
    key = "matrix_effect"
    if not d.of(key):
        return _nothing_measured(d, key, "Matrix effect", "ICH M10 (matrix effect)")
    lots_tab, mf_tab, checks = [], [], []
    for a in d.analytes:
        obs = d.of(key, a)
        has_is = bool(d.is_name(a))
        levels = sorted({o.role.get("qc_level") for o in d.planned(key, a)},
                        key=lambda lv: min(d.method.qcs[lv].values()))
        lots = sorted({o.role.get("lot") for o in obs if o.role.get("role") == "matrix"})
        checks.append(Check(key, "lots", a, "matrix lots", float(len(lots)), f">= {c.matrix_min_lots} lots",
                            len(lots) >= c.matrix_min_lots))
        checks.append(_low_high_check(d, key, a, "matrix lots", {lv: mean(
            _injection_nominal(d, o) for o in d.planned(key, a) if o.role.get("qc_level") == lv) for lv in levels}))
        for lv in levels:
            neat = [o for o in obs if o.role.get("qc_level") == lv and o.role.get("role") == "neat"]
            neat_area, neat_is = mean(o.area for o in neat), mean(o.is_area for o in neat)
            norm_mfs = []
            for lot in lots:
                sel = [o for o in obs if o.role.get("qc_level") == lv and o.role.get("lot") == lot]
                grp = [o for o in d.planned(key, a) if o.role.get("qc_level") == lv and o.role.get("lot") == lot]
                nominal, m, b = _group_accuracy(d, grp, sel)
                checks.append(_replicates_check(key, a, f"{lv} {lot}", sel, grp, c.matrix_min_replicates))
                cv = cv_pct(o.conc for o in sel)
                mf = mean(o.area for o in sel) / neat_area if neat_area else NAN
                mf_is = mean(o.is_area for o in sel) / neat_is if has_is and neat_is else NAN
                norm = mf / mf_is if has_is else mf
                norm_mfs.append(norm)
                lots_tab.append({"analyte": a, "level": lv, "lot": lot, "n": len(sel), "nominal": _r(nominal),
                                 "mean": _r(m), "bias_pct": _r(b), "cv_pct": _r(cv), "matrix_factor": _r(mf),
                                 "is_matrix_factor": _r(mf_is), "is_normalised_mf": _r(norm)})
                checks.append(Check(key, "lot_accuracy", a, f"{lv} {lot}", b, f"|bias| <= {c.matrix_bias_pct:g} %",
                                    _within(b, c.matrix_bias_pct), "" if sel else "no injection measured"))
                if len(sel) >= 2:
                    checks.append(Check(key, "lot_cv", a, f"{lv} {lot}", cv, f"CV <= {c.matrix_cv_pct:g} %",
                                        _le(cv, c.matrix_cv_pct)))
            mf_cv = cv_pct(norm_mfs)
            mf_tab.append({"analyte": a, "level": lv, "lots": len(lots), "neat_n": len(neat),
                           "mean_is_normalised_mf": _r(mean(norm_mfs)), "cv_pct": _r(mf_cv),
                           "limit_pct": c.matrix_is_mf_cv_pct})
            checks.append(Check(key, "is_normalised_mf_cv", a, lv, mf_cv, f"CV <= {c.matrix_is_mf_cv_pct:g} %",
                                _le(mf_cv, c.matrix_is_mf_cv_pct)))
    return Experiment(key, "Matrix effect", "ICH M10 (matrix effect); EMA 2011 (matrix effect)",
                      {"per_lot": lots_tab, "matrix_factor": mf_tab}, tuple(checks),
                      ("matrix factor = mean peak area in the lot / mean peak area of the neat solution; "
                       "IS-normalised MF = analyte MF / IS MF (without an IS it is the analyte MF).",))


def dilution_integrity(d: Data, c: Criteria) -> Experiment:
    """Samples above the ULOQ diluted into the range (ICH M10, dilution integrity)."""
    key = "dilution_integrity"
    if not d.of(key):
        return _nothing_measured(d, key, "Dilution integrity", "ICH M10 (dilution integrity)")
    rows, checks = [], []
    for a in d.analytes:
        obs = d.of(key, a)
        for df in sorted({float(o.role.get("dilution", 1.0)) for o in d.planned(key, a)}):
            sel = [o for o in obs if float(o.role.get("dilution", 1.0)) == df]
            nominal = mean(float(o.role.nominal.get(a, NAN)) for o in d.planned(key, a)
                           if float(o.role.get("dilution", 1.0)) == df)
            m, cv = mean(o.conc for o in sel), cv_pct(o.conc for o in sel)
            b = bias_pct(m, nominal)
            checks.append(_replicates_check(key, a, f"DF {df:g}", sel, [
                o for o in d.planned(key, a) if float(o.role.get("dilution", 1.0)) == df],
                c.dilution_min_replicates, "determinations"))
            rows.append({"analyte": a, "dilution_factor": df, "n": len(sel), "nominal": _r(nominal), "mean": _r(m),
                         "bias_pct": _r(b), "cv_pct": _r(cv),
                         "values": ", ".join(f"{o.conc:.5g}" for o in sel)})
            checks.append(Check(key, "accuracy", a, f"DF {df:g}", b, f"|bias| <= {c.dilution_bias_pct:g} %",
                                _within(b, c.dilution_bias_pct)))
            if len(sel) >= 2:
                checks.append(Check(key, "cv", a, f"DF {df:g}", cv, f"CV <= {c.dilution_cv_pct:g} %",
                                    _le(cv, c.dilution_cv_pct)))
    return Experiment(key, "Dilution integrity", "ICH M10 (dilution integrity)", {"diluted": rows}, tuple(checks))


def stability(d: Data, c: Criteria) -> Experiment:
    """Low and high QCs after each storage condition, against nominal (ICH M10, stability)."""
    key = "stability"
    if not d.of(key):
        return _nothing_measured(d, key, "Stability", "ICH M10 (stability)")
    rows, checks = [], []
    for a in d.analytes:
        obs, plan = d.of(key, a), d.planned(key, a)
        conds = list(dict.fromkeys(o.role.get("condition") for o in plan))
        for cond in conds:
            lvs = sorted({o.role.get("qc_level") for o in plan if o.role.get("condition") == cond},
                         key=lambda x: min(d.method.qcs[x].values()))
            groups = {lv: [o for o in plan if o.role.get("condition") == cond and o.role.get("qc_level") == lv]
                      for lv in lvs}
            checks.append(_low_high_check(d, key, a, str(cond), {
                lv: mean(_injection_nominal(d, o) for o in grp) for lv, grp in groups.items()}))
            for lv in lvs:
                sel = [o for o in obs if o.role.get("condition") == cond and o.role.get("qc_level") == lv]
                nominal, m, b = _group_accuracy(d, groups[lv], sel)
                checks.append(_replicates_check(key, a, f"{cond} {lv}", sel, groups[lv], c.stability_min_replicates))
                r0 = next(o.role for o in plan if o.role.get("condition") == cond and o.role.get("qc_level") == lv)
                rows.append({"analyte": a, "condition": cond, "description": r0.get("condition_label", ""),
                             "temperature": r0.get("temperature", ""), "storage_days": r0.get("storage_days", ""),
                             "freeze_thaw_cycles": r0.get("freeze_thaw_cycles", ""), "level": lv, "n": len(sel),
                             "nominal": _r(nominal), "mean": _r(m), "bias_pct": _r(b),
                             "cv_pct": _r(cv_pct(o.conc for o in sel))})
                checks.append(Check(key, "accuracy", a, f"{cond} {lv}", b, f"|bias| <= {c.stability_bias_pct:g} %",
                                    _within(b, c.stability_bias_pct)))
    return Experiment(key, "Stability", "ICH M10 (stability)", {"conditions": rows}, tuple(checks),
                      ("stored QCs are quantified against a fresh calibration curve and compared with nominal.",))


def isr(d: Data, c: Criteria) -> Experiment:
    """Incurred-sample reanalysis: original and repeat in different runs (ICH M10, incurred sample reanalysis).

    The fraction within the limit is taken over every planned pair: a pair that cannot be evaluated
    (a file not measured, a result missing, both outside the range) counts as not within, and a pair
    whose original is quantified while its repeat is below the LLOQ or above the ULOQ (or the reverse)
    is a disagreement. Dropping such pairs from the denominator would let deleted or out-of-range
    repeats raise the fraction.
    """
    key = "isr"
    if not d.of(key):
        return _nothing_measured(d, key, "Incurred-sample reanalysis", "ICH M10 (incurred sample reanalysis)")
    rows, summary, checks = [], [], []
    for a in d.analytes:
        pairs: dict[str, dict[str, Obs]] = {}
        for o in d.planned(key, a):
            pairs.setdefault(str(o.role.get("pair")), {})[str(o.role.get("role"))] = o
        n = n_ok = 0
        bad: list[str] = []  # pairs counted as not within, with the reason
        for pair, p in sorted(pairs.items()):
            org, rep = p.get("original"), p.get("repeat")
            state = {r: _isr_state(x) for r, x in (("original", org), ("repeat", rep))}
            diff = NAN
            within = False
            if all(s == "quantified" for s in state.values()):
                mu = (org.conc + rep.conc) / 2
                diff = 100.0 * (rep.conc - org.conc) / mu if mu else NAN
                n += 1
                within = _within(diff, c.isr_diff_pct)
                note = "" if within else f"outside +/-{c.isr_diff_pct:g} %"
            elif "quantified" in state.values() and set(state.values()) <= {
                    "quantified", "below the LLOQ", "above the ULOQ"}:
                # one quantified, the other outside the range: they disagree
                n += 1
                note = f"disagree: original {state['original']}, repeat {state['repeat']}"
            else:
                why = "; ".join(f"{r} {s}" for r, s in state.items() if s != "quantified")
                gone = "; ".join(f"{x.sample_id} in {x.run}: {x.unmeasured}" for x in (org, rep)
                                 if x is not None and x.unmeasured)
                note = f"not evaluable ({why})" + (f" [{gone}]" if gone else "")
            n_ok += within
            if not within:
                bad.append(f"{pair} ({note.split(' [')[0]})")
            rows.append({"analyte": a, "pair": pair, "original_run": org.run if org else "",
                         "original": _r(org.conc if org else NAN), "repeat_run": rep.run if rep else "",
                         "repeat": _r(rep.conc if rep else NAN), "diff_pct": _r(diff),
                         "within": within, "note": note})
        total = len(pairs)
        frac = n_ok / total if total else NAN
        summary.append({"analyte": a, "pairs": total, "evaluated": n, "within": n_ok, "fraction_pct": _r(
            100 * frac if total else NAN), "limit": f">= {100 * c.isr_min_fraction:.1f} % within +/-{c.isr_diff_pct:g} %"})
        detail = f"{n_ok}/{total} pairs" + (f"; not within: {', '.join(bad)}" if bad else "")
        checks.append(Check(key, "agreement", a, "incurred samples", frac,
                            f">= {100 * c.isr_min_fraction:.1f} % of pairs within +/-{c.isr_diff_pct:g} %",
                            math.isfinite(frac) and frac + 1e-12 >= c.isr_min_fraction, detail))
    return Experiment(key, "Incurred-sample reanalysis", "ICH M10 (incurred sample reanalysis)", {"pairs": rows, "summary": summary},
                      tuple(checks), ("difference = (repeat - original) / mean of the two; the fraction is over all "
                                      "planned pairs: a pair that cannot be evaluated counts as not within, and a "
                                      "result below the LLOQ or above the ULOQ against a quantified one is a "
                                      "disagreement.",))


def _isr_state(o: Obs | None) -> str:
    """How one result of an ISR pair stands: quantified, outside the range, or why it is unusable."""
    if o is None:
        return "missing from the package"
    if o.unmeasured:
        return "not measured"
    flags = {f.split(":")[0] for f in o.flags}
    if "CAL_FAIL" in flags:
        return "from a failed calibration"  # no result to compare, in range or not
    if flags & {"BELOW_LLOQ", "NOT_DETECTED", "BELOW_LOD", "NO_PEAK"}:
        return "below the LLOQ"
    if "ABOVE_ULOQ" in flags:
        return "above the ULOQ"
    return "quantified" if math.isfinite(o.conc) else "without a result"


def limits(d: Data, c: Criteria) -> Experiment:
    """LOD and LOQ by the ICH Q2(R2) approaches, and the S/N at the LLOQ."""
    from thioquant.calibration import (
        fit_calibration,
        limits_from_blanks,
        limits_from_residuals,
        limits_from_sn,
    )
    from thioquant.errors import ThioquantError

    key = "limits"
    rows, checks, sn_rows = [], [], []
    run_ids = [r.run_id for r in d.package.runs]
    for a in d.analytes:
        method_lloq = min(v[a] for v in d.method.calibrators.values() if a in v)
        found: dict[str, list[tuple[float, float]]] = {}
        for r in run_ids:
            batch = d.batches.get(r)
            out = None if batch is None else batch.calibrations.get(a)
            if out is None:
                continue
            x, y = np.asarray(out.calibration.x), np.asarray(out.calibration.y)
            low = (x <= 10 * method_lloq) & np.isfinite(y)
            attempts: list[tuple[str, Callable[[], Any]]] = []
            if int(np.unique(x[low]).size) >= 3:
                cal_low = fit_calibration(x[low], y[low], "linear", "none")
                attempts += [("residual SD (calibrators <= 10 x LLOQ)", lambda cl=cal_low: limits_from_residuals(cl)),
                             ("intercept SD (calibrators <= 10 x LLOQ)",
                              lambda cl=cal_low: limits_from_residuals(cl, sigma="intercept"))]
            blanks = [o for o in d.in_run(r, a) if o.sample_type == "blank" and o.role is not None
                      and o.role.experiment in ("selectivity", "calibration")]
            blank_resp = _blank_responses(d, r, a, blanks)
            if len(blank_resp) >= 2:
                slope = float(out.calibration.coefficients[1])
                attempts.append(("SD of blank responses", lambda br=blank_resp, s=slope: limits_from_blanks(br, s)))
            cal_obs = [o for o in d.in_run(r, a) if o.sample_type == "calibrator"]
            sx = [d.method.nominal("calibrator", o.level, a) for o in cal_obs]
            sn = [o.sn for o in cal_obs]
            attempts.append(("signal-to-noise 3 / 10", lambda sx=sx, sn=sn: limits_from_sn(sx, sn)))
            for label, fn in attempts:
                try:
                    lim = fn()
                except ThioquantError:
                    continue
                found.setdefault(label, []).append((lim.lod, lim.loq))
        for label, vals in found.items():
            lod, loq = mean(v[0] for v in vals), mean(v[1] for v in vals)
            rows.append({"analyte": a, "approach": label, "runs": len(vals), "lod": _r(lod), "loq": _r(loq),
                         "method_lloq": method_lloq, "loq_supports_lloq": bool(math.isfinite(loq) and loq <= method_lloq)})
        lloq_obs = [o for o in d.obs if o.analyte == a and (
            (o.sample_type == "calibrator" and d.method.nominal("calibrator", o.level, a) == method_lloq)
            or (o.sample_type == "qc" and "lloq" in qc_roles(d.method, o.level, a)))]
        sn_vals = _finite(o.sn for o in lloq_obs)
        med = statistics.median(sn_vals) if sn_vals else NAN
        sn_rows.append({"analyte": a, "lloq": method_lloq, "injections": len(lloq_obs), "median_sn": _r(med),
                        "min_sn": _r(min(sn_vals) if sn_vals else NAN), "limit": f">= {c.lloq_sn_min:g}"})
        checks.append(Check(key, "lloq_sn", a, "LLOQ injections", med, f"median S/N >= {c.lloq_sn_min:g}",
                            math.isfinite(med) and med >= c.lloq_sn_min))
    return Experiment(key, "Detection and quantification limits", "ICH Q2(R2) (detection and quantitation limits)",
                      {"estimates": rows, "lloq_sn": sn_rows}, tuple(checks),
                      ("DL = 3.3 sigma / S and QL = 10 sigma / S with sigma the residual SD or intercept SD of an "
                       "unweighted curve through the calibrators up to 10 x LLOQ, or the SD of blank responses "
                       "integrated over the LLOQ peak's window; or the concentrations at S/N 3 and 10. Estimates "
                       "are means over runs; only the S/N at the LLOQ is judged.",))


def _blank_responses(d: Data, run: str, analyte: str, blanks: Sequence[Obs]) -> list[float]:
    """Blank signal integrated over the LLOQ calibrator's peak window (response units of the run)."""
    from thioquant.errors import ThioquantError
    from thioquant.io import read_run
    from thioquant.peaks import integrate

    ref = d.lloq_calibrator(run, analyte)
    if ref is None or ref.peak is None:
        return []
    comp = d.method.compound(analyte)
    is_ref = mean(o.is_area for o in d.in_run(run, analyte) if o.sample_type == "calibrator") if comp.internal_standard else 1.0
    out = []
    folder = d.package.run(run).folder
    for b in blanks:
        try:
            rr = read_run(folder / b.file)
        except ThioquantError:
            continue
        ch = comp.channel
        tr = (rr.find_trace(wavelength_nm=ch.wavelength_nm) if ch.wavelength_nm is not None
              else rr.find_trace(precursor_mz=ch.precursor_mz, product_mz=ch.product_mz))
        if tr is None:
            continue
        pk = integrate(tr, ref.peak.start_min, ref.peak.end_min)
        out.append(pk.area / is_ref)
    return out


def system_suitability(d: Data, c: Criteria) -> Experiment:
    """USP <621>: plates, symmetry, resolution, S/N and %RSD of replicate injections."""
    key = "system_suitability"
    if not d.of(key):
        return _nothing_measured(d, key, "System suitability", "USP <621>")
    rows, summary, checks = [], [], []
    for a in d.analytes:
        obs = d.of(key, a)
        for o in obs:
            pk = o.peak
            rows.append({"analyte": a, "sample_id": o.sample_id, "rt_min": _r(pk.rt_min if pk else NAN),
                         "area": _r(o.area), "response": _r(o.response),
                         "plates": _r(pk.plates_usp if pk else NAN), "symmetry": _r(pk.symmetry_usp if pk else NAN),
                         "resolution": _r(pk.resolution_usp if pk else NAN), "sn": _r(o.sn)})
        pks = [o.peak for o in obs if o.peak is not None]
        plates = _finite(p.plates_usp for p in pks)
        sym = _finite(p.symmetry_usp for p in pks)
        res = _finite(p.resolution_usp for p in pks)
        sn = _finite(o.sn for o in obs)
        rsd = cv_pct(o.response for o in obs)
        rt_rsd = cv_pct(p.rt_min for p in pks)
        summary.append({"analyte": a, "injections": len(obs), "plates_min": _r(min(plates) if plates else NAN),
                        "plates_mean": _r(mean(plates)), "symmetry_min": _r(min(sym) if sym else NAN),
                        "symmetry_max": _r(max(sym) if sym else NAN), "resolution_min": _r(min(res) if res else NAN),
                        "sn_min": _r(min(sn) if sn else NAN), "response_rsd_pct": _r(rsd), "rt_rsd_pct": _r(rt_rsd)})
        checks.append(Check(key, "plates", a, "min", min(plates) if plates else NAN, f"N >= {c.sst_plates_min:g}",
                            bool(plates) and min(plates) >= c.sst_plates_min))
        checks.append(Check(key, "symmetry", a, "range", max(sym, key=lambda s: abs(s - 1.0)) if sym else NAN,
                            f"{c.sst_symmetry_min:g} <= As <= {c.sst_symmetry_max:g}",
                            bool(sym) and min(sym) >= c.sst_symmetry_min and max(sym) <= c.sst_symmetry_max))
        if res:
            checks.append(Check(key, "resolution", a, "min", min(res), f"Rs >= {c.sst_resolution_min:g}",
                                min(res) >= c.sst_resolution_min, "from the nearest preceding peak"))
        checks.append(Check(key, "sn", a, "min", min(sn) if sn else NAN, f"S/N >= {c.sst_sn_min:g}",
                            bool(sn) and min(sn) >= c.sst_sn_min))
        checks.append(Check(key, "rsd", a, "response", rsd, f"%RSD <= {c.sst_rsd_max_pct:g} %",
                            _le(rsd, c.sst_rsd_max_pct)))
    return Experiment(key, "System suitability", "USP <621> (harmonised 2022)",
                      {"injections": rows, "summary": summary}, tuple(checks),
                      ("N = 5.54 (tR / w_h)^2; As = W_0.05 / 2f; Rs = 1.18 (tR2 - tR1) / (w_h1 + w_h2) from the "
                       "nearest preceding peak (not judged when there is none); response = area ratio to the IS "
                       "(area without one).",))


def _nothing_measured(d: Data, key: str, title: str, ref: str) -> Experiment:
    """No measured injection of an experiment: "not performed" when the package has none, else a
    failed experiment (a planned experiment whose files could not be read must not pass unseen)."""
    missing = d.not_measured(key)
    if not missing:
        return _not_performed(key, title, ref)
    rows = [{"analyte": o.analyte, "run": o.run, "sample_id": o.sample_id, "file": o.file,
             "not_measured": o.unmeasured} for o in missing]
    checks = tuple(Check(key, "injections_measured", a, "all injections", 0.0, ">= 1 injection measured", False,
                         f"{sum(o.analyte == a for o in missing)} injections not measured")
                   for a in d.analytes if any(o.analyte == a for o in missing))
    return Experiment(key, title, ref, {"not_measured": rows}, checks,
                      ("not evaluated: no injection of this experiment could be read or measured",))


def _not_performed(key: str, title: str, ref: str) -> Experiment:
    return Experiment(key, title, ref, {}, (), ("not performed: no injection of this experiment in the package",),
                      performed=False)


ALL: tuple[Callable[[Data, Criteria], Experiment], ...] = (
    system_suitability, calibration, accuracy_precision, limits, selectivity, carryover, matrix_effect,
    dilution_integrity, stability, isr,
)


def collect(package: Package, method: Method, batches: Mapping[str, Any]) -> Data:
    """Per-injection observations of every quantified run, joined with the experiment map."""
    from thioquant.assay.worklist import UNUSABLE

    roles = {(i.run, i.sample_id): i for i in package.injections}
    day = {r.run_id: r.day for r in package.runs}
    obs: list[Obs] = []
    excluded: list[Obs] = []
    for run_id, batch in batches.items():
        if batch is None:
            continue
        meas = {e.sample_id: (e, m) for e, m in zip(batch.worklist.entries, batch.measurements, strict=True)}
        for res in batch.results:
            e, m = meas.get(res.sample_id, (None, None))
            comp = method.compound(res.analyte)
            peak = m.peaks.get(res.analyte) if m is not None else None
            is_peak = m.peaks.get(comp.internal_standard) if (m is not None and comp.internal_standard) else None
            why = _unmeasured(res.flags, e, m, comp.internal_standard, UNUSABLE)
            o = Obs(run_id, day.get(run_id, 1), res.injection, res.sample_id, res.sample_type, res.level,
                    res.analyte, res.conc, res.area, res.is_area, res.response, res.sn, tuple(res.flags),
                    peak, is_peak, roles.get((run_id, res.sample_id)), e.file if e else res.file, why)
            (excluded if why else obs).append(o)
    return Data(package, method, obs, batches, excluded)


def _unmeasured(flags: Iterable[str], entry: Any, meas: Any, internal_standard: str | None,
                unusable: frozenset[str]) -> str:
    """Why a result has no measurement ("" when it has one): flag codes, and the reader's reason."""
    codes = [f for f in flags if f.split(":")[0] in UNMEASURED or f.split(":")[0] in unusable]
    if internal_standard and meas is not None and not meas.error:
        # the analyte's result does not carry its IS channel's flag; a blank's IS area of 0 would pass
        code = meas.unmeasured.get(internal_standard)
        if code:
            codes.append(f"{code} ({internal_standard})")
    codes = list(dict.fromkeys(codes))
    if not codes:
        return ""
    detail = getattr(meas, "error", "") if meas is not None else ""
    return ", ".join(codes) + (f": {detail}" if detail else "")


__all__ = ["ALL", "Check", "Data", "Experiment", "Obs", "anova_cv", "collect", "cv_pct", "mean"]
