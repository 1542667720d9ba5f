"""The apex-spike screen against the simulator's known bursts (issue 18; docs/qc.md "Apex spike").

    uv run --group bench python benchmarks/apex_spikes_known.py                 # 0/12/20 %, seeds 1-5
    uv run --group bench python benchmarks/apex_spikes_known.py --levels 12 --seeds 3

The bundled LC-MS/MS batch (``sample_data/lcmsms``) is simulated again with its own seed while
the simulator's noise function is watched, which gives every MRM trace's noiseless signal and the
points the simulator made bursts (checked: the files written are byte-identical to the bundled
ones). Each trace is then perturbed exactly as ``bench_noise.py`` perturbs it (per seed, files
in order, every point x lognormal of mean 1 and CV ``level``, then Poisson at 1 cps per count) and
screened as the pipeline screens it (``find_apex_spikes`` with ``apex_noise_sd``; partners: the
analyte's quantifier, qualifier and internal standard). On each peak (the points where the
noiseless trace exceeds 5 % of its maximum, traces reaching 2,000 cps) it counts the bursts, the
bursts replaced, the points replaced that were no burst, and the area against the noiseless one
before and after the screen (RMS over the peaks; peaks that lost more than half their area to a
dropout left out). For each burst on a calibrator's quantifier or internal-standard peak (the CLSI
r^2 rule's input) it also lists the seeds in which it was replaced. ``bench_noise.py`` scores the
same batches end to end; this isolates the screen.
Writes ``benchmarks/results_apex_spikes_known.md``.
"""

from __future__ import annotations

import argparse
import filecmp
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from thioquant.assay.method import load_method  # noqa: E402
from thioquant.io import read_run  # noqa: E402
from thioquant.measure import coeluting_partners  # noqa: E402
from thioquant.measurement import channel_keys, trace_for  # noqa: E402
from thioquant.qc.signal import apex_noise_sd, find_apex_spikes, fix_apex_spikes  # noqa: E402

METHOD = ROOT / "calibrations" / "thiopurines_lcmsms.toml"
BATCH = ROOT / "sample_data" / "lcmsms"


