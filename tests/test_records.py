import numpy as np
import pytest

from thioquant.model import Calibration, Channel, Run, Trace


def test_trace_arrays_are_read_only_copies():
    t = np.linspace(0, 1, 5)
    tr = Trace("x", t, t * 2, channel=Channel("uv", wavelength_nm=342))
    t[0] = 99
    assert tr.time_min[0] == 0
    with pytest.raises(ValueError):
        tr.signal[0] = 1.0


def test_trace_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        Trace("x", [0, 1, 2], [1, 2])


def test_run_find_trace_by_channel():
    a = Trace("a", [0, 1], [0, 0], channel=Channel("uv", wavelength_nm=342))
    b = Trace("b", [0, 1], [0, 0], channel=Channel("uv", wavelength_nm=303))
    m = Trace("m", [0, 1], [0, 0], channel=Channel("srm", precursor_mz=168.0, product_mz=151.0))
    run = Run((a, b, m))
    assert run.find_trace(wavelength_nm=303).name == "b"
    assert run.find_trace(wavelength_nm=320) is None
    assert run.find_trace(precursor_mz=168.03, product_mz=151.0).name == "m"
    assert run.find_trace(precursor_mz=168.0, product_mz=134.0) is None


@pytest.mark.parametrize(
    "model,coef",
    [("linear", (0.5, 2.0)), ("linear0", (0.0, 3.0)), ("quadratic", (0.1, 2.0, -0.004)), ("power", (0.2, 0.95))],
)
def test_calibration_inverse_undoes_predict(model, coef):
    x = np.array([1.0, 5, 10, 50, 100, 200])
    cal = Calibration(model, "none", coef, np.eye(len(coef)), 0.0, 1.0, x, x, np.ones(6, bool))
    np.testing.assert_allclose(cal.inverse(cal.predict(x)), x, rtol=1e-12)
    assert cal.x_range == (1.0, 200.0)
