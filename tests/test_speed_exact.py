"""Exact speed-ups of the per-injection work (issue 23): each must give the very same values as
the code it replaces, which these tests check against the plain computation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from thioquant.model import Channel, Trace
from thioquant.peaks.noise import trace_noise, trace_noise_of, trace_sigma
from thioquant.qc.signal import apex_noise_sd


def _mrm_trace(seed: int = 3) -> Trace:
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 4.0, 961)
    y = 200.0 + 5e4 * np.exp(-0.5 * ((t - 1.45) / 0.02) ** 2)
    y = np.round(rng.poisson(y) * rng.normal(1.0, 0.06, t.size))
    return Trace("ch", t, y, channel=Channel("srm", precursor_mz=168.0, product_mz=151.0))


def test_trace_noise_of_is_trace_noise_kept_on_the_trace():
    tr = _mrm_trace()
    got = trace_noise_of(tr)
    assert got == trace_noise(tr.signal)
    assert got[1] == trace_sigma(tr.signal)  # the groups' SD, from the same model
    assert trace_noise_of(tr) is got  # fitted once
    other = replace(tr, signal=tr.signal * 2.0)  # a new trace: its own model, not the old one
    assert trace_noise_of(other) == trace_noise(other.signal) != got


def test_apex_noise_sd_with_the_kept_model_gives_the_same_sd():
    tr = _mrm_trace(5)
    levels = np.array([0.0, 150.0, 2e3, 4e4])
    plain = apex_noise_sd(tr.signal)
    kept = apex_noise_sd(tr.signal, noise=lambda: trace_noise_of(tr))
    assert np.array_equal(plain(levels), kept(levels))
    assert np.array_equal(plain.lower(levels), kept.lower(levels))
