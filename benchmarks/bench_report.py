"""How much report generation adds to the run time of a batch.

Simulates a 100-injection LC-MS/MS batch (82 patients; ``--quick``: the bundled 42-injection
batch), then measures, as the median of ``--repeat`` runs:

* in process: ``quantify()`` (the pipeline) and ``write_outputs()`` part by part (CSV tables,
  results.json, results.xlsx, re-reading the chromatograms, report.html, report.pdf, the
  per-patient PDFs);
* end to end: ``thioquant quantify --no-report`` against ``thioquant quantify`` (default: HTML and
  PDFs), both with ``--no-cache --no-history``, as subprocesses run alternately (median and
  fastest run; on a shared machine the fastest runs are the least disturbed).

The overhead is (time with the reports - time without) / time without. Results print as a
Markdown table. Run: ``uv run python benchmarks/bench_report.py [--quick] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cli(batch: Path, out: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "thioquant", "quantify", str(batch), "--out", str(out), "--force",
           "--no-cache", "--no-history", "--quiet", *extra]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def _forks() -> bool:
    from thioquant.report import writer

    return writer._can_fork()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="bundled 42-injection batch, one repeat")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--patients", type=int, default=82, help="patients in the simulated batch (+18 others)")
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat

    from thioquant.pipeline import quantify
    from thioquant.report.writer import write_outputs

    tmp = Path(tempfile.mkdtemp(prefix="bench_report_"))
    try:
        if args.quick:
            batch_dir = REPO / "sample_data" / "lcmsms"
        else:
            from thioquant.simulate import simulate_batch

            batch_dir = simulate_batch(tmp / "batch", method="thiopurines_lcmsms", n_patients=args.patients)
        n_inj = sum(1 for _ in (batch_dir / "raw").iterdir())

        pipe, parts_runs = [], []
        for _ in range(repeat):
            t = time.perf_counter()
            quantify(batch_dir)
            pipe.append(time.perf_counter() - t)
            # As the CLI runs it with a report: the workers also keep decimated chromatogram views;
            # that extra time is charged to the report.
            t = time.perf_counter()
            b = quantify(batch_dir, keep_views=True)
            views_cost = max(0.0, time.perf_counter() - t - pipe[-1])
            tm: dict[str, float] = {"views (in the workers)": views_cost}
            t = time.perf_counter()
            write_outputs(b, tmp / "out", force=True, timings=tm)
            # the patient PDFs are written by a forked process while report.html and report.pdf
            # are written here (Linux), so the parts overlap: their total is the wall time
            tm["_wall"] = time.perf_counter() - t + views_cost
            parts_runs.append(tm)
        parts = {k: statistics.median(r[k] for r in parts_runs) for k in parts_runs[0] if k != "_wall"}
        t_pipe = statistics.median(pipe)
        t_tables = parts["tables"]
        t_reports = statistics.median(r["_wall"] - r["tables"] for r in parts_runs)
        cold_pipe = pipe[0]
        cold_reports = parts_runs[0]["_wall"] - parts_runs[0]["tables"]

        no_rep, with_rep = [], []
        _cli(batch_dir, tmp / "warm", "--no-report")  # warm file caches
        for _ in range(repeat):
            no_rep.append(_cli(batch_dir, tmp / "a", "--no-report"))
            with_rep.append(_cli(batch_dir, tmp / "b"))
        t_no, t_with = statistics.median(no_rep), statistics.median(with_rep)
        m_no, m_with = min(no_rep), min(with_rep)

        print(f"## Report generation, {n_inj}-injection LC-MS/MS batch (median of {repeat})\n")
        print("| part | first run in a fresh process (s) | warm, median (s) |")
        print("|---|---:|---:|")
        print(f"| pipeline `quantify()` | {cold_pipe:.3f} | {t_pipe:.3f} |")
        for k, v in parts.items():
            note = " (forked, beside html and pdf)" if k == "patient_pdfs" and _forks() else ""
            print(f"| write: {k}{note} | {parts_runs[0][k]:.3f} | {v:.3f} |")
        print(f"| **all report parts** (json, xlsx, chromatograms, html, pdf, patient pdfs; wall time) "
              f"| **{cold_reports:.3f}** | **{t_reports:.3f}** |")
        print(f"\nIn process, first run: reports add {cold_reports:.2f} s to {cold_pipe + parts_runs[0]['tables']:.2f} s "
              f"= **{100 * cold_reports / (cold_pipe + parts_runs[0]['tables']):.1f} %**; warm (pipeline imports and "
              f"caches loaded): {t_reports:.2f} s to {t_pipe + t_tables:.2f} s = "
              f"**{100 * t_reports / (t_pipe + t_tables):.1f} %**.\n")
        print("| end to end (`thioquant quantify`, subprocess) | seconds |")
        print("|---|---:|")
        print(f"| `--no-report` | {t_no:.3f} |")
        print(f"| default (report.html, report.pdf, patients/*.pdf) | {t_with:.3f} |")
        print(f"\nEnd to end: reports add {t_with - t_no:.2f} s = **{100 * (t_with - t_no) / t_no:.1f} %** (medians); "
              f"{m_with - m_no:.2f} s = **{100 * (m_with - m_no) / m_no:.1f} %** (fastest runs). Runs without: "
              f"{', '.join(f'{v:.2f}' for v in no_rep)}; with: {', '.join(f'{v:.2f}' for v in with_rep)}.")
        size = {p.name: p.stat().st_size for p in (tmp / "b").iterdir() if p.is_file()}
        n_pat = len(list((tmp / "b" / "patients").glob("*.pdf")))
        print(f"\nSizes: report.html {size.get('report.html', 0) / 1e6:.2f} MB, report.pdf "
              f"{size.get('report.pdf', 0) / 1e6:.2f} MB, results.xlsx {size.get('results.xlsx', 0) / 1e3:.0f} kB, "
              f"{n_pat} patient PDFs.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
