"""Assay method files: TOML, validated on load into frozen records.

A method names its analytes and internal standards with their channels and retention windows,
its calibrator and QC levels with nominal concentrations, the calibration model and weighting,
units and the erythrocyte normalisation. The schema is documented in ``docs/method_files.md``.
Every problem is reported as a :class:`~thioquant.errors.MethodError` naming the file and key;
QC levels placed outside the ICH M10 bands are recorded as :attr:`Method.warnings` instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from thioquant.assay import normalise
from thioquant.assay.worklist import DILUTION_RANGE
from thioquant.errors import InputError, MethodError
from thioquant.model import CALIBRATION_MODELS, WEIGHTINGS

TECHNIQUES = ("hplc-uv", "lcmsms")
FAMILIES = ("dervieux", "lennard", "lcmsms")
NORMALISATIONS = ("rbc_count", "fixed_cells", "none")
SELECT = ("nearest", "largest")
FUSED = ("auto", "drop", "valley", "skim", "exp_skim", "deconvolve")
BASELINES = ("local", "arpls", "asls", "snip")
REPORTED_UNIT = "pmol/8x10^8 RBC"


@dataclass(frozen=True)
class ChannelSpec:
    """Which trace an analyte is read from: a wavelength or an MRM transition."""

    wavelength_nm: float | None = None
    bandwidth_nm: float | None = None
    precursor_mz: float | None = None
    product_mz: float | None = None

    def describe(self) -> str:
        if self.wavelength_nm is not None:
            return f"{self.wavelength_nm:g} nm"
        return f"{self.precursor_mz:g} -> {self.product_mz:g}"


@dataclass(frozen=True)
class Integration:
    """Peak finding and integration settings (``[integration]``, or one compound's own table);
    the keys and their meaning are in docs/method_files.md."""

    sn_min: float = 3.0
    baseline: str = "local"
    noise_window: float = 20.0
    min_points: int = 5
    fused: str = "auto"
    noise_method: str = "p2p"
    noise_source: str = "sample"
    baseline_window: float = 10.0
    # signal integrity, checked on each channel before integration (thioquant.qc.signal)
    despike: bool = True
    spike_factor: float = 10.0
    #: count channels: one or two points above a local fit of their neighbours by more than
    #: ``apex_spike_k_sd`` noise SDs and ``apex_spike_ratio`` x the fit are replaced by the fit
    #: (thioquant.qc.signal.find_apex_spikes; docs/qc.md, "Signal integrity"); a correction of
    #: more than ``apex_spike_hold_pct`` % of the peak's area holds the result (SPIKE)
    apex_spikes: bool = True
    apex_spike_k_sd: float = 5.0
    apex_spike_ratio: float = 1.45
    apex_spike_hold_pct: float = 40.0
    detector_max: float | None = None
    expect_baseline_noise: bool = True
    #: MRM: integrate an analyte's quantifier, qualifier and labelled internal standard over
    #: shared boundaries (:func:`~thioquant.peaks.integrate_group`); false opts out
    transition_group: bool = True
    #: MRM dropout runs (zeros inside signal) bridged before peak finding, and their limits
    #: (thioquant.peaks.dropout; docs/peaks.md, "Dropout runs"); the whole injection's setting,
    #: so ``[integration]`` only
    bridge_dropouts: bool = True
    dropout_min_counts: float = 10.0
    dropout_k_sd: float = 10.0
    dropout_context: int = 10
    dropout_k_one: float = 20.0
    dropout_min_corr: float = 0.95
    dropout_max_fraction: float = 0.2
    #: a fill from a co-eluting transition may move the area by at most this (filled share x the
    #: fitted scale's relative SE; thioquant.peaks.dropout.MAX_FILL_ERROR), else DROPOUT_FILL
    dropout_max_fill_error: float = 0.075

    def peak_settings(self) -> dict[str, Any]:
        """Keyword settings for :func:`~thioquant.peaks.find_target` (every field but
        ``noise_source`` and ``transition_group``, which decide how the pipeline measures, and
        the signal-integrity and dropout settings, which the pipeline applies before
        integration)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("noise_source", "transition_group", *SIGNAL_KEYS, *DROPOUT_KEYS):
            del d[k]
        return d

    def dropout_rule(self) -> Any:
        """The :class:`~thioquant.peaks.dropout.DropoutRule` of these settings, or None when
        ``bridge_dropouts`` is false."""
        if not self.bridge_dropouts:
            return None
        from thioquant.peaks.dropout import DropoutRule

        return DropoutRule(min_counts=self.dropout_min_counts, k_sd=self.dropout_k_sd,
                           context=self.dropout_context, k_one=self.dropout_k_one,
                           min_corr=self.dropout_min_corr, max_fraction=self.dropout_max_fraction,
                           max_fill_error=self.dropout_max_fill_error)


#: ``[integration]`` keys of the signal-integrity checks (docs/qc.md, "Signal integrity")
SIGNAL_KEYS = ("despike", "spike_factor", "apex_spikes", "apex_spike_k_sd", "apex_spike_ratio",
               "apex_spike_hold_pct", "detector_max", "expect_baseline_noise")
#: ``[integration]`` keys of the MRM dropout rule (docs/peaks.md, "Dropout runs"); method-wide
DROPOUT_KEYS = ("bridge_dropouts", "dropout_min_counts", "dropout_k_sd", "dropout_context", "dropout_k_one",
                "dropout_min_corr", "dropout_max_fraction", "dropout_max_fill_error")


@dataclass(frozen=True)
class Compound:
    """An analyte or internal standard: channel and expected retention."""

    name: str
    channel: ChannelSpec
    rt_min: float
    window_min: float
    internal_standard: str | None = None
    qualifier: ChannelSpec | None = None
    reports_as: str = ""
    molar_mass_g_mol: float | None = None
    recovery: float = 1.0
    select: str = "nearest"
    rrt: float | None = None  # relative retention to the internal standard (analytes only)
    integration: Integration | None = None  # this compound's own settings (None: the method's)

    def expected_rt(self, is_rt_min: float | None = None) -> float:
        """Expected retention time (minutes) in one injection.

        With ``rrt``, it is ``rrt`` times the retention time of the internal standard's peak
        measured in the same injection (``is_rt_min``), so the analyte window follows a shift of
        the whole chromatogram; without ``rrt``, or when that peak was not found, ``rt_min``.
        """
        if self.rrt is not None and is_rt_min is not None and math.isfinite(is_rt_min):
            return self.rrt * is_rt_min
        return self.rt_min

    def molar_mass(self) -> float | None:
        """Molar mass (g/mol) for mass-unit conversions: ``molar_mass_g_mol`` when given, else the
        known mass of the species its name or ``reports_as`` names (6-TG, 6-MMP...); None when
        neither is known, or when the two name different species (an AMTCI peak reported as
        6-MMPN: which standard was weighed is for the method to say)."""
        if self.molar_mass_g_mol is not None:
            return self.molar_mass_g_mol
        known = set()
        for label in (self.name, self.reports_as):
            with contextlib.suppress(InputError):  # not a species we know
                known.add(normalise.molar_mass_g_mol(label))
        return known.pop() if len(known) == 1 else None


@dataclass(frozen=True)
class CalibrationSettings:
    model: str = "linear"
    weighting: str = "1/x^2"
    tolerance_pct: float = 15.0
    lloq_tolerance_pct: float = 20.0
    min_fraction: float = 0.75
    min_levels: int = 6
    #: exclude, before the fit and with the reason recorded, a calibrator whose quantifier or
    #: internal standard integration would be held for review (docs/qc.md)
    exclude_held: bool = True


@dataclass(frozen=True)
class Normalisation:
    """How a concentration becomes pmol/8x10^8 RBC.

    ``rbc_count``: ``result = C[nmol/L] x DF x 0.8 / RBC[10^12/L]``.
    ``fixed_cells``: calibrators are amounts (pmol) per aliquot and
    ``result = amount x 8e8 / (RBC[10^12/L] x aliquot_volume_ul x 1e6)``.
    """

    mode: str = "rbc_count"
    rbc_min: float = 1.0
    rbc_max: float = 8.0
    rbc_cv_pct: float = 3.0
    aliquot_volume_ul: float | None = None
    # plausible worklist dilution factor; outside it the row is BAD_DILUTION (see worklist.py)
    dilution_min: float = DILUTION_RANGE[0]
    dilution_max: float = DILUTION_RANGE[1]


@dataclass(frozen=True, eq=False)
class Method:
    """A validated assay method."""

    name: str
    technique: str
    family: str
    conc_unit: str
    reported_unit: str
    analytes: tuple[Compound, ...]
    internal_standards: tuple[Compound, ...]
    calibrators: Mapping[str, Mapping[str, float]]
    qcs: Mapping[str, Mapping[str, float]]
    integration: Integration
    calibration: CalibrationSettings
    normalisation: Normalisation
    qc: Mapping[str, Any] = field(default_factory=dict)
    interpretation_profile: str = "default"
    source: str = ""
    sha256: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)
    # Placement notes that do not stop the method loading (QC levels outside the ICH M10 bands),
    # each naming file and key like a MethodError; for the run's messages.txt.
    warnings: tuple[str, ...] = ()

    def compound(self, name: str) -> Compound:
        for c in self.analytes + self.internal_standards:
            if c.name == name:
                return c
        raise KeyError(name)

    def conc_factor(self, analyte: Compound) -> float:
        """Factor taking ``analyte``'s concentration in ``conc_unit`` to the unit the normalisation
        formula expects (nmol/L for ``rbc_count``, pmol per aliquot for ``fixed_cells``).

        Raises
        ------
        InputError
            When the unit cannot be converted (:func:`parse_method` rejects such methods).
        """
        return normalise.normalisation_factor(self.conc_unit, self.normalisation.mode, analyte.molar_mass())

    def nominal(self, sample_type: str, level: str, analyte: str) -> float:
        table = self.calibrators if sample_type == "calibrator" else self.qcs
        return float(table.get(level, {}).get(analyte, math.nan))


