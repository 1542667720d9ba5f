"""Ideal-integrator oracle for ``bench_noise.py`` (issue 18): is "every run accepted" reachable?

    uv run --group bench python benchmarks/bench_noise_oracle.py                   # 6 and 12 %, seeds 1-40
    uv run --group bench python benchmarks/bench_noise_oracle.py --levels 12 --seeds 40 --no-engine

The bundled LC-MS/MS batch (``sample_data/lcmsms``) is re-simulated in memory from its seed
(:data:`thioquant.simulate.DEFAULT_SEED`) with the simulator's peak and noise functions wrapped, which
gives for every trace its noiseless signal, the target peak's true curve (the EMG of the analyte or
internal standard; the rest of the noiseless signal is the true baseline) and the points where the
measured noise model put a spike or dropped points. The re-simulated noisy traces are checked to be
the bundled files' (same seed, same bytes), so the ground truth is that of the bundled batch.

Per seed, every trace gets ``bench_noise``'s perturbation with the same random draws
(:func:`bench_noise.perturb_signal`, files and traces in the same order), so the oracle and the
engine see identical noisy traces. The oracle integrates each target peak between its true bounds
(where the true peak is >= 0.1 % of its apex: 99.9 % of its area, the same share for every peak)
above the true baseline, by the trapezoid rule; two variants:

- ``sum``: the noisy signal as it is, spikes and dropped points included (any integrator that sums
  the signal);
- ``repaired``: the points the simulator spiked or dropped replaced by their true value (an ideal
  spike and dropout repair; only the point noise and counting remain).

The responses (area / IS area) of the calibrators go through the method's own calibration code
(``accept_calibration`` with the method's model, weighting and ICH M10 settings) and the CLSI
C62-A r^2 rule (``qc.rules.calibration_rule`` with the method's ``calibration_r2_min``); the QCs and
quantifiable patients are back-calculated on that curve and scored as ``bench_noise`` scores them.
Beside each seed, unless ``--no-engine``, the whole pipeline (``thioquant.quantify``) on the same
perturbed batch: verdict, r^2, patients within tolerance, and its calibrator responses. Writes
``benchmarks/results_noise_oracle.md``.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_noise import perturb_batch, perturb_signal, score  # noqa: E402

import thioquant  # noqa: E402
import thioquant.simulate as sim  # noqa: E402
from thioquant.assay.method import find_method_file, load_method  # noqa: E402
from thioquant.calibration import accept_calibration  # noqa: E402
from thioquant.io import read_run  # noqa: E402
from thioquant.noise_model import mrm_noise_events  # noqa: E402
from thioquant.qc.rules import calibration_rule  # noqa: E402
from thioquant.qc.settings import QCSettings  # noqa: E402

BATCH = ROOT / "sample_data" / "lcmsms"
PEAK_FLOOR = 1e-3  # true bounds: where the true peak is >= 0.1 % of its apex


@dataclass
class TrueTrace:
    name: str
    time_min: np.ndarray
    noisy: np.ndarray     # the bundled file's signal
    baseline: np.ndarray  # noiseless signal without the target peak
    peak: np.ndarray      # the target peak's true curve (zeros when there is none)
    events: np.ndarray    # points the noise model spiked or dropped


@contextmanager
def _recording():
    """Wrap the simulator's ``emg`` and ``apply_mrm_noise``; yield the list of recorded traces."""
    calls: list[tuple[float, float, float, float, np.ndarray]] = []
    traces: list[tuple[np.ndarray, np.ndarray, list]] = []
    emg0, noise0 = sim.emg, sim.apply_mrm_noise

    def emg(t, area, mu, sigma, tau):
        out = emg0(t, area, mu, sigma, tau)
        calls.append((area, mu, sigma, tau, out))
        return out

    def noise(sig, rng, p=None):
        out, events = mrm_noise_events(sig, rng, p)
        traces.append((np.array(sig, dtype=float), events, list(calls)))
        calls.clear()
        return out

    sim.emg, sim.apply_mrm_noise = emg, noise
    try:
        yield traces
    finally:
        sim.emg, sim.apply_mrm_noise = emg0, noise0


