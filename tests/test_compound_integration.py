"""Integration settings per analyte (``[[analytes]] integration = {...}``) and the noise method."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from thioquant.assay.method import Integration, load_method, parse_method
from thioquant.errors import MethodError
from thioquant.measure import measure_injection


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


# --- noise from the blank injection ---------------------------------------------------------


def _blank_noise_method(repo_root, **extra):
    m = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    return replace(m, integration=replace(m.integration, noise_source="blank", **extra))


def test_noise_source_is_a_method_key():
    assert parse_method(_doc({"noise_source": "blank"})).integration.noise_source == "blank"
    with pytest.raises(MethodError, match=r"integration\.noise_source"):
        parse_method(_doc({"noise_source": "baseline"}))


def test_sn_against_the_blank_injection(repo_root):
    """Every injection's peak takes its noise in the first blank, over the USP window (noise_window
    half-height widths) around its own retention time; areas do not change."""
    from thioquant.io import read_run
    from thioquant.measurement import trace_for as _trace_for
    from thioquant.peaks.core import window_noise
    from thioquant.pipeline import quantify

    batch = repo_root / "sample_data" / "lcmsms"
    m = _blank_noise_method(repo_root)
    b = quantify(batch, method=m)
    blank = next(e for e in b.worklist.entries if e.sample_type == "blank")
    run = read_run(batch / blank.file)
    checked = 0
    channels = [(c, q) for c in m.analytes + m.internal_standards for q in (False, True)
                if not (q and c.qualifier is None)]
    for comp, qual in channels:
        bt = _trace_for(run, comp, qualifier=qual)
        for meas in b.measurements:
            p = meas.peaks.get(f"{comp.name} qualifier" if qual else comp.name)
            if p is None or not math.isfinite(p.width_50_min):
                continue  # (a blip without a half-height width: the engine's window is the region's)
            h = window_noise(bt.time_min, bt.signal, p.rt_min, m.integration.noise_window * p.width_50_min,
                             min_points=3)
            assert p.noise == pytest.approx(h, rel=1e-12) and p.sn == pytest.approx(2 * p.height / h)
            checked += 1
    assert checked >= 200  # quantifiers, qualifiers and internal standards
    assert any(msg.startswith("S/N noise of 6-TG, 6-TG qualifier, 6-MMP, 6-MMP qualifier, 6-TG-IS, 6-MMP-IS measured in blank "
                              f"{blank.sample_id}") for msg in b.messages)
    d = quantify(batch)  # noise in each injection: other S/N values, the same areas
    # ... of every peak that is one: in a blank the S/N threshold itself picks among noise blips,
    # so the noise it is measured against may pick another (BLANK-2 on the bundled batch)
    kinds = {Path(e.file).name: e.sample_type for e in b.worklist.entries}
    both = [(x.peaks["6-TG"], y.peaks["6-TG"]) for x, y in zip(d.measurements, b.measurements, strict=True)
            if x.peaks.get("6-TG") and y.peaks.get("6-TG") and kinds[Path(x.file).name] != "blank"]
    assert len(both) >= 30
    assert all(x.area == y.area for x, y in both) and any(x.sn != y.sn for x, y in both)


def test_blank_noise_reaches_the_cache_key(repo_root, tmp_path):
    from thioquant.pipeline import quantify

    cache = tmp_path / "cache.sqlite"
    batch = repo_root / "sample_data" / "lcmsms"
    a = quantify(batch, cache=cache)
    b = quantify(batch, method=_blank_noise_method(repo_root), cache=cache)
    assert any("0 reused" in msg for msg in b.messages)  # not the per-injection-noise entries
    assert [r.sn for r in a.results] != [r.sn for r in b.results]
    c = quantify(batch, method=_blank_noise_method(repo_root), cache=cache)
    assert any("reused, 0 measured" in msg for msg in c.messages)
    assert [r.sn for r in c.results] == [r.sn for r in b.results]


def test_without_a_blank_the_noise_is_measured_in_each_injection(repo_root, tmp_path):
    import shutil

    from thioquant.pipeline import quantify

    src = repo_root / "sample_data" / "lcmsms"
    batch = tmp_path / "noblank"
    shutil.copytree(src, batch, ignore=shutil.ignore_patterns("results*", ".thioquant*"))
    lines = (batch / "worklist.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (batch / "worklist.csv").write_text("".join(row for row in lines if ",blank," not in row), encoding="utf-8")
    b = quantify(batch, method=_blank_noise_method(repo_root))
    assert any("no readable blank injection" in msg for msg in b.messages)
    d = quantify(batch)
    assert [r.sn for r in b.results] == [r.sn for r in d.results]


def test_baseline_window_is_a_method_key_and_reaches_the_engine(repo_root):
    assert parse_method(_doc()).integration.baseline_window == 10.0
    assert parse_method(_doc(integration={"baseline_window": 20})).analytes[0].integration.baseline_window == 20
    with pytest.raises(MethodError, match=r"integration\.baseline_window"):
        parse_method(_doc({"baseline_window": 1}))
    m = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    narrow = replace(m, integration=replace(m.integration, baseline_window=2.0))
    f = sorted((repo_root / "sample_data" / "lcmsms" / "raw").iterdir())[10]
    a, b = measure_injection(f, m).peaks, measure_injection(f, narrow).peaks
    assert any(a[k].area != b[k].area for k in a if a[k] is not None and b[k] is not None)


def test_every_integration_setting_reaches_the_peak_engine():
    from thioquant.peaks import make_settings

    s = Integration(sn_min=7.0, baseline_window=25.0, noise_method="rms", noise_source="blank").peak_settings()
    assert "noise_source" not in s  # the pipeline's choice of noise, not an engine setting
    cfg = make_settings(**s)  # a field the engine does not know would raise here
    assert (cfg.sn_min, cfg.baseline_window, cfg.noise_method) == (7.0, 25.0, "rms")
