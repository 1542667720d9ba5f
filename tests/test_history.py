"""Patient history: the store, delta checks, therapy phase and trend over five simulated runs."""

from __future__ import annotations

import json
import math
import re
import shutil
import sqlite3
import subprocess

import pytest
from click.testing import CliRunner

from patient_runs import PATIENT, make_run, method_with_delta
from thioquant.assay.method import parse_method
from thioquant.assay.release_settings import DeltaSettings, rcv_pct
from thioquant.cli import cli
from thioquant.errors import InputError, MethodError
from thioquant.history import (
    annotate,
    check_history_file,
    delta_check,
    patient_series,
    record_release,
    therapy_phase,
)


@pytest.fixture(scope="module")
def five_runs(tmp_path_factory):
    """The patient followed over five runs through ``thioquant quantify`` (patient history in
    batch.toml, LIS outbox on the command line). Returns (root, history, outbox)."""
    root = tmp_path_factory.mktemp("patient")
    method = method_with_delta(root / "method.toml")
    history, outbox = root / "patients.sqlite", root / "outbox"
    cache = None
    for k in range(1, 6):
        b = make_run(k, root, method, history=history, cache=cache)
        args = ["quantify", str(b), "--out", str(root / f"out{k}"), "--no-history", "--lis-outbox", str(outbox)]
        r = CliRunner().invoke(cli, args + ([] if k == 5 else ["--no-report"]))
        assert r.exit_code == 0, r.output
        # every patient: the bundled batch holds nothing for review
        assert "Patient history: 24 sample(s) recorded" in r.output
        cache = b / ".thioquant-cache.sqlite"
    return root, history, outbox


def _interp(root, k):
    rows = json.loads((root / f"out{k}" / "results.json").read_text())["interpretation"]
    return next(r for r in rows if r["patient_id"] == PATIENT)


def root_of(history):
    return history.parent


def _reported(root, k, analyte):
    rows = json.loads((root / f"out{k}" / "results.json").read_text())["results"]
    return next(r["reported"] for r in rows if r["patient_id"] == PATIENT and r["analyte"] == analyte)


def _flags(root, k):
    rows = json.loads((root / f"out{k}" / "results.json").read_text())["results"]
    return {r["analyte"]: r["flags"] for r in rows if r["patient_id"] == PATIENT}


def test_history_holds_every_released_visit_with_its_clinical_inputs(five_runs):
    _, history, _ = five_runs
    pts = patient_series(history, PATIENT)
    assert [p["collected_at"] for p in pts] == ["2026-01-05", "2026-02-16", "2026-03-30", "2026-04-20", "2026-06-01"]
    assert [p["dose_mg"] for p in pts] == [100, 150, 150, None, 50]
    assert [p["therapy_event"] for p in pts] == ["start", None, "hepatotoxicity", "stopped", None]
    assert {p["method_family"] for p in pts} == {"lcmsms"}
    assert pts[2]["alt_x_uln"] == 5.6 and pts[2]["ast_x_uln"] == 3.2
    assert pts[0]["context"]["therapy_start"] == "2025-12-08" and pts[0]["drug"] == "azathioprine"
    assert [p["batch"] for p in pts] == [f"run{k}" for k in range(1, 6)]
    assert pts[1]["values"]["6-TGN"]["value"] == pytest.approx(_reported(root_of(history), 2, "6-TG"), abs=1e-9)
    assert pts[3]["values"]["6-TGN"]["value"] is None and pts[3]["values"]["6-TGN"]["text"] == "undetectable"


def test_delta_flags_and_comments_follow_the_reference_change_value(five_runs):
    root, _, _ = five_runs
    # run 2: 142.5 -> 298.4 (+109 %) beyond RCV(8.1, 20) = 59.8 %; 6-MMP +151 % beyond RCV(8.1, 30) = 86.1 %
    assert "DELTA" in _flags(root, 2)["6-TG"] and "DELTA" in _flags(root, 2)["6-MMP"]
    notes2 = _interp(root, 2)["notes"]
    assert f"previous {_reported(root, 1, '6-TG'):.1f} on 2026-01-05, dose 100 mg" in notes2
    assert "the recorded dose changed from 100 to 150 mg between them" in notes2
    assert "reference change value 59.8 %" in notes2
    # run 3: 6-TG -27 % within the limit, 6-MMP +309 % beyond it; no dose change to mention
    assert "DELTA" not in _flags(root, 3)["6-TG"] and "DELTA" in _flags(root, 3)["6-MMP"]
    assert "dose changed" not in _interp(root, 3)["notes"]
    # run 4: undetectable, nothing to compare; run 5 compares with the last quantified (run 3)
    assert not any("DELTA" in f for f in _flags(root, 4).values())
    assert "today's result is not quantified" in _interp(root, 4)["notes"]
    notes5 = _interp(root, 5)["notes"]
    assert f"previous {_reported(root, 3, '6-TG'):.1f} on 2026-03-30, dose 150 mg (batch run3)" in notes5
    assert "DELTA" not in _flags(root, 5)["6-TG"]  # 277.1 -> 186.3: -32.8 % within 59.8 %
    assert "DELTA" in _flags(root, 5)["6-MMP"]
    assert "DELTA" in _interp(root, 5)["flags"]


