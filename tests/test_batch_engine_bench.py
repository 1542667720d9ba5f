"""The 2-D stages measured by benchmarks/bench_batch_engine.py give the per-trace engine's numbers
bit for bit (issue 23, part 3: a batch-vectorised stage is only worth measuring if it is exact).
If the engine's noise model or survey smoothing changes, these fail and the measurement must be
redone with the new arithmetic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from thioquant.peaks import core
from thioquant.peaks.noise import trace_noise
from thioquant.peaks.survey import _median3

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_batch_engine", REPO / "benchmarks" / "bench_batch_engine.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _traces(seed: int, rows: int, n: int, counts: bool) -> np.ndarray:
    """MRM-like traces: a Gaussian peak of random height on a baseline, with multiplicative and
    counting noise (count-quantised when ``counts``: ties in every order statistic)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 4.0, n)
    out = []
    for _ in range(rows):
        h = 10 ** rng.uniform(1, 6)
        mu = rng.uniform(0.5, 3.5)
        clean = 50.0 + h * np.exp(-0.5 * ((t - mu) / rng.uniform(0.02, 0.1)) ** 2)
        y = clean * (1 + 0.08 * rng.standard_normal(n))
        y = rng.poisson(np.maximum(y, 0)).astype(float) if counts else y + rng.normal(0, 5, n)
        out.append(y)
    return np.stack(out)


def test_bundled_traces_identical():
    from thioquant.io import read_run

    sigs = [np.asarray(tr.signal, dtype=float) for f in sorted((REPO / "sample_data" / "lcmsms" / "raw").glob("*.mzML"))[:8]
            for tr in read_run(f).traces]
    y = np.stack(sigs)
    # the rows the 2-D pass covers: a non-zero median difference on its samples (the bundled batch
    # carries the measured noise since 2026-12-05, whose count-quantised backgrounds are mostly
    # zeros, where trace_noise takes another branch; the script measures those rows in 1-D)
    got, want = bench.trace_noise_rows(y), [trace_noise(s) for s in sigs]
    covered = [i for i, g in enumerate(got) if g[1] > 0]
    assert len(covered) >= len(sigs) // 3
    assert [got[i] for i in covered] == [want[i] for i in covered]
    assert np.array_equal(bench.survey_smooth_rows(y), np.stack([core.smooth(_median3(s), 5) for s in sigs]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(2, 12), n=st.integers(40, 1500), counts=st.booleans())
def test_2d_stages_equal_the_1d_engine(seed, rows, n, counts):
    y = _traces(seed, rows, n, counts)
    want = np.stack([core.smooth(_median3(r), 5) for r in y])
    assert np.array_equal(bench.survey_smooth_rows(y), want)
    got = bench.trace_noise_rows(y)
    for r, g in zip(y, got, strict=True):
        ref = trace_noise(r)
        if ref[1] > 0:  # the 2-D pass covers traces whose median difference is not zero
            assert g == ref


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), half=st.integers(1, 20), lengths=st.lists(st.integers(45, 400), min_size=2,
                                                                               max_size=6))
def test_padded_rows_of_different_lengths_smooth_exactly(seed, half, lengths):
    # the claim in docs/scale.md: regions of different lengths that share a Savitzky-Golay window
    # can be smoothed in one 2-D pass, each row padded to the longest with its own last value
    w = 2 * half + 1
    rng = np.random.default_rng(seed)
    rows = [rng.poisson(rng.uniform(5, 5e4), n).astype(float) for n in lengths]
    y = np.stack([np.concatenate([r, np.full(max(lengths) - r.size, r[-1])]) for r in rows])
    got = bench.correlate_rows(y, core._sg(w, 0))
    for r, g in zip(rows, got, strict=True):
        if r.size >= w:
            assert np.array_equal(g[: r.size], core.smooth(r, w))
