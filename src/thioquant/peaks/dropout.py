"""Dropout runs in MRM traces: points the acquisition lost, bridged before peak finding (issue 18).

Real QTRAP MRM traces contain runs of exact zeros inside signal ("3719 0 0 0 0 0 0 102671"; 16 %
of real traces, 0.030 runs per signal point, median length 2, p90 17; docs/noise.md). Counting
statistics give a zero at a level of 10 counts with probability exp(-10) = 5e-5, so a run of
zeros with signal well above the baseline noise on *both* sides is missing data, not a baseline.
Left in, it cuts an internal standard's peak short (its boundary stops at the zero) or removes
its apex from the area.

The rule (:func:`find_dropouts`): a maximal run of values at or below the floor (0) is a dropout
when both points bounding it are at least ``min_counts`` counts (when the trace is count-quantised,
see :func:`thioquant.noise_model.count_quantum`) and at least ``k_sd`` robust noise SDs above the
trace's median level, with at least half of the ``CONTEXT`` points on either side of it measured
(non-zero: isolated points among zeros are not signal a run could interrupt). Runs touching either end of the trace are never bridged (nothing bounds
them). :func:`bridge_dropouts` replaces each dropout by the straight line between its bounding
points and returns the bridged runs, so a peak containing one can be flagged (``DROPOUT``, and
``DROPOUT_LONG`` when one run is longer than ``max_fraction`` of the peak's points:
:func:`dropout_flags`; ``DROPOUT_FILL`` when a run rebuilt from a co-eluting transition is too
uncertain for the share of the area it carries). A trace without dropouts is returned unchanged
(the same array).

A shorter step from zeros to signal (two or more zeros, then at least the threshold but under
``k_one`` times it) is what a peak rising from a zero baseline may look like, so it is a dropout
only when a co-eluting transition confirms it: filled from that transition (r >= ``min_corr``),
the run holds at least the threshold's worth of signal in all (>= ``min_counts`` counts, where
all zeros have probability < 2^-10 under the measured counting noise). The regenerated bundled
batch's QCL-2 6-TG qualifier lost 8 points of its rising edge that way (ion ratio -20.2 %, held).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from thioquant import flags as _flags
from thioquant.peaks.noise import median_inplace

DROPOUT = "DROPOUT"  # messages in thioquant.flags (readers of results.json need them too)
DROPOUT_LONG = "DROPOUT_LONG"
DROPOUT_FILL = "DROPOUT_FILL"
assert DROPOUT in _flags.FLAGS and DROPOUT_LONG in _flags.FLAGS and DROPOUT_FILL in _flags.FLAGS

# The defaults below are the method settings' defaults (``[integration]`` ``dropout_*`` keys,
# validated on load by thioquant.assay.method; docs/peaks.md, "Dropout runs", gives each one's
# source).

#: a zero beside this many counts of signal has probability exp(-10) = 5e-5 under counting noise
MIN_COUNTS = 10.0
#: and the bounding points must stand this many robust noise SDs above the trace's median level
K_SD = 10.0
#: points on either side of a run that must be mostly measured (non-zero)
CONTEXT = 10
#: a one-sided run (signal to baseline in one step) needs this many times the threshold
K_ONE = 20.0
#: a reference trace fills a run when it correlates at least this well around it
MIN_CORR = 0.95
#: one bridged run longer than this share of the peak's points makes the area unreliable
MAX_FRACTION = 0.2
#: a fill from a reference may move the peak's area by (filled share x the fitted scale's
#: relative SE) at most this much: twice it (about 95 %) stays within the 15 % accuracy tolerance
MAX_FILL_ERROR = 0.075


@dataclass(frozen=True)
class DropoutRule:
    """The limits of the dropout rule (defaults: the module constants; a method's
    ``[integration]`` ``dropout_*`` keys set them)."""

    min_counts: float = MIN_COUNTS
    k_sd: float = K_SD
    context: int = CONTEXT
    k_one: float = K_ONE
    min_corr: float = MIN_CORR
    max_fraction: float = MAX_FRACTION
    max_fill_error: float = MAX_FILL_ERROR

    def find_kwargs(self) -> dict[str, float]:
        """Keyword arguments of :func:`find_dropouts` (and :func:`bridge_dropouts`)."""
        return {"min_counts": self.min_counts, "k_sd": self.k_sd, "context": self.context,
                "k_one": self.k_one}


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each run of True."""
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _robust_sd(y: np.ndarray) -> float:
    """Noise SD from the median absolute first difference (robust to peaks and dropouts)."""
    d = np.abs(np.diff(y))
    d = d[np.isfinite(d)]
    # median_inplace: np.median's value (d is our own temporary) without its wrapper's overhead
    return float(1.4826 * median_inplace(d) / math.sqrt(2.0)) if d.size else 0.0


