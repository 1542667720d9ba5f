"""Clinical interpretation: profiles, the pattern table, clinical context, rows and CLI."""

from __future__ import annotations

import csv
import json
import math
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from thioquant import flags
from thioquant.assay import interpret as it
from thioquant.assay.normalise import per_8e8_rbc
from thioquant.cli import cli
from thioquant.errors import InputError, MethodError
from thioquant.model import Result

# --- worked example ---------------------------------------------------------------------------


def test_worked_example_flagged():
    tgn, mmp = per_8e8_rbc(1600, 4.5), per_8e8_rbc(30_000, 4.5)
    res = it.interpret(tgn, mmp)
    assert round(res.tgn) == 284 and round(res.mmp) == 5333
    assert it.format_ratio(res.ratio) == "18.8"
    assert res.category == "therapeutic"
    assert it.FLAG_RATIO_HIGH in res.flags
    assert "18.8" in res.comment and "preferential methylation" in res.comment


def test_worked_example_with_rounded_inputs():
    res = it.interpret(284, 5333)
    assert it.format_ratio(res.ratio) == "18.8"
    assert res.category == "therapeutic" and "RATIO_HIGH" in res.flags


# --- every cell of the pattern table ----------------------------------------------------------

PATTERNS = [
    # tgn, mmp, tgn_detected, mmp_detected, category
    (None, None, False, False, "non_adherence"),
    (150, 1500, True, True, "subtherapeutic"),  # ratio 10
    (150, 6000, True, True, "preferential_methylation"),
    (150, 2000, True, True, "preferential_methylation"),  # ratio 13.3 > 11, 6-MMP normal
    (300, 3000, True, True, "therapeutic"),
    (300, 6000, True, True, "hepatotoxicity_risk"),
    (500, 6000, True, True, "supratherapeutic"),
    (500, 3000, True, True, "myelotoxicity_risk"),
    (1200, None, True, False, "tpmt_deficiency"),
]


@pytest.mark.parametrize(("tgn", "mmp", "td", "md", "category"), PATTERNS)
def test_pattern_table(tgn, mmp, td, md, category):
    res = it.interpret(tgn, mmp, tgn_detected=td, mmp_detected=md)
    assert res.category == category
    assert res.comment
    assert it.CATEGORIES[category]


def test_comments_are_decision_support():
    seen = set()
    for tgn, mmp, td, md, _ in PATTERNS:
        res = it.interpret(tgn, mmp, tgn_detected=td, mmp_detected=md)
        seen.add(res.comment)
        text = res.comment.lower()
        assert any(w in text for w in ("consider", "consistent", "associated", "may"))
        for imperative in ("stop ", "increase the dose", "reduce the dose", "must", "you should"):
            assert imperative not in text
    assert len(seen) == 8


def test_pattern_comments_content():
    c = {cat: it.interpret(t, m, tgn_detected=td, mmp_detected=md).comment for t, m, td, md, cat in PATTERNS}
    assert "non-adherence" in c["non_adherence"] and "malabsorption" in c["non_adherence"]
    assert "dose increase" in c["subtherapeutic"]
    assert "allopurinol" in c["preferential_methylation"] and "25-33 %" in c["preferential_methylation"]
    assert "refractory" in c["therapeutic"]
    assert "dose reduction" in c["hepatotoxicity_risk"]
    assert "supratherapeutic" in c["supratherapeutic"]
    assert "blood count" in c["myelotoxicity_risk"] and "TPMT" in c["myelotoxicity_risk"]
    assert "urgent" in c["tpmt_deficiency"]


