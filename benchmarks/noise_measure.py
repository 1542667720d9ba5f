"""Measure detector noise on the real MRM and UV/DAD files of ../shared/data (issue 18, part 1).

    uv run python benchmarks/noise_measure.py

Reads every trace with ``thioquant.read_run`` and measures, per instrument type, with
:mod:`thioquant.noise_model`: point-to-point fluctuation against the local level (residual of a
7-point cubic Savitzky-Golay fit) and its fit ``sd^2 = a + b*S + (c*S)^2``, the count quantum and
value step, single-point spikes, and zeros (MRM dropouts: runs of exact zeros inside >= 10 counts
of signal). Writes ``benchmarks/results_noise_model.md`` and ``benchmarks/noise_measured.json``
(the figures docs/noise.md quotes and notebooks/07_noise_model.ipynb plots without ../shared).
Files are read in place, never copied.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from thioquant.io import read_run  # noqa: E402
from thioquant.noise_model import measure_trace, summarise  # noqa: E402

DATA = ROOT.parent / "shared" / "data"

MRM = {
    "QTRAP 5500 MRM, BloodProject QC (Analyst)":
        ["mzml_srm/smartPeakPy_QTRAP5500_BloodProject_QC/150601_0_BloodProject01_PLT_QC_Broth-1.mzML"],
    "QTRAP 5500 MRM, yeast Sacc1 (SmartPeak)":
        ["mzml_srm/smartPeakPy_yeast_unknowns/170808_Jonathan_yeast_Sacc1_1x.mzML"],
}
# UV/DAD by vendor; (path, unit scale to mAU)
UV = {
    "Agilent ChemStation/OpenLab DAD": [
        ("agilent_chemstation/mocca_knoevenagel_H_1mM.D", 1.0),
        ("agilent_chemstation/rainbow/brown.D", 1.0),
        ("agilent_chemstation/rainbow/red.D", 1.0),
        ("agilent_chemstation/rainbow/pink.D", 1.0),
        ("agilent_openlab/rainbow/teal.dx", 1.0),
        ("andi_cdf/cheminfo_netcdf-gcms/agilent-hplc.cdf", 1.0),
    ],
    # Detector A = SPD-20A UV (mV; 1 mV = 1 mAU at the detector's default 1 AU/V output)
    "Shimadzu LabSolutions UV (SPD-20A)": [
        (f"shimadzu_labsolutions/Analysis_Lab_standards/STD_{x}.txt", 1.0) for x in ("6.25", "12.5", "25", "50", "100")
    ],
    "Thermo Chromeleon UV": [
        (f"chromeleon/smartPeakPy_HPLC_UV_Standards/chromatograms/{x}.txt", 1.0)
        for x in ("0p5ug", "1ug", "2p5ug", "5ug", "10ug", "25ug", "50ug", "100ug", "250ug", "500ug",
                  "750ug", "1000ug", "2500ug", "5000ug")
    ],
    # the file says AU, but its values reach 1.3e6 with a 0.1 step: read as uAU (x 1e-3 -> mAU)
    "Waters MassLynx PDA": [("waters_raw/rainbow/violet.raw", 1e-3)],
}
UV_ONLY_SHIMADZU = ("Detector A",)


def _mrm(paths: list[str]) -> tuple[list, list[str]]:
    stats, notes = [], []
    for rel in paths:
        run = read_run(DATA / rel)
        for tr in run.traces:
            if tr.channel.kind == "srm":
                stats.append(measure_trace(tr.time_min, tr.signal, tr.name))
        notes.append(f"{rel}: {sum(t.channel.kind == 'srm' for t in run.traces)} SRM traces")
    return stats, notes


def _uv(items: list[tuple[str, float]]) -> tuple[list, list[str]]:
    stats, notes = [], []
    for rel, scale in items:
        try:
            run = read_run(DATA / rel)
        except Exception as exc:  # a file our readers cannot take is reported, not hidden
            notes.append(f"{rel}: not read ({exc})")
            continue
        n = 0
        for tr in run.traces:
            shimadzu_uv = "shimadzu" in rel and tr.name.startswith(UV_ONLY_SHIMADZU)
            if tr.channel.kind != "uv" and not shimadzu_uv:
                continue
            stats.append(measure_trace(tr.time_min, np.asarray(tr.signal) * scale, tr.name))
            n += 1
        notes.append(f"{rel}: {n} UV traces")
    return stats, notes


def _fmt(x: float, spec: str = ".3g") -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def main() -> int:
    if not DATA.is_dir():
        print(f"{DATA} absent: nothing to measure")
        return 1
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    out: dict[str, dict] = {"mrm": {}, "uv": {}}
    notes: list[str] = []
    mrm_all = []
    for label, paths in MRM.items():
        st, nt = _mrm(paths)
        mrm_all += st
        notes += nt
        out["mrm"][label] = summarise(st, label, high_signal=2e4).as_dict()
    out["mrm"]["QTRAP 5500 MRM, both files pooled"] = summarise(mrm_all, "pooled", high_signal=2e4).as_dict()
    # dropouts concentrate in some traces: rate of runs per point within those traces, run lengths
    interior = [(s, a, n, lv) for s in mrm_all for a, n, lv in s.dropouts if a > 0 and a + n < s.n_points]
    hit = {id(s) for s, *_ in interior}
    pts_hit = sum(s.n_points for s in mrm_all if id(s) in hit)
    lengths = np.array([n for _, _, n, _ in interior])
    out["mrm_dropouts"] = {
        "traces": len(mrm_all), "traces_with_dropouts": len(hit),
        "interior_runs": int(lengths.size), "runs_per_point_in_those_traces": lengths.size / max(pts_hit, 1),
        "length_counts_1_to_10": np.bincount(lengths, minlength=11)[1:11].tolist(),
        "length_median": float(np.median(lengths)), "length_p90": float(np.percentile(lengths, 90)),
        "level_counts_p10_p50_p90": np.percentile([lv for *_, lv in interior], [10, 50, 90]).tolist(),
    }
    for label, items in UV.items():
        st, nt = _uv(items)
        notes += nt
        if st:
            hi = float(np.percentile([s.max_signal for s in st], 25))
            out["uv"][label] = summarise(st, label, in_counts=False, high_signal=max(hi * 0.2, 1.0)).as_dict()
    out["notes"] = notes
    out["seconds"] = round(time.perf_counter() - t0, 1)
    (ROOT / "benchmarks" / "noise_measured.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    lines = ["# Detector noise measured on real files (`benchmarks/noise_measure.py`)", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {out['seconds']} s. "
             "Method: docs/noise.md.", "",
             "## MRM (QTRAP 5500), in counts (cps / quantum)", "",
             "| file | traces (fitted) | s/point | peak sigma, points | quantum cps/count (range) | lowest non-zero value = 1 count | a | b | c | rel. sd at >= 2e4 cps (n) | spikes per 1000 points (at >= 30 counts; size there) | zeros % | dropout runs per 1000 points (points %) | traces with dropouts (runs per point of signal) | single / median / max length |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, d in out["mrm"].items():
        lines.append(
            f"| {label} | {d['n_traces']} ({d['n_fitted_traces']}) | {_fmt(d['sampling_s'])} | {_fmt(d['peak_sigma_points_median'])} "
            f"| {_fmt(d['quantum_median'], '.1f')} ({_fmt(d['quantum_range'][0], '.1f')}-{_fmt(d['quantum_range'][1], '.1f')}) "
            f"| {_fmt(100 * d['min_nonzero_one_count'], '.0f')} % of traces "
            f"| {_fmt(d['a'])} | {_fmt(d['b'])} | {_fmt(d['c'])} | {_fmt(d['rel_sd_high'])} ({d['n_high']}) "
            f"| {_fmt(1000 * d['spike_rate'])} ({_fmt(1000 * d['spike_rate_30'])}; x{_fmt(d['spike_size_median'])}) "
            f"| {_fmt(100 * d['zero_fraction'], '.1f')} "
            f"| {_fmt(d['dropout_rate'])} ({_fmt(100 * d['dropout_point_fraction'], '.1f')}) "
            f"| {_fmt(100 * d['dropout_trace_fraction'], '.0f')} % ({_fmt(d['dropout_rate_signal'])}) "
            f"| {_fmt(100 * d['dropout_single_fraction'], '.0f')} % / {_fmt(d['dropout_run_median'])} / {d['dropout_run_max']} |")
    lines += ["", "Residual sd against level (counts), pooled:", "", "| level | sd | sd / level | sqrt(level) (Poisson) | model | n |", "|---|---|---|---|---|---|"]
    pooled = out["mrm"]["QTRAP 5500 MRM, both files pooled"]
    for b in pooled["bins"]:
        model = math.sqrt(pooled["a"] + pooled["b"] * b["level"] + (pooled["c"] * b["level"]) ** 2)
        lines.append(f"| {b['level']:.1f} | {b['sd']:.2f} | {b['sd'] / b['level']:.3f} | {math.sqrt(b['level']):.2f} | {model:.2f} | {b['n']} |")
    dd = out["mrm_dropouts"]
    lines += ["", f"Dropouts (interior runs of zeros inside >= 10 counts): {dd['traces_with_dropouts']} of {dd['traces']} traces have any; "
              f"in those, {dd['runs_per_point_in_those_traces']:.4f} runs per point; lengths 1..10: {dd['length_counts_1_to_10']}, "
              f"median {dd['length_median']:g}, p90 {dd['length_p90']:g}; level around them (counts) p10/p50/p90 "
              f"{', '.join(f'{x:.0f}' for x in dd['level_counts_p10_p50_p90'])}.", "",
              "## UV/DAD, in mAU", "",
              "| instrument | traces | s/point | value step | baseline sd | a | c | rel. sd high (n, level >=) | spikes per 1000 points (size) |",
              "|---|---|---|---|---|---|---|---|---|"]
    for label, d in out["uv"].items():
        lines.append(
            f"| {label} | {d['n_traces']} | {_fmt(d['sampling_s'])} | {_fmt(d['value_step_median'])} | {_fmt(d['baseline_sd'])} "
            f"| {_fmt(d['a'])} | {_fmt(d['c'])} | {_fmt(d['rel_sd_high'])} ({d['n_high']}, {_fmt(d['high_signal'])}) "
            f"| {_fmt(1000 * d['spike_rate'])} (x{_fmt(d['spike_size_median'])}) |")
    lines += ["", "Files:", ""] + [f"- {n}" for n in notes]
    (ROOT / "benchmarks" / "results_noise_model.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
