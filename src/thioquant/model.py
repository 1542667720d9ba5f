"""Frozen records that flow through the pipeline.

read -> Trace/Run -> Peak -> response -> Calibration -> concentration -> Result.
Time is always in minutes. Arrays held by records are made read-only so a record
cannot change behind the back of the code that produced it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

NAN = math.nan


def _frozen_array(values: Any) -> np.ndarray:
    arr = np.array(values, dtype=float, copy=True)
    arr.setflags(write=False)
    return arr


def _frozen_mapping(values: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class Channel:
    """What a trace measures.

    ``kind`` is one of ``"uv"`` (absorbance at ``wavelength_nm``), ``"srm"`` (an MRM transition
    ``precursor_mz -> product_mz``), ``"xic"`` (extracted ion at ``precursor_mz``), ``"tic"``,
    or ``"detector"`` (any other single-channel detector: RID, FID, analog...).
    """

    kind: str = "detector"
    wavelength_nm: float | None = None
    bandwidth_nm: float | None = None
    precursor_mz: float | None = None
    product_mz: float | None = None
    tolerance: float | None = None
    tolerance_unit: str | None = None

    def describe(self) -> str:
        if self.kind == "uv" and self.wavelength_nm is not None:
            bw = f" bw {self.bandwidth_nm:g}" if self.bandwidth_nm else ""
            return f"UV {self.wavelength_nm:g} nm{bw}"
        if self.kind == "srm":
            return f"SRM {self.precursor_mz:.3f} -> {self.product_mz:.3f}"
        if self.kind == "xic":
            tol = f" +/- {self.tolerance:g} {self.tolerance_unit}" if self.tolerance else ""
            return f"XIC {self.precursor_mz:.4f}{tol}"
        return self.kind


@dataclass(frozen=True, eq=False)
class Trace:
    """One chromatogram: signal against time in minutes."""

    name: str
    time_min: np.ndarray
    signal: np.ndarray
    signal_unit: str = ""
    channel: Channel = field(default_factory=Channel)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_min", _frozen_array(self.time_min))
        object.__setattr__(self, "signal", _frozen_array(self.signal))
        object.__setattr__(self, "metadata", _frozen_mapping(self.metadata))
        if self.time_min.ndim != 1 or self.time_min.shape != self.signal.shape:
            raise ValueError(
                f"trace '{self.name}': time ({self.time_min.shape}) and signal "
                f"({self.signal.shape}) must be 1-D arrays of the same length"
            )

    def __len__(self) -> int:
        return int(self.time_min.size)

    @property
    def sampling_interval_min(self) -> float:
        """Median spacing of the time axis, in minutes."""
        if self.time_min.size < 2:
            return NAN
        return float(np.median(np.diff(self.time_min)))


@dataclass(frozen=True)
class ReferencePeak:
    """A peak as reported by vendor software inside or beside a raw file (times in minutes)."""

    rt_min: float
    area: float
    height: float = NAN
    start_min: float = NAN
    end_min: float = NAN
    baseline_start: float = NAN
    baseline_end: float = NAN
    name: str = ""
    trace: str = ""
    area_unit: str = ""
    code: str = ""
    #: the injection the peak belongs to, in a vendor result table that covers several
    #: (Chromeleon Calibration sheets); empty for a peak table inside or beside one raw file
    injection: str = ""


@dataclass(frozen=True, eq=False)
class Run:
    """One injection: its traces plus where they came from."""

    traces: tuple[Trace, ...]
    source: str | None = None
    sha256: str | None = None
    format: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    reference_peaks: tuple[ReferencePeak, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "traces", tuple(self.traces))
        object.__setattr__(self, "reference_peaks", tuple(self.reference_peaks))
        object.__setattr__(self, "metadata", _frozen_mapping(self.metadata))

    @property
    def name(self) -> str:
        return Path(self.source).name if self.source else ""

    def trace(self, name: str) -> Trace:
        """The trace called ``name`` (KeyError listing the available names otherwise)."""
        for tr in self.traces:
            if tr.name == name:
                return tr
        raise KeyError(f"no trace '{name}' in {self.name or 'run'}; have {[t.name for t in self.traces]}")

    def peak_traces(self) -> tuple[tuple[Trace, ...], tuple[str, ...]]:
        """(traces worth a peak table, names left out): every trace, except the TIC of a run
        with SRM/MRM traces, which sums transitions measured one after another (a sawtooth of
        dwell times, not a chromatogram: 18,856 "peaks" on a Sciex QTRAP file)."""
        if not any(t.channel.kind == "srm" for t in self.traces):
            return self.traces, ()
        return (tuple(t for t in self.traces if t.channel.kind != "tic"),
                tuple(t.name for t in self.traces if t.channel.kind == "tic"))

    def find_trace(
        self,
        *,
        wavelength_nm: float | None = None,
        precursor_mz: float | None = None,
        product_mz: float | None = None,
        mz_tolerance: float = 0.5,
        wavelength_tolerance_nm: float = 2.0,
    ) -> Trace | None:
        """The trace matching a channel description, or None.

        A UV trace matches when its wavelength lies within ``wavelength_tolerance_nm``;
        an SRM trace when precursor and product lie within ``mz_tolerance`` (Da).
        The closest match wins.
        """
        best: tuple[float, Trace] | None = None
        for tr in self.traces:
            ch = tr.channel
            if wavelength_nm is not None:
                if ch.wavelength_nm is None:
                    continue
                d = abs(ch.wavelength_nm - wavelength_nm)
                if d > wavelength_tolerance_nm:
                    continue
            elif precursor_mz is not None:
                if ch.precursor_mz is None:
                    continue
                d = abs(ch.precursor_mz - precursor_mz)
                if product_mz is not None:
                    if ch.product_mz is None:
                        continue
                    d = max(d, abs(ch.product_mz - product_mz))
                if d > mz_tolerance:
                    continue
            else:
                return None
            if best is None or d < best[0]:
                best = (d, tr)
        return None if best is None else best[1]


@dataclass(frozen=True)
class Peak:
    """An integrated peak. Times in minutes; area in signal x minutes.

    Metrics that were not computed are NaN. ``flags`` holds short codes (see
    :mod:`thioquant.flags`).
    """

    trace: str
    rt_min: float
    start_min: float
    end_min: float
    height: float
    area: float
    sn: float = NAN
    baseline_start: float = NAN
    baseline_end: float = NAN
    noise: float = NAN
    width_50_min: float = NAN
    width_10_min: float = NAN
    width_05_min: float = NAN
    plates_usp: float = NAN
    symmetry_usp: float = NAN
    asymmetry_10: float = NAN
    resolution_usp: float = NAN
    resolution_tangent: float = NAN
    area_pct: float = NAN
    points: int = 0
    integration: str = "drop"
    fit_r2: float = NAN
    flags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Every field as a plain dict (``flags`` as a list)."""
        # shallow on purpose: every field is a scalar but flags (dataclasses.asdict deep-copies
        # each value, ~80 us per peak, which the measurement cache paid 6 times per injection)
        d = {name: getattr(self, name) for name in _PEAK_FIELDS}
        d["flags"] = list(self.flags)
        return d


