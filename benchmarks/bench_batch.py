"""Batch throughput: thioquant end to end beside a pyopenms pipeline.

Builds LC-MS/MS batches of 96, 960 and 9,600 injections (6 MRM traces each) and HPLC-UV batches
of 96 and 960 by repeating the bundled 42-injection design (blank, zero, 8 calibrators, blank,
QCs, 24 patients, QCs, blank) with symlinks to the bundled raw files, then times
``thioquant quantify --no-cache --no-history`` (no HTML report is involved here) as a subprocess,
sampling the resident memory of its whole process tree. The pyopenms pipeline does the same work
with OpenMS's own components: MzMLFile -> PeakPickerChromatogram -> PeakIntegrator (nearest peak
to the expected retention time) on the same six transitions thioquant integrates (quantifier,
qualifier and internal standard of both analytes) -> AbsoluteQuantitation (linear, 1/x^2) on the
IS ratio. It too runs as its own process (this script with --openms-pipeline), so both figures
include interpreter start-up, imports and the process pool; it runs twice, with pyopenms's
default OpenMP threads and with OMP_NUM_THREADS=1 (the tuned peer). Each batch up to 960 injections is run ``--repeat`` times,
thioquant and pyopenms interleaved, and the medians are reported.

    uv run python benchmarks/bench_batch.py            # full (3 minutes on 2 cores on 2026-12-03)
    uv run python benchmarks/bench_batch.py --quick    # 96 and 960 only
    uv run python benchmarks/bench_batch.py --peer     # the issue-23 target only: 960 against the
                                                       # one-thread pyopenms pipeline, 5 pairs, CPU too
    uv run python benchmarks/bench_batch.py --peer --base-src /tmp/main/src   # and main's code beside

Last, peak memory with the default reports (HTML, PDF, patient PDFs) for 96, 960 and 2,880
LC-MS/MS injections (one run each), to show how it grows when every chromatogram is drawn:

    uv run python benchmarks/bench_batch.py --reports-only                          # that table only
    uv run python benchmarks/bench_batch.py --reports-only --report-sizes 96,960,2880,9600

``--reports-only`` replaces only that table in results_batch.md (benchmarks/batch_memory.py
breaks the same runs down by stage).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"


def build_batch(kind: str, n: int) -> Path:
    """A batch folder of ``n`` injections repeating the bundled design (raw files symlinked)."""
    src = ROOT / "sample_data" / kind
    out = WORK / f"{kind}_{n}"
    if out.exists():
        shutil.rmtree(out)
    (out / "raw").mkdir(parents=True)
    with open(src / "worklist.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = list(rows[0])
    new = []
    rep = 0
    while len(new) < n:
        rep += 1
        for r in rows:
            if len(new) >= n:
                break
            r2 = dict(r)
            r2["sample_id"] = f"{r['sample_id']}-r{rep}"
            r2["injection"] = str(len(new) + 1)
            link = out / "raw" / f"{len(new) + 1:05d}_{Path(r['file']).name}"
            os.symlink((src / r["file"]).resolve(), link)
            r2["file"] = f"raw/{link.name}"
            new.append(r2)
    with open(out / "worklist.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(new)
    shutil.copy(src / "batch.toml", out / "batch.toml")
    return out


def _tree_mem_mb(root_pid: int) -> tuple[float, float]:
    """Resident (RSS) and proportional (PSS) memory, MB, of a process and its descendants.

    RSS summed over processes counts every page that forked processes share once per process;
    PSS divides each shared page among its sharers, so its sum is the memory the tree really
    holds (read from /proc/<pid>/smaps_rollup; RSS where that is not readable).
    """
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            pages = int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
        rss[int(d)] = pages
    total, total_pss, stack = 0.0, 0.0, [root_pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while stack:
        p = stack.pop()
        r = rss.get(p, 0) * page / 1e6
        total += r
        pss = r
        try:
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for ln in fh:
                    if ln.startswith("Pss:"):
                        pss = int(ln.split()[1]) * 1024 / 1e6
                        break
        except (OSError, ValueError, IndexError):
            pass
        total_pss += pss
        stack += children.get(p, [])
    return total, total_pss


#: CPU seconds (user + system) of the last command run_measured ran, its whole process tree
#: (the workers are waited for by their parent, so getrusage(RUSAGE_CHILDREN) counts them)
LAST_CPU = [math.nan]


def _child_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every measured command: bytecode is written and read (a session that
    sets PYTHONDONTWRITEBYTECODE=1 made every process compile ~500 modules, 1.4 s each; an
    installed thioquant has its bytecode), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **(extra or {})}


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall time (s), peak total RSS and peak total PSS (MB) of a command's process tree; its CPU
    seconds go to ``LAST_CPU[0]``."""
    peak = [0.0, 0.0]
    cpu0 = _child_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(env))
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            r, q = _tree_mem_mb(proc.pid)
            peak[0], peak[1] = max(peak[0], r), max(peak[1], q)
            time.sleep(0.05)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    LAST_CPU[0] = _child_cpu() - cpu0
    stop.set()
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err.decode()[-2000:]}")
    return wall, peak[0], peak[1]


