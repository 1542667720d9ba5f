"""QC level placement (ICH M10) is checked when a method loads: misplaced levels become
``Method.warnings`` naming file and key; the method still loads."""

from __future__ import annotations

import pytest

from thioquant.assay.method import load_method

LCMSMS_QCS = '''[qcs.QC-LLOQ]
"6-TG" = 100.0
"6-MMP" = 500.0
[qcs.QCL]
"6-TG" = 250.0
"6-MMP" = 1250.0
[qcs.QCM]
"6-TG" = 4000.0
"6-MMP" = 40000.0
[qcs.QCH]
"6-TG" = 8000.0
"6-MMP" = 80000.0
'''


def _method_text(repo_root, name="thiopurines_lcmsms"):
    return (repo_root / "calibrations" / f"{name}.toml").read_text()


def _with_qcs(tmp_path, repo_root, qcs):
    """The bundled LC-MS/MS method with its [qcs] tables replaced by ``qcs``."""
    text = _method_text(repo_root)
    assert LCMSMS_QCS in text
    p = tmp_path / "m.toml"
    p.write_text(text.replace(LCMSMS_QCS, qcs))
    return p


def _altered(tmp_path, repo_root, old, new, name="thiopurines_lcmsms"):
    text = _method_text(repo_root, name)
    assert old in text
    p = tmp_path / "m.toml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize("name", ["thiopurines_lcmsms", "thiopurines_hplcuv"])
def test_bundled_methods_load_silently(repo_root, name):
    assert load_method(repo_root / "calibrations" / f"{name}.toml").warnings == ()


def test_levels_classified_by_nominal_not_name(tmp_path, repo_root):
    # free names, shuffled order: placement comes from the nominal values alone
    qcs = LCMSMS_QCS.replace("QC-LLOQ", "A").replace("QCL", "LQC").replace("QCM", "B").replace("QCH", "hi")
    assert load_method(_with_qcs(tmp_path, repo_root, qcs)).warnings == ()


def test_band_edges_are_inside(tmp_path, repo_root):
    # 6-TG: LLOQ 100, ULOQ 10000. Low at exactly 3x LLOQ, mid at exactly 30 % and 50 % of the
    # span (100 + 0.3 x 9900 = 3070, 100 + 0.5 x 9900 = 5050), high at exactly 75 % of the ULOQ
    # and at the ULOQ itself.
    qcs = ('[qcs.L]\n"6-TG" = 300.0\n[qcs.M1]\n"6-TG" = 3070.0\n[qcs.M2]\n"6-TG" = 5050.0\n'
           '[qcs.H1]\n"6-TG" = 7500.0\n[qcs.H2]\n"6-TG" = 10000.0\n'
           '[qcs.X]\n"6-MMP" = 1250.0\n[qcs.Y]\n"6-MMP" = 40000.0\n[qcs.Z]\n"6-MMP" = 80000.0\n')
    assert load_method(_with_qcs(tmp_path, repo_root, qcs)).warnings == ()


