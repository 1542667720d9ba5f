"""Synthetic thiopurine batches with known truth.

The simulator reads an assay method file, so a simulated batch always matches the method that
will quantify it: analytes, channels, retention times, calibrator and QC levels. Each batch
folder gets the raw injections (mzML for LC-MS/MS through pyopenms, a DAD text export for
HPLC-UV), ``worklist.csv``, ``truth.csv`` (true concentration and true pmol/8x10^8 RBC of every
sample and analyte), ``batch.toml`` (which method to use) and ``.thioquant-simulated.json``
(listing the files written: the mark that lets ``simulate --force`` replace the folder, which it
does for no other folder).

Physics, per injection: exponentially modified Gaussian peaks (tailing), retention-time jitter,
a matrix factor shared by an analyte and its co-eluting internal standard (so the area ratio
corrects it, as in real LC-MS/MS), detector noise, gradient baseline drift and endogenous
interfering peaks on the UV channels, carry-over from the previous injection, and 1 % pipetting
error on calibrators and QCs. Same seed -> same bytes.

Detector noise (``noise``): ``"measured"`` is the model measured on real QTRAP MRM and UV/DAD files
(:mod:`thioquant.noise_model`, docs/noise.md: for MRM several % multiplicative point noise, counts
with twice Poisson variance written as whole cps, rare spikes, runs of dropped points; for UV the
measured baseline noise and digitisation step); ``"legacy"`` is the earlier, almost noiseless model
(MRM ``sd = sqrt(12^2 + 0.6*S + (0.004*S)^2)``, UV 0.006 mAU white noise) that the bundled batches
were written with until 2026-12-05; the default is ``"measured"`` (:data:`DEFAULT_NOISE`). A :class:`~thioquant.noise_model.MrmNoise` or
:class:`~thioquant.noise_model.UvNoise` gives the measured model with other parameters.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.assay.method import Method, find_method_file, load_method
from thioquant.assay.worklist import write_worklist
from thioquant.errors import OutputError
from thioquant.model import Channel, Trace
from thioquant.noise_model import MrmNoise, UvNoise, apply_mrm_noise, apply_uv_noise

DEFAULT_SEED = 20261122
#: detector noise of :func:`simulate_batch` and the validation packages when none is given: the
#: model measured on real files (docs/noise.md); "legacy" is the earlier, almost noiseless one
DEFAULT_NOISE = "measured"
NOISE_MODELS = ("measured", "legacy")
Noise = str | MrmNoise | UvNoise


def check_noise(noise: Noise) -> Noise:
    if isinstance(noise, (MrmNoise, UvNoise)) or noise in NOISE_MODELS:
        return noise
    raise ValueError(f"unknown noise model {noise!r}; use one of {', '.join(NOISE_MODELS)}")
TRUTH_COLUMNS = [
    "sample_id", "sample_type", "level", "analyte", "true_conc", "conc_unit", "true_reported",
    "reported_unit", "rbc_count", "dilution", "n_cells",
]


def emg(t: np.ndarray, area: float, mu: float, sigma: float, tau: float) -> np.ndarray:
    """Exponentially modified Gaussian with the given area (signal x minutes).

    ``mu`` and ``sigma`` are the Gaussian centre and width, ``tau`` the exponential time constant
    (all minutes). Written with the scaled complementary error function so it cannot overflow.
    """
    from scipy.special import erfc, erfcx

    x = np.asarray(t, dtype=float) - mu
    if tau <= sigma * 1e-3:
        return area * np.exp(-0.5 * (x / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    z = (sigma / tau - x / sigma) / math.sqrt(2.0)
    out = np.empty_like(x)
    lead = z >= 0  # before the tail: scaled erfc keeps both factors finite
    out[lead] = np.exp(-0.5 * (x[lead] / sigma) ** 2) * erfcx(z[lead])
    tail = ~lead  # on the tail the exponent is negative, so the textbook form is stable
    out[tail] = np.exp(0.5 * (sigma / tau) ** 2 - x[tail] / tau) * erfc(z[tail])
    return area * out / (2.0 * tau)


@dataclass(frozen=True)
class Failures:
    """Deliberate faults, for testing that QC catches them.

    carryover_fraction : fraction of the previous injection's analyte that appears in the next.
    qc_bias_pct : bias added to every QC's true concentration.
    is_loss_samples : sample_ids whose internal standard response drops to 30 %.
    rt_shift_samples : sample_ids whose peaks elute ``rt_shift_min`` later.
    ion_ratio_samples : sample_ids whose qualifier/quantifier ratio is doubled.
    blank_interference : area (in LLOQ-response units) of an interfering peak in blanks and zeros.
    calibrator_error : {level: relative error} applied to calibrator preparation.
    """

    carryover_fraction: float = 0.0002
    qc_bias_pct: float = 0.0
    is_loss_samples: tuple[str, ...] = ()
    rt_shift_samples: tuple[str, ...] = ()
    rt_shift_min: float = 0.15
    ion_ratio_samples: tuple[str, ...] = ()
    blank_interference: float = 0.0
    calibrator_error: Mapping[str, float] = field(default_factory=dict)


# Patient cases chosen to cover every cell of the interpretation table (pmol/8x10^8 RBC):
# (6-TGN, 6-MMPN); 0 means not present (undetectable).
_PATIENT_CASES: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),          # non-adherence
    (284.0, 5333.0),     # worked example of domain.md
    (150.0, 2100.0),     # sub-therapeutic
    (180.0, 9500.0),     # preferential methylation (6-MMP > 5700)
    (110.0, 2900.0),     # preferential methylation by ratio (> 11)
    (320.0, 1500.0),     # therapeutic
    (410.0, 8200.0),     # hepatotoxicity risk
    (640.0, 7400.0),     # supratherapeutic
    (560.0, 900.0),      # myelotoxicity risk
    (1250.0, 0.0),       # possible TPMT deficiency
    (16.0, 55.0),        # lowest seen (Moon 2018): both below LLOQ
    (880.0, 20937.0),    # highest seen (Moon 2018): 6-MMP above ULOQ, diluted 1:4 on re-run
    (260.0, 14500.0),
    (95.0, 650.0),
)


def _patient_values(rng: np.random.Generator, n: int) -> list[tuple[float, float]]:
    cases = list(_PATIENT_CASES[:n])
    while len(cases) < n:
        tgn = float(np.exp(rng.uniform(np.log(60), np.log(900))))
        mmp = float(np.exp(rng.uniform(np.log(300), np.log(16000))))
        cases.append((round(tgn, 1), round(mmp, 0)))
    return cases


@dataclass(frozen=True)
class SampleSpec:
    """One injection to simulate: its true concentrations (method conc_unit, in the vial),
    true pmol/8x10^8 RBC (patients), RBC count, dilution and clinical context."""

    sample_id: str
    sample_type: str
    level: str = ""
    conc: Mapping[str, float] = field(default_factory=dict)  # true, method conc_unit, in the vial
    reported: Mapping[str, float] = field(default_factory=dict)
    rbc: float = math.nan
    dilution: float = 1.0
    n_cells: float = math.nan
    patient_id: str = ""
    context: Mapping[str, Any] = field(default_factory=dict)


def _design(method: Method, rng: np.random.Generator, n_patients: int, failures: Failures) -> list[SampleSpec]:
    """Injection order: blank, zero, calibrators low->high, blank (carry-over), QCs, patients, QCs."""
    names = [a.name for a in method.analytes]
    tgn_name, mmp_name = names[0], names[-1]
    samples: list[SampleSpec] = [SampleSpec("BLANK-1", "blank"), SampleSpec("ZERO-1", "zero")]
    for level, nominal in sorted(method.calibrators.items(), key=lambda kv: min(kv[1].values())):
        err = failures.calibrator_error.get(level, 0.0)
        conc = {a: v * (1 + err) * (1 + rng.normal(0, 0.01)) for a, v in nominal.items()}
        samples.append(SampleSpec(level, "calibrator", level, conc))
    samples.append(SampleSpec("BLANK-2", "blank"))
    qc_levels = [lv for lv in ("QCL", "QCM", "QCH") if lv in method.qcs] or sorted(method.qcs)

    def qcs(rep: int) -> list[SampleSpec]:
        out = []
        for lv in qc_levels:
            bias = 1 + failures.qc_bias_pct / 100
            conc = {a: v * bias * (1 + rng.normal(0, 0.01)) for a, v in method.qcs[lv].items()}
            out.append(SampleSpec(f"{lv}-{rep}", "qc", lv, conc))
        return out

    samples += qcs(1)
    cases = _patient_values(rng, n_patients)
    to_unit = _formula_unit_factor(method)  # per_vial below is worked out in nmol/L (pmol)
    ulo = {a: max(lv.get(a, 0.0) for lv in method.calibrators.values()) for a in names}
    patients: list[SampleSpec] = []
    for i, (tgn, mmp) in enumerate(cases, start=1):
        rbc = round(float(rng.uniform(3.5, 5.5)), 2)
        reported = {tgn_name: tgn, mmp_name: mmp}
        norm = method.normalisation
        if norm.mode == "fixed_cells":
            n_cells = rbc * 1e6 * float(norm.aliquot_volume_ul)
            per_vial = {a: v * n_cells / 8e8 / to_unit[a] for a, v in reported.items()}
        else:
            n_cells = math.nan
            per_vial = {a: v * rbc / 0.8 / to_unit[a] for a, v in reported.items()}
        # A sample above the ULOQ is re-run diluted (the lab's dilution factor is in the worklist).
        dilution = 1.0
        over = max(per_vial[a] / ulo[a] for a in names)
        if over > 0.95:
            dilution = 4.0 if over < 3.5 else 10.0
        conc = {a: v / dilution for a, v in per_vial.items()}
        ctx = {
            "drug": "azathioprine" if i % 3 else "mercaptopurine",
            "dose_mg": 100 if i % 3 else 75,
            "weight_kg": int(rng.integers(45, 95)),
        }
        if i == 10:
            ctx["tpmt"] = "intermediate"
        patients.append(
            SampleSpec(f"P{i:03d}", "unknown", "", conc, reported, rbc, dilution, n_cells, f"PT{1000 + i}", ctx)
        )
    half = (len(patients) + 1) // 2
    samples += patients[:half] + qcs(2) + patients[half:] + [SampleSpec("BLANK-3", "blank")]
    return samples


# --- signal generation ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Profile:
    """Instrument constants of a simulated technique."""

    run_min: float
    rate_hz: float
    # area per unit of the method's conc_unit, per analyte channel
    slope: Mapping[str, float]
    is_area: float
    ion_ratio: Mapping[str, float]
    sigma_per_min: float  # peak sigma as a fraction of retention time
    tau_over_sigma: float


_LCMS = _Profile(
    run_min=4.0, rate_hz=4.0,
    slope={"6-TG": 12.0, "6-MMP": 9.0},
    is_area=60000.0,
    ion_ratio={"6-TG": 0.45, "6-MMP": 0.30},
    sigma_per_min=0.018, tau_over_sigma=0.6,
)
_UV = _Profile(
    run_min=14.0, rate_hz=5.0,
    slope={"6-TG": 0.004, "6-MMP": 0.0006},
    is_area=0.0, ion_ratio={},
    sigma_per_min=0.012, tau_over_sigma=0.6,
)

# Relative absorbance of each compound at the three DAD wavelengths (342, 322, 303 nm).
_SPECTRA = {
    "6-TG": {342: 1.0, 322: 0.55, 303: 0.30},
    "6-MP": {342: 0.35, 322: 1.0, 303: 0.45},
    "6-MMP": {342: 0.02, 322: 0.20, 303: 1.0},  # the AMTCI product
}
# Endogenous peaks in hydrolysed RBC: (rt min, area mAU.min at 303 nm, {wavelength: rel. absorbance}).
_ENDOGENOUS = (
    (2.40, 1.20, {342: 0.3, 322: 0.6, 303: 1.0}),
    (3.35, 0.40, {342: 0.8, 322: 0.5, 303: 0.4}),
    (4.55, 0.05, {342: 1.0, 322: 0.3, 303: 0.2}),
    (6.90, 0.30, {342: 0.3, 322: 0.6, 303: 1.0}),
    (8.70, 0.15, {342: 0.05, 322: 0.3, 303: 1.0}),
    (11.05, 0.06, {342: 0.02, 322: 0.3, 303: 1.0}),
    (12.80, 0.50, {342: 0.2, 322: 0.4, 303: 1.0}),
)


def _formula_unit_factor(method: Method) -> dict[str, float]:
    """Per analyte, the factor from the method's conc_unit to nmol/L (pmol per aliquot for fixed
    cells), the unit of the simulator's slopes and of its patients' concentrations, so that a
    method calibrated in umol/L or ng/mL simulates the same chromatograms. 1.0 without a
    normalisation."""
    if method.normalisation.mode == "none":
        return {a.name: 1.0 for a in method.analytes}
    return {a.name: method.conc_factor(a) for a in method.analytes}


def _lloq(method: Method) -> dict[str, float]:
    """Lowest calibrator concentration of each analyte (method conc_unit)."""
    return {a.name: min(lv[a.name] for lv in method.calibrators.values() if a.name in lv) for a in method.analytes}


def _time_axis(profile: _Profile) -> np.ndarray:
    n = int(round(profile.run_min * 60 * profile.rate_hz)) + 1
    return np.linspace(0.0, profile.run_min, n)


def _lcms_traces(
    method: Method, sample: SampleSpec, rng: np.random.Generator, carry: Mapping[str, float],
    failures: Failures, noise: Noise = "legacy", scale: Callable[[str, Channel], float] | None = None,
) -> tuple[list[Trace], dict[str, float]]:
    p = _LCMS
    mrm = noise if isinstance(noise, MrmNoise) else None if noise == "legacy" else MrmNoise()
    t = _time_axis(p)
    traces: list[Trace] = []
    areas_out: dict[str, float] = {}
    shift = failures.rt_shift_min if sample.sample_id in failures.rt_shift_samples else 0.0
    lloq = _lloq(method)
    to_unit = _formula_unit_factor(method)  # slopes are per nmol/L (pmol)
    for a in method.analytes:
        is_c = method.compound(a.internal_standard) if a.internal_standard else None
        rt = a.rt_min + rng.normal(0, 0.008) + shift
        sigma = p.sigma_per_min * (1 + rng.normal(0, 0.03))
        tau = sigma * p.tau_over_sigma
        matrix = float(np.exp(rng.normal(0, 0.08)))
        conc = sample.conc.get(a.name, 0.0)
        area = p.slope[a.name] * to_unit[a.name] * conc * matrix * (1 + rng.normal(0, 0.015)) + carry.get(a.name, 0.0)
        if sample.sample_type in ("blank", "zero") and failures.blank_interference:
            area += failures.blank_interference * p.slope[a.name] * to_unit[a.name] * lloq[a.name]
        areas_out[a.name] = area
        ratio = p.ion_ratio[a.name] * (2.0 if sample.sample_id in failures.ion_ratio_samples else 1.0)
        is_area = 0.0
        if is_c is not None and sample.sample_type != "blank":
            is_area = p.is_area * matrix * (1 + rng.normal(0, 0.015))
            if sample.sample_id in failures.is_loss_samples:
                is_area *= 0.3
        chans = [
            (a.name, a.channel, area),
            (f"{a.name} qualifier", a.qualifier, area * ratio * (1 + rng.normal(0, 0.02))),
        ]
        if is_c is not None:
            chans.append((is_c.name, is_c.channel, is_area))
        for name, ch, ar in chans:
            if ch is None:
                continue
            background = 40.0 + 30.0 * rng.random()
            sig = np.full_like(t, background)
            if ar > 0:
                sig += emg(t, ar, rt, sigma, tau)
            # An isobaric endogenous peak elsewhere in the run (real MRM traces are never empty).
            sig += emg(t, 15.0 * (1 + rng.random()), 0.75 + 0.3 * (sum(map(ord, name)) % 3), 0.03, 0.02)
            channel = Channel("srm", precursor_mz=ch.precursor_mz, product_mz=ch.product_mz)
            if scale is not None:  # e.g. a validation run's matrix factor, before the detector counts
                sig = sig * scale(name, channel)
            if mrm is None:
                noise_sd = np.sqrt(12.0**2 + 0.6 * sig + (0.004 * sig) ** 2)
                sig = np.round(np.maximum(sig + rng.normal(0, 1, t.size) * noise_sd, 0.0), 1)
            else:
                sig = apply_mrm_noise(sig, rng, mrm)
            traces.append(Trace(name=name, time_min=t, signal=sig, signal_unit="cps", channel=channel))
    return traces, areas_out


def _uv_traces(
    method: Method, sample: SampleSpec, rng: np.random.Generator, carry: Mapping[str, float],
    failures: Failures, noise: Noise = "legacy", scale: Callable[[str, Channel], float] | None = None,
) -> tuple[list[Trace], dict[str, float]]:
    p = _UV
    uv = noise if isinstance(noise, UvNoise) else None if noise == "legacy" else UvNoise()
    t = _time_axis(p)
    shift = failures.rt_shift_min if sample.sample_id in failures.rt_shift_samples else 0.0
    recovery = 1 + rng.normal(0, 0.015)  # hydrolysis and injection-volume variability
    lloq = _lloq(method)
    to_unit = _formula_unit_factor(method)  # slopes are per nmol/L (pmol)
    peaks: list[tuple[float, float, Mapping[int, float]]] = []  # (rt, area at the reference wl, spectrum)
    areas_out: dict[str, float] = {}
    for a in method.analytes:
        conc = sample.conc.get(a.name, 0.0)
        area = p.slope[a.name] * to_unit[a.name] * conc * recovery * (1 + rng.normal(0, 0.01)) + carry.get(a.name, 0.0)
        if sample.sample_type in ("blank", "zero") and failures.blank_interference:
            area += failures.blank_interference * p.slope[a.name] * to_unit[a.name] * lloq[a.name]
        areas_out[a.name] = area
        if area > 0:
            ref = _SPECTRA[a.name]
            ref_wl = int(a.channel.wavelength_nm or 342)
            spectrum = {wl: v / ref[ref_wl] for wl, v in ref.items()}
            peaks.append((a.rt_min + rng.normal(0, 0.015) + shift, area, spectrum))
    if sample.sample_type == "unknown":
        mp = float(rng.uniform(0, 0.08))  # a little free 6-MP at 322 nm
        peaks.append((6.0 + rng.normal(0, 0.015) + shift, mp, _SPECTRA["6-MP"]))
    if sample.sample_type != "blank":
        for rt, area, spec in _ENDOGENOUS:
            peaks.append((rt + rng.normal(0, 0.015) + shift, area * float(rng.uniform(0.6, 1.4)), spec))
    traces = []
    drift_slope = rng.normal(0.02, 0.005)
    for wl in (342, 322, 303):
        sig = 0.3 + drift_slope * t + 0.15 / (1 + np.exp(-(t - 9.0) / 1.2)) + 0.01 * np.sin(t / 1.7 + wl)
        for rt, area, spec in peaks:
            sigma = p.sigma_per_min * rt * (1 + rng.normal(0, 0.02))
            sig = sig + emg(t, area * spec.get(wl, 0.0), rt, sigma, sigma * p.tau_over_sigma)
        name = f"DAD {wl} nm"
        channel = Channel("uv", wavelength_nm=float(wl), bandwidth_nm=4.0)
        if scale is not None:
            sig = sig * scale(name, channel)
        if uv is None:
            wander = np.cumsum(rng.normal(0, 0.0004, t.size))
            sig = np.round(sig + wander - np.linspace(0, wander[-1], t.size) + rng.normal(0, 0.006, t.size), 5)
        else:
            sig = np.round(apply_uv_noise(sig, rng, uv), 7)
        traces.append(Trace(name=name, time_min=t, signal=sig, signal_unit="mAU", channel=channel))
    return traces, areas_out


def simulate_injection(
    method: Method,
    sample: SampleSpec,
    rng: np.random.Generator,
    carry: Mapping[str, float] | None = None,
    failures: Failures | None = None,
    *,
    noise: Noise = DEFAULT_NOISE,
    scale: Callable[[str, Channel], float] | None = None,
) -> tuple[list[Trace], dict[str, float]]:
    """Traces of one injection, and the true analyte areas (for the next injection's carry-over).

    ``carry`` maps analyte -> area carried over from the previous injection. ``noise`` is the
    detector noise model (module docstring). ``scale(name, channel)``, when given, multiplies each
    noiseless trace before the noise is added (a matrix factor acts on the ions, not on the counts).
    """
    make = _lcms_traces if method.technique == "lcmsms" else _uv_traces
    return make(method, sample, rng, carry or {}, failures or Failures(), check_noise(noise), scale)


def write_injection(path: str | Path, method: Method, traces: list[Trace], metadata: Mapping[str, Any]) -> None:
    """Write one simulated injection in the method's raw format (mzML or DAD text export)."""
    from thioquant.io.delimited import write_delimited
    from thioquant.io.mzml import write_mzml

    if method.technique == "lcmsms":
        write_mzml(path, traces, metadata=dict(metadata))
    else:
        write_delimited(path, traces, metadata=dict(metadata))


def simulate_batch(
    out_dir: str | Path,
    *,
    method: str | Path | Method = "thiopurines_lcmsms",
    seed: int = DEFAULT_SEED,
    n_patients: int = 24,
    failures: Failures | None = None,
    overwrite: bool = False,
    noise: Noise = DEFAULT_NOISE,
    on_replace: Callable[[list[str]], None] | None = None,
) -> Path:
    """Write a simulated batch folder and return its path.

    Parameters
    ----------
    out_dir : folder to create (must not exist or be empty, unless ``overwrite``).
    method : a :class:`Method`, a method file path, or a name in ``calibrations/``.
    seed : random seed; the same seed writes the same bytes.
    n_patients : number of patient samples (the first 14 cover fixed clinical cases).
    failures : deliberate faults (see :class:`Failures`).
    overwrite : replace ``out_dir`` if it is a batch this function wrote (``--force``); see
        :func:`not_simulated_reason`. A real batch folder is never replaced.
    noise : detector noise, ``"measured"`` or ``"legacy"`` (module docstring; default
        :data:`DEFAULT_NOISE`), or a :class:`~thioquant.noise_model.MrmNoise` / ``UvNoise``.
    on_replace : called, before anything is deleted, with what replacing ``out_dir`` deletes
        (the simulator's files, then each output folder, QC history and cache quantifying it left).

    Raises
    ------
    OutputError : ``out_dir`` is a file, or a non-empty folder without ``overwrite``, or with it
        but not a simulated batch (checked before anything is deleted).
    """
    out = Path(out_dir)
    if isinstance(method, Method):
        m = method
        method_ref = Path(m.source).stem if m.source else m.name
    else:
        path = find_method_file(method, start=out.parent)
        m = load_method(path)
        method_ref = path.stem
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder; choose another output folder", path=out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OutputError("folder exists and is not empty; use --force to replace a batch the simulator "
                              "wrote, or choose another folder", path=out)
        why = not_simulated_reason(out)
        if why is not None:  # every real batch has a batch.toml: --force must not delete one
            raise OutputError(f"--force replaces only a batch the simulator wrote, and {why}; "
                              "choose another folder", path=out)
        if on_replace is not None:
            on_replace(replaced_contents(out))
        shutil.rmtree(out)
    failures = failures or Failures()
    noise = check_noise(noise)
    rng = np.random.default_rng(seed)
    samples = _design(m, rng, n_patients, failures)
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    lcms = m.technique == "lcmsms"
    ext = ".mzML" if lcms else ".csv"
    rows: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    carry: dict[str, float] = {}
    context_cols: list[str] = []
    for inj, s in enumerate(samples, start=1):
        fname = f"{inj:03d}_{s.sample_id}{ext}"
        traces, areas = simulate_injection(m, s, rng, carry, failures, noise=noise)
        carry = {a: v * failures.carryover_fraction for a, v in areas.items()}
        meta = {"sample_id": s.sample_id, "injection": inj, "instrument": "thioquant simulator", "seed": seed}
        write_injection(raw / fname, m, traces, meta)
        row = {
            "injection": inj, "sample_id": s.sample_id, "file": f"raw/{fname}", "sample_type": s.sample_type,
            "level": s.level, "rbc_count": "" if math.isnan(s.rbc) else f"{s.rbc:.2f}",
            "dilution": "" if s.dilution == 1.0 else f"{s.dilution:g}", "patient_id": s.patient_id,
        }
        row.update(s.context)
        context_cols += [k for k in s.context if k not in context_cols]
        rows.append(row)
        for a in m.analytes:
            truth.append({
                "sample_id": s.sample_id, "sample_type": s.sample_type, "level": s.level, "analyte": a.name,
                "true_conc": f"{s.conc.get(a.name, 0.0) * s.dilution:.6g}", "conc_unit": m.conc_unit,
                "true_reported": "" if s.sample_type != "unknown" else f"{s.reported.get(a.name, 0.0):.6g}",
                "reported_unit": m.reported_unit,
                "rbc_count": "" if math.isnan(s.rbc) else f"{s.rbc:.2f}", "dilution": f"{s.dilution:g}",
                "n_cells": "" if math.isnan(s.n_cells) else f"{s.n_cells:.6g}",
            })
    cols = ["injection", "sample_id", "file", "sample_type", "level", "rbc_count", "dilution", "patient_id", *context_cols]
    write_worklist(out / "worklist.csv", rows, cols)
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=TRUTH_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(truth)
    (out / "batch.toml").write_text(
        f'# Simulated batch (seed {seed}); quantify with: thioquant quantify {out.name}\n'
        f'method = "{method_ref}"\n',
        encoding="utf-8",
    )
    # written last: only a complete simulated batch is marked as one --force may replace
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    info: dict[str, Any] = {"written_by": "thioquant simulate", "seed": seed, "method": method_ref, "files": files}
    if noise != "legacy":  # the marker of a legacy batch keeps its earlier bytes
        info["noise"] = noise if isinstance(noise, str) else repr(noise)
    (out / SIMULATED_MARKER).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return out


