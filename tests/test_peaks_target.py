"""find_target / find_peaks / integrate on simulated EMG peaks with known areas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thioquant.errors import InputError, MethodError
from thioquant.model import Trace
from thioquant.peaks import find_peaks, find_target, integrate, make_settings, measure_noise
from thioquant.peaks.emg import emg


def _trace(rate_hz=5.0, *, peaks=((1.0, 5.0, 0.04, 0.04),), sn=None, drift=0.0, seed=0,
           t_end=10.0, extra=None):
    t = np.arange(0.0, t_end, 1.0 / rate_hz / 60.0)
    y = np.zeros_like(t)
    for a, mu, s, tau in peaks:
        y += emg(t, a, mu, s, tau)
    if extra is not None:
        y += extra(t)
    y += drift * t
    if sn is not None:
        h_max = max(emg(t, a, mu, s, tau).max() for a, mu, s, tau in peaks[:1])
        sd = 2.0 * h_max / sn / 6.0  # USP: S/N = 2H/h, h ~ 6 SD peak to peak
        y += np.random.default_rng(seed).normal(0.0, sd, t.size)
    return Trace("uv", t, y)


@pytest.mark.parametrize("ratio", [0.0, 0.75, 1.5])
def test_noise_free_area_rt_and_height(ratio):
    tau = max(ratio * 0.04, 1e-4)
    tr = _trace(peaks=((2.0, 5.0, 0.04, tau),), t_end=10.0)
    pk = find_target(tr, 5.0, 0.3)
    assert pk is not None
    assert pk.area == pytest.approx(2.0, rel=2e-3)
    t = tr.time_min
    true = emg(t, 2.0, 5.0, 0.04, tau)
    assert pk.rt_min == pytest.approx(t[np.argmax(true)], abs=0.004)
    assert pk.height == pytest.approx(true.max(), rel=5e-3)
    assert pk.start_min < 5.0 - 3 * 0.04 and pk.end_min > 5.0 + 3 * 0.04 + 3 * tau
    assert pk.flags == ()


@pytest.mark.parametrize("rate", [2.5, 5.0, 20.0])
def test_area_independent_of_sampling_rate(rate):
    tr = _trace(rate, peaks=((1.0, 5.0, 0.04, 0.05),))
    pk = find_target(tr, 5.0, 0.3)
    assert pk.area == pytest.approx(1.0, rel=3e-3)  # signal x minutes, whatever the rate


def test_sn100_with_drift_and_neighbours_within_one_percent():
    errs = []
    for seed in range(12):
        tr = _trace(5.0, peaks=((1.0, 5.0, 0.04, 0.05), (3.0, 4.2, 0.05, 0.05),
                                (2.0, 6.0, 0.05, 0.04)), sn=100, drift=0.05, seed=seed,
                    extra=lambda t: 0.3 * np.exp(-(((t - 3.0) / 2.0) ** 2)))
        pk = find_target(tr, 5.0, 0.3)
        errs.append(abs(pk.area - 1.0) * 100)
        assert abs(pk.rt_min - 5.03) < 0.02
        assert 50 < pk.sn < 200
    assert np.median(errs) < 0.5
    assert max(errs) < 1.5


def test_select_nearest_and_largest():
    tr = _trace(peaks=((1.0, 5.0, 0.03, 0.02), (3.0, 5.4, 0.03, 0.02)), sn=300)
    assert find_target(tr, 5.05, 0.5).rt_min == pytest.approx(5.01, abs=0.02)
    assert find_target(tr, 5.05, 0.5, select="largest").rt_min == pytest.approx(5.41, abs=0.02)


@pytest.mark.parametrize("neighbour", [(10.0, 5.45, 0.10, 0.08), (10.0, 4.6, 0.10, 0.05)],
                         ids=["right", "left"])
def test_area_does_not_depend_on_the_window_size(neighbour):
    """A taller, broader neighbour outside the 0.3 min window, inside it from 1.5x: the width
    that sets smoothing, baseline and boundaries is the target's, whatever else the window
    takes in, so the area is the same for windows from 0.5x to 2x (it varied by 7-9 %, and the
    peak was lost at 0.75x, when the width came from the tallest feature in the window)."""
    for seed in range(3):
        tr = _trace(peaks=((1.0, 5.0, 0.03, 0.03), neighbour), sn=200, drift=0.02, seed=seed)
        pks = [find_target(tr, 5.0, 0.3 * f) for f in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)]
        assert all(p is not None and abs(p.rt_min - 5.03) < 0.02 for p in pks)
        areas = np.array([p.area for p in pks])
        assert areas.max() / areas.min() - 1 < 0.005, areas
        assert abs(areas.mean() - 1.0) < 0.1  # the neighbour's tail under the drop line


def test_width_taken_again_from_the_selected_peak():
    """A small peak at the expected RT (S/N 8-9, below sn_min=10), the target 0.2 min later: when
    the width was first measured on the small peak, it is measured again on the peak selected
    and the region analysed again (without that, seed 1 split the target: 30 % of its area)."""
    for seed in range(3):
        tr = _trace(peaks=((1.0, 5.2, 0.03, 0.03), (0.0075, 5.0, 0.012, 0.005)), sn=300,
                    seed=seed)
        pk = find_target(tr, 5.0, 0.3, sn_min=10)
        assert pk.rt_min == pytest.approx(5.22, abs=0.01)
        assert pk.area == pytest.approx(1.0, rel=0.01)
        assert pk.width_50_min == pytest.approx(0.0867, rel=0.01)


def test_nothing_above_sn_returns_none():
    tr = _trace(peaks=((1.0, 5.0, 0.04, 0.04),), sn=100)
    assert find_target(tr, 7.0, 0.3) is None
    assert find_target(tr, 5.0, 0.3, sn_min=1e6) is None


def test_blank_noise_gives_the_sn():
    tr = _trace(peaks=((1.0, 5.0, 0.04, 0.04),), sn=50)
    blank = _trace(peaks=((0.0, 5.0, 0.04, 0.04),), sn=None)
    rng = np.random.default_rng(3)
    blank = Trace("b", blank.time_min, rng.normal(0, 0.02, blank.time_min.size))
    h = measure_noise(blank, 5.0, 0.1)
    pk = find_target(tr, 5.0, 0.3, noise=h)
    assert pk.noise == h
    assert pk.sn == pytest.approx(2 * pk.height / h)
    rms = find_target(tr, 5.0, 0.3, noise_method="rms")
    assert rms.sn == pytest.approx(rms.height / rms.noise)


def test_blank_trace_gives_each_peak_the_usp_noise_of_the_blank():
    """``blank=``: the noise of a blank injection over noise_window half-height widths around
    each peak's own retention time (USP <621>), in find_target and find_peaks."""
    from thioquant.peaks.core import window_noise

    tr = _trace(peaks=((1.0, 5.0, 0.04, 0.04), (0.5, 7.0, 0.06, 0.03)), sn=50)
    rng = np.random.default_rng(3)
    t = tr.time_min
    noisy = rng.normal(0, 0.002, t.size) + np.where(t > 6.5, rng.normal(0, 0.02, t.size), 0.0)
    blank = Trace("b", t, noisy)  # quiet around 5 min, ten times noisier after 6.5 min

    def h(p, window=20.0):
        return window_noise(t, noisy, p.rt_min, window * p.width_50_min, min_points=3)

    pk = find_target(tr, 5.0, 0.3, blank=blank)
    assert pk.noise == pytest.approx(h(pk), rel=1e-12) and pk.sn == pytest.approx(2 * pk.height / pk.noise)
    assert find_target(tr, 5.0, 0.3).area == pk.area
    five = find_target(tr, 5.0, 0.3, blank=blank, noise_window=5.0)
    assert five.noise == pytest.approx(h(five, 5.0), rel=1e-12)
    found = find_peaks(tr, blank=blank)
    assert len(found) == 2 and found[1].noise > 3 * found[0].noise  # each at its own place
    for p in found:
        assert p.noise == pytest.approx(h(p), rel=1e-12)
    short = Trace("b", t[t < 2.0], noisy[t < 2.0])  # the blank does not reach the peak: own noise
    assert find_target(tr, 5.0, 0.3, blank=short).noise == find_target(tr, 5.0, 0.3).noise
    with pytest.raises(MethodError, match="not both"):
        find_target(tr, 5.0, 0.3, noise=0.1, blank=blank)
    with pytest.raises(InputError):
        find_peaks(tr, blank="blank.mzML")


