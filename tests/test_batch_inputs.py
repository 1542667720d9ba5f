"""Bad batch input: each problem is named and flagged, the rest of the batch goes on."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from thioquant.assay.normalise import per_8e8_rbc
from thioquant.assay.worklist import read_worklist
from thioquant.cli import cli, main
from thioquant.errors import CalibrationError, InputError
from thioquant.pipeline import quantify


def test_domain_worked_example():
    # domain.md section 2: 6-TG 1.60 umol/L at RBC 4.5x10^12/L -> 284 pmol/8x10^8 RBC
    assert per_8e8_rbc(1600.0, 4.5) == pytest.approx(284.4, abs=0.05)
    assert round(per_8e8_rbc(1600.0, 4.5)) == 284


@pytest.fixture
def lcms_copy(tmp_path: Path, sample_batch) -> Path:
    return sample_batch(dst=tmp_path / "batch")


def _edit_worklist(batch: Path, edit) -> None:
    path = batch / "worklist.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    cols = list(rows[0])
    rows = edit(rows, cols) or rows
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _row(rows, sid):
    return next(r for r in rows if r["sample_id"] == sid)


def test_row_problems_are_flagged_and_batch_goes_on(lcms_copy):
    (lcms_copy / "raw" / "021_P007.mzML").unlink()  # a missing raw file

    def edit(rows, cols):
        _row(rows, "P003")["rbc_count"] = "45"          # impossible (entered x10^11)
        _row(rows, "P004")["rbc_count"] = ""            # missing
        _row(rows, "P005")["sample_type"] = "patient"   # unknown type
        _row(rows, "P006")["sample_id"] = "P002"        # duplicate id
        _row(rows, "QCM-2")["level"] = "QCX"            # unknown level

    _edit_worklist(lcms_copy, edit)
    # QCM-2's bad level leaves 5 QCs and one mid: ICH M10 coverage rejects the run (issue 19)
    rejected = quantify(lcms_copy)
    assert not rejected.accepted and rejected.verdict.deciding_rule == "qc_coverage"
    # with the coverage rule as a warning, the rest of the batch is processed as before
    from dataclasses import replace

    from thioquant.assay.method import find_method_file, load_method

    m = load_method(find_method_file("thiopurines_lcmsms", start=lcms_copy))
    b = quantify(lcms_copy, method=replace(m, qc={**m.qc, "severity": {"qc_coverage": "warn"}}))
    res = {(r.sample_id, r.analyte): r for r in b.results}
    msgs = "\n".join(b.messages)

    assert "BAD_RBC" in res[("P003", "6-TG")].flags and math.isnan(res[("P003", "6-TG")].reported)
    assert math.isfinite(res[("P003", "6-TG")].conc)  # concentration still measured
    assert "NO_RBC" in res[("P004", "6-MMP")].flags
    assert "BAD_TYPE" in res[("P005", "6-TG")].flags
    dup = [r for r in b.results if r.sample_id.startswith("P002#")]
    assert dup and all("DUPLICATE_ID" in r.flags for r in dup)
    # neither P002 is interpreted: which result is the patient's cannot be told
    its = {r["sample_id"]: r for r in b.interpretations}
    assert its["P002"]["category"] == "not_interpretable" and "DUPLICATE_ID" in its["P002"]["notes"]
    assert its[dup[0].sample_id]["category"] == "not_interpretable"
    assert "BAD_LEVEL" in res[("QCM-2", "6-TG")].flags
    assert "MISSING_FILE" in res[("P007", "6-TG")].flags
    for needle in ("row 18 (P003)", "rbc_count 45", "row 19 (P004)", "'patient'", "duplicate sample_id",
                   "'QCX'", "021_P007.mzML"):
        assert needle in msgs, needle
    # The untouched patients are still reported (P002's values too, flagged, in results.csv).
    assert math.isfinite(res[("P002", "6-TG")].reported) and math.isfinite(res[("P008", "6-TG")].reported)
    assert its["P008"]["category"] != "not_interpretable"
    assert b.accepted


def test_too_few_calibrators_cannot_be_evaluated(lcms_copy):
    def edit(rows, cols):
        return [r for r in rows if r["sample_type"] != "calibrator" or r["level"] == "CAL1"]

    _edit_worklist(lcms_copy, edit)
    with pytest.raises(CalibrationError, match="no analyte could be calibrated"):
        quantify(lcms_copy)


def test_missing_required_column_names_file_and_row(tmp_path):
    p = tmp_path / "worklist.csv"
    p.write_text("sample_id,file\nA,a.mzML\n")
    with pytest.raises(InputError) as exc:
        read_worklist(p)
    assert "sample_type" in str(exc.value) and "row 1" in str(exc.value) and str(p) in str(exc.value)


def test_cli_quantify_writes_outputs_and_refuses_overwrite(lcms_copy):
    runner = CliRunner()
    res = runner.invoke(cli, ["quantify", str(lcms_copy)], standalone_mode=False)
    assert res.exception is None, res.output
    from thioquant.locations import default_output_dir

    out = default_output_dir(lcms_copy)  # outside the batch folder
    for f in ("results.csv", "calibration.json", "interpretation.csv", "qc.csv", "messages.txt"):
        assert (out / f).is_file(), f
    assert "Run ACCEPTED" in res.output and "P002" in res.output
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    for col in ("sample_id", "sample_type", "level", "analyte", "rt_min", "area", "is_area", "response",
                "conc", "conc_unit", "reported", "reported_unit", "nominal", "accuracy_pct", "flags"):
        assert col in header
    first = (out / "results.csv").read_bytes()
    # Same inputs -> byte-identical results; an existing output is never silently replaced.
    with pytest.raises(SystemExit) as exc:
        main(["quantify", str(lcms_copy)])
    assert exc.value.code == 5
    main(["quantify", str(lcms_copy), "--force", "--quiet"])  # returns normally on success
    assert (out / "results.csv").read_bytes() == first
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    assert not (lcms_copy / "results").exists()


def test_cli_exit_code_when_batch_missing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["quantify", str(tmp_path / "nope")])
    assert exc.value.code == 2
    assert "batch folder not found" in capsys.readouterr().err


# Worklist structure: each case is a hand-edited copy of the bundled LC-MS/MS worklist. Line n of
# the file is injection n-1 (line 1 is the header), so P003 (injection 17) is row 18.
def _worklist_text(tmp_path: Path, repo_root: Path, edit) -> Path:
    lines = (repo_root / "sample_data" / "lcmsms" / "worklist.csv").read_text().splitlines()
    p = tmp_path / "worklist.csv"
    p.write_text("\n".join(edit(lines)) + "\n")
    return p


def _replace_line(prefix: str, new: str):
    def edit(lines):
        i = next(i for i, line in enumerate(lines) if line.startswith(prefix))
        return lines[:i] + [new] + lines[i + 1:]
    return edit


def _entry(wl, row):
    return next(e for e in wl.entries if e.row == row)



def test_unterminated_quote_names_the_row_where_it_opened(tmp_path, repo_root):
    p = _worklist_text(tmp_path, repo_root,
                       _replace_line("17,P003,", '17,"P003,raw/017_P003.mzML,unknown,,3.77,,PT1003,mercaptopurine,75,70,'))
    with pytest.raises(InputError) as exc:
        read_worklist(p)
    assert "unterminated quote" in str(exc.value) and exc.value.row == 18 and str(p) in str(exc.value)


def test_decimal_comma_shift_is_flagged_and_not_quantified(lcms_copy):
    # rbc_count 4,6 unquoted: 13 values for 12 columns, and the surplus value (tpmt) is empty, so
    # the old reader said nothing and reported P003 with rbc 4 and dilution 6.
    wl = lcms_copy / "worklist.csv"
    wl.write_text(wl.read_text().replace("17,P003,raw/017_P003.mzML,unknown,,3.77,,",
                                         "17,P003,raw/017_P003.mzML,unknown,,4,6,,"))
    b = quantify(lcms_copy)
    p003 = [r for r in b.results if r.sample_id == "P003"]
    assert p003 and all("BAD_ROW" in r.flags and math.isnan(r.reported) and math.isnan(r.conc) for r in p003)
    msg = next(m for m in b.messages if "row 18" in m)
    assert str(wl) in msg and "13 values for 12 columns" in msg and "decimal comma" in msg
    assert not any("PT1003" in m for m in b.messages)  # no clinical context read from shifted values
    # The rest of the batch is processed as before.
    assert b.accepted and math.isfinite(next(r for r in b.results if r.sample_id == "P004").reported)


def test_row_with_surplus_or_missing_values_is_not_usable(tmp_path, repo_root):
    def edit(lines):
        lines = _replace_line("24,P010,", "24,P010,raw/024_P010.mzML,unknown,,4,29,,PT1010,azathioprine,100,73,"
                              "intermediate")(lines)
        return _replace_line("19,P005,", "19,P005,raw/019_P005.mzML,unknown,5.16,,PT1005,azathioprine,100,80,")(lines)

    p = _worklist_text(tmp_path, repo_root, edit)
    wl = read_worklist(p)
    longer, shorter = _entry(wl, 25), _entry(wl, 20)
    assert "BAD_ROW" in longer.flags and not longer.usable
    assert "BAD_ROW" in shorter.flags and not shorter.usable  # level dropped: rbc moved into 'level'
    msgs = {i.row: i.message for i in wl.issues if i.code == "BAD_ROW"}
    assert "13 values for 12 columns" in msgs[25] and "11 values for 12 columns" in msgs[20]
    assert all(e.usable for e in wl.entries if e.row not in (20, 25))


def test_comment_rows_are_skipped_and_reported(tmp_path, repo_root):
    p = _worklist_text(tmp_path, repo_root, _replace_line("17,P003,", "#17,P003,raw/017_P003.mzML,unknown,,3.77,,,,,,"))
    wl = read_worklist(p)
    assert "P003" not in {e.sample_id for e in wl.entries} and len(wl.entries) == 41
    (issue,) = [i for i in wl.issues if i.code == "COMMENT_ROW"]
    assert issue.row == 18 and "row 18" in issue.message and str(p) in issue.message
    assert not any("COMMENT_ROW" in e.flags for e in wl.entries)


def test_every_row_sharing_a_sample_id_is_flagged(tmp_path, repo_root):
    p = _worklist_text(tmp_path, repo_root,
                       _replace_line("20,P006,", "20,P002,raw/020_P006.mzML,unknown,,3.77,,PT1006,mercaptopurine,75,84,"))
    wl = read_worklist(p)
    first, second = _entry(wl, 17), _entry(wl, 21)
    assert "DUPLICATE_ID" in first.flags and "DUPLICATE_ID" in second.flags
    assert (first.sample_id, second.sample_id) == ("P002", "P002#row21")
    assert first.usable and second.usable  # both still measured, under distinct names
    for issue in (i for i in wl.issues if i.code == "DUPLICATE_ID"):
        assert "rows (17, 21)" in issue.message


def test_raw_file_named_by_two_rows_is_flagged_on_both(tmp_path, repo_root):
    def edit(lines):
        lines = _replace_line("18,P004,", "18,P004,./raw/../raw/017_P003.mzML,unknown,,4.10,,PT1004,azathioprine,100,53,")(
            lines)
        # the case of a name counts: a different name is not flagged
        return _replace_line("19,P005,", "19,P005,raw/017_p003.mzML,unknown,,5.16,,PT1005,azathioprine,100,80,")(lines)

    wl = read_worklist(_worklist_text(tmp_path, repo_root, edit))
    for row in (18, 19):
        e = _entry(wl, row)
        assert "DUPLICATE_FILE" in e.flags and not e.usable
    assert "DUPLICATE_FILE" not in _entry(wl, 20).flags
    msgs = [i.message for i in wl.issues if i.code == "DUPLICATE_FILE"]
    assert len(msgs) == 1 and ": row 18 (" in msgs[0] and "rows (18, 19)" in msgs[0]


def test_calibrators_without_level_column_name_the_column(tmp_path, repo_root):
    def edit(lines):
        return [",".join(v for i, v in enumerate(line.split(",")) if i != 4) for line in lines]

    p = _worklist_text(tmp_path, repo_root, edit)
    with pytest.raises(InputError) as exc:
        read_worklist(p)
    assert exc.value.row == 1 and "'level'" in str(exc.value) and "14 calibrator/QC row(s)" in str(exc.value)
    assert str(p) in str(exc.value)


def test_rbc_count_from_haematocrit_and_mcv(lcms_copy):
    # P002 at RBC 4.5x10^12/L given instead as Hct 0.405 and MCV 90 fL (0.405 / 90 fL = 4.5):
    # the same reported value; Hct as a percentage is refused, not divided by 100 in silence
    before = quantify(lcms_copy, jobs=1, cache=None)
    p002 = {r.analyte: r for r in before.results if r.sample_id == "P002"}
    rbc = float(next(e.rbc_count for e in before.worklist.entries if e.sample_id == "P002"))

    def edit(rows, cols):
        cols += ["hct", "mcv_fl"]
        for r in rows:
            r["hct"] = r["mcv_fl"] = ""
        _row(rows, "P002").update(rbc_count="", hct=f"{rbc * 90 / 1000:.6f}", mcv_fl="90")
        _row(rows, "P003").update(rbc_count="", hct="40.5", mcv_fl="90")

    _edit_worklist(lcms_copy, edit)
    after = quantify(lcms_copy, jobs=1, cache=None)
    for r in after.results:
        if r.sample_id == "P002":
            assert r.reported == pytest.approx(p002[r.analyte].reported, rel=1e-5)
        if r.sample_id == "P003":
            assert "BAD_RBC" in r.flags and math.isnan(r.reported)
    assert any("P003" in m and "hct must be a fraction" in m for m in after.messages)


def test_a_non_utf8_worklist_names_the_row_and_byte(tmp_path):
    p = tmp_path / "worklist.csv"
    p.write_bytes("sample_id,file,sample_type\nP1,a.mzML,unknown\nPatient-\xe9,b.mzML,unknown\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"row 3: worklist is not UTF-8 text: byte 0xe9 at offset 53"):
        read_worklist(p)


def test_the_same_file_spelt_relative_and_absolute_is_a_duplicate(tmp_path, monkeypatch):
    # with the batch folder given as a relative path, 'raw/a.mzML' and '/abs/.../raw/a.mzML'
    # were two files: P2 was reported from P1's injection
    b = tmp_path / "batch"
    b.mkdir()
    (b / "worklist.csv").write_text(
        "sample_id,file,sample_type,rbc_count\n"
        f"P1,raw/a.mzML,unknown,4.5\nP2,{b / 'raw' / 'a.mzML'},unknown,4.5\n")
    monkeypatch.chdir(tmp_path)
    wl = read_worklist(Path("batch/worklist.csv"))
    assert all("DUPLICATE_FILE" in e.flags and not e.usable for e in wl.entries)
    assert not any(i.code == "OUTSIDE_BATCH" for i in wl.issues)  # an absolute path into the batch