@pytest.mark.parametrize(
    ("tgn", "mmp", "category"),
    [
        (234.9, 1000, "subtherapeutic"),
        (235.0, 1000, "therapeutic"),
        (450.0, 1000, "therapeutic"),
        (450.1, 1000, "myelotoxicity_risk"),
        (300.0, 3300.0, "therapeutic"),  # 5700 limit not reached, ratio exactly 11
        (400.0, 5700.0, "therapeutic"),  # 5700 itself is within normal
        (400.0, 5700.1, "hepatotoxicity_risk"),
        (450.0, 5700.0, "therapeutic"),
        (450.1, 5700.0, "myelotoxicity_risk"),
        (450.1, 5700.1, "supratherapeutic"),
        (234.9, 5700.0, "preferential_methylation"),  # ratio 24.3 > 11
        (200.0, 2200.0, "subtherapeutic"),  # ratio exactly 11 is not > 11
        (200.0, 2200.2, "preferential_methylation"),  # ratio 11.001
        (1000.0, None, "myelotoxicity_risk"),  # > 1000 needed for the TPMT pattern
        (1000.1, None, "tpmt_deficiency"),
    ],
)
def test_boundaries(tgn, mmp, category):
    res = it.interpret(tgn, mmp, mmp_detected=mmp is not None)
    assert res.category == category


def test_ratio_exactly_11_not_flagged():
    res = it.interpret(300.0, 3300.0)
    assert res.ratio == pytest.approx(11.0)
    assert "RATIO_HIGH" not in res.flags
    res = it.interpret(300.0, 3301.0)
    assert "RATIO_HIGH" in res.flags


def test_boundary_floating_point_noise_absorbed():
    # 450 computed through normalisation is still within range
    tgn = per_8e8_rbc(450 * 4.5 / 0.8, 4.5)
    assert it.interpret(tgn, 1000).category == "therapeutic"


def test_mmp_5700_itself_normal_flags():
    assert "MMP_HIGH" not in it.interpret(300, 5700).flags
    assert "MMP_HIGH" in it.interpret(300, 5700.1).flags


def test_undetectable_tgn_with_detected_mmp():
    # issue 19 item 2: undetectable 6-TGN bounds the ratio from below (3000 / 235 > 11)
    res = it.interpret(None, 3000)
    assert res.category == "preferential_methylation" and res.ratio is None
    assert res.ratio_low == pytest.approx(3000 / 235) and "RATIO_HIGH" in res.flags
    res = it.interpret(None, 1000)
    assert res.category == "subtherapeutic" and "dose increase is not suggested" in res.comment
    assert it.interpret(None, 6000).category == "preferential_methylation"
    # detected flag False overrides a numeric value (e.g. the LLOQ)
    assert it.interpret(5.0, 8.0, tgn_detected=False, mmp_detected=False).category == "non_adherence"


def test_undetectable_mmp_with_moderate_tgn():
    res = it.interpret(300, None)
    assert res.category == "therapeutic"
    assert res.ratio is None and not res.mmp_detected


def test_nan_means_not_available():
    res = it.interpret(math.nan, 3000)
    assert res.category == "not_interpretable"
    assert "NOT_INTERPRETED" in res.flags


def test_negative_value_rejected():
    with pytest.raises(InputError):
        it.interpret(-1, 100)
    with pytest.raises(InputError):
        it.interpret("abc", 100)


def test_flags_registered():
    res = it.interpret(600, 6000)  # ratio 10
    assert set(res.flags) == {"TGN_HIGH", "MMP_HIGH"}
    assert set(it.interpret(500, 6000).flags) == {"TGN_HIGH", "MMP_HIGH", "RATIO_HIGH"}
    for code in res.flags:
        assert code in flags.FLAGS
    assert it.interpret(None, None, tgn_detected=False, mmp_detected=False).flags == ("BOTH_UNDETECTABLE",)


# --- profiles ---------------------------------------------------------------------------------


def test_shipped_profiles():
    assert it.list_profiles() == ["aga2017", "default", "prometheus", "ratio20"]
    p = it.load_profile()
    assert (p.tgn_low, p.tgn_high, p.mmp_high, p.ratio_high) == (235, 450, 5700, 11)
    assert p.sources and p.method_families == ("dervieux", "lcmsms")


