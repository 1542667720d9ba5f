"""Apex spikes: one- or two-point bursts on a peak top replaced by the local fit of their
neighbours (thioquant.qc.signal.find_apex_spikes; docs/qc.md, "Signal integrity")."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from thioquant.qc.signal import apex_noise_sd, find_apex_spikes, fix_apex_spikes

CPS = 82.6  # measured QTRAP count step (docs/noise.md)


def _trace(rng, fwhm_pts, height, cv, base_frac=0.0, n=240):
    """A Gaussian peak with the measured QTRAP noise: lognormal point factor, then counts with
    twice the Poisson variance (gamma-Poisson), written as whole cps steps."""
    x = np.arange(n, dtype=float)
    c = n / 2 + rng.uniform(-0.5, 0.5)
    sig = fwhm_pts / 2.3548
    mu = (height * np.exp(-0.5 * ((x - c) / sig) ** 2) + base_frac * height + 50.0) / CPS
    f = rng.lognormal(-0.5 * np.log1p(cv**2), np.sqrt(np.log1p(cv**2)), n)
    return rng.poisson(rng.gamma(mu * f, 1.0)) * CPS, c


def _bench_score(res, truth_csv):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_noise.py"
    spec = importlib.util.spec_from_file_location("bench_noise", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.score(res, truth_csv)


def _spikes(y, **kw):
    return find_apex_spikes(y, apex_noise_sd(y), **kw)


def test_sharp_apexes_without_bursts_are_never_touched():
    # 4-6 points per half-height width, 3-12 % point noise, baselines 0-30 % of the height: no
    # point within the peak is ever judged a burst (240 traces)
    rng = np.random.default_rng(7)
    for k in range(240):
        fwhm = 4.0 + 2.0 * (k % 9) / 8
        y, c = _trace(rng, fwhm, 10 ** rng.uniform(4.5, 6.5), (0.03, 0.06, 0.12)[k % 3], (0, 0.05, 0.3)[k % 5 % 3])
        hits = [i for i, w, _ in _spikes(y) if abs(i - c) < 3 * fwhm]
        assert not hits, (k, fwhm, hits)


@pytest.mark.parametrize("fwhm", [3.0, 3.5, 4.0, 5.0, 6.0])
def test_noiseless_narrow_gaussians_are_never_touched(fwhm):
    x = np.arange(120, dtype=float)
    for off in np.linspace(-0.5, 0.5, 11):
        y = 1e5 * np.exp(-0.5 * ((x - 60 - off) / (fwhm / 2.3548)) ** 2) + 100.0
        assert _spikes(y) == []


def test_an_apex_burst_is_replaced_and_the_area_restored():
    # a single-point burst of the measured sizes (1.6-2.9x) on the apex point of a peak of 4-6
    # points per half-height width: found, and the peak's area back within a few % of the
    # area without it
    rng = np.random.default_rng(11)
    errs, before, found = [], [], 0
    for k in range(150):
        fwhm = 4.0 + 2.0 * (k % 7) / 6
        y, c = _trace(rng, fwhm, 10 ** rng.uniform(4.5, 6.5), (0.03, 0.06, 0.12)[k % 3])
        i = int(round(c))
        z = y.copy()
        z[i] = y[i] * rng.uniform(1.6, 2.9)
        sp = _spikes(z)
        found += any(a <= i < a + w for a, w, _ in sp)
        lo, hi = i - int(3 * fwhm), i + int(3 * fwhm) + 1
        a0 = y[lo:hi].sum()
        errs.append(abs(fix_apex_spikes(z, sp)[lo:hi].sum() / a0 - 1))
        before.append(z[lo:hi].sum() / a0 - 1)
    # measured (seed 11): 139/150 found; |area error| median 1.3 %, p90 5.0 %, p95 10.6 % (the
    # burst: +8 to +60 %, median +23 %); the missed are the smaller bursts in 12 % noise
    assert min(before) > 0.05
    assert found >= 0.9 * len(errs)
    assert np.median(errs) < 0.02 and np.percentile(errs, 90) < 0.06


def test_a_two_point_burst_is_replaced():
    rng = np.random.default_rng(3)
    y, c = _trace(rng, 5.0, 3e5, 0.06)
    i = int(round(c))
    z = y.copy()
    z[i:i + 2] *= 2.2
    sp = _spikes(z)
    assert [(a, w) for a, w, _ in sp] == [(i, 2)]
    fixed = fix_apex_spikes(z, sp)
    assert abs(fixed[i - 15:i + 16].sum() / y[i - 15:i + 16].sum() - 1) < 0.05


def test_a_point_that_rises_in_a_coeluting_channel_is_the_peaks_shape():
    # a sharp apex on heavy flanks (exponential both sides, 1.9x its neighbours), as some real
    # yeast peaks are: alone it looks like a burst; its qualifier rises at the same time, so it
    # is the peak's shape and is left alone. A burst in one channel only is still corrected.
    t = np.arange(100) * 0.0125
    shape = np.exp(-np.abs(np.arange(100) - 50) / 1.5)
    y = 2e5 * shape + 2e3
    qual = 0.4 * 2e5 * shape + 2e3
    assert [a for a, _, _ in _spikes(y)] == [50]
    assert _spikes(y, time_min=t, partners=[(t + 0.002, qual)]) == []
    flat = 0.4 * 2e5 * np.exp(-0.5 * ((np.arange(100) - 50) / 4.0) ** 2) + 2e3
    assert [a for a, _, _ in _spikes(y, time_min=t, partners=[(t + 0.002, flat)])] == [50]


def test_uv_and_spikeless_traces_are_left_alone():
    assert _spikes(np.zeros(50)) == [] and _spikes(np.array([1.0, 2.0, 3.0])) == []
    assert _spikes(np.full(40, np.nan)) == []


def test_the_measured_noise_batch_holds_no_result_for_an_apex_burst(tmp_path):
    # the LC-MS/MS batch simulated with the measured QTRAP noise at the default seed (the one
    # issue 18 asks to bundle): before the rule P009 (6-TG, 6-MMP), P021 and QCH-2 6-MMP were held
    # for a peak width 0.12-0.18x the calibrators' (a burst on the apex); now none is held for
    # width or a spike, bursts are flagged SPIKE_APEX, and every patient result with a truth is
    # within tolerance of it. (Drawn with the dropout model of 2026-12-05, P015's 6-MMP and QCL-2's
    # 6-TG were held for dropouts; with the dropouts measured over peaks nothing is held.)
    from thioquant import quantify
    from thioquant.assay.method import load_method
    from thioquant.simulate import simulate_batch

    root = Path(__file__).resolve().parents[1]
    method = root / "calibrations" / "thiopurines_lcmsms.toml"
    batch = simulate_batch(tmp_path / "b", noise="measured", method=method)
    res = quantify(batch)
    assert res.accepted
    held = {(r.sample_id, r.analyte): r.flags for r in res.results if "HELD" in r.flags}
    assert not [k for k, f in held.items() if any(x in f for x in ("HELD:WIDTH", "HELD:SPIKE"))], held
    flagged = sum("SPIKE_APEX" in (pk.flags if pk else ()) for m in res.measurements for pk in m.peaks.values())
    assert flagged >= 5
    sc = _bench_score(res, batch / "truth.csv")  # benchmarks/bench_noise.py's scoring against truth
    assert sc["within"] == sc["n"] and sc["off30_not_held"] == 0, sc
    assert not held
    # the same batch without the rule: results held for width
    m = load_method(method)
    res = quantify(batch, replace(m, integration=replace(m.integration, apex_spikes=False)),
                   cache=tmp_path / "c.sqlite")
    assert any("HELD:WIDTH" in r.flags for r in res.results)


def test_two_bursts_a_point_apart_are_both_replaced():
    # the measured-noise validation package (R1 CAL8, 6-TG): bursts at 3,494 and 3,000 (x10^3 cps)
    # with 1,721 between; each lifted the other's flank fit, so the width read 0.36x and the
    # calibrator was excluded, narrowing the validation range (calibration FAILED)
    rng = np.random.default_rng(5)
    y, c = _trace(rng, 6.0, 2e6, 0.06)
    i = int(round(c))
    z = y.copy()
    z[i - 1] *= 1.9
    z[i + 1] *= 1.8
    sp = _spikes(z)
    assert sorted(a for a, _, _ in sp) == [i - 1, i + 1]
    fixed = fix_apex_spikes(z, sp)
    assert abs(fixed[i - 18:i + 19].sum() / y[i - 18:i + 19].sum() - 1) < 0.06


# --- count-level traces: counting statistics (issue 18, nadh and dutp on the QTRAP file) -------

QTRAP = "mzml_srm/smartPeakPy_QTRAP5500_BloodProject_QC"


def _count_peak(rng, fwhm, apex_counts, cps=120.4, n=160):
    """A Gaussian peak of a few counts on a near-zero baseline, drawn as counts with twice the
    Poisson variance (gamma-Poisson, the measured QTRAP noise) and written as whole cps."""
    x = np.arange(n, dtype=float)
    c = n / 2 + rng.uniform(-0.5, 0.5)
    mu = apex_counts * np.exp(-0.5 * ((x - c) / (fwhm / 2.3548)) ** 2) + 0.05
    return np.round(rng.poisson(rng.gamma(mu, 1.0)) * cps), c


def test_count_level_apexes_are_kept():
    # narrow peaks (4-6 points per half-height width) whose apex is 3-10 counts: the apex often
    # stands 2-4x above a fit through 1-3-count flanks, which is counting noise, not a burst.
    # Measured (seed 1, 450 peaks): the screen before counting statistics (no count step below 5
    # distinct values; a Gaussian SD at any level) removed a point of 21 of them; now none
    rng = np.random.default_rng(1)
    hits = []
    for apex in (3, 5, 10):
        for k in range(150):
            fwhm = 4.0 + 2.0 * (k % 5) / 4
            y, c = _count_peak(rng, fwhm, apex)
            hits += [(apex, k) for i, _, _ in _spikes(y) if abs(i - c) < 2 * fwhm]
    assert len(hits) <= 1, hits


def test_count_step_of_a_trace_with_few_distinct_values():
    from thioquant.qc.signal import count_step

    # the dutp trace's values: 1, 2, 3 and 8 counts of 120.4 cps (count_quantum needs 5 values)
    y = np.array([0, 0, 120, 241, 361, 963, 361, 361, 361, 120, 0, 120, 361, 0] * 3, dtype=float)
    assert count_step(y) == pytest.approx(120.4, abs=0.1)
    assert np.isnan(count_step(np.array([0, 0, 130.7, 250.0, 371.3, 962.9, 0.0] * 3)))  # not multiples
    assert np.isnan(count_step(np.array([0.0, 1.0, 2.0, 3.0, 1.0, 2.0])))  # a one-unit step


def _tail_sum(c, logpmf):
    """P(X >= c) summed term by term (the upper tail, so that 1e-19 keeps its digits)."""
    import math

    return sum(math.exp(logpmf(k)) for k in range(c, c + 3000))


def test_count_tail_is_the_negative_binomial_and_poisson_tail():
    from math import lgamma, log

    from thioquant.qc.signal import count_tail

    for c, mu in [(11, 2.5), (8, 3.2), (1, 0.3), (200, 100.0), (3, 40.0)]:
        # NB of mean mu and variance 2 mu: r = mu, p = 1/2
        nb = _tail_sum(c, lambda k, mu=mu: lgamma(k + mu) - lgamma(mu) - lgamma(k + 1) + (mu + k) * log(0.5))
        po = _tail_sum(c, lambda k, mu=mu: k * log(mu) - mu - lgamma(k + 1))
        assert count_tail(c, mu) == pytest.approx(nb, rel=1e-9)
        assert count_tail(c, mu, 1.0) == pytest.approx(po, rel=1e-9)
    assert count_tail(0, 5.0) == 1.0


def test_a_burst_on_a_count_level_peak_of_hundreds_of_counts_is_still_found():
    # the counting test only spares points that counting explains: a 2.2x burst on an apex of
    # 300 counts is 9 Gaussian SDs and p < 1e-12, and is replaced
    rng = np.random.default_rng(4)
    found = 0
    for _ in range(40):
        y, c = _count_peak(rng, 5.0, 300)
        i = int(round(c))
        y[i] = np.round(y[i] * 2.2 / 120.4) * 120.4
        found += any(a <= i < a + w for a, w, _ in _spikes(y))
    assert found >= 36


def test_real_count_level_apexes_are_kept(shared_data):
    # QTRAP BloodProject: nadh (11 counts of 101 cps between 2 and 3) and dutp (8 counts of
    # 120.4 cps between 3 and 3) are apexes that Analyst integrates; the screen removed both
    # (nadh then was not found at all; dutp's area -19.8 % against Analyst)
    import csv

    from thioquant.io import read_run
    from thioquant.peaks import find_target

    run = read_run(shared_data / QTRAP / "150601_0_BloodProject01_PLT_QC_Broth-1.mzML")
    with open(shared_data / QTRAP / "referenceData_1_sciex_vendor_results.csv", newline="") as fh:
        rows = {r["component_name"]: r for r in csv.DictReader(fh)}
    for name in ("nadh.nadh_1.Light", "dutp.dutp_1.Light"):
        r = rows[name]
        q1, q3 = (round(float(x), 1) for x in r["mass_info"].split("/"))
        (tr,) = [t for t in run.traces if t.channel.kind == "srm" and (round(t.channel.precursor_mz, 1),
                                                                        round(t.channel.product_mz, 1)) == (q1, q3)]
        y = np.asarray(tr.signal, dtype=float)
        rt = float(r["retention_time"])
        apex = int(np.argmin(np.abs(tr.time_min - rt)))
        assert y[apex] == y[apex - 3:apex + 4].max()  # the apex Analyst reports
        sp = _spikes(y, time_min=tr.time_min)
        assert not [a for a, w, _ in sp if a <= apex < a + w], (name, sp)
        pk = find_target(replace(tr, signal=fix_apex_spikes(y, sp)), rt, 0.2)
        assert pk is not None, name
        assert abs(pk.area * 60.0 / float(r["area"]) - 1) < 0.1, (name, pk.area * 60.0, r["area"])


# --- bursts on a steep flank (issue 18: P020's 6-TG in the bundled batch) ----------------------


def test_a_burst_on_a_steep_flank_is_replaced_and_the_area_restored():
    # a 1.6-2.9x burst 0.3-0.6 half-height widths from the centre of a peak of 4-6 points per
    # half-height width, measured QTRAP noise (3-12 % point CV, counts): there the higher
    # neighbour is already near the burst's value, so the neighbours' test (1.45x both) misses
    # it. Measured (seed 21, 150 peaks): found 126 (before the flank rule 83; of the 66 that
    # the neighbours' test cannot see, 43 against 0); |area error| after the screen median 1.05 %,
    # p90 7.5 % (before 2.7 % / 12.0 %; the burst itself: median +13 %)
    rng = np.random.default_rng(21)
    found = hidden = hidden_found = 0
    errs = []
    for k in range(150):
        fwhm = 4.0 + 2.0 * (k % 5) / 4
        y, c = _trace(rng, fwhm, 10 ** rng.uniform(4.5, 6.5), (0.03, 0.06, 0.12)[k % 3])
        i = int(round(c + rng.uniform(0.3, 0.6) * fwhm * (1 if k % 2 else -1)))
        z = y.copy()
        z[i] = y[i] * rng.uniform(1.6, 2.9)
        sp = _spikes(z)
        hit = any(a <= i < a + w for a, w, _ in sp)
        found += hit
        if not (z[i] > 1.45 * z[i - 1] and z[i] > 1.45 * z[i + 1]):
            hidden += 1
            hidden_found += hit
        lo, hi = int(c) - int(3 * fwhm), int(c) + int(3 * fwhm) + 1
        errs.append(abs(fix_apex_spikes(z, sp)[lo:hi].sum() / y[lo:hi].sum() - 1))
    assert found >= 120 and hidden >= 50 and hidden_found >= 0.55 * hidden, (found, hidden, hidden_found)
    assert np.median(errs) < 0.02 and np.percentile(errs, 90) < 0.09


def test_the_bundled_p020_flank_burst_is_replaced():
    # sample_data/lcmsms, P020's 6-TG quantifier: the simulator put bursts at 1.4458 min (2.3x,
    # apex side) and 1.5042 min (2.1x, on the falling flank: 422,251 cps between 295,873 and
    # 150,002, noiseless 203,254); before the flank rule only the first was replaced and the
    # result read +8.5 % against truth.csv
    from thioquant.io import read_run

    root = Path(__file__).resolve().parents[1]
    run = read_run(root / "sample_data" / "lcmsms" / "raw" / "037_P020.mzML")
    (tr,) = [t for t in run.traces if (t.channel.precursor_mz, t.channel.product_mz) == (168.0, 151.0)]
    y = np.asarray(tr.signal, dtype=float)
    sp = {round(float(tr.time_min[a]), 4): fit for a, w, fit in _spikes(y, time_min=tr.time_min) if w == 1}
    assert set(sp) >= {1.4458, 1.5042}, sp
    i = int(np.argmin(np.abs(tr.time_min - 1.5042)))
    assert y[i + 1] < sp[1.5042][0] < y[i - 1]  # back between its neighbours
    assert abs(sp[1.5042][0] / 203254 - 1) < 0.15


def test_real_qtrap_traces_are_unharmed_by_the_flank_rule(shared_data):
    # the QTRAP BloodProject file, every SRM trace (partners: the same precursor's transitions, as
    # benchmarks/real_mrm.py): the screen replaces exactly the 9 points it replaced before the
    # flank rule; the foot of a steep real peak (Q1 133.91 / Q3 107: 6,323 -> 81,427 -> 369,137 ->
    # 384,528 cps), which a flank rule without the local-maximum condition read as a 2.3x burst
    # on a fit through baseline and top points, is untouched
    from thioquant.io import read_run

    run = read_run(shared_data / QTRAP / "150601_0_BloodProject01_PLT_QC_Broth-1.mzML")
    srm = [t for t in run.traces if t.channel.kind == "srm" and len(t) >= 3]
    got = set()
    for t in srm:
        pm = t.channel.precursor_mz
        partners = [(o.time_min, o.signal) for o in srm if o is not t and abs(o.channel.precursor_mz - pm) < 0.01]
        for a, w, _ in _spikes(np.asarray(t.signal, dtype=float), time_min=t.time_min, partners=partners):
            got.add((round(t.channel.precursor_mz, 2), round(t.channel.product_mz), a, w))
    assert got == {(316.0, 148, 298, 1), (306.0, 143, 295, 1), (259.0, 199, 327, 1), (289.0, 97, 286, 1),
                   (171.0, 79, 367, 1), (234.0, 97, 304, 1), (259.0, 79, 263, 1), (316.0, 79, 271, 1),
                   (347.0, 97, 36, 1)}, got


@pytest.mark.parametrize("ratio", [1.45, 0.9])
def test_the_screens_shortcuts_keep_the_full_rules_verdicts(ratio):
    """The SD's counting-free floor, tested before the trace's count step is found, only skips
    work: with an SD that offers no floor the same bursts and fits come out, on count traces with
    bursts on apexes, pairs and flanks (the candidates' screen by the SD's lower bound, which
    decides which points are left out of other fits, is part of the rule and kept in both)."""
    rng = np.random.default_rng(7)
    n_found = 0
    for _ in range(60):
        y, c = _trace(rng, rng.uniform(3, 8), 10 ** rng.uniform(3, 5.5), rng.uniform(0.03, 0.2))
        for i in rng.integers(int(c) - 6, int(c) + 7, 3):
            y[i:i + rng.integers(1, 3)] *= rng.uniform(1.3, 3.0)
        sd = apex_noise_sd(y)

        def full(level, sd=sd):  # the same SD without its floor
            return sd(level)

        full.quantum, full.lower = sd.quantum, sd.lower
        fast, slow = find_apex_spikes(y, sd, ratio=ratio), find_apex_spikes(y, full, ratio=ratio)
        assert [(i, w) for i, w, _ in fast] == [(i, w) for i, w, _ in slow]
        assert all(np.array_equal(a[2], b[2]) for a, b in zip(fast, slow, strict=True))
        n_found += len(fast)
    assert n_found > 30  # the comparison saw bursts, not only empty screens
