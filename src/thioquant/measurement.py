"""Per-injection measurement records and the channel helpers the pipeline, the measurement cache,
the report and the review app share.

They sit below all of those (imports point down: pipeline -> cache / report / review ->
measurement), so no module has to reach back into the pipeline for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from thioquant.assay.method import Compound
from thioquant.model import Peak


@dataclass(frozen=True)
class InjectionMeasurement:
    """Peaks measured in one injection, keyed by compound name (qualifiers as ``"<name> qualifier"``).

    ``error`` is set (and ``peaks`` empty) when the raw file could not be read, or, with
    ``internal_error``, when measuring it failed in thioquant itself. ``views`` holds
    decimated chromatogram views for the report when they were asked for (see
    :func:`thioquant.views.trace_views`).
    """

    file: str
    sha256: str = ""
    peaks: Mapping[str, Peak | None] = field(default_factory=dict)
    missing_traces: tuple[str, ...] = ()
    error: str = ""
    #: (key, flag code, reason) of channels that gave no result for a reason other than "no
    #: peak": the search window outside the recorded trace, a manual integration that failed
    problems: tuple[tuple[str, str, str], ...] = ()

    @property
    def unmeasured(self) -> dict[str, str]:
        """Channel key -> flag code for every channel that gave no result for a reason other than
        "no peak" (``NO_TRACE``, ``OUT_OF_TRACE``, ``MANUAL_FAILED``); the run QC and validate
        must not read those as a clean zero. Empty when the whole file failed (see ``error``)."""
        out = dict.fromkeys(self.missing_traces, "NO_TRACE")
        out.update({key: code for key, code, _ in self.problems})
        return out
    views: Mapping[str, Any] = field(default_factory=dict)
    internal_error: bool = False
    #: what the reader noted about the file while reading it as intended (an AIA retention array
    #: of the wrong length ignored...): messages, not flags
    notes: tuple[str, ...] = ()


def trace_for(run: Any, compound: Compound, qualifier: bool = False) -> Any:
    """The trace of ``compound``'s channel (its qualifier with ``qualifier``) in ``run``, or None."""
    ch = compound.qualifier if qualifier else compound.channel
    if ch is None:
        return None
    if ch.wavelength_nm is not None:
        return run.find_trace(wavelength_nm=ch.wavelength_nm)
    return run.find_trace(precursor_mz=ch.precursor_mz, product_mz=ch.product_mz)


def channel_keys(compounds: Sequence[Compound]) -> list[tuple[Compound, bool, str]]:
    """(compound, qualifier?, key) for every channel measured, in output order; the key is the
    compound's name, or ``"<name> qualifier"`` for its qualifier transition."""
    return [(c, q, f"{c.name} qualifier" if q else c.name)
            for c in compounds for q in (False, True) if not (q and c.qualifier is None)]


def searched_rt(comp: Compound, peaks: Mapping[str, Peak | None] | None) -> float:
    """Where ``comp`` is searched in an injection whose other peaks are ``peaks``: ``rt_min``, or
    ``rrt`` x its internal standard's peak there (see :meth:`Compound.expected_rt`)."""
    is_peak = (peaks or {}).get(comp.internal_standard) if comp.rrt is not None else None
    return comp.expected_rt(None if is_peak is None else is_peak.rt_min)