def test_profile_prometheus_230_400_and_mmp_5700_raised():
    p = it.load_profile("prometheus")
    assert (p.tgn_low, p.tgn_high) == (230, 400)
    assert it.interpret(229.9, 1000, profile=p).category == "subtherapeutic"
    assert it.interpret(230, 1000, profile=p).category == "therapeutic"
    assert it.interpret(400, 1000, profile=p).category == "therapeutic"
    assert it.interpret(400.1, 1000, profile=p).category == "myelotoxicity_risk"
    assert it.interpret(300, 5699.9, profile=p).category == "therapeutic"
    assert it.interpret(300, 5700, profile=p).category == "hepatotoxicity_risk"


def test_profile_aga2017_230_450():
    p = it.load_profile("aga2017")
    assert (p.tgn_low, p.tgn_high, p.mmp_high) == (230, 450, 5700)
    assert it.interpret(232, 1000, profile="aga2017").category == "therapeutic"
    assert it.interpret(232, 1000).category == "subtherapeutic"
    assert it.interpret(450.1, 1000, profile="aga2017").category == "myelotoxicity_risk"


def test_profile_ratio20():
    p = it.load_profile("ratio20")
    assert p.ratio_high == 20 and p.tgn_low == 235
    assert it.interpret(200, 3000, profile=p).category == "subtherapeutic"  # ratio 15
    assert it.interpret(200, 3000).category == "preferential_methylation"
    assert it.interpret(200, 4000, profile=p).category == "subtherapeutic"  # ratio exactly 20
    assert it.interpret(200, 4001, profile=p).category == "preferential_methylation"
    assert "RATIO_HIGH" not in it.interpret(284, 5333, profile=p).flags


def test_profile_from_path_extends(tmp_path):
    f = tmp_path / "mylab.toml"
    f.write_text(
        '[profile]\nname = "mylab"\nextends = "default"\n[tgn]\nlow = 250.0\n'
        '[comments]\ntherapeutic = "Within {tgn_low:g}-{tgn_high:g} (lab {profile})."\n'
    )
    p = it.load_profile(f)
    assert p.name == "mylab" and p.tgn_low == 250 and p.tgn_high == 450 and p.mmp_high == 5700
    res = it.interpret(300, 1000, profile=str(f))
    assert res.comment == "Within 250-450 (lab mylab)." and res.profile == "mylab"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[profile]\nname = "x"\n[tgn]\nlow = "abc"\n', "tgn.low"),
        ('[profile]\nname = "x"\n[tgn]\nlow = 500.0\n', "tgn.high"),
        ('[profile]\nname = "x"\n[tgn]\nlwo = 200.0\n', "tgn.lwo"),
        ('[profile]\nname = "x"\n[mmp]\nhigh = -5.0\n', "mmp.high"),
        ('[profile]\nname = "x"\n[mmp]\nhigh_includes_limit = "yes"\n', "mmp.high_includes_limit"),
        ('[profile]\nname = "x"\n[dose.normal_mg_kg_day]\naspirin = [1.0, 2.0]\n', "dose.normal_mg_kg_day.aspirin"),
        ('[profile]\nname = "x"\n[dose]\nintermediate_fraction = [0.8, 0.3]\n', "dose.intermediate_fraction"),
        ('[profile]\nname = "x"\n[comments]\ntherapeutic = "{nope}"\n', "comments.therapeutic"),
        ('[profile]\nname = "x"\nmethod_families = ["magic"]\n', "profile.method_families"),
        ('[profile]\nname = "x"\n[extra]\na = 1\n', "extra"),
        ("[tgn]\nlow = 200.0\n", "profile.name"),
    ],
)
def test_bad_profile_names_key(tmp_path, text, key):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(MethodError) as exc:
        it.load_profile(f)
    assert exc.value.key == key
    assert str(f) in str(exc.value)


