"""The review of an output folder (thioquant.review): edits through the measurement cache, undo,
calibrator exclusion, two-person e-signatures, signed versions and their audit (docs/review.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from thioquant.audit import verify
from thioquant.calibration import accept_calibration
from thioquant.errors import InputError, ReviewError
from thioquant.locations import default_output_dir
from thioquant.review.journal import verify_journal
from thioquant.review.session import ReviewSession, find_output_dir
from thioquant.review.users import UserStore


def _result(session, sid, analyte="6-TG"):
    return next(r for r in session.batch.results if r.sample_id == sid and r.analyte == analyte)


def test_user_file_stores_argon2_hashes_only(tmp_path):
    from argon2 import PasswordHasher

    store = UserStore(tmp_path / "u.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    store.add("dana", "analyst", "correct horse", "Dana D.")
    text = (tmp_path / "u.json").read_text()
    assert "correct horse" not in text and "$argon2id$" in text
    assert store.authenticate("dana", "correct horse").role == "analyst"
    with pytest.raises(ReviewError, match="wrong password"):
        store.authenticate("dana", "wrong horse!")
    with pytest.raises(ReviewError, match="wrong password"):
        store.authenticate("nobody", "correct horse")
    with pytest.raises(InputError, match="role"):
        store.add("erin", "boss", "password123")
    with pytest.raises(InputError, match="exists"):
        store.add("dana", "authoriser", "password123")
    with pytest.raises(InputError, match="at least"):
        store.add("fay", "analyst", "short")


def test_users_cli_reads_password_from_stdin(tmp_path):
    import os
    import sys

    users = tmp_path / "users.json"
    env = {**os.environ, "THIOQUANT_USERS": str(users)}
    r = subprocess.run([sys.executable, "-m", "thioquant", "users", "add", "gil", "--role", "authoriser",
                        "--password-stdin"], input="s3cret-pass\n", text=True, capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    assert UserStore(users).authenticate("gil", "s3cret-pass").role == "authoriser"
    r = subprocess.run([sys.executable, "-m", "thioquant", "users", "list"], text=True, capture_output=True, env=env)
    assert "gil\tauthoriser" in r.stdout and "argon2" not in r.stdout


def test_manual_exclusion_in_accept_calibration():
    x = [100, 200, 500, 1000, 2000, 5000, 10000]
    y = [0.01 * v for v in x]
    y[2] *= 1.05
    out = accept_calibration(x, y, min_levels=5, manual_exclusions=["", "", "pipetting error", "", "", "", ""])
    assert [p.included for p in out.points] == [True, True, False, True, True, True, True]
    assert out.points[2].reason == "excluded by reviewer: pipetting error"
    assert any("pipetting error" in r for r in out.reasons)
    plain = accept_calibration(x, y, min_levels=5)
    assert all(p.included for p in plain.points)
    assert out.calibration.coefficients[1] != plain.calibration.coefficients[1]


def test_integrate_undo_automatic_and_exclude(review_setup):
    out, users = review_setup
    s = ReviewSession(out, users)
    alice = users.get("alice")
    before = _result(s, "P002")
    pk = s._peak_doc("P002", "6-TG")
    # 1.40 min is 0.04 min before the apex (1.443 on the bundled batch): 17-24 % of the area goes
    e = s.integrate(alice, "P002", "6-TG", 1.40, pk["end_min"], "start moved into the rising flank", rev=0)
    after = _result(s, "P002")
    assert 0.7 * before.area < after.area < before.area * 0.9 and after.reported < before.reported
    assert "MANUAL" in after.flags and s.rev == 1
    assert e["before"]["area"] == pytest.approx(before.area) and e["after"]["start_min"] == 1.40
    assert e["user"] == "alice" and e["reason"] == "start moved into the rising flank"
    assert e["result_after"]["reported"] == pytest.approx(after.reported)
    # another tab still showing revision 0 is told to reload rather than overwrite
    with pytest.raises(ReviewError, match="changed elsewhere"):
        s.exclude(alice, "CAL3", "6-TG", "bubble", rev=0)
    s.undo(alice, rev=1)
    assert _result(s, "P002").area == pytest.approx(before.area) and "MANUAL" not in _result(s, "P002").flags
    s.integrate(alice, "P002", "6-TG", 1.40, pk["end_min"], "start moved into the rising flank", rev=2)
    s.automatic(alice, "P002", "6-TG", rev=3)
    assert _result(s, "P002").area == pytest.approx(before.area)
    cal_before = s.batch.calibrations["6-TG"].calibration.coefficients
    s.exclude(alice, "CAL3", "6-TG", "pipetting error", rev=4)
    oc = s.batch.calibrations["6-TG"]
    assert [p.included for p in oc.points].count(False) == 1
    assert "CAL_EXCLUDED" in _result(s, "CAL3").flags
    assert list(oc.calibration.coefficients) != list(cal_before)
    assert _result(s, "P002").reported != pytest.approx(before.reported, rel=1e-9)
    # the internal standard integrated by hand: the analyte's response changes and is flagged MANUAL
    r_before = _result(s, "P004")
    is_pk = s._peak_doc("P004", "6-TG-IS")
    s.integrate(alice, "P004", "6-TG-IS", is_pk["start_min"], is_pk["rt_min"] + 0.04, "tailing cut off",
                rev=s.rev)
    r_after = _result(s, "P004")
    assert r_after.is_area < r_before.is_area and r_after.response > r_before.response
    assert "MANUAL" in r_after.flags
    with pytest.raises(InputError, match="not a calibrator"):
        s.exclude(alice, "P002", "6-TG", "x")
    with pytest.raises(InputError, match="reason"):
        s.integrate(alice, "P003", "6-TG", 1.3, 1.6, "  ")
    assert verify_journal(out / "review" / "journal.jsonl") == []
    # the state survives a restart: it is replayed from the journal
    s2 = ReviewSession(out, users)
    assert s2.rev == s.rev and s2.exclusions == {("CAL3", "6-TG"): "pipetting error"}
    assert set(s2.manual) == {("P004", "6-TG-IS")}
    assert _result(s2, "P002").reported == pytest.approx(_result(s, "P002").reported)


def test_signatures_two_person_rule_and_versions(review_setup):
    out, users = review_setup
    s = ReviewSession(out, users)
    alice = users.get("alice")
    with pytest.raises(ReviewError, match="technical review"):
        s.sign("bob", "bob-pass-1", "authorised")
    with pytest.raises(ReviewError, match="wrong password"):
        s.sign("alice", "not-her-password", "reviewed")
    s.sign("alice", "alice-pass", "reviewed", rev=0)
    with pytest.raises(ReviewError, match="authoriser role"):
        s.sign("alice", "alice-pass", "authorised")
    s.integrate(alice, "P002", "6-TG", 1.43, 1.62, "baseline drawn through noise or drift", rev=s.rev)
    assert s.signatures == []  # an edit voids the signature of the earlier state
    s.sign("bob", "bob-pass-1", "reviewed", rev=s.rev)  # an authoriser may do the technical review...
    with pytest.raises(ReviewError, match="another person"):
        s.sign("bob", "bob-pass-1", "authorised", rev=s.rev)
    # ...but not also authorise it
    sig = s.sign("carol", "carol-pass", "authorised", rev=s.rev)
    assert sig["version"] == "v1"
    v1 = out / "versions" / "v1"
    info = json.loads((v1 / "version.json").read_text())
    assert info["supersedes"] is None and [x["user"] for x in info["signatures"]] == ["bob", "carol"]
    assert verify(out).ok, verify(out).problems
    events = [json.loads(line) for line in (v1 / "audit.jsonl").read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("signature") == 2 and "version" in kinds and kinds[-1] == "run_end"
    review = [e for e in events if e["event"] == "review"]
    assert any(e["review_event"] == "review_manual_integration" and e["user"] == "alice" for e in review)
    assert any(e["review_event"] == "signature_refused" for e in review)
    results = (v1 / "results.csv").read_text()
    assert "MANUAL" in results
    # the manual integrations in force, as an overrides file quantify reads back to the same areas
    from thioquant.peaks import read_overrides

    ov = read_overrides(v1 / "overrides.csv")
    assert list(ov) == [("P002", "6-TG")] and ov[("P002", "6-TG")].start_min == 1.43
    from thioquant.pipeline import quantify

    again = quantify(s.batch_dir, overrides=v1 / "overrides.csv", cache=s.cache)
    area = next(r.area for r in again.results if r.sample_id == "P002" and r.analyte == "6-TG")
    assert area == pytest.approx(_result(s, "P002").area, rel=1e-12)
    # a later correction is a new version that names the one it supersedes; v1 is never rewritten
    v1_audit = (v1 / "audit.jsonl").read_bytes()
    s.exclude(alice, "CAL2", "6-MMP", "wrong vial", rev=s.rev)
    s.sign("alice", "alice-pass", "reviewed", rev=s.rev)
    assert s.sign("bob", "bob-pass-1", "authorised", rev=s.rev)["version"] == "v2"
    assert json.loads((out / "versions" / "v2" / "version.json").read_text())["supersedes"] == "v1"
    assert (v1 / "audit.jsonl").read_bytes() == v1_audit
    assert verify(out).ok, verify(out).problems
    from click.testing import CliRunner

    from thioquant.cli import cli

    r = CliRunner().invoke(cli, ["audit", "verify", str(out)])
    assert r.exit_code == 0 and "2 signed version(s) verified (v1, v2)" in r.output


def test_signed_version_pdf_and_tampering(review_setup):
    """The signed PDF names reviewer and authoriser; a changed version or journal is caught."""
    out, users = review_setup
    released = []

    def lis_hook(vdir):  # stands for thioquant.lis.history.record_release
        released.append(vdir)

    def broken_hook(vdir):
        raise RuntimeError("LIS unreachable")

    s = ReviewSession(out, users, release_hooks=(lis_hook, broken_hook))
    s.sign("alice", "alice-pass", "reviewed")
    s.sign("bob", "bob-pass-1", "authorised")
    assert verify(out).ok
    v1 = out / "versions" / "v1"
    assert released == [v1]
    failed = [e for e in s.journal.entries if e["event"] == "release_hook_failed"]
    assert failed and "LIS unreachable" in failed[0]["problems"][0]
    # quantify --force never replaces an output folder that holds signed versions
    from thioquant.cli import main

    start = json.loads((out / "audit.jsonl").read_text().splitlines()[0])
    with pytest.raises(SystemExit) as exc:
        main(["quantify", start["batch_dir"], "--out", str(out), "--force", "--quiet", "--no-history"])
    assert exc.value.code == 5 and (v1 / "audit.jsonl").is_file()
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(v1 / "report.pdf"), "-"], capture_output=True,
                              text=True, check=True).stdout
        assert "Reviewed by Alice Analyst (alice, analyst)" in text
        assert "Authorised by Bob Authoriser (bob, authoriser)" in text
        patient = sorted((v1 / "patients").glob("*.pdf"))[0]
        ptext = subprocess.run(["pdftotext", "-layout", str(patient), "-"], capture_output=True, text=True,
                               check=True).stdout
        assert "Reviewed by Alice Analyst" in ptext and "Authorised by Bob Authoriser" in ptext
        unsigned = subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"], capture_output=True,
                                  text=True, check=True).stdout
        assert "Reviewed by: ____" in unsigned and "electronic signature" not in unsigned
    csv = v1 / "results.csv"
    assert not csv.stat().st_mode & 0o222  # read-only
    csv.chmod(0o644)
    original = csv.read_text()
    csv.write_text(original.replace("P002", "P0O2", 1))
    check = verify(out)
    assert not check.ok and any("versions/v1" in p and "results.csv" in p for p in check.problems)
    with pytest.raises(SystemExit) as exc:
        main(["audit", "verify", str(out)])
    assert exc.value.code == 6
    csv.write_text(original)
    assert verify(out).ok
    journal = out / "review" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # a line removed
    assert not verify(out).ok
    # the journal is checked line by line as audit.jsonl is: an edit or a bad byte names its line
    edited = lines[:1] + [lines[1].replace('"time": "', '"time": "1', 1)] + lines[2:]
    journal.write_text("\n".join(edited) + "\n")
    assert "review/journal.jsonl line 2: content does not match its hash (edited)" in verify(out).problems
    journal.write_bytes("\n".join(lines).encode()[:-1] + b"\xff\n")
    assert any(p.startswith(f"review/journal.jsonl line {len(lines)}: not valid UTF-8") for p in verify(out).problems)
    journal.write_text("\n".join(lines) + "\n")
    assert verify(out).ok
    shutil.copytree(out / "versions" / "v1", out / "versions" / "v3")
    assert any("v3" in p for p in verify(out).problems)
    shutil.rmtree(out / "versions" / "v3")
    journal.unlink()
    assert any("journal.jsonl" in p and "missing" in p for p in verify(out).problems)




def test_review_of_the_hplcuv_batch(sample_batch, tmp_path):
    """The other bundled batch (HPLC-UV, no internal standard, fixed cells): the same loop."""
    from argon2 import PasswordHasher

    from thioquant.cli import main

    batch = sample_batch("hplcuv")
    main(["quantify", str(batch), "--quiet", "--no-history", "--no-pdf"])
    users = UserStore(tmp_path / "u.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    analyst = users.add("alice", "analyst", "alice-pass")
    users.add("bob", "authoriser", "bob-pass-1")
    out = find_output_dir(batch)  # a batch folder: its default output folder
    assert out == default_output_dir(batch) and out.is_dir()
    s = ReviewSession(out, users)
    doc = s.injection("P002")
    assert [c["role"] for c in doc["analytes"][0]["channels"]] == ["quantifier"]
    before = _result(s, "P002")
    pk = s._peak_doc("P002", "6-TG")
    s.integrate(analyst, "P002", "6-TG", pk["start_min"] + 0.2, pk["end_min"], "co-eluting peak included")
    after = _result(s, "P002")
    assert after.area < before.area and after.reported < before.reported and "MANUAL" in after.flags
    s.sign("alice", "alice-pass", "reviewed")
    assert s.sign("bob", "bob-pass-1", "authorised")["version"] == "v1"
    assert verify(out).ok


def test_batch_recorded_relative_to_another_folder_is_found(tmp_path, monkeypatch):
    from thioquant.review.session import _locate_batch

    batch = tmp_path / "lab" / "runs" / "b1"
    (batch / "results").mkdir(parents=True)
    (batch / "worklist.csv").write_text("injection,sample_id,file,sample_type\n")
    monkeypatch.chdir(tmp_path)  # quantify ran in tmp_path/lab as "runs/b1"; the review runs elsewhere
    found, base = _locate_batch(Path("runs/b1"), batch / "results")
    assert found == batch.resolve() and base == (tmp_path / "lab").resolve()
    assert _locate_batch(batch, batch / "results") == (batch, None)
    with pytest.raises(InputError, match="cannot be found"):
        _locate_batch(Path("runs/b2"), tmp_path / "elsewhere" / "results")
    # the default output folder is not in the batch folder: the run's recorded cwd finds the batch
    out = tmp_path / "lab" / "thioquant-results" / "m" / "b1"
    assert _locate_batch(Path("runs/b1"), out, str(tmp_path / "lab")) == (tmp_path / "lab" / "runs" / "b1",
                                                                          tmp_path / "lab")
    with pytest.raises(InputError, match="cannot be found"):
        _locate_batch(Path("runs/b1"), out)  # without it (a run of an earlier version), not


def test_review_of_a_batch_quantified_with_defaults_from_another_folder(sample_batch, tmp_path, monkeypatch,
                                                                       repo_root):
    """quantify BATCH (relative, default output folder) in one folder, review the output folder from
    another: the batch is found through the folder quantify ran in, recorded in the audit trail."""
    from argon2 import PasswordHasher

    from thioquant.cli import main
    from thioquant.locations import RESULTS_ENV

    lab = tmp_path / "lab"
    sample_batch("hplcuv", lab / "runs" / "hplcuv")
    (lab / "calibrations").mkdir()  # batch.toml names the method: found in the lab's calibrations/
    shutil.copy(repo_root / "calibrations" / "thiopurines_hplcuv.toml", lab / "calibrations")
    monkeypatch.delenv(RESULTS_ENV)
    monkeypatch.chdir(lab)
    main(["quantify", "runs/hplcuv", "--quiet", "--no-pdf", "--no-report"])
    out = lab / "thioquant-results" / "thiopurines_hplcuv" / "hplcuv"
    assert (out / "audit.jsonl").is_file() and (lab / "thioquant-results" / "thiopurines_hplcuv" /
                                                 "qc_history.sqlite").is_file()
    assert find_output_dir("runs/hplcuv").resolve() == out.resolve()
    monkeypatch.chdir(tmp_path)
    users = UserStore(tmp_path / "u.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    s = ReviewSession(out, users)
    assert s.batch_dir == (lab / "runs" / "hplcuv").resolve()
    assert s.history is not None and s.history.resolve() == out.parent.resolve() / "qc_history.sqlite"


def test_results_held_for_review_come_first(review_setup):
    """A result flagged HELD (held for review) heads the run page's list."""
    from dataclasses import replace

    out, users = review_setup
    s = ReviewSession(out, users)
    rs = list(s.batch.results)
    k = next(i for i, r in enumerate(rs) if r.sample_id == "P010")
    rs[k] = replace(rs[k], flags=(*rs[k].flags, "HELD"))
    s.batch = replace(s.batch, results=tuple(rs))
    rows = s.state()["results"]
    assert rows[0]["sample_id"] == "P010" and "HELD" in rows[0]["flags"]
    assert not any("HELD" in r["flags"] for r in rows[1:])  # the bundled batch holds nothing itself
    assert [r["injection"] for r in rows[1:]] == sorted(r["injection"] for r in rows[1:])


