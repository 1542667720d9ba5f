"""EMG model and fit, fused-peak rules, overrides file, CLI, metrics formulas."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from thioquant.errors import InputError
from thioquant.model import Trace
from thioquant.peaks import find_peaks, integrate, read_overrides
from thioquant.peaks.emg import emg, emg_jacobian, fit_emg


def test_emg_area_jacobian_and_gaussian_limit():
    t = np.linspace(0, 40, 16001)
    for tau in (1e-6, 0.05, 0.3, 2.0):
        y = emg(t, 3.0, 4.0, 0.1, tau)
        assert np.all(np.isfinite(y))
        assert np.trapezoid(y, t) == pytest.approx(3.0, rel=1e-4)
    p = np.array([2.0, 4.0, 0.1, 0.12])
    jac = emg_jacobian(t, *p)
    for k in range(4):
        h = 1e-6 * p[k]
        up, dn = p.copy(), p.copy()
        up[k] += h
        dn[k] -= h
        num = (emg(t, *up) - emg(t, *dn)) / (2 * h)
        assert np.max(np.abs(num - jac[:, k])) < 1e-5 * np.max(np.abs(jac[:, k]))
    g = emg(t, 1.0, 4.0, 0.1, 1e-9)
    gauss = np.exp(-0.5 * ((t - 4.0) / 0.1) ** 2) / (0.1 * np.sqrt(2 * np.pi))
    assert np.max(np.abs(g - gauss)) < 1e-6


def test_fit_never_crashes_on_bounds():
    t = np.linspace(0, 1, 200)
    y = emg(t, 1.0, 0.5, 0.03, 0.02)
    bad = np.array([[-5.0, 7.0, 0.0, np.nan]])  # outside every bound
    fit = fit_emg(t, y, bad)
    assert fit.params.shape == (1, 4)
    fit = fit_emg(t[:3], y[:3], np.array([[1.0, 0.5, 0.03, 0.02]]))
    assert not fit.success  # too few points: reported, not raised
    fit = fit_emg(t, y, np.array([[1.0, 0.5, 0.03, 0.02]]))
    assert fit.success and fit.r2 > 0.9999
    assert fit.params[0, 0] == pytest.approx(1.0, rel=1e-3)


def _pair(rs=1.0, ratio=1.0, tau_ratio=0.5, sn=300, seed=0):
    t = np.arange(0, 10, 1 / 300)
    sigma, tau = 0.04, tau_ratio * 0.04
    tt = np.linspace(-1, 2, 30001)
    g = emg(tt, 1.0, 0.0, sigma, tau)
    above = tt[g >= 0.5 * g.max()]
    w = above[-1] - above[0]
    d = rs * 2 * w / 1.18
    y = emg(t, 1.0, 5.0, sigma, tau) + emg(t, ratio, 5.0 + d, sigma, tau)
    y = y + np.random.default_rng(seed).normal(0, y.max() / (3 * sn), t.size)
    return Trace("pair", t, y)


@pytest.mark.parametrize("rs,ratio", [(0.8, 0.25), (0.8, 4.0), (1.0, 1.0), (1.0, 0.25)])
def test_deconvolution_of_fused_pairs(rs, ratio):
    pks = find_peaks(_pair(rs, ratio), fused="deconvolve")
    assert len(pks) == 2  # both found, even as a shoulder at Rs 0.8
    assert pks[0].area == pytest.approx(1.0, rel=0.03)
    assert pks[1].area == pytest.approx(ratio, rel=0.03)
    assert all("DECONVOLVED" in p.flags and p.fit_r2 > 0.999 for p in pks)


def test_fused_rules_differ_as_expected():
    tr = _pair(1.0, 1.0, tau_ratio=1.0)
    drop = find_peaks(tr, fused="drop")
    valley = find_peaks(tr, fused="valley")
    assert [p.integration for p in drop] == ["drop", "drop"]
    assert all("FUSED" in p.flags for p in drop)
    # valley-to-valley loses the area under the valley
    assert sum(p.area for p in valley) < sum(p.area for p in drop)
    assert pytest.approx(2.0, rel=0.02) == sum(p.area for p in drop)
    assert drop[1].resolution_usp == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("ratio", [0.25, 4.0])
def test_valley_rule_drops_a_perpendicular_at_a_shoulder(ratio):
    # Rs 0.7: the smaller peak is a shoulder, with no minimum between the two. A valley line
    # to a point on the flank cut the main peak to 44 % of its area and lost the shoulder.
    for seed in range(3):
        pks = find_peaks(_pair(0.7, ratio, tau_ratio=0.5, seed=seed), fused="valley")
        assert [p.integration for p in pks] == ["drop", "drop"]
        small = pks[1] if ratio < 1 else pks[0]
        assert "SHOULDER" in small.flags
        assert sum(p.area for p in pks) == pytest.approx(1.0 + ratio, rel=0.02)
        assert pks[0].area == pytest.approx(1.0, rel=0.05)
        assert pks[1].area == pytest.approx(ratio, rel=0.2)


@pytest.mark.parametrize(("rs", "ratio"), [(0.8, 0.25), (0.8, 4.0), (0.9, 0.25), (1.0, 1.0)])
def test_valley_baseline_never_rises_above_the_signal(rs, ratio):
    # a straight valley-to-valley line over a convex tail lies above the signal and gave
    # negative areas (-0.07 and -0.14 here); the baseline now follows the signal's lower hull
    pks = find_peaks(_pair(rs, ratio, tau_ratio=0.5), fused="valley")
    assert len(pks) == 2
    assert all(p.area > 0 for p in pks)
    assert "valley" in {p.integration for p in pks}


@pytest.mark.parametrize("pps", [10, 20])
def test_a_clean_peak_on_a_curved_baseline_is_one_peak(pps):
    # the crest of a broad baseline arch counted in the width survey with the width of a noise
    # wiggle on it (about 5 points), so smoothing was too light and a clean EMG peak at 10-20
    # points/s was split into a false SHOULDER and the rest (-30 % / -65 % of its area)
    t = np.arange(0, 15, 1 / (60 * pps))
    for sigma in (0.03, 0.054, 0.069):
        y = emg(t, 0.62, 3.14, sigma, 0.1 * sigma)
        h = y.max()
        y = y + 0.3 * h * np.sin(t / 15 * np.pi) + np.random.default_rng(0).normal(0, h / 600, t.size)
        pks = [p for p in find_peaks(Trace("arch", t, y)) if abs(p.rt_min - 3.14) < 0.5]
        assert len(pks) == 1 and not {"SHOULDER", "FUSED"} & set(pks[0].flags)
        assert pks[0].area == pytest.approx(0.62, rel=0.005)


def test_tangent_skim_keeps_a_shoulder_rider_on_a_convex_tail():
    # a 10 % shoulder on a tailing parent (Rs 1): the straight skim line from the split point
    # to the segment's end ran above the convex tail and left the rider no area, so it vanished
    for seed in range(3):
        pks = find_peaks(_pair(1.0, 0.1, tau_ratio=1.5, sn=300, seed=seed), fused="skim")
        assert [p.integration for p in pks] == ["drop", "skim"]
        assert "SHOULDER" in pks[1].flags and pks[1].area > 0
        assert sum(p.area for p in pks) == pytest.approx(1.1, rel=0.02)


def test_rider_on_tail_is_skimmed():
    t = np.arange(0, 10, 1 / 300)
    y = emg(t, 1.0, 5.0, 0.04, 0.06) + emg(t, 0.05, 5.35, 0.03, 0.01)
    y = y + np.random.default_rng(1).normal(0, 0.002, t.size)
    tr = Trace("rider", t, y)
    auto = find_peaks(tr)
    assert [p.integration for p in auto] == ["drop", "exp_skim"]
    assert auto[0].area == pytest.approx(1.0, rel=0.01)
    assert auto[1].area == pytest.approx(0.05, rel=0.15)
    tang = find_peaks(tr, fused="skim")
    assert tang[1].integration == "skim"
    emgs = find_peaks(tr, fused="deconvolve")
    assert emgs[1].area == pytest.approx(0.05, rel=0.05)
    # valley to valley: the baseline under the rider follows the tail (0.019 when a straight
    # line from the valley cut through the tail's curve)
    valley = find_peaks(tr, fused="valley")
    assert valley[1].integration == "valley"
    assert valley[1].area == pytest.approx(0.05, rel=0.25)


def test_metrics_follow_usp_formulas():
    t = np.arange(0, 10, 1 / 600)
    sigma = 0.05
    tr = Trace("g", t, emg(t, 1.0, 5.0, sigma, 1e-6))
    pk = find_peaks(tr)[0]
    w50 = 2 * np.sqrt(2 * np.log(2)) * sigma
    assert pk.width_50_min == pytest.approx(w50, rel=2e-3)
    assert pk.width_05_min == pytest.approx(2 * np.sqrt(2 * np.log(20)) * sigma, rel=2e-3)
    assert pk.plates_usp == pytest.approx(5.54 * (5.0 / w50) ** 2, rel=5e-3)
    assert pk.symmetry_usp == pytest.approx(1.0, abs=0.01)
    assert pk.asymmetry_10 == pytest.approx(1.0, abs=0.01)
    tail = find_peaks(Trace("t", t, emg(t, 1.0, 5.0, sigma, 1.5 * sigma)))[0]
    assert tail.symmetry_usp > 1.3 and tail.asymmetry_10 > tail.symmetry_usp


def test_overrides_file(tmp_path):
    p = tmp_path / "ov.csv"
    p.write_text("sample_id,analyte,start_min,end_min,reason\n"
                 "S1,6-TG,4.6,5.6,split peak\n# comment\n\nS2,6-MMP,1.0,1.5,baseline noise\n")
    ov = read_overrides(p)
    assert set(ov) == {("S1", "6-TG"), ("S2", "6-MMP")}
    o = ov[("S1", "6-TG")]
    assert (o.start_min, o.end_min, o.reason) == (4.6, 5.6, "split peak")
    t = np.linspace(0, 10, 3001)
    pk = integrate(Trace("x", t, emg(t, 1.0, 5.0, 0.04, 0.04)), o.start_min, o.end_min)
    assert "MANUAL" in pk.flags and pk.area == pytest.approx(1.0, rel=3e-3)
    # a window beyond the trace names the trace's extent (it named the slice it had analysed)
    with pytest.raises(InputError, match=r"11-12 min lies outside the trace \(0-10 min\)"):
        integrate(Trace("x", t, emg(t, 1.0, 5.0, 0.04, 0.04)), 11.0, 12.0)
    bad = {
        "sample_id,analyte,start_min,end_min\nS1,A,1,2\n": "lacks column",
        "sample_id,analyte,start_min,end_min,reason\nS1,A,x,2,r\n": "row 2",
        "sample_id,analyte,start_min,end_min,reason\nS1,A,3,2,r\n": "after",
        "sample_id,analyte,start_min,end_min,reason\nS1,A,1,2,\n": "reason",
        "sample_id,analyte,start_min,end_min,reason\nS1,A,1,2,r\nS1,A,1,3,r\n": "duplicate",
        "sample_id,analyte,start_min,end_min,reason\nS1,A,nan,2,r\n": "finite",
    }
    for text, msg in bad.items():
        p.write_text(text)
        with pytest.raises(InputError, match=msg) as ei:
            read_overrides(p)
        assert str(p) in str(ei.value)
    with pytest.raises(InputError):
        read_overrides(tmp_path / "missing.csv")


def test_cli_peaks_json(tmp_path):
    from thioquant.cli import cli

    t = np.arange(0, 10, 1 / 300)
    y = emg(t, 1.0, 3.0, 0.04, 0.03) + emg(t, 2.0, 6.0, 0.04, 0.03)
    f = tmp_path / "trace.csv"
    np.savetxt(f, np.column_stack([t, y]), delimiter=",", header="time,signal", comments="")
    res = CliRunner().invoke(cli, ["peaks", str(f), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert len(rows) == 2
    for key in ("trace", "rt", "start", "end", "area", "height", "sn"):
        assert key in rows[0]
    assert rows[1]["area"] == pytest.approx(2.0, rel=0.01)
    res = CliRunner().invoke(cli, ["peaks", str(f)])
    assert res.exit_code == 0 and "2 peak(s)" in res.output


def test_cli_peaks_blank(tmp_path):
    """--blank: each peak's noise comes from the blank's trace of the same name."""
    from thioquant.cli import cli

    t = np.arange(0, 10, 1 / 300)
    rng = np.random.default_rng(5)
    y = emg(t, 1.0, 3.0, 0.04, 0.03) + emg(t, 2.0, 6.0, 0.04, 0.03) + rng.normal(0, 1e-4, t.size)
    f, b = tmp_path / "trace.csv", tmp_path / "blank.csv"
    np.savetxt(f, np.column_stack([t, y]), delimiter=",", header="time,signal", comments="")
    np.savetxt(b, np.column_stack([t, rng.normal(0, 1e-2, t.size)]), delimiter=",", header="time,signal",
               comments="")
    own = json.loads(CliRunner().invoke(cli, ["peaks", str(f), "--json"]).output)
    res = CliRunner().invoke(cli, ["peaks", str(f), "--json", "--blank", str(b)])
    assert res.exit_code == 0, res.output
    vs_blank = json.loads(res.output)
    assert [r["area"] for r in vs_blank] == [r["area"] for r in own]
    for a, r in zip(own, vs_blank, strict=True):  # a blank 100x noisier: S/N about 100x lower
        assert 30 < a["sn"] / r["sn"] < 300 and r["noise"] > 30 * a["noise"]


def test_cli_peaks_skips_the_tic_of_an_mrm_file(tmp_path):
    from thioquant.cli import cli
    from thioquant.io import write_mzml
    from thioquant.model import Channel

    t = np.arange(0, 5, 1 / 120)
    srm = [Trace(f"T{i}", t, emg(t, 1e4, 1.0 + i, 0.03, 0.02), channel=Channel(kind="srm", precursor_mz=150.0 + i,
                                                                              product_mz=100.0))
           for i in range(3)]
    tic = Trace("TIC", t, sum(s.signal for s in srm), channel=Channel(kind="tic"))
    f = write_mzml(tmp_path / "mrm.mzML", [tic, *srm])
    res = CliRunner().invoke(cli, ["peaks", str(f), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert sorted({r["trace"] for r in rows}) == ["T0", "T1", "T2"] and len(rows) == 3
    assert "TIC not analysed" in res.stderr
    only = CliRunner().invoke(cli, ["peaks", str(f), "--json", "--trace", "TIC"])
    assert {r["trace"] for r in json.loads(only.stdout)} == {"TIC"}


def test_deconvolution_of_a_crowded_cluster_is_not_attempted():
    # 12 peaks in one fused cluster: not fitted (FIT_POOR, drop-line areas kept), and quick
    import time

    from thioquant.peaks.emg import MAX_FIT_PEAKS

    t = np.linspace(0.0, 6.0, 3600)
    y = sum(emg(t, 1.0, 2.0 + 0.12 * k, 0.03, 0.02) for k in range(12))
    start = time.perf_counter()
    # no baseline: the 1.4 min cluster is wider than the rough baseline's default window
    dec = find_peaks(Trace("crowd", t, y), fused="deconvolve", baseline="none")
    drop = find_peaks(Trace("crowd", t, y), fused="drop", baseline="none")
    assert time.perf_counter() - start < 5.0
    assert len(dec) == len(drop) > MAX_FIT_PEAKS
    assert all("FIT_POOR" in p.flags and "DECONVOLVED" not in p.flags for p in dec)
    assert [p.area for p in dec] == [p.area for p in drop]
