"""The noise model: its measurement recovers known noise, its defaults are the measured figures, and
the simulator's traces have the noise statistics of the real QTRAP and UV/DAD files."""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from thioquant.io import read_run
from thioquant.noise_model import (
    MrmNoise,
    UvNoise,
    apply_mrm_noise,
    apply_uv_noise,
    count_quantum,
    fit_variance,
    measure_trace,
    mrm_noise_events,
    summarise,
)
from thioquant.simulate import emg, simulate_injection

REPO = Path(__file__).resolve().parents[1]
MEASURED = json.loads((REPO / "benchmarks" / "noise_measured.json").read_text(encoding="utf-8"))
POOLED = MEASURED["mrm"]["QTRAP 5500 MRM, both files pooled"]
QTRAP_FILES = (
    "mzml_srm/smartPeakPy_QTRAP5500_BloodProject_QC/150601_0_BloodProject01_PLT_QC_Broth-1.mzML",
    "mzml_srm/smartPeakPy_yeast_unknowns/170808_Jonathan_yeast_Sacc1_1x.mzML",
)


def _simulated_mrm(n_traces: int = 160, seed: int = 7, noise: MrmNoise | None = None):
    """Traces like the real ones: 4 Hz, one EMG peak of 10^1-10^5 cps.min on 50 cps of background."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 4, 961)
    out = []
    for _ in range(n_traces):
        sig = 50.0 + emg(t, 10 ** rng.uniform(1, 5), 2.0, 0.018, 0.011)
        out.append(measure_trace(t, apply_mrm_noise(sig, rng, noise)))
    return out


@lru_cache(maxsize=1)
def _simulated_summary():
    return summarise(_simulated_mrm(), "simulated", high_signal=2e4)


def test_noise_events_are_the_simulators_draws_and_mark_every_spike_and_dropout():
    """The oracle benchmarks learn where the simulator put its bursts and dropouts from
    mrm_noise_events: it must give apply_mrm_noise's output for the same generator state, and its
    mask must cover exactly the points that a spike raised or a dropout zeroed."""
    from dataclasses import replace

    t = np.linspace(0.0, 4.0, 2000)
    clean = 2.0e5 * emg(t, 1.0, 2.0, 0.03, 0.01) / emg(t, 1.0, 2.0, 0.03, 0.01).max() + 200.0
    p = replace(MrmNoise(), spike_rate=0.02, dropout_trace_fraction=1.0, dropout_rate=0.02)
    seen_spike = seen_drop = False
    for seed in range(20):
        out = apply_mrm_noise(clean, np.random.default_rng(seed), p)
        got, events = mrm_noise_events(clean, np.random.default_rng(seed), p)
        np.testing.assert_array_equal(got, out)
        dropped = (got == 0) & (clean >= 10.0 * p.cps_per_count * 5)
        assert events[dropped].all()
        seen_drop |= bool(dropped.any())
        seen_spike |= bool((events & (got > 2 * clean)).any())
        assert events.sum() < 0.2 * clean.size
    assert seen_spike and seen_drop


def test_smoothing_weights_are_scipys_savitzky_golay():
    from scipy.signal import savgol_coeffs

    from thioquant.noise_model import _SG7

    np.testing.assert_allclose(_SG7, savgol_coeffs(7, 3), rtol=1e-12, atol=1e-15)


def test_count_quantum_finds_the_dwell_step():
    rng = np.random.default_rng(1)
    q = 1 / 0.019  # 19 ms dwell: 52.63 cps per count, written as whole cps like the QTRAP files
    counts = rng.poisson(np.r_[np.full(200, 3.0), np.full(100, 40.0)])
    assert count_quantum(np.round(counts * q)) == pytest.approx(q, rel=0.005)
    assert math.isnan(count_quantum(rng.normal(10, 1, 300)))  # a continuous signal has none


@pytest.mark.parametrize("a,b,c", [(0.0, 2.0, 0.06), (4.0, 1.0, 0.1), (0.5, 0.0, 0.02)])
def test_fit_variance_recovers_a_known_model(a, b, c):
    level = np.geomspace(3, 3e4, 14)
    sd = np.sqrt(a + b * level + (c * level) ** 2)
    fa, fb, fc = fit_variance(level, sd)
    assert fb == pytest.approx(b, abs=0.05 * max(b, 1))
    assert fc == pytest.approx(c, rel=0.05)


def test_measurement_recovers_the_noise_the_simulator_was_given():
    s = _simulated_summary()
    p = MrmNoise()
    assert s.quantum_median == pytest.approx(p.cps_per_count, rel=0.01)
    assert s.c == pytest.approx(p.point_cv, rel=0.15)
    assert s.b == pytest.approx(p.counting_factor, rel=0.25)


def test_simulator_defaults_are_the_documented_measured_values():
    # benchmarks/noise_measured.json is what benchmarks/noise_measure.py measured on the real files;
    # a re-measurement that moves a figure must move the default (and docs/noise.md) with it
    p = MrmNoise()
    assert p.cps_per_count == pytest.approx(POOLED["quantum_median"], rel=0.01)
    assert p.counting_factor == pytest.approx(POOLED["b"], rel=0.02)
    assert p.point_cv == pytest.approx(POOLED["c"], rel=0.02)
    uv = UvNoise()
    agilent = MEASURED["uv"]["Agilent ChemStation/OpenLab DAD"]
    assert uv.baseline_sd_mau == pytest.approx(agilent["baseline_sd"], rel=0.05)
    assert uv.point_cv == pytest.approx(agilent["c"], rel=0.05)
    assert uv.step_mau == pytest.approx(agilent["value_step_median"], rel=0.001)
    # and the simulator, measured the same way, gives back the measured figures
    s = _simulated_summary()
    assert s.c == pytest.approx(POOLED["c"], rel=0.15)
    assert s.b == pytest.approx(POOLED["b"], rel=0.25)
    assert POOLED["spike_rate_30"] / 2.5 <= s.spike_rate_30 <= POOLED["spike_rate_30"] * 2.5
    assert s.spike_size_median == pytest.approx(POOLED["spike_size_median"], rel=0.5)
    assert POOLED["dropout_trace_fraction"] / 2 <= s.dropout_trace_fraction <= POOLED["dropout_trace_fraction"] * 2
    assert s.dropout_rate_signal == pytest.approx(POOLED["dropout_rate_signal"], rel=0.5)
    assert s.dropout_run_median <= 3


def test_measured_noise_is_several_percent_where_legacy_was_almost_none(repo_root):
    from thioquant.assay.method import load_method
    from thioquant.simulate import SampleSpec

    m = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    sample = SampleSpec("CAL8", "calibrator", "CAL8", {"6-TG": 10000.0, "6-MMP": 100000.0})

    def apex_rel_sd(noise):
        rels = []
        for seed in range(6):
            traces, _ = simulate_injection(m, sample, np.random.default_rng(seed), noise=noise)
            for tr in traces:
                st = measure_trace(tr.time_min, tr.signal)
                top = st.level > 0.5 * st.level.max()
                rels.append(np.median(np.abs(st.resid[top] / st.level[top])) * 1.4826)
        return float(np.median(rels))

    assert apex_rel_sd("legacy") < 0.01
    assert 0.04 < apex_rel_sd("measured") < 0.09


def test_measured_traces_are_count_quantised_after_the_matrix_factor(repo_root):
    from thioquant.assay.method import load_method
    from thioquant.simulate import SampleSpec

    m = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    sample = SampleSpec("QCM", "qc", "QCM", {"6-TG": 4000.0, "6-MMP": 40000.0})
    traces, _ = simulate_injection(m, sample, np.random.default_rng(3), noise="measured",
                                   scale=lambda name, ch: 0.87)
    q = MrmNoise().cps_per_count
    for tr in traces:
        k = tr.signal / q
        assert np.all(np.abs(k - np.round(k)) * q <= 0.51)  # whole counts, written as whole cps


def test_uv_noise_has_the_measured_baseline_and_step():
    rng = np.random.default_rng(5)
    t = np.linspace(0, 14, 4201)
    sig = 0.3 + emg(t, 2.0, 7.0, 0.08, 0.05)
    p = UvNoise(wander_sd_mau=0.0)
    st = measure_trace(t, apply_uv_noise(sig, rng, p))
    base = st.level < 0.31
    assert 1.4826 * np.median(np.abs(st.resid[base])) == pytest.approx(p.baseline_sd_mau, rel=0.15)
    assert st.value_step == pytest.approx(p.step_mau, rel=1e-6)


def test_simulate_cli_writes_measured_noise(tmp_path):
    from thioquant.cli import cli

    res = CliRunner().invoke(cli, ["simulate", str(tmp_path / "b"), "--patients", "1", "--noise", "measured"])
    assert res.exit_code == 0, res.output
    marker = json.loads((tmp_path / "b" / ".thioquant-simulated.json").read_text(encoding="utf-8"))
    assert marker["noise"] == "measured"
    run = read_run(tmp_path / "b" / "raw" / "010_CAL8.mzML")
    assert math.isfinite(count_quantum(run.traces[0].signal))


@lru_cache(maxsize=1)
def _real_summary(data: Path):
    stats = []
    for rel in QTRAP_FILES:
        stats += [measure_trace(t.time_min, t.signal) for t in read_run(data / rel).traces if t.channel.kind == "srm"]
    return summarise(stats, "real", high_signal=2e4)


def test_simulated_batch_noise_matches_the_real_qtrap_files(shared_data, tmp_path, repo_root):
    """The real side, measured now from ../shared/data, against a simulated batch's own mzML files."""
    from thioquant.simulate import simulate_batch

    real = _real_summary(shared_data)
    assert real.c == pytest.approx(POOLED["c"], rel=0.01)  # the committed figures are today's measurement
    out = simulate_batch(tmp_path / "b", method=repo_root / "calibrations" / "thiopurines_lcmsms.toml",
                         n_patients=4, noise="measured")
    stats = [measure_trace(t.time_min, t.signal) for f in sorted((out / "raw").iterdir())
             for t in read_run(f).traces]
    sim = summarise(stats, "simulated", high_signal=2e4)
    assert sim.quantum_median == pytest.approx(real.quantum_median, rel=0.05)
    assert sim.c == pytest.approx(real.c, rel=0.35)
    assert sim.b == pytest.approx(real.b, rel=0.35)
    assert sim.rel_sd_high == pytest.approx(real.rel_sd_high, rel=0.5)


