"""The worklist dilution factor has a plausible range (method normalisation.dilution_min/_max,
default 1-100); outside it the row is BAD_DILUTION and never quantified or interpreted."""

from __future__ import annotations

import math
import shutil

import pytest

from thioquant.assay.method import load_method
from thioquant.assay.worklist import DILUTION_RANGE, read_worklist
from thioquant.errors import MethodError
from thioquant.pipeline import quantify

HEADER = "sample_id,file,sample_type,level,rbc_count,dilution\n"


def _worklist(tmp_path, dilutions):
    p = tmp_path / "worklist.csv"
    rows = "".join(f"P{i},raw/p{i}.mzML,unknown,,4.5,{d}\n" for i, d in enumerate(dilutions, start=1))
    p.write_text(HEADER + rows)
    return p


def _flags(wl):
    return {e.sample_id: e.flags for e in wl.entries}


def test_default_range(tmp_path):
    assert DILUTION_RANGE == (1.0, 100.0)
    p = _worklist(tmp_path, ["", "1", "4", "100", "100.5", "1000000", "0.5", "\"0,1\""])
    wl = read_worklist(p)
    flags = _flags(wl)
    for sid in ("P1", "P2", "P3", "P4"):
        assert flags[sid] == (), sid
    assert [e.dilution for e in wl.entries[:4]] == [1.0, 1.0, 4.0, 100.0]
    for sid in ("P5", "P6", "P7", "P8"):
        assert flags[sid] == ("BAD_DILUTION",), sid
    assert not any(e.usable for e in wl.entries[4:])
    msgs = {i.sample_id: i.message for i in wl.issues}
    assert msgs["P6"] == (f"{p}: row 7 (P6): dilution 1000000 is above the plausible maximum 100 (method "
                          "normalisation.dilution_max); the row is not used")
    assert msgs["P5"].startswith(f"{p}: row 6 (P5): dilution 100.5 is above")
    # a factor below 1 concentrates: most often "1:10" written inverted
    assert msgs["P7"].startswith(f"{p}: row 8 (P7): dilution 0.5 is below the plausible minimum 1")
    assert "write 1:10 as 10, not 0.1" in msgs["P8"] and "dilution 0,1 is below" in msgs["P8"]


def test_range_from_caller(tmp_path):
    p = _worklist(tmp_path, ["0.5", "500", "0.4", "1001"])
    flags = _flags(read_worklist(p, dilution_range=(0.5, 1000.0)))
    assert flags == {"P1": (), "P2": (), "P3": ("BAD_DILUTION",), "P4": ("BAD_DILUTION",)}


def _method(tmp_path, repo_root, extra):
    text = (repo_root / "calibrations" / "thiopurines_lcmsms.toml").read_text()
    old = "rbc_cv_pct = 3.0"
    assert old in text
    p = tmp_path / "m.toml"
    p.write_text(text.replace(old, old + "\n" + extra, 1))
    return p


def test_method_keys(tmp_path, repo_root):
    m = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    assert (m.normalisation.dilution_min, m.normalisation.dilution_max) == DILUTION_RANGE
    m = load_method(_method(tmp_path, repo_root, "dilution_min = 0.5\ndilution_max = 1000"))
    assert (m.normalisation.dilution_min, m.normalisation.dilution_max) == (0.5, 1000.0)


@pytest.mark.parametrize(
    "extra,key,reason",
    [
        ("dilution_min = 0", "normalisation.dilution_min", "must be > 0"),
        ("dilution_min = 2", "normalisation.dilution_min", "must be <= 1"),  # 1 (no dilution) stays plausible
        ("dilution_max = 0.5", "normalisation.dilution_max", "must be >= 1"),
        ('dilution_max = "100"', "normalisation.dilution_max", "finite number"),
        ("dilution_maximum = 100", "normalisation.dilution_maximum", "unknown setting"),
    ],
)
def test_bad_method_keys(tmp_path, repo_root, extra, key, reason):
    p = _method(tmp_path, repo_root, extra)
    with pytest.raises(MethodError) as ei:
        load_method(p)
    assert ei.value.key == key and reason in ei.value.reason and ei.value.path == str(p)


def _batch(tmp_path, repo_root, dilutions):
    """A copy of the bundled LC-MS/MS batch with the ``dilution`` of some patient rows replaced."""
    batch = tmp_path / "lcmsms"
    shutil.copytree(repo_root / "sample_data" / "lcmsms", batch,  # not what a user's run left there
                    ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite*", "qc_history.sqlite*"))
    wl = batch / "worklist.csv"
    lines = wl.read_text().splitlines(keepends=True)
    col = lines[0].rstrip("\n").split(",").index("dilution")
    for i, line in enumerate(lines):
        values = line.rstrip("\n").split(",")
        if values[1] in dilutions:
            values[col] = dilutions[values[1]]
            lines[i] = ",".join(values) + "\n"
    wl.write_text("".join(lines))
    return batch


def test_pipeline_flags_implausible_dilution(tmp_path, repo_root):
    batch = _batch(tmp_path, repo_root, {"P001": "1000000", "P002": "0.1", "P003": "100"})
    b = quantify(batch, method=repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    by = {(r.sample_id, r.analyte): r for r in b.results}
    for sid in ("P001", "P002"):
        for analyte in ("6-TG", "6-MMP"):
            r = by[(sid, analyte)]
            # (P001's undetectable traces fail the ion ratio in the bundled batch itself)
            assert r.flags[0] == "BAD_DILUTION" and set(r.flags) <= {"BAD_DILUTION", "ION_RATIO"}
            assert math.isnan(r.conc) and math.isnan(r.reported)
        (interp,) = [i for i in b.interpretations if i["sample_id"] == sid]
        assert interp["category"] == "not_interpretable" and interp["tgn_pmol_8e8"] == ""
    assert "row 16 (P001): dilution 1000000 is above the plausible maximum 100" in "\n".join(b.messages)
    assert "row 17 (P002): dilution 0.1 is below the plausible minimum 1" in "\n".join(b.messages)
    # 100 is inside the default range: quantified as before, with the factor applied
    assert "BAD_DILUTION" not in by[("P003", "6-TG")].flags and math.isfinite(by[("P003", "6-TG")].conc)


def test_pipeline_uses_method_dilution_range(tmp_path, repo_root):
    method = _method(tmp_path, repo_root, "dilution_max = 1000")
    batch = _batch(tmp_path, repo_root, {"P001": "500"})
    b = quantify(batch, method=method)
    assert all("BAD_DILUTION" not in r.flags for r in b.results if r.sample_id == "P001")