# --- validation helpers -------------------------------------------------------------------


class _Checker:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, reason: str) -> MethodError:
        return MethodError(reason, path=self.path, key=key)

    def warn(self, key: str, reason: str) -> str:
        """A note worded like :meth:`fail`'s error, for :attr:`Method.warnings`."""
        return str(MethodError(reason, path=self.path, key=key))

    def table(self, d: Mapping[str, Any], key: str, *, required: bool = False) -> Mapping[str, Any]:
        v = d.get(key.rsplit(".", 1)[-1])
        if v is None:
            if required:
                raise self.fail(key, "required table is missing")
            return {}
        if not isinstance(v, Mapping):
            raise self.fail(key, f"must be a table, got {type(v).__name__}")
        return v

    def number(
        self,
        d: Mapping[str, Any],
        key: str,
        default: float | None = None,
        *,
        lo: float | None = None,
        hi: float | None = None,
        required: bool = False,
        strict_lo: bool = False,
    ) -> float | None:
        name = key.rsplit(".", 1)[-1]
        if name not in d:
            if required:
                raise self.fail(key, "required number is missing")
            return default
        v = d[name]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.fail(key, f"must be a finite number, got {v!r}")
        v = float(v)
        if lo is not None and (v < lo or (strict_lo and v == lo)):
            raise self.fail(key, f"must be {'>' if strict_lo else '>='} {lo:g}, got {v:g}")
        if hi is not None and v > hi:
            raise self.fail(key, f"must be <= {hi:g}, got {v:g}")
        return v

    def choice(self, d: Mapping[str, Any], key: str, options: tuple[str, ...], default: str) -> str:
        name = key.rsplit(".", 1)[-1]
        v = d.get(name, default)
        if v not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}; got {v!r}")
        return str(v)

    def boolean(self, d: Mapping[str, Any], key: str, default: bool) -> bool:
        v = d.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(v, bool):
            raise self.fail(key, f"must be true or false, got {v!r}")
        return v

    def string(self, d: Mapping[str, Any], key: str, default: str | None = None) -> str:
        name = key.rsplit(".", 1)[-1]
        v = d.get(name, default)
        if v is None:
            raise self.fail(key, "required text is missing")
        if not isinstance(v, str) or not v.strip():
            raise self.fail(key, f"must be non-empty text, got {v!r}")
        return v.strip()

    def unknown_keys(self, d: Mapping[str, Any], key: str, allowed: set[str]) -> None:
        extra = sorted(set(d) - allowed)
        if extra:
            prefix = f"{key}." if key else ""
            raise self.fail(
                f"{prefix}{extra[0]}", f"unknown setting (allowed: {', '.join(sorted(allowed))})"
            )