def test_relative_retention():
    tr = _trace(peaks=((1.0, 5.0, 0.04, 0.04), (1.0, 4.0, 0.04, 0.04)), sn=200)
    pk = find_target(tr, None, 0.2, rrt=1.25, reference_rt=4.0)
    assert pk.rt_min == pytest.approx(5.02, abs=0.02)


def test_sparse_mrm_poisson():
    rng = np.random.default_rng(7)
    errs = []
    for _ in range(10):
        t = np.arange(0, 4.0, 1.0 / 3.0 / 60.0)  # 3 points per second
        lam = emg(t, 2000.0, 2.0, 0.025, 0.02) * 60 + 2.0  # counts/point, baseline 2
        y = rng.poisson(lam).astype(float)
        pk = find_target(Trace("srm", t, y), 2.0, 0.2)
        true = 2000.0 * 60 + 0.0
        errs.append(abs(pk.area - true) / true * 100)
        assert "FUSED" not in pk.flags
        assert pk.points >= 10
    assert np.median(errs) < 2.0


def test_manual_integration_interpolates_bounds():
    tr = _trace(peaks=((1.0, 5.0, 0.04, 0.04),), drift=0.1)
    pk = integrate(tr, 4.6, 5.6)
    assert pk.area == pytest.approx(1.0, rel=2e-3)
    assert "MANUAL" in pk.flags and pk.integration == "manual"
    # boundaries between samples: still the same area to the trapezoid's accuracy
    pk2 = integrate(tr, 4.6013, 5.5987)
    assert pk2.area == pytest.approx(1.0, rel=3e-3)
    assert pk2.start_min == 4.6013
    with pytest.raises(InputError):
        integrate(tr, 5.0, 4.0)
    with pytest.raises(InputError):
        integrate(tr, 20.0, 30.0)


