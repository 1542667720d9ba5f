"""Method files are validated on load; every problem names the file and key."""

from __future__ import annotations

import pytest

from thioquant.assay.method import find_method_file, load_method
from thioquant.errors import MethodError


@pytest.mark.parametrize("name", ["thiopurines_lcmsms", "thiopurines_hplcuv"])
def test_shipped_methods_load(repo_root, name):
    m = load_method(find_method_file(name, start=repo_root / "sample_data"))
    assert [a.name for a in m.analytes] == ["6-TG", "6-MMP"]
    assert len(m.calibrators) >= 6 and {"QCL", "QCM", "QCH"} <= set(m.qcs)
    assert len(m.sha256) == 64


def _broken(tmp_path, repo_root, old, new):
    text = (repo_root / "calibrations" / "thiopurines_lcmsms.toml").read_text()
    assert old in text
    p = tmp_path / "m.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(
    "old,new,key,reason",
    [
        ('weighting = "1/x^2"', 'weighting = "1/x3"', "calibration.weighting", "must be one of"),
        ("sn_min = 3.0", "sn_mn = 3.0", "integration.sn_mn", "unknown setting"),
        ("rt_min = 1.45", "rt_min = -1.45", "rt_min", "must be >"),
        ('internal_standard = "6-TG-IS"', 'internal_standard = "6TG-IS"', "internal_standard", "is not an"),
        ('"6-TG" = 100.0', '"6TG" = 100.0', "calibrators.CAL1.6TG", "not an analyte"),
        ("rbc_max = 8.0", "rbc_max = 0.5", "normalisation.rbc_max", "greater than rbc_min"),
        ('mode = "rbc_count"', 'mode = "fixed_cells"', "aliquot_volume_ul", "required"),
        ("[method]", "[methd]", "methd", "unknown setting"),
    ],
)
def test_bad_method_names_file_and_key(tmp_path, repo_root, old, new, key, reason):
    p = _broken(tmp_path, repo_root, old, new)
    with pytest.raises(MethodError) as exc:
        load_method(p)
    msg = str(exc.value)
    assert str(p) in msg and key in msg and reason in msg


def test_invalid_toml_and_missing_file(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("[method\nname=1")
    with pytest.raises(MethodError, match="invalid TOML"):
        load_method(p)
    with pytest.raises(MethodError, match="not found"):
        find_method_file("no_such_method", start=tmp_path)
