"""Where a 960-injection batch's wall and CPU time go, phase by phase (issue 23).

    uv run --group bench python benchmarks/batch_timeline.py [--src DIR] [--jobs 2] [--n 960] [--repeat 3]

Runs ``thioquant quantify BATCH --jobs 2 --no-cache --no-history --no-report`` (the command
``bench_batch.py --peer`` times) as a subprocess with light hooks, and prints for each run:

* the main process's timeline: wall time since the command was started and the main process's own
  CPU at each phase boundary (imports, the checks before the first measurement, the calibrators'
  set, the other injections' set, calibration/QC/interpretation, the output files, the wait for
  the forked results.xlsx writer);
* the CPU of the measurements themselves, summed over every task the worker processes ran
  (``measure_injection``: user + system, from ``os.times`` around each task), per injection;
* the CPU of all child processes (workers, pool overhead, the results.xlsx writer).

The batch is ``bench_batch.py``'s (the bundled 42-injection design repeated, raw files
symlinked). ``--src`` runs another checkout's ``src`` (e.g. main's, from ``git archive``), to put
old and new code side by side; run them alternately on a shared machine. Hooks only wrap
functions (a wall-clock mark at entry and exit), so they change no result.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _child(argv: list[str]) -> None:
    """Inside the measured process: install the hooks, run the CLI, dump the marks as JSON."""
    import functools
    import resource

    t_launch = float(os.environ["TQ_TIMELINE_LAUNCH"])
    task_dir = Path(os.environ["TQ_TIMELINE_TASKS"])
    marks: list[tuple[str, float, float]] = []

    def mark(name: str) -> None:
        marks.append((name, time.time() - t_launch, time.process_time()))

    mark("interpreter started")
    import thioquant.cli as cli
    import thioquant.pipeline as pipeline

    try:  # the executors' own module since the split of pipeline.py; --src may be older
        import thioquant.executors as executors
    except ImportError:
        executors = pipeline
    import thioquant.report.writer as writer

    mark("CLI and pipeline imported")

    def wrap(mod: object, name: str, label: str) -> None:
        f = getattr(mod, name)

        @functools.wraps(f)
        def w(*a: object, **k: object) -> object:
            mark(f"{label} starts")
            try:
                return f(*a, **k)
            finally:
                mark(f"{label} ends")

        setattr(mod, name, w)

    wrap(executors, "_measure_set", "a measuring set")
    wrap(pipeline, "_evaluate", "calibration, QC, interpretation")
    wrap(writer, "write_outputs", "output files")
    if hasattr(writer, "_Background"):
        finish = writer._Background.finish

        def fin(self: object, tm: dict) -> None:
            mark(f"waiting for the forked {getattr(self, 'name', '?')} writer starts")
            try:
                finish(self, tm)
            finally:
                mark(f"waiting for the forked {getattr(self, 'name', '?')} writer ends")

        writer._Background.finish = fin
    measure = executors.measure_injection

    def one(args: tuple) -> object:  # runs in the workers (and once per set in this process)
        t0 = os.times()
        out = measure(*args)
        t1 = os.times()
        with open(task_dir / str(os.getpid()), "a", encoding="utf-8") as fh:
            fh.write(f"{t1.user - t0.user + t1.system - t0.system}\n")
        return out

    # pickled by name for the pool: the wrapper stands in under the executors' own name
    one.__module__, one.__qualname__ = executors.__name__, "_measure_one"
    executors._measure_one = one
    sys.argv = ["thioquant", *argv]
    try:
        cli.main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        mark("exit")
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(task_dir / "marks.json", "w", encoding="utf-8") as fh:
            json.dump({"marks": marks, "children_cpu": ru.ru_utime + ru.ru_stime}, fh)


def run_once(batch: Path, jobs: int, src: Path | None) -> dict:
    out = HERE / "_work" / f"out_timeline_{'src' if src else 'here'}"
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(TQ_TIMELINE_TASKS=tmp, TQ_TIMELINE_LAUNCH=repr(time.time()))
        if src is not None:
            env["PYTHONPATH"] = str(src.resolve())
        load = os.getloadavg()[0]
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", "quantify", str(batch), "--out",
                        str(out), "--force", "--no-cache", "--no-history", "--no-report", "--jobs", str(jobs),
                        "--quiet"], env=env, check=True, stdout=subprocess.DEVNULL)
        data = json.loads((Path(tmp) / "marks.json").read_text(encoding="utf-8"))
        tasks = [float(x) for f in Path(tmp).iterdir() if f.name != "marks.json"
                 for x in f.read_text(encoding="utf-8").split()]
    data.update(tasks=tasks, load=load)
    return data


def report(data: dict, label: str) -> str:
    lines = [f"{label} (load average {data['load']:.1f}):", "", "| wall s | main-process CPU s | phase boundary |",
             "|---:|---:|---|"]
    lines += [f"| {t:.3f} | {c:.3f} | {name} |" for name, t, c in data["marks"]]
    n = len(data["tasks"])
    tot = sum(data["tasks"])
    lines += ["", f"measurements: {n} tasks, {tot:.2f} s CPU ({1e3 * tot / max(n, 1):.2f} ms per injection); "
                  f"all child processes (workers, pool, results.xlsx writer): {data['children_cpu']:.2f} s CPU; "
                  f"main process: {data['marks'][-1][2]:.2f} s CPU", ""]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=None, help="also run this thioquant source folder, alternately")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n", type=int, default=960, help="injections")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_batch import build_batch

    batch = HERE / "_work" / f"lcmsms_{args.n}"
    if not (batch / "worklist.csv").exists():
        batch = build_batch("lcmsms", args.n)
    for i in range(args.repeat):
        for src in ([None, args.src] if args.src else [None]):
            print(report(run_once(batch, args.jobs, src), f"run {i + 1}, {src or ROOT / 'src'}"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
