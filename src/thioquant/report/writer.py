"""Write a batch's output folder, all staged and renamed into place in one step.

Always: results.csv, results.json, results.xlsx, calibration.json, interpretation.csv (when there
are patients), qc.csv, messages.txt. With ``report=True`` (default) also report.html and, with
``pdf=True`` (default), report.pdf and ``patients/<patient>_<sample>.pdf`` (one page each).

Any part that fails fails the whole write: the staging folder is removed and an existing output
folder is left as it was, so an output folder is either complete or not there.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from thioquant.report.content import qc_rule_rows
from thioquant.report.output import ALWAYS_WRITTEN, OUTPUT_NAMES, is_output_name, staged_output
from thioquant.report.tables import batch_rows, calibration_json, results_csv, table_csv

#: qc.csv columns; ``status`` (pass / fail / not_evaluated) and then ``rule`` (the rule's name) were
#: added last so existing positions hold; ``code`` is empty for a rule that passed
QC_COLUMNS = ["code", "analyte", "severity", "passed", "message", "status", "rule"]

def messages_text(messages: Iterable[str]) -> str:
    """messages.txt: one line per message; a line a spreadsheet would run as a formula neutralised."""
    from thioquant.csvcell import safe_cell

    return "".join(f"{safe_cell(m)}\n" for m in messages)


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
    force : replace an existing output folder, if it is empty or an earlier thioquant output folder
        (see :func:`~thioquant.report.output.replaceable_reason`); anything else is refused.
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

    Raises
    ------
    OutputError : the folder exists (without ``force``, or with it but is not an earlier output
        folder) or a file cannot be written (disk full,
        permission denied...); nothing is put in place and an existing folder is unchanged.
    Exception : a report part that fails for another reason (a bug) is raised as it is, with the
        same guarantee.
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
        rows = batch_rows(batch)  # shared by results.csv, .json and .xlsx
        # results.xlsx (openpyxl: 0.45-0.6 s for 960 injections, the largest part of a batch's
        # serial tail) is written by a forked process while this one writes the other files; when
        # the reports fork the patient-PDF writer, this process writes it after report.pdf while
        # that one works: two forked writers at once each held a copy of the pages the other
        # processes wrote to (copy on write), 86 MB of PSS at 2,880 injections. (Written by the
        # patient-PDF writer after its pages, the writer's wall time at 960 injections was 0.3 s
        # shorter and the peak PSS 5-12 MB higher at 960 and 2,880: not kept.)
        late = report and pdf and bool(batch.interpretations) and _can_fork()
        xlsx = _Background("xlsx", lambda: _write_xlsx(batch, stage, rows)) if _can_fork() and not late else None
        try:
            _write_rest(batch, stage, rows, tm, t, step, xlsx, report=report, pdf=pdf, history=history,
                        timestamp=timestamp, late_xlsx=late)
        finally:
            if xlsx is not None and not xlsx.done:  # an exception here: stop the writer (its file is discarded)
                xlsx.kill()
        if finalise is not None:
            finalise(stage)
    return out


def _write_rest(batch: Any, stage: Path, rows: Any, tm: dict[str, float], t: float,
                step: Callable[[str], float], xlsx: _Background | None, *, report: bool, pdf: bool,
                history: Any, timestamp: bool, late_xlsx: bool = False) -> None:
    """Every output file but the extra texts (and results.xlsx when ``xlsx`` writes it; with
    ``late_xlsx``, after report.pdf, while the forked patient-PDF writer works)."""
    (stage / "results.csv").write_text(results_csv(batch.results, rows), encoding="utf-8", newline="")
    (stage / "calibration.json").write_text(
        calibration_json(batch.method, batch.calibrations), encoding="utf-8"
    )
    # a rule is named in "rule"; "code" is the flag it raised, so empty when it passed (qc.csv
    # read "CAL_FAIL ... pass" for an accepted calibration)
    qc_rows = [{**{k: r[k] for k in QC_COLUMNS}, "code": "" if r["status"] == "pass" else r["code"]}
               for r in qc_rule_rows(batch)]
    (stage / "qc.csv").write_text(table_csv(qc_rows, QC_COLUMNS), encoding="utf-8", newline="")
    if batch.interpretations:
        from thioquant.assay.interpret import INTERPRETATION_COLUMNS

        (stage / "interpretation.csv").write_text(
            table_csv(batch.interpretations, INTERPRETATION_COLUMNS), encoding="utf-8", newline=""
        )
    (stage / "messages.txt").write_text(messages_text(batch.messages), encoding="utf-8")
    tm["tables"] = time.perf_counter() - t
    _timed(tm, "json", step, lambda: _write_json(batch, stage, rows))
    late = (lambda: _write_xlsx(batch, stage, rows)) if late_xlsx else None  # only with the PDFs (write_outputs)
    if xlsx is None and late is None:
        _timed(tm, "xlsx", step, lambda: _write_xlsx(batch, stage, rows))
    if report:
        _write_reports(batch, stage, pdf=pdf, history=history, timestamp=timestamp, tm=tm, step=step, late=late)
    if xlsx is not None:  # waited for last: it overlaps the reports too
        step("xlsx")
        xlsx.finish(tm)


def _timed(tm: dict[str, float], name: str, step: Callable[[str], float], fn: Callable[[], Any]) -> Any:
    # A failure is not caught here: a folder missing a part (or holding a truncated one) must not
    # be put in place as if complete; staged_output discards it and the caller reports the error.
    t = step(name)
    try:
        return fn()
    finally:
        tm[name] = time.perf_counter() - t


def _write_json(batch: Any, stage: Path, rows: Any = None) -> None:
    from thioquant.report.json_out import write_results_json

    write_results_json(stage / "results.json", batch, rows)


def _write_xlsx(batch: Any, stage: Path, rows: Any = None) -> None:
    from thioquant.report.xlsx import write_xlsx

    write_xlsx(batch, stage / "results.xlsx", rows)


def _write_reports(batch: Any, stage: Path, *, pdf: bool, history: Any, timestamp: bool, tm: dict[str, float],
                   step: Callable[[str], float], late: Callable[[], None] | None = None) -> None:
    """report.html, report.pdf and the patient PDFs; ``late`` (results.xlsx) is written after
    report.pdf, while the forked patient-PDF writer works."""
    from thioquant.report import content
    from thioquant.report.chrom import collect_panels

    generated = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if timestamp else None
    panels = _timed(tm, "chromatograms", step, lambda: collect_panels(batch))
    if history is None:
        history = getattr(batch, "qc_history", None)
    lj = _timed(tm, "levey_jennings", step, lambda: content.lj_series(history, batch))

    def patients() -> None:
        from thioquant.report.pdf import write_patient_pdfs

        if batch.interpretations:
            write_patient_pdfs(batch, stage / "patients", panels, generated=generated)

    # The patient PDFs are independent of the batch report: on Linux they are written by a forked
    # process while this one writes report.html and report.pdf (the second core is otherwise idle
    # at this point; for 100 injections 0.13 s of 0.33 s). It draws its own panels' geometry:
    # none is computed for the whole batch beforehand (14 kB an injection held until the end).
    child = None
    if pdf and batch.interpretations and _can_fork():
        child = _Background("patient_pdfs", patients)
    try:
        if pdf:
            _html_and_pdf(batch, stage, panels, lj, generated, tm, step)
            if late is not None:  # results.xlsx, while the forked patient-PDF writer works
                _timed(tm, "xlsx", step, late)
            if child is not None:
                step("patient_pdfs")
                pending, child = child, None
                pending.finish(tm)
            else:
                _timed(tm, "patient_pdfs", step, patients)
        else:
            from thioquant.report.html import write_html

            _timed(tm, "html", step, lambda: write_html(stage / "report.html", batch, panels, lj=lj,
                                                         generated=generated))
    finally:
        if child is not None:  # an exception in this process: stop the writer, its pages are discarded
            child.kill()
        # the few panels' geometry still cached: only memory that a long-lived process would keep
        from thioquant.report.svg import panel_geometry

        panel_geometry.cache_clear()


def _html_and_pdf(batch: Any, stage: Path, panels: Any, lj: Any, generated: str | None, tm: dict[str, float],
                  step: Callable[[str], float]) -> None:
    """report.html and report.pdf in one pass over the chromatograms.

    The PDF's chromatogram grid is drawn row by row as report.html's chromatogram section is
    written, from the same rows: each panel's geometry is computed once for both and dropped
    once both have drawn it. (Written one after the other, the geometry of every panel of the
    batch was cached in between: 41 MB at 2,880 injections.) The PDF is built in memory, at its
    compressed size, and written once complete; its time counts as "pdf", the rest as "html".
    """
    from thioquant.report.html import write_html
    from thioquant.report.pdf import iter_report

    t = step("html")
    pdf_s = 0.0
    doc = None
    steps = iter_report(batch, panels, lj=lj, generated=generated)

    def rows() -> Iterator[Any]:
        nonlocal doc, pdf_s
        while True:
            t0 = time.perf_counter()
            try:
                row = next(steps)
            except StopIteration as done:
                doc = done.value
                return
            finally:
                pdf_s += time.perf_counter() - t0
            yield row

    write_html(stage / "report.html", batch, panels, lj=lj, generated=generated, chromatogram_rows=rows())
    tm["html"] = time.perf_counter() - t - pdf_s
    t = step("pdf")
    if doc is None:  # never: report.html's chromatogram section consumes every row
        raise RuntimeError("report.pdf was not completed with report.html")
    doc.save(stage / "report.pdf")
    tm["pdf"] = time.perf_counter() - t + pdf_s


_CAN_FORK = sys.platform.startswith("linux")


def _can_fork() -> bool:
    """Fork only on Linux and only from a single-threaded process: a thread holding a lock at the
    fork (a notebook kernel's, a web server's) could leave the child waiting for it forever."""
    import threading

    return _CAN_FORK and threading.active_count() == 1


class _Background:
    """``fn()`` run in a forked child process; :meth:`finish` waits and raises what it raised.

    The child inherits the batch (no pickling) and reports its duration and, if it failed, its
    exception through a pipe; it leaves with ``os._exit`` so that nothing of the parent (open
    files, SQLite connections, atexit handlers) is finalised twice.
    """

    def __init__(self, name: str, fn: Callable[[], Any]) -> None:
        self.name = name
        self.t0 = time.perf_counter()
        r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the child
            os.close(r)
            code, err = 0, {}
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
                code = 1
                err = {"error": traceback.format_exc(), "type": type(exc).__name__, "message": str(exc)}
                if isinstance(exc, OSError):  # raised again in the parent as the same OSError
                    err.update(errno=exc.errno, strerror=exc.strerror, filename=exc.filename)
            try:
                with os.fdopen(w, "w", encoding="utf-8") as fh:
                    fh.write(json.dumps({"seconds": time.perf_counter() - self.t0, **err}))
            finally:
                os._exit(code)
        os.close(w)
        self.reader = os.fdopen(r, encoding="utf-8")
        self.done = False  # True once the child is reaped

    def finish(self, tm: dict[str, float]) -> None:
        """Wait for the child; raise its OSError as such, any other failure as RuntimeError."""
        with self.reader:
            text = self.reader.read()
        _, status = os.waitpid(self.pid, 0)
        self.done = True
        try:
            out = json.loads(text)
        except ValueError:
            out = {"seconds": time.perf_counter() - self.t0, "type": "RuntimeError",
                   "error": f"the writing process ended without a result (wait status {status})"}
        tm[self.name] = float(out["seconds"])
        if out.get("errno") is not None:
            raise OSError(out["errno"], out["strerror"], out["filename"])
        if out.get("error"):
            exc = RuntimeError(f"{self.name}: {out['type']}: {out.get('message', out['error'])}")
            exc.add_note(f"in the forked writing process:\n{out['error']}")
            raise exc

    def kill(self) -> None:
        """Stop the child now (its output is being discarded) and reap it."""
        os.kill(self.pid, signal.SIGKILL)  # not yet reaped, so the pid is still this child's
        self.reader.close()
        os.waitpid(self.pid, 0)
        self.done = True


__all__ = ["ALWAYS_WRITTEN", "OUTPUT_NAMES", "QC_COLUMNS", "is_output_name", "write_outputs"]