def thioquant_run(batch: Path, jobs: int, report: bool = False, src: Path | None = None) -> tuple[float, float, float]:
    """``src``: run thioquant from that source folder instead (PYTHONPATH), e.g. main's code
    unpacked with ``git archive``, to time it beside this checkout's."""
    out = WORK / f"out_{batch.name}_{jobs}{'_src' if src else ''}"
    cmd = [sys.executable, "-m", "thioquant", "quantify", str(batch), "--out", str(out), "--force",
           "--no-cache", "--no-history", *([] if report else ["--no-report"]), "--jobs", str(jobs), "--quiet",
           "--large"]  # 9,600 rows pass the worklist's 5,000-row guard against hostile inputs only with it
    return run_measured(cmd, env={"PYTHONPATH": str(src.resolve())} if src else None)


# --- the pyopenms pipeline ----------------------------------------------------------------------

_TARGETS = {  # (precursor, product) -> expected RT in minutes, from the LC-MS/MS method:
    # quantifier, qualifier (for the ion ratio, as thioquant measures it) and internal standard
    (168.0, 151.0): 1.45, (168.0, 134.0): 1.45, (171.0, 154.0): 1.45,
    (167.0, 126.0): 2.35, (167.0, 152.0): 2.35, (170.0, 129.0): 2.35,
}


def _openms_injection(path: str) -> dict[tuple[float, float], float]:
    import pyopenms as oms

    exp = oms.MSExperiment()
    oms.MzMLFile().load(path, exp)
    picker = oms.PeakPickerChromatogram()
    integrator = oms.PeakIntegrator()
    p = integrator.getDefaults()
    p.setValue("integration_type", "trapezoid")
    p.setValue("baseline_type", "base_to_base")
    integrator.setParameters(p)
    areas = {}
    for chrom in exp.getChromatograms():
        key = (round(chrom.getPrecursor().getMZ(), 1), round(chrom.getProduct().getMZ(), 1))
        if key not in _TARGETS:
            continue
        picked = oms.MSChromatogram()
        picker.pickChromatogram(chrom, picked)
        if picked.size() == 0:
            areas[key] = 0.0
            continue
        fda = picked.getFloatDataArrays()
        left = {a.getName(): a for a in fda}
        rts = [pk.getRT() for pk in picked]
        i = int(np.argmin([abs(rt / 60 - _TARGETS[key]) for rt in rts]))
        lw = left["leftWidth"].get_data()[i]
        rw = left["rightWidth"].get_data()[i]
        res = integrator.integratePeak(chrom, lw, rw)
        areas[key] = res.area
    return areas


def openms_pipeline(batch: Path, jobs: int, one_thread: bool = False) -> tuple[float, float, float]:
    """Wall time (s) and peak memory (MB) of the pyopenms pipeline over a batch, end to end.

    Run as its own process (interpreter start and imports included), exactly as thioquant is,
    with a process pool of ``jobs``. ``one_thread`` sets OMP_NUM_THREADS=1: pyopenms decodes
    mzML with OpenMP threads, which oversubscribe the cores inside a process pool (thioquant
    limits its own pool the same way), so this is the tuned variant of the same pipeline.
    """
    return run_measured([sys.executable, str(Path(__file__).resolve()), "--openms-pipeline", str(batch),
                         "--jobs", str(jobs)], env={"OMP_NUM_THREADS": "1"} if one_thread else None)


