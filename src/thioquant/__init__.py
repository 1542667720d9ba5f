"""thioquant: from raw chromatograms to erythrocyte-normalised thiopurine metabolite results.

The public API is imported lazily so that ``import thioquant`` (and the CLI's ``--help``)
stays fast; heavy dependencies load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "read_run": "thioquant.io",
    "find_peaks": "thioquant.peaks",
    "find_target": "thioquant.peaks",
    "fit_calibration": "thioquant.calibration",
    "quantify": "thioquant.pipeline",
    "load_method": "thioquant.assay.method",
    "read_worklist": "thioquant.assay.worklist",
    "simulate_batch": "thioquant.simulate",
    "validate_package": "thioquant.validation",
    "simulate_package": "thioquant.validation",
    "Trace": "thioquant.model",
    "Run": "thioquant.model",
    "Peak": "thioquant.model",
    "Calibration": "thioquant.model",
    "Result": "thioquant.model",
    "Channel": "thioquant.model",
    "ThioquantError": "thioquant.errors",
    "InputError": "thioquant.errors",
    "MethodError": "thioquant.errors",
    "CalibrationError": "thioquant.errors",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'thioquant' has no attribute '{name}'")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return __all__