def test_find_peaks_untargeted_area_pct():
    tr = _trace(peaks=((1.0, 3.0, 0.04, 0.03), (2.0, 5.0, 0.04, 0.03), (1.0, 7.0, 0.05, 0.03)),
                sn=500)
    pks = find_peaks(tr)
    assert [round(p.rt_min) for p in pks] == [3, 5, 7]
    assert [p.area for p in pks] == pytest.approx([1.0, 2.0, 1.0], rel=0.01)
    assert sum(p.area_pct for p in pks) == pytest.approx(100.0)
    assert pks[1].resolution_usp > 10
    pks2, bl = find_peaks(tr, return_baseline=True)
    assert bl.shape == tr.time_min.shape and np.isnan(bl).any() and np.isfinite(bl).any()


@pytest.mark.parametrize("method", ["arpls", "asls", "snip"])
def test_global_baselines(method):
    tr = _trace(peaks=((1.0, 5.0, 0.04, 0.03),), sn=300,
                extra=lambda t: 0.5 + 0.2 * np.sin(t / 3.0))
    pk = find_target(tr, 5.0, 0.3, baseline=method)
    assert pk.area == pytest.approx(1.0, rel=0.03)
    pks, bl = find_peaks(tr, baseline=method, return_baseline=True)
    assert np.all(np.isfinite(bl))


def test_bad_settings_raise_method_error():
    tr = _trace()
    with pytest.raises(MethodError, match="unknown peak setting"):
        find_target(tr, 5.0, 0.3, bogus=1)
    with pytest.raises(MethodError, match="noise_window"):
        find_target(tr, 5.0, 0.3, noise_window=0)
    with pytest.raises(MethodError, match="select"):
        find_target(tr, 5.0, 0.3, select="first")
    with pytest.raises(MethodError, match="window_min"):
        find_target(tr, 5.0, -1)
    with pytest.raises(MethodError, match="fused"):
        make_settings(fused="magic")
    with pytest.raises(MethodError, match="smooth"):
        make_settings(smooth=4)


