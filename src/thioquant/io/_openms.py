"""pyopenms, imported lazily and with its OpenMP pool limited.

Shared by the mzML reader (:mod:`thioquant.io.mzml`) and the own chromatogram parser
(:mod:`thioquant.io.mzml_chrom`, which hands numpress arrays to pyopenms), so neither imports
the other.
"""

from __future__ import annotations

import os
from typing import Any

# Threads whose OpenMP pool size has been set (omp_set_num_threads acts per calling thread).
_OMP_THREADS_SET: set[int] = set()
_OMP_SETTERS: list[Any] | None = None


def _pyopenms() -> Any:
    """Import pyopenms, with its OpenMP pool limited to THIOQUANT_OMP_THREADS (default 1).

    pyopenms decodes mzML with OpenMP threads. For the many small files of a batch they cost
    far more than they bring: on 2 busy cores a load took 32 ms with the default pool and 4 ms
    with one thread. The limit is set through the OpenMP runtime pyopenms loaded, once per
    calling thread (so thread pools are covered too), without touching the environment that
    child processes and other libraries would inherit.
    """
    import threading

    import pyopenms

    tid = threading.get_ident()
    if tid not in _OMP_THREADS_SET:
        _OMP_THREADS_SET.add(tid)
        n = os.environ.get("THIOQUANT_OMP_THREADS", "1")
        _set_openmp_threads(int(n) if n.isdigit() and int(n) > 0 else 1)
    return pyopenms


def _set_openmp_threads(n: int) -> None:
    """omp_set_num_threads(n) on every OpenMP runtime loaded in this process (Linux only)."""
    global _OMP_SETTERS
    if _OMP_SETTERS is None:
        import contextlib
        import ctypes

        _OMP_SETTERS = []
        try:
            with open("/proc/self/maps") as fh:
                libs = {ln.split()[-1] for ln in fh if "libgomp" in ln or "libomp" in ln}
        except OSError:
            libs = set()
        for lib in sorted(libs):
            with contextlib.suppress(OSError, AttributeError):
                _OMP_SETTERS.append(ctypes.CDLL(lib).omp_set_num_threads)
    for setter in _OMP_SETTERS:
        setter(n)
