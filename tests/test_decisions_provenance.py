"""A calibrator decision read from a decisions file (``quantify --overrides``) says where it came
from in every output a person reads, instead of "excluded by reviewer" (no reviewer decided it
in that run): the file and its row, the signed review version and its two signatures when the file
is a version's sealed ``overrides.csv``, and the row's reason. The file itself is in the audit
trail with its sha256 and the rows applied per action (docs/review.md)."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cli_runs import cli_exit_code as _main
from held_runs import held_run
from thioquant.audit import check_chain, verify

REPO = Path(__file__).resolve().parents[1]
WHY = "bubble in the vial"
PDFTOTEXT = shutil.which("pdftotext")


def _audit(out):
    return [json.loads(line) for line in (out / "audit.jsonl").read_text(encoding="utf-8").splitlines()]


def _words(text: str) -> str:
    return " ".join(text.split())


def _pdf_text(pdf) -> str:
    """The PDF's text as a reader gets it (pdftotext), line breaks of the wrapped cells as spaces."""
    res = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                         timeout=120)
    return res.stdout


def _html_text(html: str) -> str:
    """The text of an HTML page as shown (tags dropped, entities undone), for when no browser runs."""
    import html as h

    return h.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)))


@pytest.fixture(scope="module")
def file_run(tmp_path_factory):
    """The bundled LC-MS/MS batch quantified with a hand-written decisions file: one manual
    integration, one calibrator exclusion, one row for a sample the worklist lacks (ignored)."""
    tmp = tmp_path_factory.mktemp("prov")
    batch = tmp / "batch"
    shutil.copytree(REPO / "sample_data" / "lcmsms", batch,
                    ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
    dec = tmp / "decisions.csv"
    dec.write_text("action,sample_id,analyte,start_min,end_min,reason\n"
                   "integrate,P002,6-TG,1.43,1.912,tailing cut off\n"
                   f"exclude_calibrator,CAL5,6-MMP,,,{WHY}\n"
                   "exclude_calibrator,CAL9,6-TG,,,no such calibrator\n", encoding="utf-8")
    out = tmp / "out"
    assert _main(["quantify", str(batch), "--out", str(out), "--overrides", str(dec), "--quiet",
                  "--no-history"]) == 0
    return batch, dec, out


def test_a_file_exclusion_names_its_file_and_row_in_every_output(file_run):
    _batch, dec, out = file_run
    source = f"decisions file {dec} row 3"
    said = f"excluded by {source}: {WHY}"
    # the calibration record: the point and the curve's reasons
    cal = json.loads((out / "calibration.json").read_text(encoding="utf-8"))["analytes"]["6-MMP"]
    cal5 = next(p for p in cal["points"] if p["level"] == "CAL5")
    assert not cal5["included"] and cal5["reason"] == said  # was: "excluded by reviewer: bubble in the vial"
    assert f"calibrator CAL5 (x=12500) {said}" in cal["reasons"]
    # the results table: the excluded calibrator's row says who excluded it and why
    with open(out / "results.csv", encoding="utf-8", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["sample_id"] == "CAL5" and r["analyte"] == "6-MMP")
    assert "CAL_EXCLUDED" in row["flags"].split(";") and row["flag_messages"].endswith(f"; {said}")
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert any(r["sample_id"] == "CAL5" and r["flag_messages"].endswith(said) for r in doc["results"])
    from openpyxl import load_workbook

    ws = load_workbook(out / "results.xlsx", read_only=True)["Results"]
    cells = [str(c) for r in ws.iter_rows(values_only=True) for c in r if isinstance(c, str)]
    assert any(c.endswith(said) for c in cells)
    # messages.txt and the audit trail
    assert f"6-MMP: calibrator CAL5 (x=12500) {said}" in (out / "messages.txt").read_text(encoding="utf-8")
    audit = _audit(out)
    assert any(e["event"] == "calibrator_excluded" and e["level"] == "CAL5" and e["reason"] == said for e in audit)
    decided = [e for e in audit if e["event"] == "calibrator_exclusion_decided"]
    assert [(e["sample_id"], e["analyte"], e["reason"], e["source"]) for e in decided] == [
        ("CAL5", "6-MMP", WHY, source)]
    # the report, as a person reads it: the HTML page's text and the PDF's
    html = _words(_html_text((out / "report.html").read_text(encoding="utf-8")))
    assert said in html and "excluded by reviewer" not in html
    if PDFTOTEXT:
        pdf = _words(_pdf_text(out / "report.pdf"))
        assert said in pdf and "excluded by reviewer" not in pdf


def test_the_decisions_file_is_in_the_audit_trail_with_its_hash(file_run, tmp_path):
    batch, dec, out = file_run
    entry = next(e for e in _audit(out) if e["event"] == "decisions_file")  # was: only its path, in parameters
    assert entry["file"] == str(dec) and entry["sha256"] == hashlib.sha256(dec.read_bytes()).hexdigest()
    assert entry["rows_applied"] == {"integrate": 1, "exclude_calibrator": 1, "include_calibrator": 0}
    assert entry["rows_ignored"] == 1  # CAL9: not in the worklist
    assert "signed_version" not in entry
    # the report's and results.json's list of input files carries it too
    assert {"file": f"{dec} (decisions file)", "sha256": entry["sha256"]} in \
        json.loads((out / "results.json").read_text(encoding="utf-8"))["inputs"]
    assert entry["sha256"] in (out / "report.html").read_text(encoding="utf-8")
    chained, problems = check_chain((out / "audit.jsonl").read_bytes())
    assert not problems and verify(out).ok

    # one byte changed in the file (a letter of a reason): another hash, and the chain still holds
    raw = dec.read_bytes()
    at = raw.index(b"tailing")
    edited = tmp_path / "decisions.csv"
    edited.write_bytes(raw[:at] + b"T" + raw[at + 1:])
    again = tmp_path / "again"
    assert _main(["quantify", str(batch), "--out", str(again), "--overrides", str(edited), "--quiet",
                  "--no-history"]) == 0
    entry2 = next(e for e in _audit(again) if e["event"] == "decisions_file")
    assert entry2["sha256"] == hashlib.sha256(edited.read_bytes()).hexdigest() != entry["sha256"]
    assert entry2["rows_applied"] == entry["rows_applied"]
    _, problems = check_chain((again / "audit.jsonl").read_bytes())
    assert not problems and verify(again).ok
    # and the entry is chained: editing its recorded hash afterwards breaks the trail
    text = (again / "audit.jsonl").read_text(encoding="utf-8")
    (again / "audit.jsonl").write_text(text.replace(entry2["sha256"], entry["sha256"]), encoding="utf-8")
    _, problems = check_chain((again / "audit.jsonl").read_bytes())
    assert any("does not match its hash" in p for p in problems)


def test_a_signed_versions_file_names_the_version_and_its_signers(tmp_path, review_users):
    from thioquant.review.session import ReviewSession

    out = held_run(tmp_path)
    s = ReviewSession(out, review_users)
    alice = review_users.get("alice")
    s.exclude(alice, "CAL5", "6-MMP", "wrong vial", rev=s.rev)
    s.include(alice, "CAL4", "6-TG", "chromatogram checked, ratio fine", rev=s.rev)
    s.sign("alice", "alice-pass", "reviewed", rev=s.rev)
    assert s.sign("bob", "bob-pass-1", "authorised", rev=s.rev)["version"] == "v1"
    v1 = out / "versions" / "v1"
    ov = v1 / "overrides.csv"
    times = [x["time"] for x in json.loads((v1 / "version.json").read_text())["signatures"]]
    signed = (f"signed version v1: reviewed by Alice Analyst (alice) {times[0]}, "
              f"authorised by Bob Authoriser (bob) {times[1]}")

    again = tmp_path / "again"
    assert _main(["quantify", str(s.batch_dir), "--out", str(again), "--overrides", str(ov), "--quiet",
                  "--no-history"]) == 0
    excl = f"excluded by decisions file {ov} row 2 ({signed}): wrong vial"
    incl = f"included by decisions file {ov} row 3 ({signed}): chromatogram checked, ratio fine"
    cal = (again / "calibration.json").read_text(encoding="utf-8")
    assert any(excl in r for r in json.loads(cal)["analytes"]["6-MMP"]["reasons"]) and incl in cal
    entry = next(e for e in _audit(again) if e["event"] == "decisions_file")
    assert entry["signed_version"] == "v1" and [x["user"] for x in entry["signatures"]] == ["alice", "bob"]
    assert entry["rows_applied"] == {"integrate": 0, "exclude_calibrator": 1, "include_calibrator": 1}
    if PDFTOTEXT:
        pdf = _words(_pdf_text(again / "report.pdf"))
        assert excl in pdf and incl.split(" (would")[0] in pdf and "by reviewer" not in pdf

    # a review of that run keeps the decisions' source (a reviewer's own edit would be the
    # reviewer's), and so does the version it releases: its tables and version.json
    r = ReviewSession(again, review_users)
    assert r.state()["review"]["exclusions"] == [
        {"sample_id": "CAL5", "analyte": "6-MMP", "reason": "wrong vial", "source": excl.split(" by ", 1)[1].rsplit(": ", 1)[0]}]
    r.sign("alice", "alice-pass", "reviewed", rev=r.rev)
    assert r.sign("carol", "carol-pass", "authorised", rev=r.rev)["version"] == "v1"
    info = json.loads((again / "versions" / "v1" / "version.json").read_text(encoding="utf-8"))
    assert info["calibrator_exclusions"][0]["source"] == f"decisions file {ov} row 2 ({signed})"
    assert excl in (again / "versions" / "v1" / "calibration.json").read_text(encoding="utf-8")

    # the same file edited after signing is not credited to the version's signers
    edited = tmp_path / "copy" / "versions" / "v1" / "overrides.csv"
    shutil.copytree(v1, edited.parent)
    edited.chmod(0o644)
    edited.write_text(edited.read_text(encoding="utf-8").replace("wrong vial", "wrong vial!"), encoding="utf-8")
    third = tmp_path / "third"
    assert _main(["quantify", str(s.batch_dir), "--out", str(third), "--overrides", str(edited), "--quiet",
                  "--no-history"]) == 0
    cal = json.loads((third / "calibration.json").read_text(encoding="utf-8"))
    reason = next(p["reason"] for p in cal["analytes"]["6-MMP"]["points"] if p["level"] == "CAL5")
    assert reason == (f"excluded by decisions file {edited} row 2 (not the decisions file signed version v1 "
                      "sealed (changed after signing): not credited to its signers): wrong vial!")
    entry = next(e for e in _audit(third) if e["event"] == "decisions_file")
    assert "signed_version" not in entry and "changed after signing" in entry["signed_note"]

    # nor a version whose other files were changed (here its version.json: who signed)
    forged = tmp_path / "forged" / "versions" / "v1"
    shutil.copytree(v1, forged)
    (forged / "version.json").chmod(0o644)
    (forged / "version.json").write_text((forged / "version.json").read_text().replace("Bob", "Rob"))
    fourth = tmp_path / "fourth"
    assert _main(["quantify", str(s.batch_dir), "--out", str(fourth), "--overrides", str(forged / "overrides.csv"),
                  "--quiet", "--no-history", "--no-report", "--no-pdf"]) == 0
    cal = json.loads((fourth / "calibration.json").read_text(encoding="utf-8"))
    reason = next(p["reason"] for p in cal["analytes"]["6-MMP"]["points"] if p["level"] == "CAL5")
    assert reason == (f"excluded by decisions file {forged / 'overrides.csv'} row 2 (signed version v1's files do "
                      "not verify: not credited to its signers): wrong vial")
