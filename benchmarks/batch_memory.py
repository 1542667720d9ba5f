"""Where a batch's memory goes, stage by stage, with the default reports (HTML, PDF, patient PDFs).

    uv run --group bench python benchmarks/batch_memory.py [--n 96,960,2880] [--src DIR] [--jobs 2]

Runs ``thioquant quantify BATCH --jobs 2 --no-cache --no-history --large`` (the command of
``bench_batch.py``'s "with the default reports" table) as a subprocess with light hooks, on
``bench_batch.py``'s batches (the bundled 42-injection LC-MS/MS design repeated, raw files
symlinked), and reports for each stage:

* the main process's peak resident memory during the stage, exactly (the kernel's high-water
  mark ``VmHWM``, reset at each stage boundary through ``/proc/self/clear_refs``);
* the peak PSS and RSS of the whole process tree (workers, forked writers), sampled every 30 ms
  from outside, and the peak PSS of each process alive in the stage.

Stages: imports and checks, the calibrators' measuring set, the other injections' set,
calibration and concentrations, run QC, interpretation, then each part of the output writer as
its ``progress`` callback names it (tables, json, xlsx, chromatograms, levey_jennings, html, pdf,
patient_pdfs: "html" is report.html and report.pdf drawn together, "pdf" writing report.pdf out),
and the audit/summary/release after it. ``--src`` runs another checkout's ``src`` (e.g. main's,
from ``git archive``) for a before/after; the hooks only wrap functions, so no result changes.
Writes benchmarks/results_batch_memory.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for ln in fh:
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1]) / 1024
    return float("nan")


def _child(argv: list[str]) -> None:
    """Inside the measured process: install the hooks, run the CLI, dump the marks as JSON."""
    import functools

    marks: list[tuple[str, float, float]] = []  # (stage that starts, wall time, peak RSS of the stage that ended)

    def mark(name: str) -> None:
        peak = _hwm_mb()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM to the current RSS
        except OSError:
            pass
        marks.append((name, time.time(), peak))

    mark("imports and checks")
    import thioquant.cli as cli
    import thioquant.pipeline as pipeline
    import thioquant.qc.run as qc_run
    import thioquant.report.writer as writer

    def wrap(mod: object, name: str, label: str, after: str) -> None:
        f = getattr(mod, name)

        @functools.wraps(f)
        def w(*a: object, **k: object) -> object:
            mark(label)
            try:
                return f(*a, **k)
            finally:
                mark(after)

        setattr(mod, name, w)

    try:  # where quantify's measuring sets run (thioquant.executors since pipeline.py was split)
        import thioquant.executors as executors
    except ImportError:  # an older --src tree
        executors = pipeline
    sets = iter(["measuring: calibrators", "measuring: the other injections"])
    measure_set = executors._measure_set

    @functools.wraps(measure_set)
    def ms(*a: object, **k: object) -> object:
        mark(next(sets, "measuring"))
        try:
            return measure_set(*a, **k)
        finally:
            mark("after measuring")

    executors._measure_set = ms
    wrap(pipeline, "_quantify_measurements", "calibration and concentrations", "after calibration")
    wrap(qc_run, "evaluate_run", "run QC", "after run QC")
    wrap(pipeline, "_interpret", "interpretation", "after interpretation")
    write_outputs = writer.write_outputs

    @functools.wraps(write_outputs)
    def wo(*a: object, **k: object) -> object:
        k.setdefault("progress", lambda name: mark(f"output: {name}"))
        try:
            return write_outputs(*a, **k)
        finally:
            mark("audit, summary, release")

    writer.write_outputs = wo
    if hasattr(writer, "_Background"):  # the forked writers: waiting for them is a stage of its own
        finish = writer._Background.finish

        def fin(self: object, tm: dict) -> None:
            mark(f"output: waiting for the forked {getattr(self, 'name', '?')} writer")
            finish(self, tm)

        writer._Background.finish = fin
    sys.argv = ["thioquant", *argv]
    try:
        cli.main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        mark("exit")
        with open(os.environ["TQ_MEMORY_MARKS"], "w", encoding="utf-8") as fh:
            json.dump(marks, fh)


def _proc_mem(pid: int) -> tuple[float, float] | None:
    """(PSS, RSS) MB of one process, None once it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for ln in fh:
                k = ln.split(":")[0]
                if k in ("Pss", "Rss"):
                    out[k] = int(ln.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return out.get("Pss", 0.0), out.get("Rss", 0.0)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, stack = [], [root]
    while stack:
        p = stack.pop()
        out.append(p)
        stack += children.get(p, [])
    return out


def run_once(batch: Path, jobs: int, src: Path | None) -> dict:
    """One measured run: the child's stage marks and the tree's samples."""
    from bench_batch import _env

    out = HERE / "_work" / f"out_memory_{batch.name}"
    with tempfile.TemporaryDirectory() as tmp:
        marks_file = Path(tmp) / "marks.json"
        env = _env({"TQ_MEMORY_MARKS": str(marks_file), **({"PYTHONPATH": str(src.resolve())} if src else {})})
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "quantify", str(batch), "--out", str(out),
               "--force", "--no-cache", "--no-history", "--jobs", str(jobs), "--quiet", "--large"]
        load = os.getloadavg()[0]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        samples: list[tuple[float, float, float, dict[int, tuple[float, float]]]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():  # the tree's totals from the same reading of each process
                per = {p: m for p in _tree(proc.pid) if (m := _proc_mem(p)) is not None}
                samples.append((time.time(), sum(m[1] for m in per.values()), sum(m[0] for m in per.values()), per))
                time.sleep(0.03)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        _, err = proc.communicate()
        stop.set()
        th.join()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode()[-2000:]}")
        marks = json.loads(marks_file.read_text(encoding="utf-8"))
    return {"marks": marks, "samples": samples, "load": load, "root": proc.pid}