def _channel(ck: _Checker, d: Any, key: str) -> ChannelSpec:
    if not isinstance(d, Mapping):
        raise ck.fail(key, "must be a table such as {wavelength_nm = 342} or {precursor_mz = 168.0, product_mz = 151.0}")
    ck.unknown_keys(d, key, {"wavelength_nm", "bandwidth_nm", "precursor_mz", "product_mz"})
    if "wavelength_nm" in d:
        return ChannelSpec(
            wavelength_nm=ck.number(d, f"{key}.wavelength_nm", lo=150, hi=1100),
            bandwidth_nm=ck.number(d, f"{key}.bandwidth_nm", None, lo=0, hi=100),
        )
    if "precursor_mz" in d and "product_mz" in d:
        return ChannelSpec(
            precursor_mz=ck.number(d, f"{key}.precursor_mz", lo=1, hi=5000, strict_lo=True),
            product_mz=ck.number(d, f"{key}.product_mz", lo=1, hi=5000, strict_lo=True),
        )
    raise ck.fail(key, "needs wavelength_nm, or precursor_mz and product_mz")


_COMPOUND_KEYS = {
    "name", "channel", "rt_min", "window_min", "internal_standard", "qualifier", "reports_as",
    "molar_mass_g_mol", "recovery", "select", "rrt", "integration",
}
_INTEGRATION_KEYS = {"sn_min", "baseline", "noise_window", "min_points", "fused", "noise_method", "noise_source",
                     "baseline_window", "transition_group", *SIGNAL_KEYS, *DROPOUT_KEYS}
