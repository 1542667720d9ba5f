"""QCSettings: documented defaults, validation naming the bad key, per-analyte overrides."""

from __future__ import annotations

import pytest

from thioquant.errors import MethodError
from thioquant.qc import QCSettings


def test_defaults_are_the_documented_ones():
    s = QCSettings()
    assert s.qc_tolerance_pct == 15 and s.qc_min_fraction == pytest.approx(2 / 3)
    assert s.qc_min_level_fraction == 0.5
    assert (s.carryover_limit_pct, s.carryover_is_limit_pct) == (20, 5)
    assert s.is_band_pct == (50, 150)
    assert s.rt_tolerance_pct == 2.5 and s.ion_ratio_tolerance_pct == 20
    assert (s.interference_limit_pct, s.interference_is_limit_pct) == (20, 5)
    assert s.westgard_rules == ("1-2s", "1-3s", "2-2s", "R-4s", "4-1s", "10x")
    assert s.severity["qc"] == "reject" and s.severity["rt"] == "warn"


def test_from_dict_round_trip_and_toml_types():
    s = QCSettings.from_dict({"rt_tolerance_pct": 3, "is_band_pct": [40, 160],
                              "severity": {"rt": "reject"}, "westgard_rules": ["1-3s", "2-2s"]})
    assert s.rt_tolerance_pct == 3.0 and s.is_band_pct == (40.0, 160.0)
    assert s.severity["rt"] == "reject" and s.severity["qc"] == "reject"
    assert QCSettings.from_dict(s.as_dict()) == s
    assert QCSettings.from_dict(None) == QCSettings()


@pytest.mark.parametrize(
    "d,key",
    [
        ({"rt_tolerance": 2}, "qc.rt_tolerance"),
        ({"rt_tolerance_pct": -1}, "qc.rt_tolerance_pct"),
        ({"qc_min_fraction": 1.5}, "qc.qc_min_fraction"),
        ({"is_band_pct": [150, 50]}, "qc.is_band_pct"),
        ({"is_band_pct": 50}, "qc.is_band_pct"),
        ({"westgard_rules": ["1-5s"]}, "qc.westgard_rules"),
        ({"westgard_min_history": 1}, "qc.westgard_min_history"),
        ({"severity": {"qc": "fatal"}}, "qc.severity.qc"),
        ({"severity": {"bogus": "warn"}}, "qc.severity.bogus"),
        ({"analytes": {"6-TGN": {"rt_tolerance_pct": "x"}}}, "qc.analytes.6-TGN.rt_tolerance_pct"),
        ({"analytes": {"6-TGN": {"westgard_rules": []}}}, "qc.analytes.6-TGN.westgard_rules"),
        ({"ion_ratio_tolerance_pct": True}, "qc.ion_ratio_tolerance_pct"),
    ],
)
def test_bad_values_raise_method_error_naming_the_key(d, key):
    with pytest.raises(MethodError) as ei:
        QCSettings.from_dict(d)
    assert ei.value.key == key
    assert key in str(ei.value)


def test_per_analyte_override():
    s = QCSettings.from_dict({"analytes": {"6-MMPN": {"rt_tolerance_pct": 5, "ion_ratio_tolerance_pct": 30}}})
    a = s.for_analyte("6-MMPN")
    assert a.rt_tolerance_pct == 5 and a.ion_ratio_tolerance_pct == 30 and a.qc_tolerance_pct == 15
    assert s.for_analyte("6-TGN") is s