def test_therapy_phases_over_the_five_runs(five_runs):
    root, _, _ = five_runs
    assert "First level after starting therapy, 4.0 weeks after the recorded start" in _interp(root, 1)["notes"]
    assert "Level after a dose change from 100 to 150 mg" in _interp(root, 2)["notes"]
    assert "Recorded hepatotoxic episode; ALT/AST 5.6x ULN: at or above the summary's stop criterion" \
        in _interp(root, 3)["notes"]
    assert "Therapy recorded as stopped" in _interp(root, 4)["notes"]
    doc5 = json.loads((root / "out5" / "results.json").read_text())
    sid = _interp(root, 5)["sample_id"]
    phase = doc5["patient_history"][sid]["phase"]
    assert phase["kind"] == "reintroduction" and phase["inferred"]
    assert "Re-introduction at 50 mg after a hepatotoxic episode (recorded 2026-03-30)" in phase["text"]
    assert "LFTs" not in phase["follow_up"] and "weekly until a stable dose" in phase["follow_up"]
    assert "every 2 weeks for 2 months, then every 1-3 months" in phase["follow_up"]
    assert "stop at ALT/AST >= 5x ULN, consider stopping at >= 3x ULN" in phase["follow_up"]
    assert phase["follow_up_source"].startswith("secondary summary, not a guideline")


def test_trend_figure_in_html_pdf_and_plot(five_runs):
    root, history, _ = five_runs
    html = (root / "out5" / "report.html").read_text()
    sid = _interp(root, 5)["sample_id"]
    start = html.index(f'<div class="trend" data-sample="{sid}">')
    block = html[start:html.index("</div>", start)]
    assert block.count('class="chart trendchart"') == 1
    assert "Re-introduction after a hepatotoxic episode - follow-up" in block and "secondary summary" in block
    for day in ("2026-01-05", "2026-06-01"):
        assert day in block
    assert block.count('fill="#c62828"') >= 2  # the DELTA-flagged 6-MMPN points are red
    pdf = root / "out5" / "patients" / f"{PATIENT}_{sid}.pdf"
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        assert re.search(r"^Pages:\s+2$", info, re.M), info
    from thioquant import plot
    from thioquant.report.content import Ranges

    fig = plot.patient_trend(patient_series(history, PATIENT), Ranges("default", "pmol/8x10^8 RBC", 235, 450, 5700, 11))
    axes = fig.get_axes()
    assert len(axes) == 3
    assert sum(len(c.get_offsets()) for c in axes[0].collections) == 4  # four quantified 6-TGN, one undetectable


def test_rerun_is_idempotent_and_a_changed_result_is_not_overwritten(five_runs, tmp_path):
    root, history, _ = five_runs
    h = tmp_path / "h.sqlite"
    shutil.copy(history, h)
    again = record_release(root / "out2", h)
    assert again.status == "recorded" and not again.recorded and len(again.unchanged) == 24
    out = tmp_path / "out2"
    shutil.copytree(root / "out2", out)
    doc = json.loads((out / "results.json").read_text())
    row = next(r for r in doc["results"] if r["patient_id"] == PATIENT and r["analyte"] == "6-TG")
    row["reported"] = 999.0
    (out / "results.json").write_text(json.dumps(doc))
    s = record_release(out, h)
    assert len(s.conflicts) == 1 and "not overwritten" in s.messages[0]
    assert patient_series(h, PATIENT)[1]["values"]["6-TGN"]["value"] == pytest.approx(_reported(root, 2, "6-TG"))
    s3 = record_release(out, h, version=2)  # a re-signed version is recorded beside the first
    assert len(s3.recorded) == 24
    assert patient_series(h, PATIENT)[1]["values"]["6-TGN"]["value"] == 999.0  # the latest version counts


def sid_of(doc: dict) -> str:
    return next(r["sample_id"] for r in doc["results"] if r["patient_id"] == PATIENT)