def test_bad_traces():
    t = np.linspace(0, 10, 3001)
    with pytest.raises(InputError, match="NaN"):
        find_target(Trace("n", t, np.full_like(t, np.nan)), 5.0, 0.3)
    with pytest.raises(InputError, match="point"):
        find_target(Trace("one", [1.0], [2.0]), 1.0, 0.3)
    with pytest.raises(InputError, match="empty"):
        find_target(Trace("e", [], []), 1.0, 0.3)
    assert find_target(Trace("flat", t, np.zeros_like(t)), 5.0, 0.3) is None
    assert find_target(Trace("const", t, np.full_like(t, 7.5)), 5.0, 0.3) is None
    assert find_peaks(Trace("flat", t, np.zeros_like(t))) == []
    y = emg(t, 1.0, 5.0, 0.04, 0.04)
    y[1000:1100] = np.nan
    pk = find_target(Trace("gap", t, y), 5.0, 0.3)
    assert pk.area == pytest.approx(1.0, rel=0.01)


def test_edge_and_saturation_flags():
    t = np.linspace(0, 10, 3001)
    y = emg(t, 1.0, 0.02, 0.04, 0.04)
    pk = find_target(Trace("edge", t, y), 0.05, 0.2)
    assert pk is not None and "EDGE" in pk.flags
    y = np.minimum(emg(t, 1.0, 5.0, 0.04, 0.02), 5.0)
    pk = find_target(Trace("sat", t, y), 5.0, 0.3)
    assert "SATURATED" in pk.flags
    t = np.arange(0, 10, 0.05)  # 3 s sampling: a 4 s wide peak has very few points
    pk = find_target(Trace("few", t, emg(t, 1.0, 5.0, 0.02, 0.01)), 5.0, 0.3, min_points=20)
    assert "FEW_POINTS" in pk.flags


def _uv_trace(seed: int, *, height_mau: float = 0.13, clip_mau: float | None = None) -> Trace:
    """A DAD trace as the simulator writes it (Agilent noise, digitised to 4.77x10^-4 mAU): a
    broad peak at 10.2 min (sigma 0.05 min, 15 points), optionally clipped at ``clip_mau``."""
    from thioquant.model import Channel
    from thioquant.noise_model import UvNoise, apply_uv_noise

    t = np.arange(0.0, 14.0, 0.2 / 60)
    s = 0.3 + height_mau * np.exp(-0.5 * ((t - 10.2) / 0.05) ** 2)
    y = apply_uv_noise(s, np.random.default_rng(seed), UvNoise())
    if clip_mau is not None:  # the ADC's maximum
        y = np.minimum(y, np.round(clip_mau / UvNoise().step_mau) * UvNoise().step_mau)
    return Trace("uv", t, y, channel=Channel(kind="uv", wavelength_nm=303.0), signal_unit="mAU")


@pytest.mark.parametrize("seed", [45, 317])
def test_small_digitised_uv_peak_is_not_saturated(seed: int) -> None:
    # the regenerated HPLC-UV validation package failed on this: R3's LLOQ calibrator (6-MMP,
    # 0.13 mAU) excluded as "saturated peak" for three equal points at its apex. At 2.9 steps of
    # point noise two neighbours on a flat apex round alike about one time in ten; three equal
    # points on the top of these two peaks (the old rule fired on both) are digitisation
    tr = _uv_trace(seed)
    pk = find_target(tr, 10.2, 0.45)
    i = int(np.argmin(np.abs(tr.time_min - pk.rt_min)))
    y = tr.signal
    run = [j for j in range(i - 3, i + 4) if y[j] == y[i]]
    assert len(run) >= 3, run  # a flat top, as the old rule saw it
    assert "SATURATED" not in pk.flags
    # the same trace with the peak 100x higher and clipped by the ADC at 60 % of its top: saturated
    sat = find_target(_uv_trace(seed, height_mau=13.0, clip_mau=0.3 + 0.6 * 13.0), 10.2, 0.45)
    assert "SATURATED" in sat.flags
    # clipped just under its top (a run of 3 points), at the same digitisation: still saturated
    # (the flanks beside a clipped top fall by hundreds of steps a point, so no digitisation
    # makes three of its points equal)
    short = find_target(_uv_trace(seed, height_mau=13.0, clip_mau=0.3 + 0.995 * 13.0), 10.2, 0.45)
    assert "SATURATED" in short.flags