def test_bad_profile_toml_and_missing(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[profile\n")
    with pytest.raises(MethodError, match="invalid TOML"):
        it.load_profile(f)
    with pytest.raises(MethodError, match="cannot read"):
        it.load_profile(tmp_path / "absent.toml")
    with pytest.raises(MethodError, match="available: aga2017"):
        it.load_profile("nonexistent")


def test_circular_extends(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('[profile]\nname = "a"\nextends = "b.toml"\n')
    b.write_text('[profile]\nname = "b"\nextends = "a.toml"\n')
    with pytest.raises(MethodError, match="circular"):
        it.load_profile(a)


# --- method family ----------------------------------------------------------------------------


def test_family_not_covered_by_profile_not_interpreted():
    res = it.interpret(300, 3000, method_family="lennard")
    assert res.category == "not_comparable"
    assert "FAMILY_MISMATCH" in res.flags and "lennard" in res.comment
    assert it.interpret(300, 3000, method_family="lcmsms").category == "therapeutic"
    assert it.interpret(300, 3000, method_family="dervieux").method_family == "dervieux"


# --- clinical context -------------------------------------------------------------------------


def test_lft_notes():
    # issue 19 item 9: the source's "rises to" 3x / 5x ULN includes the limit itself
    ctx = it.ClinicalContext(alt_uln=2.9)
    assert not it.interpret(300, 3000, context=ctx).notes
    res = it.interpret(300, 3000, context=it.ClinicalContext(alt_uln=3.0))
    assert res.flags == ("LFT_RAISED",) and "withholding" in res.notes[0]
    res = it.interpret(300, 3000, context=it.ClinicalContext(alt_uln=3.5, ast_uln=2.0))
    assert res.flags == ("LFT_RAISED",) and "hepatotoxicity" in res.notes[0]
    res = it.interpret(300, 3000, context=it.ClinicalContext(ast_uln=4.9))
    assert res.flags == ("LFT_RAISED",)
    res = it.interpret(300, 3000, context=it.ClinicalContext(ast_uln=5.0))
    assert res.flags == ("LFT_REVIEW",) and "review" in res.notes[0]
    assert "LFT_RAISED" not in res.flags
    res = it.interpret(300, 3000, context=it.ClinicalContext(bilirubin_uln=2.0))
    assert res.flags == ("LFT_REVIEW",) and "bilirubin 2.0x ULN" in res.notes[0]
    assert not it.interpret(300, 3000, context=it.ClinicalContext(bilirubin_uln=1.9)).flags


def test_stability_note():
    t0 = datetime(2026, 3, 1, 8, 0)
    ok = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(hours=48))
    assert not it.interpret(300, 3000, context=ok).flags
    old = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(hours=96), room_temperature=True)
    res = it.interpret(300, 3000, context=old)
    assert res.flags == ("SAMPLE_AGED",)
    assert "8-27 %" in res.notes[0] and "room temperature" in res.notes[0]
    cold = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(hours=96), room_temperature=False)
    assert not it.interpret(300, 3000, context=cold).flags  # 96 h < 168 h refrigerated limit
    colder = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(days=8), room_temperature=False)
    assert "SAMPLE_AGED" in it.interpret(300, 3000, context=colder).flags


@pytest.mark.parametrize("storage", [True, None])
def test_stability_note_seven_days_room_temperature_matches_sources(storage):
    # domain.md section 5: Pike 2001 2-4 %/day; de Graaf 2010 median 53 % of baseline after
    # 7 days at 22 C, i.e. 47 % lost. Not recorded is taken as room temperature.
    t0 = datetime(2026, 3, 1, 8, 0)
    ctx = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(days=7), room_temperature=storage)
    res = it.interpret(200, 1000, context=ctx)
    assert res.category == "subtherapeutic" and "SAMPLE_AGED" in res.flags
    note = res.notes[0]
    assert "underestimated by about 14-47 % over 7.0 days" in note
    assert "Pike 2001" in note and "de Graaf 2010: median 53 % of baseline after 7 days at 22 C" in note
    assert "whole blood" in note and "before any dose change" in note


