"""Run-QC settings: every rule's default in one validated, frozen record.

The method file's ``[qc]`` table maps onto :class:`QCSettings` with :meth:`QCSettings.from_dict`;
per-analyte overrides live in ``[qc.analytes.<name>]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from thioquant.errors import MethodError

SEVERITIES = ("reject", "warn")
WESTGARD_RULES = ("1-2s", "1-3s", "2-2s", "R-4s", "4-1s", "10x")

#: default severity of each run-level rule
DEFAULT_SEVERITY: Mapping[str, str] = MappingProxyType(
    {
        "calibration": "reject",
        "qc": "reject",
        "qc_coverage": "reject",
        "carryover": "reject",
        "interference": "reject",
        "is_response": "warn",
        "is_cv": "warn",
        "rt": "warn",
        "ion_ratio": "warn",
        "westgard": "reject",
        "hold": "warn",
    }
)

#: checks that hold a patient or QC result for review (docs/qc.md, "Held for review")
HOLD_CHECKS = ("is_response", "width", "is_apex", "ion_ratio", "peak_flags", "saturated")
#: peak flags that may hold a result (``hold_peak_flags``)
HOLDABLE_PEAK_FLAGS = ("FUSED", "FEW_POINTS", "SPIKE", "SHOULDER", "EDGE", "FIT_POOR", "LOW_SN",
                       "DROPOUT", "DROPOUT_LONG", "DROPOUT_FILL")

#: keys that may be overridden per analyte
PER_ANALYTE_KEYS = (
    "calibration_r2_min",
    "qc_tolerance_pct",
    "qc_lloq_tolerance_pct",
    "carryover_limit_pct",
    "carryover_is_limit_pct",
    "is_band_pct",
    "is_cv_limit_pct",
    "rt_tolerance_pct",
    "ion_ratio_tolerance_pct",
    "interference_limit_pct",
    "interference_is_limit_pct",
    "hold_width_ratio",
    "hold_is_apex_tolerance_min",
)


@dataclass(frozen=True)
class QCSettings:
    """Every run-QC rule with its documented default (see ``docs/qc.md``).

    Attributes
    ----------
    calibration_r2_min : float
        The calibration curve's r^2 (weighted, as reported) must exceed this (CLSI C62-A: 0.995);
        0 turns the check off.
    qc_tolerance_pct : float
        QC accuracy limit, +/- % of nominal (ICH M10: 15).
    qc_lloq_tolerance_pct : float
        Limit for a QC at the LLOQ level, when one is run (20).
    qc_min_fraction : float
        Fraction of all QCs that must pass (2/3).
    qc_min_level_fraction : float
        Fraction of QCs at each level that must pass (0.5).
    carryover_limit_pct : float
        Analyte response in the blank after the highest calibrator, % of the LLOQ response (20).
    carryover_is_limit_pct : float
        IS response in that blank, % of the mean IS response (5).
    is_band_pct : (float, float)
        Accepted IS response band, % of the mean IS of calibrators and QCs (50, 150).
    is_cv_limit_pct : float
        IS CV across the run above which a warning is raised (10: the upper end of CLSI C62-A's
        5-10 %).
    rt_tolerance_pct : float
        Retention time tolerance, +/- % of the calibrator mean (2.5).
    ion_ratio_tolerance_pct : float or "tiered"
        Qualifier/quantifier ratio tolerance, +/- % (relative) of the calibrator mean (20);
        "tiered" picks 20/25/30/50 % from the mean ratio (> 0.5, 0.2-0.5, 0.1-0.2, <= 0.1).
    interference_limit_pct : float
        Blank/zero analyte response, % of the LLOQ response (20).
    interference_is_limit_pct : float
        Blank IS-channel response, % of the mean IS response (5).
    westgard_rules : tuple of str
        Westgard rules applied across runs (all six: 1-2s warns, the others reject).
    westgard_min_history : int
        Prior QC values needed to estimate the target mean/SD when none is given (20).
    westgard_history : str or None
        SQLite file holding the QC history (None: the caller's default, beside the output).
    qc_min_count : int
        QCs a study run needs at least (ICH M10: 6), see ``qc_min_pct_of_samples``.
    qc_min_pct_of_samples : float
        ... or this percentage of the study samples, whichever is more (ICH M10: 5).
    qc_min_per_level : int
        QCs needed at each of the low, mid and high levels (ICH M10: in duplicate, 2).
    hold_checks : tuple of str
        Checks that hold a patient or QC result for review (all of ``HOLD_CHECKS``); the IS
        response check uses ``is_band_pct``, the ion ratio check ``ion_ratio_tolerance_pct``.
    hold_width_ratio : (float, float)
        Accepted peak width (at half height) of the quantifier and the internal standard, as a
        multiple of the calibrators' median width for that compound (0.5, 2).
    hold_is_apex_tolerance_min : float
        Accepted shift, in minutes, of the analyte's apex from its internal standard's, beyond the
        calibrators' median offset (0.05).
    hold_peak_flags : tuple of str
        Peak flags on the quantifier or internal standard that hold a result (FUSED, FEW_POINTS,
        SPIKE, DROPOUT_LONG, DROPOUT_FILL);
        a FUSED peak whose bounds hold its whole width at 5 % height is not held.
    require_blank_zero : bool
        A run with patient samples needs a usable blank, and, when an analyte has an internal
        standard, a usable zero sample (ICH M10's calibration curve: blank + zero + >= 6 levels);
        without them carry-over and interference cannot be judged (True).
    severity : mapping
        Rule name -> "reject" | "warn" (see ``DEFAULT_SEVERITY``).
    analytes : mapping
        Analyte name -> mapping of per-analyte overrides (keys in ``PER_ANALYTE_KEYS``).
    """

    calibration_r2_min: float = 0.995
    qc_tolerance_pct: float = 15.0
    qc_lloq_tolerance_pct: float = 20.0
    qc_min_fraction: float = 2.0 / 3.0
    qc_min_level_fraction: float = 0.5
    carryover_limit_pct: float = 20.0
    carryover_is_limit_pct: float = 5.0
    is_band_pct: tuple[float, float] = (50.0, 150.0)
    is_cv_limit_pct: float = 10.0
    rt_tolerance_pct: float = 2.5
    ion_ratio_tolerance_pct: float | str = 20.0
    interference_limit_pct: float = 20.0
    interference_is_limit_pct: float = 5.0
    westgard_rules: tuple[str, ...] = WESTGARD_RULES
    westgard_min_history: int = 20
    westgard_history: str | None = None
    qc_min_count: int = 6
    qc_min_pct_of_samples: float = 5.0
    qc_min_per_level: int = 2
    hold_checks: tuple[str, ...] = HOLD_CHECKS
    hold_width_ratio: tuple[float, float] = (0.5, 2.0)
    hold_is_apex_tolerance_min: float = 0.05
    # DROPOUT_LONG: a peak whose area rests on a filled dropout run, treated like FEW_POINTS;
    # DROPOUT_FILL: a fill from a co-eluting transition too uncertain for the area it carries
    hold_peak_flags: tuple[str, ...] = ("FUSED", "FEW_POINTS", "SPIKE", "DROPOUT_LONG", "DROPOUT_FILL")
    require_blank_zero: bool = True
    severity: Mapping[str, str] = field(default_factory=lambda: DEFAULT_SEVERITY)
    analytes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pos = (
            "qc_tolerance_pct", "qc_lloq_tolerance_pct", "carryover_limit_pct",
            "carryover_is_limit_pct", "is_cv_limit_pct", "rt_tolerance_pct",
            "ion_ratio_tolerance_pct", "interference_limit_pct", "interference_is_limit_pct",
        )
        for name in pos:
            if name == "ion_ratio_tolerance_pct" and self.ion_ratio_tolerance_pct == "tiered":
                continue
            v = getattr(self, name)
            if not _is_number(v) or not (0 < float(v) <= 1000):
                extra = ' or "tiered"' if name == "ion_ratio_tolerance_pct" else ""
                raise MethodError(f"must be a number > 0 (percent){extra}, got {v!r}", key=f"qc.{name}")
            object.__setattr__(self, name, float(v))
        v = self.calibration_r2_min
        if not _is_number(v) or not (0 <= float(v) < 1):
            raise MethodError(f"must be a number in [0, 1) (0 = not judged), got {v!r}",
                              key="qc.calibration_r2_min")
        object.__setattr__(self, "calibration_r2_min", float(v))
        for name in ("qc_min_fraction", "qc_min_level_fraction"):
            v = getattr(self, name)
            if not _is_number(v) or not (0 < float(v) <= 1):
                raise MethodError(f"must be a fraction in (0, 1], got {v!r}", key=f"qc.{name}")
            object.__setattr__(self, name, float(v))
        band = self.is_band_pct
        if (
            not isinstance(band, list | tuple)
            or len(band) != 2
            or not all(_is_number(b) for b in band)
            or not (0 <= float(band[0]) < 100 < float(band[1]))
        ):
            raise MethodError(
                f"must be [low, high] percent with low < 100 < high, got {band!r}", key="qc.is_band_pct"
            )
        object.__setattr__(self, "is_band_pct", (float(band[0]), float(band[1])))
        wr = self.hold_width_ratio
        if (not isinstance(wr, list | tuple) or len(wr) != 2 or not all(_is_number(b) for b in wr)
                or not (0 < float(wr[0]) < 1 < float(wr[1]))):
            raise MethodError(f"must be [low, high] multiples of the calibrators' median width with "
                              f"0 < low < 1 < high, got {wr!r}", key="qc.hold_width_ratio")
        object.__setattr__(self, "hold_width_ratio", (float(wr[0]), float(wr[1])))
        tol = self.hold_is_apex_tolerance_min
        if not _is_number(tol) or not (0 < float(tol) <= 10):
            raise MethodError(f"must be a number of minutes in (0, 10], got {tol!r}",
                              key="qc.hold_is_apex_tolerance_min")
        object.__setattr__(self, "hold_is_apex_tolerance_min", float(tol))
        for name, allowed in (("hold_checks", HOLD_CHECKS), ("hold_peak_flags", HOLDABLE_PEAK_FLAGS)):
            v = getattr(self, name)
            if isinstance(v, str) or not isinstance(v, list | tuple) or any(x not in allowed for x in v):
                raise MethodError(f"must be a list drawn from {list(allowed)}, got {v!r}", key=f"qc.{name}")
            object.__setattr__(self, name, tuple(v))
        rules = self.westgard_rules
        if isinstance(rules, str) or not isinstance(rules, list | tuple):
            raise MethodError(f"must be a list of rule names, got {rules!r}", key="qc.westgard_rules")
        for r in rules:
            if r not in WESTGARD_RULES:
                raise MethodError(f"unknown Westgard rule {r!r}; known: {list(WESTGARD_RULES)}", key="qc.westgard_rules")
        object.__setattr__(self, "westgard_rules", tuple(rules))
        mh = self.westgard_min_history
        if isinstance(mh, bool) or not isinstance(mh, int) or mh < 2:
            raise MethodError(f"must be an integer >= 2, got {mh!r}", key="qc.westgard_min_history")
        if self.westgard_history is not None and not isinstance(self.westgard_history, str):
            raise MethodError("must be a file path (string)", key="qc.westgard_history")
        for name in ("qc_min_count", "qc_min_per_level"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise MethodError(f"must be a whole number >= 0, got {v!r}", key=f"qc.{name}")
        v = self.qc_min_pct_of_samples
        if not _is_number(v) or not (0 <= float(v) <= 100):
            raise MethodError(f"must be a percentage 0-100, got {v!r}", key="qc.qc_min_pct_of_samples")
        object.__setattr__(self, "qc_min_pct_of_samples", float(v))
        if not isinstance(self.require_blank_zero, bool):
            raise MethodError(f"must be true or false, got {self.require_blank_zero!r}",
                              key="qc.require_blank_zero")
        sev = dict(DEFAULT_SEVERITY)
        if not isinstance(self.severity, Mapping):
            raise MethodError("must be a table of rule = 'reject' | 'warn'", key="qc.severity")
        for k, v in self.severity.items():
            if k not in DEFAULT_SEVERITY:
                raise MethodError(f"unknown rule {k!r}; known: {list(DEFAULT_SEVERITY)}", key=f"qc.severity.{k}")
            if v not in SEVERITIES:
                raise MethodError(f"must be 'reject' or 'warn', got {v!r}", key=f"qc.severity.{k}")
            sev[k] = v
        object.__setattr__(self, "severity", MappingProxyType(sev))
        if not isinstance(self.analytes, Mapping):
            raise MethodError("must be a table of analyte tables", key="qc.analytes")
        checked: dict[str, Mapping[str, Any]] = {}
        for name, over in self.analytes.items():
            if not isinstance(over, Mapping):
                raise MethodError("must be a table of overrides", key=f"qc.analytes.{name}")
            for k in over:
                if k not in PER_ANALYTE_KEYS:
                    raise MethodError(
                        f"cannot be set per analyte; allowed: {list(PER_ANALYTE_KEYS)}",
                        key=f"qc.analytes.{name}.{k}",
                    )
            try:
                replace(self, analytes={}, **dict(over))  # validate the values
            except MethodError as exc:
                raise MethodError(exc.reason, key=f"qc.analytes.{name}.{(exc.key or '').split('.')[-1]}") from None
            checked[str(name)] = MappingProxyType(dict(over))
        object.__setattr__(self, "analytes", MappingProxyType(checked))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> QCSettings:
        """Settings from the method file's ``[qc]`` table; unknown keys raise MethodError naming them."""
        if d is None:
            return cls()
        if not isinstance(d, Mapping):
            raise MethodError("the [qc] section must be a table", key="qc")
        known = {f.name for f in fields(cls)}
        for k in d:
            if k not in known:
                raise MethodError(f"unknown QC setting; known: {sorted(known)}", key=f"qc.{k}")
        return cls(**dict(d))

    def for_analyte(self, analyte: str) -> QCSettings:
        """These settings with the analyte's overrides applied."""
        over = self.analytes.get(analyte)
        if not over:
            return self
        return replace(self, **dict(over))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Mapping):
                v = {k: (dict(x) if isinstance(x, Mapping) else x) for k, x in v.items()}
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