def test_validation_package_applies_matrix_factors_before_the_counts(tmp_path, repo_root):
    # scaled after the counts (the legacy order), cps would no longer be whole multiples of one count
    from thioquant.validation import Design, simulate_package

    pkg = simulate_package(tmp_path / "v", method=repo_root / "calibrations" / "thiopurines_lcmsms.toml",
                           design=Design.small(), noise="measured")
    files = sorted(pkg.glob("runs/*/raw/*.mzML"))
    q = MrmNoise().cps_per_count
    steps = [count_quantum(t.signal) for f in files[:12] for t in read_run(f).traces]
    assert sum(s == pytest.approx(q, rel=0.005) for s in steps) >= 0.9 * len(steps)


def test_simulated_uv_noise_matches_the_real_agilent_dad(shared_data, tmp_path, repo_root):
    from thioquant.simulate import simulate_batch

    real = [measure_trace(t.time_min, t.signal) for t in read_run(shared_data / "agilent_chemstation/mocca_knoevenagel_H_1mM.D").traces]
    real_sd = float(np.median([1.4826 * np.median(np.abs(s.resid[s.level <= np.median(s.level)])) for s in real]))
    out = simulate_batch(tmp_path / "uv", method=repo_root / "calibrations" / "thiopurines_hplcuv.toml",
                         n_patients=1, noise="measured")
    sim = [measure_trace(t.time_min, t.signal) for f in sorted((out / "raw").iterdir())[:6] for t in read_run(f).traces]
    sim_sd = float(np.median([1.4826 * np.median(np.abs(s.resid[s.level <= np.median(s.level)])) for s in sim]))
    assert sim_sd == pytest.approx(UvNoise().baseline_sd_mau, rel=0.3)
    assert sim_sd == pytest.approx(real_sd, rel=0.5)
