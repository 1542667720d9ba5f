"""Agreement with pyopenms AbsoluteQuantitation on the OpenMS calibration points.

OpenMS fits ``TransformationModelLinear``; its ``x_weight``/``y_weight`` options *transform* the
variables (ln(x), 1/x...) rather than weight the residuals, so the models coincide for
unweighted linear (no transformation) and for ln(x)/ln(y), which is thioquant's "power" model.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from thioquant.calibration import fit_calibration

CSV = Path("mzml_srm/OpenMS/absolute_quantitation_calibration_points.csv")


def _series(shared_data: Path) -> dict[str, list[dict[str, str]]]:
    with open(shared_data / CSV) as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    out: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        out.setdefault(r["component_name"], []).append(r)
    return out


def _openms_fit(rows, x_weight: str, y_weight: str) -> tuple[float, float]:
    oms = pytest.importorskip("pyopenms")
    pts = []
    for r in rows:
        p = oms.AQS_featureConcentration()
        f, fi = oms.Feature(), oms.Feature()
        f.setMetaValue("peak_apex_int", float(r["peak_apex_int"]))
        fi.setMetaValue("peak_apex_int", float(r["IS_peak_apex_int"]))
        p.feature, p.IS_feature = f, fi
        p.actual_concentration = float(r["actual_concentration"])
        p.IS_actual_concentration = 1.0
        p.dilution_factor = 1.0
        pts.append(p)
    par = oms.Param()
    par.setValue("slope", 0.0)
    par.setValue("intercept", 0.0)
    par.setValue("x_weight", x_weight)
    par.setValue("y_weight", y_weight)
    for k in ("x_datum_min", "y_datum_min"):
        par.setValue(k, -1e12)
    for k in ("x_datum_max", "y_datum_max"):
        par.setValue(k, 1e12)
    res = oms.AbsoluteQuantitation().fitCalibration(pts, "peak_apex_int", "linear", par)
    return float(res.getValue("intercept")), float(res.getValue("slope"))


@pytest.mark.parametrize("x_weight,y_weight,model", [("", "", "linear"), ("ln(x)", "ln(y)", "power")])
def test_coefficients_match_pyopenms(shared_data: Path, x_weight: str, y_weight: str, model: str) -> None:
    series = _series(shared_data)
    assert len(series) == 3
    for name, rows in series.items():
        x = np.array([float(r["actual_concentration"]) for r in rows])
        y = np.array([float(r["peak_apex_int"]) / float(r["IS_peak_apex_int"]) for r in rows])
        ref = _openms_fit(rows, x_weight, y_weight)
        cal = fit_calibration(x, y, model, "none")
        np.testing.assert_allclose(cal.coefficients, ref, rtol=1e-10, err_msg=name)
        # back-calculation through the same curve agrees as well
        if model == "power":
            back_ref = np.exp((np.log(y) - ref[0]) / ref[1])
        else:
            back_ref = (y - ref[0]) / ref[1]
        np.testing.assert_allclose(cal.inverse(y), back_ref, rtol=1e-9, err_msg=name)
