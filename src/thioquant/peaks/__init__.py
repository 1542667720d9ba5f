"""Peak engine: detection, integration, noise, metrics and EMG deconvolution.

Public API (Trace level): :func:`find_target`, :func:`find_peaks`, :func:`integrate`,
:func:`measure_noise`, :func:`read_overrides`, :func:`integrate_group` (co-eluting MRM
traces over shared boundaries), and :func:`track_targets` (retention times
followed over a sequence of injections). Array-level building blocks live in
:mod:`thioquant.peaks.core` (smoothing, widths, integration, shape, noise primitives),
:mod:`thioquant.peaks.analyse` (the region analyser: detection, boundaries, fused peaks,
deconvolution), :mod:`thioquant.peaks.survey` (target survey and width estimation),
:mod:`thioquant.peaks.baseline` (global baselines), :mod:`thioquant.peaks.emg` (EMG model and
fit) and :mod:`thioquant.peaks.settings` (validated settings).
"""

from __future__ import annotations

from thioquant.peaks.api import find_peaks, find_target, integrate, measure_noise
from thioquant.peaks.baseline import global_baseline
from thioquant.peaks.group import GroupResult, integrate_group
from thioquant.peaks.overrides import Override, read_overrides
from thioquant.peaks.settings import PeakSettings, make_settings
from thioquant.peaks.tracking import Tracked, track_targets

__all__ = [
    "GroupResult",
    "Override",
    "PeakSettings",
    "find_peaks",
    "find_target",
    "global_baseline",
    "integrate",
    "integrate_group",
    "make_settings",
    "measure_noise",
    "read_overrides",
    "track_targets",
    "Tracked",
]
