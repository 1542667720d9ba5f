"""Simulated chromatograms with known EMG peak areas, for benchmarks/bench_peaks.py.

Every trace is a sum of exponentially modified Gaussians (area in signal x minutes) on a
baseline, plus noise. Noise level: S/N is the USP 2H/h with the peak-to-peak noise h taken as
6 standard deviations, so the noise SD is H / (3 S/N).

Categories
----------
iso_hi   isolated peaks, S/N 100, 300, 1000, tau/sigma 0 to 1.5, flat baseline, 5 Hz
iso_lo   isolated peaks at S/N 10
drift    isolated peaks at S/N 100-300 on a drifting gradient baseline (ramp + curvature)
fused    pairs at USP resolution 0.8 to 2.0, height ratio 1:4 to 4:1, S/N 300
rider    a small rider (3-10 % of the parent's height) on the tail of a tailing peak
mrm      sparse MRM sampling (3 points/s), Poisson counts on a near-zero baseline
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from thioquant.peaks.emg import emg  # noqa: E402


@dataclass
class Case:
    category: str
    t: np.ndarray  # minutes
    y: np.ndarray
    truth: list[tuple[float, float]]  # (apex RT, area) per true peak
    w50: float  # typical half-height width (minutes), what a user would set
    label: str = ""
    meta: dict = field(default_factory=dict)


def _w50(sigma: float, tau: float) -> tuple[float, float]:
    """Numerical half-height width and apex offset of an EMG."""
    tt = np.linspace(-6 * sigma, 6 * sigma + 12 * tau, 20001)
    g = emg(tt, 1.0, 0.0, sigma, max(tau, 1e-6 * sigma))
    i = int(np.argmax(g))
    above = np.flatnonzero(g >= 0.5 * g[i])
    return float(tt[above[-1]] - tt[above[0]]), float(tt[i])


def _peak(t, area, mu, sigma, tau):
    return emg(t, area, mu, sigma, max(tau, 1e-6 * sigma))


def make_corpus(seed: int = 2024, scale: int = 1) -> list[Case]:
    """The benchmark corpus; ``scale`` multiplies the number of noise seeds."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    rate = 5.0  # Hz
    t = np.arange(0.0, 10.0, 1.0 / rate / 60.0)
    sigma = 0.04
    ratios = (0.0, 0.5, 1.0, 1.5)

    def iso(cat, sn, ratio, baseline, k):
        tau = ratio * sigma
        mu = rng.uniform(4.0, 6.0)
        area = rng.uniform(0.5, 2.0)
        p = _peak(t, area, mu, sigma, tau)
        h = float(p.max())
        w, off = _w50(sigma, tau)
        y = p + baseline + rng.normal(0.0, h / (3.0 * sn), t.size)
        cases.append(Case(cat, t, y, [(mu + off, area)], w, f"{cat} S/N {sn} tau/sigma {ratio} #{k}",
                          {"sn": sn, "ratio": ratio}))

    for sn in (100, 300, 1000):
        for r in ratios:
            for k in range(3 * scale):
                iso("iso_hi", sn, r, 0.0, k)
    for r in ratios:
        for k in range(8 * scale):
            iso("iso_lo", 10, r, 0.0, k)
    for sn in (100, 300):
        for r in ratios:
            for k in range(3 * scale):
                # gradient drift: ramp plus curvature, about one peak height over the run
                a1, a2 = rng.uniform(0.02, 0.1), rng.uniform(-0.004, 0.004)
                base = 0.2 + a1 * t + a2 * (t - 5.0) ** 2 + 0.05 * np.sin(t / 1.7)
                iso("drift", sn, r, base, k)

    # fused pairs
    for rs in (0.8, 1.0, 1.25, 1.5, 2.0):
        for hr in (0.25, 0.5, 1.0, 2.0, 4.0):
            for r in (0.0, 0.75):
                tau = r * sigma
                w, off = _w50(sigma, tau)
                dt_ = rs * 2.0 * w / 1.18
                mu1 = rng.uniform(4.0, 5.0)
                a1 = 1.0
                a2 = hr  # same shape: height ratio = area ratio
                y = _peak(t, a1, mu1, sigma, tau) + _peak(t, a2, mu1 + dt_, sigma, tau)
                h = float(y.max())
                y = y + rng.normal(0.0, h / (3.0 * 300), t.size)
                cases.append(Case("fused", t, y, [(mu1 + off, a1), (mu1 + dt_ + off, a2)], w,
                                  f"fused Rs {rs} ratio 1:{hr} tau/sigma {r}",
                                  {"rs": rs, "ratio": hr}))
    # riders on a tail
    for rel in (0.03, 0.05, 0.1):
        for pos in (3.0, 4.5):
            for _ in range(2 * scale):
                tau = 1.5 * sigma
                mu = rng.uniform(4.0, 5.0)
                parent = _peak(t, 1.0, mu, sigma, tau)
                hp = float(parent.max())
                w, off = _w50(sigma, tau)
                w_r, off_r = _w50(sigma * 0.8, 0.2 * sigma)
                unit_h = float(_peak(t, 1.0, 5.0, sigma * 0.8, 0.2 * sigma).max())
                a_r = rel * hp / unit_h
                mu_r = mu + off + pos * sigma + tau
                y = parent + _peak(t, a_r, mu_r, 0.8 * sigma, 0.2 * sigma)
                y = y + rng.normal(0.0, hp / (3.0 * 300), t.size)
                cases.append(Case("rider", t, y, [(mu + off, 1.0), (mu_r + off_r, a_r)], w,
                                  f"rider {rel:.0%} at +{pos} sigma", {"rel": rel}))
    # sparse MRM
    tm = np.arange(0.0, 4.0, 1.0 / 3.0 / 60.0)
    for counts in (100, 1000, 10000):
        for r in (0.0, 1.0):
            for _ in range(4 * scale):
                s_m = 0.035
                tau = r * s_m
                mu = rng.uniform(1.5, 2.5)
                unit = _peak(tm, 1.0, mu, s_m, tau)
                area = counts / float(unit.max())  # apex at ~counts per point
                lam = area * unit + 2.0
                y = rng.poisson(lam).astype(float)
                w, off = _w50(s_m, tau)
                cases.append(Case("mrm", tm, y, [(mu + off, area)], w,
                                  f"mrm apex {counts} counts tau/sigma {r}", {"counts": counts}))
    return cases


if __name__ == "__main__":
    cs = make_corpus()
    from collections import Counter

    print(Counter(c.category for c in cs))
