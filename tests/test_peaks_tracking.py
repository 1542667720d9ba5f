"""track_targets: retention times followed over a sequence, on simulated series with known truth."""

from __future__ import annotations

import numpy as np
import pytest

from thioquant.errors import MethodError
from thioquant.model import Trace
from thioquant.peaks import find_target, track_targets
from thioquant.peaks.emg import emg

RATE = 5.0  # Hz


def _series(shift=0.03, n=10, seed=0):
    """An overloading analyte A whose apex comes 'shift' min earlier per injection (1.87 ->
    1.60 for the defaults, as serotonin in the Chromeleon series), amount rising 5.5-fold; a
    larger neighbour B fixed at 2.04 min; a small noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 4.0, 1.0 / RATE / 60.0)
    traces, truth = [], []
    for k in range(n):
        a_amt = 1.0 + 0.5 * k
        mu = 1.87 - shift * k - 0.02 * k / n  # apex (a little after mu) moves earlier
        tau = 0.01 + 0.006 * k  # the tail grows with the load
        y = emg(t, a_amt, mu, 0.015, tau) + emg(t, 3.0, 2.04, 0.015, 0.01)
        y += rng.normal(0.0, 0.002, t.size)
        traces.append(Trace("uv", t, y))
        truth.append((a_amt, float(t[np.argmax(emg(t, a_amt, mu, 0.015, tau))])))
    return traces, truth


def test_fixed_window_loses_the_moving_peak():
    """The failure being fixed: with a fixed 0.15 min window the late injections miss A."""
    traces, truth = _series()
    got = [find_target(tr, 1.87, 0.15) for tr in traces]
    late = [p for p, (_, rt) in zip(got, truth, strict=True) if rt < 1.87 - 0.15]
    assert late and all(p is None or abs(p.rt_min - 2.04) < 0.02 for p in late)
    fixed = track_targets(traces, {"A": 1.87, "B": 2.04}, 0.15, update="none")
    assert any(p is None for p in fixed.peaks["A"])


def test_previous_injection_update_follows_the_peak():
    traces, truth = _series()
    out = track_targets(traces, {"A": 1.87, "B": 2.04}, 0.15)
    for k, (pk, (amt, rt)) in enumerate(zip(out.peaks["A"], truth, strict=True)):
        assert pk is not None, k
        assert pk.rt_min == pytest.approx(rt, abs=0.005), k
        # the longest tails run ~1 % of their area under B, where A's boundary stops
        assert pk.area == pytest.approx(amt, rel=0.015), k
    t = traces[0].time_min
    b_apex = float(t[np.argmax(emg(t, 3.0, 2.04, 0.015, 0.01))])
    for pk in out.peaks["B"]:
        assert pk is not None and pk.rt_min == pytest.approx(b_apex, abs=0.005)
        assert pk.area == pytest.approx(3.0, rel=0.01)
    # the expected time of each injection is the apex found in the one before
    exp = out.expected["A"]
    assert exp[0] == 1.87
    assert exp[1:] == [p.rt_min for p in out.peaks["A"][:-1]]


def test_a_missed_injection_keeps_the_last_retention_time():
    traces, _ = _series(n=4)
    t = traces[0].time_min
    flat = Trace("uv", t, emg(t, 3.0, 2.04, 0.015, 0.01))  # A absent, only B
    seq = [traces[0], traces[1], flat, traces[2], traces[3]]
    out = track_targets(seq, {"A": 1.87, "B": 2.04}, 0.25)
    a = out.peaks["A"]
    assert a[2] is None  # B (2.04) lies in A's window but is nearer B's own expected time
    assert find_target(flat, a[1].rt_min, 0.25) is not None  # a plain search would take B
    assert out.expected["A"][3] == a[1].rt_min
    assert a[3] is not None and a[4] is not None


def test_an_injection_without_the_trace_is_skipped():
    traces, _ = _series(n=3)
    out = track_targets([traces[0], None, traces[1]], {"A": 1.87, "B": 2.04}, 0.15)
    assert out.peaks["A"][1] is None and out.peaks["B"][1] is None
    assert out.expected["A"][2] == out.peaks["A"][0].rt_min
    assert out.peaks["A"][2] is not None


def test_a_peak_is_not_claimed_by_the_farther_target():
    t = np.arange(0.0, 4.0, 1.0 / RATE / 60.0)
    tr = Trace("uv", t, emg(t, 1.0, 2.0, 0.015, 0.01))
    out = track_targets([tr], {"near": 1.95, "far": 1.85}, 0.2)
    assert out.peaks["near"][0] is not None and out.peaks["far"][0] is None


def test_per_target_windows_and_settings_pass_through():
    traces, _ = _series(n=3)
    out = track_targets(traces, {"A": 1.87, "B": 2.04}, {"A": 0.1, "B": 0.05}, sn_min=10.0,
                        fused="valley")
    assert all(p is not None for p in out.peaks["A"] + out.peaks["B"])


def test_per_target_settings_apply_to_their_target_only():
    traces, _ = _series(n=4)
    base = track_targets(traces, {"A": 1.87, "B": 2.04}, 0.15)
    own = track_targets(traces, {"A": 1.87, "B": 2.04}, 0.15, per_target={"A": {"noise_method": "rms"}})
    for a0, a1 in zip(base.peaks["A"], own.peaks["A"], strict=True):
        assert a1.area == a0.area and a1.sn > 1.5 * a0.sn  # H/RMS against 2H/peak-to-peak
    assert own.peaks["B"] == base.peaks["B"]


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"update": "average"}, "update"),
        ({"window_min": {"A": 0.1}}, "window_min"),
        ({"window_min": -1.0}, "window_min"),
        ({"targets": {}}, "targets"),
        ({"targets": {"A": float("nan")}}, "targets"),
        ({"window_min": {"A": 0.1, "B": 0.0}}, "window_min"),
        ({"fused": "nope"}, "fused"),
        ({"rrt": 1.1}, "rrt"),
        ({"per_target": {"C": {"fused": "drop"}}}, "per_target"),
        ({"per_target": {"A": {"rrt": 1.1}}}, "rrt"),
        ({"per_target": {"A": {"fused": "nope"}}}, "fused"),
    ],
)
def test_bad_arguments_raise_method_error(kw, key):
    traces, _ = _series(n=1)
    args = {"targets": {"A": 1.87, "B": 2.04}, "window_min": 0.15} | kw
    targets, window = args.pop("targets"), args.pop("window_min")
    with pytest.raises(MethodError) as ei:
        track_targets(traces, targets, window, **args)
    assert ei.value.key == key
