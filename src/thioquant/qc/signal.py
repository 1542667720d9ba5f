"""Signal integrity of one detector channel: dead channels, single-point spikes, saturation.

Pure functions on numpy arrays, applied to every channel a method reads before its peaks are
integrated (see :func:`thioquant.pipeline.measure_injection` and ``docs/qc.md``, "Signal
integrity"). No single standard governs these checks; they follow laboratory practice
(``domain.md`` section 4): a saturated peak is not quantified (dilute and re-inject; a saturated
calibrator is excluded with that reason), and a channel with no signal at all is an instrument
fault, not "not detected".

Rules
-----
* **Dead channel** (:func:`dead_channel_reason`): no finite point; a constant trace (a detector
  stuck at one value); for a count channel (SRM/MRM, XIC, TIC) a trace whose most negative value
  exceeds its most positive one in size (counts are never negative: an inverted or corrupted
  array); and, where the method expects baseline noise (``expect_baseline_noise``, default
  true), a trace that is all zero or has no variation at all away from its tallest point.
* **Single-point spike** (:func:`find_spikes`): one point whose rise above the larger of its two
  neighbours exceeds ``spike_factor`` (default 10) times the height, above the trace's minimum,
  of everything else in the trace. On 909 real MRM traces (QTRAP BloodProject and yeast Sacc1,
  OpenMS test files) and the bundled batch, that ratio is at most 4.0 for ion statistics (apart
  from one trace holding a single count burst and nothing else); a detector glitch of 10^9 in a
  peak of 4x10^5 gives 2,500. Up to :data:`MAX_SPIKES` spikes are removed, tallest first, each
  replaced by the mean of its two neighbours.
* **Saturation at the detector's stated maximum** (:func:`reaches_max`): any point between the
  peak's bounds at or above ``detector_max`` (the flat-top rule itself is the peak engine's
  ``SATURATED``).
"""

from __future__ import annotations

import numpy as np

DEAD_CHANNEL = "DEAD_CHANNEL"  # messages in thioquant.flags
SPIKE = "SPIKE"

#: channel kinds whose values are ion counts (never negative)
COUNT_KINDS = frozenset({"srm", "xic", "tic"})
#: at most this many spikes are removed from one trace (more is not a glitch but a broken channel)
MAX_SPIKES = 5


def dead_channel_reason(signal: np.ndarray, kind: str = "", *, expect_baseline_noise: bool = True) -> str:
    """Why a channel is dead, or '' when it carries a signal.

    Parameters
    ----------
    signal : the trace's values.
    kind : the channel kind (``"srm"``, ``"uv"``...): negative values are judged for count
        channels only (a UV baseline may sit below zero).
    expect_baseline_noise : the method expects chemical or electronic noise on this channel; an
        all-zero trace, or one whose values away from its tallest point never vary, is then dead.
    """
    y = np.asarray(signal, dtype=float)
    ok = np.isfinite(y)
    fin = y if ok.all() else y[ok]
    if fin.size == 0:
        return "no finite value in the trace"
    lo, hi = float(fin.min()), float(fin.max())
    if lo == hi:
        if lo == 0.0:
            return "all zero" if expect_baseline_noise else ""
        return f"constant at {lo:g} over the whole trace (a detector stuck at one value)"
    if kind in COUNT_KINDS and lo < 0 and -lo > hi:
        return (f"negative counts (minimum {lo:g}, maximum {hi:g}): an inverted or corrupted "
                "intensity array")
    if expect_baseline_noise and fin.size >= 20:
        # the baseline, away from the tallest point: a real detector's never repeats one value
        i = int(np.argmax(fin))
        q = max(2, fin.size // 10)
        parts = [p for p in (fin[: max(i - q, 0)], fin[i + q:]) if p.size]
        n_away = sum(p.size for p in parts)
        if n_away >= 10:
            v = float(parts[0][0])
            if all(float(p.min()) == v == float(p.max()) for p in parts):
                return (f"no baseline noise: {n_away} points away from the peak all equal {v:g} "
                        "(the method expects baseline noise on this channel)")
    return ""


def find_spikes(signal: np.ndarray, spike_factor: float = 10.0, max_spikes: int = MAX_SPIKES) -> list[int]:
    """Indices of single-point spikes, tallest first (see the module's rule).

    A point is a spike when its rise above the larger of its two neighbours exceeds
    ``spike_factor`` times the height, above the trace's minimum, of every other point (the
    point and its neighbours left out). The first and last points are not judged. Only the
    trace's maximum can be one (any other point has a taller point outside its neighbours, or
    next to it), so each round looks at that point alone.
    """
    y = np.asarray(signal, dtype=float)
    n = y.size
    if n < 5 or not np.isfinite(y).all():
        return []
    base = float(y.min())
    out: list[int] = []
    for _ in range(max_spikes):
        i = int(np.argmax(y))
        if i == 0 or i == n - 1:
            break
        rise = float(y[i]) - max(float(y[i - 1]), float(y[i + 1]))
        other = max(float(y[: i - 1].max()) if i > 1 else base, float(y[i + 2:].max()) if i + 2 < n else base)
        if not (rise > 0 and rise > spike_factor * max(other - base, 0.0)):
            break
        if not out:
            y = y.copy()  # the caller's array is never changed
        out.append(i)
        y[i] = 0.5 * (y[i - 1] + y[i + 1])
    return out


def median(values: np.ndarray) -> float:
    """Median of finite values (the caller filters them), by sorting: ``np.median`` imports
    ``numpy.ma``, 0.1 s of a large batch's serial tail (tests/test_peaks_filters.py). NaN when
    empty."""
    s = np.sort(np.asarray(values, dtype=float).ravel())
    n = s.size
    if n == 0:
        return float("nan")
    k = n // 2
    return float(s[k]) if n % 2 else 0.5 * float(s[k - 1] + s[k])


def despike(signal: np.ndarray, indices: list[int]) -> np.ndarray:
    """A copy of ``signal`` with each spike replaced by the mean of its two neighbours (in the
    order found, as :func:`find_spikes` did)."""
    y = np.array(signal, dtype=float)
    for i in indices:
        y[i] = 0.5 * (y[i - 1] + y[i + 1])
    return y


def reaches_max(time_min: np.ndarray, signal: np.ndarray, start_min: float, end_min: float,
                detector_max: float | None) -> bool:
    """True when a point between ``start_min`` and ``end_min`` is at or above ``detector_max``."""
    if detector_max is None:
        return False
    t = np.asarray(time_min, dtype=float)
    a, b = np.searchsorted(t, start_min, "left"), np.searchsorted(t, end_min, "right")
    seg = np.asarray(signal, dtype=float)[a:b]
    return bool(seg.size and np.nanmax(seg) >= detector_max)


__all__ = ["COUNT_KINDS", "DEAD_CHANNEL", "MAX_SPIKES", "SPIKE", "dead_channel_reason", "despike",
           "find_spikes", "median", "reaches_max"]