NOISE_METHODS = ("p2p", "rms")
NOISE_SOURCES = ("sample", "blank")


def _integration(ck: _Checker, d: Mapping[str, Any], key: str, base: Integration) -> Integration:
    """Integration settings from table ``d``; keys it does not give come from ``base``."""
    ck.unknown_keys(d, key, _INTEGRATION_KEYS)
    return Integration(
        sn_min=ck.number(d, f"{key}.sn_min", base.sn_min, lo=0),
        baseline=ck.choice(d, f"{key}.baseline", BASELINES, base.baseline),
        noise_window=ck.number(d, f"{key}.noise_window", base.noise_window, lo=1, hi=100),
        min_points=int(ck.number(d, f"{key}.min_points", base.min_points, lo=1, hi=1000)),
        fused=ck.choice(d, f"{key}.fused", FUSED, base.fused),
        noise_method=ck.choice(d, f"{key}.noise_method", NOISE_METHODS, base.noise_method),
        noise_source=ck.choice(d, f"{key}.noise_source", NOISE_SOURCES, base.noise_source),
        baseline_window=ck.number(d, f"{key}.baseline_window", base.baseline_window, lo=2, hi=1000),
        despike=ck.boolean(d, f"{key}.despike", base.despike),
        spike_factor=ck.number(d, f"{key}.spike_factor", base.spike_factor, lo=2, hi=1e6),
        apex_spikes=ck.boolean(d, f"{key}.apex_spikes", base.apex_spikes),
        apex_spike_k_sd=ck.number(d, f"{key}.apex_spike_k_sd", base.apex_spike_k_sd, lo=2, hi=1e4),
        apex_spike_ratio=ck.number(d, f"{key}.apex_spike_ratio", base.apex_spike_ratio, lo=1.1, hi=1e4),
        apex_spike_hold_pct=ck.number(d, f"{key}.apex_spike_hold_pct", base.apex_spike_hold_pct, lo=0, hi=100),
        detector_max=ck.number(d, f"{key}.detector_max", base.detector_max, lo=0, strict_lo=True),
        expect_baseline_noise=ck.boolean(d, f"{key}.expect_baseline_noise", base.expect_baseline_noise),
        transition_group=ck.boolean(d, f"{key}.transition_group", base.transition_group),
        bridge_dropouts=ck.boolean(d, f"{key}.bridge_dropouts", base.bridge_dropouts),
        # a zero beside fewer than ~3 counts is ordinary counting noise (exp(-3) = 5 %)
        dropout_min_counts=ck.number(d, f"{key}.dropout_min_counts", base.dropout_min_counts, lo=3, hi=1e6),
        dropout_k_sd=ck.number(d, f"{key}.dropout_k_sd", base.dropout_k_sd, lo=3, hi=1e4),
        dropout_context=int(ck.number(d, f"{key}.dropout_context", base.dropout_context, lo=2, hi=1000)),
        dropout_k_one=ck.number(d, f"{key}.dropout_k_one", base.dropout_k_one, lo=1, hi=1e4),
        dropout_min_corr=ck.number(d, f"{key}.dropout_min_corr", base.dropout_min_corr, lo=0.5, hi=1),
        dropout_max_fraction=ck.number(d, f"{key}.dropout_max_fraction", base.dropout_max_fraction, lo=0, hi=1,
                                       strict_lo=True),
        # up to 1: a fill that may move the area by its whole size is never trusted
        dropout_max_fill_error=ck.number(d, f"{key}.dropout_max_fill_error", base.dropout_max_fill_error,
                                         lo=0, hi=1, strict_lo=True),
    )