def known_bursts() -> dict[bytes, tuple[np.ndarray, np.ndarray]]:
    """Noiseless signal and burst indices of every bundled MRM trace, keyed by its noisy bytes."""
    import thioquant.noise_model as nm
    import thioquant.simulate as sim

    seen: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    orig = nm.apply_mrm_noise

    def watched(signal_cps, rng, p=None):
        p = p or nm.MrmNoise()
        state = rng.bit_generator.state
        out = orig(signal_cps, rng, p)
        # replay the draws up to the burst mask (apply_mrm_noise's order)
        r = np.random.default_rng()
        r.bit_generator.state = state
        s = np.maximum(np.asarray(signal_cps, dtype=float), 0.0)
        mu = s / p.cps_per_count
        if p.point_cv > 0:
            sl = math.sqrt(math.log1p(p.point_cv**2))
            mu = mu * np.exp(r.normal(-0.5 * sl * sl, sl, s.size))
        if p.counting_factor > 1.0:
            r.negative_binomial(np.maximum(mu / (p.counting_factor - 1.0), 1e-12), 1.0 / p.counting_factor)
        else:
            r.poisson(mu)
        bursts = np.flatnonzero(r.random(s.size) < p.spike_rate)
        seen[np.asarray(out, dtype=float).tobytes()] = (s, bursts)
        return out

    sim.apply_mrm_noise = watched
    try:
        with tempfile.TemporaryDirectory() as tmp:
            b = sim.simulate_batch(Path(tmp) / "b", method=METHOD)
            for f in sorted((b / "raw").iterdir()):
                if not filecmp.cmp(f, BATCH / "raw" / f.name, shallow=False):
                    raise SystemExit(f"{f.name}: the simulator no longer writes the bundled batch; regenerate it first")
    finally:
        sim.apply_mrm_noise = orig
    return seen


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="0,12,20", help="point CVs in %%")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results_apex_spikes_known.md")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    seen = known_bursts()
    method = load_method(METHOD)
    files = sorted((BATCH / "raw").iterdir())
    runs = [read_run(f) for f in files]
    comps = method.analytes + method.internal_standards
    rows = []
    # the bursts on the calibrators' quantifier and internal-standard peaks (the CLSI r^2 rule's
    # input): (injection, channel, index) -> [bundled value over noiseless, seeds replaced per level]
    named: dict[tuple[str, str, int], list] = {}
    levels = [float(x) / 100 for x in args.levels.split(",")]
    for li, level in enumerate(levels):
        n_b = n_big = found = wrong = 0
        before: list[float] = []
        after: list[float] = []
        for seed in range(1, args.seeds + 1):
            rng = np.random.default_rng(seed)  # bench_noise.perturb_batch's draws, in its order
            sl = math.sqrt(math.log1p(level * level))
            for fpath, run in zip(files, runs, strict=True):
                traces = []
                for tr in run.traces:
                    s = np.maximum(np.asarray(tr.signal, dtype=float), 0.0)
                    if level > 0:
                        s = s * np.exp(rng.normal(-0.5 * sl * sl, sl, s.size))
                    traces.append(replace(tr, signal=rng.poisson(s).astype(float)))
                noisy = replace(run, traces=tuple(traces))
                partners = coeluting_partners(noisy, method)
                for comp, qual, _ in channel_keys(comps):
                    tr, raw = trace_for(noisy, comp, qualifier=qual), trace_for(run, comp, qualifier=qual)
                    key = None if raw is None else np.asarray(raw.signal, dtype=float).tobytes()
                    if tr is None or key not in seen:
                        continue
                    clean, bursts = seen[key]
                    if clean.max() < 2000:
                        continue
                    y = np.asarray(tr.signal, dtype=float)
                    sp = find_apex_spikes(y, apex_noise_sd(y), time_min=tr.time_min,
                                          partners=[(o.time_min, o.signal) for o in partners.get(id(tr), [])])
                    fixed = fix_apex_spikes(y, sp) if sp else y
                    peak = clean > 0.05 * clean.max()
                    done = {j for a, w, _ in sp for j in range(a, a + w)}
                    on = [int(i) for i in bursts if peak[i]]
                    n_b += len(on)
                    n_big += sum(y[i] > 1.45 * clean[i] for i in on)
                    found += len(done & set(on))
                    wrong += sum(1 for j in done - set(int(i) for i in bursts) if peak[j])
                    if "CAL" in fpath.name and not qual:
                        y0 = np.asarray(raw.signal, dtype=float)
                        for i in on:
                            rec = named.setdefault((fpath.stem, comp.name, i), [y0[i] / clean[i], [0] * len(levels)])
                            rec[1][li] += i in done
                    area = clean[peak].sum()
                    if abs(y[peak].sum() / area - 1) < 0.5:  # not a peak a dropout emptied
                        before.append(y[peak].sum() / area - 1)
                        after.append(fixed[peak].sum() / area - 1)
        b, a = np.array(before), np.array(after)
        rows.append(f"| {100 * level:g} % | {n_b} ({n_big}) | {found} | {wrong} | {b.size} | "
                    f"{100 * np.sqrt(np.mean(b * b)):.3f} / {100 * np.percentile(np.abs(b), 95):.2f} | "
                    f"{100 * np.sqrt(np.mean(a * a)):.3f} / {100 * np.percentile(np.abs(a), 95):.2f} |")
        print(rows[-1], flush=True)
    given = sys.argv[1:] if argv is None else argv
    lines = ["# The apex-spike screen against the simulator's known bursts (`benchmarks/apex_spikes_known.py`)", "",
             f"Command: `{' '.join(['uv run --group bench python benchmarks/apex_spikes_known.py', *given])}`; "
             f"measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {time.perf_counter() - t0:.0f} s; "
             f"seeds 1-{args.seeds}.", "",
             "Source: sample_data/lcmsms (its bursts known from the simulator), perturbed as bench_noise.py perturbs it; "
             "each trace screened as the pipeline screens it. Peak: the points above 5 % of the noiseless maximum.", "",
             "| point CV added | bursts on peaks (of them > 1.45x the noiseless value) | bursts replaced | "
             "points replaced that were no burst | peaks | area vs noiseless before the screen, RMS / p95 |%| | after |",
             "|---|---|---|---|---|---|---|", *rows, "",
             "Bursts on the calibrators' quantifier and internal-standard peaks (the CLSI r^2 rule's input): the "
             "bundled value over the noiseless one, and the seeds in which the screen replaced each, per level:", "",
             "| injection | channel | point | bundled / noiseless | " + " | ".join(f"{100 * lv:g} %" for lv in levels) + " |",
             "|---|---|---|---|" + "---|" * len(levels),
             *(f"| {k[0]} | {k[1]} | {k[2]} | {v[0]:.2f}x | " + " | ".join(f"{c}/{args.seeds}" for c in v[1]) + " |"
               for k, v in sorted(named.items())), ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