def test_stability_note_seven_days_refrigerated_matches_de_graaf(tmp_path):
    # de Graaf 2010: median 90 % of baseline after 7 days at 4 C. The default limit is 168 h,
    # so a profile with a shorter refrigerated limit makes the 7-day note appear.
    f = tmp_path / "p.toml"
    f.write_text('[profile]\nname = "p"\nextends = "default"\n[stability]\nrefrigerated_max_hours = 72.0\n')
    t0 = datetime(2026, 3, 1, 8, 0)
    ctx = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(days=7), room_temperature=False)
    note = it.interpret(200, 1000, context=ctx, profile=f).notes[0]
    assert "refrigerated" in note and "underestimated by about 10 % over 7.0 days" in note
    assert "de Graaf 2010: median 90 % of baseline after 7 days at 4 C" in note
    # beyond the default 168 h limit: the same rate, 8 days -> about 11 %
    ctx = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(days=8), room_temperature=False)
    assert "about 11 % over 8.0 days" in it.interpret(200, 1000, context=ctx).notes[0]


def test_stability_note_cites_profile_source(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[profile]\nname = "p"\nextends = "default"\n[stability]\n'
                 'tgn_loss_pct_per_day_room_temperature = [5.0, 5.0]\n'
                 'tgn_loss_source_room_temperature = "local validation 2025"\n')
    t0 = datetime(2026, 3, 1, 8, 0)
    ctx = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(days=4), room_temperature=True)
    note = it.interpret(200, 1000, context=ctx, profile=f).notes[0]
    assert "about 20 % over 4.0 days (5 %/day; local validation 2025)" in note


def test_stability_limit_configurable(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text('[profile]\nname = "p"\nextends = "default"\n[stability]\nroom_temperature_max_hours = 24.0\n')
    t0 = datetime(2026, 3, 1, 8, 0)
    ctx = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(hours=30))
    assert "SAMPLE_AGED" in it.interpret(300, 3000, context=ctx, profile=f).flags
    assert "SAMPLE_AGED" not in it.interpret(300, 3000, context=ctx).flags


def test_dose_band_intermediate_within():
    ctx = it.ClinicalContext(drug="azathioprine", dose_mg=100, weight_kg=70, tpmt="intermediate")
    res = it.interpret(284, 5333, context=ctx)
    assert "0.6-2.4 mg/kg/day" in res.dose_band and "within" in res.dose_band
    assert "DOSE_ABOVE_BAND" not in res.flags
    assert any("2-4 weeks" in n for n in res.notes)


def test_dose_band_normal_and_out_of_band():
    ctx = it.ClinicalContext(drug="azathioprine", dose_mg=250, weight_kg=70, tpmt="normal", nudt15="normal")
    res = it.interpret(300, 3000, context=ctx)
    assert "2-3 mg/kg/day" in res.dose_band and "above" in res.dose_band
    assert "DOSE_ABOVE_BAND" in res.flags
    low = it.ClinicalContext(drug="mercaptopurine", dose_mg=50, weight_kg=70, tpmt="normal", nudt15="normal")
    res = it.interpret(300, 3000, context=low)
    assert "1.5 mg/kg/day" in res.dose_band and "below" in res.dose_band
    assert "DOSE_ABOVE_BAND" not in res.flags  # below the band: described, not flagged
    # issue 19 item 8: phenotype not recorded -> a testing prompt, no band as if normal
    high = it.ClinicalContext(drug="azathioprine", dose_mg=250, weight_kg=70)
    res = it.interpret(300, 3000, context=high)
    assert "testing" in res.dose_band and "mg/kg/day" not in res.dose_band
    assert "DOSE_ABOVE_BAND" not in res.flags
    # intermediate metaboliser on a normal-metaboliser dose
    im = it.ClinicalContext(drug="azathioprine", dose_mg=175, weight_kg=70, tpmt="IM")
    res = it.interpret(300, 3000, context=im)
    assert "above" in res.dose_band and "DOSE_ABOVE_BAND" in res.flags


