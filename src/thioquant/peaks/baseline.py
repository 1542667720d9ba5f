"""Global baseline of a trace's signal with pybaselines (``arpls``, ``asls``, ``snip``)."""

from __future__ import annotations

import warnings

import numpy as np

from thioquant.errors import InputError, MethodError
from thioquant.peaks import core
from thioquant.peaks.filters import minimum_nearest
from thioquant.peaks.settings import PeakSettings


def _global_baseline(t: np.ndarray, y: np.ndarray, cfg: PeakSettings, w50_pts: float) -> np.ndarray:
    """Global baseline of (t, y) with pybaselines (``arpls``, ``asls``, ``snip``) or zeros."""
    if cfg.baseline == "none":
        return np.zeros_like(y)
    return global_baseline(t, y, method=cfg.baseline, lam=cfg.baseline_lam, width_points=w50_pts)


def global_baseline(
    t: np.ndarray,
    y: np.ndarray,
    *,
    method: str = "arpls",
    lam: float | None = None,
    width_points: float = 20.0,
) -> np.ndarray:
    """Global baseline of a signal with pybaselines.

    Parameters
    ----------
    t, y : ndarray
        Time (minutes) and signal.
    method : {"arpls", "asls", "snip"}
        pybaselines algorithm.
    lam : float, optional
        Whittaker smoothness for arPLS / asLS. Default ``(2 * width_points) ** 4`` scaled so the
        baseline is stiff on the scale of a few peak widths whatever the sampling rate.
    width_points : float
        Typical half-height width of a peak, in points (sets the default ``lam`` and SNIP's
        half-window, ``3 * width_points``).

    Returns
    -------
    ndarray
        The baseline, same length as ``y``.
    """
    from pybaselines import Baseline

    y = np.asarray(y, dtype=float)
    fitter = Baseline(x_data=np.asarray(t, dtype=float))
    w = max(2.0, float(width_points))

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # pybaselines convergence notes are not errors here
            if method == "arpls":
                bl, _ = fitter.arpls(y, lam=lam if lam is not None else (2.0 * w) ** 4 * 10.0)
            elif method == "asls":
                bl, _ = fitter.asls(y, lam=lam if lam is not None else (2.0 * w) ** 4 * 10.0,
                                    p=0.01)
            elif method == "snip":
                hw = int(max(2, min(3.0 * w, (y.size - 1) // 2)))
                bl, _ = fitter.snip(y, max_half_window=hw, decreasing=True,
                                    smooth_half_window=int(max(1, w // 2)))
                # no baseline lies below the lowest data within its window; pybaselines' SNIP
                # can (it pads the edges with a line fitted to the first/last half-window, which
                # on a neighbour's flank runs far below the data): in a find_target sweep areas
                # came out up to 8x too large
                bl = np.maximum(bl, minimum_nearest(y, 2 * hw + 1))
            else:
                raise MethodError(f"unknown global baseline '{method}'; use arpls, asls or snip",
                                  key="baseline")
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise InputError(f"global baseline '{method}' failed on this trace: {exc}") from exc
    bl = np.asarray(bl, dtype=float)
    # lower-envelope methods sit under the noise: lift them by the median residual of the
    # points that are baseline (residual within 3 noise SD)
    r = y - bl
    sig = core.robust_sigma(y)
    base_pts = r[np.abs(r) < 3.0 * sig]
    if base_pts.size > 10:
        bl = bl + float(np.median(base_pts))
    return bl