def test_repeated_wrong_passwords_lock_the_name(review_setup):
    out, users = review_setup
    s = ReviewSession(out, users)
    s.MAX_FAILURES = 3
    for _ in range(3):
        with pytest.raises(ReviewError, match="wrong password"):
            s.sign_in("alice", "guess-guess")
    with pytest.raises(ReviewError, match="locked"):
        s.sign_in("alice", "alice-pass")  # even the right password, while locked
    with pytest.raises(ReviewError, match="locked"):
        s.sign("alice", "alice-pass", "reviewed")
    assert s.sign_in("bob", "bob-pass-1").name == "bob"  # other names are not affected
    events = [e["event"] for e in s.journal.entries]
    assert events.count("sign_in_refused") == 4 and events.count("signature_refused") == 1
    assert any(e.get("locked") for e in s.journal.entries)
    s._failures["alice"] = (0, 0.0)  # the lock has run out
    assert s.sign_in("alice", "alice-pass").name == "alice"


def test_a_restarted_review_server_keeps_the_lock_and_the_count(review_setup, monkeypatch):
    """The lock-out lives in the review journal: restarting the server does not clear it."""
    out, users = review_setup
    monkeypatch.setattr(ReviewSession, "MAX_FAILURES", 3)
    s = ReviewSession(out, users)
    for _ in range(2):
        with pytest.raises(ReviewError, match="wrong password"):
            s.sign_in("alice", "guess-guess")
    s = ReviewSession(out, users)  # restarted: two wrong passwords remembered, one more locks
    with pytest.raises(ReviewError, match="wrong password"):
        s.sign_in("alice", "guess-guess")
    assert any(e.get("locked") for e in s.journal.entries)
    s = ReviewSession(out, users)
    with pytest.raises(ReviewError, match="locked"):
        s.sign_in("alice", "alice-pass")
    assert s.sign_in("bob", "bob-pass-1").name == "bob"
    monkeypatch.setattr(ReviewSession, "LOCK_S", 0.0)  # as if the 15 minutes had passed
    s = ReviewSession(out, users)
    assert s._failures.get("alice", (0, 0.0))[0] == 0  # a refusal while locked is no new wrong password
    assert s.sign_in("alice", "alice-pass").name == "alice"
    s = ReviewSession(out, users)  # a good sign-in resets the count
    for _ in range(2):
        with pytest.raises(ReviewError, match="wrong password"):
            s.sign_in("alice", "guess-guess")
    assert ReviewSession(out, users).sign_in("alice", "alice-pass").name == "alice"
