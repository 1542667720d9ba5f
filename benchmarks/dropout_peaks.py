"""Dropouts over peaks: real QTRAP MRM files against the simulator, measured the same way.

    uv run python benchmarks/dropout_peaks.py [--seeds N]

Question (issue 18): does the simulator's dropout model (runs of zero readings,
:class:`thioquant.noise_model.MrmNoise`) remove the top of a peak, or the whole peak, as often
as the real QTRAP 5500 files of ``../shared/data/mzml_srm`` show it, with runs as long relative
to the peak's width, and are its dropouts shared between the transitions of one injection as the
real ones are?

* **Real**: every reference peak of the two files (BloodProject QC: Analyst's result rows;
  yeast Sacc1: SmartPeak's features), its apex and bounds from the reference, read in place.
* **Simulated**: the LC-MS/MS batches :func:`thioquant.simulate.simulate_batch` writes, at the
  default seed and seeds 1..N, generated in memory with the same random stream (no files); the
  reference of each trace is its noiseless peak (apex, bounds at 1 % of its height), recorded as
  the simulator hands it to :func:`thioquant.noise_model.apply_mrm_noise`; with the default
  model and with the model before 2026-12-05 (``MRM_DROPOUTS_BEFORE``: runs anywhere on the signal).

Both are measured with :func:`thioquant.noise_model.peak_dropouts` (a Gaussian fitted to the
points not dropped: top = the points across its FWHM) and :func:`~thioquant.noise_model.co_dropouts`.
Peaks are counted when the fitted height is >= 100 counts (a run in the upper half is then
bounded by >= 10 counts, where a dropout can be told from counting noise). Writes
``benchmarks/results_dropout_peaks.md`` and ``benchmarks/dropout_measured.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from thioquant.noise_model import MRM_DROPOUTS_BEFORE, MrmNoise, co_dropouts, peak_dropouts  # noqa: E402

MIN_HEIGHT_COUNTS = 100.0
_OUT_JSON = HERE / "dropout_measured.json"


def real_peaks() -> dict[str, list[dict]] | None:
    """Reference peaks of the two QTRAP files: {file label: [{trace, rt, start, end, group}]}."""
    from real_mrm import qtrap_cases, yeast_cases

    qc, yc = qtrap_cases(), yeast_cases()
    if not qc or not yc:
        return None
    out = {}
    for label, cases in (("BloodProject QC (Analyst)", qc), ("yeast Sacc1 (SmartPeak)", yc)):
        seen, rows = set(), []
        for c in cases:
            key = (id(c["trace"]), round(c["start"], 4), round(c["end"], 4))
            if key in seen:  # a light row and its heavy IS row may name the same trace and peak
                continue
            seen.add(key)
            rows.append({"trace": c["trace"], "rt": c["rt"], "start": c["start"], "end": c["end"],
                         "group": c["name"].split(".")[0]})
        out[label] = rows
    return out


def real_injections() -> dict[str, tuple[list, list]]:
    """Every SRM trace of each file (time, signal) with its compound (None when no reference names it)."""
    from real_peaks import DATA

    from thioquant.io import read_run

    peaks = real_peaks() or {}
    files = {"BloodProject QC (Analyst)": "mzml_srm/smartPeakPy_QTRAP5500_BloodProject_QC/"
             "150601_0_BloodProject01_PLT_QC_Broth-1.mzML",
             "yeast Sacc1 (SmartPeak)": "mzml_srm/smartPeakPy_yeast_unknowns/170808_Jonathan_yeast_Sacc1_1x.mzML"}
    out = {}
    for label, rel in files.items():
        run = read_run(DATA / rel)
        grp = {}
        for p in peaks.get(label, []):
            ch = p["trace"].channel
            grp[(round(ch.precursor_mz, 1), round(ch.product_mz, 1))] = p["group"]
        trs = [t for t in run.traces if t.channel.kind == "srm"]
        out[label] = ([(t.time_min, t.signal) for t in trs],
                      [grp.get((round(t.channel.precursor_mz, 1), round(t.channel.product_mz, 1))) for t in trs])
    return out


def simulated(seeds: list[int], noise=None):
    """Yield, per simulated injection, [(time, noisy, noiseless, group)] for its MRM traces.

    The batch's random stream is the one :func:`simulate_batch` draws (design, then each
    injection in order), so the default seed gives the bundled batch's traces exactly.
    """
    import thioquant.simulate as sim
    m = sim.load_method(sim.find_method_file("thiopurines_lcmsms", start=HERE.parent / "sample_data"))
    real_apply = sim.apply_mrm_noise
    rec: list[tuple[np.ndarray, np.ndarray]] = []

    def recording(signal_cps, rng, p=None):
        out = real_apply(signal_cps, rng, p)
        rec.append((np.asarray(signal_cps, float).copy(), out))
        return out

    sim.apply_mrm_noise = recording
    try:
        for seed in seeds:
            rng = np.random.default_rng(seed)
            failures = sim.Failures()
            carry: dict[str, float] = {}
            for s in sim._design(m, rng, 24, failures):
                rec.clear()
                traces, areas = sim.simulate_injection(m, s, rng, carry, failures,
                                                       noise=noise or sim.DEFAULT_NOISE)
                carry = {a: v * failures.carryover_fraction for a, v in areas.items()}
                groups = []
                for a in m.analytes:
                    groups += [a.name, a.name] + ([a.name] if a.internal_standard else [])
                yield seed, s.sample_id, [(tr.time_min, noisy, clean, g, tr.name)
                                          for tr, (clean, noisy), g in zip(traces, rec, groups, strict=True)]
    finally:
        sim.apply_mrm_noise = real_apply


def noiseless_reference(t: np.ndarray, clean: np.ndarray) -> tuple[float, float, float, float] | None:
    """Apex, bounds at 1 % of the height and the height (cps) of a noiseless trace's main peak."""
    y = clean - clean.min()
    i = int(np.argmax(y))
    h = float(y[i])
    if h <= 0:
        return None
    above = y >= 0.01 * h
    lo, hi = i, i
    while lo > 0 and above[lo - 1]:
        lo -= 1
    while hi < y.size - 1 and above[hi + 1]:
        hi += 1
    return float(t[i]), float(t[lo]), float(t[hi]), h


