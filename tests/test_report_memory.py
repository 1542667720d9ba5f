"""The output writer's memory does not grow with the batch for what it needs only a little at a time:
each chromatogram's geometry is computed once for report.html and report.pdf together and never
held for the whole batch, results.json and report.pdf are written out part by part, and only one
forked writer copies the batch at a time (benchmarks/batch_memory.py measures the figures)."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from thioquant.pipeline import quantify
from thioquant.report import svg, writer
from thioquant.report.writer import write_outputs

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def batch():
    return quantify(REPO / "sample_data" / "lcmsms", keep_views=True)


def test_each_panel_geometry_is_computed_once_and_not_kept_for_the_batch(batch, tmp_path, monkeypatch):
    from thioquant.report.chrom import collect_panels

    real = svg.panel_geometry
    largest, computed = [0], [0]

    def watched(panel):
        g = real(panel)
        info = real.cache_info()
        largest[0], computed[0] = max(largest[0], info.currsize), info.misses
        return g

    watched.cache_clear = real.cache_clear  # the writer clears it when done
    # the patient pages are drawn by a forked writer (forced: another test may have left a thread)
    monkeypatch.setattr(writer, "_can_fork", lambda: True)
    monkeypatch.setattr(svg, "panel_geometry", watched)
    n_panels = len(collect_panels(batch))
    assert n_panels > svg.GEOMETRY_CACHE  # 84 panels: the cache cannot hold them all
    real.cache_clear()
    write_outputs(batch, tmp_path / "out", timestamp=False)
    # report.html and report.pdf drew every panel; each was computed once for both
    assert computed[0] == n_panels
    assert 0 < largest[0] <= svg.GEOMETRY_CACHE


def test_html_and_pdf_drawn_together_are_the_files_drawn_apart(batch, tmp_path, monkeypatch):
    from thioquant.report.chrom import collect_panels
    from thioquant.report.html import write_html
    from thioquant.report.pdf import write_report_pdf

    monkeypatch.setattr(writer, "_can_fork", lambda: False)
    out = write_outputs(batch, tmp_path / "out", timestamp=False)
    panels = collect_panels(batch)
    write_html(tmp_path / "apart.html", batch, panels)
    write_report_pdf(batch, tmp_path / "apart.pdf", panels)
    assert (out / "report.html").read_bytes() == (tmp_path / "apart.html").read_bytes()
    assert (out / "report.pdf").read_bytes() == (tmp_path / "apart.pdf").read_bytes()


def test_results_json_is_written_record_by_record(batch, tmp_path):
    from thioquant.report.json_out import results_json, write_results_json
    from thioquant.report.tables import batch_rows

    base = batch_rows(batch)
    rows = base * (20_000 // len(base))  # a large batch's result rows (the same records repeated)
    path = tmp_path / "results.json"
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        write_results_json(path, batch, rows)
        extra = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    assert size > 5_000_000
    # as one string (plus its parts and its bytes) it took about three times the file
    assert extra < size / 3, (extra, size)
    assert path.read_text(encoding="utf-8") == results_json(batch, rows)


def test_pdf_is_written_object_by_object(tmp_path):
    from thioquant.report.pdfdoc import Document

    rng = np.random.default_rng(1)
    doc = Document(title="long")
    for i in range(300):  # chromatogram-like pages: noisy polylines compress little
        page = doc.new_page()
        page.text(40, 40, f"page {i}", 8)
        for k in range(8):
            page.polyline(np.linspace(40, 550, 400), 100 + 80 * k + 30 * rng.random(400), width=0.5)
    as_bytes = doc.to_bytes()
    path = tmp_path / "long.pdf"
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        doc.save(path)
        extra = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert path.read_bytes() == as_bytes
    assert len(as_bytes) > 3_000_000
    # built as one buffer it held the file about three times over; written object by object, what
    # it holds is zlib's state for the last page (about 0.45 MB) and one object at a time
    assert extra < len(as_bytes) / 4, (extra, len(as_bytes))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked writers are used on Linux only")
def test_one_forked_writer_at_a_time(tmp_path):
    # in a fresh interpreter (a test process may hold other tests' threads, which stop forking):
    # with the patient PDFs forked, results.xlsx is written here, after report.pdf, while they are
    # written; without the reports it has a forked process of its own; the same file either way
    code = f"""
import os
from pathlib import Path
from thioquant.pipeline import quantify
from thioquant.report import pdf, writer
b = quantify({str(REPO / "sample_data" / "lcmsms")!r})
pids = {{}}
real_xlsx, real_patients = writer._write_xlsx, pdf.write_patient_pdfs
def xlsx(batch, stage, rows=None):
    (Path(stage).parent / "xlsx.pid").write_text(str(os.getpid()))
    real_xlsx(batch, stage, rows)
def patients(batch, folder, *a, **k):
    (Path(folder).parent.parent / "patients.pid").write_text(str(os.getpid()))
    return real_patients(batch, folder, *a, **k)
writer._write_xlsx, pdf.write_patient_pdfs = xlsx, patients
root = Path({str(tmp_path)!r})
tm = {{}}
full = writer.write_outputs(b, root / "full", timestamp=False, timings=tm)
patients_pid = int((root / "patients.pid").read_text())
xlsx_here = int((root / "xlsx.pid").read_text()) == os.getpid() != patients_pid
timed = tm["xlsx"] > 0 and tm["patient_pdfs"] > 0
tables = writer.write_outputs(b, root / "tables", timestamp=False, report=False)
xlsx_forked = int((root / "xlsx.pid").read_text()) != os.getpid()
same = (full / "results.xlsx").read_bytes() == (tables / "results.xlsx").read_bytes()
print(xlsx_here, timed, xlsx_forked, same)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["True", "True", "True", "True"]


def test_patient_pages_read_the_batch_once_not_once_per_page(batch, tmp_path, monkeypatch):
    # the verdict and the held results come from every result of the batch: read per page, 9,600
    # injections' 5,500 pages took minutes (quadratic); the pages are the same
    from thioquant.report import content
    from thioquant.report.chrom import collect_panels
    from thioquant.report.pdf import build_patient_page, write_patient_pdfs

    panels = collect_panels(batch)
    real, calls = content.held_rows, [0]

    def counted(b):
        calls[0] += 1
        return real(b)

    monkeypatch.setattr(content, "held_rows", counted)
    paths = write_patient_pdfs(batch, tmp_path / "patients", panels)
    assert len(paths) == len(batch.interpretations) == 24
    assert calls[0] <= 2
    ranges = content.reference_ranges(batch)
    row = content.patient_rows(batch, ranges)[0]
    alone = build_patient_page(batch, row, [p for p in panels if p.sample_id == row["sample_id"]], ranges)
    assert paths[0].read_bytes() == alone.to_bytes()