def test_dose_band_both_intermediate_and_aih():
    ctx = it.ClinicalContext(drug="azathioprine", dose_mg=50, weight_kg=70, tpmt="intermediate",
                             nudt15="possible intermediate")
    res = it.interpret(300, 3000, context=ctx)
    assert "0.4-1.5 mg/kg/day" in res.dose_band and "20-50 %" in res.dose_band
    aih = it.ClinicalContext(drug="azathioprine", dose_mg=100, weight_kg=70, indication="AIH", tpmt="normal",
                             nudt15="normal")
    band = it.interpret(300, 3000, context=aih).dose_band
    assert "1-2 mg/kg/day" in band and "not a CPIC band" in band


def test_dose_band_poor():
    ctx = it.ClinicalContext(drug="mercaptopurine", tpmt="poor", indication="Crohn's disease")
    band = it.interpret(300, 3000, context=ctx).dose_band
    assert "non-thiopurine" in band
    ctx = it.ClinicalContext(drug="mercaptopurine", nudt15="poor", indication="ALL")
    band = it.interpret(300, 3000, context=ctx).dose_band
    assert "10 %" in band and "thrice weekly" in band
    ctx = it.ClinicalContext(drug="azathioprine", tpmt="normal", indication="small bowel Crohn's; allopurinol")
    assert "non-thiopurine" not in it.interpret(300, 3000, context=ctx).dose_band


def test_no_dose_band_without_drug_or_phenotype():
    assert it.interpret(300, 3000, context=it.ClinicalContext(alt_uln=1.0)).dose_band is None


def test_context_from_row():
    row = {
        "drug": "AZA", "dose_mg": "100", "weight_kg": "70", "tpmt": "IM", "nudt15": "",
        "alt_x_uln": "1.2", "ast_x_uln": None, "bilirubin_x_uln": "0.8",
        "collected_at": "2026-03-01T08:30", "received_at": "2026-03-02 09:00", "storage": "ambient",
    }
    ctx = it.ClinicalContext.from_row(row)
    assert ctx.drug == "azathioprine" and ctx.tpmt == "intermediate" and ctx.nudt15 is None
    assert ctx.dose_mg_kg == pytest.approx(100 / 70)
    assert ctx.alt_uln == 1.2 and ctx.ast_uln is None and ctx.room_temperature is True
    assert ctx.age_hours == pytest.approx(24.5)
    assert it.ClinicalContext.from_row({}) == it.ClinicalContext()


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ({"drug": "aspirin"}, "drug"),
        ({"dose_mg": "lots"}, "dose_mg"),
        ({"weight_kg": "0"}, "weight_kg"),
        ({"weight_kg": "-70"}, "weight_kg"),
        ({"tpmt": "ultrarapid"}, "tpmt"),
        ({"nudt15": "??"}, "nudt15"),
        ({"alt_x_uln": "high"}, "alt_x_uln"),
        ({"ast_x_uln": "-1"}, "ast_x_uln"),
        ({"bilirubin_x_uln": "x"}, "bilirubin_x_uln"),
        ({"collected_at": "yesterday"}, "collected_at"),
        ({"collected_at": "2026-03-02T08:00", "received_at": "2026-03-01T08:00"}, "received_at"),
        ({"storage": "freezer?"}, "storage"),
    ],
)
def test_context_from_row_errors_name_column(row, column):
    with pytest.raises(InputError) as exc:
        it.ClinicalContext.from_row(row)
    assert exc.value.key == column


# --- interpretation.csv -----------------------------------------------------------------------


def _res(sid, analyte, reported, *, pid="", flags=(), stype="sample", fam="lcmsms"):
    return Result(sample_id=sid, sample_type=stype, analyte=analyte, reported=reported,
                  patient_id=pid, flags=tuple(flags), method_family=fam)


