"""CPU time of one LC-MS/MS injection's measurement, stage by stage (issue 23).

    uv run python benchmarks/injection_cpu.py [--src DIR] [--repeat N] [--fingerprint]

Times ``thioquant.measure.measure_injection`` (read the file, screen the signal, search every
channel, integrate the transition groups) on the 42 bundled LC-MS/MS injections, in process,
with the shipped method and each file read afresh: the per-injection work that a batch's
worker processes do, without interpreter start, process pool or the serial tail. Reported:

* the total CPU per injection (process_time, best of ``--repeat`` passes over the 42 files,
  no instrumentation);
* a breakdown from one more, instrumented pass: each stage's **exclusive** CPU (a stage that
  calls another is charged without it), so the rows add up to the instrumented total;
* with ``--fingerprint``, a SHA-256 of every measurement (peaks, problems, notes), to show that
  a speed change changed no result.

``--src`` imports thioquant from another checkout's ``src`` (e.g. ``git archive main src``
unpacked in /tmp), so old and new code are timed by the same script; run them alternately on
a shared machine.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (module, function, label); bound again where the pipeline imports it by name (thioquant.peaks),
#: except find_target, which is charged to its caller: a channel's search or a group's consensus
STAGES = [
    ("thioquant.io", "read_run", "read the mzML file (parse, base64, hash, traces)"),
    ("thioquant.measure", "_screen_run", "signal screen (dead channels, spikes, apex bursts)"),
    ("thioquant.peaks.noise", "trace_noise", "trace noise model (once per trace)"),
    ("thioquant.measure", "_search", "find_target on the 6 channels"),
    ("thioquant.peaks.group", "integrate_group", "transition groups: rules and bookkeeping"),
    ("thioquant.peaks.group", "consensus_trace", "transition groups: consensus trace"),
    ("thioquant.peaks.group", "find_target", "transition groups: find_target on the consensus"),
    ("thioquant.peaks.group", "_shared_bounds_area", "transition groups: members over the shared bounds"),
    ("thioquant.peaks.group", "integrate_between", "transition groups: members over the shared bounds"),
    ("thioquant.measure", "_apply_screen", "signal screen (dead channels, spikes, apex bursts)"),
    ("thioquant.peaks.dropout", "BridgedRun.find_trace", "dropout bridging (finding and bridging MRM dropouts)"),
]


def _instrument(acc: dict[str, float]) -> None:
    stack: list[list[float]] = []  # [start, time spent in nested stages]

    def wrap(f, label):
        @functools.wraps(f)
        def w(*a, **k):
            stack.append([time.process_time(), 0.0])
            try:
                return f(*a, **k)
            finally:
                t0, inner = stack.pop()
                dt = time.process_time() - t0
                acc[label] = acc.get(label, 0.0) + dt - inner
                if stack:
                    stack[-1][1] += dt
        return w

    import thioquant.peaks as peaks
    import thioquant.peaks.api as api

    try:
        import thioquant.peaks.survey as survey
    except ImportError:  # --src older than the split of peaks/api.py: the survey lived there
        survey = api

    for mod, name, label in STAGES:
        try:
            m = importlib.import_module(mod)
        except ImportError:  # --src older than the split of pipeline.py: the stage lived there
            m = importlib.import_module("thioquant.pipeline")
        if "." in name:  # a method: wrapped on its class
            cls_name, name = name.split(".")
            m = getattr(m, cls_name, None)
        if m is None or not hasattr(m, name):
            continue  # a stage an older version does not have
        f = getattr(m, name)
        w = wrap(f, label)
        setattr(m, name, w)
        for other in (peaks, api, survey):  # where the pipeline imports it by name, at call time
            if other is not m and getattr(other, name, None) is f and name != "find_target":
                setattr(other, name, w)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=HERE.parent / "src", help="thioquant source folder to time")
    ap.add_argument("--repeat", type=int, default=7, help="passes over the 42 files; the best is reported")
    ap.add_argument("--fingerprint", action="store_true", help="print a hash of every measurement")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.src.resolve()))
    import thioquant
    from thioquant.assay.method import find_method_file, load_method
    try:
        from thioquant.measure import measure_injection
    except ImportError:  # --src older than the split of pipeline.py
        from thioquant.pipeline import measure_injection

    root = HERE.parent / "sample_data" / "lcmsms"
    method = load_method(find_method_file("thiopurines_lcmsms", start=root))
    files = sorted((root / "raw").glob("*.mzML"))
    found = [measure_injection(f, method) for f in files]  # warm-up, and the results
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.process_time()
        for f in files:
            measure_injection(f, method)
        best = min(best, time.process_time() - t0)
    src = Path(thioquant.__file__).resolve().parents[1]
    print(f"{src}: measure_injection {1e3 * best / len(files):.2f} ms CPU per injection "
          f"(best of {args.repeat} passes over {len(files)} bundled LC-MS/MS injections)")
    if args.fingerprint:
        h = hashlib.sha256()
        for m in found:
            h.update(repr((m.peaks, m.problems, m.notes, m.missing_traces, m.error)).encode())
        print(f"measurements sha256 {h.hexdigest()}")
    acc: dict[str, float] = {}
    _instrument(acc)
    t0 = time.process_time()
    for f in files:
        measure_injection(f, method)
    total = time.process_time() - t0
    rest = total - sum(acc.values())
    rows = sorted(acc.items(), key=lambda kv: -kv[1]) + [("bookkeeping (the pipeline around the stages)", rest)]
    print(f"\nexclusive CPU per injection, one instrumented pass ({1e3 * total / len(files):.2f} ms):\n")
    print("| stage | ms per injection | share |\n|---|---:|---:|")
    for label, v in rows:
        print(f"| {label} | {1e3 * v / len(files):.2f} | {100 * v / total:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