def find_dropouts(signal: np.ndarray, *, floor: float = 0.0, min_counts: float = MIN_COUNTS,
                  k_sd: float = K_SD, quantum: float | None = None, one_sided: bool = False,
                  context: int = CONTEXT, k_one: float = K_ONE) -> list[tuple[int, int]]:
    """Dropout runs of a trace: (start, end) index pairs, end exclusive.

    Parameters
    ----------
    signal : numpy.ndarray
        Intensities (cps for an MRM trace).
    floor : float
        Values at or below it are "dropped" (exact zeros in vendor files).
    min_counts : float
        Both bounding points must be at least this many counts (used when the trace is
        count-quantised).
    k_sd : float
        Both bounding points must be at least this many robust noise SDs (of first differences)
        above the trace's median, and at least 0.1 % of the trace's range above the floor.
    quantum : float, optional
        Signal per count; measured with :func:`~thioquant.noise_model.count_quantum` when None
        (NaN for a continuous signal: then only ``k_sd`` applies).
    one_sided : bool
        Also return runs that fall from (or rise to) signal at least ``k_one`` times the
        threshold straight to the baseline: a dropout that swallowed a peak's tail or front,
        which only a co-eluting reference trace can fill (:func:`bridge_dropouts`).
    context : int
        Points on either side of a run of which at least half must be measured (non-zero).
    k_one : float
        See ``one_sided``.

    Returns
    -------
    list of (int, int)
    """
    return _find(np.asarray(signal, dtype=float), floor=floor, min_counts=min_counts, k_sd=k_sd,
                 quantum=quantum, one_sided=one_sided, context=context, k_one=k_one)[0]