def test_interpretation_rows_and_csv(tmp_path):
    results = [
        _res("S1", "6-TG", 284.44, pid="P1"),
        _res("S1", "6-MMP", 5333.3, pid="P1"),
        _res("S2", "6-TG", math.nan, pid="P2", flags=("BELOW_LLOQ",)),
        _res("S2", "AMTCI", math.nan, pid="P2", flags=("NOT_DETECTED",)),
        _res("S3", "6-TG", 500.0, pid="P3"),
        _res("S3", "6-TG", 520.0, pid="P3"),
        _res("S3", "6-MMP", 6000.0, pid="P3"),
        _res("S4", "6-TG", math.nan, pid="P4", flags=("NO_RBC",)),
        _res("S4", "6-MMP", 1000.0, pid="P4"),
        _res("CAL1", "6-TG", 100.0, stype="calibrator"),
        _res("QC1", "6-MMP", 100.0, stype="qc"),
        _res("S1", "5-bromouracil", 1.0, pid="P1"),
    ]
    ctx = {"P3": it.ClinicalContext(alt_uln=4.0)}
    rows = it.interpretation_rows(results, contexts=ctx)
    assert [r["sample_id"] for r in rows] == ["S1", "S2", "S3", "S4"]
    r1, r2, r3, r4 = rows
    assert list(r1) == list(it.INTERPRETATION_COLUMNS)
    assert r1["ratio"] == "18.8" and r1["category"] == "therapeutic" and r1["patient_id"] == "P1"
    assert r1["tgn_pmol_8e8"] == "284.4" and r1["method_family"] == "lcmsms" and r1["profile"] == "default"
    assert r2["category"] == "non_adherence" and r2["tgn_pmol_8e8"] == "undetectable"
    assert r3["tgn_pmol_8e8"] == "510.0" and r3["category"] == "supratherapeutic"
    assert "LFT_RAISED" in r3["flags"] and "hepatotoxicity" in r3["notes"]
    assert r4["category"] == "not_interpretable"

    path = it.write_interpretation_csv(rows, tmp_path / "interpretation.csv")
    with path.open(newline="") as fh:
        back = list(csv.DictReader(fh))
    assert back[0]["comment"] == r1["comment"] and len(back) == 4
    for col in ("patient_id", "sample_id", "tgn_pmol_8e8", "mmp_pmol_8e8", "ratio", "category",
                "comment", "notes", "profile", "method_family"):
        assert col in back[0]


def test_interpretation_rows_mappings_and_profile():
    rows = it.interpretation_rows(
        [{"sample_id": "A", "analyte": "6-TGN", "reported": 232.0},
         {"sample_id": "A", "analyte": "6-MMPN", "reported": 1000.0}],
        profile="aga2017", method_family="dervieux",
    )
    assert rows[0]["category"] == "therapeutic" and rows[0]["profile"] == "aga2017"
    assert rows[0]["patient_id"] == "A" and rows[0]["method_family"] == "dervieux"


# --- CLI --------------------------------------------------------------------------------------


def test_cli_worked_example():
    out = CliRunner().invoke(cli, ["interpret", "--tgn", "284", "--mmp", "5333", "--tpmt", "intermediate",
                                   "--weight-kg", "70", "--dose-mg", "100", "--drug", "azathioprine"])
    assert out.exit_code == 0, out.output
    assert "Category: therapeutic" in out.output
    assert "MMP:TGN ratio: 18.8" in out.output
    assert "Dose band:" in out.output and "0.6-2.4" in out.output
    assert "Profile: default" in out.output and "RATIO_HIGH" in out.output


