"""Pure pieces of the reports: decimation, SVG chromatograms, chart axes, the PDF writer, the
public plot functions and the quantify options."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thioquant.model import Peak, Trace
from thioquant.report.chrom import Panel
from thioquant.views import decimate


def _panel(**kw):
    t = np.linspace(1.0, 2.0, 601)
    y = 100 + 5e4 * np.exp(-0.5 * ((t - 1.5) / 0.02) ** 2)
    pk = Peak("q", 1.5, 1.44, 1.56, 5e4, 1234.0, baseline_start=100.0, baseline_end=100.0, flags=("FUSED",))
    sel = (t >= 1.44) & (t <= 1.56)
    base = dict(injection=3, sample_id="CAL1", sample_type="calibrator", file="raw/x.mzML", analyte="6-TG",
                trace_name="6-TG", time=t, signal=y, rt_expected=1.5, window_min=0.1, peak=pk, is_name="6-TG-IS",
                is_time=t, is_signal=y * 2, area_time=t[sel], area_signal=y[sel])
    base.update(kw)
    return Panel(**base)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 3000), target=st.integers(4, 500), seed=st.integers(0, 10))
def test_decimate_keeps_extremes_and_order(n, target, seed):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.1, 1.0, n))
    y = rng.normal(size=n)
    td, yd = decimate(t, y, target)
    assert td.size <= max(target, n if n <= target else 0) or td.size <= target
    assert np.all(np.diff(td) > 0)
    assert yd.max() == y.max() and yd.min() == y.min()
    assert set(td.tolist()) <= set(t.tolist())


def test_decimate_ignores_nan():
    t = np.arange(1000.0)
    y = np.sin(t / 30)
    y[::7] = np.nan
    _, yd = decimate(t, y, 100)
    assert np.nanmax(yd) == np.nanmax(y)


def test_chromatogram_svg_draws_every_element():
    from thioquant.report.svg import chromatogram_svg, panel_geometry

    svg = chromatogram_svg(_panel())
    for cls in ("trace", "area", "baseline", "rtwin", "is", "apex"):
        assert f'class="{cls}"' in svg, cls
    assert 'data-sample="CAL1"' in svg and "RT 1.500" in svg and "FUSED" in svg
    g = panel_geometry(_panel())
    u, v = g.trace
    assert u.min() >= 0 and u.max() <= 1 and v.min() >= 0 and v.max() <= 1
    assert g.window == pytest.approx(((1.4 - 1.0) / 1.0, (1.6 - 1.0) / 1.0))
    # the apex is at the top of the plot
    assert v.max() > 0.85


def test_chromatogram_svg_without_trace_says_why():
    from thioquant.report.svg import chromatogram_svg

    svg = chromatogram_svg(_panel(time=np.empty(0), signal=np.empty(0), error="file unreadable", peak=None))
    assert "file unreadable" in svg and 'class="trace"' not in svg


def test_nice_ticks_and_labels():
    from thioquant.report.chart import nice_ticks, tick_label

    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0, 10000) == [0, 2000, 4000, 6000, 8000, 10000]
    t = nice_ticks(-23, 23)
    assert t[0] >= -23 and t[-1] <= 23 and 0 in t
    assert [tick_label(v) for v in (0, 2500, 1e6, 0.5, 1e-5)] == ["0", "2.5k", "1M", "0.5", "1e-05"]


def test_calibration_svg_marks_excluded_calibrators():
    from thioquant.calibration import accept_calibration
    from thioquant.report.chart import calibration_svg

    x = [1, 2, 5, 10, 20, 50, 100, 200]
    y = [0.01 * v for v in x]
    y[3] *= 1.6  # one bad calibrator
    oc = accept_calibration(x, y, model="linear", weighting="1/x^2", levels=[f"C{i}" for i in range(8)])
    assert any(not p.included for p in oc.points)
    svg = calibration_svg(oc, name="6-TG", conc_unit="nmol/L")
    # each calibrator in the curve and the residual panel, plus one of each in the legend
    assert svg.count("<circle") == 2 * sum(p.included for p in oc.points) + 1
    assert svg.count("<path d=") == 2 * sum(not p.included for p in oc.points) + 1  # red crosses
    assert "r\u00b2 = " in svg and "weighting 1/x^2" in svg and "%RE" in svg


def test_pdf_writer_text_and_pages():
    from thioquant.report.pdfdoc import Document, text_width, wrap

    assert text_width("Hello", 10) == pytest.approx((722 + 556 + 222 + 222 + 556) / 100)
    lines = wrap("one two three four five six seven", 50, 10)
    assert all(text_width(s, 10) <= 50 for s in lines) and " ".join(lines) == "one two three four five six seven"
    assert wrap("x" * 100, 30, 10)[0] == "x" * len(wrap("x" * 100, 30, 10)[0])
    doc = Document("t")
    p = doc.new_page()
    p.text(40, 40, "6-TGN (caf\u00e9) \u00b1 5 % [a\\b]", 12)
    p.polyline([0, 10, 20], [0, 5, 0])
    p.rect(10, 10, 20, 20, fill="#ff0000", stroke="#000000")
    p.image(0, 0, 10, 10, np.zeros((4, 5, 3), dtype=np.uint8))
    doc.new_page()
    data = doc.to_bytes()
    assert data.startswith(b"%PDF-1.4") and data.count(b"/Type /Page ") == 2
    import re

    m = re.search(rb"<< /Length (\d+) /Filter /FlateDecode >>\nstream\n", data)  # first page's content
    text = zlib.decompress(data[m.end():m.end() + int(m.group(1))])
    assert b"(6-TGN \\(caf\xe9\\) \xb1 5 % [a\\\\b]) Tj" in text
    # xref offsets point at the objects
    xref = int(data.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    first = data[xref:].split(b"\n")[3]
    off = int(first.split()[0])
    assert data[off:off + 8] == b"1 0 obj\n"


def test_plot_functions_return_figures():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from thioquant import plot
    from thioquant.calibration import accept_calibration

    oc = accept_calibration([1, 2, 5, 10, 20, 50], [0.011, 0.019, 0.052, 0.1, 0.21, 0.49], model="linear",
                            weighting="1/x", levels=list("ABCDEF"))
    t = np.linspace(0, 3, 300)
    tr = Trace("6-TG", t, 10 + 1e3 * np.exp(-0.5 * ((t - 1.5) / 0.05) ** 2), "cps")
    is_tr = Trace("6-TG-IS", t, 5 + 2e3 * np.exp(-0.5 * ((t - 1.5) / 0.05) ** 2), "cps")
    pk = Peak("6-TG", 1.5, 1.35, 1.65, 1e3, 125.0, baseline_start=10, baseline_end=10)
    figs = [
        plot.chromatogram(tr, pk, internal_standard=is_tr, rt_expected=1.5, window_min=0.2),
        plot.chromatogram(_panel()),
        plot.calibration(oc, name="6-TG", conc_unit="nmol/L"),
        plot.residuals(oc),
        plot.calibration_report(oc, name="6-TG"),
        plot.levey_jennings({"value": [1.0, 1.1, 0.9, 1.4], "mean": 1.0, "sd": 0.1, "analyte": "6-TG",
                             "level": "QCL", "target_source": "given"}),
        plot.pathway(),
    ]
    assert all(isinstance(f, Figure) for f in figs)
    assert plot.equation(oc.calibration).startswith("y = ")
    ax = figs[0].axes[0]
    assert ax.get_xlabel() == "time (min)" and len(figs[0].axes) == 2  # IS on a twin axis
    png = plot.to_png(figs[2])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.to_svg(figs[3]).startswith("<svg")


def test_equation_text():
    from thioquant.model import Calibration
    from thioquant.plot import equation

    def cal(model, c):
        return Calibration(model, "none", c, np.zeros((len(c), len(c))), 0.0, 1.0, [1.0], [1.0], [True])

    assert equation(cal("linear", (0.5, 2.0))) == "y = 2 x + 0.5"
    assert equation(cal("quadratic", (-1.0, 2.0, 3.0))) == "y = 3 x^2 + 2 x - 1"
    assert equation(cal("linear0", (0.0, 4.0))) == "y = 4 x"
    assert equation(cal("power", (math.log(2.0), 0.9))) == "y = 2 x^0.9"


def test_quantify_cli_report_options(tmp_path):
    from pathlib import Path

    from thioquant.cli import main

    src = str(Path(__file__).resolve().parents[1] / "sample_data" / "hplcuv")
    out = tmp_path / "o"
    main(["quantify", src, "--out", str(out), "--no-pdf", "--no-history", "--no-cache", "--quiet"])
    assert (out / "report.html").is_file() and (out / "results.xlsx").is_file()
    assert not (out / "report.pdf").exists()
    out2 = tmp_path / "o2"
    main(["quantify", src, "--out", str(out2), "--no-report", "--no-history", "--no-cache", "--quiet"])
    assert not (out2 / "report.html").exists() and (out2 / "results.json").is_file()


def test_progress_bar_only_when_enabled(capsys):
    from thioquant.report.progress import batch_progress

    with batch_progress(False) as p:
        assert p is None
    with batch_progress(True, label="work") as p:
        for i in range(1, 6):
            p(i, 5)
    err = capsys.readouterr().err
    assert "work" in err  # click draws the bar itself only on a terminal, the label always


def test_xlsx_cells_keep_markup_and_formula_like_text_as_text(tmp_path):
    # openpyxl would store a string starting with "=" as a formula: a patient comment or a file
    # name must never run in the reader's spreadsheet program
    import zipfile

    import openpyxl

    from thioquant.report.xlsx import _Sheets, save_workbook

    book = _Sheets()
    rows = [{"note": "x<y&z", "n": 1.5}, {"note": "=HYPERLINK(\"http://x\")", "n": float("nan")},
            {"note": "bell\x07 and nul\x00", "n": 2}]
    book.add("S", ["note", "n"], rows, fills=[None, "FFEBEE", None])
    save_workbook(book.wb, tmp_path / "a.xlsx")
    xml = zipfile.ZipFile(tmp_path / "a.xlsx").read("xl/worksheets/sheet1.xml").decode()
    assert "x&lt;y&amp;z" in xml and "<f>" not in xml
    ws = openpyxl.load_workbook(tmp_path / "a.xlsx")["S"]
    assert [c.value for c in ws["A"]] == ["note", "x<y&z", '=HYPERLINK("http://x")', "bell and nul"]
    assert ws["A3"].data_type == "s" and ws["B3"].value is None and ws["B2"].value == 1.5
    assert ws["A3"].fill.fgColor.rgb == "FFFFEBEE" and ws["A1"].font.b
