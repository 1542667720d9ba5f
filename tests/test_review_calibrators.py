"""The reviewer puts back a calibrator set aside for a held integration (CAL_HELD), or takes one
out, with a reason: journaled, undoable, the curve refitted and every dependent result recomputed
by the same path as a manual re-integration (docs/review.md, "Calibrators set aside for a held
integration")."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest

from held_runs import held_run
from thioquant.audit import verify
from thioquant.errors import InputError
from thioquant.review.journal import verify_journal
from thioquant.review.session import ReviewSession

REASON = "chromatogram checked: injection volume low, IS and analyte scaled alike, ratio fine"


def _r(s, sid, analyte="6-TG"):
    return next(r for r in s.batch.results if r.sample_id == sid and r.analyte == analyte)


def _point(s, level, analyte="6-TG"):
    return next(p for p in s.batch.calibrations[analyte].points if p.level == level)


@pytest.fixture
def held(tmp_path, review_users):
    return held_run(tmp_path), review_users


def test_a_held_calibrator_is_included_by_the_reviewer_and_everything_is_recomputed(held):
    from thioquant import quantify

    out, users = held
    s = ReviewSession(out, users)
    alice = users.authenticate("alice", "alice-pass")
    # as quantified: three 6-TG calibrators set aside, the curve fails ICH M10, the run is rejected
    assert not s.batch.accepted and not s.batch.calibrations["6-TG"].passed
    assert "CAL_HELD" in _r(s, "CAL4").flags and not _point(s, "CAL4").included
    patients = [r for r in s.batch.results if r.sample_type == "unknown" and r.analyte == "6-TG"]
    assert all("CAL_FAIL" in r.flags and not math.isfinite(r.reported) for r in patients)
    interp_before = {i["sample_id"]: i for i in s.batch.interpretations}

    with pytest.raises(InputError, match="reason is required"):
        s.include(alice, "CAL4", "6-TG", "  ", rev=s.rev)
    with pytest.raises(InputError, match="not excluded"):  # an included calibrator cannot be included
        s.include(alice, "CAL3", "6-TG", "x", rev=s.rev)
    with pytest.raises(InputError, match="already excluded .* before the fit"):
        s.exclude(alice, "CAL4", "6-TG", "x", rev=s.rev)

    n_before = sum(p.included for p in s.batch.calibrations["6-TG"].points)
    entry = s.include(alice, "CAL4", "6-TG", REASON, rev=0)
    assert entry["held_override"] and entry["before"]["reason"].startswith("excluded before the fit: integration held")
    assert s.rev == 1 and s.inclusions == {("CAL4", "6-TG"): REASON}
    # the curve: CAL4 back in, 6/8 and 6 levels (M10 75 % / 6 levels still judged), it passes
    oc = s.batch.calibrations["6-TG"]
    cal4 = _point(s, "CAL4")
    assert cal4.included and cal4.reason.startswith(f"included by reviewer: {REASON} (would be excluded")
    assert oc.passed and sum(p.included for p in oc.points) == n_before + 1 == 6
    assert any(r.startswith("calibrator CAL4 (x=1000) included by reviewer") for r in oc.reasons)
    assert {"CAL_HELD", "CAL_EXCLUDED"}.isdisjoint(_r(s, "CAL4").flags)
    assert "CAL_HELD_INCLUDED" in _r(s, "CAL4").flags
    # the dependent results: patients reported and interpreted, QCs judged on the new curve, verdict
    after = [r for r in s.batch.results if r.sample_type == "unknown" and r.analyte == "6-TG"]
    assert not any("CAL_FAIL" in r.flags for r in after)
    reported = [r for r in after if math.isfinite(r.reported)]
    assert len(reported) >= len(after) // 2
    assert s.batch.accepted
    interp_after = {i["sample_id"]: i for i in s.batch.interpretations}
    changed = [r.sample_id for r in reported if interp_after[r.sample_id] != interp_before[r.sample_id]]
    assert len(changed) == len(reported)
    # exactly what quantify gives with the same inclusion (one recompute path, not a second one)
    batch_dir = s.batch_dir
    direct = quantify(batch_dir, inclusions={("CAL4", "6-TG"): REASON})
    assert [(r.sample_id, r.analyte, r.flags) for r in direct.results] == \
        [(r.sample_id, r.analyte, r.flags) for r in s.batch.results]
    assert [r.conc for r in direct.results if math.isfinite(r.conc)] == \
        [r.conc for r in s.batch.results if math.isfinite(r.conc)]
    assert direct.calibrations["6-TG"].as_dict() == s.batch.calibrations["6-TG"].as_dict()

    # taken out again (the hold's reason is back), undone, and replayed by a restarted session
    s.exclude(alice, "CAL4", "6-TG", "second look: keep it out", rev=1)
    assert not s.inclusions and "CAL_HELD" in _r(s, "CAL4").flags and not s.batch.accepted
    s.undo(alice, rev=2)
    assert s.inclusions == {("CAL4", "6-TG"): REASON} and s.batch.accepted
    s.undo(alice, rev=3)
    assert not s.inclusions and not s.batch.accepted
    s.include(alice, "CAL4", "6-TG", REASON, rev=4)
    again = ReviewSession(out, users)
    assert again.rev == 5 and again.inclusions == s.inclusions and again.batch.accepted
    assert verify_journal(out / "review" / "journal.jsonl") == []

    # the page's state says it
    st = again.state()
    assert st["review"]["inclusions"] == [{"sample_id": "CAL4", "analyte": "6-TG", "reason": REASON}]
    assert st["verdict"]["accepted"]

    # the signed version: calibration.json, results, report, version.json and audit trail
    again.sign("alice", "alice-pass", "reviewed")
    assert again.sign("bob", "bob-pass-1", "authorised")["version"] == "v1"
    v1 = out / "versions" / "v1"
    cal = json.loads((v1 / "calibration.json").read_text())
    cal = cal.get("6-TG", cal)
    text = json.dumps(cal)
    assert f"included by reviewer: {REASON}" in text and '"passed": true' in text
    assert "CAL_HELD_INCLUDED" in (v1 / "results.csv").read_text()
    assert f"included by reviewer: {REASON}" in (v1 / "report.html").read_text()
    if shutil.which("pdftotext"):  # the signed PDF report says it too
        pdf = subprocess.run(["pdftotext", str(v1 / "report.pdf"), "-"], capture_output=True, text=True,
                             check=True).stdout
        assert "CAL4 (x=1000) included by reviewer" in " ".join(pdf.split())
    info = json.loads((v1 / "version.json").read_text())
    assert info["calibrator_inclusions"] == [{"sample_id": "CAL4", "analyte": "6-TG", "reason": REASON}]
    audit = [json.loads(line) for line in (v1 / "audit.jsonl").read_text().splitlines()]
    assert {"event": "calibrator_included", "sample_id": "CAL4", "analyte": "6-TG", "reason": REASON}.items() \
        <= next(e for e in audit if e["event"] == "calibrator_included").items()
    assert any(e.get("review_event") == "review_include_calibrator" and e.get("held_override") for e in audit)
    assert json.loads((v1 / "results.json").read_text())["verdict"]["accepted"]
    assert verify(out).ok


def test_the_ich_m10_rules_still_judge_a_calibrator_the_reviewer_put_back(held):
    # CAL3's 6-MMP internal standard is cut: its response reads 3.3x. Put back, it is out again by
    # its accuracy, with that reason; the curve stays as it was
    out, users = held
    s = ReviewSession(out, users)
    alice = users.authenticate("alice", "alice-pass")
    assert "CAL_HELD" in _r(s, "CAL3", "6-MMP").flags
    before = s.batch.calibrations["6-MMP"]
    s.include(alice, "CAL3", "6-MMP", "looked fine to me", rev=0)
    cal3 = _point(s, "CAL3", "6-MMP")
    assert not cal3.included and "back-calculated accuracy" in cal3.reason
    oc = s.batch.calibrations["6-MMP"]
    assert oc.passed and any("CAL3" in r and "included by reviewer: looked fine to me" in r for r in oc.reasons)
    assert {"CAL_HELD_INCLUDED", "CAL_EXCLUDED"} <= set(_r(s, "CAL3", "6-MMP").flags)
    assert oc.lloq == before.lloq and oc.uloq == before.uloq
    # out by its accuracy now: including it again is refused, naming the rule that keeps it out
    with pytest.raises(InputError, match="rule that stays in force .*back-calculated accuracy"):
        s.include(alice, "CAL3", "6-MMP", "and again", rev=1)
    # taking the inclusion back restores the hold's exclusion
    s.exclude(alice, "CAL3", "6-MMP", "keep it out after all", rev=1)
    assert "CAL_HELD" in _r(s, "CAL3", "6-MMP").flags and not s.inclusions


def test_the_api_includes_a_held_calibrator(held):
    from thioquant.review.app import create_app

    out, users = held
    app = create_app(ReviewSession(out, users), token="t" * 43, port=8765)
    c = app.test_client()
    base = "http://127.0.0.1:8765"
    h = {"X-Review-Token": "t" * 43}
    key = c.post("/api/login", json={"user": "alice", "password": "alice-pass"}, headers=h,
                 base_url=base).get_json()["key"]
    h["X-Review-User"] = key
    body = {"sample_id": "CAL2", "analyte": "6-TG", "reason": "", "include": True, "rev": 0}
    r = c.post("/api/exclude", json=body, headers=h, base_url=base)
    assert r.status_code == 400 and "reason is required" in r.get_json()["error"]
    r = c.post("/api/exclude", json={**body, "reason": REASON}, headers=h, base_url=base)
    assert r.status_code == 200, r.get_json()
    st = r.get_json()["state"]
    assert st["review"]["rev"] == 1 and st["verdict"]["accepted"] and st["calibration"]["6-TG"]["passed"]
    assert st["review"]["inclusions"][0]["reason"] == REASON


def test_an_inclusion_of_a_calibrator_that_is_not_held_changes_nothing_and_says_so(sample_batch):
    from thioquant import quantify

    batch = sample_batch()
    plain = quantify(batch)
    got = quantify(batch, inclusions={("CAL3", "6-TG"): "not held at all"})
    assert [r.flags for r in got.results] == [r.flags for r in plain.results]
    assert got.calibrations["6-TG"].as_dict() == plain.calibrations["6-TG"].as_dict()
    assert "6-TG: inclusion of calibrator CAL3 ignored: it is not set aside for a held integration" in got.messages
