"""Real files with vendor peak tables: detection and vendor-like (drop-line) areas.

    uv run python benchmarks/real_peaks.py

For each trace with vendor reference peaks: (1) ``find_peaks`` (default settings) must report an
apex within 0.02 min of each vendor peak; (2) ``integrate`` between the vendor's own start and
end (drop line between the signal at those times, the vendor-like mode) is compared with the
vendor area on baseline-resolved peaks (no neighbour shares a boundary, and the vendor code,
when given, is BB). Files are read in place from ../shared/data (never copied).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from thioquant.io import read_run  # noqa: E402
from thioquant.peaks import find_peaks, integrate  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
FILES = {
    "AIA agilent-hplc.cdf": "andi_cdf/cheminfo_netcdf-gcms/agilent-hplc.cdf",
    "Shimadzu STD_6.25": "shimadzu_labsolutions/Analysis_Lab_standards/STD_6.25.txt",
    "Shimadzu STD_12.5": "shimadzu_labsolutions/Analysis_Lab_standards/STD_12.5.txt",
    "Shimadzu STD_25": "shimadzu_labsolutions/Analysis_Lab_standards/STD_25.txt",
    "Shimadzu STD_50": "shimadzu_labsolutions/Analysis_Lab_standards/STD_50.txt",
    "Shimadzu STD_100": "shimadzu_labsolutions/Analysis_Lab_standards/STD_100.txt",
    "ChemStation mocca H_1mM.D": "agilent_chemstation/mocca_knoevenagel_H_1mM.D",
    "AIA agilent-hplc2.cdf (TIC)": "andi_cdf/cheminfo_netcdf-gcms/agilent-hplc2.cdf",
    "Shimadzu ladder GC-FID": "shimadzu_labsolutions/chromConverter/ladder_FS19_214_GC-FID.txt",
}
_PREFIX = {"u": 1e-6, "m": 1e-3, "n": 1e-9}


def area_factor(area_unit: str, signal_unit: str) -> float:
    """Factor taking thioquant's signal x minutes to the vendor's area unit."""
    amp, _, tu = area_unit.partition("*")
    f = 60.0 if tu.strip().lower() in ("s", "sec") else 1.0
    if amp and signal_unit and amp[1:] == signal_unit[1:] and amp != signal_unit:
        pa, ps = _PREFIX.get(amp[0]), _PREFIX.get(signal_unit[0])
        if pa and ps:
            f *= ps / pa
    return f


def evaluate(label: str, rel: str, **find_kw) -> dict:
    run = read_run(DATA / rel)
    out = {"label": label, "vendor": 0, "found": 0, "resolved": 0, "within1": 0, "errs": []}
    for tr in run.traces:
        refs = sorted((p for p in run.reference_peaks if p.trace == tr.name), key=lambda p: p.rt_min)
        if not refs:
            continue
        pks = find_peaks(tr, **find_kw)
        rts = np.array([p.rt_min for p in pks])
        for i, rp in enumerate(refs):
            out["vendor"] += 1
            if rts.size and np.min(np.abs(rts - rp.rt_min)) <= 0.02:
                out["found"] += 1
            if not (math.isfinite(rp.start_min) and math.isfinite(rp.end_min)):
                continue
            code = rp.code.strip().upper()
            shared = (i > 0 and abs(refs[i - 1].end_min - rp.start_min) < 1e-6) or (
                i + 1 < len(refs) and abs(refs[i + 1].start_min - rp.end_min) < 1e-6)
            if shared or code not in ("", "BB"):
                continue
            pk = integrate(tr, rp.start_min, rp.end_min, baseline="drop")
            err = 100.0 * (pk.area * area_factor(rp.area_unit, tr.signal_unit) - rp.area) / rp.area
            out["resolved"] += 1
            out["within1"] += abs(err) <= 1.0
            out["errs"].append(err)
    return out


def main() -> list[str]:
    lines = ["| file | vendor peaks | found (RT within 0.02 min) | baseline-resolved with bounds | "
             "area within +/-1 % | max abs area error % |", "|---|---|---|---|---|---|"]
    tot = {"vendor": 0, "found": 0, "resolved": 0, "within1": 0}
    core_tot = dict(tot)
    for label, rel in FILES.items():
        if not (DATA / rel).exists():
            continue
        r = evaluate(label, rel)
        mx = f"{max(abs(e) for e in r['errs']):.3f}" if r["errs"] else "-"
        lines.append(f"| {label} | {r['vendor']} | {r['found']} | {r['resolved']} | "
                     f"{r['within1']} | {mx} |")
        for k in tot:
            tot[k] += r[k]
            if label.startswith(("AIA agilent-hplc.cdf", "Shimadzu STD")):
                core_tot[k] += r[k]
    lines.append(f"| **all** | {tot['vendor']} | {tot['found']} | {tot['resolved']} | "
                 f"{tot['within1']} | |")
    lines.append(f"| **HPLC-UV/RID set** (agilent-hplc.cdf + Shimadzu STD) | {core_tot['vendor']} | "
                 f"{core_tot['found']} ({100 * core_tot['found'] / max(1, core_tot['vendor']):.0f} %) | "
                 f"{core_tot['resolved']} | {core_tot['within1']} | |")
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
