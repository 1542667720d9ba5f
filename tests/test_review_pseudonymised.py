"""A run quantified with --pseudonymise is reviewed with its key, under its pseudonyms only: the
pages, the journal and every signed version name no patient sample, patient or raw file of the lab
(docs/review.md, "Pseudonymised runs"; the promise of thioquant.privacy)."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import subprocess

import pytest

from thioquant.audit import verify
from thioquant.errors import ReviewError
from thioquant.review.session import ReviewSession

KEY = "review-key-0123456789"


@pytest.fixture
def pseudo(sample_batch, tmp_path, monkeypatch):
    from argon2 import PasswordHasher

    from thioquant.cli import main
    from thioquant.review.users import UserStore

    batch = sample_batch()
    out = tmp_path / "out"
    monkeypatch.delenv("THIOQUANT_PSEUDONYM_KEY", raising=False)
    # released by the review's authorisation into a patient history and a LIS outbox
    main(["quantify", str(batch), "--out", str(out), "--quiet", "--no-history", "--pseudonymise",
          "--pseudonym-key", KEY, "--patient-history", str(tmp_path / "patients.sqlite"),
          "--lis-outbox", str(tmp_path / "outbox"), "--release-on", "authorisation"])
    with open(batch / "worklist.csv", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["sample_type"] == "unknown"]
    # every identifier of the lab: sample ids, patient ids, raw file stems
    secrets = {r["sample_id"] for r in rows} | {r["patient_id"] for r in rows if r["patient_id"]}
    secrets |= {r["file"].rsplit("/", 1)[-1].rsplit(".", 1)[0] for r in rows}
    store = UserStore(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setenv("THIOQUANT_USERS", str(store.path))
    store.add("alice", "analyst", "alice-pass", "Alice Analyst")
    store.add("bob", "authoriser", "bob-pass-1", "Bob Authoriser")
    return out, store, secrets


def _ids(path) -> set[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return {r["sample_id"] for r in csv.DictReader(fh)}


def _leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if re.search(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])", text))


def test_a_pseudonymised_run_needs_its_key(pseudo, capsys):
    from thioquant.cli import main

    out, users, secrets = pseudo
    with pytest.raises(ReviewError, match="pseudonymised .*--pseudonym-key"):
        ReviewSession(out, users)
    with pytest.raises(ReviewError, match="does not give this run's pseudonyms") as exc:
        ReviewSession(out, users, pseudonym_key="another-key-0123456789")
    assert not _leaks(str(exc.value), secrets)
    # the command says so too, with its exit code, before serving anything
    with pytest.raises(SystemExit) as ex:
        main(["review", str(out), "--no-browser"])
    assert ex.value.code == 7 and "--pseudonym-key" in capsys.readouterr().err
    assert not (out / "review").exists()


def test_a_pseudonymised_run_is_reviewed_and_released_under_pseudonyms(pseudo):
    from thioquant.review.app import create_app

    out, users, secrets = pseudo
    s = ReviewSession(out, users, pseudonym_key=KEY)
    shown = _ids(out / "results.csv")
    assert {e.sample_id for e in s.batch.worklist.entries if e.sample_type == "unknown"} <= shown
    # a patient whose 6-TG was quantified (the first, P001, has none: undetectable), to integrate below
    with_tg = {r.sample_id for r in s.batch.results if r.analyte == "6-TG" and math.isfinite(r.reported)}
    patient = next(e for e in s.batch.worklist.entries
                   if e.sample_type == "unknown" and e.patient_id and e.sample_id in with_tg)
    # quantify's closing line names the review command with the key option
    from thioquant.report.summary import summary_text

    assert summary_text(s.batch, out, pseudonymised=True).endswith(f"thioquant review {out} --pseudonym-key KEY "
                                                                   "(this run's key, or THIOQUANT_PSEUDONYM_KEY)")
    assert re.fullmatch(r"S-[0-9a-f]{12}", patient.sample_id)

    # the pages, through the web application
    app = create_app(s, token="t" * 43, port=8765)
    c = app.test_client()
    base, h = "http://127.0.0.1:8765", {"X-Review-Token": "t" * 43}
    state = c.get("/api/state", headers=h, base_url=base)
    assert state.status_code == 200 and state.get_json()["review"]["pseudonymised"]
    assert not _leaks(state.text, secrets)
    inj = c.get(f"/api/injection/{patient.sample_id}", headers=h, base_url=base)
    assert inj.status_code == 200 and not _leaks(inj.text, secrets)
    doc = inj.get_json()
    assert "error" not in doc and doc["analytes"][0]["channels"][0]["t"]  # the trace is drawn
    pk = doc["analytes"][0]["channels"][0]["peak"]

    # a manual integration on the pseudonym re-measures the patient's own raw file
    key = c.post("/api/login", json={"user": "alice", "password": "alice-pass"}, headers=h,
                 base_url=base).get_json()["key"]
    r = c.post("/api/integrate", json={"sample_id": patient.sample_id, "analyte": "6-TG",
                                       "start_min": pk["start_min"] + 0.03, "end_min": pk["end_min"],
                                       "reason": "tailing cut off", "rev": 0},
               headers={**h, "X-Review-User": key}, base_url=base)
    assert r.status_code == 200, r.get_json()
    entry = r.get_json()["entry"]
    assert entry["result_after"]["area"] < entry["result_before"]["area"]
    assert not _leaks(r.text, secrets)
    with pytest.raises(Exception, match="no injection"):  # the lab's id is not a name the review knows
        s.integrate(users.authenticate("alice", "alice-pass"), sorted(secrets)[0], "6-TG", 1.0, 2.0, "x", rev=1)

    s.sign("alice", "alice-pass", "reviewed")
    assert s.sign("bob", "bob-pass-1", "authorised")["version"] == "v1"
    v1 = out / "versions" / "v1"
    assert _ids(v1 / "results.csv") == shown
    info = json.loads((v1 / "version.json").read_text())
    assert info["manual_integrations"][0]["sample_id"] == patient.sample_id
    assert patient.sample_id in (v1 / "overrides.csv").read_text()
    assert verify(out).ok
    # nothing the review wrote names the lab's identifiers (journal, version, PDFs' text layer)
    pdftotext = shutil.which("pdftotext")
    n_pdf = 0
    for f in [*(out / "review").rglob("*"), *(out / "versions").rglob("*")]:
        if not f.is_file():
            continue
        text = f.read_bytes().decode("latin-1")
        if f.suffix == ".pdf" and pdftotext:
            text = subprocess.run([pdftotext, str(f), "-"], capture_output=True, text=True, check=True).stdout
            n_pdf += bool(text.strip())
        assert not _leaks(text, secrets), f
    assert n_pdf > 1 or not pdftotext  # the report and the patient pages were read
    # the release hook: the patient history and the HL7/FHIR messages know the pseudonyms only
    sent = [f for f in (out.parent / "outbox").rglob("*") if f.is_file()]
    assert sent and (out.parent / "patients.sqlite").is_file()
    for f in [*sent, out.parent / "patients.sqlite"]:
        assert not _leaks(f.read_bytes().decode("latin-1"), secrets), f
    assert "PT-" in (out.parent / "patients.sqlite").read_bytes().decode("latin-1")
    # a restarted review replays the journal under the same pseudonyms
    again = ReviewSession(out, users, pseudonym_key=KEY)
    assert again.rev == 1 and (patient.sample_id, "6-TG") in again.manual
