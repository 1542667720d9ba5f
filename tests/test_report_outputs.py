"""The files `thioquant quantify` writes for people: report.html, report.pdf, per-patient PDFs,
results.xlsx and results.json, for both bundled batches."""

from __future__ import annotations

import json
import re
import sqlite3  # noqa: F401 - QCHistory uses it; imported here to fail early if missing
from pathlib import Path

import pytest

from thioquant.errors import OutputError
from thioquant.pipeline import quantify
from thioquant.report.writer import write_outputs

REPO = Path(__file__).resolve().parents[1]
BATCHES = ("lcmsms", "hplcuv")


@pytest.fixture(scope="module")
def batches():
    return {name: quantify(REPO / "sample_data" / name) for name in BATCHES}


@pytest.fixture(scope="module")
def outputs(batches, tmp_path_factory):
    out = {}
    for name, b in batches.items():
        out[name] = write_outputs(b, tmp_path_factory.mktemp(name) / "out", timestamp=False)
    return out


@pytest.mark.parametrize("name", BATCHES)
def test_bundled_batches_produce_every_file(name, batches, outputs):
    out = outputs[name]
    b = batches[name]
    for f in ("results.csv", "results.json", "results.xlsx", "report.html", "report.pdf", "calibration.json",
              "qc.csv", "interpretation.csv"):
        assert (out / f).is_file() and (out / f).stat().st_size > 0, f
    pages = sorted((out / "patients").glob("*.pdf"))
    assert len(pages) == len(b.interpretations) == 24


