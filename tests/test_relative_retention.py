"""Relative retention to the internal standard (method key ``rrt``) in the batch pipeline.

A run whose chromatogram shifts as a whole (a new column, a pump change) moves the analyte out of a
narrow fixed window; searched at ``rrt`` x the internal standard's measured retention time, it is
found where it is and quantified, and the run QC judges its relative retention time.
"""

from __future__ import annotations

import csv
import math
from dataclasses import replace

import pytest

from thioquant.assay.method import Compound, load_method, parse_method
from thioquant.errors import MethodError
from thioquant.measure import measure_injection
from thioquant.pipeline import quantify
from thioquant.simulate import Failures, simulate_batch

SHIFTED = ("P002", "P003")


def _method(repo_root, *, rrt: float | None, analyte_window: float = 0.08, is_window: float = 0.3):
    m = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    return replace(
        m,
        analytes=tuple(replace(a, window_min=analyte_window, rrt=rrt) for a in m.analytes),
        # a wide IS window takes the tallest peak in it, not a noise bump nearer the nominal RT
        internal_standards=tuple(replace(c, window_min=is_window, select="largest") for c in m.internal_standards),
    )


@pytest.fixture(scope="module")
def shifted_batch(tmp_path_factory, repo_root):
    """4 patients, two of them eluting 0.15 min late (analytes and internal standards alike)."""
    out = tmp_path_factory.mktemp("rrt") / "b"
    return simulate_batch(out, method=_method(repo_root, rrt=None), n_patients=4, seed=11,
                          failures=Failures(rt_shift_samples=SHIFTED, rt_shift_min=0.15))


def _nominal_rt(repo_root, analyte: str) -> float:
    return next(a.rt_min for a in _method(repo_root, rrt=None).analytes if a.name == analyte)


def _truth(batch):
    with open(batch / "truth.csv", newline="") as fh:
        return {(r["sample_id"], r["analyte"]): float(r["true_conc"]) for r in csv.DictReader(fh)}


def _rows(b, sample_id):
    return {r.analyte: r for r in b.results if r.sample_id == sample_id}


def test_fixed_window_misses_the_shifted_samples(shifted_batch, repo_root):
    b = quantify(shifted_batch, method=_method(repo_root, rrt=None))
    truth = _truth(shifted_batch)
    for sid in SHIFTED:  # both metabolites present, but reported as not detected
        for analyte, r in _rows(b, sid).items():
            # nothing found, or (on the measured noise) a blip of noise in the window instead of
            # the peak, under the LLOQ: no value either way
            assert truth[(sid, analyte)] > 0 and not math.isfinite(r.reported), (sid, analyte)
            assert {"NOT_DETECTED", "BELOW_LLOQ"} & set(r.flags), r.flags
            assert not math.isfinite(r.rt_min) or abs(r.rt_min - _nominal_rt(repo_root, analyte) - 0.15) > 0.05
    assert all(r.conc > 0 and "NOT_DETECTED" not in r.flags for r in _rows(b, "P004").values())


def test_relative_retention_finds_and_quantifies_them(shifted_batch, repo_root):
    b = quantify(shifted_batch, method=_method(repo_root, rrt=1.0))  # labelled IS co-elutes
    fixed = quantify(shifted_batch, method=_method(repo_root, rrt=None, analyte_window=0.3))
    for sid in SHIFTED:  # a window wide enough finds them too, but the absolute RT is off
        assert any("RT_SHIFT" in r.flags for r in _rows(fixed, sid).values())
    truth = _truth(shifted_batch)
    for sid in (*SHIFTED, "P004"):
        for analyte, r in _rows(b, sid).items():
            true = truth[(sid, analyte)]
            assert math.isfinite(r.conc) and abs(r.conc / true - 1) <= 0.10, (sid, analyte, r.conc, true)
            assert "RRT_NO_IS" not in r.flags
    # the run QC judges the relative retention (analyte / IS), which a whole-run shift keeps
    rt_rules = [o for o in b.qc_outcomes if o.rule == "rt"]
    assert rt_rules and all(o.passed and "relative retention time" in o.message for o in rt_rules)
    assert not any("RT_SHIFT" in r.flags for sid in (*SHIFTED, "P004") for r in _rows(b, sid).values())
    # the report draws the window where the analyte was searched, not at the method's rt_min
    from thioquant.report.chrom import collect_panels

    i = next(k for k, e in enumerate(b.worklist.entries) if e.sample_id == "P002")
    panel = next(p for p in collect_panels(b, entries=[i]) if p.analyte == "6-TG")
    is_rt = b.measurements[i].peaks["6-TG-IS"].rt_min
    assert panel.rt_expected == pytest.approx(is_rt) and abs(is_rt - 1.60) < 0.03


