"""The measurement of one injection: read -> signal screen -> peaks of every channel.

:func:`measure_injection` is a pure function of one raw file and the method (it is what a
process pool or a distributed engine maps over, :mod:`thioquant.executors`); it screens each
channel's signal (dead channels, spikes, apex bursts), searches each compound's peak with the
expected width of the run (:func:`calibrator_widths`, :func:`width_hint`) and integrates an MRM
analyte's transition group over shared boundaries. The records and channel helpers live in
:mod:`thioquant.measurement`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from thioquant.assay.method import Compound, Method
from thioquant.assay.worklist import WorklistEntry
from thioquant.errors import InputError, MethodError, ThioquantError
from thioquant.measurement import InjectionMeasurement, channel_keys, searched_rt
from thioquant.measurement import trace_for as _trace_for
from thioquant.model import Peak


def measure_injection(
    path: str | Path,
    method: Method,
    manual: Mapping[str, tuple[float, float]] | None = None,
    views: bool = False,
    blanks: Mapping[str, Any] | None = None,
    widths: Mapping[str, float] | None = None,
) -> InjectionMeasurement:
    """Read one raw file and integrate every analyte, qualifier and internal standard.

    Parameters
    ----------
    path : raw file.
    method : the assay method.
    manual : optional manual integrations, compound name -> (start_min, end_min).
    views : also keep decimated chromatogram views for the report (a few kB per injection).
    blanks : compound name (``"<name> qualifier"`` for a qualifier) -> a blank injection's trace of
        that channel, for S/N against the blank (``noise_source = "blank"``).
    widths : channel key -> the calibrators' median half-height width (minutes), the run's
        expected width of that peak (:func:`calibrator_widths`; :func:`width_hint`).

    Never raises for a bad file, nor for an internal error while measuring it: the reason is
    returned in ``error`` (``internal_error`` set for the latter) so the batch goes on. A
    :class:`~thioquant.errors.MethodError` is raised: it concerns every injection.
    """
    from thioquant.io import read_run

    try:
        run = read_run(path)
    except ThioquantError as exc:
        return InjectionMeasurement(str(path), error=str(exc))
    try:
        read = run
        run, screen = _screen_run(run, method)
        return _apply_screen(_measure_run(run, path, method, manual, views, blanks, widths, shown=read),
                             run, screen, method)
    except MethodError:
        raise  # a setting of the method, not this file: the batch cannot go on
    except ThioquantError as exc:
        msg = str(exc)
        return InjectionMeasurement(str(path), error=msg if str(path) in msg else f"{path}: {msg}")
    except Exception as exc:  # noqa: BLE001 - one injection's bug must not stop the batch
        return InjectionMeasurement(
            str(path), internal_error=True,
            error=f"{path}: could not be measured: internal error ({type(exc).__name__}: {exc}); "
                  "please report it with this file",
        )


def _measure_run(run: Any, path: str | Path, method: Method, manual: Mapping[str, tuple[float, float]] | None,
                 views: bool, blanks: Mapping[str, Any] | None,
                 widths: Mapping[str, float] | None = None, shown: Any = None) -> InjectionMeasurement:
    from thioquant.peaks import integrate
    from thioquant.peaks.dropout import BridgedRun

    # the peak search sees MRM traces with their dropout runs bridged (issue 18; the method's
    # [integration] dropout settings); views keep the trace as read (``shown``: before spikes
    # were corrected, as the report shows it when it reads the file again)
    rule = method.integration.dropout_rule()
    raw = run
    if rule is not None:
        run = BridgedRun(run, rule)
    # (compound, qualifier?, key) in the order of the outputs; internal standards are measured
    # first, since an analyte with a relative retention is searched relative to its IS's peak,
    # and its transition group (quantifier, qualifier, IS) shares the IS's boundaries
    jobs = channel_keys(method.analytes + method.internal_standards)
    is_names = {c.name for c in method.internal_standards}
    is_users: dict[str, int] = {}
    for c in method.analytes:
        if c.internal_standard:
            is_users[c.internal_standard] = is_users.get(c.internal_standard, 0) + 1
    found: dict[str, Peak | None] = {}
    absent: set[str] = set()
    problems: list[tuple[str, str, str]] = []
    for comp, qual, key in sorted(jobs, key=lambda j: j[0].name not in is_names):  # stable
        if key in found:  # measured with its transition group
            continue
        trace = _trace_for(run, comp, qualifier=qual)
        if trace is None:
            found[key] = None
            absent.add(key)
            continue
        if manual and key in manual:
            start, end = manual[key]
            try:
                found[key] = integrate(trace, start, end)
            except InputError as exc:  # this channel's override, not the whole injection
                found[key] = None
                problems.append((key, "MANUAL_FAILED", exc.reason))
            continue
        integ = comp.integration or method.integration
        found[key] = _search(comp, integ, key, trace, found, blanks, problems,
                             width_hint(comp, key, found, widths))
        if not qual and comp.name not in is_names and integ.transition_group:
            _group(run, method, comp, integ, trace, found, absent, manual, blanks, problems,
                   is_users, widths)
    peaks: dict[str, Peak | None] = {key: _with_dropout_flags(run, comp, qual, found[key])
                                     for comp, qual, key in jobs}
    missing = [key for _, _, key in jobs if key in absent]
    kept: dict[str, Any] = {}
    if views:
        from thioquant.views import trace_views

        kept = trace_views(raw if shown is None else shown, peaks, method)
    return InjectionMeasurement(str(path), raw.sha256 or "", peaks, tuple(missing), views=kept,
                                problems=tuple(problems),
                                notes=tuple(str(n) for n in raw.metadata.get("reader_notes", ())))


def _with_dropout_flags(run: Any, comp: Compound, qual: bool, pk: Peak | None) -> Peak | None:
    """``pk`` with DROPOUT (DROPOUT_LONG) added when its boundaries hold a bridged dropout run."""
    ch = comp.qualifier if qual else comp.channel
    if pk is None or ch is None or ch.precursor_mz is None:
        return pk
    if not hasattr(run, "flags_for"):  # bridge_dropouts = false
        return pk
    extra = run.flags_for(pk, precursor_mz=ch.precursor_mz, product_mz=ch.product_mz)
    return replace(pk, flags=(*pk.flags, *extra)) if extra else pk


def coeluting_partners(run: Any, method: Method) -> dict[int, list[Any]]:
    """The traces that co-elute with each trace of ``run``, keyed by ``id(trace)``.

    An analyte's quantifier, qualifier and labelled internal standard: the apex-burst screen
    tells a burst (one channel's) from a sharp apex (every channel's) by them.
    """
    partners: dict[int, list[Any]] = {}
    by_name = {c.name: c for c in method.internal_standards}
    for comp in method.analytes:
        members = [_trace_for(run, comp), _trace_for(run, comp, qualifier=True)]
        if comp.internal_standard in by_name:
            members.append(_trace_for(run, by_name[comp.internal_standard]))
        members = [m for m in members if m is not None]
        for m in members:
            partners.setdefault(id(m), []).extend(o for o in members if o is not m)
    return partners


def _screen_run(run: Any, method: Method) -> tuple[Any, dict[str, tuple[str, list[float], list[tuple]]]]:
    """Signal integrity of every channel the method reads, before integration (docs/qc.md).

    Returns the run with single-point spikes removed from its traces (``despike``), apex bursts
    of count channels replaced by their local fit (``apex_spikes``), and its dead channels left
    out (they must not shape a transition group's shared boundaries), and, per channel key,
    (dead-channel reason or '', times of the spikes removed, apex bursts corrected as
    (first time, last time, excess area in signal x minutes, size as a multiple of the fit)).
    """
    from thioquant.peaks.noise import trace_noise_of
    from thioquant.qc.signal import (
        COUNT_KINDS,
        apex_noise_sd,
        dead_channel_reason,
        despike,
        find_apex_spikes,
        find_spikes,
        fix_apex_spikes,
    )

    partners = coeluting_partners(run, method)
    done: dict[int, tuple[Any, str, list[float], list[tuple]]] = {}
    found: dict[str, tuple[str, list[float], list[tuple]]] = {}
    for comp, qual, key in channel_keys(method.analytes + method.internal_standards):
        trace = _trace_for(run, comp, qualifier=qual)
        if trace is None:
            continue
        if id(trace) not in done:  # a UV trace may serve two compounds: judge it once
            integ = comp.integration or method.integration
            why = dead_channel_reason(trace.signal, trace.channel.kind,
                                      expect_baseline_noise=integ.expect_baseline_noise)
            spikes = [] if why or not integ.despike else find_spikes(trace.signal, integ.spike_factor)
            sig = despike(trace.signal, spikes) if spikes else trace.signal
            apex: list[tuple] = []
            if not why and integ.apex_spikes and trace.channel.kind in COUNT_KINDS:
                # the trace's noise model, kept on it for its search, when the screen judges its own signal
                tn = (lambda tr=trace: trace_noise_of(tr)) if sig is trace.signal else None
                bursts = find_apex_spikes(sig, apex_noise_sd(sig, noise=tn), k_sd=integ.apex_spike_k_sd,
                                          ratio=integ.apex_spike_ratio, time_min=trace.time_min,
                                          partners=[(o.time_min, o.signal) for o in partners.get(id(trace), ())
                                                    if o is not trace])
                if bursts:
                    t = trace.time_min
                    for i0, w, fit in bursts:
                        # the trapezoid's change: each point carries half of its two intervals
                        excess = sum(float(sig[j] - fit[j - i0]) * 0.5 * float(t[j + 1] - t[j - 1])
                                     for j in range(i0, i0 + w))
                        apex.append((float(t[i0]), float(t[i0 + w - 1]), excess,
                                     max(float(sig[j]) / float(fit[j - i0]) for j in range(i0, i0 + w))))
                    sig = fix_apex_spikes(sig, bursts)
            clean = replace(trace, signal=sig) if (spikes or apex) else trace
            done[id(trace)] = (clean, why, [float(trace.time_min[i]) for i in spikes], apex)
        clean, why, times, apex = done[id(trace)]
        found[key] = (why, times, apex)
    swapped = {i: c for i, (c, _, times, apex) in done.items() if times or apex}
    dead = {i for i, (_, why, _, _) in done.items() if why}
    if swapped or dead:
        run = replace(run, traces=tuple(swapped.get(id(t), t) for t in run.traces if id(t) not in dead))
    return run, found


def _apply_screen(meas: InjectionMeasurement, run: Any,
                  screen: Mapping[str, tuple[str, list[float], list[tuple]]],
                  method: Method) -> InjectionMeasurement:
    """Channel findings onto the measurement: a dead channel has no peak (``DEAD_CHANNEL`` in
    ``problems``); a peak gets ``SPIKE`` when a removed spike lay in its window or bounds,
    ``SPIKE_APEX`` (with a ``problems`` line saying what was done) when an apex burst between its
    bounds was replaced by its local fit, and ``SPIKE`` too when that correction exceeds
    ``apex_spike_hold_pct`` % of its area; ``SATURATED`` when a point between its bounds reaches
    the detector's stated maximum."""
    from thioquant.qc.signal import reaches_max

    if meas.error or not screen:
        return meas
    peaks = dict(meas.peaks)
    problems = list(meas.problems)
    notes = list(meas.notes)  # what was done to a trace: a message, not a lost channel
    dead = {key for key, (why, _, _) in screen.items() if why}
    for comp, qual, key in channel_keys(method.analytes + method.internal_standards):
        if key not in screen:
            continue
        why, spikes, apex = screen[key]
        if why:  # left out of the run measured: not "no trace" but a dead one
            peaks[key] = None
            problems = [p for p in problems if p[0] != key]
            problems.append((key, "DEAD_CHANNEL", f"{key}: dead channel: {why}"))
            continue
        pk = peaks.get(key)
        if pk is None:
            continue
        add = []
        rt = searched_rt(comp, peaks)
        if any(pk.start_min <= t <= pk.end_min or abs(t - rt) <= comp.window_min for t in spikes):
            add.append("SPIKE")
        integ = comp.integration or method.integration
        inside = [a for a in apex if pk.start_min <= a[0] and a[1] <= pk.end_min]
        if inside:
            excess = sum(a[2] for a in inside)
            pct = 100.0 * excess / pk.area if pk.area > 0 else math.inf
            add.append("SPIKE_APEX")
            if pct > integ.apex_spike_hold_pct and "SPIKE" not in add:
                add.append("SPIKE")
            where = ", ".join(f"{a[0]:.3f} min ({a[3]:.2f}x)" if a[0] == a[1] else
                              f"{a[0]:.3f}-{a[1]:.3f} min ({a[3]:.2f}x)" for a in inside)
            notes.append(f"{key}: SPIKE_APEX: burst above the local fit of its neighbours at {where} replaced by "
                             f"the fit before width and integration, removing {pct:.1f} % of the area "
                             + ("(held: more than " if pct > integ.apex_spike_hold_pct else "(not held: within ")
                             + f"{integ.apex_spike_hold_pct:g} %)")
        if integ.detector_max is not None and "SATURATED" not in pk.flags:
            trace = _trace_for(run, comp, qualifier=qual)
            if trace is not None and reaches_max(trace.time_min, trace.signal, pk.start_min, pk.end_min,
                                                 integ.detector_max):
                add.append("SATURATED")
        if add:
            peaks[key] = replace(pk, flags=(*pk.flags, *add))
    return replace(meas, peaks=peaks, problems=tuple(problems), notes=tuple(notes),
                   missing_traces=tuple(k for k in meas.missing_traces if k not in dead))


def is_peak_width(comp: Compound, found: Mapping[str, Peak | None]) -> float | None:
    """The half-height width (minutes) of ``comp``'s internal standard's peak in this injection,
    the expected width of the analyte's own peaks (a labelled IS has the analyte's shape); None
    for an internal standard itself, without an IS peak, or when its width is unknown."""
    pk = found.get(comp.internal_standard) if comp.internal_standard else None
    w = pk.width_50_min if pk is not None else math.nan
    return w if math.isfinite(w) and w > 0 else None


#: peak flags that make a calibrator's width no reference for the run's expected width
_NOT_A_WIDTH = frozenset({"FUSED", "SHOULDER", "FEW_POINTS", "EDGE", "SATURATED", "SPIKE", "DROPOUT_LONG",
                          "DROPOUT_FILL"})


def calibrator_widths(entries: Sequence[WorklistEntry], measurements: Sequence[InjectionMeasurement],
                      min_n: int = 3) -> dict[str, float]:
    """Per channel key, the median half-height width (minutes) of the calibrators' peaks: what
    the run knows of each compound's width (issue 18). Peaks split, cut, saturated, spiked or
    bridged over a long dropout do not count; a channel with fewer than ``min_n`` usable
    calibrator peaks gets none."""
    got: dict[str, list[float]] = {}
    for e, meas in zip(entries, measurements, strict=True):
        if e.sample_type != "calibrator" or not e.usable or meas.error:
            continue
        for key, pk in meas.peaks.items():
            if pk is None or _NOT_A_WIDTH & set(pk.flags):
                continue
            w = pk.width_50_min
            if math.isfinite(w) and w > 0:
                got.setdefault(key, []).append(float(w))
    out = {}
    for key, ws in got.items():
        if len(ws) >= min_n:
            ws.sort()
            h = len(ws) // 2
            out[key] = ws[h] if len(ws) % 2 else 0.5 * (ws[h - 1] + ws[h])
    return out


def width_hint(comp: Compound, key: str, found: Mapping[str, Peak | None],
               widths: Mapping[str, float] | None) -> float | None:
    """The expected half-height width (minutes) of ``comp``'s peak on channel ``key`` in this
    injection, for :func:`~thioquant.peaks.find_target` (which uses it only against a width
    of its own off by more than a factor of 2).

    The labelled internal standard's width in the same injection (:func:`is_peak_width`; it
    follows this injection's chromatography), unless it lies outside 0.5-2x the calibrators'
    median width of that IS (``widths``, :func:`calibrator_widths`): then the IS peak itself is
    implausible (a 2x spike on its apex read 0.12-0.19x in the measured-noise batches, and as
    the hint it cut the analyte to 1.400-1.496 min, -19.8 %), and the peak's own width is
    measured without a hint. The calibrators' width is a plausibility reference here, not the
    hint itself: forced on a peak that is really broader (all three channels of an injection
    three times as wide) it hid the width that the hold rule must see.
    """
    is_w = is_peak_width(comp, found)
    if is_w is None or not widths:
        return is_w
    ref = widths.get(comp.internal_standard or "")
    if ref is not None and not 0.5 * ref <= is_w <= 2.0 * ref:
        return None
    return is_w


def _search(comp: Compound, integ: Any, key: str, trace: Any, found: Mapping[str, Peak | None],
            blanks: Mapping[str, Any] | None, problems: list[tuple[str, str, str]],
            expected_w50: float | None) -> Peak | None:
    """``find_target`` for one channel of ``comp``, with its problems recorded."""
    from thioquant.peaks import find_target

    rt = searched_rt(comp, found)
    pk = find_target(trace, rt, comp.window_min, select=comp.select,
                     blank=blanks.get(key) if blanks else None, expected_w50_min=expected_w50,
                     **integ.peak_settings())
    t_rec = trace.time_min
    if pk is None and rt is not None and t_rec.size and (
            rt - comp.window_min < t_rec[0] or rt + comp.window_min > t_rec[-1]):
        # a truncated file, or a trace of another method: "not detected" would be read as a
        # patient result
        problems.append((key, "OUT_OF_TRACE",
                         f"{key}: the search window {rt - comp.window_min:.2f}-"
                         f"{rt + comp.window_min:.2f} min is not within the recorded trace "
                         f"({t_rec[0]:.2f}-{t_rec[-1]:.2f} min)"))
    if pk is not None and comp.rrt is not None and found.get(comp.internal_standard) is None:
        pk = replace(pk, flags=(*pk.flags, "RRT_NO_IS"))
    return pk


def _group(run: Any, method: Method, comp: Compound, integ: Any, trace: Any,
           found: dict[str, Peak | None], absent: set[str],
           manual: Mapping[str, tuple[float, float]] | None, blanks: Mapping[str, Any] | None,
           problems: list[tuple[str, str, str]], is_users: Mapping[str, int],
           widths: Mapping[str, float] | None = None) -> None:
    """Integrate an MRM analyte's quantifier, qualifier and labelled internal standard over
    shared boundaries (:func:`~thioquant.peaks.integrate_group`), updating ``found`` in place.

    Each member is first searched on its own (detection, S/N and problems stay its own); a
    member with a manual integration stays out of the group. The IS's peak is replaced by its
    group integration only when no other analyte uses that IS (otherwise it only helps to
    shape this group's consensus).
    """
    from thioquant.peaks import integrate_group

    if comp.channel.precursor_mz is None:
        return
    key = comp.name
    members: list[tuple[str, Any, Peak | None]] = [(key, trace, found.get(key))]
    qkey = f"{comp.name} qualifier"
    if comp.qualifier is not None and not (manual and qkey in manual):
        qtr = _trace_for(run, comp, qualifier=True)
        if qtr is None:
            found[qkey] = None
            absent.add(qkey)
        else:
            found[qkey] = _search(comp, integ, qkey, qtr, found, blanks, problems,
                                  width_hint(comp, qkey, found, widths))
            members.append((qkey, qtr, found[qkey]))
    is_comp = next((c for c in method.internal_standards if c.name == comp.internal_standard), None)
    if is_comp is not None and is_comp.name in found and not (manual and is_comp.name in manual):
        itr = _trace_for(run, is_comp)
        if itr is not None:
            members.append((is_comp.name, itr, found[is_comp.name]))
    if len(members) < 2:
        return
    g = integrate_group([m[1] for m in members], searched_rt(comp, found), comp.window_min,
                        own=[m[2] for m in members], **integ.peak_settings())
    for (k, _, _), pk, shared in zip(members, g.peaks, g.shared, strict=True):
        if not shared or (k == comp.internal_standard and is_users.get(k, 0) != 1):
            continue
        found[k] = pk