def test_small_peaks_of_a_real_shimadzu_uv_trace_are_not_saturated(shared_data) -> None:
    # the old rule called 37 peaks of the Shimadzu SPD-20A standards (1 uV steps) saturated,
    # heights 0.012-0.21 mAU on traces reaching 0.2-187 mAU (benchmarks/saturation_real.py)
    from thioquant.io import read_run

    f = shared_data / "shimadzu_labsolutions/Analysis_Lab_standards/STD_100.txt"
    if not f.exists():
        pytest.skip(f"{f} absent")
    tr = next(t for t in read_run(f).traces if t.name == "Detector A-Ch1")
    pk = find_target(tr, 7.481, 0.1)
    assert pk is not None and pk.height < 0.25
    assert "SATURATED" not in pk.flags
    assert not [p for p in find_peaks(tr) if "SATURATED" in p.flags]


def test_negative_peaks_when_asked():
    t = np.linspace(0, 10, 3001)
    y = emg(t, 1.0, 3.0, 0.04, 0.03) - emg(t, 0.5, 6.0, 0.04, 0.03)
    pks = find_peaks(Trace("neg", t, y), negative=True)
    neg = [p for p in pks if "NEGATIVE" in p.flags]
    assert len(neg) == 1 and neg[0].area == pytest.approx(-0.5, rel=0.01)
    assert all(math.isfinite(p.area) for p in pks)
    assert [p.flags for p in find_peaks(Trace("neg", t, y), negative=True, baseline="none")
            if "NEGATIVE" in p.flags]
    # a lower-envelope baseline takes the negative peak into the baseline: refused, with why
    for baseline in ("arpls", "asls", "snip"):
        with pytest.raises(MethodError, match="lower envelope"):
            find_peaks(Trace("neg", t, y), negative=True, baseline=baseline)


def test_huge_trace_ten_million_points():
    t = np.linspace(0.0, 100.0, 10_000_000)
    y = emg(t, 100.0, 50.0, 0.1, 0.1) + np.random.default_rng(0).normal(0.0, 0.05, t.size)
    tr = Trace("huge", t, y)
    pk = find_target(tr, 50.0, 1.0)
    assert pk.area == pytest.approx(100.0, rel=0.01)
    pks = find_peaks(tr)
    assert len(pks) == 1 and pks[0].area == pytest.approx(100.0, rel=0.01)


def test_peaks_cut_by_both_edges_are_flagged():
    t = np.linspace(0, 10, 3001)
    g = lambda mu: np.exp(-((t - mu) ** 2) / 0.01)  # noqa: E731
    pks = find_peaks(Trace("edges", t, g(0.0) + g(5.0) + g(10.0)))
    assert [p.flags for p in pks] == [("EDGE",), (), ("EDGE",)]
    assert pks[0].area == pytest.approx(pks[1].area / 2, rel=0.01)  # half a peak, level baseline
    neg = find_peaks(Trace("neg", t, -g(5.0)), negative=True)
    assert len(neg) == 1 and "NEGATIVE" in neg[0].flags and neg[0].area < 0


def _mrm_noise(rng: np.random.Generator, lam: np.ndarray, rel: float) -> np.ndarray:
    """Counting noise plus the few-percent multiplicative noise of real MRM peak tops."""
    return rng.poisson(lam).astype(float) * (1.0 + rel * rng.normal(size=lam.size))


def test_noise_on_sparse_mrm_peak_tops_makes_no_shoulders():
    # Before the local-noise rule, 4 of these 300 single peaks (6 % multiplicative noise, 2
    # points/s, 3-6 points per half-height width) were split into a "shoulder" and the rest.
    rng = np.random.default_rng(42)
    t = np.arange(0.0, 6.0, 0.5 / 60)
    split = 0
    for _ in range(300):
        sigma = rng.uniform(0.012, 0.02)
        lam = emg(t, rng.uniform(2e4, 2e5) / 60, 3.0, sigma, rng.uniform(0, 1.5) * sigma) + 200
        pk = find_target(Trace("mrm", t, _mrm_noise(rng, lam, 0.06)), 3.0, 0.2)
        split += pk is None or "SHOULDER" in pk.flags or "FUSED" in pk.flags
    assert split == 0