def _compound(ck: _Checker, d: Any, key: str, integration: Integration) -> Compound:
    if not isinstance(d, Mapping):
        raise ck.fail(key, "must be a table")
    ck.unknown_keys(d, key, _COMPOUND_KEYS)
    name = ck.string(d, f"{key}.name")
    key = f"{key}[{name}]"
    return Compound(
        name=name,
        channel=_channel(ck, d.get("channel"), f"{key}.channel"),
        rt_min=ck.number(d, f"{key}.rt_min", required=True, lo=0, strict_lo=True),
        window_min=ck.number(d, f"{key}.window_min", 0.3, lo=0, hi=10, strict_lo=True),
        internal_standard=d.get("internal_standard"),
        qualifier=_channel(ck, d["qualifier"], f"{key}.qualifier") if "qualifier" in d else None,
        reports_as=str(d.get("reports_as", name)),
        molar_mass_g_mol=ck.number(d, f"{key}.molar_mass_g_mol", None, lo=1, hi=5000),
        recovery=ck.number(d, f"{key}.recovery", 1.0, lo=0.05, hi=2.0),
        select=ck.choice(d, f"{key}.select", SELECT, "nearest"),
        rrt=ck.number(d, f"{key}.rrt", None, lo=0, hi=20, strict_lo=True),
        integration=_compound_integration(ck, d, key, integration),
    )


def _compound_integration(ck: _Checker, d: Mapping[str, Any], key: str, base: Integration) -> Integration | None:
    """A compound's own ``integration`` table (None without one). The dropout keys are refused
    there: dropouts are bridged once per injection, for every MRM trace alike."""
    if "integration" not in d:
        return None
    table = ck.table(d, f"{key}.integration")
    for k in DROPOUT_KEYS:
        if k in table:
            raise ck.fail(f"{key}.integration.{k}", "dropout settings apply to the whole injection: set them "
                          "in [integration]")
    return _integration(ck, table, f"{key}.integration", base)


