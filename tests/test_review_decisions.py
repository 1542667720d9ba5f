"""The reviewer-decisions file (thioquant.assay.decisions): manual integrations AND calibrator
exclusions/inclusions in the file ``quantify --overrides`` reads and a signed version writes, so
that a signed version is reproduced from its files with the command line (docs/review.md)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_runs import cli_exit_code as _main
from held_runs import held_run
from thioquant.assay.decisions import apply_decisions, decisions_csv, read_decisions
from thioquant.audit import verify
from thioquant.errors import InputError
from thioquant.peaks import read_overrides

EXCLUDE_WHY = "wrong vial: CAL5 and CAL6 swapped on the tray"
INCLUDE_WHY = "chromatogram checked: injection volume low, IS and analyte scaled alike, ratio fine"


def _write(tmp_path, text, name="decisions.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_todays_override_files_read_unchanged(tmp_path):
    text = ("sample_id,analyte,start_min,end_min,reason\n"
            "S1,6-TG,4.6,5.6,split peak\n# comment\n\nS2,6-MMP,1.0,1.5,baseline noise\n")
    p = _write(tmp_path, text)
    d = read_decisions(p)
    assert d.integrations == read_overrides(p) and not d.exclusions and not d.inclusions
    assert (d.integrations[("S2", "6-MMP")].start_min, d.integrations[("S2", "6-MMP")].row) == (1.0, 3)
    # the old format keeps all five columns required
    for text in ("sample_id,analyte,end_min,reason\nS1,A,2,r\n", "sample_id,analyte,end_min,reason\n"):
        with pytest.raises(InputError, match="row 1: override file lacks column.*start_min"):
            read_decisions(_write(tmp_path, text))
        with pytest.raises(InputError, match="row 1: override file lacks column.*start_min"):
            read_overrides(_write(tmp_path, text))
    empty = read_decisions(_write(tmp_path, "# nothing yet\n\n"))
    assert not (empty.integrations or empty.exclusions or empty.inclusions)


def test_calibrator_actions_are_read_and_integrations_keep_their_checks(tmp_path):
    p = _write(tmp_path, "sample_id,analyte,action,start_min,end_min,reason\n"
                         "P002,6-TG,,1.43,1.9,tailing cut off\n"
                         "CAL5,6-MMP,Exclude_Calibrator,,,wrong vial\n"
                         "CAL4,6-TG,include_calibrator,,,\"checked, ratio fine\"\n"
                         "CAL4,6-TG,integrate,1.2,1.8,re-integrated as well\n")
    d = read_decisions(p)
    assert set(d.integrations) == {("P002", "6-TG"), ("CAL4", "6-TG")}
    assert {k: (v.action, v.reason, v.row) for k, v in d.exclusions.items()} == \
        {("CAL5", "6-MMP"): ("exclude_calibrator", "wrong vial", 3)}
    assert {k: v.reason for k, v in d.inclusions.items()} == {("CAL4", "6-TG"): "checked, ratio fine"}
    # a hand-written file of calibrator decisions needs no time columns
    d = read_decisions(_write(tmp_path, "sample_id,analyte,action,reason\nCAL2,6-TG,exclude_calibrator,bubble\n",
                              "hand.csv"))
    assert list(d.exclusions) == [("CAL2", "6-TG")]
    # the peak layer's reader refuses a calibrator decision rather than dropping it in silence
    with pytest.raises(InputError, match=r"row 3: action 'Exclude_Calibrator' is not a manual integration"):
        read_overrides(p)


@pytest.mark.parametrize(("rows", "row", "message"), [
    ("CAL2,6-TG,exclude,,,bubble\n", 2, "unknown action 'exclude'; the actions are integrate, "
                                        "exclude_calibrator, include_calibrator"),
    ("CAL2,6-TG,exclude_calibrator,1.2,1.8,bubble\n", 2, "exclude_calibrator takes no integration times: "
                                                         "leave start_min and end_min empty"),
    ("CAL2,6-TG,include_calibrator,,1.8,ok\n", 2, "include_calibrator takes no integration times: leave end_min"),
    ("CAL2,6-TG,exclude_calibrator,,, \n", 2, "reason must not be empty"),
    (",6-TG,exclude_calibrator,,,bubble\n", 2, "sample_id and analyte must not be empty"),
    ("CAL2,6-TG,exclude_calibrator,,,a\nCAL2,6-TG,exclude_calibrator,,,b\n", 3,
     r"duplicate calibrator decision for sample 'CAL2', analyte '6-TG' \(exclude_calibrator on row 2\)"),
    ("CAL2,6-TG,include_calibrator,,,a\nCAL2,6-TG,exclude_calibrator,,,b\n", 3,
     "contradicting calibrator decision .*include_calibrator on row 2"),
    ("P1,6-TG,integrate,1,2,a\nP1,6-TG,,1,3,b\n", 3, "duplicate manual integration .*first on row 2"),
    ("P1,6-TG,integrate,,2,a\n", 2, "start_min '' is not a number"),
    ("P1,6-TG,integrate,2,1,a\n", 2, "end_min .* must be after start_min"),
])
def test_bad_rows_name_file_row_and_reason(tmp_path, rows, row, message):
    p = _write(tmp_path, "sample_id,analyte,action,start_min,end_min,reason\n" + rows)
    with pytest.raises(InputError, match=message) as ei:
        read_decisions(p)
    assert str(ei.value).startswith(f"{p}: row {row}: ")


def test_an_integrate_row_without_time_columns_is_refused(tmp_path):
    p = _write(tmp_path, "sample_id,analyte,action,reason\nP1,6-TG,,split\n")
    with pytest.raises(InputError, match="row 2: an integrate row needs the column.*start_min, end_min"):
        read_decisions(p)


def test_decisions_apply_to_calibrators_of_the_batch_only(tmp_path):
    d = read_decisions(_write(tmp_path, "sample_id,analyte,action,reason\n"
                                        "P001,6-TG,exclude_calibrator,not a calibrator\n"
                                        "GONE,6-TG,include_calibrator,not in the worklist\n"
                                        "CAL2,6-TG,exclude_calibrator,bubble\n"))
    kinds = {"P001": "unknown", "CAL2": "calibrator"}
    got = apply_decisions(d, channels=["6-TG", "6-TG-IS"], analytes=["6-TG"], sample_types=kinds)
    assert got.exclusions == {("CAL2", "6-TG"): "bubble"} and not got.inclusions
    assert got.messages == [
        f"{d.path}: row 2: exclude_calibrator ignored: sample 'P001' is not a calibrator (sample type unknown)",
        f"{d.path}: row 3: include_calibrator for unknown sample_id 'GONE' ignored"]
    # an internal standard has no calibration of its own: a decision on it is a typo, refused
    d = read_decisions(_write(tmp_path, "sample_id,analyte,action,reason\nCAL2,6-TG-IS,exclude_calibrator,x\n"))
    with pytest.raises(InputError, match="row 2: exclude_calibrator for unknown analyte '6-TG-IS'; the method's "
                                         "analytes are 6-TG"):
        apply_decisions(d, channels=["6-TG", "6-TG-IS"], analytes=["6-TG"], sample_types=kinds)


_ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
               min_size=1, max_size=8)
_reasons = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30).map(
    str.strip).filter(bool)
_times = st.tuples(st.floats(0, 30), st.floats(1e-9, 5)).map(lambda t: (t[0], t[0] + t[1])).filter(
    lambda t: t[1] > t[0])


@settings(max_examples=150, deadline=None)
@given(manual=st.dictionaries(st.tuples(_ids, _ids), st.tuples(_times, _reasons), max_size=4),
       calib=st.dictionaries(st.tuples(_ids, _ids), st.tuples(st.booleans(), _reasons), max_size=4))
def test_a_written_decisions_file_reads_back_to_the_same_decisions(tmp_path_factory, manual, calib):
    # reasons with commas, quotes, line breaks, a leading '=' or '-' (guarded against spreadsheet
    # formulas on writing, unguarded on reading), times to the last bit
    records = [{"sample_id": s, "analyte": a, "start_min": t[0], "end_min": t[1], "reason": r}
               for (s, a), (t, r) in manual.items()]
    excl = {k: r for k, (inc, r) in calib.items() if not inc}
    incl = {k: r for k, (inc, r) in calib.items() if inc}
    p = tmp_path_factory.mktemp("rt") / "overrides.csv"
    p.write_bytes(decisions_csv(records, excl, incl).encode("utf-8"))
    d = read_decisions(p)
    assert {k: (o.start_min, o.end_min, o.reason) for k, o in d.integrations.items()} == \
        {k: (t[0], t[1], r) for k, (t, r) in manual.items()}
    assert {k: v.reason for k, v in d.exclusions.items()} == excl
    assert {k: v.reason for k, v in d.inclusions.items()} == incl


def test_a_lab_scientist_excludes_a_calibrator_from_the_command_line(sample_batch, tmp_path):
    batch = sample_batch()
    ov = _write(tmp_path, "sample_id,analyte,action,reason\nCAL5,6-MMP,exclude_calibrator,bubble in the vial\n")
    out = tmp_path / "out"
    assert _main(["quantify", str(batch), "--out", str(out), "--overrides", str(ov), "--quiet", "--no-history"]) == 0
    cal5 = next(p for p in json.loads((out / "calibration.json").read_text())["analytes"]["6-MMP"]["points"]
                if p["level"] == "CAL5")
    # the exclusion names the file and row it came from (was: "excluded by reviewer", though no
    # reviewer decided it: a hand-written file)
    why = f"excluded by decisions file {ov} row 2: bubble in the vial"
    assert not cal5["included"] and cal5["reason"] == why
    rows = [r for r in _results(out / "results.csv") if r["sample_id"] == "CAL5"]
    assert {r["analyte"]: "CAL_EXCLUDED" in r["flags"] for r in rows} == {"6-TG": False, "6-MMP": True}
    assert next(r["flag_messages"] for r in rows if r["analyte"] == "6-MMP").endswith(f"; {why}")
    audit = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    assert any(e["event"] == "calibrator_excluded" and e["reason"] == why for e in audit)
    assert any(e["event"] == "calibrator_exclusion_decided" and e["sample_id"] == "CAL5"
               and e["source"] == f"decisions file {ov} row 2" for e in audit)
    assert "reviewer" not in (out / "calibration.json").read_text() + (out / "report.html").read_text()
    # a bad row stops the run with exit code 2, naming file, row and reason
    bad = _write(tmp_path, "sample_id,analyte,action,reason\nCAL5,6-MMP,drop,bubble\n", "bad.csv")
    assert _main(["quantify", str(batch), "--out", str(tmp_path / "out2"), "--overrides", str(bad), "--quiet",
                  "--no-history"]) == 2


def _results(path):
    import csv

    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_quantify_with_a_versions_overrides_file_reproduces_the_version(tmp_path, review_users):
    from thioquant.review.session import ReviewSession

    out = held_run(tmp_path)
    users = review_users
    s = ReviewSession(out, users)
    alice = users.get("alice")
    # a manual integration, a calibrator exclusion with its reason, a CAL_HELD re-inclusion
    end = s._peak_doc("P002", "6-TG")["end_min"]
    s.integrate(alice, "P002", "6-TG", 1.43, end, "tailing cut off", rev=s.rev)
    s.exclude(alice, "CAL5", "6-MMP", EXCLUDE_WHY, rev=s.rev)
    s.include(alice, "CAL4", "6-TG", INCLUDE_WHY, rev=s.rev)
    assert s.batch.accepted  # CAL4 back: the 6-TG curve passes
    s.sign("alice", "alice-pass", "reviewed", rev=s.rev)
    assert s.sign("bob", "bob-pass-1", "authorised", rev=s.rev)["version"] == "v1"
    v1 = out / "versions" / "v1"
    assert verify(out).ok  # the decisions file is one of the version's sealed files

    d = read_decisions(v1 / "overrides.csv")
    assert list(d.integrations) == [("P002", "6-TG")]
    assert {k: v.reason for k, v in d.exclusions.items()} == {("CAL5", "6-MMP"): EXCLUDE_WHY}
    assert {k: v.reason for k, v in d.inclusions.items()} == {("CAL4", "6-TG"): INCLUDE_WHY}

    again = tmp_path / "again"
    assert _main(["quantify", str(s.batch_dir), "--out", str(again), "--overrides", str(v1 / "overrides.csv"),
                  "--quiet", "--no-history"]) == 0
    # the same numbers, flags and reasons: results.csv row by row, calibration.json in full; the
    # calibrator decisions now say that they came from the version's file (its row, the version and
    # its two signatures) where the version itself says "by reviewer"
    sigs = json.loads((v1 / "version.json").read_text())["signatures"]
    signed = (f"signed version v1: reviewed by Alice Analyst (alice) {sigs[0]['time']}, "
              f"authorised by Bob Authoriser (bob) {sigs[1]['time']}")
    source = {row: f"decisions file {v1 / 'overrides.csv'} row {row} ({signed})" for row in (3, 4)}
    got, want = _results(again / "results.csv"), _results(v1 / "results.csv")
    cal_json = (again / "calibration.json").read_text()
    assert f"excluded by {source[3]}: {EXCLUDE_WHY}" in cal_json and f"included by {source[4]}: {INCLUDE_WHY}" in cal_json

    def as_reviewer(text):
        return text.replace(source[3], "reviewer").replace(source[4], "reviewer")

    assert len(got) == len(want) > 0
    assert [{k: as_reviewer(v) for k, v in r.items()} for r in got] == [
        {k: as_reviewer(v) for k, v in r.items()} for r in want]
    assert json.loads(as_reviewer(cal_json)) == json.loads((v1 / "calibration.json").read_text())
    flags = {(r["sample_id"], r["analyte"]): r["flags"] for r in got}
    assert "MANUAL" in flags[("P002", "6-TG")] and "CAL_HELD_INCLUDED" in flags[("CAL4", "6-TG")]
    assert "CAL_EXCLUDED" in flags[("CAL5", "6-MMP")]
    assert json.loads((again / "results.json").read_text())["verdict"]["accepted"]

    # a review of the reproduced run starts with those decisions in force, and keeps them through
    # an edit (they were lost at the first re-quantification)
    r = ReviewSession(again, users)
    assert r.exclusions == {("CAL5", "6-MMP"): EXCLUDE_WHY} and r.inclusions == {("CAL4", "6-TG"): INCLUDE_WHY}
    r.automatic(alice, "P002", "6-TG", "second look: automatic is right", rev=r.rev)
    assert r.batch.accepted and "CAL_EXCLUDED" in next(
        x.flags for x in r.batch.results if x.sample_id == "CAL5" and x.analyte == "6-MMP")
    p002 = next(x for x in r.batch.results if x.sample_id == "P002" and x.analyte == "6-TG")
    assert "MANUAL" not in p002.flags and math.isfinite(p002.reported)
    # the reviewer may put back a calibrator the file excluded, as one they excluded themselves
    r.include(alice, "CAL5", "6-MMP", "tray checked again: the right vial", rev=r.rev)
    assert not r.exclusions and "CAL_EXCLUDED" not in next(
        x.flags for x in r.batch.results if x.sample_id == "CAL5" and x.analyte == "6-MMP")


def test_the_documented_example_reads_as_documented(repo_root, tmp_path):
    text = (repo_root / "docs" / "review.md").read_text(encoding="utf-8")
    section = text[text.index("### The reviewer-decisions file"):]
    block = section[section.index("```\n") + 4:]
    d = read_decisions(_write(tmp_path, block[:block.index("```")]))
    assert [(k, o.start_min, o.end_min) for k, o in d.integrations.items()] == [(("P002", "6-TG"), 1.43, 1.912)]
    assert list(d.exclusions) == [("CAL5", "6-MMP")] and list(d.inclusions) == [("CAL4", "6-TG")]
    assert d.inclusions[("CAL4", "6-TG")].reason == "chromatogram checked: volume low, IS and analyte scaled alike"


def test_a_pseudonymised_version_is_reproduced_with_its_key(sample_batch, tmp_path, monkeypatch, review_users):
    # a --pseudonymise run's version names the patient samples by pseudonym in overrides.csv too;
    # quantify --pseudonymise with the key maps them back (they were ignored as unknown samples)
    from thioquant.review.session import ReviewSession

    key = "review-key-0123456789"
    monkeypatch.delenv("THIOQUANT_PSEUDONYM_KEY", raising=False)
    batch, out = sample_batch(), tmp_path / "out"
    pseudo = ["--quiet", "--no-history", "--pseudonymise", "--pseudonym-key", key]
    assert _main(["quantify", str(batch), "--out", str(out), *pseudo]) == 0
    users = review_users
    s = ReviewSession(out, users, pseudonym_key=key)
    alice = users.get("alice")
    patient = next(r for r in s.batch.results if r.sample_type == "unknown" and r.analyte == "6-TG"
                   and math.isfinite(r.reported))
    pk = s._peak_doc(patient.sample_id, "6-TG")
    s.integrate(alice, patient.sample_id, "6-TG", pk["start_min"] + 0.03, pk["end_min"], "tailing cut off", rev=0)
    s.exclude(alice, "CAL5", "6-MMP", EXCLUDE_WHY, rev=s.rev)
    s.sign("alice", "alice-pass", "reviewed", rev=s.rev)
    assert s.sign("bob", "bob-pass-1", "authorised", rev=s.rev)["version"] == "v1"
    v1 = out / "versions" / "v1"
    assert list(read_decisions(v1 / "overrides.csv").integrations) == [(patient.sample_id, "6-TG")]

    again = tmp_path / "again"
    assert _main(["quantify", str(batch), "--out", str(again), "--overrides", str(v1 / "overrides.csv"), *pseudo]) == 0
    # the same, but for the exclusion naming the version's file, its row and its signatures
    audit = [json.loads(line) for line in (again / "audit.jsonl").read_text().splitlines()]
    source = next(e["source"] for e in audit if e["event"] == "calibrator_exclusion_decided")
    assert source.startswith(f"decisions file {v1 / 'overrides.csv'} row 3 (signed version v1: reviewed by Alice")

    def as_reviewer(text):
        return text.replace(source, "reviewer")

    got, want = _results(again / "results.csv"), _results(v1 / "results.csv")
    assert [{k: as_reviewer(v) for k, v in r.items()} for r in got] == want
    assert "MANUAL" in next(r["flags"] for r in got if r["sample_id"] == patient.sample_id and r["analyte"] == "6-TG")
    assert json.loads(as_reviewer((again / "calibration.json").read_text())) == \
        json.loads((v1 / "calibration.json").read_text())
    assert "unknown sample_id" not in (again / "messages.txt").read_text()
    # and a review of the reproduced run shows that integration under its pseudonym
    r = ReviewSession(again, users, pseudonym_key=key)
    assert list(r.manual) == [(patient.sample_id, "6-TG")] and list(r.exclusions) == [("CAL5", "6-MMP")]
