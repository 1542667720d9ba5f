"""The batch pipeline: worklist + raw files + method -> results.

read -> traces -> peaks -> responses -> calibration -> concentrations -> normalisation -> QC.

Each injection is measured on its own (:func:`thioquant.measure.measure_injection`, a pure
function of one raw file and the method, mapped over by :mod:`thioquant.executors`); everything
after it works on the small per-injection measurements (:mod:`thioquant.quantitation`, then the
run QC), so memory stays flat however large the batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from thioquant.assay.method import Method, find_method_file, load_method
from thioquant.assay.worklist import MAX_ROWS, Worklist, WorklistEntry, read_worklist
from thioquant.errors import CalibrationError, InputError, MethodError, ThioquantError
from thioquant.executors import _measure_all, _measure_set, _Measuring
from thioquant.measure import calibrator_widths
from thioquant.measurement import InjectionMeasurement, channel_keys
from thioquant.measurement import trace_for as _trace_for
from thioquant.model import Result
from thioquant.quantitation import _interpret, _quantify_measurements


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
    traces of its channel and its qualifier's (keys as in :func:`~thioquant.measure.measure_injection`); every
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


__all__ = ["BatchResult", "quantify", "requantify"]
