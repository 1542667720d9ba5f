"""Raw files outside the batch folder (absolute paths, ``../``) are quantified as usual and reported
as an OUTSIDE_BATCH message naming row and file; they are not a flag on the row or its results."""

from __future__ import annotations

import csv
import math
import shutil

import pytest

from thioquant.assay.worklist import read_worklist
from thioquant.flags import FLAGS
from thioquant.pipeline import quantify

INSIDE = ["raw/a.mzML", "./raw/b.mzML", "raw/../c.mzML", "raw/sub/../../d.mzML", "e..mzML", "..f.mzML"]
OUTSIDE = {
    "../x.mzML": "relative path leading out of the batch folder",
    "../../shared/y.mzML": "relative path leading out of the batch folder",
    "raw/../../z.mzML": "relative path leading out of the batch folder",
    "..\\w.mzML": "relative path leading out of the batch folder",
    "/abs/path.mzML": "absolute path",
    "C:\\raw\\v.mzML": "absolute path",
    "\\\\server\\share\\u.mzML": "absolute path",
}


def test_reader_reports_outside_files(tmp_path):
    names = INSIDE + list(OUTSIDE)
    p = tmp_path / "worklist.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["sample_id", "file", "sample_type", "rbc_count"])
        for i, name in enumerate(names, start=1):
            w.writerow([f"S{i}", name, "unknown", "4.5"])
    wl = read_worklist(p)
    # never a flag: every row stays usable and is quantified
    assert all(e.flags == () and e.usable for e in wl.entries)
    issues = {i.sample_id: i for i in wl.issues}
    assert set(issues) == {f"S{i}" for i in range(len(INSIDE) + 1, len(names) + 1)}
    for i, (name, why) in enumerate(OUTSIDE.items(), start=len(INSIDE) + 1):
        issue = issues[f"S{i}"]
        assert issue.code == "OUTSIDE_BATCH" and issue.row == i + 1
        assert issue.message == (f"{p}: row {i + 1} (S{i}): raw file {name!r} is outside the batch folder "
                                 f"({why}): quantified, but the batch folder alone does not hold its raw data")
    assert "OUTSIDE_BATCH" in FLAGS


@pytest.fixture(scope="module")
def batches(tmp_path_factory, repo_root):
    """The bundled LC-MS/MS batch quantified as shipped, and a copy whose P001 raw file sits beside
    the batch folder (``../``) and P002's at an absolute path."""
    method = repo_root / "calibrations" / "thiopurines_lcmsms.toml"
    root = tmp_path_factory.mktemp("outside")
    plain = root / "plain"
    fresh = shutil.ignore_patterns("results", ".thioquant-cache.sqlite*", "qc_history.sqlite*")  # not a user's run
    shutil.copytree(repo_root / "sample_data" / "lcmsms", plain, ignore=fresh)
    moved = root / "moved"
    shutil.copytree(repo_root / "sample_data" / "lcmsms", moved, ignore=fresh)
    (root / "shared").mkdir()
    shutil.move(moved / "raw" / "015_P001.mzML", root / "shared" / "015_P001.mzML")
    absolute = root / "elsewhere" / "016_P002.mzML"
    absolute.parent.mkdir()
    shutil.move(moved / "raw" / "016_P002.mzML", absolute)
    wl = moved / "worklist.csv"
    text = wl.read_text()
    for old, new in (("raw/015_P001.mzML", "../shared/015_P001.mzML"), ("raw/016_P002.mzML", str(absolute))):
        assert text.count(old) == 1
        text = text.replace(old, new)
    wl.write_text(text)
    return quantify(plain, method=method), quantify(moved, method=method), absolute


def test_pipeline_quantifies_and_reports(batches):
    plain, moved, absolute = batches
    # the batch's own messages (apex spikes corrected, SPIKE_APEX) and the two about the moved files
    assert not [m for m in plain.messages if "outside the batch folder" in m]
    extra = [m for m in moved.messages if "outside the batch folder" in m]
    assert len(extra) == 2 and len(moved.messages) == len(plain.messages) + 2
    assert "row 16 (P001): raw file '../shared/015_P001.mzML' is outside the batch folder (relative path" \
        in extra[0]
    assert f"row 17 (P002): raw file {str(absolute)!r} is outside the batch folder (absolute path)" \
        in extra[1]
    # the same numbers and flags as with the files inside the folder
    for a, b in zip(plain.results, moved.results, strict=True):
        assert (a.sample_id, a.analyte, a.flags) == (b.sample_id, b.analyte, b.flags)
        assert a.reported == b.reported or (math.isnan(a.reported) and math.isnan(b.reported))
    assert plain.verdict.accepted == moved.verdict.accepted
    p001 = [r for r in moved.results if r.sample_id == "P001"]
    assert p001 and all(math.isfinite(r.conc) for r in p001)
