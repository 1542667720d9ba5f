"""Fast paths written for issue 23's exact CPU savings give the same values, bit for bit, as the
plain code they replace (kept beside them as references)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from thioquant.io import read_run
from thioquant.noise_model import _count_quantum_reference, count_quantum

REPO = Path(__file__).resolve().parents[1]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


@st.composite
def _quantised(draw):
    """Count-quantised traces as MRM files hold them (counts x cps per count, rounded to whole cps
    or not), with runs of zeros, a few negative or non-finite points, and continuous traces."""
    n = draw(st.integers(0, 600))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    q = draw(st.sampled_from([1.0, 1.5, 5.0, 1 / 0.019, 1 / 0.007, 200.0, 0.3]))
    level = draw(st.sampled_from([0.3, 2.0, 3.0, 8.0, 40.0, 500.0]))
    counts = rng.poisson(level * (1 + rng.random(n) * draw(st.sampled_from([0.0, 1.0, 20.0]))), n)
    y = counts * q
    if draw(st.booleans()):
        y = np.round(y)
    kind = draw(st.sampled_from(["plain", "plain", "plain", "zeros", "zeros", "odd", "jitter", "continuous"]))
    if kind == "continuous":
        y = rng.normal(10, 1, n) * level
    elif kind == "zeros" and n:
        y[rng.integers(0, n, n // 3)] = 0.0
    elif kind == "odd" and n:
        y[rng.integers(0, n, 3)] = rng.choice([np.nan, np.inf, -np.inf, -5.0], 3)
    elif kind == "jitter":
        y = y + rng.uniform(-0.6, 0.6, n)  # within the file's rounding, or not
    return y


@settings(max_examples=400, deadline=None)
@given(_quantised())
def test_count_quantum_equals_the_plain_numpy_code(y):
    assert _same(count_quantum(y), _count_quantum_reference(y))


def _compare_count_quantum(files: list[Path]) -> int:
    n = 0
    for f in files:
        try:
            run = read_run(f)
        except Exception:  # noqa: BLE001 - files the reader refuses are not this test's subject
            continue
        for tr in run.traces:
            assert _same(count_quantum(tr.signal), _count_quantum_reference(tr.signal)), (f.name, tr.name)
            n += 1
    return n


def test_count_quantum_equals_the_plain_numpy_code_on_the_bundled_traces():
    assert _compare_count_quantum(sorted((REPO / "sample_data" / "lcmsms" / "raw").glob("*.mzML"))) >= 252


def test_count_quantum_equals_the_plain_numpy_code_on_real_mrm_files(shared_data):
    assert _compare_count_quantum(sorted(Path(shared_data).rglob("*.mzML"))[:20]) > 0
