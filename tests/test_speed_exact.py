"""Exact speed-ups of the per-injection work (issue 23): each must give the very same values as
the code it replaces, which these tests check against the plain computation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
    object.__setattr__(other, "signal", tr.signal)  # an array swapped behind its back: fitted again
    assert trace_noise_of(other) == got


def test_apex_noise_sd_with_the_kept_model_gives_the_same_sd():
    tr = _mrm_trace(5)
    levels = np.array([0.0, 150.0, 2e3, 4e4])
    plain = apex_noise_sd(tr.signal)
    kept = apex_noise_sd(tr.signal, noise=lambda: trace_noise_of(tr))
    assert np.array_equal(plain(levels), kept(levels))
    assert np.array_equal(plain.lower(levels), kept.lower(levels))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10_000), lo=st.floats(0.5, 3.4), span=st.floats(0.004, 0.6),
       anchor=st.sampled_from([0.0, 0.005, 0.02]), use_sd=st.booleans(), window=st.sampled_from([2.0, 20.0]),
       n=st.sampled_from([6, 40, 961]))
def test_shared_bounds_area_is_integrate_between(seed, lo, span, anchor, use_sd, window, n):
    """The transition group's shared integration (its lean path) gives what integrate_between
    gives: bounds, area, anchors, EDGE / FEW_POINTS, apex and widths; bounds past either end of the trace too."""
    from thioquant.peaks.group import _SHAPE_FIELDS, _shared_bounds_area, integrate_between

    tr = _mrm_trace(seed)
    if n < tr.time_min.size:  # short traces: the stretch reaches the ends
        tr = Trace("ch", tr.time_min[:: tr.time_min.size // n][:n] + lo - 1.0, tr.signal[:: tr.time_min.size // n][:n])
    sd = trace_noise_of(tr)[1] if use_sd else None
    got = _shared_bounds_area(tr, lo, lo + span, anchor, sd, window, 5)
    try:
        g = integrate_between(tr, lo, lo + span, anchor_min=anchor, sigma=sd, noise=0.0, noise_window=window,
                              min_points=5)
    except Exception:  # noqa: BLE001 - the general path refuses: so must the lean one
        assert got is None
        return
    if got is None:  # the general path's case (a stretch of fewer than 3 points)
        return
    want = (g.start_min, g.end_min, g.area, g.baseline_start, g.baseline_end,
            tuple(f for f in g.flags if f in ("FEW_POINTS", "EDGE")),
            {k: getattr(g, k) for k in _SHAPE_FIELDS} if g.area > 0 else {})
    assert repr(got) == repr(want)


def test_shared_bounds_area_at_the_trace_ends_is_integrate_between():
    from thioquant.peaks.group import _SHAPE_FIELDS, _shared_bounds_area, integrate_between

    tr = _mrm_trace(7)
    seen = set()
    for lo, hi in [(-0.1, 0.3), (0.0, 0.2), (3.7, 4.2), (3.8, 4.0), (1.40, 1.50), (0.001, 3.999)]:
        for anchor in (0.0, 0.01):
            got = _shared_bounds_area(tr, lo, hi, anchor, 5.0, 20.0, 5)
            g = integrate_between(tr, lo, hi, anchor_min=anchor, sigma=5.0, noise=0.0, noise_window=20.0,
                                  min_points=5)
            assert got is not None
            want = (g.start_min, g.end_min, g.area, g.baseline_start, g.baseline_end,
                    tuple(f for f in g.flags if f in ("FEW_POINTS", "EDGE")),
                    {k: getattr(g, k) for k in _SHAPE_FIELDS} if g.area > 0 else {})
            assert repr(got) == repr(want)
            seen.update(got[5])
    assert seen == {"EDGE", "FEW_POINTS"}  # both flags are reached


def test_consensus_on_one_time_axis_is_the_nearest_point_mean():
    """Members recorded on the reference's own axis (each point its own nearest) take the
    shortcut; the consensus is the nearest-point mean all the same, also beside a member on
    another axis."""
    from thioquant.model import Peak
    from thioquant.peaks.group import _nearest, consensus_trace

    a, b = _mrm_trace(11), _mrm_trace(12)
    shifted = Trace("c", a.time_min[1:-1] + 0.0011, _mrm_trace(13).signal[1:-1])  # within a's span
    pks = [Peak(trace="x", rt_min=1.45, start_min=1.3, end_min=1.6, height=h, area=1.0)
           for h in (5e4, 4.1e4, 3.3e4)]
    for traces in ([a, b], [a, b, shifted]):
        got = consensus_trace(traces, pks[: len(traces)], 0)
        t = a.time_min
        ys = [_nearest(t, tr.time_min, tr.signal) / pk.height for tr, pk in zip(traces, pks, strict=False)]
        acc, cnt = np.zeros_like(t), np.zeros_like(t)
        for y in ys:
            rec = np.isfinite(y)
            acc[rec] += y[rec]
            cnt[rec] += 1.0
        assert np.array_equal(got.time_min, t)
        assert np.array_equal(got.signal, acc / cnt)