def stage_table(data: dict) -> tuple[list[str], float, float]:
    """Markdown rows, one per stage, and the run's peak tree PSS and RSS."""
    marks, samples, root = data["marks"], data["samples"], data["root"]
    rows = []
    for (name, t0, _), (_, t1, peak_main) in zip(marks, marks[1:], strict=False):
        seg = [s for s in samples if t0 <= s[0] <= t1]
        if not seg:
            if t1 - t0 >= 0.01:
                rows.append(f"| {name} | {t1 - t0:.2f} | {peak_main:.0f} | | | |")
            continue
        best = max(seg, key=lambda s: s[2])
        procs = ", ".join(f"{'main' if p == root else p} {m[0]:.0f}" for p, m in sorted(best[3].items(),
                                                                                         key=lambda x: x[0] != root))
        rows.append(f"| {name} | {t1 - t0:.2f} | {peak_main:.0f} | {best[2]:.0f} | {max(s[1] for s in seg):.0f} "
                    f"| {procs} |")
    return rows, max(s[2] for s in samples), max(s[1] for s in samples)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", default="96,960,2880", help="batch sizes (LC-MS/MS injections), comma-separated")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--src", type=Path, default=None, help="run thioquant from this source folder instead")
    ap.add_argument("--out", type=Path, default=HERE / "results_batch_memory.md")
    args = ap.parse_args()
    from bench_batch import WORK, build_batch

    WORK.mkdir(parents=True, exist_ok=True)
    lines = [f"Peak memory by stage with the default reports, LC-MS/MS, `--jobs {args.jobs}`, {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             + (f", thioquant from `{args.src}`" if args.src else ""), ""]
    summary = ["| injections | peak PSS MB (tree) | peak RSS MB (tree) | main process peak RSS MB | load average |",
               "|---|---|---|---|---|"]
    for n in (int(x) for x in args.n.split(",")):
        batch = build_batch("lcmsms", n)
        data = run_once(batch, args.jobs, args.src)
        rows, pss, rss = stage_table(data)
        main_peak = max(m[2] for m in data["marks"])
        summary.append(f"| {n} | {pss:.0f} | {rss:.0f} | {main_peak:.0f} | {data['load']:.1f} |")
        lines += [f"### {n} injections (load average {data['load']:.1f})", "",
                  "| stage (starts) | wall s | main process peak RSS MB | tree peak PSS MB | tree peak RSS MB "
                  "| PSS MB per process at the tree's peak |", "|---|---|---|---|---|---|", *rows, ""]
        print(f"{n} injections: peak PSS {pss:.0f} MB, RSS {rss:.0f} MB, main process {main_peak:.0f} MB", flush=True)
    text = "\n".join([*lines[:2], *summary, "", *lines[2:]]) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