def test_without_the_internal_standard_peak_the_method_rt_is_used_and_flagged(shifted_batch, repo_root):
    m = _method(repo_root, rrt=1.0)
    gone = replace(m.internal_standards[0], channel=replace(m.internal_standards[0].channel, product_mz=999.0))
    m = replace(m, internal_standards=(gone, *m.internal_standards[1:]))
    raw = next(p for p in sorted((shifted_batch / "raw").iterdir()) if "P004" in p.name)
    meas = measure_injection(raw, m)
    tg = meas.peaks["6-TG"]
    assert meas.peaks[gone.name] is None and gone.name in meas.missing_traces
    assert tg is not None and "RRT_NO_IS" in tg.flags and abs(tg.rt_min - 1.45) < 0.05
    mmp = meas.peaks["6-MMP"]  # its own internal standard is there: searched relative to it
    assert mmp is not None and "RRT_NO_IS" not in mmp.flags


def test_expected_rt():
    from thioquant.assay.method import ChannelSpec

    c = Compound("x", ChannelSpec(wavelength_nm=254.0), rt_min=2.0, window_min=0.2, internal_standard="is", rrt=0.9)
    assert c.expected_rt(3.0) == pytest.approx(2.7)
    assert c.expected_rt(None) == 2.0 and c.expected_rt(math.nan) == 2.0
    assert replace(c, rrt=None).expected_rt(3.0) == 2.0


def _doc(**analyte):
    return {
        "method": {"name": "m", "technique": "hplc-uv"},
        "analytes": [{"name": "A", "channel": {"wavelength_nm": 254}, "rt_min": 2.0, **analyte}],
        "internal_standards": [{"name": "IS", "channel": {"wavelength_nm": 254}, "rt_min": 3.0}],
        "calibrators": {"C1": {"A": 1.0}, "C2": {"A": 2.0}},
    }


def test_method_file_checks():
    assert parse_method(_doc(internal_standard="IS", rrt=0.66)).analytes[0].rrt == 0.66
    with pytest.raises(MethodError, match=r"analytes\[A\]\.rrt.*internal_standard"):
        parse_method(_doc(rrt=0.66))
    with pytest.raises(MethodError, match=r"\[A\]\.rrt': must be > 0"):
        parse_method(_doc(internal_standard="IS", rrt=0))
    doc = _doc(internal_standard="IS")
    doc["internal_standards"][0]["rrt"] = 1.0
    with pytest.raises(MethodError, match=r"internal_standards\[IS\]\.rrt"):
        parse_method(doc)


def test_method_file_with_the_new_keys_through_the_cli(repo_root, tmp_path):
    """rrt, an analyte's own integration table and noise_source = "blank" written in TOML, run by
    ``thioquant quantify --method``: parsed, applied and reported."""
    from click.testing import CliRunner

    from thioquant.cli import cli

    text = (repo_root / "calibrations" / "thiopurines_lcmsms.toml").read_text(encoding="utf-8")
    text = text.replace('noise_window = 20.0', 'noise_window = 20.0\nnoise_source = "blank"', 1)
    text = text.replace("molar_mass_g_mol = 167.19",
                        'molar_mass_g_mol = 167.19\nrrt = 1.0\nintegration = { fused = "valley", sn_min = 5.0 }', 1)
    method = tmp_path / "variant.toml"
    method.write_text(text, encoding="utf-8")
    m = load_method(method)
    tg = m.compound("6-TG")
    assert tg.rrt == 1.0 and tg.integration.fused == "valley" and tg.integration.sn_min == 5.0
    assert tg.integration.noise_source == "blank"  # inherited from [integration]
    out = tmp_path / "out"
    res = CliRunner().invoke(cli, ["quantify", str(repo_root / "sample_data" / "lcmsms"), "--method", str(method),
                                   "--out", str(out), "--no-report", "--no-cache", "--no-history", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "S/N noise of 6-TG, 6-TG qualifier, 6-MMP, 6-MMP qualifier, 6-TG-IS, 6-MMP-IS measured in blank BLANK-1" in (out / "messages.txt").read_text()
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(r["analyte"] == "6-TG" and r["reported"] not in ("", "nan") for r in rows) >= 20
    assert not any("RRT_NO_IS" in r["flags"] for r in rows if r["sample_type"] != "blank")