def test_rejected_run_and_held_results_are_never_recorded(five_runs, tmp_path):
    root, _, _ = five_runs
    out = tmp_path / "out"
    shutil.copytree(root / "out1", out)
    doc = json.loads((out / "results.json").read_text())
    doc["verdict"]["accepted"] = False
    (out / "results.json").write_text(json.dumps(doc))
    h = tmp_path / "h.sqlite"
    assert record_release(out, h).status == "rejected"
    assert not h.exists()
    doc["verdict"]["accepted"] = True
    for r in doc["results"]:
        if r["patient_id"] == PATIENT:
            r["flags"] = [*r["flags"], "HELD:spike"]
    (out / "results.json").write_text(json.dumps(doc))
    s = record_release(out, h)
    assert len(s.recorded) == 23 and set(s.held) == {sid_of(doc)}
    assert patient_series(h, PATIENT) == []


def test_pseudonymised_runs_are_keyed_by_the_pseudonym(tmp_path):
    method = method_with_delta(tmp_path / "m.toml")
    h = tmp_path / "p.sqlite"
    for k in (1, 2):
        b = make_run(k, tmp_path, method, history=h)
        wl = b / "worklist.csv"  # a free column that names the patient is never carried
        lines = wl.read_text().splitlines()
        wl.write_text("\n".join([lines[0] + ",patient_name,wbc"]
                                + [ln + (",Jane Doe,4.2" if PATIENT in ln else ",,") for ln in lines[1:]]) + "\n")
        r = CliRunner().invoke(cli, ["quantify", str(b), "--out", str(tmp_path / f"o{k}"), "--no-history",
                                     "--no-report", "--pseudonymise", "--pseudonym-key", "k" * 20])
        assert r.exit_code == 0, r.output
    assert PATIENT.encode() not in h.read_bytes() and b"Jane" not in h.read_bytes()
    for k in (1, 2):
        text = (tmp_path / f"o{k}" / "results.json").read_text()
        assert PATIENT not in text and "Jane" not in text
    from thioquant.privacy import pseudonym

    key = pseudonym(PATIENT, b"k" * 20, "PT-")
    pts = patient_series(h, key)
    assert len(pts) == 2 and pts[0]["context"]["wbc"] == "4.2"  # a blood count is carried
    doc = json.loads((tmp_path / "o2" / "results.json").read_text())
    assert "DELTA" in next(r for r in doc["results"] if r["patient_id"] == key and r["analyte"] == "6-TG")["flags"]


def test_a_file_that_is_not_a_patient_history_is_refused_and_left_alone(tmp_path, sample_batch):
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    before = other.read_bytes()
    with pytest.raises(InputError, match="not a thioquant patient history"):
        check_history_file(other)
    b = sample_batch()
    r = CliRunner().invoke(cli, ["quantify", str(b), "--out", str(tmp_path / "o"), "--patient-history", str(other)])
    assert isinstance(r.exception, InputError) and r.exception.exit_code == 2  # before any work
    assert not (tmp_path / "o").exists()
    assert other.read_bytes() == before


def test_rejected_run_writes_no_history_and_no_message(tmp_path, sample_batch):
    b = sample_batch()
    wl = b / "worklist.csv"
    wl.write_text(wl.read_text().replace(",qc,QCL,", ",qc,QCX,").replace(",qc,QCM,", ",qc,QCX,")
                  .replace(",qc,QCH,", ",qc,QCX,"))
    r = CliRunner().invoke(cli, ["quantify", str(b), "--out", str(tmp_path / "o"), "--no-report", "--no-history",
                                 "--patient-history", str(tmp_path / "h.sqlite"), "--lis-outbox",
                                 str(tmp_path / "ob")])
    assert r.exit_code == 0 and "REJECTED" in r.output, r.output
    assert not (tmp_path / "h.sqlite").exists() and not (tmp_path / "ob").exists()


# --- units ------------------------------------------------------------------------------------


def test_rcv_formula():
    assert rcv_pct(8.1, 20.0) == pytest.approx(1.96 * math.sqrt(2) * math.sqrt(8.1**2 + 20**2))
    assert DeltaSettings({"6-TG": 8.1}, {"6-TG": 20.0}).limit("6-TG")[0] == pytest.approx(59.8, abs=0.05)
    lim, why = DeltaSettings({"6-TG": 8.1}).limit("6-TG")
    assert lim is None and "cv_within_subject_pct" in why


def _pt(family, value, date="2026-01-01", dose=100.0):
    return {"method_family": family, "collected_at": date, "dose_mg": dose, "batch": "b",
            "values": {"6-TGN": {"value": value, "text": str(value)}}}


