"""Vendor-like peak acceptance (``detect="events"``): ChemStation-style initial events.

The default :func:`~thioquant.peaks.find_peaks` reports a candidate when its USP signal-to-noise
(2H/h, h the peak-to-peak noise in a window of ``noise_window`` half-height widths) reaches
``sn_min``. That is the right rule for a limit of detection, but it is not how a data system
builds its peak table: ChemStation, for one, finds every slope-detected feature and keeps it
unless one of its *initial integration events* rejects it:

* **height reject** - the peak is lower than this (signal units);
* **area reject** - its area is smaller than this;
* **slope sensitivity** - the signal does not rise (before the apex) and fall (after it) faster
  than this, so the start / end of the peak is never triggered;
* **peak width** - the filtering applied before detection (thioquant's ``width_min``, or the
  width measured from the data).

With ``detect="events"`` the candidates are searched at the noise floor (prominence of three
smoothed-noise SDs, as with ``sn_min=0``) and accepted by those events instead of S/N. When no
``height_reject`` is given it is set, like ChemStation's Autointegrate, from the noise of the
trace: ``reject_noise`` times the high-frequency noise SD (median absolute first difference),
which - unlike the windowed peak-to-peak noise - is not inflated by drift, solvent fronts or
negative dips beside the peak. The S/N is still measured and LOW_SN still flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from thioquant.model import Peak
from thioquant.peaks.analyse import RawPeak, Region
from thioquant.peaks.settings import PeakSettings


@dataclass(frozen=True)
class Events:
    """The acceptance thresholds of one analysed region (absolute units)."""

    height_reject: float  # signal units
    area_reject: float  # signal x minutes
    slope_sensitivity: float  # signal units per minute (0 = off)


def analysis_settings(cfg: PeakSettings) -> PeakSettings:
    """Settings for the candidate search: every feature above the noise floor (no S/N gate)."""
    return replace(cfg, sn_min=0.0)


def thresholds(reg: Region, cfg: PeakSettings) -> Events:
    """Height / area reject and slope sensitivity for a region (automatic height reject)."""
    h = cfg.height_reject if cfg.height_reject is not None else cfg.reject_noise * reg.sigma
    return Events(float(h), float(cfg.area_reject), float(cfg.slope_sensitivity))


def slopes(reg: Region, rp: RawPeak) -> tuple[float, float]:
    """Steepest rise before the apex and steepest fall after it (smoothed signal, per minute)."""
    s, t = reg.s, reg.t
    a, i, b = rp.start, rp.apex, rp.end
    up = down = 0.0
    if i > a:
        up = float(np.max(np.diff(s[a : i + 1]) / np.diff(t[a : i + 1])))
    if b > i:
        down = float(-np.min(np.diff(s[i : b + 1]) / np.diff(t[i : b + 1])))
    return up, down


def accept(reg: Region, rp: RawPeak, pk: Peak, ev: Events, sign: float = 1.0,
           kept: Sequence[Peak] = ()) -> bool:
    """Whether a found peak passes the height reject, area reject and slope sensitivity.

    ``sign`` is -1 for the negative-peak pass (the region is the inverted signal), ``kept`` the
    peaks already accepted. A candidate must also be a peak of the analysed signal: positive
    height there, its apex inside its boundaries (a start, an apex and an end) unless it is cut
    by the edge of the trace, and - for a negative peak - no overlap with a positive one (the
    flank of a large positive peak is not a negative peak).
    """
    h = sign * pk.height
    if not (h > 0 and h >= ev.height_reject):
        return False
    if sign < 0 and any(q.height > 0 and q.start_min < pk.end_min and pk.start_min < q.end_min
                        for q in kept):
        return False
    if not abs(pk.area) >= ev.area_reject:
        return False
    if not rp.edge and not (rp.start < rp.apex < rp.end):
        return False
    if ev.slope_sensitivity > 0 and not rp.shoulder:
        up, down = slopes(reg, rp)
        if not (up >= ev.slope_sensitivity and down >= ev.slope_sensitivity):
            return False
    return True
