"""The clinical subpackage: compatibility of thioquant.assay.interpret, context inputs (controlled
vocabularies, genotypes, new worklist columns), the batch path's ratio bound, the reports (method
family, profile-dependent references, monitoring) and the rule list in the docs (issue 19)."""

from __future__ import annotations

import math
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from thioquant import clinical
from thioquant.assay import interpret as legacy
from thioquant.errors import InputError

REPO = Path(__file__).resolve().parents[1]


# --- the move ----------------------------------------------------------------------------------------


def test_legacy_module_reexports_the_same_objects():
    for name in clinical.__all__:
        assert getattr(legacy, name) is getattr(clinical, name), name
    # one table, one place: other branches add hold flags to it
    assert legacy.NOT_INTERPRETED_FLAGS is clinical.tables.NOT_INTERPRETED_FLAGS
    assert "thioquant.clinical" in legacy.__doc__


# --- vocabularies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, code", [
    ("IBD", "ibd"), ("Crohn's disease", "ibd"), ("ulcerative colitis", "ibd"), ("AIH", "aih"),
    ("autoimmune hepatitis", "aih"), ("AIH type 1", "aih"), ("renal transplant", "transplant"),
    ("SLE", "rheumatology"), ("bullous pemphigoid", "dermatology"), ("ALL", "malignancy"),
    ("acute lymphoblastic leukemia", "malignancy"), ("other", "other"),
])
def test_indication_synonyms(text, code):
    assert clinical.parse_indication(text) == (code, None)


@pytest.mark.parametrize("text", ["leukocytoclastic", "Crohn disease, previous leukopenia",
                                  "all patients with IBD", "leukaemia in remission? query"])
def test_free_text_selects_nothing(text):
    assert clinical.parse_indication(text) == (None, text)
    ctx = clinical.ClinicalContext(indication=text)
    assert ctx.indication is None and ctx.indication_note == text


@pytest.mark.parametrize("geno, gene, pheno", [
    ("*1/*1", "tpmt", "normal"), ("*1/*3A", "tpmt", "intermediate"), ("*3C/*1", "tpmt", "intermediate"),
    ("*3A/*3C", "tpmt", "poor"), ("*2/*8", "tpmt", "possible_intermediate"), ("*1/*8", "tpmt", "indeterminate"),
    ("*1/*3", "nudt15", "intermediate"), ("*2/*3", "nudt15", "poor"), (" *1 / *1 ", "nudt15", "normal"),
])
def test_genotype_to_cpic_phenotype(geno, gene, pheno):
    assert clinical.phenotype_from_genotype(geno, gene) == pheno


@pytest.mark.parametrize("bad", ["1/3A", "*1", "*1/*3A/*2", "het"])
def test_bad_genotype_refused(bad):
    with pytest.raises(InputError, match="star alleles"):
        clinical.phenotype_from_genotype(bad, "tpmt")


def test_homozygous_is_ambiguous_and_indeterminate_is_kept():
    with pytest.raises(InputError, match="ambiguous"):
        clinical.parse_phenotype("homozygous")
    assert clinical.parse_phenotype("homozygous variant") == "poor"
    assert clinical.parse_phenotype("homozygous wild type") == "normal"
    assert clinical.parse_phenotype("indeterminate") == "indeterminate"


def test_from_row_reads_new_columns_and_reports_bad_ones():
    row = {"drug": "AZA", "indication": "Crohn's", "indication_note": "steroid dependent",
           "tpmt_genotype": "*1/*3A", "nudt15_genotype": "*1/*1", "tpmt_activity": "15.2",
           "allopurinol": "yes", "wbc": "3.1", "neutrophils": "1.4", "platelets": "150",
           "weeks_on_dose": "3"}
    ctx = clinical.ClinicalContext.from_row(row)
    assert ctx.indication == "ibd" and ctx.indication_note == "steroid dependent"
    assert ctx.phenotype("tpmt") == "intermediate" and ctx.phenotype("nudt15") == "normal"
    assert ctx.allopurinol is True and ctx.wbc == 3.1 and ctx.weeks_on_dose == 3.0
    bad = {**row, "tpmt_genotype": "3A", "allopurinol": "maybe", "wbc": "-1", "tpmt": "homozygous"}
    ctx, problems = clinical.ClinicalContext.from_row_checked(bad)
    cols = [p.column for p in problems]
    assert cols == ["tpmt", "tpmt_genotype", "allopurinol", "wbc"]
    assert "ambiguous" in problems[0].reason
    assert ctx.tpmt_genotype is None and ctx.allopurinol is None and ctx.wbc is None
    assert ctx.nudt15_genotype == "*1/*1" and ctx.platelets == 150.0  # the rest is kept