def test_noise_on_a_12_pct_mrm_top_is_not_a_shoulder():
    # issue 18, bench_noise 12 %: a 1.3-SD dip on the rise of the 6-TG quantifier was judged a
    # shoulder against the residual about a 5-point smooth only, and the peak was cut to 24 %
    # of its area (CAL2, seeds 3 and 5: runs rejected). The noise model's SD at the shoulder's
    # level is now a floor. Single EMG peaks like the bundled 6-TG (0.25 s points, 12 %
    # lognormal point noise, then counts), 900 draws: split 13 -> 4, off by > 30 % 2 -> 0.
    t = np.arange(1.0, 2.0, 0.25 / 60)
    sl = math.sqrt(math.log1p(0.12**2))
    split = off = 0
    for sig, tau in ((0.017, 0.005), (0.015, 0.008), (0.018, 0.0)):
        lam = emg(t, 2550.0, 1.455, sig, tau) + 50.0
        for seed in range(300):
            rng = np.random.default_rng(seed)
            y = rng.poisson(lam * np.exp(rng.normal(-0.5 * sl * sl, sl, t.size))).astype(float)
            pk = find_target(Trace("q", t, y), 1.45, 0.2)
            split += "SHOULDER" in pk.flags or "FUSED" in pk.flags
            off += abs(pk.area / 2550.0 - 1.0) > 0.3
    assert off == 0
    assert split <= 6


def test_true_shoulders_on_noisy_mrm_peaks_are_still_split():
    # fused pairs at Rs 0.8 (unresolved: mostly shoulders), 3 % multiplicative noise: both
    # peaks found in 96 of 100 with and without the local-noise rule
    rng = np.random.default_rng(7)
    t = np.arange(0.0, 6.0, 0.5 / 60)
    sigma = 0.03
    d = 0.8 * 4 * sigma
    both = 0
    for _ in range(100):
        a1 = 1e5 / 60
        lam = (emg(t, a1, 3.0, sigma, 0.5 * sigma) + emg(t, a1 * rng.choice([0.25, 0.5, 1, 2, 4]), 3.0 + d,
                                                          sigma, 0.5 * sigma) + 200)
        pks = [p for p in find_peaks(Trace("mrm", t, _mrm_noise(rng, lam, 0.03))) if 2.8 < p.rt_min < 3.2 + d]
        both += len(pks) >= 2
    assert both >= 95


