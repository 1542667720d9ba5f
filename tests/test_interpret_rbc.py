"""A result without a usable RBC count is not interpreted, even when it is undetectable.

At a low RBC count an undetectable concentration can still be a therapeutic amount per
8x10^8 RBC (6-TG LLOQ 100 nmol/L at 0.5x10^12/L is 160 pmol/8x10^8 RBC), so "undetectable"
cannot be claimed per RBC, and non-adherence cannot be suggested, without a usable count.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from thioquant.assay.interpret import interpretation_rows
from thioquant.pipeline import quantify


def _set_rbc(batch: Path, sample_id: str, rbc: str) -> None:
    path = batch / "worklist.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = list(rows[0])
    next(r for r in rows if r["sample_id"] == sample_id)["rbc_count"] = rbc
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_bundled_p011_is_the_non_adherence_case(sample_batch):
    # the case the tests below break: with its RBC count, P011 is both undetectable
    rows = {r["sample_id"]: r for r in quantify(sample_batch()).interpretations}
    assert rows["P011"]["category"] == "non_adherence"


@pytest.mark.parametrize(("rbc", "flag"), [("0.5", "BAD_RBC"), ("", "NO_RBC")])
def test_undetectable_without_usable_rbc_is_not_interpreted(sample_batch, rbc, flag):
    batch = sample_batch()
    _set_rbc(batch, "P011", rbc)
    b = quantify(batch)
    res = [r for r in b.results if r.sample_id == "P011"]
    assert res and all(flag in r.flags for r in res)
    row = next(r for r in b.interpretations if r["sample_id"] == "P011")
    assert row["category"] == "not_interpretable"
    assert flag in row["notes"]
    assert "BOTH_UNDETECTABLE" not in row["flags"]
    assert "non-adherence" not in row["comment"]
    # the other patients are untouched
    assert next(r for r in b.interpretations if r["sample_id"] == "P001")["category"] != "not_interpretable"


@pytest.mark.parametrize("flag", ["NO_RBC", "BAD_RBC"])
def test_rbc_flag_makes_a_detected_or_undetected_result_unavailable(flag):
    recs = [
        {"sample_id": "S1", "sample_type": "unknown", "analyte": "6-TG", "reported": float("nan"),
         "flags": ("NOT_DETECTED", flag)},
        {"sample_id": "S1", "sample_type": "unknown", "analyte": "6-MMP", "reported": float("nan"),
         "flags": ("BELOW_LLOQ", flag)},
    ]
    (row,) = interpretation_rows(recs)
    assert row["category"] == "not_interpretable"
    assert row["tgn_pmol_8e8"] == "" and row["mmp_pmol_8e8"] == ""
    assert row["notes"].count(flag) == 2
