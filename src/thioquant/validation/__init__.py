"""Method validation (ICH M10, ICH Q2(R2), USP <621>) as a reproducible computation.

A validation package is a folder of run sub-folders (each an ordinary batch) plus a
``package.toml`` that maps every injection to its experiment, and a ``truth.csv`` when simulated.

- :func:`simulate_package` writes a package for a method, with deliberate failures by option.
- :func:`validate_package` quantifies every run and returns a :class:`ValidationReport` with each
  experiment's tables and judged criteria; ``report.write(out_dir)`` writes ``validation.html``
  and ``validation.xlsx``; ``report.to_dataframe(...)`` gives pandas tables.

See ``docs/validation.md``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_API = {
    "Criteria": "thioquant.validation.criteria",
    "Design": "thioquant.validation.design",
    "FAILURES": "thioquant.validation.design",
    "StabilityCondition": "thioquant.validation.design",
    "Package": "thioquant.validation.package",
    "read_package": "thioquant.validation.package",
    "simulate_package": "thioquant.validation.simulate",
    "ValidationReport": "thioquant.validation.validate",
    "validate_package": "thioquant.validation.validate",
    "Experiment": "thioquant.validation.experiments",
    "Check": "thioquant.validation.experiments",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'thioquant.validation' has no attribute '{name}'")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return __all__