_PEAK_FIELDS = tuple(f.name for f in fields(Peak))


# Calibration models: coefficients are in ascending powers of x ("power" is fitted
# as ln y = c0 + c1 ln x, so its coefficients live in the log domain).
CALIBRATION_MODELS = ("linear", "linear0", "quadratic", "power")
WEIGHTINGS = ("none", "1/x", "1/x^2", "1/y", "1/y^2")


def equation_text(model: str, coefficients: Sequence[float], digits: int = 4) -> str:
    """A calibration curve as text, e.g. ``y = 0.0123 x + 0.0004`` (coefficients in ascending powers)."""
    c = coefficients
    g = f".{digits}g"
    if model == "power":
        return f"y = {math.exp(c[0]):{g}} x^{c[1]:{g}}"
    if model == "linear0":
        return f"y = {c[-1]:{g}} x"
    terms = []
    for power, coef in sorted(enumerate(c), reverse=True):
        xs = "" if power == 0 else (" x" if power == 1 else f" x^{power}")
        terms.append((coef, xs))
    out = f"y = {terms[0][0]:{g}}{terms[0][1]}"
    for coef, xs in terms[1:]:
        out += f" {'-' if coef < 0 else '+'} {abs(coef):{g}}{xs}"
    return out


@dataclass(frozen=True, eq=False)
class Calibration:
    """A fitted calibration curve, response = f(concentration).

    ``coefficients`` are in ascending powers of x. ``covariance`` is the covariance matrix of the
    coefficients; ``residual_sd`` the weighted residual standard deviation. ``x``, ``y`` and
    ``included`` keep the points the fit saw, so the fit can be audited and re-done.
    """

    model: str
    weighting: str
    coefficients: tuple[float, ...]
    covariance: np.ndarray
    residual_sd: float
    r2: float
    x: np.ndarray
    y: np.ndarray
    included: np.ndarray
    dof: int = 0

    def __post_init__(self) -> None:
        if self.model not in CALIBRATION_MODELS:
            raise ValueError(f"unknown calibration model '{self.model}'")
        object.__setattr__(self, "coefficients", tuple(float(c) for c in self.coefficients))
        object.__setattr__(self, "covariance", _frozen_array(self.covariance))
        object.__setattr__(self, "x", _frozen_array(self.x))
        object.__setattr__(self, "y", _frozen_array(self.y))
        inc = np.array(self.included, dtype=bool, copy=True)
        inc.setflags(write=False)
        object.__setattr__(self, "included", inc)

    def equation(self, digits: int = 4) -> str:
        """The fitted curve as text, e.g. ``y = 0.0123 x + 0.0004``."""
        return equation_text(self.model, self.coefficients, digits)

    @property
    def x_range(self) -> tuple[float, float]:
        """Lowest and highest included calibrator concentration (the reportable range)."""
        xi = self.x[self.included]
        return (float(xi.min()), float(xi.max())) if xi.size else (NAN, NAN)

    def predict(self, x: Any) -> np.ndarray | float:
        """Response at concentration ``x``."""
        xa = np.asarray(x, dtype=float)
        c = self.coefficients
        if self.model == "power":
            with np.errstate(divide="ignore", invalid="ignore"):
                out = np.exp(c[0]) * np.power(xa, c[1])
        else:
            # Horner, as np.polynomial.polynomial.polyval (whose package import costs 4 ms)
            out = c[-1] + xa * 0.0
            for ci in reversed(c[:-1]):
                out = ci + out * xa
        return float(out) if np.ndim(out) == 0 else out

    def inverse(self, y: Any) -> np.ndarray | float:
        """Concentration giving response ``y`` (NaN where the curve never reaches it)."""
        ya = np.asarray(y, dtype=float)
        c = self.coefficients
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.model == "power":
                out = np.exp((np.log(ya) - c[0]) / c[1])
            elif self.model in ("linear", "linear0"):
                out = (ya - c[0]) / c[1]
            else:
                out = _quadratic_inverse(ya, c, self.x_range)
        return float(out) if np.ndim(out) == 0 else out