def tally(results: list) -> dict:
    """Per-peak dropout figures of a list of PeakDropouts (peaks >= MIN_HEIGHT_COUNTS)."""
    pk = [r for r in results if r is not None and r.height_counts >= MIN_HEIGHT_COUNTS]
    big = [r for r in pk if r.height_counts >= 1000]
    rel = [n / r.fwhm_points for r in pk for _, n in r.runs if r.fwhm_points > 0]
    lens = [n for r in pk for _, n in r.runs]

    def per_k(xs: list, cond) -> float:
        return 1000.0 * sum(1 for r in xs if cond(r)) / len(xs) if xs else math.nan

    return {
        "peaks": len(pk), "peaks_1000": len(big),
        "fwhm_points_median": float(np.median([r.fwhm_points for r in pk])) if pk else math.nan,
        "any_run_per_1000": per_k(pk, lambda r: bool(r.runs)),
        "top_hit_per_1000": per_k(pk, lambda r: r.top_hit),
        "apex_dropped_per_1000": per_k(pk, lambda r: r.apex_dropped),
        "whole_top_per_1000": per_k(pk, lambda r: r.whole_top_lost),
        "area_lost_20_per_1000": per_k(pk, lambda r: r.area_lost_fraction >= 0.2),
        "top_hit_per_1000_at_1000": per_k(big, lambda r: r.top_hit),
        "whole_top_per_1000_at_1000": per_k(big, lambda r: r.whole_top_lost),
        "top_points_dropped_share": (sum(r.top_dropped for r in pk) / max(sum(r.n_top_points for r in pk), 1)),
        "flank_points_dropped_share": (sum(r.flank_dropped for r in pk) / max(sum(r.n_flank_points for r in pk), 1)),
        "top_points": sum(r.n_top_points for r in pk), "flank_points": sum(r.n_flank_points for r in pk),
        "top_hit_n": sum(r.top_hit for r in pk), "apex_dropped_n": sum(r.apex_dropped for r in pk),
        "whole_top_n": sum(r.whole_top_lost for r in pk),
        "runs_over_peaks": len(lens),
        "run_len_median": float(np.median(lens)) if lens else math.nan,
        "run_len_p90": float(np.percentile(lens, 90)) if lens else math.nan,
        "run_over_fwhm_median": float(np.median(rel)) if rel else math.nan,
        "run_over_fwhm_p90": float(np.percentile(rel, 90)) if rel else math.nan,
        "run_over_fwhm_ge1_share": float(np.mean(np.array(rel) >= 1.0)) if rel else math.nan,
    }