def _levels(ck: _Checker, d: Mapping[str, Any], key: str, analytes: set[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for level, conc in d.items():
        lk = f"{key}.{level}"
        if not isinstance(conc, Mapping):
            raise ck.fail(lk, "must be a table of analyte = nominal concentration")
        unknown = set(conc) - analytes
        if unknown:
            raise ck.fail(f"{lk}.{sorted(unknown)[0]}", "is not an analyte of this method")
        out[str(level)] = {a: ck.number(conc, f"{lk}.{a}", lo=0) for a in conc}
    return out


def _check_conc_unit(ck: _Checker, unit: str, mode: str, analytes: tuple[Compound, ...]) -> None:
    """Reject a ``conc_unit`` the normalisation cannot convert, or a mass unit for an analyte
    without a molar mass: either would otherwise be normalised as if it were nmol/L (or pmol)."""
    target, accepted = normalise.NORMALISATION_UNITS[mode]
    try:
        normalise.normalisation_factor(unit, mode, 1.0)
    except InputError:
        what = "an amount per hydrolysed aliquot" if mode == "fixed_cells" else "a concentration in the suspension"
        raise ck.fail("method.conc_unit",
                      f"{unit!r} cannot be converted to {target} for normalisation.mode = {mode!r}, "
                      f"which calibrates {what}; accepted: {', '.join(accepted)}") from None
    if normalise.is_mass_unit(unit):
        for a in analytes:
            if a.molar_mass() is None:
                raise ck.fail(f"analytes[{a.name}].molar_mass_g_mol",
                              f"is required to convert conc_unit {unit!r} to {target} "
                              "(the analyte is not one whose molar mass is known)")


# ICH M10 QC placement: low within 3x the LLOQ, mid at 30-50 % of the calibration range, high at
# >= 75 % of the ULOQ (and an LLOQ QC, when run, at the LLOQ).
QC_LOW_MAX_X_LLOQ = 3.0
QC_MID_RANGE = (0.30, 0.50)
QC_HIGH_MIN_OF_ULOQ = 0.75
_REL = 1e-9  # a nominal written exactly on a band edge is inside it


def qc_roles_at(x: float, lloq: float, uloq: float) -> set[str]:
    """ICH M10 roles a QC nominal ``x`` can fill: ``lloq``, ``low``, ``mid``, ``high`` (several when
    the range is so narrow that bands overlap; none when it falls between them)."""
    if math.isclose(x, lloq, rel_tol=_REL):
        return {"lloq"}  # as the run QC judges it (qc/run.py: nominal equal to the lowest calibrator)
    roles = set()
    if lloq < x <= QC_LOW_MAX_X_LLOQ * lloq * (1 + _REL):
        roles.add("low")
    position = (x - lloq) / (uloq - lloq)  # where the nominal sits on the calibrated span
    if QC_MID_RANGE[0] - _REL <= position <= QC_MID_RANGE[1] + _REL:
        roles.add("mid")
    if QC_HIGH_MIN_OF_ULOQ * uloq * (1 - _REL) <= x <= uloq * (1 + _REL):
        roles.add("high")
    return roles


def _qc_placement(ck: _Checker, calibrators: Mapping[str, Mapping[str, float]],
                  qcs: Mapping[str, Mapping[str, float]], analytes: tuple[Compound, ...],
                  unit: str) -> tuple[str, ...]:
    """Notes on QC levels the ICH M10 bands do not place, for :attr:`Method.warnings`.

    A level is classified by its nominal relative to the analyte's calibrated range, never by
    its name (names are free: QCL, LQC, QC-A...). The name is only read for a level that calls
    itself an LLOQ QC, to say when it is not at the LLOQ (the run QC would then judge it at the
    ordinary tolerance). Not an error: placement is validation design, no reported value is wrong
    because of it, and clinical labs often run commercial QC material at fixed concentrations.
    """
    if not qcs:
        return (ck.warn("qcs", "no QC levels: ICH M10 runs need low, mid and high QCs, and a run with "
                        "patient samples cannot be accepted without a QC"),)
    notes: list[str] = []
    for a in analytes:
        cal = [lv[a.name] for lv in calibrators.values() if lv.get(a.name, 0.0) > 0]
        if len(cal) < 2:
            continue  # no calibrated range to place QCs in (parse_method rejects fewer than 2 levels)
        lloq, uloq = min(cal), max(cal)
        low_max = QC_LOW_MAX_X_LLOQ * lloq
        mid_lo, mid_hi = (lloq + f * (uloq - lloq) for f in QC_MID_RANGE)
        bands = {
            "low": f"above the LLOQ up to {QC_LOW_MAX_X_LLOQ:g}x LLOQ, {lloq:g}-{low_max:g} {unit}",
            "mid": f"{QC_MID_RANGE[0]:.0%}-{QC_MID_RANGE[1]:.0%} of the range, {mid_lo:g}-{mid_hi:g} {unit}",
            "high": f">= {QC_HIGH_MIN_OF_ULOQ:.0%} of the ULOQ, {QC_HIGH_MIN_OF_ULOQ * uloq:g}-{uloq:g} {unit}",
        }
        covered: set[str] = set()
        for level, conc in qcs.items():
            if a.name not in conc:
                continue
            x, key = conc[a.name], f"qcs.{level}.{a.name}"
            where = f"{a.name} QC nominal {x:g} {unit}"
            if x < lloq and not math.isclose(x, lloq, rel_tol=_REL):
                notes.append(ck.warn(key, f"{where} is below the LLOQ ({lloq:g}): it cannot be quantified"))
                continue
            if x > uloq * (1 + _REL):
                notes.append(ck.warn(key, f"{where} is above the ULOQ ({uloq:g}): its result is "
                                     "extrapolated beyond the calibration"))
                continue
            roles = qc_roles_at(x, lloq, uloq)
            covered |= roles
            if "lloq" in level.lower() and "lloq" not in roles:
                notes.append(ck.warn(key, f"{where} is named as an LLOQ QC but is not at the LLOQ "
                                     f"({lloq:g}): the run QC judges it at the ordinary tolerance"))
            elif not roles:
                notes.append(ck.warn(key, f"{where} is in no ICH M10 QC band (low: {bands['low']}; "
                                     f"mid: {bands['mid']}; high: {bands['high']})"))
        missing = [f"no {r} QC ({bands[r]})" for r in ("low", "mid", "high") if r not in covered]
        if missing:
            notes.append(ck.warn("qcs", f"{a.name}: {'; '.join(missing)}; ICH M10 runs need low, mid "
                                 "and high QCs"))
    return tuple(notes)


_TOP_KEYS = {
    "method", "integration", "calibration", "normalisation", "analytes", "internal_standards",
    "calibrators", "qcs", "qc", "interpretation",
    "delta", "lis",  # after release: thioquant.assay.release_settings
}


def parse_method(data: Mapping[str, Any], *, source: str = "<method>", sha256: str = "") -> Method:
    """Validate a method mapping (as read from TOML) into a :class:`Method`."""
    ck = _Checker(source)
    ck.unknown_keys(data, "", _TOP_KEYS)
    m = ck.table(data, "method", required=True)
    ck.unknown_keys(m, "method", {"name", "technique", "family", "conc_unit", "reported_unit", "version", "description"})
    integration = _integration(ck, ck.table(data, "integration"), "integration", Integration())
    cal = ck.table(data, "calibration")
    ck.unknown_keys(cal, "calibration", {"model", "weighting", "tolerance_pct", "lloq_tolerance_pct", "min_fraction", "min_levels",
                                           "exclude_held"})
    norm = ck.table(data, "normalisation")
    ck.unknown_keys(norm, "normalisation", {"mode", "rbc_min", "rbc_max", "rbc_cv_pct", "aliquot_volume_ul",
                                             "dilution_min", "dilution_max"})

    raw_analytes = data.get("analytes")
    if not isinstance(raw_analytes, list) or not raw_analytes:
        raise ck.fail("analytes", "needs at least one [[analytes]] entry")
    analytes = tuple(_compound(ck, a, f"analytes[{i}]", integration) for i, a in enumerate(raw_analytes))
    raw_is = data.get("internal_standards", [])
    if not isinstance(raw_is, list):
        raise ck.fail("internal_standards", "must be a list of [[internal_standards]] tables")
    standards = tuple(_compound(ck, a, f"internal_standards[{i}]", integration) for i, a in enumerate(raw_is))

    names = [c.name for c in analytes + standards]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ck.fail("analytes", f"duplicate compound name {sorted(dup)[0]!r}")
    is_names = {c.name for c in standards}
    for a in analytes:
        if a.internal_standard is not None and a.internal_standard not in is_names:
            raise ck.fail(f"analytes[{a.name}].internal_standard", f"{a.internal_standard!r} is not an [[internal_standards]] name")
        if a.rrt is not None and a.internal_standard is None:
            raise ck.fail(f"analytes[{a.name}].rrt", "relative retention needs an internal_standard to be relative to")
    for c in standards:
        if c.rrt is not None:
            raise ck.fail(f"internal_standards[{c.name}].rrt",
                          "an internal standard is the reference of relative retention and has none itself")

    analyte_names = {a.name for a in analytes}
    calibrators = _levels(ck, ck.table(data, "calibrators", required=True), "calibrators", analyte_names)
    qcs = _levels(ck, ck.table(data, "qcs"), "qcs", analyte_names)
    overlap = set(calibrators) & set(qcs)
    if overlap:
        raise ck.fail(f"qcs.{sorted(overlap)[0]}", "level name is also a calibrator level")

    calibration = CalibrationSettings(
        model=ck.choice(cal, "calibration.model", (*CALIBRATION_MODELS, "auto"), "linear"),
        weighting=ck.choice(cal, "calibration.weighting", (*WEIGHTINGS, "auto"), "1/x^2"),
        tolerance_pct=ck.number(cal, "calibration.tolerance_pct", 15.0, lo=0, hi=100, strict_lo=True),
        lloq_tolerance_pct=ck.number(cal, "calibration.lloq_tolerance_pct", 20.0, lo=0, hi=100, strict_lo=True),
        min_fraction=ck.number(cal, "calibration.min_fraction", 0.75, lo=0, hi=1, strict_lo=True),
        min_levels=int(ck.number(cal, "calibration.min_levels", 6, lo=2, hi=100)),
        exclude_held=ck.boolean(cal, "calibration.exclude_held", True),
    )
    for a in analytes:
        n = sum(1 for lv in calibrators.values() if a.name in lv)
        if n < 2:
            raise ck.fail("calibrators", f"analyte {a.name!r} has {n} calibrator level(s); at least 2 are needed")

    normalisation = Normalisation(
        mode=ck.choice(norm, "normalisation.mode", NORMALISATIONS, "rbc_count"),
        rbc_min=ck.number(norm, "normalisation.rbc_min", 1.0, lo=0, strict_lo=True),
        rbc_max=ck.number(norm, "normalisation.rbc_max", 8.0, lo=0, strict_lo=True),
        rbc_cv_pct=ck.number(norm, "normalisation.rbc_cv_pct", 3.0, lo=0, hi=50),
        aliquot_volume_ul=ck.number(norm, "normalisation.aliquot_volume_ul", None, lo=0, strict_lo=True),
        # an empty dilution means 1, so 1 must stay plausible
        dilution_min=ck.number(norm, "normalisation.dilution_min", DILUTION_RANGE[0], lo=0, hi=1, strict_lo=True),
        dilution_max=ck.number(norm, "normalisation.dilution_max", DILUTION_RANGE[1], lo=1, hi=1e6),
    )
    if normalisation.rbc_min >= normalisation.rbc_max:
        raise ck.fail("normalisation.rbc_max", "must be greater than rbc_min")
    if normalisation.mode == "fixed_cells" and normalisation.aliquot_volume_ul is None:
        raise ck.fail("normalisation.aliquot_volume_ul", "is required when mode = 'fixed_cells'")

    conc_unit = ck.string(m, "method.conc_unit", "nmol/L")
    reported_unit = ck.string(m, "method.reported_unit", REPORTED_UNIT)
    if normalisation.mode != "none":  # "none" converts nothing: any label will do
        _check_conc_unit(ck, conc_unit, normalisation.mode, analytes)
        # the formulas give pmol/8x10^8 RBC, and interpretation profiles are in it: another
        # label would mis-state every reported value
        if reported_unit.lower().replace(" ", "") not in ("pmol/8x10^8rbc", "pmol/8e8rbc"):
            raise ck.fail("method.reported_unit",
                          f"the normalisation gives {REPORTED_UNIT}, not {reported_unit!r}; "
                          "convert reported values to other units after the run (thioquant interpret)")

    interp = ck.table(data, "interpretation")
    qc_table = dict(ck.table(data, "qc"))
    from thioquant.qc.settings import QCSettings  # a leaf module: errors only

    try:  # validated on load like every other table, not when the first run is judged
        QCSettings.from_dict(qc_table)
    except MethodError as exc:
        raise ck.fail(exc.key or "qc", exc.reason) from None

    # [delta] and [lis] are read where they are used; validated here so a typo fails on load
    from thioquant.assay.release_settings import parse_delta, parse_lis

    parse_delta(data, source, {a.name for a in analytes})
    parse_lis(data, source, {a.name for a in analytes})
    return Method(
        name=ck.string(m, "method.name"),
        technique=ck.choice(m, "method.technique", TECHNIQUES, "lcmsms"),
        family=ck.choice(m, "method.family", FAMILIES, "lcmsms"),
        conc_unit=conc_unit,
        reported_unit=reported_unit,
        analytes=analytes,
        internal_standards=standards,
        calibrators=calibrators,
        qcs=qcs,
        integration=integration,
        calibration=calibration,
        normalisation=normalisation,
        qc=qc_table,
        interpretation_profile=str(interp.get("profile", "default")),
        source=source,
        sha256=sha256,
        raw=dict(data),
        warnings=_qc_placement(ck, calibrators, qcs, analytes, conc_unit),
    )


def find_method_file(name_or_path: str | Path, *, start: Path | None = None) -> Path:
    """Resolve a method reference: a path, or a bare name looked up in ``calibrations/`` folders.

    A bare name (``thiopurines_lcmsms``) is searched in ``calibrations/`` beside ``start`` and in
    each of its parents, then in ``./calibrations``.
    """
    p = Path(name_or_path)
    p_toml = p.with_suffix(".toml") if p.suffix != ".toml" else p
    candidates = [p, p_toml]
    if start is not None:
        candidates += [start / p_toml]
        for parent in [start, *start.resolve().parents]:
            candidates.append(parent / "calibrations" / p_toml.name)
    candidates.append(Path.cwd() / "calibrations" / p_toml.name)
    for c in candidates:
        if c.is_file():
            return c
    raise MethodError("method file not found (looked in the batch folder and calibrations/)", path=str(name_or_path))


def load_method(path: str | Path) -> Method:
    """Read and validate a TOML method file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MethodError(f"cannot read method file ({exc.strerror or exc})", path=p) from None
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise MethodError("method file is not UTF-8 text", path=p) from None
    except tomllib.TOMLDecodeError as exc:
        raise MethodError(f"invalid TOML: {exc}", path=p) from None
    return parse_method(parsed, source=str(p), sha256=hashlib.sha256(data).hexdigest())