def _random_mrm_traces(seed: int, n: int):
    """Up to 7 EMG peaks on a baseline, counting noise and up to 15 % multiplicative noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 10.0, rng.choice([0.5, 1.0, 2.0]) / 60)
    for _ in range(n):
        y = np.zeros(t.size) + rng.uniform(0, 500)
        for _ in range(rng.integers(1, 8)):
            s = rng.uniform(0.01, 0.1)
            y += emg(t, rng.uniform(10, 1e4), rng.uniform(1, 9), s, rng.uniform(0, 2) * s)
        y = rng.poisson(np.maximum(y, 0)).astype(float) * (1 + rng.uniform(0, 0.15) * rng.normal(size=t.size))
        yield Trace("mrm", t, y), rng.uniform(1, 9)


def test_random_noisy_mrm_traces_never_raise():
    # trace 258 of seed 1 once left a cluster with no apex (its only maxima were shoulders
    # dropped as noise) and find_target raised IndexError
    n = 0
    for seed, count in ((1, 300), (2, 150)):
        for tr, rt in _random_mrm_traces(seed, count):
            for pk in [*find_peaks(tr), find_target(tr, rt, 0.3)]:
                assert pk is None or math.isfinite(pk.area)
            n += 1
    assert n == 450


def test_a_wider_rough_baseline_keeps_a_long_tail():
    # tau/sigma 6: a window of 10 half-height widths took part of the tail for baseline (-1.1 %
    # median) until find_target sized the opening by the peak's base width (tails included);
    # now the default keeps the tail (-0.11 %), as a window of 20 does (docs/peaks.md)
    t = np.arange(0.0, 10.0, 0.5 / 60)
    rng = np.random.default_rng(3)
    e10, e20 = [], []
    for _ in range(20):
        y = emg(t, 100.0, 4.0, 0.03, 0.18) + rng.normal(0.0, 0.05, t.size) + 0.2
        e10.append(find_target(Trace("tail", t, y), 4.18, 0.3).area - 100.0)
        e20.append(find_target(Trace("tail", t, y), 4.18, 0.3, baseline_window=20).area - 100.0)
    assert abs(np.median(e10)) < 0.3 and abs(np.median(e20)) < 0.3


def test_snip_baseline_never_runs_below_the_data_at_a_region_edge():
    # the analysed region starts on the flank of a tall neighbour: pybaselines pads the edge
    # along a line fitted there, which ran far below the data and pulled the SNIP baseline with
    # it (the target's area came out 8x too large)
    t = np.arange(0, 4, 1 / 600)
    y = emg(t, 1.0, 2.264 - 0.3 * 0.0245, 0.0228, 0.0245) + emg(t, 2.92, 2.264 - 0.78, 0.0228, 0.0245)
    y = y + 0.05 * y.max() + 0.01 * y.max() * t
    y = y + np.random.default_rng(3).normal(0, y.max() / 2000, t.size)
    pk = find_target(Trace("flank", t, y), 2.26, 0.15, baseline="snip")
    assert pk.area == pytest.approx(1.0, rel=0.05)


def test_sparse_tailing_mrm_peaks_are_not_cut_short():
    # QTRAP-like sampling (0.75 s points, under 4 points per half-height width: no detection
    # smoothing), tailing EMG peaks (tau 1-3 sigma) on a 1,000 cps baseline, counts of 80 cps and
    # 6 % point noise, S/N about 10-40: one noisy point on the tail ended the integration, so the
    # areas ran low (median -1.65 %, 2 of 300 below -15 %). Judged on the 3-point mean, as from 4
    # points on: median -0.42 %, 1 below -15 % (seeds 1-3 of 200: -2.45 / -1.11 / -1.23 before,
    # -0.93 / -0.08 / -0.50 after).
    rng = np.random.default_rng(0)
    t = np.arange(0.0, 4.0, 0.75 / 60)
    errs = []
    for _ in range(300):
        sig = rng.uniform(0.012, 0.018)
        tau = rng.uniform(1.0, 3.0) * sig
        area = rng.uniform(500.0, 2000.0)
        lam = emg(t, area, 2.0, sig, tau) + 1000.0
        y = rng.poisson(lam / 80.0).astype(float) * 80.0 * (1.0 + 0.06 * rng.normal(size=t.size))
        pk = find_target(Trace("mrm", t, y), 2.0, 0.2)
        errs.append(100.0 * (pk.area - area) / area)
    assert len(errs) == 300
    assert float(np.median(errs)) > -1.0
    assert sum(e < -15.0 for e in errs) <= 1


def test_a_steep_fronted_long_tail_is_analysed_over_enough_baseline():
    # tau/sigma 20 at QTRAP sampling (0.75 s points): the half-height width comes from the steep
    # front (2 points), and 16 of them were about two base widths in all, so the tail was ~40 %
    # of the analysed region, the rough baseline's median level sat in it and the tail ended
    # early: median -1.6 to -1.7 % (seeds 1-3). The region now reaches two base widths each side
    # of the maximum: -0.5 to -0.7 %.
    t = np.arange(0.0, 6.0, 0.75 / 60)
    rng = np.random.default_rng(1)
    errs = []
    for _ in range(40):
        y = emg(t, 1e4, 3.0, 0.008, 0.16) + 1000.0 + rng.normal(0.0, 100.0, t.size)
        errs.append(100.0 * (find_target(Trace("tail", t, y), 3.0, 0.2).area - 1e4) / 1e4)
    assert float(np.median(errs)) > -1.0
    assert float(np.percentile(errs, 5)) > -1.6
