"""The batch pipeline: worklist + raw files + method -> results.

read -> traces -> peaks -> responses -> calibration -> concentrations -> normalisation -> QC.

:func:`measure_injection` is a pure function of one raw file and the method (it is what a
process pool or a distributed engine maps over); everything after it works on the small
per-injection measurements, so memory stays flat however large the batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from thioquant.assay.method import Compound, Method, find_method_file, load_method
from thioquant.assay.worklist import MAX_ROWS, Worklist, WorklistEntry, read_worklist
from thioquant.errors import CalibrationError, InputError, MethodError, ThioquantError
from thioquant.flags import UNMEASURED
from thioquant.measurement import InjectionMeasurement, channel_keys, searched_rt
from thioquant.measurement import trace_for as _trace_for
from thioquant.model import Peak, Result

NAN = math.nan


# --- per injection ----------------------------------------------------------------------------
# The records and channel helpers live in thioquant.measurement (below the cache and the report);
# InjectionMeasurement, channel_keys and searched_rt stay importable from here.


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
        from thioquant.report.chrom import trace_views

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

    # the channels that co-elute with each trace: an analyte's quantifier, qualifier and labelled
    # internal standard (a burst is one channel's; a sharp apex is every channel's)
    partners: dict[int, list[Any]] = {}
    by_name = {c.name: c for c in method.internal_standards}
    for comp in method.analytes:
        members = [_trace_for(run, comp), _trace_for(run, comp, qualifier=True)]
        if comp.internal_standard in by_name:
            members.append(_trace_for(run, by_name[comp.internal_standard]))
        members = [m for m in members if m is not None]
        for m in members:
            partners.setdefault(id(m), []).extend(o for o in members if o is not m)
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


# --- batch --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Everything a batch produced; written to disk by :mod:`thioquant.report`."""

    batch_dir: str
    method: Method
    worklist: Worklist
    results: tuple[Result, ...]
    calibrations: Mapping[str, Any]  # analyte -> CalibrationOutcome (or None when unfit)
    verdict: Any
    qc_outcomes: tuple[Any, ...]
    measurements: tuple[InjectionMeasurement, ...]
    messages: tuple[str, ...]
    interpretations: tuple[Any, ...] = ()
    manual: tuple[Mapping[str, Any], ...] = ()
    # per patient sample: earlier released results, delta checks and therapy phase, from the
    # patient history (thioquant.history.annotate); empty without one
    patient_history: Mapping[str, Any] = field(default_factory=dict)
    #: calibrators excluded by a reviewer: dicts with sample_id, analyte, reason, and ``source``
    #: when the decision came from a decisions file (``decisions file <path> row <n> (...)``)
    exclusions: tuple[Mapping[str, Any], ...] = ()
    #: calibrators whose integration would be held (``CAL_HELD``) put back into the fit by a
    #: reviewer who judged the integration fine: dicts with sample_id, analyte, reason (and source)
    inclusions: tuple[Mapping[str, Any], ...] = ()
    #: electronic signatures of a signed version (see :mod:`thioquant.review.signoff`): dicts with
    #: user, full_name, role, meaning, time; shown on the PDF report and patient pages
    signatures: tuple[Mapping[str, Any], ...] = ()
    #: the ``--overrides`` decisions file the run applied: file, sha256, signed version and
    #: signatures when it is a version's sealed file, rows applied per action, rows ignored
    #: (recorded in the audit trail as the ``decisions_file`` entry); None without one
    decisions_file: Mapping[str, Any] | None = None
    #: the run's key in the QC history (``<folder name>@<hash of the raw data>``,
    #: :func:`thioquant.qc.runkey.measured_run_id`); "" when quantified without a history
    qc_run_id: str = ""

    @property
    def accepted(self) -> bool:
        return bool(getattr(self.verdict, "accepted", False))

    def to_dataframe(self) -> Any:
        """Results as a pandas DataFrame (needs the optional ``pandas`` dependency)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ThioquantError("pandas is needed for to_dataframe(): pip install thioquant[dataframe]") from exc
        from thioquant.report.tables import result_rows

        return pd.DataFrame(result_rows(self.results))


#: batch.toml keys: the method, and where released results go (read by the quantify command:
#: thioquant.history.batch_release_settings)
BATCH_TOML_KEYS = {"method", "patient_history", "lis_outbox", "lis_formats", "release_on"}


def _resolve_method(batch: Path, method: str | Path | Method | None) -> Method:
    if isinstance(method, Method):
        return method
    if method is None:
        cfg = batch / "batch.toml"
        if not cfg.is_file():
            raise MethodError("no method given and no batch.toml in the batch folder (use --method)", path=batch)
        import tomllib

        try:
            doc = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise MethodError(f"invalid batch.toml: {exc}", path=cfg) from None
        unknown = sorted(set(doc) - BATCH_TOML_KEYS)
        if unknown:  # a misspelt key ('methdo') must not be ignored in silence
            raise MethodError(f"unknown key(s) {', '.join(unknown)} in batch.toml; the keys are "
                              f"{', '.join(sorted(BATCH_TOML_KEYS))}", path=cfg, key=unknown[0])
        ref = doc.get("method")
        if not isinstance(ref, str):
            raise MethodError("batch.toml needs method = \"<method file or name>\"", path=cfg, key="method")
        method = ref
    return load_method(find_method_file(method, start=batch))


def _response(peaks: Mapping[str, Peak | None], analyte: Compound,
              sample_type: str = "unknown",
              unmeasured: Mapping[str, str] | None = None) -> tuple[float, float, float, list[str]]:
    """(area, IS area, response, flags) of one analyte in one injection.

    ``unmeasured``: channel key -> flag code for channels that were not measured (no trace, the
    window outside the trace, a failed manual integration). Such an analyte has no response, not
    a zero one: "not detected" would be reported and interpreted as a patient result.
    """
    flags: list[str] = []
    pk = peaks.get(analyte.name)
    area = pk.area if pk is not None else NAN
    code = (unmeasured or {}).get(analyte.name)
    if pk is None and code:
        flags.append(code)
        is_pk = peaks.get(analyte.internal_standard) if analyte.internal_standard else None
        return area, (is_pk.area if is_pk is not None else NAN), NAN, flags
    if pk is None:
        flags.append("NOT_DETECTED")
    else:
        flags += [f for f in pk.flags if f not in flags]
    is_area = NAN
    if analyte.internal_standard:
        ipk = peaks.get(analyte.internal_standard)
        if sample_type == "blank":
            # no IS is added to a double blank: a ratio to whatever noise sits at the IS's time
            # read as thousands of nmol/L (the areas stay, for interference and carry-over)
            flags.append("NO_IS_ADDED")
            return area, (ipk.area if ipk is not None and ipk.area > 0 else NAN), NAN, flags
        if ipk is None or not ipk.area > 0:
            flags.append("NO_IS")
            return area, NAN, NAN, flags
        is_area = ipk.area
        response = (area if pk is not None else 0.0) / is_area
    else:
        response = area if pk is not None else 0.0
    return area, is_area, response, flags


def quantify(
    batch_dir: str | Path,
    method: str | Path | Method | None = None,
    *,
    overrides: str | Path | None = None,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
    cache: str | Path | None = None,
    executor: str = "process",
    history: str | Path | None = None,
    run_id: str | None = None,
    profile: str | Path | None = None,
    keep_views: bool = False,
    max_rows: int | None = MAX_ROWS,
    scheduler: str | None = None,
    ship_files: bool = False,
    exclusions: Mapping[tuple[str, str], str] | None = None,
    warm_imports: Sequence[str] = (),
    inclusions: Mapping[tuple[str, str], str] | None = None,
    pseudonym_key: str | None = None,
    history_hook: Callable[[str], None] | None = None,
) -> BatchResult:
    """Quantify a batch folder (``worklist.csv`` + raw files).

    Parameters
    ----------
    batch_dir : folder holding ``worklist.csv`` (and ``batch.toml`` naming the method unless
        ``method`` is given).
    method : a :class:`Method`, a method file path or a name in ``calibrations/``.
    overrides : optional manual-integration CSV (sample_id, analyte, start_min, end_min, reason),
        or a reviewer-decisions file that also holds calibrator exclusions and inclusions in rows
        with an ``action`` column (a signed version's ``overrides.csv``; see
        :mod:`thioquant.assay.decisions`). Its calibrator decisions join ``exclusions`` and
        ``inclusions``, which decide for a calibrator both name.
    pseudonym_key : the key of a ``--pseudonymise`` run: the ``overrides`` file may then name
        patient samples by their pseudonyms, as a signed version of such a run does (the
        results themselves are not pseudonymised here: :func:`thioquant.privacy.pseudonymise`).
    jobs : worker processes for reading and integrating injections (1 = in this process).
    progress : optional callback ``progress(done, total)``.
    cache : optional SQLite measurement cache (see :mod:`thioquant.cache`); re-runs after a
        calibration or QC change, or a manual integration, re-measure only what changed.
    executor : ``"process"`` (a local process pool) or ``"dask"`` (dask.distributed: a
        LocalCluster of ``jobs`` workers, or the running cluster at ``scheduler``).
    history : optional SQLite QC history for Westgard rules across runs (see :mod:`thioquant.qc.westgard`).
    run_id : identifier of this run in the QC history (default: the batch folder name and a hash
        of its raw data files' sha256 as measured, :func:`thioquant.qc.runkey.measured_run_id`:
        two batches of the same folder name are two runs, a re-run of the same batch is the same
        run).
    history_hook : called with the run's QC history key once it is known, before the history is
        written (:func:`thioquant.qc.westgard.guarded_history`: a failed run's rows taken back).
    profile : interpretation profile name or file for this run (default: the method's).
    keep_views : keep decimated chromatogram views of every injection for the report, computed while
        the traces are in memory (otherwise the report reads the raw files again).
    max_rows : refuse a worklist of more injection rows than this (InputError; default
        :data:`~thioquant.assay.worklist.MAX_ROWS`, 5,000); None for no limit (``--large``).
    scheduler : address of a running dask.distributed scheduler (``tcp://host:8786``) for
        ``executor="dask"``; its workers read the raw files by path (a shared file system), or
        receive their bytes with ``ship_files``. See docs/scale.md.
    ship_files : send each raw file's bytes to the worker instead of its path.
    exclusions : calibrators a reviewer excluded, ``(sample_id, analyte) -> reason``.
    inclusions : calibrators that ``[calibration] exclude_held`` would set aside (``CAL_HELD``)
        and that a reviewer included in the fit, ``(sample_id, analyte) -> reason``; they are
        judged by the ICH M10 rules like any other calibrator and carry ``CAL_HELD_INCLUDED``.
    warm_imports : modules the caller needs after this returns (its output writers): with
        ``jobs > 1`` they are imported in a background thread while the worker processes
        measure, as are those of the calibration, QC and interpretation (wall time only; the
        results do not change).

    Raises
    ------
    InputError, MethodError : the batch cannot be read at all.
    CalibrationError : no analyte could be calibrated (the run cannot be evaluated).
    """
    batch = Path(batch_dir)
    if not batch.is_dir():
        raise InputError("batch folder not found", path=batch)
    m = _resolve_method(batch, method)
    if profile is not None:
        m = replace(m, interpretation_profile=str(profile))
    wl = read_worklist(
        batch / "worklist.csv",
        calibrator_levels=set(m.calibrators),
        qc_levels=set(m.qcs),
        rbc_range=(m.normalisation.rbc_min, m.normalisation.rbc_max),
        dilution_range=(m.normalisation.dilution_min, m.normalisation.dilution_max),
        require_rbc=m.normalisation.mode != "none",
        max_rows=max_rows,
    )
    messages = [*m.warnings, *(i.message for i in wl.issues)]  # QC placement (ICH M10), then rows
    blanks, blank_sha = _blank_traces(batch, m, wl.entries, messages)

    manual_by_sample: Mapping[str, Mapping[str, tuple[float, float]]] = {}
    manual_records: list[Mapping[str, Any]] = []
    sources: dict[tuple[str, str], str] = {}
    decisions_file: dict[str, Any] | None = None
    if overrides is not None:
        # manual integrations and the reviewer's calibrator exclusions/inclusions (a signed
        # version's overrides.csv); a plain manual-integration file is read as before
        from thioquant.assay.decisions import apply_decisions, read_decisions

        aliases: dict[str, str] = {}
        if pseudonym_key:
            from thioquant.privacy import pseudonym_map

            aliases = {alias: real for real, alias in pseudonym_map(wl.entries, pseudonym_key).items()}
        decisions = read_decisions(overrides)
        applied = apply_decisions(
            decisions,
            channels=[key for _, _, key in channel_keys(m.analytes + m.internal_standards)],
            analytes=[a.name for a in m.analytes], sample_types={e.sample_id: e.sample_type for e in wl.entries},
            aliases=aliases)
        messages.extend(applied.messages)
        manual_by_sample, manual_records = applied.manual_by_sample, list(applied.manual_records)
        decisions_file = {**decisions.record(), "rows_applied": dict(applied.counts),
                          "rows_ignored": len(applied.messages)}
        # a calibrator decision from the file says where it came from in every output; one that
        # the arguments override is theirs
        sources = {k: v for k, v in applied.sources.items() if k not in (exclusions or {}) and k not in (inclusions or {})}
        # the arguments decide over the file for the same calibrator
        exclusions, inclusions = (
            {**{k: v for k, v in applied.exclusions.items() if k not in (inclusions or {})}, **(exclusions or {})},
            {**{k: v for k, v in applied.inclusions.items() if k not in (exclusions or {})}, **(inclusions or {})})

    if cache is not None:
        from thioquant.cache import MeasurementCache

        with MeasurementCache(cache) as store:
            measurements = _measure_all(
                _Measuring(batch, m, manual_by_sample, store, executor, keep_views, blanks, blank_sha,
                           scheduler, ship_files), wl.entries, jobs, progress, warm_imports=warm_imports)
            messages.extend(store.notes)  # a cache set aside or dropped mid-run: for library callers too
            messages.append(f"measurement cache {cache}: {store.hits} reused, {store.misses} measured")
    else:
        measurements = _measure_all(
            _Measuring(batch, m, manual_by_sample, None, executor, keep_views, blanks, blank_sha,
                       scheduler, ship_files), wl.entries, jobs, progress, warm_imports=warm_imports)
    for e, meas in zip(wl.entries, measurements, strict=True):
        if meas.error:
            messages.append(f"row {e.row} ({e.sample_id}): {meas.error}")
        for key in meas.missing_traces:
            messages.append(f"row {e.row} ({e.sample_id}): {e.file}: no trace for {key}")
        for _key, _code, reason in meas.problems:
            messages.append(f"row {e.row} ({e.sample_id}): {e.file}: {reason}")
        for note in meas.notes:
            messages.append(f"row {e.row} ({e.sample_id}): {e.file}: {note}")

    return _evaluate(batch, m, wl, measurements, manual_by_sample, manual_records, exclusions, messages,
                     history, run_id, inclusions, sources=sources, decisions_file=decisions_file,
                     history_hook=history_hook)


def _evaluate(batch: Path, m: Method, wl: Worklist, measurements: Sequence[InjectionMeasurement],
              manual_by_sample: Mapping[str, Mapping[str, tuple[float, float]]],
              manual_records: Sequence[Mapping[str, Any]],
              exclusions: Mapping[tuple[str, str], str] | None, messages: list[str],
              history: str | Path | None, run_id: str | None,
              inclusions: Mapping[tuple[str, str], str] | None = None, *,
              sources: Mapping[tuple[str, str], str] | None = None,
              decisions_file: Mapping[str, Any] | None = None,
              history_hook: Callable[[str], None] | None = None) -> BatchResult:
    """Everything after the measurements: calibration, concentrations, QC, interpretation.

    ``sources``: where a calibrator decision came from when not from a reviewer in the review,
    ``(sample_id, analyte) -> 'decisions file <path> row <n> (...)'``."""
    sources = dict(sources or {})
    results, calibrations, cal_messages = _quantify_measurements(m, wl.entries, measurements, manual_by_sample,
                                                                 exclusions, inclusions, sources)
    messages += cal_messages
    if all(c is None for c in calibrations.values()):
        raise CalibrationError("no analyte could be calibrated: " + "; ".join(cal_messages or ["no calibrators"]),
                               path=batch)

    from thioquant.qc.run import evaluate_run

    if history is not None:
        from thioquant.qc.westgard import QCHistory

        if not run_id:  # from the raw files' sha256 the measurements took: no second read
            from thioquant.qc.runkey import measured_run_id

            run_id = measured_run_id(batch, wl.entries, measurements)
        if history_hook is not None:
            history_hook(run_id)
        with QCHistory(history) as qc_history:
            results, qc_outcomes, verdict = evaluate_run(
                m, wl.entries, measurements, results, calibrations, history=qc_history, run_id=run_id,
            )
    else:
        results, qc_outcomes, verdict = evaluate_run(m, wl.entries, measurements, results, calibrations)
    interpretations = _interpret(m, wl.entries, results, messages, calibrations)
    def decided(chosen: Mapping[tuple[str, str], str] | None) -> tuple[dict[str, str], ...]:
        return tuple({"sample_id": sid, "analyte": an, "reason": why,
                      **({"source": sources[(sid, an)]} if (sid, an) in sources else {})}
                     for (sid, an), why in sorted((chosen or {}).items()))

    excl, incl = decided(exclusions), decided(inclusions)
    return BatchResult(
        batch_dir=str(batch), method=m, worklist=wl, results=tuple(results), calibrations=calibrations,
        verdict=verdict, qc_outcomes=tuple(qc_outcomes), measurements=tuple(measurements),
        messages=tuple(messages), interpretations=tuple(interpretations), manual=tuple(manual_records),
        exclusions=excl, inclusions=incl, decisions_file=decisions_file,
        qc_run_id=run_id if history is not None and run_id else "",
    )


def requantify(
    batch: BatchResult,
    manual: Sequence[Mapping[str, Any]],
    exclusions: Mapping[tuple[str, str], str] | None = None,
    *,
    cache: str | Path | None = None,
    history: str | Path | None = None,
    run_id: str | None = None,
    inclusions: Mapping[tuple[str, str], str] | None = None,
    sources: Mapping[tuple[str, str], str] | None = None,
) -> BatchResult:
    """Quantify ``batch`` again after a review: other manual integrations or calibrator exclusions.

    Only the injections whose manual integrations differ from ``batch.manual`` are measured again
    (through the measurement ``cache`` when given: a boundary put back where it was is a cache
    hit); every other injection keeps its measurement. Calibration, QC and interpretation are then
    computed anew from the measurements, exactly as :func:`quantify` does.

    Parameters
    ----------
    batch : the batch as quantified before.
    manual : every manual integration now in force, dicts with ``sample_id``, ``analyte``,
        ``start_min``, ``end_min``, ``reason`` (as in ``BatchResult.manual``).
    exclusions : calibrators excluded by the reviewer, ``(sample_id, analyte) -> reason``.
    inclusions : calibrators with a held integration (``CAL_HELD``) that the reviewer included
        in the fit, ``(sample_id, analyte) -> reason`` (see :func:`quantify`).
    cache, history, run_id : as for :func:`quantify`.
    sources : where each calibrator decision came from when not from the reviewer,
        ``(sample_id, analyte) -> text`` (see :func:`quantify`); by default a decision that
        ``batch`` took from its decisions file and that is still in force with the same reason
        keeps its source (the review starts from a ``--overrides`` run with them in force).
    """
    def by_sample(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, tuple[float, float]]]:
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for r in records:
            out.setdefault(str(r["sample_id"]), {})[str(r["analyte"])] = (float(r["start_min"]), float(r["end_min"]))
        return out

    b = Path(batch.batch_dir)
    m, wl = batch.method, batch.worklist
    old, new = by_sample(batch.manual), by_sample(manual)
    entries = list(wl.entries)
    changed = [i for i, e in enumerate(entries) if old.get(e.sample_id) != new.get(e.sample_id)]
    measurements = list(batch.measurements)
    # the calibration's and the interpretation's messages are made anew
    messages = [msg for msg in batch.messages if not msg.startswith(tuple(f"{a.name}: " for a in m.analytes))
                and "): clinical context: " not in msg]
    if changed:
        scratch: list[str] = []
        blanks, blank_sha = _blank_traces(b, m, entries, scratch)
        # calibrators first, then the others with the calibrators' widths as quantify measures them
        # (an injection not edited keeps its measurement)
        cal = [i for i in changed if entries[i].sample_type == "calibrator"]
        rest = [i for i in changed if entries[i].sample_type != "calibrator"]
        with contextlib.ExitStack() as stack:
            store = None
            if cache is not None:
                from thioquant.cache import MeasurementCache

                store = stack.enter_context(MeasurementCache(cache))
            fresh = {}
            ctx = _Measuring(b, m, new, store, blanks=blanks, blank_sha=blank_sha)
            if cal:
                got = _measure_set(ctx, [entries[i] for i in cal], 1, None)
                fresh.update(zip(cal, got, strict=True))
                measurements = [fresh.get(i, x) for i, x in enumerate(measurements)]
            if rest:
                hints = calibrator_widths(entries, measurements) or None
                got = _measure_set(ctx, [entries[i] for i in rest], 1, None, widths=hints)
                fresh.update(zip(rest, got, strict=True))
        for i, meas in sorted(fresh.items()):
            measurements[i] = meas
            e = entries[i]
            for _key, _code, reason in meas.problems:
                msg = f"row {e.row} ({e.sample_id}): {e.file}: {reason}"
                if msg not in messages:
                    messages.append(msg)
    if sources is None:
        sources = {}
        for chosen, before in ((exclusions, batch.exclusions), (inclusions, batch.inclusions)):
            for d in before:
                key = (str(d["sample_id"]), str(d["analyte"]))
                if d.get("source") and (chosen or {}).get(key) == d["reason"]:
                    sources[key] = str(d["source"])
    # the run keeps its key in the QC history
    return _evaluate(b, m, wl, measurements, new, [dict(r) for r in manual], exclusions, messages,
                     history, run_id or batch.qc_run_id or None, inclusions, sources=sources,
                     decisions_file=batch.decisions_file)


def _blank_traces(batch: Path, m: Method, entries: Sequence[WorklistEntry],
                  messages: list[str]) -> tuple[dict[str, Any], str]:
    """Blank traces for the compounds with ``noise_source = "blank"``, and the blank's sha256.

    The first readable blank injection of the worklist provides, for each such compound, the
    traces of its channel and its qualifier's (keys as in :func:`measure_injection`); every
    injection's peak there then takes its noise in the blank, over the USP window around the peak
    (see :func:`~thioquant.peaks.find_target`, ``blank``). Without a readable blank, or without a
    channel in it, the noise is measured in each injection as usual and a message says so.
    """
    wanted = [c for c in m.analytes + m.internal_standards
              if (c.integration or m.integration).noise_source == "blank"]
    if not wanted:
        return {}, ""
    from thioquant.io import read_run

    for e in entries:
        if e.sample_type != "blank":
            continue
        try:
            run = read_run(batch / e.file)
        except (ThioquantError, OSError):
            continue
        keys = channel_keys(wanted)
        out = {key: tr for c, q, key in keys if (tr := _trace_for(run, c, qualifier=q)) is not None}
        lacking = [key for _, _, key in keys if key not in out]
        if lacking:
            messages.append(f"noise_source = 'blank': blank {e.sample_id} ({e.file}) has no trace for "
                            f"{', '.join(lacking)}; their S/N noise is measured in each injection instead")
        if out:
            messages.append(f"S/N noise of {', '.join(out)} measured in blank {e.sample_id} ({e.file}), "
                            "around each peak's retention time")
        return out, run.sha256 or ""
    messages.append("noise_source = 'blank': no readable blank injection in the worklist; "
                    "S/N noise measured in each injection instead")
    return {}, ""


def _measure_one(args: tuple[Any, ...]) -> InjectionMeasurement:
    return measure_injection(*args)


EXECUTORS = ("process", "dask")


@dataclass(frozen=True)
class _Measuring:
    """What every injection of one measuring pass shares: the batch folder, the method, the
    manual integrations by sample, the measurement cache, where the work runs (executor, dask
    scheduler, shipped bytes), whether traces are kept for views, and the blank for S/N."""

    batch: Path
    m: Method
    manual: Mapping[str, Mapping[str, tuple[float, float]]]
    cache: Any | None = None
    executor: str = "process"
    views: bool = False
    blanks: Mapping[str, Any] | None = None
    blank_sha: str = ""
    scheduler: str | None = None
    ship_files: bool = False


def _measure_all(
    ctx: _Measuring, entries: Sequence[WorklistEntry], jobs: int,
    progress: Callable[[int, int], None] | None,
    widths: Mapping[str, float] | None = None,
    warm_imports: Sequence[str] = (),
) -> list[InjectionMeasurement]:
    """Measure every injection, in order: from the cache where possible, else in parallel.

    The calibrators are measured first, on their own; their median peak widths
    (:func:`calibrator_widths`) are then every other injection's expected widths
    (:func:`width_hint`). ``widths`` given: every injection is measured with them.
    """
    cal = [i for i, e in enumerate(entries) if e.sample_type == "calibrator"]
    if widths is not None or not cal or len(cal) == len(entries):
        return _measure_set(ctx, entries, jobs, progress, widths or None, warm_imports)
    is_cal = set(cal)
    rest = [i for i in range(len(entries)) if i not in is_cal]
    n = len(entries)

    def shifted(offset: int) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, _total: progress(offset + done, n))

    first = _measure_set(ctx, [entries[i] for i in cal], jobs, shifted(0))
    hints = calibrator_widths([entries[i] for i in cal], first) or None
    # the tail's imports are warmed during the second, longer set only: the first set's pool is
    # joined (and a new one forked) before it, and an import still running would hold it up
    second = _measure_set(ctx, [entries[i] for i in rest], jobs, shifted(len(cal)), hints, warm_imports)
    out: list[InjectionMeasurement | None] = [None] * n
    for i, meas in zip(cal, first, strict=True):
        out[i] = meas
    for i, meas in zip(rest, second, strict=True):
        out[i] = meas
    return [x for x in out if x is not None]


def measurement_digest(m: Method, blanks: Mapping[str, Any] | None = None, blank_sha: str = "",
                       widths: Mapping[str, float] | None = None) -> str:
    """What, besides the file and its manual integrations, a measurement depends on (the
    measurement cache's key): the method, the blank whose noise an S/N is measured on, and the
    calibrators' widths that are an injection's expected widths."""
    from thioquant.cache import measurement_hash

    digest = measurement_hash(m)
    if blanks:  # S/N against a blank: the same file must give the same noise
        digest = f"{digest}|blank:{blank_sha}:{','.join(sorted(blanks))}"
    if widths:
        digest = f"{digest}|widths:{sorted((k, round(v, 9)) for k, v in widths.items())}"
    return digest


def _measure_set(
    ctx: _Measuring, entries: Sequence[WorklistEntry], jobs: int,
    progress: Callable[[int, int], None] | None,
    widths: Mapping[str, float] | None = None,
    warm_imports: Sequence[str] = (),
) -> list[InjectionMeasurement]:
    """:func:`_measure_all`'s work for one set of injections, all with the same ``widths``."""
    batch, m, manual, cache, views, blanks = ctx.batch, ctx.m, ctx.manual, ctx.cache, ctx.views, ctx.blanks
    all_tasks = [(str(batch / e.file), m, manual.get(e.sample_id), views, blanks or None, widths)
                 for e in entries]
    total = len(all_tasks)
    # one measurement per (file, manual integrations): rows naming the same file (DUPLICATE_FILE,
    # unusable anyway) are not read, hashed or measured again; 10,000 such rows took 3 minutes
    first: dict[tuple[str, str], int] = {}
    same_as: list[int] = []
    for i, (path, _, man, _v, _b, _w) in enumerate(all_tasks):
        same_as.append(first.setdefault((path, repr(sorted((man or {}).items()))), i))
    unique = sorted(set(same_as))
    named = {i for i, e in enumerate(entries) if e.file}
    tasks = [all_tasks[i] for i in unique]
    out: list[InjectionMeasurement | None] = [
        None if i in named else InjectionMeasurement(all_tasks[i][0], error="no raw file named")
        for i in unique
    ]
    if cache is not None:
        from thioquant.cache import cache_key
        from thioquant.io import file_sha256

        method_digest = measurement_digest(m, blanks, ctx.blank_sha, widths)
        for i, (path, _, man, _v, _b, _w) in enumerate(tasks):
            if out[i] is not None:
                continue
            try:
                key = cache_key(file_sha256(path), method_digest, man)
            except (OSError, ThioquantError):
                continue  # measure_injection reports the unreadable or non-regular file
            out[i] = cache.get(key, path)
    todo = [i for i in range(len(tasks)) if out[i] is None]
    done = total - len(todo)
    if progress and done:
        progress(done, total)
    for i, meas in _run_tasks([tasks[i] for i in todo], todo, jobs, ctx.executor, ctx.scheduler,
                              ctx.ship_files, warm_imports):
        out[i] = meas
        if cache is not None and meas.sha256:
            # keyed by the hash of the bytes actually measured: a file replaced between the
            # lookup and the measurement must not be cached under its old content's key
            cache.put(cache_key(meas.sha256, method_digest, tasks[i][2]), meas)
        done += 1
        if progress:
            progress(done, total)
    at = dict(zip(unique, out, strict=True))
    return [m_ for m_ in (at[j] for j in same_as) if m_ is not None]


#: what the serial tail after the measurements imports (calibration with scipy.special's Student's
#: t, QC, interpretation): about 0.6 s of CPU in a fresh interpreter, imported by
#: :class:`_ImportWarmer` while worker processes measure
_TAIL_MODULES = ("scipy.special", "thioquant.calibration", "thioquant.calibration.interval",
                 "thioquant.calibration.select", "thioquant.qc.run", "thioquant.qc.hold",
                 "thioquant.clinical", "thioquant.assay.normalise")


class _ImportWarmer:
    """Import modules in a background thread (errors ignored: the real import reports them).

    Used only while worker processes do the work and this process waits for their results; on 2
    cores the imports share the CPU with the workers, and the batch's wall time falls by about
    half the imports' CPU time. A missing name is skipped in silence (a test checks the lists).
    The results cannot change: importing earlier runs the same code.
    """

    def __init__(self, modules: Sequence[str]) -> None:
        import threading

        self._modules = tuple(modules)
        self._thread = threading.Thread(target=self._run, name="thioquant-import-warmer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import importlib

        for name in self._modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    def join(self) -> None:
        self._thread.join()


def _run_tasks(
    tasks: list[tuple[Any, ...]], index: list[int], jobs: int,
    executor: str, scheduler: str | None = None, ship_files: bool = False,
    warm_imports: Sequence[str] = (),
) -> Any:
    """Yield (index, measurement) pairs; the order of completion may differ from the input.

    ``warm_imports``: modules to import in this process while worker processes (the pool's, or
    dask's once its first result is back) measure, with those of the serial tail
    (:data:`_TAIL_MODULES`).
    """
    if executor not in EXECUTORS:
        raise ThioquantError(f"unknown executor {executor!r} (choose {', '.join(EXECUTORS)})")
    if (scheduler or ship_files) and executor != "dask":
        raise ThioquantError("a scheduler address and --ship-files need --executor dask")
    if not tasks:
        return
    if executor == "dask":
        gen = _run_dask(tasks, index, jobs, scheduler, ship_files)
        first = next(gen, None)  # the cluster is reached and its workers measure
        warm = _ImportWarmer(_TAIL_MODULES + tuple(warm_imports))
        try:
            if first is not None:
                yield first
            yield from gen
        finally:
            warm.join()
        return
    if jobs > 1 and len(tasks) > 2:
        from concurrent.futures import ProcessPoolExecutor

        # The first injection is measured here: it imports the reader and the peak engine
        # once, and forked workers inherit them instead of each importing them again.
        yield index[0], _measure_one(tasks[0])
        rest, rest_index = tasks[1:], index[1:]
        chunk = max(1, len(rest) // (jobs * 32))  # small chunks: workers finish together
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = pool.map(_measure_one, rest, chunksize=chunk)  # every worker started
            # this process only waits from here on: it imports what the serial tail needs
            # meanwhile, so those imports overlap the measurements instead of following them
            warm = _ImportWarmer(_TAIL_MODULES + tuple(warm_imports))
            try:
                yield from zip(rest_index, results, strict=True)
            finally:
                warm.join()  # no import may be half done when this process forks again
        return
    for i, t in zip(index, tasks, strict=True):
        yield i, _measure_one(t)


def _quantify_measurements(
    m: Method, entries: Sequence[WorklistEntry], measurements: Sequence[InjectionMeasurement],
    manual: Mapping[str, Mapping[str, tuple[float, float]]],
    exclusions: Mapping[tuple[str, str], str] | None = None,
    inclusions: Mapping[tuple[str, str], str] | None = None,
    sources: Mapping[tuple[str, str], str] | None = None,
) -> tuple[list[Result], dict[str, Any], list[str]]:
    import numpy as np

    from thioquant.assay import normalise
    from thioquant.calibration import accept_calibration, range_flags
    from thioquant.calibration.interval import inverse_interval

    cs = m.calibration
    results: list[Result] = []
    calibrations: dict[str, Any] = {}
    messages: list[str] = []
    for analyte in m.analytes:
        rows = []
        for e, meas in zip(entries, measurements, strict=True):
            if meas.error or not e.usable:
                area = is_area = response = NAN
                flags = list(e.flags) + ((["MEASURE_FAILED"] if meas.internal_error else ["MISSING_FILE"])
                                         if meas.error else [])
                pk = None
            else:
                area, is_area, response, flags = _response(meas.peaks, analyte, e.sample_type,
                                                           meas.unmeasured)
                flags = list(e.flags) + flags + _channel_flags(meas, analyte)
                pk = meas.peaks.get(analyte.name)
            man = manual.get(e.sample_id, {})
            if analyte.name in man or (analyte.internal_standard and analyte.internal_standard in man):
                flags.append("MANUAL")  # its internal standard's area enters the response too
            rows.append((e, pk, area, is_area, response, flags))

        # Calibration from calibrators with a usable response; a saturated one is excluded with
        # that reason before the fit (its response is not proportional to the concentration)
        # a calibrator without a response (no IS peak, file or channel lost) stays in as an
        # excluded point with its reason: left out, it was not counted against the ICH M10 75 %
        # rule, and calibration.json did not show it
        cal_rows = [
            (e, r) for e, _, _, _, r, fl in rows
            if e.sample_type == "calibrator" and e.usable
            and math.isfinite(m.nominal("calibrator", e.level, analyte.name))
        ]
        no_response = {id(e): "no response (" + (", ".join(f for f in fl if f in _NO_RESPONSE) or "not measured") + ")"
                       for e, _, _, _, r, fl in rows if e.sample_type == "calibrator" and not math.isfinite(r)}
        saturated = {id(e) for e, _, _, _, _, fl in rows if e.sample_type == "calibrator" and "SATURATED" in fl}
        all_cal_rows = cal_rows
        cal_rows = [(e, r) for e, r in cal_rows if id(e) not in saturated]
        # a calibrator whose quantifier or IS integration would be held for review (docs/qc.md)
        # is excluded before the fit, with its reason: never silently, and counted as not passing
        held_cal = _held_calibrators(m, analyte, entries, measurements, rows) if cs.exclude_held else {}
        # ... unless a reviewer looked at the chromatogram and included it: it then enters the
        # fit and the run QC's references as any calibrator (as after a manual re-integration),
        # and the ICH M10 rules judge it by its accuracy
        put_back = {id(e): (held_cal.pop(id(e)), (inclusions or {})[(e.sample_id, analyte.name)],
                            (sources or {}).get((e.sample_id, analyte.name), ""))
                    for e, *_ in rows if id(e) in held_cal and (e.sample_id, analyte.name) in (inclusions or {})}
        for e, _, _, _, _, fl in rows:
            if id(e) in held_cal:
                fl.append("CAL_HELD")
            elif id(e) in put_back:
                fl.append("CAL_HELD_INCLUDED")
        for sid, an in sorted(inclusions or {}):
            if an == analyte.name and not any(e.sample_id == sid and id(e) in put_back for e, *_ in rows):
                messages.append(f"{an}: inclusion of calibrator {sid} ignored: it is not set aside for a held "
                                "integration")
        outcome = None
        if sum(math.isfinite(r) for _, r in cal_rows) >= 2:
            x = [m.nominal("calibrator", e.level, analyte.name) for e, _ in cal_rows]
            y = [r for _, r in cal_rows]
            by_reviewer = [(exclusions or {}).get((e.sample_id, analyte.name), "") for e, _ in cal_rows]
            manual_excl = by_reviewer if any(by_reviewer) else None
            # an exclusion from a decisions file names the file and row, not "reviewer"
            by_source = [(sources or {}).get((e.sample_id, analyte.name), "") if why else ""
                         for (e, _), why in zip(cal_rows, by_reviewer, strict=True)]
            manual_src = by_source if any(by_source) else None
            by_rule = ["; ".join(x for x in (no_response.get(id(e), ""), held_cal.get(id(e), "")) if x)
                       for e, _ in cal_rows]
            rule_excl = by_rule if any(by_rule) else None
            try:
                if cs.model == "auto" or cs.weighting == "auto":
                    from thioquant.calibration import candidates_for, select_model

                    outcome, _evidence = select_model(
                        x, y, candidates=candidates_for(cs.model, cs.weighting),
                        levels=[e.level for e, _ in cal_rows], tolerance_pct=cs.tolerance_pct,
                        lloq_tolerance_pct=cs.lloq_tolerance_pct, min_fraction=cs.min_fraction,
                        min_levels=cs.min_levels, manual_exclusions=manual_excl, rule_exclusions=rule_excl,
                        manual_sources=manual_src,
                    )
                else:
                    outcome = accept_calibration(
                        x, y, model=cs.model, weighting=cs.weighting, levels=[e.level for e, _ in cal_rows],
                        tolerance_pct=cs.tolerance_pct, lloq_tolerance_pct=cs.lloq_tolerance_pct,
                        min_fraction=cs.min_fraction, min_levels=cs.min_levels,
                        manual_exclusions=manual_excl, rule_exclusions=rule_excl, manual_sources=manual_src,
                    )
            except ThioquantError as exc:
                messages.append(f"{analyte.name}: calibration could not be fitted: {exc}")
        else:
            messages.append(f"{analyte.name}: fewer than 2 calibrators with a response; no calibration")
        if outcome is not None and put_back:
            outcome = _with_put_back(outcome, cal_rows, put_back)
        if outcome is not None and len(cal_rows) < len(all_cal_rows):
            outcome = _with_set_aside(outcome, all_cal_rows, saturated, m, analyte.name, cs.tolerance_pct)
        calibrations[analyte.name] = outcome
        excluded = set()
        if outcome is not None:
            excluded = {p.level for p in outcome.points if not p.included}
            for reason in outcome.reasons:
                messages.append(f"{analyte.name}: {reason}")

        intervals: dict[int, tuple[float, float]] = {}
        vials: dict[int, float] = {}
        pos = [i for i, row in enumerate(rows) if math.isfinite(row[4]) and row[4] > 0]
        if outcome is not None and pos:  # one vectorised call per analyte, not one per row
            responses = np.array([rows[i][4] for i in pos])
            if outcome.calibration.model != "power":  # elementwise arithmetic: the same values
                inv = np.atleast_1d(outcome.calibration.inverse(responses))
                vials = dict(zip(pos, inv.tolist(), strict=True))
            lows, highs = inverse_interval(outcome.calibration, responses)
            intervals = {i: (float(a), float(b)) for i, a, b in zip(pos, lows, highs, strict=True)}
        for k, (e, pk, area, is_area, response, flags) in enumerate(rows):
            conc = lo = hi = NAN
            reported = rep_lo = rep_hi = NAN
            accuracy = NAN
            # calibrators and QCs are judged by their accuracy against the nominal value; a range
            # flag on them (the LLOQ calibrator back-calculated at 99 %, "<LLOQ") would mislead
            judged_by_nominal = e.sample_type in ("calibrator", "qc")
            nominal = m.nominal(e.sample_type, e.level, analyte.name) if judged_by_nominal else NAN
            if outcome is not None and math.isfinite(response):
                cal = outcome.calibration
                vial = (vials[k] if k in vials else float(cal.inverse(response))) if response > 0 else 0.0
                lo_v, hi_v = intervals.get(k, (NAN, NAN))
                df = e.dilution
                conc, lo, hi = vial * df, lo_v * df, hi_v * df
                if not judged_by_nominal and "NOT_DETECTED" not in flags:
                    if response > 0 and not math.isfinite(vial):
                        flags.append("ABOVE_ULOQ")  # beyond the curve's reach
                    else:
                        flags += range_flags(vial, outcome.lloq, outcome.uloq)
                if not outcome.passed:
                    flags.append("CAL_FAIL")
                if math.isfinite(nominal) and nominal > 0:
                    accuracy = 100.0 * conc / nominal
                if e.sample_type == "calibrator" and e.level in excluded:
                    flags.append("CAL_EXCLUDED")
                quantifiable = not {"NOT_DETECTED", "BELOW_LLOQ", "ABOVE_ULOQ", "CAL_FAIL"} & set(flags)
                if e.sample_type == "unknown" and quantifiable and m.normalisation.mode != "none":
                    reported, rep_lo, rep_hi = _normalise(normalise, m, analyte, e, conc, lo, hi, flags)
            results.append(
                Result(
                    sample_id=e.sample_id, sample_type=e.sample_type, analyte=analyte.name, level=e.level,
                    file=e.file, rt_min=pk.rt_min if pk else NAN, area=area, is_area=is_area, response=response,
                    conc=conc, conc_unit=m.conc_unit, conc_low=lo, conc_high=hi,
                    reported=reported, reported_unit=m.reported_unit if e.sample_type == "unknown" else "",
                    reported_low=rep_lo, reported_high=rep_hi, nominal=nominal, accuracy_pct=accuracy,
                    sn=pk.sn if pk else NAN, method_family=m.family, patient_id=e.patient_id,
                    injection=e.injection, flags=tuple(dict.fromkeys(flags)),
                )
            )
    results.sort(key=lambda r: (r.injection, [a.name for a in m.analytes].index(r.analyte)))
    return results, calibrations, messages


def _channel_flags(meas: InjectionMeasurement, analyte: Compound) -> list[str]:
    """Signal-integrity flags of the analyte's other channels (qualifier, internal standard)
    carried onto its result: ``DEAD_CHANNEL`` (no result can be trusted without them) and
    ``SATURATED`` (the ratio to a saturated peak is not proportional)."""
    out: list[str] = []
    unmeasured = meas.unmeasured
    keys = [analyte.name, f"{analyte.name} qualifier", analyte.internal_standard]
    for key in keys:
        if key is None:
            continue
        if unmeasured.get(key) == "DEAD_CHANNEL" and key != analyte.name:
            out.append("DEAD_CHANNEL")
        pk = meas.peaks.get(key)
        if key != analyte.name and pk is not None and "SATURATED" in pk.flags:
            out.append("SATURATED")
    return out


#: flags that say why an injection has no response
_NO_RESPONSE = ("NO_IS", *sorted(UNMEASURED))


def _held_calibrators(m: Method, analyte: Compound, entries: Sequence[WorklistEntry],
                      measurements: Sequence[InjectionMeasurement], rows: Sequence[tuple]) -> dict[int, str]:
    """Calibrators whose quantifier or internal standard integration would be held for review
    (:func:`~thioquant.qc.hold.calibrator_hold_reasons`, the ``[qc]`` hold settings):
    ``id(entry) -> reason``."""
    from thioquant.qc.hold import calibrator_hold_reasons
    from thioquant.qc.settings import QCSettings

    if not any(e.sample_type == "calibrator" for e in entries):
        return {}
    settings = QCSettings.from_dict(dict(m.qc)).for_analyte(analyte.name)
    flags = [row[5] for row in rows]
    reasons = calibrator_hold_reasons(analyte, entries, measurements, flags, settings)
    return {id(e): "integration held for review (" + "; ".join(d for _, d in r) + ")"
            for e, r in zip(entries, reasons, strict=True) if r}


def _with_put_back(outcome: Any, cal_rows: Sequence[tuple[WorklistEntry, float]],
                   put_back: Mapping[int, tuple[str, str, str]]) -> Any:
    """The calibration outcome with each calibrator a reviewer put back (``put_back``: id of its
    worklist entry -> (the hold's reason, the reviewer's reason, the decisions file's row it came
    from or "")) saying so: in its point's reason while it is included (an accuracy failure keeps
    its own reason) and in ``reasons``."""
    points = list(outcome.points)
    reasons = list(outcome.reasons)
    for k, (e, _r) in enumerate(cal_rows):
        if id(e) not in put_back:
            continue
        held, why, source = put_back[id(e)]
        text = f"included by {source or 'reviewer'}: {why} (would be excluded before the fit: {held})"
        reasons.append(f"calibrator {e.level} (x={points[k].x:g}) {text}")
        if points[k].included:
            points[k] = replace(points[k], reason=text)
    return replace(outcome, points=tuple(points), reasons=reasons)


def _with_set_aside(outcome: Any, cal_rows: Sequence[tuple[WorklistEntry, float]], aside: set[int],
                    m: Method, analyte: str, tolerance_pct: float) -> Any:
    """The calibration outcome with the calibrators set aside before the fit (``aside``: ids of
    their worklist entries; saturated) added back as excluded points, in the order of
    ``cal_rows`` (every calibrator with a response, as the fit's points are), each with its reason."""
    from thioquant.calibration.accept import CalibrationPoint

    cal = outcome.calibration
    it = iter(outcome.points)
    points = []
    reasons = list(outcome.reasons)
    why = "saturated peak (signal integrity): excluded before the fit; dilute and re-inject"
    for e, r in cal_rows:
        if id(e) not in aside:
            points.append(next(it))
            continue
        x = m.nominal("calibrator", e.level, analyte)
        back = float(cal.inverse(r))
        points.append(CalibrationPoint(e.level, x, r, back, 100.0 * back / x if x else NAN, False, why,
                                       tolerance_pct))
        reasons.append(f"{e.level} excluded: {why}")
    return replace(outcome, points=tuple(points), reasons=reasons)


def _normalise(
    normalise: Any, m: Method, analyte: Compound, e: WorklistEntry, conc: float, lo: float, hi: float,
    flags: list[str],
) -> tuple[float, float, float]:
    """Sample concentration (dilution already applied) -> pmol/8x10^8 RBC with its interval.

    ``conc``, ``lo`` and ``hi`` are in the method's ``conc_unit``; they are converted here, and
    only here, to the unit the formula expects (nmol/L for ``rbc_count``, pmol per aliquot for
    ``fixed_cells``). The caller keeps reporting ``conc`` in ``conc_unit``.
    """
    if not math.isfinite(e.rbc_count):
        return NAN, NAN, NAN  # NO_RBC / BAD_RBC already flagged by the worklist reader
    norm = m.normalisation
    f = m.conc_factor(analyte)  # 1.0 for nmol/L and pmol: the same floats as before
    conc, lo, hi = conc * f, lo * f, hi * f
    if norm.mode == "rbc_count":
        value = normalise.per_8e8_rbc(conc, e.rbc_count, dilution=1.0, recovery=analyte.recovery)
    else:  # fixed_cells: conc is an amount (pmol) per aliquot
        n_cells = e.rbc_count * 1e6 * float(norm.aliquot_volume_ul)
        value = normalise.per_8e8_rbc_fixed_cells(conc, n_cells, recovery=analyte.recovery)
    low, high = normalise.normalised_interval(value, lo, hi, conc, rbc_cv_pct=norm.rbc_cv_pct)
    return float(value), float(low), float(high)


def _interpret(
    m: Method, entries: Sequence[WorklistEntry], results: Sequence[Result], messages: list[str],
    calibrations: Mapping[str, Any] | None = None,
) -> list[dict[str, str]]:
    """Rows of ``interpretation.csv``: one per patient sample, with its clinical context.

    A result below the LLOQ is known to be below the LLOQ expressed per 8x10^8 RBC at that
    sample's RBC count and dilution; that bound goes to the interpretation, which uses it for the
    lower bound of the MMP:TGN ratio when 6-TGN is undetectable (issue 19).
    """
    from thioquant.assay import normalise
    from thioquant.clinical import ClinicalContext, interpretation_rows, load_profile

    contexts = {}
    for e in entries:
        if e.sample_type == "unknown" and e.extra:
            # every problem of every row is reported; only the unusable fields are dropped
            ctx, problems = ClinicalContext.from_row_checked(e.extra)
            contexts[e.sample_id] = ctx
            messages.extend(f"row {e.row} ({e.sample_id}): clinical context: {p}" for p in problems)
    base = Path(m.source).parent if m.source else None
    profile = load_profile(m.interpretation_profile, base_dir=base)
    below: dict[tuple[str, str], float] = {}
    by_name = {a.name: a for a in m.analytes}
    undetected = {"NOT_DETECTED", "BELOW_LOD", "BELOW_LLOQ", "NO_PEAK"}
    entry_of = {(x.sample_id, x.injection): x for x in entries}
    for r in results:
        oc = (calibrations or {}).get(r.analyte)
        if r.sample_type != "unknown" or oc is None or not undetected & set(r.flags):
            continue
        e = entry_of.get((r.sample_id, r.injection))
        if e is None or m.normalisation.mode == "none" or not math.isfinite(oc.lloq):
            continue
        with contextlib.suppress(Exception):  # no bound is the old, looser behaviour
            v, _, _ = _normalise(normalise, m, by_name[r.analyte], e, oc.lloq * e.dilution, NAN, NAN, [])
            if math.isfinite(v) and v > 0:
                key = (r.sample_id, r.analyte)
                below[key] = max(below.get(key, 0.0), float(v))
    return interpretation_rows(results, profile=profile, contexts=contexts, method_family=m.family,
                               below_limits=below)


__all__ = ["BatchResult", "InjectionMeasurement", "measure_injection", "quantify", "requantify"]


# --- dask.distributed -------------------------------------------------------------------------

#: tasks in flight per worker thread: enough to keep every worker busy between round trips,
#: few enough that shipped file bytes do not pile up in the client's memory
_DASK_WINDOW_PER_THREAD = 4
#: how long to wait for the scheduler at ``--scheduler`` before giving up (exit 2)
_DASK_CONNECT_TIMEOUT_S = 20


def _pack(path: str) -> bytes | dict[str, bytes]:
    """The bytes of a raw file, or of every file in a raw folder (relative path -> bytes)."""
    p = Path(path)
    if p.is_dir():
        return {f.relative_to(p).as_posix(): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}
    if not p.is_file():  # a FIFO would block the client for ever; the worker's reader names it
        raise OSError(f"not a regular file: {p}")
    return p.read_bytes()


def _relabel(meas: InjectionMeasurement, read: str, shown: str) -> InjectionMeasurement:
    """The measurement of a file read at ``read`` as if read at ``shown`` (the worklist's path)."""
    if read == shown:
        return meas
    return replace(meas, file=shown, error=meas.error.replace(read, shown),
                   problems=tuple((k, c, r.replace(read, shown)) for k, c, r in meas.problems))


def measure_remote(shown: str, read: str, method: Method, manual: Mapping[str, tuple[float, float]] | None,
                   views: bool, blanks: Mapping[str, Any] | None,
                   payload: bytes | dict[str, bytes] | None = None,
                   widths: Mapping[str, float] | None = None) -> InjectionMeasurement:
    """:func:`measure_injection` on a dask worker: the file at ``read`` (an absolute path on a
    shared file system), or ``payload``, its bytes shipped by the client, written to a temporary
    folder under the same name. Messages name the file as the worklist does (``shown``)."""
    if payload is None:
        return _relabel(measure_injection(read, method, manual, views, blanks, widths), read, shown)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="thioquant-") as tmp:
        local = Path(tmp) / Path(shown).name
        if isinstance(payload, dict):
            for rel, data in payload.items():
                f = local / rel
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
            local.mkdir(exist_ok=True)  # an empty folder stays a folder
        else:
            local.write_bytes(payload)
        return _relabel(measure_injection(str(local), method, manual, views, blanks, widths), str(local), shown)


def _run_dask(tasks: list[tuple[Any, ...]], index: list[int], jobs: int, scheduler: str | None,
              ship_files: bool) -> Any:
    """Measure on dask.distributed: a LocalCluster of ``jobs`` workers, or the cluster at
    ``scheduler``. A task whose worker dies is rescheduled by the scheduler on another worker
    (up to ``distributed.scheduler.allowed-failures`` times; after that the injection is flagged
    as failed, with the reason, and the batch goes on)."""
    import contextlib
    import os

    try:
        from dask.distributed import Client, LocalCluster, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError:
        raise ThioquantError("--executor dask needs dask.distributed: pip install 'thioquant[cluster]'") from None
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout=_DASK_CONNECT_TIMEOUT_S, set_as_default=False))
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster, set_as_default=False))
        # the method and the blank traces go to the workers once, not with every task
        shared: dict[int, Any] = {}

        def once(obj: Any) -> Any:
            if obj is None:
                return None
            if id(obj) not in shared:
                shared[id(obj)] = client.scatter(obj, broadcast=True, hash=False)
            return shared[id(obj)]

        threads = sum(client.nthreads().values()) or max(1, jobs)
        window = max(2, _DASK_WINDOW_PER_THREAD * threads)
        pending = iter(zip(index, tasks, strict=True))
        where: dict[str, tuple[int, str]] = {}
        running = as_completed(loop=client.loop)

        def submit() -> bool:
            nxt = next(pending, None)
            if nxt is None:
                return False
            i, (path, m, manual, views, blanks, widths) = nxt
            read = os.path.abspath(path)  # the workers' working folders are not ours
            payload = None
            if ship_files:
                try:
                    payload = _pack(path)
                except OSError:
                    payload = None  # measure_injection names the unreadable file as usual
            fut = client.submit(measure_remote, path, read, once(m), manual, views, once(blanks), payload,
                                widths, pure=False)
            where[fut.key] = (i, path)
            running.add(fut)
            return True

        for _ in range(window):
            if not submit():
                break
        for fut in running:
            i, path = where.pop(fut.key)
            try:
                meas = fut.result()
            except KilledWorker as exc:
                meas = InjectionMeasurement(
                    path, internal_error=True,
                    error=f"{path}: could not be measured: every dask worker that tried it died ({exc}); "
                          "please report it with this file")
            fut.release()
            submit()
            yield i, meas