def ground_truth(method) -> tuple[list[tuple[object, list[TrueTrace]]], list[Path]]:
    """Per injection (in file order): its design (SampleSpec) and true traces of the bundled batch."""
    with _recording() as rec:
        rng = np.random.default_rng(sim.DEFAULT_SEED)
        failures = sim.Failures()
        samples = sim._design(method, rng, 24, failures)
        carry: dict[str, float] = {}
        sim_traces = []
        for s in samples:
            trs, areas = sim.simulate_injection(method, s, rng, carry, failures)
            carry = {a: v * failures.carryover_fraction for a, v in areas.items()}
            sim_traces.append(trs)
    files = sorted((BATCH / "raw").iterdir())
    if len(files) != len(samples):
        raise SystemExit(f"{BATCH}: {len(files)} files, the simulator's design has {len(samples)}")
    out, k = [], 0
    for s, trs, f in zip(samples, sim_traces, files, strict=True):
        run = read_run(f)
        injection = []
        for a, b in zip(trs, run.traces, strict=True):
            if a.name != b.name or not np.allclose(a.signal, b.signal, rtol=1e-6, atol=0.5):
                # (mzML stores 32-bit floats: a few cps off at 10^6 cps)
                raise SystemExit(f"{f.name} {b.name}: the bundled batch is not the simulator's at seed "
                                 f"{sim.DEFAULT_SEED} (regenerated with other code?)")
            clean, events, calls = rec[k]
            k += 1
            # the target peak: the analyte's or IS's EMG (the endogenous peak has sigma 0.03, tau 0.02)
            target = [c for c in calls if not (c[2] == 0.03 and c[3] == 0.02)]
            peak = target[0][4] if target else np.zeros_like(clean)
            injection.append(TrueTrace(b.name, np.asarray(b.time_min, dtype=float), np.asarray(b.signal, dtype=float),
                                       clean - peak, peak, events))
        out.append((s, injection))
    return out, files


def oracle_area(tr: TrueTrace, signal: np.ndarray | None, repaired: bool = False) -> float:
    """Area of the target peak between its true bounds above the true baseline (``signal`` None:
    the true peak's own area there)."""
    if not tr.peak.any():
        return 0.0
    idx = np.flatnonzero(tr.peak >= PEAK_FLOOR * tr.peak.max())
    lo, hi = idx[0], idx[-1] + 1
    if signal is None:
        return float(np.trapezoid(tr.peak[lo:hi], tr.time_min[lo:hi]))
    y = signal[lo:hi] - tr.baseline[lo:hi]
    if repaired:
        ev = tr.events[lo:hi]
        y = np.where(ev, tr.peak[lo:hi], y)
    return float(np.trapezoid(y, tr.time_min[lo:hi]))


def _cv(v) -> float:
    v = np.asarray([x for x in v if math.isfinite(x)], dtype=float)
    return float(100 * v.std(ddof=1) / v.mean()) if v.size > 1 else math.nan