def _find(y: np.ndarray, *, floor: float, min_counts: float, k_sd: float, quantum: float | None,
          one_sided: bool, context: int, k_one: float) -> tuple[list[tuple[int, int]], float]:
    """:func:`find_dropouts`' runs and the threshold a bounding point had to pass (NaN when no
    run came near it)."""
    if y.size < 3:
        return [], math.nan
    low = y <= floor
    if not low.any() or low.all():
        return [], math.nan
    starts, ends = _runs(low)
    inner = (starts > 0) & (ends < y.size)
    if not inner.any():
        return [], math.nan
    starts, ends = starts[inner], ends[inner]
    fin = y[np.isfinite(y)]
    # the noise and range terms first: they are cheap, and on most traces no run passes them,
    # so the count step (a sort) is only measured when a run might count
    # median and noise on at most ~512 evenly spaced points: robust statistics, and this runs
    # on every MRM trace of every injection
    sub = fin[:: max(1, fin.size // 512)]
    thr = max(median_inplace(sub.copy()) + k_sd * max(_robust_sd(sub), 0.0),
              floor + 1e-3 * (float(fin.max()) - floor), floor + 1e-12)
    lo = np.minimum(y[starts - 1], y[ends])
    hi = np.maximum(y[starts - 1], y[ends])

    def passing(thr: float) -> np.ndarray:
        ok = np.isfinite(lo) & (lo >= thr)
        if one_sided:
            ok |= np.isfinite(hi) & (hi >= k_one * thr) & (ends - starts >= 2)
        return ok

    if not passing(thr).any():
        return [], math.nan
    if quantum is None:
        from thioquant.noise_model import count_quantum

        quantum = count_quantum(y)
    if not (math.isfinite(quantum) and quantum > 0):
        # a trace that is not count-quantised (or too sparse to tell): its smallest value step
        # stands in for one count
        u = np.unique(fin)
        steps = np.diff(u)
        steps = steps[steps > 0]
        quantum = float(steps.min()) if steps.size else 0.0
    thr = max(thr, floor + min_counts * quantum)
    ok = passing(thr)
    # inside signal, most points around the run are measured; isolated points among zeros (a
    # sparse trace) are not signal that a run could have interrupted
    # (all runs at once from a running count of measured points: k of n measured, k / n >= 0.5
    # exactly when 2 k >= n, n <= 2 context)
    if ok.any():
        cs = np.concatenate([[0], np.cumsum(y > floor)])
        a0, b1 = np.maximum(starts - context, 0), np.minimum(ends + context, y.size)
        k = (cs[starts] - cs[a0]) + (cs[b1] - cs[ends])
        n = (starts - a0) + (b1 - ends)
        ok &= (2 * k >= n) & (n > 0)  # no context points: np.mean's NaN failed the test
    return [(int(a), int(b)) for a, b in zip(starts[ok], ends[ok], strict=True)], thr


def bridge_dropouts(time_min: np.ndarray, signal: np.ndarray,
                    references: list[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]] | None = None,
                    *, min_corr: float = MIN_CORR, from_reference: set[tuple[int, int]] | None = None,
                    found: tuple[list[tuple[int, int]], float] | None = None,
                    fill_rel_se: dict[tuple[int, int], float] | None = None,
                    **rule: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The signal with each dropout run (:func:`find_dropouts`) filled, and the runs found.

    A run is filled from the co-eluting reference trace (e.g. the other transitions of the
    injection: an analyte and its labelled internal standard have one shape) that correlates best
    (r >= ``min_corr``) with the measured points around it and has no dropout of its own there,
    scaled to them by least squares; without one, a run bounded by signal on both sides is
    bridged by the straight line between its bounding points, and a one-sided run (a peak's tail
    or front lost) is left as it is (recorded, so its peak is flagged).

    Parameters
    ----------
    time_min, signal : numpy.ndarray
        The trace.
    references : list of (time_min, signal, dropout runs), optional
        Candidate reference traces with their own runs (``find_dropouts(..., one_sided=True)``).
    from_reference : set, optional
        Filled in with the runs rebuilt from a reference (the others were bridged by a line or
        left as they were).
    found : tuple, optional
        This signal's runs and threshold under the rule with one-sided steps a reference must
        confirm (``_find(signal, **_confirm_kwargs(rule))``), when the caller has them already
        (:class:`BridgedRun` finds them once per trace).
    fill_rel_se : dict, optional
        Filled in with each run rebuilt from a reference: the relative standard error of the
        filled sum (the fitted scale's and the reference's point noise, in quadrature; the
        fill's own uncertainty, see :func:`dropout_flags`).
    **rule
        Passed to :func:`find_dropouts`.

    Returns the input array itself (not a copy) when no run is found, so a trace without
    dropouts is measured exactly as before.
    """
    y = np.asarray(signal)
    yf = np.asarray(y, dtype=float)
    # one pass finds every run a bounding point at the threshold makes (the threshold does not
    # depend on k_one): two-sided runs, steep one-sided ones (>= k_one x the threshold: runs by
    # themselves), and the shorter steps a reference must confirm
    broad, thr = found if found is not None else _find(yf, **_confirm_kwargs(rule))
    if not broad:
        return y, []
    k_one = float(rule.get("k_one", K_ONE))
    # (np.minimum/np.maximum: NaN where a bounding point is NaN, as in _find)
    two_sided = {(a, b) for a, b in broad if np.minimum(yf[a - 1], yf[b]) >= thr}
    runs = [(a, b) for a, b in broad
            if (a, b) in two_sided or (np.maximum(yf[a - 1], yf[b]) >= k_one * thr and b - a >= 2)]
    # a shorter step from zeros to signal may be a peak rising from a zero baseline; it is a
    # dropout only where a co-eluting transition says the trace should carry at least the
    # threshold's worth of signal (below)
    confirm = [r for r in broad if r not in runs] if references else []
    if not runs and not confirm:
        return y, []
    t = np.asarray(time_min, dtype=float)
    out = np.array(y, dtype=float, copy=True)
    dropped = np.zeros(y.size, bool)
    for a, b in runs + confirm:
        dropped[a:b] = True
    for a, b in runs:
        fit: dict[str, float] = {}
        filled = _from_reference(t, out, dropped, a, b, references or [], min_corr, fit)
        if filled is not None:
            out[a:b] = filled
            if from_reference is not None:
                from_reference.add((a, b))
            if fill_rel_se is not None:
                fill_rel_se[(a, b)] = math.hypot(fit["rel_se"], fit["rel_pt"])
        elif (a, b) in two_sided:
            out[a:b] = np.interp(t[a:b], [t[a - 1], t[b]], [out[a - 1], out[b]])
    found = list(runs)
    for a, b in confirm:
        fit = {}
        filled = _from_reference(t, out, dropped, a, b, references or [], min_corr, fit)
        # exact zeros where the reference expects >= thr in all (at least min_counts counts, and
        # k_sd noise SDs): under counting noise such a run of zeros has probability < 2^-10
        if filled is not None and float(filled.sum()) >= thr:
            out[a:b] = filled
            found.append((a, b))
            if from_reference is not None:
                from_reference.add((a, b))
            if fill_rel_se is not None:
                fill_rel_se[(a, b)] = math.hypot(fit["rel_se"], fit["rel_pt"])
    if not found:
        return y, []
    return out, sorted(found)


def _confirm_kwargs(rule: dict[str, float]) -> dict[str, float]:
    """The rule's :func:`_find` arguments for one-sided runs a reference must confirm: a step from
    zeros to at least the threshold (``k_one`` = 1), two points or more."""
    kw = {"floor": 0.0, "min_counts": MIN_COUNTS, "k_sd": K_SD, "quantum": None, "context": CONTEXT, **rule}
    kw.update(one_sided=True, k_one=1.0)
    return kw


def _from_reference(t: np.ndarray, y: np.ndarray, dropped: np.ndarray, a: int, b: int,
                    references: list[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]],
                    min_corr: float = MIN_CORR, fit: dict | None = None) -> np.ndarray | None:
    """``y[a:b]`` rebuilt from the best-correlated reference trace, or None.

    ``fit``, when given, receives the fill's own uncertainty: ``rel_se``, the relative standard
    error of the scale fitted to the measured points (:func:`_scale_rel_se`), and ``rel_pt``,
    that of the filled points' sum from the reference's point noise (:func:`_point_rel_se`)."""
    n = b - a
    w0, w1 = max(0, a - max(2 * n, 8)), min(t.size, b + max(2 * n, 8))
    meas = np.arange(w0, w1)
    meas = meas[~dropped[w0:w1]]
    if meas.size < 5:
        return None
    ym = y[meas]
    if np.std(ym) == 0:  # the same for every reference (it was measured once per reference)
        return None
    best: tuple[float, np.ndarray] | None = None
    for tr_t, tr_y, tr_runs in references:
        tr_t = np.asarray(tr_t, dtype=float)
        if tr_t.size < 3:
            continue
        i0, i1 = np.searchsorted(tr_t, [t[w0], t[w1 - 1]])
        if any(ra < i1 and rb > i0 for ra, rb in tr_runs) or i1 - i0 < 5:
            continue  # its own dropout near this one, or it does not cover it
        yr = np.interp(t[w0:w1], tr_t, np.asarray(tr_y, dtype=float), left=np.nan, right=np.nan)
        rm = yr[meas - w0]
        if not np.isfinite(yr).all() or np.std(rm) == 0:
            continue
        # most references are other compounds, far below min_corr: a plain estimate of r (the
        # same centred sums; rounding differs from np.corrcoef's by ~1e-15, far inside the 1e-6
        # margin) rejects them without corrcoef's overhead, which decides every verdict it could
        xc, rc = ym - ym.mean(), rm - rm.mean()
        if float(np.dot(xc, rc)) < (min_corr - 1e-6) * math.sqrt(float(np.dot(xc, xc)) * float(np.dot(rc, rc))):
            continue
        r = float(np.corrcoef(ym, rm)[0, 1])
        if r >= min_corr and (best is None or r > best[0]):
            k = float(np.dot(ym, rm) / np.dot(rm, rm))
            best = (r, np.maximum(k * yr[a - w0 : b - w0], 0.0), k, rm)
    if best is None:
        return None
    if fit is not None:
        fit["rel_se"] = _scale_rel_se(ym, best[3], best[2])
        fit["rel_pt"] = _point_rel_se(ym, best[3], best[2], best[1])
    return best[1]


def _point_rel_se(ym: np.ndarray, rm: np.ndarray, k: float, filled: np.ndarray) -> float:
    """Relative SE of the filled points' sum from the reference's own point noise: the fit's
    relative residual scatter (all of it charged to the reference, noise taken to grow with
    the signal) over the filled points."""
    fs = float(filled.sum())
    if not fs > 0:
        return 0.0  # nothing filled in: no area rests on it
    if ym.size < 3:
        return math.inf
    e = ym - k * rm
    s_rel2 = float(np.dot(e, e)) / float(np.dot(k * rm, k * rm)) * ym.size / (ym.size - 1)
    return math.sqrt(s_rel2 * float(np.dot(filled, filled))) / fs


def _scale_rel_se(ym: np.ndarray, rm: np.ndarray, k: float) -> float:
    """Relative standard error of the least-squares scale ``k`` (``ym ~ k rm``, no intercept).

    The larger of the residual-scatter estimate (``s / sqrt(sum rm^2)``, s from the residuals
    with n - 1 degrees of freedom) and the jackknife over the fitting points (robust to noise
    that grows with the signal, and to one point that decides the scale). A fill is ``k`` times
    the reference, so every filled point carries this same relative error: unlike point noise
    it does not average out over the run.
    """
    n = ym.size
    if not (k > 0) or n < 3:
        return math.inf
    syr, srr = float(np.dot(ym, rm)), float(np.dot(rm, rm))
    e = ym - k * rm
    se = math.sqrt(float(np.dot(e, e)) / (n - 1) / srr)
    den = srr - rm * rm
    ok = den > 0
    if ok.sum() >= 3:
        kj = (syr - ym[ok] * rm[ok]) / den[ok]
        m = int(ok.sum())
        se = max(se, math.sqrt((m - 1) / m * float(np.sum((kj - kj.mean()) ** 2))))
    return se / k


def dropout_flags(time_min: np.ndarray, runs: list[tuple[int, int]], start_min: float, end_min: float,
                  *, max_fraction: float = MAX_FRACTION,
                  from_reference: set[tuple[int, int]] | frozenset[tuple[int, int]] = frozenset(),
                  signal: np.ndarray | None = None, area: float = math.nan,
                  fill_rel_se: Mapping[tuple[int, int], float] | None = None,
                  max_fill_error: float = MAX_FILL_ERROR) -> tuple[str, ...]:
    """Flags for a peak integrated between ``start_min`` and ``end_min`` on a bridged trace.

    ``DROPOUT`` when a bridged run has a point inside the peak; ``DROPOUT_LONG`` as well when one
    such run, bridged by a straight line or left unfilled, covers more than ``max_fraction`` of
    the peak's points (its area rests on a line, not on measured points). A run rebuilt from a
    co-eluting transition (``from_reference``: r >= ``min_corr`` with the measured points around
    it) is ``DROPOUT`` only: the fill follows the peak's measured shape (a 6-point run over the
    apex: within 3 %, where a line loses 35 %; tests/test_peaks_dropout.py) -- unless the fill
    itself is too uncertain: ``DROPOUT_FILL`` when the sum over such runs of (the share of the
    peak's area the run carries x the relative standard error of its filled sum,
    ``fill_rel_se``: the fitted scale's and the reference's point noise) exceeds ``max_fill_error``. A scale error moves every filled point alike, so
    it does not average out over the run; on noisy traces fitted on a few points of one flank it
    reached 20 % (docs/peaks.md, "Dropout runs"). The share is the filled points' signal x their
    spacing over ``area`` (the peak's area; the peak's summed ``signal`` when not finite); a run
    rebuilt from a reference without a recorded uncertainty is not judged (``signal`` or
    ``fill_rel_se`` not given).
    """
    if not runs or not (math.isfinite(start_min) and math.isfinite(end_min)):
        return ()
    t = np.asarray(time_min, dtype=float)
    i0, i1 = int(np.searchsorted(t, start_min, "left")), int(np.searchsorted(t, end_min, "right"))
    n = max(i1 - i0, 1)
    inside = [(min(b, i1) - max(a, i0), (a, b) in from_reference) for a, b in runs if min(b, i1) > max(a, i0)]
    if not inside:
        return ()
    long = any(k > max_fraction * n and not ref for k, ref in inside)
    out = (DROPOUT, DROPOUT_LONG) if long else (DROPOUT,)
    if signal is not None and fill_rel_se:
        bound = fill_error_bound(t, np.asarray(signal, dtype=float), runs, i0, i1, area, fill_rel_se)
        if not bound <= max_fill_error:  # (NaN: no usable area, held)
            out = (*out, DROPOUT_FILL)
    return out


def fill_error_bound(t: np.ndarray, y: np.ndarray, runs: list[tuple[int, int]], i0: int, i1: int,
                     area: float, fill_rel_se: Mapping[tuple[int, int], float]) -> float:
    """The relative error a peak's area (points ``i0:i1`` of the bridged trace ``y``) may carry
    from its runs rebuilt from a reference: sum of (filled share x the fit's relative SE).

    0 when no such run has a point inside the peak; NaN when the peak has no positive area."""
    bound = 0.0
    total = area if math.isfinite(area) and area > 0 else math.nan
    for a, b in runs:
        rel = fill_rel_se.get((a, b))
        lo, hi = max(a, i0), min(b, i1)
        if rel is None or hi <= lo:
            continue
        if not math.isfinite(total):
            s = float(np.sum(np.maximum(y[i0:i1], 0.0)))
            if not s > 0:
                return math.nan
            share = float(np.sum(np.maximum(y[lo:hi], 0.0))) / s
        else:
            # the filled points x their spacing (signal x minutes, as the peak's area)
            j0, j1 = max(lo - 1, 0), min(hi + 1, t.size)
            dt = float(t[j1 - 1] - t[j0]) / max(j1 - 1 - j0, 1)
            share = float(np.sum(np.maximum(y[lo:hi], 0.0))) * dt / total
        if share > 0:  # (a run filled with zeros carries no area, whatever its scale)
            bound += min(share, 1.0) * rel
    return bound


class BridgedRun:
    """A run (an injection's traces) whose MRM traces are served with their dropouts bridged.

    Wraps the reader's run for the peak search only: ``find_trace`` returns, for an MRM channel
    (``precursor_mz`` given), the trace with :func:`bridge_dropouts` applied (once per channel),
    and :meth:`flags_for` gives the dropout flags of a peak found on it. Other channels (UV) and
    traces without dropouts are the reader's own objects.
    """

    def __init__(self, run: object, rule: DropoutRule | None = None) -> None:
        self._run = run
        self.rule = rule or DropoutRule()
        self._rule = self.rule.find_kwargs()
        self._memo: dict[tuple, tuple[object, list[tuple[int, int]], set[tuple[int, int]],
                                      dict[tuple[int, int], float]]] = {}
        self._refs: list | None = None
        # each MRM trace's runs (with the steps a reference must confirm), found once: the trace's
        # own search, its bridging and the other traces' references all need them (they were
        # found 2-3 times per trace, about 1.5 ms of an injection's 15)
        self._found: dict[int, tuple[object, tuple[list[tuple[int, int]], float]]] = {}

    def find_trace(self, **key: float | None) -> object:
        """The trace ``run.find_trace(**key)`` returns, bridged when it is an MRM trace."""
        k = tuple(sorted(key.items()))
        if k not in self._memo:
            tr = self._run.find_trace(**key)  # type: ignore[attr-defined]
            runs: list[tuple[int, int]] = []
            refilled: set[tuple[int, int]] = set()
            rel_se: dict[tuple[int, int], float] = {}
            # references only for a trace with a run, or a step from zeros a reference may confirm
            if tr is not None and key.get("precursor_mz") is not None and self._runs_of(tr)[0]:
                y, runs = bridge_dropouts(tr.time_min, tr.signal, self._references(tr),
                                          min_corr=self.rule.min_corr, from_reference=refilled,
                                          found=self._runs_of(tr), fill_rel_se=rel_se, **self._rule)
                if runs:
                    from dataclasses import replace

                    tr = replace(tr, signal=y)
            self._memo[k] = (tr, runs, refilled, rel_se)
        return self._memo[k][0]

    def _runs_of(self, trace: object) -> tuple[list[tuple[int, int]], float]:
        """``_find`` of the trace's signal under the rule with the steps a reference must confirm
        (kept with the trace object itself, so an id cannot be reused)."""
        got = self._found.get(id(trace))
        if got is None or got[0] is not trace:
            got = (trace, _find(np.asarray(trace.signal, dtype=float),  # type: ignore[attr-defined]
                                **_confirm_kwargs(self._rule)))
            self._found[id(trace)] = got
        return got[1]

    def _references(self, trace: object) -> list[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]]:
        """The run's other MRM traces with their own dropout runs (found once per run)."""
        if self._refs is None:
            # a reference's runs include the steps from zeros it would need confirmed itself:
            # zeros beside signal near a run make it no reference there
            self._refs = [(tr, tr.time_min, tr.signal, self._runs_of(tr)[0])
                          for tr in getattr(self._run, "traces", ())
                          if getattr(tr.channel, "precursor_mz", None) is not None and len(tr) >= 3]
        return [(t, y, r) for tr, t, y, r in self._refs if tr is not trace]

    def flags_for(self, peak: object, *, max_fraction: float | None = None, **key: float | None
                  ) -> tuple[str, ...]:
        """Dropout flags of ``peak`` found on the trace of channel ``key`` (empty when none);
        ``max_fraction`` defaults to the rule's."""
        hit = self._memo.get(tuple(sorted(key.items())))
        if peak is None or hit is None or not hit[1]:
            return ()
        return dropout_flags(hit[0].time_min, hit[1], peak.start_min, peak.end_min,  # type: ignore[attr-defined]
                             max_fraction=self.rule.max_fraction if max_fraction is None else max_fraction,
                             from_reference=hit[2], signal=hit[0].signal,  # type: ignore[attr-defined]
                             area=float(getattr(peak, "area", math.nan)), fill_rel_se=hit[3],
                             max_fill_error=self.rule.max_fill_error)


__all__ = ["DROPOUT", "DROPOUT_FILL", "DROPOUT_LONG", "MAX_FILL_ERROR", "MAX_FRACTION", "BridgedRun", "DropoutRule", "bridge_dropouts", "dropout_flags",
           "fill_error_bound",
           "find_dropouts"]
