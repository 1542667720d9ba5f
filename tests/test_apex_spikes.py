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