def _openms_pipeline_main(batch: Path, jobs: int) -> None:
    import pyopenms as oms

    with open(batch / "worklist.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    paths = [str(batch / r["file"]) for r in rows]
    if jobs > 1:
        with Pool(jobs) as pool:
            areas = pool.map(_openms_injection, paths, chunksize=16)
    else:
        areas = [_openms_injection(p) for p in paths]
    nominal = {"CAL1": 100, "CAL2": 200, "CAL3": 500, "CAL4": 1000, "CAL5": 2500, "CAL6": 5000,
               "CAL7": 7500, "CAL8": 10000}
    aq = oms.AbsoluteQuantitation()

    def feature(value: float) -> oms.Feature:
        f = oms.Feature()
        f.setMetaValue("area", float(value))
        return f

    comps = []
    for r, a in zip(rows, areas, strict=True):
        if r["sample_type"] == "calibrator" and a.get((171.0, 154.0)):
            c = oms.AQS_featureConcentration()
            c.feature, c.IS_feature = feature(a[(168.0, 151.0)]), feature(a[(171.0, 154.0)])
            c.actual_concentration = float(nominal[r["level"]])
            c.IS_actual_concentration = 1.0
            c.dilution_factor = 1.0  # OpenMS's default of 0 gives infinite ratios
            comps.append(c)
    params = oms.Param()
    params.setValue("slope", 0.0)
    params.setValue("intercept", 0.0)
    params.setValue("x_weight", "1/x2")  # the same 1/x^2 weighting as the thioquant method
    params.setValue("y_weight", "")
    fitted = aq.fitCalibration(comps, "area", "linear", params)
    for a in areas:
        if a.get((171.0, 154.0)):
            aq.applyCalibration(feature(a.get((168.0, 151.0), 0.0)), feature(a[(171.0, 154.0)]), "area",
                                "linear", fitted)


def peer_comparison(jobs: int, reps: int, n: int = 960, base_src: Path | None = None) -> None:
    """The issue-23 target in one command: ``n`` LC-MS/MS injections, thioquant (``--jobs``, the
    shipped method: robust engine, transition groups) against the pyopenms pipeline with
    OMP_NUM_THREADS=1, ``reps`` interleaved pairs after one uncounted run of each; wall and CPU
    seconds of each process tree and the load average before each run (other work on a shared
    machine inflates wall times; CPU times much less). With ``base_src``, each pair also runs
    thioquant from that source folder (e.g. main's code), interleaved, for a before/after on the
    same machine conditions. Writes benchmarks/results_batch_peer.md."""
    batch = build_batch("lcmsms", n)
    thioquant_run(batch, jobs)
    openms_pipeline(batch, jobs, one_thread=True)
    if base_src is not None:
        thioquant_run(batch, jobs, src=base_src)
    runs = []
    base: list[tuple[float, float]] = []
    for i in range(reps):
        load_t = os.getloadavg()[0]
        wall_t = thioquant_run(batch, jobs)[0]
        cpu_t = LAST_CPU[0]
        load_p = os.getloadavg()[0]
        wall_p = openms_pipeline(batch, jobs, one_thread=True)[0]
        cpu_p = LAST_CPU[0]
        runs.append((load_t, wall_t, cpu_t, load_p, wall_p, cpu_p))
        extra = ""
        if base_src is not None:
            wall_b = thioquant_run(batch, jobs, src=base_src)[0]
            base.append((wall_b, LAST_CPU[0]))
            extra = f"; {base_src} {wall_b:.2f} s wall, {LAST_CPU[0]:.2f} s CPU"
        print(f"pair {i + 1}: thioquant {wall_t:.2f} s wall, {cpu_t:.2f} s CPU (load {load_t:.1f}); "
              f"pyopenms one thread {wall_p:.2f} s wall, {cpu_p:.2f} s CPU (load {load_p:.1f}); "
              f"{wall_p / wall_t:.2f}x wall{extra}", flush=True)
    med = [float(np.median([r[k] for r in runs])) for k in range(6)]
    lines = [
        f"thioquant against the one-thread pyopenms pipeline, {n} LC-MS/MS injections, `--jobs {jobs}`, "
        f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {reps} interleaved pairs",
        "",
        "| pair | load avg | thioquant wall s | thioquant CPU s | load avg | pyopenms wall s | pyopenms CPU s | wall ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, (lt, wt, ct, lp, wp, cp) in enumerate(runs, 1):
        lines.append(f"| {i} | {lt:.1f} | {wt:.2f} | {ct:.2f} | {lp:.1f} | {wp:.2f} | {cp:.2f} | {wp / wt:.2f}x |")
    lines.append(f"| median | | {med[1]:.2f} | {med[2]:.2f} | | {med[4]:.2f} | {med[5]:.2f} | "
                 f"**{med[4] / med[1]:.2f}x** |")
    lines += ["", f"Speed-up, medians: wall {med[4] / med[1]:.2f}x, CPU {med[5] / med[2]:.2f}x (target: 5x wall)."]
    if base:
        bw, bc = (float(np.median([b[k] for b in base])) for k in (0, 1))
        lines += ["", f"The same pairs also ran thioquant from `{base_src}` (interleaved): wall "
                      f"{', '.join(f'{b[0]:.2f}' for b in base)} s, CPU {', '.join(f'{b[1]:.2f}' for b in base)} s; "
                      f"medians {bw:.2f} s wall / {bc:.2f} s CPU against this checkout's {med[1]:.2f} / {med[2]:.2f} "
                      f"({bw / med[1]:.2f}x wall, {bc / med[2]:.2f}x CPU); against the peer {med[4] / bw:.2f}x wall, "
                      f"{med[5] / bc:.2f}x CPU."]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results_batch_peer.md").write_text(text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only 96 and 960 injections")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--openms-pipeline", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per batch, the median is reported (default 3; 5 pairs with --peer)")
    ap.add_argument("--peer", action="store_true",
                    help="only the issue-23 target: 960 LC-MS/MS injections against the one-thread pyopenms "
                         "pipeline, --repeat interleaved pairs (default 5), wall and CPU seconds")
    ap.add_argument("--base-src", type=Path, default=None,
                    help="with --peer: also run thioquant from this source folder (e.g. `git archive main src` "
                         "unpacked), interleaved, for a before/after")
    ap.add_argument("--reports-only", action="store_true",
                    help="only the table with the default reports (replaced in results_batch.md)")
    ap.add_argument("--report-sizes", default=None,
                    help="injections of the table with the default reports, comma-separated "
                         "(default 96,960,2880; 96,960 with --quick)")
    args = ap.parse_args()
    if args.openms_pipeline is not None:
        _openms_pipeline_main(args.openms_pipeline, args.jobs)
        return
    WORK.mkdir(parents=True, exist_ok=True)
    if args.peer:
        peer_comparison(args.jobs, args.repeat or 5, base_src=args.base_src)
        return
    report_sizes = ([int(x) for x in args.report_sizes.split(",")] if args.report_sizes
                    else [96, 960] if args.quick else [96, 960, 2880])
    if args.reports_only:
        path = ROOT / "benchmarks" / "results_batch.md"
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        keep = old.split(REPORTS_HEAD)[0].rstrip("\n") if REPORTS_HEAD in old else old.rstrip("\n")
        table = reports_table(report_sizes, args.jobs)
        path.write_text((keep + "\n\n" if keep else "") + "\n".join(table) + "\n", encoding="utf-8")
        print("\n".join(table))
        return
    args.repeat = args.repeat or 3
    sizes = {"lcmsms": [96, 960] if args.quick else [96, 960, 9600], "hplcuv": [96, 960]}
    rows = []
    for kind, ns in sizes.items():
        times = []
        for n in ns:
            batch = build_batch(kind, n)
            with_ref = kind == "lcmsms" and n <= 960
            reps = 1 if n > 960 else args.repeat
            walls, peaks, psss, refs, refs1, cpus, cpus1 = [], [], [], [], [], [], []
            thioquant_run(batch, args.jobs)  # not counted: bytecode written, files in the page cache
            for _ in range(reps):  # interleaved, so all see the same machine conditions
                wall, peak, pss = thioquant_run(batch, args.jobs)
                cpus.append(LAST_CPU[0])
                walls.append(wall)
                peaks.append(peak)
                psss.append(pss)
                if with_ref:
                    refs.append(openms_pipeline(batch, args.jobs)[0])
                    refs1.append(openms_pipeline(batch, args.jobs, one_thread=True)[0])
                    cpus1.append(LAST_CPU[0])
            wall, peak, pss = float(np.median(walls)), max(peaks), max(psss)
            ref = float(np.median(refs)) if refs else math.nan
            ref1 = float(np.median(refs1)) if refs1 else math.nan
            times.append(wall)
            cpu, cpu1 = float(np.median(cpus)), float(np.median(cpus1)) if cpus1 else math.nan
            rows.append((kind, n, wall, n / wall, peak, pss, ref, ref1, cpu, cpu1, os.getloadavg()[0]))
            print(f"{kind:7s} {n:5d} injections: {wall:7.2f} s (runs {', '.join(f'{w:.2f}' for w in walls)}; "
                  f"CPU {float(np.median(cpus)):.2f} s), "
                  f"{n / wall:6.1f} inj/s, peak {peak:6.0f} MB (PSS {pss:6.0f} MB)"
                  + (f", pyopenms pipeline {ref:7.2f} s (runs {', '.join(f'{r:.2f}' for r in refs)}; "
                     f"{ref / wall:.1f}x), with OMP_NUM_THREADS=1 {ref1:7.2f} s "
                     f"(runs {', '.join(f'{r:.2f}' for r in refs1)}; CPU {float(np.median(cpus1)):.2f} s; "
                     f"{ref1 / wall:.1f}x)" if refs else "")
                  + f" [load average {os.getloadavg()[0]:.1f}]",
                  flush=True)
        if len(ns) > 1:
            k = np.polyfit(np.log(ns), np.log(times), 1)[0]
            print(f"{kind}: scaling exponent (log wall time vs log n) {k:.2f}")
            rows.append((kind, "exponent", k, *[math.nan] * 8))
    lines = [
        f"Batch benchmark ({'quick' if args.quick else 'full'}), `--jobs {args.jobs}`, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}",
        "",
        "| technique | injections | wall s (median) | injections/s | peak RSS MB (process tree) | peak PSS MB "
        "| pyopenms pipeline s (median, end to end) | speed-up | pyopenms, OMP_NUM_THREADS=1 s | speed-up "
        "| CPU s (median), thioquant / one-thread pyopenms | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, n, wall, rate, peak, pss, ref, ref1, cpu, cpu1, load in rows:
        if n == "exponent":
            lines.append(f"| {kind} | scaling exponent | {wall:.2f} | | | | | | | | | |")
            continue
        cells = []
        for r in (ref, ref1):
            cells += [f"{r:.2f}", f"{r / wall:.1f}x"] if math.isfinite(r) else ["not run", ""]
        cells.append(f"{cpu:.2f} / {cpu1:.2f}" if math.isfinite(cpu1) else f"{cpu:.2f} / not run")
        lines.append(f"| {kind} | {n} | {wall:.2f} | {rate:.1f} | {peak:.0f} | {pss:.0f} | {' | '.join(cells)} "
                     f"| {load:.1f} |")
    lines += ["", *reports_table(report_sizes, args.jobs)]
    (ROOT / "benchmarks" / "results_batch.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


#: the first line of the table with the default reports in results_batch.md
REPORTS_HEAD = "With the default reports (HTML + PDF + patient PDFs), LC-MS/MS, one run each"


def reports_table(sizes: list[int], jobs: int) -> list[str]:
    """With the default reports (report.html, report.pdf, one PDF per patient): not a target of the
    batch benchmark's speed, but how memory grows when every chromatogram is drawn."""
    lines = [f"{REPORTS_HEAD} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}):", "",
             "| injections | wall s | peak RSS MB (process tree) | peak PSS MB | load average |", "|---|---|---|---|---|"]
    for n in sizes:
        load = os.getloadavg()[0]
        wall, peak, pss = thioquant_run(build_batch("lcmsms", n), jobs, report=True)
        print(f"lcmsms {n:5d} injections with reports: {wall:7.2f} s, peak {peak:6.0f} MB (PSS {pss:6.0f} MB)",
              flush=True)
        lines.append(f"| {n} | {wall:.2f} | {peak:.0f} | {pss:.0f} | {load:.1f} |")
    return lines


if __name__ == "__main__":
    main()