def test_profile_indication_band_keys_must_be_coded(tmp_path):
    from thioquant.errors import MethodError

    p = tmp_path / "p.toml"
    p.write_text('[profile]\nname = "x"\nextends = "default"\n[dose.normal_mg_kg_day]\n'
                 '"azathioprine:hepatitis-ish" = [1.0, 2.0]\n')
    with pytest.raises(MethodError, match="unknown indication"):
        clinical.load_profile(p)
    p.write_text('[profile]\nname = "x"\nextends = "default"\n[dose.normal_mg_kg_day]\n'
                 '"azathioprine:autoimmune hepatitis" = [1.0, 1.5]\n')
    assert clinical.load_profile(p).normal_mg_kg_day["azathioprine:aih"] == (1.0, 1.5)


# --- the batch path ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lcms(tmp_path_factory):
    import shutil

    from thioquant.pipeline import quantify

    dst = tmp_path_factory.mktemp("clin") / "lcmsms"
    shutil.copytree(REPO / "sample_data" / "lcmsms", dst,
                    ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
    return quantify(dst, cache=None)


def test_batch_tg_below_lloq_bounds_the_ratio(lcms):
    # issue 19 item 2, batch path: P002's 6-TG read as below the LLOQ, 6-MMP detected; the old
    # code called it sub-therapeutic ("a dose increase ... may be considered")
    from thioquant.quantitation import _interpret

    b = lcms
    results = [replace(r, reported=math.nan, reported_low=math.nan, reported_high=math.nan,
                       flags=(*r.flags, "BELOW_LLOQ"))
               if (r.sample_id, r.analyte) == ("P002", "6-TG") else r for r in b.results]
    rows = {r["sample_id"]: r for r in _interpret(b.method, b.worklist.entries, results, [], b.calibrations)}
    p2 = rows["P002"]
    mmp = float(p2["mmp_pmol_8e8"])
    e = next(x for x in b.worklist.entries if x.sample_id == "P002")
    lloq = b.calibrations["6-TG"].lloq * e.dilution * 0.8 / e.rbc_count  # nmol/L -> pmol/8x10^8 RBC
    assert p2["category"] == "preferential_methylation"
    assert p2["ratio"] == "> " + clinical.format_ratio(mmp / lloq, (11.0,))
    assert "dose increase" not in p2["comment"]
    # without the LLOQ bound the rows would use the target's lower limit (a looser bound)
    rows = {r["sample_id"]: r for r in _interpret(b.method, b.worklist.entries, results, [], None)}
    assert rows["P002"]["ratio"] == "> " + clinical.format_ratio(mmp / 235.0, (11.0,))


def test_bundled_batch_prompts_for_testing_not_a_normal_band(lcms):
    # issue 19 item 8: 22/24 patients read "CPIC starting dose 2-3 ... below this band"
    rows = lcms.interpretations
    none_recorded = [r for r in rows if "TPMT and NUDT15 status not recorded" in r["dose_band"]]
    assert len(none_recorded) >= 20
    for r in none_recorded:
        assert "testing" in r["dose_band"] and "CPIC starting dose" not in r["dose_band"]
        assert "below this band" not in r["dose_band"]


# --- reports ----------------------------------------------------------------------------------------


def _pdf_text(doc) -> bytes:
    return b"".join(zlib.decompress(s) for p in doc.pages for s in p.streams())


def test_patient_pdf_shows_profile_reference_family_and_monitoring(lcms):
    from thioquant.report import content as C
    from thioquant.report.pdf import build_patient_page

    prom = C.reference_ranges(lcms, "prometheus")
    row = C.patient_rows(lcms, prom)[1]
    text = _pdf_text(build_patient_page(lcms, row, ranges=prom))
    assert b"< 5700" in text and b"<= 5700" not in text  # issue 19 item 11
    assert b"method family lcmsms" in text  # issue 19 item 14
    assert b"every 1-2 weeks for the first 8 weeks" in text
    default = C.reference_ranges(lcms)
    assert b"<= 5700" in _pdf_text(build_patient_page(lcms, C.patient_rows(lcms, default)[1], ranges=default))


def test_html_shows_method_family(lcms):
    from thioquant.report.html import _patients

    html = _patients(lcms)
    assert "method family lcmsms (profile ranges for dervieux/lcmsms assays)" in html


# --- docs ---------------------------------------------------------------------------------------------


def test_docs_list_every_rule_with_its_source_kind():
    doc = (REPO / "docs" / "interpretation.md").read_text(encoding="utf-8")
    for rule in clinical.RULES:
        assert f"`{rule.id}`" in doc, rule.id
    for kind in ("guideline", "secondary", "lab"):
        assert kind in doc


def test_report_marks_a_ratio_lower_bound_above_the_cutoff_high():
    from types import SimpleNamespace

    from thioquant.report import content as C

    ranges = C.Ranges("default", "pmol/8x10^8 RBC", 235, 450, 5700, 11)
    batch = SimpleNamespace(interpretations=[
        {"sample_id": "A", "tgn_pmol_8e8": "undetectable", "mmp_pmol_8e8": "3000", "ratio": "> 166.7"},
        {"sample_id": "B", "tgn_pmol_8e8": "undetectable", "mmp_pmol_8e8": "1000", "ratio": "> 4.3"},
    ])
    a, b = C.patient_rows(batch, ranges)
    assert a["ratio_state"] == "high" and b["ratio_state"] == ""