@pytest.mark.parametrize("name", BATCHES)
def test_html_is_self_contained_and_complete(name, batches, outputs):
    html = (outputs[name] / "report.html").read_text(encoding="utf-8")
    b = batches[name]
    # no network: every URL is an SVG namespace, no script, no external resources
    urls = set(re.findall(r"https?://[^\"' )>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["'](?!#|data:)""", html)
    # verdict banner with the deciding rule
    state = "ACCEPTED" if b.accepted else "REJECTED"
    assert f"Run {state}" in html and f"decided by rule <b>{b.verdict.deciding_rule}</b>" in html
    # one calibration chart per calibrated analyte, with equation and r^2
    cal = [a for a, oc in b.calibrations.items() if oc is not None]
    assert html.count('class="chart calchart"') == len(cal) == 2
    assert html.count("r\u00b2 = ") >= len(cal)
    # every injection x analyte has a chromatogram
    n_inj = len(b.worklist.entries)
    assert html.count('<svg class="chrom"') == n_inj * len(b.method.analytes)
    # each drawn trace has its shaded area, baseline and window where a peak was integrated
    assert html.count('class="area"') == html.count('class="baseline"') > n_inj
    assert html.count('class="rtwin"') == n_inj * len(b.method.analytes)
    if name == "lcmsms":
        assert html.count('class="is"') == n_inj * 2  # internal standard overlaid
    # patients: one row each, with both metabolites, ratio and comment; reference ranges shown
    assert html.count('<tr class="patient') == len(b.interpretations)
    for it in b.interpretations:
        assert it["sample_id"] in html and it["comment"].split(":")[0] in html
    assert "Reference ranges: 6-TGN 235-450" in html
    # QC table coloured
    assert 'class="pass"' in html or "<tr class=\"pass\"" in html
    # help with the pathway, footer with version, method hash and every input's sha256
    assert "HPRT" in html and "TPMT" in html and "xanthine oxidase" in html
    assert b.method.sha256 in html
    for m in b.measurements:
        assert m.sha256 in html


def test_json_matches_the_batch(batches, outputs):
    b = batches["lcmsms"]
    doc = json.loads((outputs["lcmsms"] / "results.json").read_text(encoding="utf-8"))
    assert doc["schema"] == "thioquant.results/1"
    assert doc["verdict"]["accepted"] == b.accepted
    assert len(doc["results"]) == len(b.results)
    assert len(doc["interpretation"]) == len(b.interpretations)
    assert set(doc["calibration"]) == {"6-TG", "6-MMP"}
    assert doc["method"]["sha256"] == b.method.sha256
    assert all(len(i["sha256"]) == 64 for i in doc["inputs"])
    r0 = next(r for r in doc["results"] if r["sample_type"] == "unknown" and r["reported"] is not None)
    assert isinstance(r0["reported"], float) and isinstance(r0["flags"], list)


def test_xlsx_sheets_hold_numbers(batches, outputs):
    openpyxl = pytest.importorskip("openpyxl")
    b = batches["hplcuv"]
    wb = openpyxl.load_workbook(outputs["hplcuv"] / "results.xlsx")
    assert {"Results", "Calibration", "QC", "Interpretation"} <= set(wb.sheetnames)
    res = wb["Results"]
    assert res.max_row == len(b.results) + 1
    header = [c.value for c in res[1]]
    col = header.index("area") + 1
    areas = [res.cell(row=r, column=col).value for r in range(2, res.max_row + 1)]
    assert sum(isinstance(a, float) for a in areas) >= len(b.results) // 2
    assert all(a is None or isinstance(a, float) for a in areas)  # NaN -> empty cell, never text
    assert res["A1"].font.b and res.freeze_panes == "A2"
    assert wb["Interpretation"].max_row == len(b.interpretations) + 1
    cal = wb["Calibration"]
    assert [c.value for c in cal[1]][:3] == ["analyte", "model", "weighting"]
    assert cal["E2"].value > 0.99  # r^2
    qc = wb["QC"]
    assert qc["A2"].fill.fgColor.rgb in ("FFE8F5E9", "FFFFEBEE", "FFFFF8E1")


def test_pdfs_are_well_formed(batches, outputs):
    from thioquant.report.pdf import patient_filename

    pdf = (outputs["lcmsms"] / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page ") >= 5
    it = batches["lcmsms"].interpretations[0]
    one = (outputs["lcmsms"] / "patients" / patient_filename(it)).read_bytes()
    assert one.count(b"/Type /Page ") == 1


def test_report_releases_the_panel_geometry_cache(batches, tmp_path):
    from thioquant.report.svg import panel_geometry

    write_outputs(batches["lcmsms"], tmp_path / "o", timestamp=False)
    assert panel_geometry.cache_info().currsize == 0
    write_outputs(batches["lcmsms"], tmp_path / "nopdf", pdf=False, timestamp=False)
    assert panel_geometry.cache_info().currsize == 0


def test_outputs_are_deterministic(batches, tmp_path):
    b = batches["lcmsms"]
    a = write_outputs(b, tmp_path / "a", timestamp=False)
    c = write_outputs(b, tmp_path / "c", timestamp=False)
    for f in ("report.html", "report.pdf", "results.xlsx", "results.json"):
        assert (a / f).read_bytes() == (c / f).read_bytes(), f


def test_xlsx_bytes_do_not_depend_on_the_clock(batches, tmp_path, monkeypatch):
    # openpyxl stamps its document properties and zip members with "now": results.xlsx carries
    # fixed ones, so a rerun an hour later gives the same bytes
    import time
    import zipfile

    from thioquant.report.xlsx import write_xlsx

    b = batches["hplcuv"]
    write_xlsx(b, tmp_path / "a.xlsx")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 3600 + 7)
    write_xlsx(b, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    z = zipfile.ZipFile(tmp_path / "a.xlsx")
    assert {i.date_time for i in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}
    core = z.read("docProps/core.xml").decode()
    assert "2000-01-01T00:00:00Z" in core and ">thioquant</dc:creator>" in core


def test_validation_xlsx_bytes_do_not_depend_on_the_clock(tmp_path, monkeypatch):
    # validation.xlsx goes through the same save_workbook (openpyxl stamped it with "now" before)
    import time
    from types import SimpleNamespace

    from thioquant.validation.report import write_xlsx

    check = SimpleNamespace(as_dict=lambda: {"experiment": "accuracy", "result": "pass", "value": 1.5})
    report = SimpleNamespace(
        summary_rows=lambda: [{"experiment": "accuracy", "result": "pass"}], passed=True, checks=[check],
        run_rows=lambda: [{"run": "r1", "accepted": True}], messages=["a note"], run_errors={},
        experiments=[SimpleNamespace(key="accuracy", tables={"levels": [{"level": "QCL", "bias_pct": -2.5}]})],
        criteria_rows=lambda: [{"criterion": "bias", "limit": 15}])
    write_xlsx(report, tmp_path / "a.xlsx")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 2 * 3600 + 3)
    write_xlsx(report, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


def test_report_options_and_a_failed_part_leaves_no_output(batches, tmp_path, monkeypatch):
    b = batches["hplcuv"]
    out = write_outputs(b, tmp_path / "noreport", report=False)
    assert (out / "results.xlsx").is_file() and not (out / "report.html").exists()
    out = write_outputs(b, tmp_path / "nopdf", pdf=False)
    assert (out / "report.html").is_file() and not (out / "report.pdf").exists()
    assert not (out / "patients").exists()

    import thioquant.report.html as html_mod

    def boom(*a, **k):  # fails half-way through the page, after a part has been written
        yield "<!DOCTYPE html><html>"
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(html_mod, "iter_html", boom)
    # a folder without its report must not look complete: nothing is put in place, and an
    # earlier output folder being replaced stays as it was
    previous = {p.name: p.read_bytes() for p in (tmp_path / "nopdf").iterdir() if p.is_file()}
    with pytest.raises(RuntimeError, match="renderer exploded"):
        write_outputs(b, tmp_path / "nopdf", force=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "nopdf").iterdir() if p.is_file()} == previous
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nopdf", "noreport"]


@pytest.mark.parametrize("fork", [True, False])
def test_patient_pdfs_in_a_forked_writer(batches, tmp_path, monkeypatch, fork):
    """Patient PDFs come from a forked process on Linux (beside report.html and report.pdf): the
    same files as written in order, and a failure there fails the whole write as it would in order."""
    import errno
    import sys

    import thioquant.report.pdf as pdf_mod
    import thioquant.report.writer as writer_mod

    if fork and not sys.platform.startswith("linux"):
        pytest.skip("forked writing is used on Linux only")
    # forced either way: another test may have left a thread (dask's) that would stop the fork
    monkeypatch.setattr(writer_mod, "_can_fork", lambda: fork)
    b = batches["lcmsms"]
    tm: dict[str, float] = {}
    out = write_outputs(b, tmp_path / "ok", timestamp=False, timings=tm)
    pages = sorted(p.name for p in (out / "patients").glob("*.pdf"))
    assert len(pages) == len(b.interpretations) > 0 and tm["patient_pdfs"] > 0
    if fork:  # byte for byte what the same writer gives in this process
        monkeypatch.setattr(writer_mod, "_can_fork", lambda: False)
        ref = write_outputs(b, tmp_path / "ref", timestamp=False)
        for name in pages:
            assert (out / "patients" / name).read_bytes() == (ref / "patients" / name).read_bytes()
        monkeypatch.setattr(writer_mod, "_can_fork", lambda: True)

    def boom(*a, **k):
        raise RuntimeError("patient pages exploded")

    monkeypatch.setattr(pdf_mod, "write_patient_pdfs", boom)
    with pytest.raises(RuntimeError, match="patient pages exploded"):
        write_outputs(b, tmp_path / "broken")

    def full(batch, folder, *a, **k):  # the disk fills up on the first page
        Path(folder).mkdir()
        (Path(folder) / "P001.pdf").write_bytes(b"")
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(folder) / "P001.pdf"))

    monkeypatch.setattr(pdf_mod, "write_patient_pdfs", full)
    with pytest.raises(OutputError, match="No space left on device") as exc:
        write_outputs(b, tmp_path / "full")
    assert exc.value.path == str(tmp_path / "full" / "patients" / "P001.pdf")  # as named in place
    assert sorted(p.name for p in tmp_path.iterdir()) == (["ok", "ref"] if fork else ["ok"])