@pytest.mark.parametrize(
    "old,new,key,phrases",
    [
        # low QC above 3x LLOQ (400 > 300) and below the mid band: no low QC left
        ('[qcs.QCL]\n"6-TG" = 250.0', '[qcs.QCL]\n"6-TG" = 400.0', "qcs.QCL.6-TG",
         ["6-TG QC nominal 400 nmol/L is in no ICH M10 QC band", "6-TG: no low QC"]),
        # mid QC at 60 % of the range
        ('[qcs.QCM]\n"6-TG" = 4000.0', '[qcs.QCM]\n"6-TG" = 6000.0', "qcs.QCM.6-TG",
         ["in no ICH M10 QC band", "mid: 30%-50% of the range, 3070-5050 nmol/L", "6-TG: no mid QC"]),
        # mid QC low in the range (20 %): still no band
        ('"6-MMP" = 40000.0', '"6-MMP" = 20000.0', "qcs.QCM.6-MMP", ["6-MMP: no mid QC"]),
        # high QC at 70 % of the ULOQ
        ('[qcs.QCH]\n"6-TG" = 8000.0', '[qcs.QCH]\n"6-TG" = 7000.0', "qcs.QCH.6-TG",
         ["in no ICH M10 QC band", "6-TG: no high QC (>= 75% of the ULOQ, 7500-10000 nmol/L)"]),
        # high QC above the ULOQ
        ('[qcs.QCH]\n"6-TG" = 8000.0', '[qcs.QCH]\n"6-TG" = 12000.0', "qcs.QCH.6-TG",
         ["is above the ULOQ (10000)", "6-TG: no high QC"]),
        # low QC below the LLOQ
        ('[qcs.QCL]\n"6-TG" = 250.0', '[qcs.QCL]\n"6-TG" = 50.0', "qcs.QCL.6-TG",
         ["is below the LLOQ (100)", "6-TG: no low QC"]),
        # a level calling itself the LLOQ QC that is not at the LLOQ
        ('[qcs.QC-LLOQ]\n"6-TG" = 100.0', '[qcs.QC-LLOQ]\n"6-TG" = 110.0', "qcs.QC-LLOQ.6-TG",
         ["is named as an LLOQ QC but is not at the LLOQ (100)"]),
        # the LLOQ calibrator raised: the LLOQ QC now sits below it, the low QC within 3x LLOQ still
        ('[calibrators.CAL1]\n"6-TG" = 100.0', '[calibrators.CAL1]\n"6-TG" = 150.0', "qcs.QC-LLOQ.6-TG",
         ["is below the LLOQ (150)"]),
    ],
)
def test_misplaced_qc_is_a_warning_naming_file_and_key(tmp_path, repo_root, old, new, key, phrases):
    p = _altered(tmp_path, repo_root, old, new)
    m = load_method(p)  # loads: a misplaced QC is not refused
    text = "\n".join(m.warnings)
    assert f"{p}: key '{key}'" in text
    for phrase in phrases:
        assert phrase in text
    # the other analyte's placement is untouched
    other = "6-MMP" if key.endswith("6-TG") else "6-TG"
    assert not any(f".{other}'" in w or f"'qcs': {other}:" in w for w in m.warnings)


def test_hplcuv_amounts(tmp_path, repo_root):
    # fixed_cells method in pmol: 6-MMP range 150-30000; a high QC at 15000 pmol is 50 %
    p = _altered(tmp_path, repo_root, '"6-MMP" = 24000.0', '"6-MMP" = 15000.0', "thiopurines_hplcuv")
    m = load_method(p)
    assert m.warnings and all("6-MMP" in w for w in m.warnings)
    assert any("6-MMP: no high QC (>= 75% of the ULOQ, 22500-30000 pmol)" in w for w in m.warnings)


def test_analyte_without_qc_and_method_without_qcs(tmp_path, repo_root):
    only_tg = '\n'.join(line for line in LCMSMS_QCS.splitlines() if "6-MMP" not in line) + "\n"
    m = load_method(_with_qcs(tmp_path, repo_root, only_tg))
    assert len(m.warnings) == 1
    assert "key 'qcs': 6-MMP: no low QC" in m.warnings[0] and "no mid QC" in m.warnings[0]

    m = load_method(_with_qcs(tmp_path, repo_root, ""))
    assert len(m.warnings) == 1 and "key 'qcs': no QC levels" in m.warnings[0]


def test_warnings_do_not_change_the_method(tmp_path, repo_root):
    base = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    m = load_method(_altered(tmp_path, repo_root, '[qcs.QCM]\n"6-TG" = 4000.0', '[qcs.QCM]\n"6-TG" = 6000.0'))
    assert m.warnings
    assert m.qcs["QCM"]["6-TG"] == 6000.0 and m.calibrators == base.calibrators



def test_qc_placement_warnings_reach_the_batch_messages(tmp_path, repo_root, sample_batch):
    from thioquant.pipeline import quantify

    batch = sample_batch()
    p = _altered(tmp_path, repo_root, '[qcs.QCH]\n"6-TG" = 8000.0', '[qcs.QCH]\n"6-TG" = 7000.0')
    m = load_method(p)
    b = quantify(batch, method=m, jobs=1, cache=None)
    assert m.warnings and all(w in b.messages for w in m.warnings)
    assert any("6-TG: no high QC" in msg for msg in b.messages)