def run_oracle(method, truth, seed: int, cv: float, cps_per_count: float) -> dict:
    """Both oracle variants at one seed: r^2, rule outcomes, calibrator responses, QCs, patients."""
    rng = np.random.default_rng(seed)
    sl = math.sqrt(math.log1p(cv * cv))
    noisy = [[perturb_signal(tr.noisy, rng, sl, cps_per_count) for tr in trs] for _, trs in truth]
    qcs = QCSettings.from_dict(dict(method.qc))
    with open(BATCH / "truth.csv", encoding="utf-8", newline="") as fh:
        true_rows = {(r["sample_id"], r["analyte"]): r for r in csv.DictReader(fh)}
    out: dict = {}
    for variant in ("sum", "repaired"):
        res: dict = {"r2": {}, "rule": {}, "cal": {}, "true_cal": {}, "qc_ok": 0, "qc_n": 0, "pat_ok": 0, "pat_n": 0,
                     "worst": 0.0, "outside": []}
        for a in method.analytes:
            resp = {}
            true_cal = {}
            for (s, trs), sig in zip(truth, noisy, strict=True):
                by = {tr.name: (tr, x) for tr, x in zip(trs, sig, strict=True)}
                if a.name not in by or a.internal_standard not in by:
                    continue
                if s.sample_type == "calibrator":
                    true_cal[s.level] = oracle_area(by[a.name][0], None) / oracle_area(by[a.internal_standard][0], None)
                ar = oracle_area(*by[a.name], repaired=variant == "repaired")
                isa = oracle_area(*by[a.internal_standard], repaired=variant == "repaired")
                resp[s.sample_id] = (s, ar / isa if isa > 0 else math.nan)
            cal = [(s, r) for s, r in resp.values() if s.sample_type == "calibrator"]
            cs = method.calibration
            oc = accept_calibration([method.nominal("calibrator", s.level, a.name) for s, _ in cal], [r for _, r in cal],
                                    model=cs.model, weighting=cs.weighting, levels=[s.level for s, _ in cal],
                                    tolerance_pct=cs.tolerance_pct, lloq_tolerance_pct=cs.lloq_tolerance_pct,
                                    min_fraction=cs.min_fraction, min_levels=cs.min_levels)
            s_a = qcs.for_analyte(a.name)
            rule = calibration_rule(oc, r2_min=s_a.calibration_r2_min)
            res["r2"][a.name] = oc.calibration.r2
            res["rule"][a.name] = rule.passed
            res["cal"][a.name] = {s.level: r for s, r in cal}
            res["true_cal"][a.name] = true_cal
            inv = oc.calibration.inverse
            lloq = min(lv[a.name] for lv in method.calibrators.values() if a.name in lv)
            uloq = max(lv[a.name] for lv in method.calibrators.values() if a.name in lv)
            for s, r in resp.values():
                if s.sample_type == "qc":
                    res["qc_n"] += 1
                    nominal = method.nominal("qc", s.level, a.name)
                    res["qc_ok"] += abs(float(inv(r)) / nominal - 1) <= s_a.qc_tolerance_pct / 100
                elif s.sample_type == "unknown":
                    t = true_rows[(s.sample_id, a.name)]
                    vial = float(t["true_conc"]) / float(t["dilution"] or 1)
                    if not t["true_reported"] or float(t["true_reported"]) <= 0 or not lloq <= vial <= uloq:
                        continue
                    reported = float(inv(r)) * s.dilution * 0.8 / s.rbc  # the method's rbc_count normalisation
                    err = reported / float(t["true_reported"]) - 1
                    tol = 0.20 if vial < 3 * lloq else 0.15
                    res["pat_n"] += 1
                    res["pat_ok"] += abs(err) <= tol
                    if abs(err) > tol:
                        res["outside"].append((s.sample_id, a.name, err))
                    if abs(err) > abs(res["worst"]):
                        res["worst"] = err
        out[variant] = res
    return out


