"""SATURATED calls of the flat-top rule on the real UV/DAD and MRM files of ../shared/data.

    uv run python benchmarks/saturation_real.py

Every UV/DAD trace the noise measurement reads (benchmarks/noise_measure.py: Agilent DAD, Shimadzu
SPD-20A, Chromeleon, Waters PDA) and every SRM trace of the two QTRAP files, untargeted
(``find_peaks``, S/N >= 3): the peaks flagged SATURATED by the rule before issue 18's change
(three equal values at the apex) and by today's (``thioquant.peaks.api._saturated``: the run must
hold the region's highest value and be longer than the peak's own digitisation ties explain),
with each peak's apex value, run length and the trace's highest value. Prints a markdown table.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from noise_measure import DATA, MRM, UV, UV_ONLY_SHIMADZU  # noqa: E402

import thioquant.peaks.api as api  # noqa: E402
from thioquant.io import read_run  # noqa: E402
from thioquant.peaks import find_peaks  # noqa: E402


def old_rule(y: np.ndarray, i: int) -> bool:
    """The rule before: three equal values at the apex (scanning at most 3 either side)."""
    v = y[i]
    tol = 1e-12 * abs(v)
    lo = i
    while lo > 0 and abs(y[lo - 1] - v) <= tol and i - lo < 3:
        lo -= 1
    hi = i
    while hi < y.size - 1 and abs(y[hi + 1] - v) <= tol and hi - i < 3:
        hi += 1
    return hi - lo + 1 >= 3


def traces():
    for label, items in UV.items():
        for rel, _ in items:
            try:
                run = read_run(DATA / rel)
            except Exception:  # noqa: BLE001 - the noise page lists the files our readers refuse
                continue
            for tr in run.traces:
                if tr.channel.kind == "uv" or ("shimadzu" in rel and tr.name.startswith(UV_ONLY_SHIMADZU)):
                    yield label, rel, tr
    for label, paths in MRM.items():
        for rel in paths:
            for tr in read_run(DATA / rel).traces:
                if tr.channel.kind == "srm":
                    yield label, rel, tr


def main() -> None:
    new_rule = api._saturated
    rows, counts = [], {}
    for label, rel, tr in traces():
        calls = []
        for rule in (old_rule, new_rule):
            api._saturated = rule
            try:
                pks = find_peaks(tr)
            except Exception:  # noqa: BLE001 - a trace the engine refuses is not a call
                pks = []
            calls.append({round(p.rt_min, 4): p for p in pks})
        api._saturated = new_rule
        old, new = calls
        c = counts.setdefault(label, [0, 0, 0, 0])
        c[0] += 1
        c[1] += sum(1 for p in new.values())
        c[2] += sum("SATURATED" in p.flags for p in old.values())
        c[3] += sum("SATURATED" in p.flags for p in new.values())
        for rt in sorted(set(old) | set(new)):
            o, n = old.get(rt), new.get(rt)
            fo, fn = o is not None and "SATURATED" in o.flags, n is not None and "SATURATED" in n.flags
            if fo or fn:
                p = n or o
                y = np.asarray(tr.signal, dtype=float)
                i = int(np.argmin(np.abs(tr.time_min - p.rt_min)))
                rows.append(f"| {rel} | {tr.name} | {rt:.3f} | {p.height:.4g} | {np.nanmax(y):.4g} | "
                            f"{'yes' if fo else 'no'} | {'yes' if fn else 'no'} |")
                del i
    print("| instrument | traces | peaks (S/N >= 3) | SATURATED before | SATURATED now |")
    print("|---|---|---|---|---|")
    for label, (nt, npk, so, sn) in counts.items():
        print(f"| {label} | {nt} | {npk} | {so} | {sn} |")
    print()
    print("| file | trace | rt min | height | trace max | before | now |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows) if rows else "| (none) | | | | | | |")


if __name__ == "__main__":
    main()