def measure_real() -> dict | None:
    peaks = real_peaks()
    if peaks is None:
        return None
    out, pooled = {}, []
    for label, rows in peaks.items():
        res = [peak_dropouts(p["trace"].time_min, p["trace"].signal, p["rt"], p["start"], p["end"]) for p in rows]
        pooled += res
        out[label] = tally(res)
    out["pooled"] = tally(pooled)
    co = {}
    for label, (trs, groups) in real_injections().items():
        co[label] = co_dropouts(trs, groups)
    out["co_dropouts"] = co
    return out


def measure_simulated(seeds: list[int], noise=None) -> dict:
    res, truth_top, truth_whole, co = [], 0, 0, []
    per_seed: dict[int, list[str]] = {}
    for seed, sample_id, trs in simulated(seeds, noise):
        for t, noisy, clean, _, name in trs:
            ref = noiseless_reference(t, clean)
            if ref is None:
                continue
            apex, start, end, _ = ref
            r = peak_dropouts(t, noisy, apex, start, end, quantum=(noise or MrmNoise()).cps_per_count)
            res.append(r)
            if r is not None and r.height_counts >= MIN_HEIGHT_COUNTS and r.whole_top_lost:
                per_seed.setdefault(seed, []).append(f"{sample_id} {name}")
        co.append(co_dropouts([(t, noisy) for t, noisy, *_ in trs], [g for *_, g, _ in trs]))
    out = tally(res)
    pairs = sum(c["pairs"] for c in co)
    pg = sum(c["pairs_same_group"] for c in co)
    out["co_dropouts"] = {
        "pairs": pairs,
        "shared": sum(c["shared"] * c["pairs"] for c in co if c["pairs"]) / pairs if pairs else math.nan,
        "pairs_same_group": pg,
        "shared_same_group": (sum(c["shared_same_group"] * c["pairs_same_group"] for c in co if c["pairs_same_group"])
                              / pg if pg else math.nan),
        "base": float(np.nanmean([c["base"] for c in co])),
    }
    out["whole_top_lost_where"] = {str(k): v for k, v in per_seed.items()}
    out["seeds"] = len(seeds)
    del truth_top, truth_whole
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20, help="simulated batches: the default seed and seeds 1..N-1")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from thioquant.simulate import DEFAULT_SEED

    t0 = time.perf_counter()
    real = measure_real()
    t1 = time.perf_counter()
    seeds = [DEFAULT_SEED, *range(1, args.seeds)]
    simd = measure_simulated(seeds)
    t2 = time.perf_counter()
    before = measure_simulated(seeds, MrmNoise(**MRM_DROPOUTS_BEFORE))
    out = {"real": real, "simulated": simd, "simulated_before": before,
           "seconds_real": round(t1 - t0, 1), "seconds_sim": round(t2 - t1, 1)}
    _OUT_JSON.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    lines = report(out)
    (HERE / "results_dropout_peaks.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


def _poisson_le(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu)."""
    return math.exp(-mu) * sum(mu**i / math.factorial(i) for i in range(k + 1))


def report(out: dict) -> list[str]:
    """The markdown table of results_dropout_peaks.md."""
    real, sim, before = out["real"], out["simulated"], out["simulated_before"]
    cols = [("real: BloodProject (Analyst)", real["BloodProject QC (Analyst)"]),
            ("real: yeast (SmartPeak)", real["yeast Sacc1 (SmartPeak)"]), ("real: pooled", real["pooled"]),
            (f"simulated, {sim['seeds']} batches", sim), ("simulated before (MRM_DROPOUTS_BEFORE)", before)]
    rows = [("peaks >= 100 counts (>= 1000)", lambda d: f"{d['peaks']} ({d['peaks_1000']})"),
            ("FWHM, points (median)", lambda d: f"{d['fwhm_points_median']:.1f}"),
            ("peaks with a run in their bounds, per 1,000", lambda d: f"{d['any_run_per_1000']:.1f}"),
            ("a top point dropped (upper half), per 1,000 (n)", lambda d: f"{d['top_hit_per_1000']:.1f} ({d['top_hit_n']})"),
            ("apex dropped, per 1,000 (n)", lambda d: f"{d['apex_dropped_per_1000']:.1f} ({d['apex_dropped_n']})"),
            ("whole upper half lost, per 1,000 (n)", lambda d: f"{d['whole_top_per_1000']:.2f} ({d['whole_top_n']})"),
            (">= 20 % of the area lost, per 1,000", lambda d: f"{d['area_lost_20_per_1000']:.1f}"),
            ("top points dropped (of n)", lambda d: f"{100 * d['top_points_dropped_share']:.2f} % ({d['top_points']})"),
            ("flank points dropped (of n)", lambda d: f"{100 * d['flank_points_dropped_share']:.2f} % ({d['flank_points']})"),
            ("runs over peaks; length median / p90, points", lambda d: f"{d['runs_over_peaks']}; {d['run_len_median']:g} / {d['run_len_p90']:.0f}"),
            ("run length / FWHM: median / p90 / share >= 1", lambda d: f"{d['run_over_fwhm_median']:.2f} / {d['run_over_fwhm_p90']:.2f} / {100 * d['run_over_fwhm_ge1_share']:.0f} %")]
    lines = ["# Dropouts over peaks: real QTRAP files against the simulator (`benchmarks/dropout_peaks.py`)", "",
             f"Real: {real['pooled']['peaks']} reference peaks of the two files ({out['seconds_real']} s); simulated: the "
             f"LC-MS/MS batch at the default seed and seeds 1-{sim['seeds'] - 1} ({out['seconds_sim']} s). "
             "Method: docs/noise.md, \"Dropouts over peaks\".", "",
             "| | " + " | ".join(c for c, _ in cols) + " |", "|---|" + "---|" * len(cols)]
    for label, f in rows:
        lines.append(f"| {label} | " + " | ".join(f(d) for _, d in cols) + " |")
    n = real["pooled"]["peaks"]
    lines += ["", "Expected on the real files' peaks at the simulated rate, and the chance of seeing no more than the real count:", "",
              "| event | real | simulated now: expected, P | simulated before: expected, P |", "|---|---|---|---|"]
    for key, label in (("top_hit", "a top point dropped"), ("apex_dropped", "apex dropped"), ("whole_top", "whole upper half lost")):
        k = real["pooled"][f"{key}_n"]
        cells = []
        for d in (sim, before):
            mu = d[f"{key}_per_1000"] * n / 1000
            cells.append(f"{mu:.2f}, {_poisson_le(k, mu):.2g}")
        lines.append(f"| {label} | {k} of {n} | " + " | ".join(cells) + " |")
    lines += ["", "Across the transitions of one injection (a run of one transition: is another, with signal there, dropped at the same scans?):", "",
              "| | pairs | shared | same compound: pairs, shared | a random point of signal dropped |", "|---|---|---|---|---|"]
    for label, co in [*real["co_dropouts"].items(), ("simulated", sim["co_dropouts"]), ("simulated before", before["co_dropouts"])]:
        lines.append(f"| {label} | {co['pairs']} | {100 * co['shared']:.1f} % | {co['pairs_same_group']}, "
                     f"{100 * co['shared_same_group']:.1f} % | {100 * co['base']:.1f} % |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
