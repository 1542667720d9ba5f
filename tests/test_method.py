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


@pytest.mark.parametrize(
    "old,new,key,reason",
    [
        # a typo, or a unit the formula cannot use, must not be normalised as if it were nmol/L
        ('conc_unit = "nmol/L"', 'conc_unit = "mmol/L"', "method.conc_unit", "accepted: nmol/L"),
        ('conc_unit = "nmol/L"', 'conc_unit = "nmol/mL"', "method.conc_unit", "accepted: nmol/L"),
        ('conc_unit = "nmol/L"', 'conc_unit = "pmol"', "method.conc_unit", "calibrates a concentration"),
        # the formulas give pmol/8x10^8 RBC whatever reported_unit says
        ('reported_unit = "pmol/8x10^8 RBC"', 'reported_unit = "nmol/mmol Hb"', "method.reported_unit",
         "the normalisation gives pmol/8x10^8 RBC"),
        # a mass unit for an analyte whose molar mass is neither given nor known
        ('name = "6-TG"\nreports_as = "6-TGN"', 'name = "TG-X"\nreports_as = "TG-X"', "analytes[TG-X].molar_mass_g_mol",
         "is required to convert"),
    ],
)
def test_conc_unit_must_be_convertible(tmp_path, repo_root, old, new, key, reason):
    p = _broken(tmp_path, repo_root, old, new)
    if "TG-X" in new:  # mass unit, and neither the name nor a given molar mass identifies it
        text = p.read_text().replace('"6-TG" =', '"TG-X" =').replace('conc_unit = "nmol/L"', 'conc_unit = "ng/mL"')
        p.write_text(text.replace("molar_mass_g_mol = 167.19\n", "", 1))
    with pytest.raises(MethodError) as exc:
        load_method(p)
    msg = str(exc.value)
    assert str(p) in msg and key in msg and reason in msg


def test_fixed_cells_needs_an_amount(tmp_path, repo_root):
    text = (repo_root / "calibrations" / "thiopurines_hplcuv.toml").read_text()
    p = tmp_path / "m.toml"
    p.write_text(text.replace('conc_unit = "pmol"', 'conc_unit = "nmol/L"', 1))
    with pytest.raises(MethodError, match=r"method\.conc_unit.*amount per hydrolysed aliquot.*accepted: pmol"):
        load_method(p)
    p.write_text(text.replace('conc_unit = "pmol"', 'conc_unit = "nmol"', 1))
    m = load_method(p)
    assert [m.conc_factor(a) for a in m.analytes] == [1000.0, 1000.0]


def test_conc_factor_and_known_molar_masses(tmp_path, repo_root):
    m = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    assert [m.conc_factor(a) for a in m.analytes] == [1.0, 1.0]
    # ng/mL without molar_mass_g_mol: 6-TG and 6-MMP are known species (domain.md section 1)
    p = _broken(tmp_path, repo_root, 'conc_unit = "nmol/L"', 'conc_unit = "ng/mL"')
    p.write_text(p.read_text().replace("molar_mass_g_mol = 167.19\n", "").replace("molar_mass_g_mol = 166.20\n", ""))
    m = load_method(p)
    assert [a.molar_mass_g_mol for a in m.analytes] == [None, None]
    assert [m.conc_factor(a) for a in m.analytes] == pytest.approx([1000 / 167.19, 1000 / 166.20])
    # a given molar mass wins over the known one
    p.write_text(p.read_text().replace('reports_as = "6-TGN"', 'reports_as = "6-TGN"\nmolar_mass_g_mol = 200.0'))
    assert load_method(p).conc_factor(load_method(p).analytes[0]) == pytest.approx(5.0)


def test_normalisation_none_takes_any_label(tmp_path, repo_root):
    p = _broken(tmp_path, repo_root, 'mode = "rbc_count"', 'mode = "none"')
    text = p.read_text().replace('conc_unit = "nmol/L"', 'conc_unit = "area ratio units"')
    p.write_text(text.replace('reported_unit = "pmol/8x10^8 RBC"', 'reported_unit = "n/a"'))
    assert load_method(p).conc_unit == "area ratio units"


def test_unit_spellings_are_kept_as_written(tmp_path, repo_root):
    p = _broken(tmp_path, repo_root, 'conc_unit = "nmol/L"', 'conc_unit = "\u00b5mol/L"')
    p.write_text(p.read_text().replace('reported_unit = "pmol/8x10^8 RBC"', 'reported_unit = "pmol/8e8 RBC"'))
    m = load_method(p)
    assert (m.conc_unit, m.reported_unit) == ("\u00b5mol/L", "pmol/8e8 RBC")
    assert m.conc_factor(m.analytes[0]) == 1000.0


def test_molar_mass_of_a_compound():
    from thioquant.assay.method import ChannelSpec, Compound

    ch = ChannelSpec(wavelength_nm=303)
    assert Compound("6-MMP", ch, 10.2, 0.4, reports_as="6-MMPN").molar_mass() == 166.20
    assert Compound("X", ch, 10.2, 0.4, reports_as="X").molar_mass() is None
    # an AMTCI peak reported as 6-MMPN: which standard was weighed is for the method to say
    assert Compound("AMTCI", ch, 10.2, 0.4, reports_as="6-MMPN").molar_mass() is None
    assert Compound("AMTCI", ch, 10.2, 0.4, reports_as="6-MMPN", molar_mass_g_mol=166.2).molar_mass() == 166.2
