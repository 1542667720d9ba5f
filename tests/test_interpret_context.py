"""Clinical context from the worklist: every problem on every row, each naming its column."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from thioquant.assay import interpret as it
from thioquant.errors import InputError
from thioquant.pipeline import quantify


@pytest.fixture
def lcms_copy(tmp_path: Path, sample_batch) -> Path:
    return sample_batch(dst=tmp_path / "batch")


def _set(batch: Path, values: dict[str, dict[str, str]]) -> None:
    path = batch / "worklist.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r.update(values.get(r["sample_id"], {}))
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_quantify_reports_every_context_problem_and_keeps_the_good_fields(lcms_copy):
    # row 18 = P003, row 19 = P004, row 20 = P005 (header is row 1)
    _set(lcms_copy, {
        "P003": {"dose_mg": "0"},
        "P004": {"dose_mg": "-100", "tpmt": "ultrarapid"},
        "P005": {"tpmt": "IM"},
    })
    b = quantify(lcms_copy)
    ctx_msgs = [m for m in b.messages if "clinical context" in m]
    assert ctx_msgs == [
        "row 18 (P003): clinical context: dose_mg '0' must be a positive number; ignored",
        "row 19 (P004): clinical context: dose_mg '-100' must be a positive number; ignored",
        "row 19 (P004): clinical context: tpmt 'ultrarapid' is not a known phenotype (use normal, "
        "intermediate, possible_intermediate, poor or indeterminate); ignored",
    ]
    rows = {r["sample_id"]: r for r in b.interpretations}
    # only the bad field is dropped: the drug is kept, so the dose band (a testing prompt without
    # a phenotype, issue 19) still names it
    assert rows["P003"]["dose_band"].startswith("mercaptopurine: TPMT and NUDT15 status not recorded")
    assert "recorded dose" not in rows["P003"]["dose_band"]
    assert rows["P004"]["dose_band"].startswith("azathioprine: TPMT and NUDT15 status not recorded")
    assert "recorded dose" not in rows["P004"]["dose_band"]
    # a good row next to them is unaffected
    assert "intermediate metaboliser" in rows["P005"]["dose_band"]
    assert "recorded dose 1.25 mg/kg/day" in rows["P005"]["dose_band"]


def test_time_pair_voided_together_and_other_fields_kept():
    ctx, problems = it.ClinicalContext.from_row_checked({
        "drug": "AZA", "weight_kg": "0", "alt_x_uln": "4", "storage": "freezer",
        "collected_at": "2026-03-02T08:00", "received_at": "2026-03-01T08:00",
    })
    assert [str(p) for p in problems] == [
        "weight_kg '0' must be a positive number; ignored",
        "received_at '2026-03-01T08:00' is earlier than collected_at '2026-03-02T08:00'; "
        "collected_at and received_at ignored",
        "storage 'freezer' is not room_temperature or refrigerated; ignored",
    ]
    assert ctx.drug == "azathioprine" and ctx.alt_uln == 4.0
    assert ctx.weight_kg is None and ctx.age_hours is None and ctx.room_temperature is None


def test_from_row_strict_lists_every_problem():
    with pytest.raises(InputError) as exc:
        it.ClinicalContext.from_row({"dose_mg": "0", "tpmt": "?"})
    assert exc.value.key == "dose_mg"
    assert "dose_mg '0' must be a positive number" in exc.value.reason
    assert "tpmt '?' is not a known phenotype" in exc.value.reason
    assert "ignored" not in exc.value.reason  # the CLI refuses the whole input
    with pytest.raises(InputError):
        it.ClinicalContext(dose_mg=0)
