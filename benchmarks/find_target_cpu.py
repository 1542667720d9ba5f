"""CPU time of one ``find_target`` call on MRM traces, for comparing two versions of the code.

    uv run --group bench python benchmarks/find_target_cpu.py [--src DIR] [--repeat N] [--fingerprint]

The calls: every analyte, qualifier and internal-standard channel of the bundled LC-MS/MS batch
(42 injections x 6 channels, at the method's rt_min and window_min), and, when ../shared/data is
present, the real QTRAP MRM components of ``real_mrm.py`` (BloodProject against Analyst and yeast
Sacc1 against SmartPeak, +/-0.2 min around the reference RT). All traces are read first; only the
``find_target`` calls are timed (process_time, the whole list once per pass, best of ``--repeat``).

``--src`` imports thioquant from another checkout's ``src`` (e.g. a ``git worktree`` of an older
commit), so old and new code are timed by the same script on the same calls; run them
alternately (interleaved) on a shared machine. ``--fingerprint`` prints a SHA-256 of every call's
result (apex, bounds, area, height, flags, S/N, repr of the floats), to show that a speed change
changed no result.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def calls() -> list[tuple[str, object, float, float]]:
    """(label, trace, rt_min, window_min) of every timed call."""
    from thioquant.assay.method import find_method_file, load_method
    from thioquant.io import read_run
    try:
        from thioquant.measurement import channel_keys
        from thioquant.measurement import trace_for as _trace_for
    except ImportError:  # --src older than thioquant.measurement
        from thioquant.pipeline import _trace_for, channel_keys

    method = load_method(find_method_file("thiopurines_lcmsms", start=HERE.parent / "sample_data" / "lcmsms"))
    out = []
    for f in sorted((HERE.parent / "sample_data" / "lcmsms" / "raw").glob("*.mzML")):
        run = read_run(f)
        for comp, qual, key in channel_keys(method.analytes + method.internal_standards):
            tr = _trace_for(run, comp, qualifier=qual)
            if tr is not None:
                out.append((f"{f.name}:{key}", tr, comp.rt_min, comp.window_min))
    sys.path.insert(0, str(HERE))
    import real_mrm

    for c in real_mrm.qtrap_cases():
        out.append((f"qtrap:{c['name']}", c["trace"], c["rt"], real_mrm.WINDOW))
    for c in real_mrm.yeast_cases():
        out.append((f"yeast:{c['name']}", c["trace"], c["rt"], real_mrm.WINDOW))
    return out


def fingerprint(found: list) -> str:
    h = hashlib.sha256()
    for pk in found:
        if pk is None:
            h.update(b"None;")
            continue
        h.update(repr((pk.rt_min, pk.start_min, pk.end_min, pk.area, pk.height, tuple(pk.flags),
                       pk.sn)).encode())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=HERE.parent / "src", help="thioquant source folder to time")
    ap.add_argument("--repeat", type=int, default=5, help="passes over all calls; the best is reported")
    ap.add_argument("--fingerprint", action="store_true", help="print a hash of every result")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.src.resolve()))
    import thioquant
    from thioquant.peaks import find_target

    cases = calls()
    found = [find_target(tr, rt, w) for _, tr, rt, w in cases]  # warm-up, and the results
    groups = {"bundled": [c for c in cases if ".mzML:" in c[0]],
              "real": [c for c in cases if ".mzML:" not in c[0]]}
    best = {k: float("inf") for k in groups}
    from dataclasses import replace

    for _ in range(args.repeat):
        for name, group in groups.items():
            # fresh trace objects each pass (copied outside the timing): a trace keeps its noise
            # model once fitted (peaks.noise.trace_noise_of), which a real run fits once per trace
            fresh = [(replace(tr), rt, w) for _, tr, rt, w in group]
            t0 = time.process_time()
            for tr, rt, w in fresh:
                find_target(tr, rt, w)
            best[name] = min(best[name], time.process_time() - t0)
    src = Path(thioquant.__file__).resolve().parents[1]
    line = ", ".join(f"{k} {1e6 * best[k] / len(g):.0f} us ({len(g)} calls)" for k, g in groups.items() if g)
    print(f"{src}: find_target per call, best of {args.repeat}: {line}")
    if args.fingerprint:
        print(f"results sha256 {fingerprint(found)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
