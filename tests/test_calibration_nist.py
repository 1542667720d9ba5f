"""The weighted least-squares core against NIST StRD certified values (>= 9 significant digits)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from thioquant.calibration import fit_calibration, weighted_lstsq

MIN_DIGITS = 9.0


def _read_strd(path: Path) -> dict:
    lines = path.read_text().splitlines()
    cert: dict[str, tuple[float, float]] = {}
    resid_sd = r2 = math.nan
    data_start = None
    for i, line in enumerate(lines):
        m = re.match(r"\s+B(\d+)\s+(\S+)\s+(\S+)", line)
        if m and data_start is None:
            cert[f"B{m.group(1)}"] = (float(m.group(2)), float(m.group(3)))
        if "Standard Deviation" in line and line.strip().startswith("Standard Deviation") and "Residual" in lines[i - 1]:
            resid_sd = float(line.split()[-1])
        if line.strip().startswith("R-Squared"):
            r2 = float(line.split()[-1])
        if re.match(r"Data:\s+y\s", line):
            data_start = i + 1
    assert data_start is not None, path
    data = np.array([[float(v) for v in ln.split()] for ln in lines[data_start:] if ln.strip()])
    names = sorted(cert, key=lambda k: int(k[1:]))
    return {
        "beta": np.array([cert[k][0] for k in names]),
        "sd": np.array([cert[k][1] for k in names]),
        "resid_sd": resid_sd,
        "r2": r2,
        "y": data[:, 0],
        "X": data[:, 1:],
        "first": int(names[0][1:]),
    }


def digits(est: float, cert: float) -> float:
    """Log relative error (number of agreeing significant digits), 15 when exact."""
    if cert == 0.0:
        return 15.0 if abs(est) < 1e-15 else -math.log10(abs(est))
    err = abs(est - cert) / abs(cert)
    return 15.0 if err == 0 else min(15.0, -math.log10(err))


def _poly_design(x: np.ndarray, degree: int, intercept: bool) -> np.ndarray:
    cols = [x**k for k in range(0 if intercept else 1, degree + 1)]
    return np.column_stack(cols)


@pytest.mark.parametrize(
    "name,degree",
    [("Norris", 1), ("Pontius", 2), ("NoInt1", 1), ("NoInt2", 1), ("Wampler1", 5),
     ("Wampler2", 5), ("Wampler3", 5), ("Wampler4", 5), ("Wampler5", 5)],
)
def test_core_matches_nist_certified(shared_data: Path, name: str, degree: int) -> None:
    d = _read_strd(shared_data / "nist_strd_linear" / f"{name}.dat")
    intercept = d["first"] == 0
    res = weighted_lstsq(_poly_design(d["X"][:, 0], degree, intercept), d["y"])
    for est, cert in zip(res.beta, d["beta"], strict=True):
        assert digits(est, cert) >= MIN_DIGITS, (name, est, cert)
    scale = np.abs(d["beta"]).max()
    for est, cert in zip(res.sd, d["sd"], strict=True):
        if cert == 0.0:  # exact fits (Wampler1, 2): SD must vanish to rounding
            assert est <= 1e-9 * scale
        else:
            assert digits(est, cert) >= MIN_DIGITS, (name, est, cert)
    if d["resid_sd"] == 0.0:
        assert res.residual_sd <= 1e-9 * np.abs(d["y"]).max()
    else:
        assert digits(res.residual_sd, d["resid_sd"]) >= MIN_DIGITS


def test_core_longley_multivariate(shared_data: Path) -> None:
    d = _read_strd(shared_data / "nist_strd_linear" / "Longley.dat")
    X = np.column_stack([np.ones(len(d["y"])), d["X"]])
    res = weighted_lstsq(X, d["y"])
    assert min(digits(e, c) for e, c in zip(res.beta, d["beta"], strict=True)) >= MIN_DIGITS
    assert min(digits(e, c) for e, c in zip(res.sd, d["sd"], strict=True)) >= MIN_DIGITS
    assert digits(res.residual_sd, d["resid_sd"]) >= MIN_DIGITS


@pytest.mark.parametrize(
    "name,model", [("Norris", "linear"), ("Pontius", "quadratic"), ("NoInt1", "linear0"), ("NoInt2", "linear0")]
)
def test_fit_calibration_reproduces_nist(shared_data: Path, name: str, model: str) -> None:
    d = _read_strd(shared_data / "nist_strd_linear" / f"{name}.dat")
    cal = fit_calibration(d["X"][:, 0], d["y"], model, "none")
    coef = np.array(cal.coefficients)
    sd = np.sqrt(np.diag(cal.covariance))
    if model == "linear0":
        coef, sd = coef[1:], sd[1:]
    assert min(digits(e, c) for e, c in zip(coef, d["beta"], strict=True)) >= MIN_DIGITS
    assert min(digits(e, c) for e, c in zip(sd, d["sd"], strict=True)) >= MIN_DIGITS
    assert digits(cal.residual_sd, d["resid_sd"]) >= MIN_DIGITS
    assert digits(cal.r2, d["r2"]) >= MIN_DIGITS


def test_weights_are_scale_invariant_and_match_row_scaling() -> None:
    rng = np.random.default_rng(1)
    x = np.linspace(1, 100, 12)
    y = 3 + 2 * x + rng.normal(0, 0.05, x.size) * x
    w = 1 / x**2
    a = weighted_lstsq(np.column_stack([np.ones_like(x), x]), y, w)
    b = weighted_lstsq(np.column_stack([np.ones_like(x), x]), y, 1000 * w)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)
    np.testing.assert_allclose(a.covariance, b.covariance, rtol=1e-10)
    # same as ordinary least squares on rows scaled by sqrt(w)
    sw = np.sqrt(w)
    ref, *_ = np.linalg.lstsq(np.column_stack([sw, sw * x]), sw * y, rcond=None)
    np.testing.assert_allclose(a.beta, ref, rtol=1e-10)