def test_no_fork_beside_other_threads(monkeypatch):
    import threading

    import thioquant.report.writer as writer_mod

    monkeypatch.setattr(writer_mod, "_CAN_FORK", True)
    stop = threading.Event()
    th = threading.Thread(target=stop.wait)
    th.start()
    try:
        assert not writer_mod._can_fork()
    finally:
        stop.set()
        th.join()


def test_levey_jennings_only_with_history(batches, tmp_path):
    from thioquant.qc.westgard import QCHistory

    b = batches["lcmsms"]
    html = write_outputs(b, tmp_path / "nohist", pdf=False, timestamp=False) / "report.html"
    assert 'id="levey-jennings"' not in html.read_text()
    db = tmp_path / "hist.sqlite"
    with QCHistory(db) as h:
        for i in range(12):
            h.add_run(f"run{i:02d}", f"2026-01-{i + 1:02d}T10:00", "6-TG", "QCL", [250 + 5 * (i % 4)])
        h.set_target("6-TG", "QCL", 255.0, 6.0)
    out = write_outputs(b, tmp_path / "hist", history=db, timestamp=False)
    text = (out / "report.html").read_text()
    assert 'id="levey-jennings"' in text and text.count('class="chart ljchart"') == 1
    assert "6-TG QCL" in text
    assert b"Levey-Jennings" in (out / "report.pdf").read_bytes() or (out / "report.pdf").stat().st_size > 0


def test_pseudonymised_batch_keeps_chromatograms_and_hides_ids(batches, tmp_path):
    from thioquant.privacy import pseudonymise

    b = pseudonymise(batches["lcmsms"], "a-very-secret-key-0123")
    out = write_outputs(b, tmp_path / "p", timestamp=False)
    html = (out / "report.html").read_text()
    for ident in ("P001", "PT1001", "021_P007"):
        assert ident not in html
    # patient raw files were renamed in the batch but are found by hash, so no panel is empty
    assert "no trace" not in html
    assert html.count('class="trace"') == len(b.worklist.entries) * 2


def test_report_writing_does_not_import_matplotlib():
    import subprocess
    import sys

    code = ("import sys, thioquant.report.writer, thioquant.report.html, thioquant.report.pdf, "
            "thioquant.report.chart, thioquant.report.xlsx, thioquant.plot; "
            "print('matplotlib' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


def test_rejected_run_with_excluded_calibrator(tmp_path):
    from thioquant.simulate import Failures, simulate_batch

    src = simulate_batch(tmp_path / "bad", method="thiopurines_hplcuv", n_patients=2,
                         failures=Failures(qc_bias_pct=40.0, calibrator_error={"CAL4": 0.6}))
    b = quantify(src)
    assert not b.accepted
    out = write_outputs(b, tmp_path / "out", timestamp=False)
    html = (out / "report.html").read_text()
    assert 'class="verdict rejected"' in html and "Run REJECTED" in html
    excluded = [(a, p.level) for a, oc in b.calibrations.items() if oc for p in oc.points if not p.included]
    assert excluded, "the damaged calibrator should be excluded"
    assert '<tr class="fail">' in html  # red QC/calibrator rows
    assert 'stroke="#c62828" stroke-width="2"/>' in html  # red crosses of excluded calibrators
    assert len(list((out / "patients").glob("*.pdf"))) == len(b.interpretations)