def test_results_from_another_method_family_are_not_compared():
    d = delta_check(400.0, [_pt("dervieux", 150.0)], "6-TGN", family="lcmsms", limit=(50.0, "x"),
                    current_dose_mg=100.0)
    assert d is not None and not d.flagged and d.change_pct is None and "another method family" in d.note
    d2 = delta_check(400.0, [_pt("lcmsms", 300.0, "2025-12-01"), _pt("dervieux", 150.0)], "6-TGN",
                     family="lcmsms", limit=(50.0, "x"), current_dose_mg=100.0)
    assert d2.previous == 300.0 and not d2.flagged  # +33 % against the same family's result


def test_phase_is_inferred_from_history_when_the_worklist_says_nothing():
    assert therapy_phase([], {})["kind"] == "first_recorded"  # no earlier result is not a start
    assert therapy_phase([], {"therapy_start": "2026-01-01"})["kind"] == "start"
    assert "2 weeks on the current dose (worklist), less than the about 4 weeks" in \
        therapy_phase([_pt("lcmsms", 200.0)], {"dose_mg": "150", "weeks_on_dose": "2"})["text"]
    assert therapy_phase([_pt("lcmsms", 200.0)], {"dose_mg": "150"})["kind"] == "dose_change"
    stopped = {**_pt("lcmsms", 200.0), "therapy_event": "stopped"}
    assert therapy_phase([stopped], {"dose_mg": "50"})["kind"] == "start"  # a stop, no hepatotoxicity
    hep = {**_pt("lcmsms", 200.0), "alt_x_uln": 3.5}
    p = therapy_phase([hep, stopped], {"dose_mg": "50"})
    assert p["kind"] == "reintroduction" and "follow_up" in p


def test_annotate_leaves_a_run_without_history_untouched():
    class B:
        accepted = True

    b = B()
    assert annotate(b, None) is b


def test_method_delta_and_lis_settings_are_validated_on_load(repo_root):
    import tomllib

    base = tomllib.loads((repo_root / "calibrations" / "thiopurines_lcmsms.toml").read_text())
    with pytest.raises(MethodError, match="delta.cv_withinsubject"):
        parse_method({**base, "delta": {"cv_withinsubject": {"6-TG": 20}}}, source="m.toml")
    with pytest.raises(MethodError, match="not an analyte"):
        parse_method({**base, "delta": {"cv_within_subject_pct": {"6-TGN": 20}}}, source="m.toml")
    with pytest.raises(MethodError, match="check digit"):
        parse_method({**base, "lis": {"analytes": {"6-TG": {"loinc": "12345-6"}}}}, source="m.toml")
    ok = parse_method({**base, "lis": {"analytes": {"6-TG": {"loinc": "12345-5"}}}}, source="m.toml")
    from thioquant.assay.release_settings import method_lis

    assert method_lis(ok).coding("6-TG").loinc == "12345-5"


# --- as a person sees it ----------------------------------------------------------------------

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                None)