#: written by :func:`simulate_batch` only, listing the files it wrote; ``--force`` requires it
SIMULATED_MARKER = ".thioquant-simulated.json"
#: what quantifying a batch adds that may go with it (an accelerator, rebuilt on the next run)
_CACHE_FILES = frozenset(f".thioquant-cache.sqlite{s}" for s in ("", "-journal", "-wal", "-shm"))
_OLDER_RAW = re.compile(r"raw/\d{3}_[^/]+\.(mzML|csv)")


def not_simulated_reason(folder: Path) -> str | None:
    """Why ``folder`` is not a batch :func:`simulate_batch` wrote (so must not be replaced); None if it is.

    It must hold the simulator's ``truth.csv`` and ``batch.toml`` and nothing the simulator did not
    write, except what quantifying it writes there: the measurement cache, the QC history and
    output folders of thioquant's own (an audit trail starting with a thioquant run, nothing
    foreign in them; the README's ``quantify sample_data/lcmsms`` then ``simulate ... --force``).
    Any other file or folder is refused. With the marker (:data:`SIMULATED_MARKER`) the files it lists are expected; a
    batch simulated before the marker existed is recognised by its ``batch.toml`` header and
    the simulator's file names (``raw/NNN_<sample>.mzML|csv``).
    """
    for name in ("truth.csv", "batch.toml"):
        if not (folder / name).is_file():
            return f"it has no {name}"
    marker = folder / SIMULATED_MARKER
    try:
        if marker.is_file():
            info = json.loads(marker.read_text(encoding="utf-8"))
            listed = info.get("files") if isinstance(info, dict) else None
            if not isinstance(listed, list) or info.get("written_by") != "thioquant simulate":
                return f"its {SIMULATED_MARKER} is not the simulator's"
            expected = set(map(str, listed)) | {SIMULATED_MARKER}
        else:
            with open(folder / "batch.toml", encoding="utf-8") as fh:
                if not fh.readline().startswith("# Simulated batch (seed "):
                    return f"it has no {SIMULATED_MARKER} and its batch.toml was not written by the simulator"
            expected = {"batch.toml", "worklist.csv", "truth.csv"}
        from thioquant.report.output import replaceable_reason

        # thioquant output folders (results/) written by quantifying this simulated batch
        outputs = [d for d in folder.iterdir() if d.is_dir() and d.name != "raw"
                   and (d / "audit.jsonl").is_file() and replaceable_reason(d) is None]
        paths = sorted(folder.rglob("*"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return f"it cannot be read ({getattr(exc, 'strerror', None) or exc})"
    for p in paths:
        rel = p.relative_to(folder).as_posix()
        if rel == "raw" and p.is_dir():
            continue
        if rel == "qc_history.sqlite" or any(p == d or d in p.parents for d in outputs):
            continue
        if p.is_file() and (rel in expected or rel in _CACHE_FILES
                            or (not marker.is_file() and _OLDER_RAW.fullmatch(rel))):
            continue
        return f"it holds {rel}{'/' if p.is_dir() else ''}, which the simulator did not write"
    return None


def replaced_contents(folder: Path) -> list[str]:
    """What ``simulate --force`` deletes in ``folder`` (a batch :func:`not_simulated_reason` accepts),
    in words: the simulated files, then what quantifying the batch left there."""
    n_raw = sum(1 for p in (folder / "raw").iterdir()) if (folder / "raw").is_dir() else 0
    out = [f"the simulated raw files ({n_raw}), worklist.csv, truth.csv and batch.toml"]
    for p in sorted(folder.iterdir()):
        if p.is_dir() and p.name != "raw":
            n = sum(1 for q in p.rglob("*") if q.is_file())
            out.append(f"{p.name}/ (a thioquant output folder, {n} files)")
        elif p.name == "qc_history.sqlite":
            out.append("qc_history.sqlite (the QC history of the runs of this batch)")
        elif p.name in _CACHE_FILES:
            out.append(f"{p.name} (the measurement cache)")
    return out


def read_truth(batch_dir: str | Path) -> dict[tuple[str, str], dict[str, str]]:
    """The truth file of a simulated batch, keyed by (sample_id, analyte)."""
    with open(Path(batch_dir) / "truth.csv", newline="", encoding="utf-8") as fh:
        return {(r["sample_id"], r["analyte"]): r for r in csv.DictReader(fh)}


__all__ = [
    "DEFAULT_NOISE", "NOISE_MODELS", "Failures", "SampleSpec", "emg", "read_truth", "simulate_batch", "simulate_injection", "write_injection",
]
