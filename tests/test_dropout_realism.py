"""The simulator's dropouts (runs of zero readings) hit peaks as the real QTRAP files' do.

Measured like for like by benchmarks/dropout_peaks.py (docs/noise.md, "Dropouts over peaks"):
the real reference peaks of the two QTRAP 5500 files of ../shared/data against simulated LC-MS/MS
batches (the bundled default seed and five more), with thioquant.noise_model.peak_dropouts and
co_dropouts. Tolerances:

* per-peak events (a top point dropped, the apex dropped, the whole upper half lost, >= 20 % of
  the area lost): the real and the simulated counts are consistent as two Poisson rates, an exact
  conditional binomial test at the 1 % level (the real files have 293 peaks, so a rate that gives
  none there is allowed only if it is low enough that none is likely);
* the share of top points and of flank points dropped, and the median run length over the FWHM:
  within a factor of 3 of the real figure;
* across the transitions of one injection: runs are not shared at the same scans more often than
  a random point of signal is dropped (one-sided binomial test at the 1 % level; real: 0.86-0.90x,
  independent), and under 10 % of the time (a dropout of the whole scan cycle shares nearly all).

With the dropout model before (``MRM_DROPOUTS_BEFORE``: runs anywhere on the signal, 2.2 % of top points)
the apex is dropped on 24 and the top hit on 61 of 1,000 simulated peaks against 0 and 2 of the
293 real ones, and the comparison fails (checked by a test).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SEEDS = (20261122, 1, 2, 3, 4, 5)


def _bench():
    spec = importlib.util.spec_from_file_location("dropout_peaks", REPO / "benchmarks" / "dropout_peaks.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dropout_peaks", mod)
    spec.loader.exec_module(mod)
    return mod


@lru_cache(maxsize=1)
def _measured() -> tuple[dict, dict, dict]:
    from thioquant.noise_model import MRM_DROPOUTS_BEFORE, MrmNoise

    b = _bench()
    return (b.measure_real(), b.measure_simulated(list(SEEDS)),
            b.measure_simulated(list(SEEDS), MrmNoise(**MRM_DROPOUTS_BEFORE)))


def _consistent(n_real: int, peaks_real: int, n_sim: int, peaks_sim: int) -> float:
    """p-value (two-sided) that two Poisson counts over these exposures share one rate."""
    from scipy.stats import binomtest

    n = n_real + n_sim
    if n == 0:
        return 1.0
    return float(binomtest(n_real, n, peaks_real / (peaks_real + peaks_sim)).pvalue)


def _mismatches(r: dict, sim: dict) -> list[str]:
    """The figures where the simulated peaks differ from the real ones beyond the tolerance."""
    bad = []
    for key in ("top_hit", "apex_dropped", "whole_top"):
        if _consistent(r[f"{key}_n"], r["peaks"], sim[f"{key}_n"], sim["peaks"]) < 0.01:
            bad.append(f"{key}: real {r[f'{key}_n']}/{r['peaks']}, simulated {sim[f'{key}_n']}/{sim['peaks']}")
    lost_r = round(r["area_lost_20_per_1000"] * r["peaks"] / 1000)
    lost_s = round(sim["area_lost_20_per_1000"] * sim["peaks"] / 1000)
    if _consistent(lost_r, r["peaks"], lost_s, sim["peaks"]) < 0.01:
        bad.append(f"area lost >= 20 %: real {lost_r}/{r['peaks']}, simulated {lost_s}/{sim['peaks']}")
    for key in ("top_points_dropped_share", "flank_points_dropped_share", "run_over_fwhm_median"):
        if not r[key] / 3 <= sim[key] <= r[key] * 3:
            bad.append(f"{key}: real {r[key]:.4g}, simulated {sim[key]:.4g}")
    return bad


def test_simulated_dropouts_spare_peak_tops_as_the_real_files_do(shared_data):
    real, sim, _ = _measured()
    r = real["pooled"]
    assert r["peaks"] >= 250 and sim["peaks"] >= 1000
    assert _mismatches(r, sim) == []


def test_the_earlier_dropout_model_fails_the_same_comparison(shared_data):
    # runs anywhere on the signal: the apex and the top of simulated peaks lost far more often
    real, _, before = _measured()
    bad = _mismatches(real["pooled"], before)
    assert any(b.startswith("apex_dropped") for b in bad) and any(b.startswith("top_hit") for b in bad), bad
    assert any(b.startswith("top_points_dropped_share") for b in bad), bad


def _more_shared_than_chance(n_pairs: int, shared: float, base: float) -> float:
    """One-sided p-value that runs are shared more often than a random point of signal is dropped."""
    from scipy.stats import binomtest

    return float(binomtest(round(shared * n_pairs), n_pairs, base, alternative="greater").pvalue)


def test_dropouts_are_independent_between_transitions_in_both(shared_data):
    real, sim, _ = _measured()
    for label, co in [*real["co_dropouts"].items(), ("simulated", sim["co_dropouts"])]:
        assert co["pairs"] >= 100, label
        assert _more_shared_than_chance(co["pairs"], co["shared"], co["base"]) >= 0.01, (label, co)
        assert co["shared"] < 0.1  # a dropout of the whole scan cycle would share nearly every run
    # transitions of one compound (quantifier, qualifier, internal standard) share no more either
    for co in (real["co_dropouts"]["yeast Sacc1 (SmartPeak)"], sim["co_dropouts"]):
        assert co["pairs_same_group"] >= 100
        assert _more_shared_than_chance(co["pairs_same_group"], co["shared_same_group"], co["base"]) >= 0.01, co


def test_a_run_from_a_flank_stops_at_the_peak_top():
    from thioquant.noise_model import MrmNoise, apply_mrm_noise, peak_tops
    from thioquant.simulate import emg

    t = np.linspace(0, 4, 961)
    clean = 50.0 + emg(t, 6e4, 2.0, 0.018, 0.011)
    top = peak_tops(clean, 826.0)
    assert 8 <= top.sum() <= 14 and top[np.argmax(clean)]
    # every trace draws runs (rate 0.3 per point of signal), none may start in the top
    p = MrmNoise(dropout_trace_fraction=1.0, dropout_rate=0.3, dropout_top_factor=0.0, spike_rate=0.0)
    rng = np.random.default_rng(3)
    for _ in range(50):
        y = apply_mrm_noise(clean, rng, p)
        assert np.all(y[top] > 0)
    # and with the top as likely as the flanks (the earlier model), the top is hit
    p1 = MrmNoise(dropout_trace_fraction=1.0, dropout_rate=0.3, dropout_top_factor=1.0, spike_rate=0.0)
    assert any(np.any(apply_mrm_noise(clean, rng, p1)[top] == 0) for _ in range(50))