TREND_PROBE = """<script>
window.addEventListener('load', () => { setTimeout(() => {
  const out = [];
  document.querySelectorAll('div.trend').forEach(d => {
    const svg = d.querySelector('svg.trendchart'); if (!svg) return;  // a held patient: no history to draw
    const r = svg.getBoundingClientRect();
    out.push([d.dataset.sample, r.width, r.height, svg.querySelectorAll('circle').length,
              d.querySelector('p.followup') ? d.querySelector('p.followup').innerText : '']);
  });
  const pre = document.createElement('pre'); pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
}, 50); });
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium chromium-driver)")
def test_trend_is_visible_in_chromium(five_runs, tmp_path):
    root, _, _ = five_runs
    sid = _interp(root, 5)["sample_id"]
    probe = tmp_path / "probe.html"
    probe.write_text((root / "out5" / "report.html").read_text().replace("</body>", TREND_PROBE + "</body>"))
    res = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
                          "--window-size=1400,1000", "--dump-dom", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', res.stdout, re.S)
    assert m, res.stderr[-1500:]
    seen = {s: rest for s, *rest in json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")
                                                .replace("&gt;", ">").replace("&lt;", "<"))}
    assert len(seen) == 24  # every patient recorded has a history of five runs
    width, height, circles, follow_up = seen[sid]
    assert width > 400 and height > 150
    assert circles >= 4 + 4 + 4  # 6-TGN, 6-MMPN (one undetectable each) and the recorded doses
    assert "weekly until a stable dose" in follow_up


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm not installed (apt-get install poppler-utils)")
def test_patient_pdf_trend_page_is_readable(five_runs, tmp_path):
    root, _, _ = five_runs
    sid = _interp(root, 5)["sample_id"]
    pdf = root / "out5" / "patients" / f"{PATIENT}_{sid}.pdf"
    subprocess.run(["pdftoppm", "-r", "50", "-f", "2", "-l", "2", "-png", str(pdf), str(tmp_path / "p")], check=True)
    from matplotlib.image import imread

    img = imread(next(tmp_path.glob("p*.png")))[..., :3]
    assert (img < 0.85).any(axis=2).mean() > 0.02
    red = (img[..., 0] > 0.6) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)
    assert red.sum() > 5  # DELTA-flagged points and text
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-f", "2", "-l", "2", str(pdf), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert "Therapy phase" in text and "secondary summary, not a guideline" in text and "2026-03-30" in text


def test_a_release_that_fails_half_way_records_nothing(five_runs, tmp_path, monkeypatch):
    root, _, _ = five_runs
    import thioquant.history as H

    calls = {"n": 0}
    real = H._num

    def failing(v):
        calls["n"] += 1
        if calls["n"] > 40:  # after about ten samples have been inserted
            raise RuntimeError("disk gone")
        return real(v)

    monkeypatch.setattr(H, "_num", failing)
    h = tmp_path / "sub" / "h.sqlite"
    with pytest.raises(RuntimeError):
        record_release(root / "out1", h)
    with sqlite3.connect(h) as c:
        assert c.execute("SELECT COUNT(*) FROM releases").fetchone()[0] == 0
        assert c.execute("SELECT COUNT(*) FROM release_results").fetchone()[0] == 0
    monkeypatch.setattr(H, "_num", real)
    assert len(record_release(root / "out1", h).recorded) == 24


def test_release_command_records_a_corrected_run_as_a_new_version(five_runs, tmp_path):
    root, history, _ = five_runs
    h = tmp_path / "h.sqlite"
    shutil.copy(history, h)
    out = tmp_path / "out2"
    shutil.copytree(root / "out2", out)
    doc = json.loads((out / "results.json").read_text())
    next(r for r in doc["results"] if r["patient_id"] == PATIENT and r["analyte"] == "6-TG")["reported"] = 340.0
    (out / "results.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(cli, ["release", str(out), "--patient-history", str(h), "--by", "j.smith"])
    assert r.exit_code == 0 and "thioquant release OUT_DIR --version 2" in r.output, r.output
    r = CliRunner().invoke(cli, ["release", str(out), "--patient-history", str(h), "--version", "2",
                                 "--to", str(tmp_path / "ob"), "--by", "j.smith"])
    assert r.exit_code == 0 and "24 sample(s) recorded as version 2" in r.output, r.output
    # a fresh outbox, but the history recorded version 1 as sent when the run was quantified
    assert "LIS: 48 message(s) written (24 sample(s) as corrections)" in r.output
    pts = patient_series(h, PATIENT)
    assert pts[1]["version"] == 2 and pts[1]["values"]["6-TGN"]["value"] == 340.0 and pts[1]["released_by"] == "j.smith"


def test_history_command_lists_the_patient_and_draws_the_trend(five_runs, tmp_path):
    _, history, _ = five_runs
    png = tmp_path / "t.png"
    r = CliRunner().invoke(cli, ["history", PATIENT, "--patient-history", str(history), "--png", str(png)])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("2026-")]
    assert len(lines) == 5 and "undetectable" in lines[3] and lines[2].split()[:2] == ["2026-03-30", "run3"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(cli, ["history", PATIENT, "--patient-history", str(history), "--png", str(png)])
    assert r.exception is not None and "exists" in str(r.exception)
    r = CliRunner().invoke(cli, ["history", "NOBODY", "--patient-history", str(history)])
    assert isinstance(r.exception, InputError)


@pytest.mark.parametrize("flag", ["DEAD_CHANNEL", "MISSING_FILE", "NO_TRACE", "HELD:SPIKE"])
def test_unmeasured_or_held_sample_is_neither_recorded_nor_sent(flag):
    """A dead channel or an unreadable file has no value: the sample is blocked like a held one."""
    from thioquant.history import released_samples

    doc = {"results": [
        {"sample_id": "P1", "sample_type": "unknown", "patient_id": "A", "injection": 1,
         "analyte": "6-TG", "flags": [flag]},
        {"sample_id": "P1", "sample_type": "unknown", "patient_id": "A", "injection": 1,
         "analyte": "6-MMP", "flags": []},
        {"sample_id": "P2", "sample_type": "unknown", "patient_id": "B", "injection": 2,
         "analyte": "6-TG", "flags": []}]}
    s1, s2 = released_samples(doc)
    assert s1.held or flag in s1.blocked
    assert not s2.held and not s2.blocked
