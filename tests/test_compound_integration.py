"""Integration settings per analyte (``[[analytes]] integration = {...}``) and the noise method."""

from __future__ import annotations

from dataclasses import replace

import pytest

from thioquant.assay.method import Integration, load_method, parse_method
from thioquant.errors import MethodError
from thioquant.pipeline import measure_injection


def _doc(method_integration=None, **analyte):
    d = {
        "method": {"name": "m", "technique": "hplc-uv"},
        "analytes": [{"name": "A", "channel": {"wavelength_nm": 254}, "rt_min": 2.0, **analyte}],
        "calibrators": {"C1": {"A": 1.0}, "C2": {"A": 2.0}},
    }
    if method_integration is not None:
        d["integration"] = method_integration
    return d


def test_compound_settings_override_the_method_and_inherit_the_rest():
    m = parse_method(_doc({"sn_min": 5.0, "noise_window": 5.0}, integration={"fused": "valley"}))
    assert m.integration == Integration(sn_min=5.0, noise_window=5.0)
    assert m.analytes[0].integration == Integration(sn_min=5.0, noise_window=5.0, fused="valley")
    assert parse_method(_doc()).analytes[0].integration is None  # the method's own, unchanged
    assert parse_method(_doc({"noise_method": "rms"})).integration.noise_method == "rms"


@pytest.mark.parametrize(("doc", "key"), [
    (_doc(integration={"fusd": "valley"}), r"analytes\[0\]\[A\]\.integration"),
    (_doc(integration={"fused": "sideways"}), r"analytes\[0\]\[A\]\.integration\.fused"),
    (_doc(integration="valley"), r"analytes\[0\]\[A\]\.integration"),
    (_doc({"noise_method": "peak"}), r"integration\.noise_method"),
])
def test_bad_compound_settings_name_their_key(doc, key):
    with pytest.raises(MethodError, match=key):
        parse_method(doc)


@pytest.fixture(scope="module")
def hplcuv(repo_root):
    return load_method(repo_root / "calibrations" / "thiopurines_hplcuv.toml")


def _fused_6mmp_injections(repo_root, m):
    raw = sorted((repo_root / "sample_data" / "hplcuv" / "raw").iterdir())
    out = []
    for f in raw:
        meas = measure_injection(f, m)
        p = meas.peaks.get("6-MMP")
        if p is not None and "FUSED" in p.flags:
            out.append((f, meas))
    return out


def test_a_fused_rule_for_one_analyte_only(repo_root, hplcuv):
    """In the bundled HPLC-UV batch 6-MMP shares a cluster with an endogenous peak in some
    injections (perpendicular drop by default); valley-to-valley for 6-MMP alone changes its areas
    there and leaves 6-TG's integration exactly as it was."""
    default = _fused_6mmp_injections(repo_root, hplcuv)
    assert len(default) >= 10 and {meas.peaks["6-MMP"].integration for _, meas in default} == {"drop"}
    mmp = next(a for a in hplcuv.analytes if a.name == "6-MMP")
    own = replace(mmp, integration=replace(hplcuv.integration, fused="valley"))
    m2 = replace(hplcuv, analytes=tuple(own if a.name == "6-MMP" else a for a in hplcuv.analytes))
    for f, before in default:
        after = measure_injection(f, m2)
        assert after.peaks["6-MMP"].integration == "valley"
        assert after.peaks["6-MMP"].area < before.peaks["6-MMP"].area  # the valley line sits higher
        assert after.peaks["6-TG"] == before.peaks["6-TG"]


def test_rms_noise_for_one_analyte(repo_root, hplcuv):
    tg = next(a for a in hplcuv.analytes if a.name == "6-TG")
    own = replace(tg, integration=replace(hplcuv.integration, noise_method="rms"))
    m2 = replace(hplcuv, analytes=tuple(own if a.name == "6-TG" else a for a in hplcuv.analytes))
    f = sorted((repo_root / "sample_data" / "hplcuv" / "raw").iterdir())[5]
    a, b = measure_injection(f, hplcuv).peaks["6-TG"], measure_injection(f, m2).peaks["6-TG"]
    assert a.area == b.area and a.rt_min == b.rt_min
    # USP 2H/h against H / RMS: for noise that is roughly Gaussian, h ~ 6 RMS, so S/N triples
    assert 1.5 < b.sn / a.sn < 6.0 and b.noise < a.noise
