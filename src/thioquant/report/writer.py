"""Write a batch's output folder, all staged and renamed into place in one step.

Always: results.csv, results.json, results.xlsx, calibration.json, interpretation.csv (when there
are patients), qc.csv, messages.txt. With ``report=True`` (default) also report.html and, with
``pdf=True`` (default), report.pdf and ``patients/<patient>_<sample>.pdf`` (one page each).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from thioquant.report.content import qc_rule_rows
from thioquant.report.output import staged_output
from thioquant.report.tables import calibration_json, result_rows, results_csv, table_csv

#: qc.csv columns; ``status`` (pass / fail / not_evaluated) was added last so existing positions hold
QC_COLUMNS = ["code", "analyte", "severity", "passed", "message", "status"]

#: Written instead of a report part that failed; the tabular results are still written.
REPORT_ERRORS = "report_errors.txt"


def write_outputs(
    batch: Any,
    out_dir: str | Path,
    *,
    force: bool = False,
    extra_text: Mapping[str, str] | None = None,
    report: bool = True,
    pdf: bool = True,
    history: Any = None,
    timestamp: bool = True,
    timings: dict[str, float] | None = None,
    progress: Callable[[str], None] | None = None,
    finalise: Callable[[Path], None] | None = None,
    profile: str | Path | None = None,
) -> Path:
    """Write every output file of ``batch`` (a :class:`~thioquant.pipeline.BatchResult`).

    Parameters
    ----------
    batch : BatchResult
    out_dir : output folder (created; replaced only with ``force``).
    force : replace an existing output folder.
    extra_text : further file names and their text (the audit trail, for example); they are
        written into the same staged folder, so they appear atomically with the rest.
    report : write report.html (and the PDFs unless ``pdf`` is False).
    pdf : write report.pdf and the per-patient PDFs in ``patients/``.
    history : QC history for Levey-Jennings charts: a :class:`~thioquant.qc.westgard.QCHistory`, a
        path to its SQLite file or a list of ``levey_jennings`` dicts. Default: the batch's
        ``qc_history`` attribute when it has one; no charts otherwise.
    timestamp : put the generation time (UTC) in the report footers.
    timings : if given, filled with seconds spent per part (for benchmarks).
    progress : optional callback told the name of each part as it starts.
    finalise : called with the staged folder once every file is written and before it is renamed
        into place (the audit trail uses it to record the hash of every output file).

    profile : interpretation profile whose reference ranges the reports show (default: the
        method's, which :func:`~thioquant.pipeline.quantify` already sets to its ``profile``).

    A report part that fails does not lose the results: its traceback goes to
    ``report_errors.txt`` in the output folder.
    """
    out = Path(out_dir)
    if profile is not None and str(profile) != str(getattr(batch.method, "interpretation_profile", "")):
        from dataclasses import replace

        batch = replace(batch, method=replace(batch.method, interpretation_profile=str(profile)))
    tm = timings if timings is not None else {}

    def step(name: str) -> float:
        if progress:
            progress(name)
        return time.perf_counter()

    with staged_output(out, force=force) as stage:
        t = step("tables")
        for name, text in (extra_text or {}).items():
            (stage / name).write_text(text, encoding="utf-8", newline="")
        rows = result_rows(batch.results)  # shared by results.csv, .json and .xlsx
        (stage / "results.csv").write_text(results_csv(batch.results, rows), encoding="utf-8", newline="")
        (stage / "calibration.json").write_text(
            calibration_json(batch.method, batch.calibrations), encoding="utf-8"
        )
        qc_rows = [{k: r[k] for k in QC_COLUMNS} for r in qc_rule_rows(batch)]
        (stage / "qc.csv").write_text(table_csv(qc_rows, QC_COLUMNS), encoding="utf-8", newline="")
        if batch.interpretations:
            from thioquant.assay.interpret import INTERPRETATION_COLUMNS

            (stage / "interpretation.csv").write_text(
                table_csv(batch.interpretations, INTERPRETATION_COLUMNS), encoding="utf-8", newline=""
            )
        (stage / "messages.txt").write_text("".join(f"{m}\n" for m in batch.messages), encoding="utf-8")
        tm["tables"] = time.perf_counter() - t
        errors: list[str] = []
        _guard(errors, tm, "json", step, lambda: _write_json(batch, stage, rows))
        _guard(errors, tm, "xlsx", step, lambda: _write_xlsx(batch, stage, rows))
        if report:
            _write_reports(batch, stage, pdf=pdf, history=history, timestamp=timestamp, tm=tm, step=step,
                           errors=errors)
        if errors:
            (stage / REPORT_ERRORS).write_text("\n".join(errors), encoding="utf-8")
        if finalise is not None:
            finalise(stage)
    return out


def _guard(errors: list[str], tm: dict[str, float], name: str, step: Callable[[str], float],
           fn: Callable[[], Any]) -> Any:
    t = step(name)
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a failed report part must not lose the results
        errors.append(f"{name}: {traceback.format_exc()}")
        return None
    finally:
        tm[name] = time.perf_counter() - t


def _write_json(batch: Any, stage: Path, rows: Any = None) -> None:
    from thioquant.report.json_out import results_json

    (stage / "results.json").write_text(results_json(batch, rows), encoding="utf-8", newline="")


def _write_xlsx(batch: Any, stage: Path, rows: Any = None) -> None:
    from thioquant.report.xlsx import write_xlsx

    write_xlsx(batch, stage / "results.xlsx", rows)


def _write_reports(batch: Any, stage: Path, *, pdf: bool, history: Any, timestamp: bool, tm: dict[str, float],
                   step: Callable[[str], float], errors: list[str]) -> None:
    from thioquant.report import content
    from thioquant.report.chrom import collect_panels

    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if timestamp else None
    panels = _guard(errors, tm, "chromatograms", step, lambda: collect_panels(batch)) or []
    if history is None:
        history = getattr(batch, "qc_history", None)
    lj = _guard(errors, tm, "levey_jennings", step, lambda: content.lj_series(history, batch)) or []

    def html() -> None:
        from thioquant.report.html import write_html

        write_html(stage / "report.html", batch, panels, lj=lj, generated=generated)

    def report_pdf() -> None:
        from thioquant.report.pdf import write_report_pdf

        write_report_pdf(batch, stage / "report.pdf", panels, lj=lj, generated=generated)

    def patients() -> None:
        from thioquant.report.pdf import write_patient_pdfs

        if batch.interpretations:
            write_patient_pdfs(batch, stage / "patients", panels, generated=generated)

    # The patient PDFs are independent of the batch report: on Linux they are written by a forked
    # process while this one writes report.html and report.pdf (the second core is otherwise idle
    # at this point; for 100 injections 0.13 s of 0.33 s).
    child = None
    if pdf and batch.interpretations and _can_fork():
        from thioquant.report.svg import panel_geometry

        for p in panels:  # computed once, before the fork, for both processes
            panel_geometry(p)
        child = _Background("patient_pdfs", patients)
    try:
        _guard(errors, tm, "html", step, html)
        if pdf:
            _guard(errors, tm, "pdf", step, report_pdf)
            if child is not None:
                step("patient_pdfs")
                child.finish(errors, tm)
                child = None
            else:
                _guard(errors, tm, "patient_pdfs", step, patients)
    finally:
        if child is not None:  # an exception in this process: do not leave the writer running
            child.finish([], {})
        # every panel's geometry is cached for the HTML, PDF and patient pages; once they are
        # written it is only memory (about 12 kB a panel) that a long-lived process would keep
        from thioquant.report.svg import panel_geometry

        panel_geometry.cache_clear()


_CAN_FORK = sys.platform.startswith("linux")


def _can_fork() -> bool:
    """Fork only on Linux and only from a single-threaded process: a thread holding a lock at the
    fork (a notebook kernel's, a web server's) could leave the child waiting for it forever."""
    import threading

    return _CAN_FORK and threading.active_count() == 1


class _Background:
    """``fn()`` run in a forked child process; :meth:`finish` waits and records as :func:`_guard`.

    The child inherits the batch (no pickling) and reports its duration and, if it failed, its
    traceback through a pipe; it leaves with ``os._exit`` so that nothing of the parent (open
    files, SQLite connections, atexit handlers) is finalised twice.
    """

    def __init__(self, name: str, fn: Callable[[], Any]) -> None:
        self.name = name
        self.t0 = time.perf_counter()
        r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child
            os.close(r)
            code, msg = 0, ""
            try:
                fn()
            except BaseException:  # noqa: BLE001 - reported to the parent, which decides
                code, msg = 1, traceback.format_exc()
            try:
                with os.fdopen(w, "w", encoding="utf-8") as fh:
                    fh.write(json.dumps({"seconds": time.perf_counter() - self.t0, "error": msg}))
            finally:
                os._exit(code)
        os.close(w)
        self.reader = os.fdopen(r, encoding="utf-8")

    def finish(self, errors: list[str], tm: dict[str, float]) -> None:
        with self.reader:
            text = self.reader.read()
        _, status = os.waitpid(self.pid, 0)
        try:
            out = json.loads(text)
        except ValueError:
            out = {"seconds": time.perf_counter() - self.t0,
                   "error": f"the writing process ended without a result (wait status {status})"}
        tm[self.name] = float(out["seconds"])
        if out["error"]:
            errors.append(f"{self.name}: {out['error']}")


__all__ = ["QC_COLUMNS", "REPORT_ERRORS", "write_outputs"]