def run_engine(seed: int, cv: float, cps_per_count: float, tmp: Path) -> dict:
    b = perturb_batch(BATCH, tmp / f"cv{cv:g}_s{seed}", cv, seed, cps_per_count)
    res = thioquant.quantify(b)
    sc = score(res, b / "truth.csv")
    cal = {a: {r.level: r.response for r in res.results if r.sample_type == "calibrator" and r.analyte == a}
           for a in res.calibrations}
    r2 = {a: getattr(getattr(o, "calibration", None), "r2", math.nan) for a, o in res.calibrations.items()}
    return {"accepted": res.accepted, "rule": getattr(res.verdict, "deciding_rule", ""), "r2": r2, "cal": cal,
            "within": sc["within"], "n": sc["n"], "worst": sc["worst"],
            "outside": [(x["sample"], x["analyte"], x["err"], x["flags"]) for x in sc["rows"] if not x["within"]],
            "held_within": sum(x["held"] and x["within"] for x in sc["rows"]),
            "outside_not_held": sum(not x["held"] and not x["within"] for x in sc["rows"]),
            "off30_not_held": sc["off30_not_held"], "off30_interpreted": sc["off30_interpreted"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="6,12", help="point CVs in %% (bench_noise's perturbation)")
    ap.add_argument("--seeds", type=int, default=40, help="seeds per level (1..N, as bench_noise)")
    ap.add_argument("--cps-per-count", type=float, default=1.0)
    ap.add_argument("--no-engine", action="store_true", help="the oracle only (seconds instead of minutes)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_noise_oracle.md")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    method = load_method(find_method_file("thiopurines_lcmsms", start=ROOT))
    truth, _files = ground_truth(method)
    r2_min = QCSettings.from_dict(dict(method.qc)).calibration_r2_min
    names = [a.name for a in method.analytes]
    levels = [float(x) / 100 for x in args.levels.split(",")]
    seeds = range(1, args.seeds + 1)
    rows: dict[float, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for cv in levels:
            for seed in seeds:
                row = {"seed": seed, "oracle": run_oracle(method, truth, seed, cv, args.cps_per_count)}
                if not args.no_engine:
                    row["engine"] = run_engine(seed, cv, args.cps_per_count, Path(tmp))
                rows.setdefault(cv, []).append(row)
                o = row["oracle"]
                e = row.get("engine")
                print(f"cv {100 * cv:g} % seed {seed}: oracle r2 "
                      + ", ".join(f"{a} {o['sum']['r2'][a]:.4f}/{o['repaired']['r2'][a]:.4f}" for a in names)
                      + ("" if e is None else "; engine " + ", ".join(f"{a} {e['r2'][a]:.4f}" for a in names)
                         + f" {'ACCEPTED' if e['accepted'] else 'REJECTED (' + e['rule'] + ')'}"), flush=True)
    secs = time.perf_counter() - t0
    given = sys.argv[1:] if argv is None else argv
    cmd = " ".join(["uv run --group bench python benchmarks/bench_noise_oracle.py", *given])

    def passes(r2: dict) -> bool:
        return all(r2[a] > r2_min for a in names)

    lines = [
        "# Ideal-integrator oracle beside the engine under point noise (`benchmarks/bench_noise_oracle.py`)", "",
        f"Command: `{cmd}`; measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(thioquant {thioquant.__version__}); {secs:.0f} s.", "",
        "sample_data/lcmsms perturbed as `bench_noise.py` perturbs it (same draws per seed: every point x "
        f"lognormal(mean 1, CV), then Poisson at {args.cps_per_count:g} cps per count). Oracle: each peak "
        "integrated between its true bounds above its true baseline (the simulator's ground truth at seed "
        f"{sim.DEFAULT_SEED}); `sum` sums the noisy signal as it is (spikes and dropped points of the bundled "
        "noise included), `repaired` puts the true value at the points the simulator spiked or dropped. "
        f"Calibration: the method's model/weighting and ICH M10 acceptance; CLSI C62-A rule r^2 > {r2_min:g} "
        "for both analytes.", "",
        "| point CV | seeds | oracle `sum`: r^2 rule passed | oracle `repaired`: r^2 rule passed "
        "| engine: r^2 rule passed | engine: runs accepted | lowest r^2 sum / repaired / engine "
        "| patients within tolerance: sum / repaired / engine "
        "| seeds meeting both (r^2 rule / run accepted, and every patient within): sum / repaired / engine |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cv, rs in rows.items():
        n = len(rs)
        eng = [r["engine"] for r in rs if "engine" in r]

        def low(get, rs: list[dict] = rs) -> str:
            return " ".join(f"{a} {min(get(r)[a] for r in rs):.4f}" for a in names)

        lines.append(
            f"| {100 * cv:g} % | {n} | {sum(passes(r['oracle']['sum']['r2']) for r in rs)}/{n} "
            f"| {sum(passes(r['oracle']['repaired']['r2']) for r in rs)}/{n} "
            + (f"| {sum(passes(e['r2']) for e in eng)}/{len(eng)} | {sum(e['accepted'] for e in eng)}/{len(eng)} "
               if eng else "| - | - ")
            + f"| {low(lambda r: r['oracle']['sum']['r2'])} / {low(lambda r: r['oracle']['repaired']['r2'])}"
            + (f" / {low(lambda r: r['engine']['r2'])}" if eng else "")
            + f" | {sum(r['oracle']['sum']['pat_ok'] for r in rs)}/{sum(r['oracle']['sum']['pat_n'] for r in rs)}"
            f" / {sum(r['oracle']['repaired']['pat_ok'] for r in rs)}/{sum(r['oracle']['repaired']['pat_n'] for r in rs)}"
            + (f" / {sum(e['within'] for e in eng)}/{sum(e['n'] for e in eng)}" if eng else "")
            + " | " + " / ".join(f"{sum(passes(r['oracle'][v]['r2']) and not r['oracle'][v]['outside'] for r in rs)}/{n}"
                                 for v in ("sum", "repaired"))
            + (f" / {sum(e['accepted'] and e['within'] == e['n'] for e in eng)}/{len(eng)}" if eng else "") + " |")
    if any("engine" in r for rs in rows.values() for r in rs):
        lines += ["", "Engine, patient results held for review (and of them within tolerance), outside tolerance and "
                  "not held, off by > 30 % (or missing: a rejected run's) and not held, and of those the ones "
                  "interpreted (an accepted run's):", "",
                  "| point CV | held (within tolerance) | outside tolerance, not held | off > 30 %, not held "
                  "(interpreted) |", "|---|---|---|---|"]
        for cv, rs in rows.items():
            eng = [r["engine"] for r in rs if "engine" in r]
            held = sum(sum("HELD" in f for f in x[3]) > 0 for e in eng for x in e["outside"]) + sum(
                e["held_within"] for e in eng)
            lines.append(f"| {100 * cv:g} % | {held} ({sum(e['held_within'] for e in eng)}) "
                         f"| {sum(e['outside_not_held'] for e in eng)} | {sum(e['off30_not_held'] for e in eng)} "
                         f"({sum(e['off30_interpreted'] for e in eng)}) |")
    lines += ["", "Per analyte, how often each r^2 rule fails (seeds with r^2 <= the limit):", "",
              "| point CV | analyte | oracle sum | oracle repaired | engine | median r^2 sum / repaired / engine |",
              "|---|---|---|---|---|---|"]
    for cv, rs in rows.items():
        eng = [r["engine"] for r in rs if "engine" in r]
        for a in names:
            med = [float(np.median([r["oracle"][v]["r2"][a] for r in rs])) for v in ("sum", "repaired")]
            lines.append(
                f"| {100 * cv:g} % | {a} | {sum(r['oracle']['sum']['r2'][a] <= r2_min for r in rs)}/{len(rs)} "
                f"| {sum(r['oracle']['repaired']['r2'][a] <= r2_min for r in rs)}/{len(rs)} "
                f"| {sum(e['r2'][a] <= r2_min for e in eng) if eng else '-'}/{len(eng) if eng else '-'} "
                f"| {med[0]:.4f} / {med[1]:.4f}"
                + (f" / {float(np.median([e['r2'][a] for e in eng])):.4f}" if eng else "") + " |")
    lines += ["", "Per calibrator: the response's CV over the seeds (%) and its mean bias against the true response "
              "(the true peaks' area ratio; %), oracle sum / repaired / engine; and the engine's response against "
              "the oracle `repaired` one at the same seed (its own error with the noise taken out; %):", "",
              "| point CV | analyte | level | CV sum / repaired / engine | bias sum / repaired / engine "
              "| engine / oracle repaired - 1: median (largest) |",
              "|---|---|---|---|---|---|"]
    for cv, rs in rows.items():
        eng = [r.get("engine") for r in rs]
        for a in names:
            true = rs[0]["oracle"]["sum"]["true_cal"][a]
            for lv in rs[0]["oracle"]["sum"]["cal"][a]:
                cs = [r["oracle"]["sum"]["cal"][a][lv] for r in rs]
                cr = [r["oracle"]["repaired"]["cal"][a][lv] for r in rs]
                ce = [e["cal"][a].get(lv, math.nan) for e in eng] if all(eng) else []
                dev = [100 * (x / y - 1) for x, y in zip(ce, cr, strict=False) if math.isfinite(x)]

                def bias(v: list[float], lv: str = lv, true: dict = true) -> str:
                    v = [x for x in v if math.isfinite(x)]
                    return f"{100 * (float(np.mean(v)) / true[lv] - 1):+.2f}" if v else "-"

                big = max(dev, key=abs) if dev else math.nan
                lines.append(
                    f"| {100 * cv:g} % | {a} | {lv} | {_cv(cs):.2f} / {_cv(cr):.2f} / {_cv(ce) if dev else math.nan:.2f} "
                    f"| {bias(cs)} / {bias(cr)} / {bias(ce)} | "
                    + (f"{np.median(dev):+.2f} ({big:+.1f}) |" if dev else "- |"))
    lines += ["", "Patient results outside tolerance, by sample: seeds outside and worst error under the oracle "
              "`repaired` (the ideal integrator) and the engine (with the flags of its worst):", "",
              "| point CV | sample | analyte | oracle repaired | engine | engine's worst (flags) |",
              "|---|---|---|---|---|---|"]
    for cv, rs in rows.items():
        bad: dict[tuple[str, str], list[float]] = {}
        ebad: dict[tuple[str, str], list[tuple[float, tuple]]] = {}
        for r in rs:
            for sid, a, err in r["oracle"]["repaired"]["outside"]:
                bad.setdefault((sid, a), []).append(err)
            for sid, a, err, flags in (r.get("engine") or {}).get("outside", []):
                ebad.setdefault((sid, a), []).append((err, flags))
        keys = sorted(set(bad) | set(ebad), key=lambda k: (-len(ebad.get(k, [])), -len(bad.get(k, []))))
        for key in keys:
            o = bad.get(key, [])
            e = ebad.get(key, [])
            ew = max(e, key=lambda x: abs(x[0]) if math.isfinite(x[0]) else -1.0) if e else None  # missing last
            lines.append(f"| {100 * cv:g} % | {key[0]} | {key[1]} | {len(o)}/{len(rs)}"
                         + (f" ({100 * max(o, key=abs):+.1f} %)" if o else "")
                         + (f" | {len(e)}/{len(rs)} | {100 * ew[0]:+.1f} % ({', '.join(ew[1]) or 'no flag'}) |"
                            if e else " | - | |"))
        if not keys:
            lines.append(f"| {100 * cv:g} % | none | | 0/{len(rs)} | | |")
    lines += ["", "Per seed (r^2 6-TG, 6-MMP; x = the run fails the r^2 rule):", "",
              "| point CV | seed | oracle sum | oracle repaired | engine | engine verdict | engine's patients outside "
              "tolerance |", "|---|---|---|---|---|---|---|"]
    for cv, rs in rows.items():
        for r in rs:
            def fmt(r2: dict) -> str:
                return ", ".join(f"{r2[a]:.4f}" for a in names) + ("" if passes(r2) else " x")

            e = r.get("engine")
            lines.append(f"| {100 * cv:g} % | {r['seed']} | {fmt(r['oracle']['sum']['r2'])} "
                         f"| {fmt(r['oracle']['repaired']['r2'])} | {fmt(e['r2']) if e else '-'} | "
                         + ("-" if e is None else "accepted" if e["accepted"] else f"rejected: {e['rule']}") + " | "
                         + ("-" if e is None else ", ".join(f"{sid} {a} {100 * err:+.1f} %" for sid, a, err, _ in e["outside"]))
                         + " |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:6 + len(rows) + 4]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