def test_cli_json_from_concentrations():
    out = CliRunner().invoke(cli, ["interpret", "--tgn-nmol-l", "1600", "--mmp-nmol-l", "30000",
                                   "--rbc", "4.5", "--json", "--mcv-fl", "90"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert round(d["tgn"]) == 284 and round(d["mmp"]) == 5333 and d["ratio_display"] == "18.8"
    assert d["other_units"]["6-TGN"]["umol/L packed RBC"] == pytest.approx(284.444 / 72, rel=1e-4)


def test_cli_profile_and_undetectable(tmp_path):
    out = CliRunner().invoke(cli, ["interpret", "--tgn", "nd", "--mmp", "<LLOQ", "--profile", "ratio20"])
    assert out.exit_code == 0 and "both undetectable" in out.output and "Profile: ratio20" in out.output
    out = CliRunner().invoke(cli, ["interpret", "--list-profiles"])
    assert "prometheus" in out.output and "230-400" in out.output


def test_cli_errors():
    out = CliRunner().invoke(cli, ["interpret", "--tgn", "abc", "--mmp", "1"])
    assert isinstance(out.exception, InputError)
    out = CliRunner().invoke(cli, ["interpret", "--tgn", "300", "--mmp", "1", "--profile", "nope"])
    assert isinstance(out.exception, MethodError)
    out = CliRunner().invoke(cli, ["interpret", "--tgn", "300"])
    assert out.exit_code != 0


# --- intervals and completeness ----------------------------------------------------------------


def test_interval_spanning_cutoff_noted_without_changing_category():
    res = it.interpret(240, 3000, tgn_interval=(220, 260))
    assert res.category == "therapeutic"
    assert any("spans the 235 cut-off" in n for n in res.notes)
    assert not it.interpret(300, 3000, tgn_interval=(280, 320)).notes
    res = it.interpret(300, 5600, mmp_interval=(5200, 6000))
    assert any("6-MMP" in n and "5700" in n for n in res.notes)


def test_rows_carry_intervals():
    r = [Result(sample_id="S", sample_type="sample", analyte="6-TG", reported=240.0,
                reported_low=220.0, reported_high=260.0),
         Result(sample_id="S", sample_type="sample", analyte="6-MMP", reported=1000.0)]
    row = it.interpretation_rows(r)[0]
    assert "spans the 235 cut-off" in row["notes"]


@given(
    st.one_of(st.none(), st.floats(0, 5000)),
    st.one_of(st.none(), st.floats(0, 50_000)),
    st.sampled_from(["default", "prometheus", "aga2017", "ratio20"]),
)
def test_every_pair_gets_a_category(tgn, mmp, name):
    res = it.interpret(tgn, mmp, profile=PROFILES[name])
    assert res.category in it.CATEGORIES and res.comment
    if tgn is not None and mmp is not None and tgn > 0:
        assert res.ratio == pytest.approx(mmp / tgn)


PROFILES = {n: it.load_profile(n) for n in it.list_profiles()}


def test_rows_explain_unreportable_results():
    r = [Result(sample_id="S", sample_type="unknown", analyte="6-TG", reported=math.nan, flags=("ABOVE_ULOQ",)),
         Result(sample_id="S", sample_type="unknown", analyte="6-MMP", reported=1000.0)]
    row = it.interpretation_rows(r)[0]
    assert row["category"] == "not_interpretable"
    assert "6-TGN not reportable" in row["notes"] and "dilute and rerun" in row["notes"]
    row = it.interpretation_rows(r[1:])[0]
    assert "no result for this analyte" in row["notes"]


def test_single_metabolite_available_is_described_not_classified():
    res = it.interpret(300, math.nan)
    assert res.category == "not_interpretable"
    assert any("6-TGN 300, within 235-450" in n and "not applied" in n for n in res.notes)
    res = it.interpret(math.nan, 6000)
    assert any("6-MMP 6000, above the 5700 cut-off" in n for n in res.notes)
    res = it.interpret(None, math.nan, tgn_detected=False)
    assert any(n.startswith("6-TGN undetectable") for n in res.notes)
    assert not it.interpret(math.nan, math.nan).notes


def test_context_accepts_iso_strings():
    ctx = it.ClinicalContext(collected_at="2026-03-01T08:00", received_at="2026-03-05T08:00")
    assert ctx.age_hours == 96
    with pytest.raises(InputError):
        it.ClinicalContext(collected_at="soon")


def test_profile_base_dir_and_shipped_file_name(tmp_path):
    (tmp_path / "lab.toml").write_text('[profile]\nname = "lab"\nextends = "ratio20"\n')
    assert it.load_profile("lab.toml", base_dir=tmp_path).ratio_high == 20
    assert it.load_profile("prometheus.toml").name == "prometheus"