def _quadratic_inverse(ya: np.ndarray, c: Sequence[float], x_range: tuple[float, float]) -> np.ndarray:
    """Root of c0 + c1 x + c2 x^2 = y on the branch that the calibration range lies on."""
    c0, c1, c2 = c
    if c2 == 0.0:
        return (ya - c0) / c1
    disc = c1 * c1 - 4.0 * c2 * (c0 - ya)
    sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
    # the roots as q / c2 and (c0 - y) / q: (-c1 +/- sq) / (2 c2) loses every digit of the root
    # near the linear solution when the curvature is tiny (c1 - sq cancels to 0)
    q = -0.5 * (c1 + (1.0 if c1 >= 0 else -1.0) * sq)
    r1 = q / c2
    r2 = np.where(q != 0.0, (c0 - ya) / np.where(q != 0.0, q, 1.0), r1)
    # The branch is fixed by the sign of the slope across the range: pick the root whose
    # slope c1 + 2 c2 x has the same sign as the mid-range slope.
    lo, hi = x_range
    mid = 0.5 * (lo + hi) if np.isfinite(lo) else 0.0
    s_mid = np.sign(c1 + 2.0 * c2 * mid)
    ok1 = np.sign(c1 + 2.0 * c2 * r1) == s_mid
    return np.where(ok1, r1, r2)


@dataclass(frozen=True)
class Result:
    """One reportable row: a sample x analyte."""

    sample_id: str
    sample_type: str
    analyte: str
    level: str = ""
    file: str = ""
    rt_min: float = NAN
    area: float = NAN
    is_area: float = NAN
    response: float = NAN
    conc: float = NAN
    conc_unit: str = ""
    conc_low: float = NAN
    conc_high: float = NAN
    reported: float = NAN
    reported_unit: str = ""
    reported_low: float = NAN
    reported_high: float = NAN
    nominal: float = NAN
    accuracy_pct: float = NAN
    sn: float = NAN
    method_family: str = ""
    patient_id: str = ""
    injection: int = 0
    flags: tuple[str, ...] = ()
