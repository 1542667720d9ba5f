"""Checked as a person would: report.html rendered in headless Chromium, report.pdf rasterised.

Needs the Debian packages ``chromium`` and ``poppler-utils`` (pdftoppm, pdfinfo); each test skips
with the reason when its tool is missing. Screenshots are saved in the test's tmp folder and,
when ``THIOQUANT_SCREENSHOT_DIR`` is set, copied there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from thioquant.pipeline import quantify
from thioquant.report.writer import write_outputs

REPO = Path(__file__).resolve().parents[1]

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                None)

# Injected into a copy of the report for the test only (the report itself has no script): lists
# what is visible - rendered, not display:none / visibility:hidden / transparent, non-empty box.
PROBE = """<script>
window.addEventListener('load', function () { setTimeout(function () {
  function vis(el) {
    if (!el) return false;
    var r = el.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return false;
    for (var e = el; e && e.nodeType === 1; e = e.parentElement) {
      var s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false;
    }
    return true;
  }
  function all(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  var out = {
    verdict: vis(document.getElementById('verdict')),
    verdict_text: (document.getElementById('verdict') || {}).innerText || '',
    calibration: all('svg.calchart').map(vis),
    chromatograms: all('svg.chrom').map(function (e) {
      return [e.getAttribute('data-sample'), e.getAttribute('data-analyte'), vis(e)]; }),
    patients: all('tr.patient').map(function (e) { return [e.cells[1].innerText, vis(e)]; }),
    pathway: vis(document.querySelector('.pathway svg')),
    target: null, viewport: window.innerWidth
  };
  var t = document.querySelector(':target');
  if (t) { var r = t.getBoundingClientRect(); out.target = [t.id, r.width, r.height]; }
  var pre = document.createElement('pre'); pre.id = 'probe-result';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
}, 50); });
</script>"""


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={tmp / 'chromium-profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    b = quantify(REPO / "sample_data" / "lcmsms")
    out = write_outputs(b, tmp_path_factory.mktemp("visual") / "out")
    return b, out


def _save_shot(path: Path) -> None:
    dest = os.environ.get("THIOQUANT_SCREENSHOT_DIR")
    if dest:
        Path(dest).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(dest) / path.name)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium chromium-driver)")
def test_report_html_in_chromium(report, tmp_path):
    b, out = report
    probe = tmp_path / "probe.html"
    html = (out / "report.html").read_text(encoding="utf-8")
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = _chromium(["--virtual-time-budget=5000", "--window-size=1400,1000", "--dump-dom", probe.as_uri()], tmp_path)
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', res.stdout, re.S)
    assert m, f"no probe output; stderr: {res.stderr[-2000:]}"
    seen = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">"))
    state = "ACCEPTED" if b.accepted else "REJECTED"
    assert seen["verdict"] and f"Run {state}" in seen["verdict_text"]
    assert b.verdict.deciding_rule in seen["verdict_text"]
    assert len(seen["calibration"]) == 2 and all(seen["calibration"])
    expected = {(e.sample_id, a.name) for e in b.worklist.entries for a in b.method.analytes}
    assert {(s, a) for s, a, v in seen["chromatograms"] if v} == expected
    assert len(seen["chromatograms"]) == len(expected)
    assert sorted(s for s, v in seen["patients"] if v) == sorted(i["sample_id"] for i in b.interpretations)
    assert seen["pathway"]
    assert "method family lcmsms" in res.stdout  # issue 19 item 14: shown beside the reference ranges

    # A screenshot of the top of the report (verdict and calibration), saved for people.
    shot = tmp_path / "report.png"
    _chromium(["--window-size=1300,1500", f"--screenshot={shot}", (out / "report.html").as_uri()], tmp_path)
    assert shot.is_file()
    from matplotlib.image import imread

    img = imread(shot)
    assert img.shape[0] == 1500 and img.shape[1] == 1300
    assert (img[..., :3] < 0.9).any(axis=2).mean() > 0.02  # not a blank page
    _save_shot(shot)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium chromium-driver)")
def test_clicking_a_chromatogram_enlarges_it(report, tmp_path):
    b, out = report
    html = (out / "report.html").read_text(encoding="utf-8")
    key = re.search(r'<figure class="thumb" id="([^"]+)"', html).group(1)
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = _chromium(["--virtual-time-budget=5000", "--window-size=1200,900", "--dump-dom",
                     probe.as_uri() + "#" + key], tmp_path)
    m = re.search(r'<pre id="probe-result">(.*?)</pre>', res.stdout, re.S)
    seen = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    tid, width, height = seen["target"]
    assert tid == key
    assert width > 0.8 * seen["viewport"] and height > 400  # the thumbnail (300 px) is now full-screen


PDFTOPPM = shutil.which("pdftoppm")


def _pages(pdf: Path, tmp: Path, dpi: int = 40) -> list[np.ndarray]:
    from matplotlib.image import imread

    prefix = tmp / pdf.stem
    subprocess.run([PDFTOPPM, "-r", str(dpi), "-png", str(pdf), str(prefix)], check=True, capture_output=True,
                   timeout=120)
    return [imread(p) for p in sorted(tmp.glob(f"{pdf.stem}-*.png"))]


def _pdfinfo_pages(pdf: Path) -> int:
    info = shutil.which("pdfinfo")
    if info is None:
        return -1
    text = subprocess.run([info, str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", text).group(1))


@pytest.mark.skipif(PDFTOPPM is None, reason="pdftoppm not installed (apt-get install poppler-utils)")
def test_report_pdf_pages_are_not_blank(report, tmp_path):
    b, out = report
    pages = _pages(out / "report.pdf", tmp_path)
    n = _pdfinfo_pages(out / "report.pdf")
    assert len(pages) >= 6 and (n == -1 or n == len(pages))
    # 42 injections x 2 analytes at 8 panels per row block... at least 3 pages of chromatograms
    for i, img in enumerate(pages, 1):
        ink = (img[..., :3] < 0.85).any(axis=2).mean()
        assert ink > 0.005, f"page {i} is blank"
    h, w = pages[0].shape[:2]
    assert abs(w / h - 595.28 / 841.89) < 0.02  # A4 portrait


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext not installed (apt-get install poppler-utils)")
def test_every_report_pdf_page_has_its_body_and_footer(report):
    """Each page's drawing is sealed into its own stream when the next page starts, and the
    running footer is added at the end as a further stream: both must be read as one page."""
    _, out = report
    text = subprocess.run([shutil.which("pdftotext"), "-layout", str(out / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True, timeout=120).stdout
    pages = text.split("\f")[:-1]
    assert len(pages) >= 6
    for i, page in enumerate(pages, 1):
        assert f"page {i} of {len(pages)}" in page, i
        assert len(page.split()) > 8, f"page {i} has no body text"


@pytest.mark.skipif(PDFTOPPM is None, reason="pdftoppm not installed (apt-get install poppler-utils)")
def test_patient_pdf_is_one_readable_page(report, tmp_path):
    from thioquant.report.pdf import patient_filename

    b, out = report
    row = next(i for i in b.interpretations if i["category"] == "preferential_methylation")
    pdf = out / "patients" / patient_filename(row)
    pages = _pages(pdf, tmp_path, dpi=50)
    assert len(pages) == 1
    img = pages[0][..., :3]
    assert (img < 0.85).any(axis=2).mean() > 0.02
    # the red "HIGH"/"LOW" marks and the green range bars are there
    red = (img[..., 0] > 0.6) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)
    assert red.sum() > 10
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert row["sample_id"] in text and row["patient_id"] in text and "Reviewed by" in text
        assert row["tgn_pmol_8e8"] in text and "235-450" in text
        # issue 19: the method family and the monitoring schedule, as a reader sees them
        flat = " ".join(text.split())
        assert "method family lcmsms" in flat and "every 1-2 weeks for the first 8 weeks" in flat
        assert "Dose band:" in flat and "testing" in flat  # no phenotype: a testing prompt, no band
