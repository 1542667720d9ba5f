"""The numpy filters of the peak engine give scipy.ndimage's numbers bit for bit, and the batch
path imports none of scipy's filters (a 0.3-0.4 s start-up cost on every run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from thioquant.peaks.core import _sg
from thioquant.peaks.filters import correlate_nearest, maximum_nearest, minimum_nearest

ROOT = Path(__file__).resolve().parents[1]


def _signals(rng: np.random.Generator):
    for n in (1, 2, 3, 4, 5, 6, 7, 8, 11, 16, 33, 200, 961, 3001):
        base = rng.normal(size=n) * 10 ** rng.uniform(-3, 6) + rng.uniform(-1e4, 1e4)
        yield base
        yield np.cumsum(base)  # drifting, large dynamic range
    yield np.full(50, 3.25)  # constant
    yield np.r_[np.zeros(30), 1e9, np.zeros(30)]  # a spike


@pytest.mark.parametrize("deriv", [0, 1, 2])
def test_savitzky_golay_correlation_matches_ndimage_bitwise(deriv):
    rng = np.random.default_rng(11 + deriv)
    compared = 0
    for y in _signals(rng):
        for window in (3, 5, 7, 9, 11, 13, 15, 21, 31, 51, 101, 201):
            if deriv == 2 and window < 5:
                continue
            w = _sg(window, deriv)
            expected = ndimage.correlate1d(y, w, mode="nearest")
            np.testing.assert_array_equal(correlate_nearest(y, w), expected, err_msg=f"n={y.size} w={window}")
            compared += 1
    assert compared > 300


def test_general_kernels_match_ndimage_bitwise():
    rng = np.random.default_rng(5)
    for y in _signals(rng):
        for w in (np.array([1.0]), np.array([1.0, 2.0]), rng.normal(size=4), rng.normal(size=7),
                  np.array([1.0, -2.0, 1.0]), np.array([-1.0, 0.0, 1.0]), rng.normal(size=10)):
            np.testing.assert_array_equal(correlate_nearest(y, w), ndimage.correlate1d(y, w, mode="nearest"))


def test_running_minimum_and_maximum_match_ndimage():
    rng = np.random.default_rng(7)
    for y in _signals(rng):
        for size in (1, 2, 3, 4, 5, 8, 9, 17, 64, 65, 500, 5000):
            np.testing.assert_array_equal(minimum_nearest(y, size), ndimage.minimum_filter1d(y, size, mode="nearest"))
            np.testing.assert_array_equal(maximum_nearest(y, size), ndimage.maximum_filter1d(y, size, mode="nearest"))


def test_long_inputs_are_filtered_in_blocks_with_the_same_numbers(monkeypatch):
    import thioquant.peaks.filters as filters

    monkeypatch.setattr(filters, "_BLOCK", 64)  # blocks of 5 columns for a 21-point kernel
    rng = np.random.default_rng(3)
    for n in range(990, 1001):
        y = np.cumsum(rng.normal(size=n))
        for w in (_sg(21, 0), _sg(21, 1), rng.normal(size=6)):
            np.testing.assert_array_equal(correlate_nearest(y, w), ndimage.correlate1d(y, w, mode="nearest"))


def test_empty_input():
    assert correlate_nearest(np.array([]), _sg(5, 0)).size == 0
    assert minimum_nearest(np.array([]), 5).size == 0


@pytest.mark.parametrize("batch", ["lcmsms", "hplcuv"])
def test_quantify_imports_no_heavy_library(tmp_path, batch):
    # scipy's filters (numpy filters instead; scipy.special gives the calibration's Student t
    # in the serial tail, docs/dependencies.md), pyopenms (own mzML chromatogram reader),
    # pybaselines and matplotlib (not needed without a global baseline or a report) and
    # urllib.request (xml.sax.saxutils). numpy.ma and numpy.polynomial, once kept out too, come
    # with scipy.special (its import time is counted in docs/dependencies.md)
    heavy = ("scipy.ndimage", "scipy.signal", "scipy.optimize", "scipy.stats", "scipy.linalg", "pybaselines",
             "matplotlib", "pyopenms", "urllib.request")
    code = ("import sys, runpy; sys.argv = ['thioquant', 'quantify', sys.argv[1], '--out', sys.argv[2], "
            "'--no-cache', '--no-history', '--no-report', '--quiet']\n"
            "try:\n    runpy.run_module('thioquant', run_name='__main__')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r} or m.startswith({heavy!r})))")
    res = subprocess.run([sys.executable, "-c", code, str(ROOT / "sample_data" / batch), str(tmp_path / "out")],
                         capture_output=True, text=True, check=True)
    assert (tmp_path / "out" / "results.csv").exists()
    assert res.stdout.strip().splitlines()[-1] == "[]"
