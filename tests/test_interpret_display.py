"""Displayed values never contradict their comparison with a cut-off (comments, notes, rows)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from thioquant.assay import interpret as it


@pytest.mark.parametrize(
    ("tgn", "mmp", "category", "shown_tgn", "shown_mmp", "row_tgn", "row_mmp"),
    [
        (234.96, 3000.0, "subtherapeutic", "234.96", "3000", "234.96", "3000.0"),
        (235.0, 3000.0, "therapeutic", "235", "3000", "235.0", "3000.0"),
        (450.04, 3000.0, "myelotoxicity_risk", "450.04", "3000", "450.04", "3000.0"),
        (300.0, 5700.04, "hepatotoxicity_risk", "300", "5700.04", "300.0", "5700.04"),
        (300.0, 5700.0, "therapeutic", "300", "5700", "300.0", "5700.0"),
    ],
)
def test_values_near_cutoffs_keep_their_side(tgn, mmp, category, shown_tgn, shown_mmp, row_tgn, row_mmp):
    # ratios kept below 11 except where the category needs otherwise
    res = it.interpret(tgn, mmp, profile=it.load_profile("ratio20"))
    assert res.category == category
    text = res.describe()
    assert f"6-TGN: {shown_tgn} pmol" in text and f"6-MMPN: {shown_mmp} pmol" in text
    row = it.interpretation_row(res)
    assert (row["tgn_pmol_8e8"], row["mmp_pmol_8e8"]) == (row_tgn, row_mmp)


def test_single_metabolite_note_keeps_side():
    res = it.interpret(234.96, math.nan)
    assert res.notes[0].startswith("6-TGN 234.96, below 235;")
    assert "6-MMPN: not available" in res.describe()
    res = it.interpret(math.nan, 5700.04)
    assert res.notes[0].startswith("6-MMP 5700.04, above the 5700 cut-off;")
    assert it.interpret(450.04, math.nan).notes[0].startswith("6-TGN 450.04, above 450;")
    assert it.interpret(235.0, math.nan).notes[0].startswith("6-TGN 235, within 235-450;")


@pytest.mark.parametrize(
    ("ratio", "raised", "shown"),
    [(11.001, True, "11.001"), (10.999, False, "10.999"), (11.0, False, "11.0"), (18.75, True, "18.8")],
)
def test_ratio_display(ratio, raised, shown):
    res = it.interpret(400.0, 400.0 * ratio)
    assert ("RATIO_HIGH" in res.flags) is raised
    assert it.interpretation_row(res)["ratio"] == shown
    assert f"MMP:TGN ratio: {shown}" in res.describe()
    if raised:
        assert f"The MMP:TGN ratio of {shown} (> 11)" in res.comment
    else:
        assert "MMP:TGN ratio of" not in res.comment


def test_format_near():
    assert it.format_near(234.96, [235]) == "234.96"
    assert it.format_near(234.96, [235], 1) == "234.96"
    assert it.format_near(234.94, [235], 1) == "234.9"  # one decimal already keeps the side
    assert it.format_near(235.0, [235]) == "235"
    assert it.format_near(234.9999999, [235]) == "235"  # equal as compared (6 decimals)
    assert it.format_near(300.0, [235, 450]) == "300"
    assert it.format_ratio(11.001) == "11.0"  # without cut-offs: the usual one decimal
    assert it.format_ratio(11.001, [11]) == "11.001"


def test_interval_lft_age_and_dose_keep_side():
    res = it.interpret(300.0, 3000.0, tgn_interval=(234.6, 300.4))
    assert "interval 234.6-300 spans the 235 cut-off" in res.notes[0]
    res = it.interpret(300.0, 3000.0, context=it.ClinicalContext(alt_uln=3.04))
    assert "ALT 3.04x ULN (at or above 3x ULN)" in res.notes[0]
    res = it.interpret(300.0, 3000.0, context=it.ClinicalContext(alt_uln=5.04))
    assert "ALT 5.04x ULN" in res.notes[0] and "LFT_REVIEW" in res.flags
    t0 = datetime(2026, 3, 1, 8, 0)
    ctx = it.ClinicalContext(collected_at=t0, received_at=t0 + timedelta(hours=48, minutes=6))
    assert "Sample received 48.1 h after collection" in it.interpret(300.0, 3000.0, context=ctx).notes[0]
    # 210.1 mg / 70 kg = 3.0014 mg/kg/day: above a 2-3 band, so not shown as "3.00"
    ctx = it.ClinicalContext(drug="azathioprine", dose_mg=210.1, weight_kg=70, tpmt="normal")
    band = it.interpret(300.0, 3000.0, context=ctx).dose_band
    assert "recorded dose 3.001 mg/kg/day" in band and "above this band" in band


def test_report_colours_follow_the_profiles_limit_rule():
    # Prometheus counts 6-MMP 5700 itself as raised; the report coloured it "ok" with a plain ">"
    from types import SimpleNamespace

    from thioquant.report.content import patient_rows, reference_ranges

    batch = SimpleNamespace(interpretations=[{"tgn_pmol_8e8": "300.0", "mmp_pmol_8e8": "5700.0",
                                              "ratio": "19.0"}])
    prom = reference_ranges(SimpleNamespace(method=SimpleNamespace(interpretation_profile="prometheus",
                                                                   source="")), "prometheus")
    default = reference_ranges(SimpleNamespace(method=SimpleNamespace(interpretation_profile="default",
                                                                      source="")), "default")
    assert patient_rows(batch, prom)[0]["mmp_state"] == "high" and "6-MMP < 5700" in prom.text()
    assert patient_rows(batch, default)[0]["mmp_state"] == "ok" and "6-MMP <= 5700" in default.text()


def test_interpret_json_ratio_display_keeps_its_side_of_the_cut_off():
    import json

    from click.testing import CliRunner

    from thioquant.cli import cli

    out = CliRunner().invoke(cli, ["interpret", "--tgn", "300", "--mmp", "3300.3", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["ratio_display"] == "11.001"
