"""Where quantify writes by default: never into the batch folder (an input, perhaps on a read-only
instrument share), but under ./thioquant-results/<method>/<batch>, with the QC history and the
measurement cache beside the batches' output folders so that they accumulate across batches."""

from __future__ import annotations

import csv
import os
import re
import shutil
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from thioquant.cli import main
from thioquant.errors import InputError
from thioquant.locations import RESULTS_ENV, default_output_dir

FAST = ["--quiet", "--no-report", "--no-pdf"]


def _run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code), capsys.readouterr().err


def _snapshot(folder: Path) -> dict[str, tuple]:
    """Every entry under ``folder`` (itself included) with its mode, size, mtime and bytes."""
    out = {}
    for p in [folder, *sorted(folder.rglob("*"))]:
        st = p.stat()
        out[p.relative_to(folder).as_posix()] = (st.st_mode, st.st_mtime_ns,
                                                 p.read_bytes() if p.is_file() else None)
    return out


def _set_mode(folder: Path, *, writable: bool) -> None:
    for p in [folder, *folder.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755 if writable else 0o555)
        else:
            p.chmod(0o644 if writable else 0o444)


@pytest.fixture
def lab(tmp_path, sample_batch, repo_root, monkeypatch) -> Path:
    """A lab folder: the methods in ``calibrations/``, batches copied to ``share/`` by
    ``sample_batch(name, lab / "share" / name)``; thioquant runs in ``lab/work`` with the default
    results root (``THIOQUANT_RESULTS`` unset)."""
    (tmp_path / "calibrations").mkdir()
    for name in ("thiopurines_lcmsms.toml", "thiopurines_hplcuv.toml"):
        shutil.copy(repo_root / "calibrations" / name, tmp_path / "calibrations")
    (tmp_path / "work").mkdir()
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def test_a_read_only_batch_is_quantified_with_defaults_and_left_untouched(lab, sample_batch):
    batch = sample_batch("lcmsms", lab / "share" / "lcmsms")
    _set_mode(batch, writable=False)  # as on an instrument share mounted read-only
    try:
        before = _snapshot(batch)
        main(["quantify", str(batch), *FAST])  # was: exit 5, cannot create BATCH/results (as root: written there)
        after = _snapshot(batch)
    finally:
        _set_mode(batch, writable=True)
    assert after == before  # nothing written, renamed, touched or left behind in the batch folder
    root = lab / "work" / "thioquant-results" / "thiopurines_lcmsms"
    assert default_output_dir(batch) == Path("thioquant-results", "thiopurines_lcmsms", "lcmsms")
    assert (root / "lcmsms" / "results.csv").is_file() and (root / "lcmsms" / "audit.jsonl").is_file()
    assert (root / "qc_history.sqlite").is_file() and (root / ".thioquant-cache.sqlite").is_file()
    assert stat.S_IMODE(batch.stat().st_mode) == 0o755


def _runs(history: Path) -> set[str]:
    """The runs of a QC history by their folder names (a run id is ``<folder name>@<12 hex>``)."""
    with sqlite3.connect(history) as conn:
        ids = {r[0] for r in conn.execute("SELECT DISTINCT run_id FROM qc_value")}
    assert all(re.fullmatch(r"[^@]+@[0-9a-f]{12}", i) for i in ids), ids
    return {i.split("@")[0] for i in ids}


def test_the_qc_history_accumulates_across_batches_quantified_with_defaults(lab, sample_batch, capsys):
    for name in ("day1", "day2"):
        sample_batch("lcmsms", lab / "share" / name)
    main(["quantify", str(lab / "share" / "day1"), *FAST])
    time.sleep(1.05)  # the history's timestamps have whole seconds
    main(["quantify", str(lab / "share" / "day2"), *FAST])
    root = Path("thioquant-results", "thiopurines_lcmsms")
    assert _runs(root / "qc_history.sqlite") == {"day1", "day2"}  # one history, both batches
    # day1 quantified again (--force; the review re-quantifies too) keeps its place before day2
    main(["quantify", str(lab / "share" / "day1"), "--force", *FAST])
    with sqlite3.connect(root / "qc_history.sqlite") as conn:
        order = [r[0].split("@")[0] for r in conn.execute("SELECT run_id FROM qc_value WHERE analyte='6-TG' AND level='QCL' "
                                            "ORDER BY timestamp, id")]
    assert order == ["day1", "day1", "day2", "day2"]  # was: day2's values first, day1 moved to the end
    first = (root / "day1" / "qc.csv").read_text(encoding="utf-8")
    second = (root / "day2" / "qc.csv").read_text(encoding="utf-8")
    # Westgard on day2 sees day1's QC values (2 per level and analyte); was a fresh history per batch
    assert "6-TG QCL: Westgard rules not evaluated: no target mean/SD set and no earlier QC values" in first
    assert "6-TG QCL: Westgard rules not evaluated: no target mean/SD set and only 2 earlier QC values" in second
    # another method keeps its own history: LC-MS/MS and HPLC-UV QCs (both "6-TG QCL") never mix
    sample_batch("hplcuv", lab / "share" / "hplcuv")
    main(["quantify", str(lab / "share" / "hplcuv"), *FAST])
    uv = Path("thioquant-results", "thiopurines_hplcuv")
    assert _runs(uv / "qc_history.sqlite") == {"hplcuv"} and _runs(root / "qc_history.sqlite") == {"day1", "day2"}
    assert "6-TG QCL: Westgard rules not evaluated: no target mean/SD set and no earlier QC values" in \
        (uv / "hplcuv" / "qc.csv").read_text(encoding="utf-8")


def test_force_never_replaces_the_results_of_another_batch_of_the_same_name(lab, sample_batch, capsys):
    a = sample_batch("lcmsms", lab / "share" / "a" / "plate1")
    b = sample_batch("lcmsms", lab / "share" / "b" / "plate1")
    main(["quantify", str(a), *FAST])
    out = Path("thioquant-results", "thiopurines_lcmsms", "plate1")
    before = _snapshot(out)
    code, err = _run(["quantify", str(b), *FAST], capsys)
    assert code == 5 and "already exists" in err, err
    code, err = _run(["quantify", str(b), "--force", *FAST], capsys)
    assert code == 5, err
    assert f"holds the results of another batch folder of the same name ({a})" in err and "give --out" in err
    assert _snapshot(out) == before
    main(["quantify", str(a), "--force", *FAST])  # its own batch's results: replaced


@pytest.mark.parametrize("where", ["results", "raw/out", "sub/deeper/out"])
def test_out_inside_the_batch_folder_is_refused(lab, sample_batch, capsys, where):
    batch = sample_batch("lcmsms", lab / "share" / "lcmsms")
    before = _snapshot(batch)
    out = batch / where
    code, err = _run(["quantify", str(batch), "--out", str(out), *FAST], capsys)
    assert code == 5, err  # an output location problem (errors.OutputError)
    assert err.startswith(f"error: {out}: the output folder would be written inside the batch folder ({batch})")
    assert "never writes into an input folder" in err and "--out outside it" in err
    assert _snapshot(batch) == before and not Path("thioquant-results").exists()


def test_nothing_written_into_the_batch_folder_by_any_option(lab, sample_batch, capsys, tmp_path):
    batch = sample_batch("lcmsms", lab / "share" / "lcmsms")
    before = _snapshot(batch)
    out = str(tmp_path / "elsewhere")
    code, err = _run(["quantify", str(batch), "--out", out, "--history", str(batch / "qc.sqlite"), *FAST], capsys)
    assert code == 5 and "the QC history would be written inside the batch folder" in err, err
    code, err = _run(["quantify", str(batch), "--out", out, "--lis-outbox", str(batch / "outbox"), *FAST], capsys)
    assert code == 5 and "the LIS outbox would be written inside the batch folder" in err, err
    # a raw file's folder outside the batch folder is an input folder too
    shared = lab / "share" / "raw-elsewhere"
    shared.mkdir()
    wl = batch / "worklist.csv"
    with open(wl, newline="", encoding="utf-8") as fh:
        file = next(r["file"] for r in csv.DictReader(fh) if r["sample_id"] == "P003")
    name = Path(file).name
    shutil.move(batch / file, shared / name)
    wl.write_text(wl.read_text(encoding="utf-8").replace(file, f"../raw-elsewhere/{name}"), encoding="utf-8")
    before = _snapshot(batch)
    code, err = _run(["quantify", str(batch), "--out", str(shared / "out"), *FAST], capsys)
    assert code == 5 and f"inside the folder of raw file ../raw-elsewhere/{name}" in err, err
    assert _snapshot(batch) == before and sorted(p.name for p in shared.iterdir()) == [name]


def test_the_default_output_inside_the_batch_folder_is_refused_with_a_way_out(lab, sample_batch, capsys,
                                                                               monkeypatch):
    batch = sample_batch("lcmsms", lab / "share" / "lcmsms")
    monkeypatch.chdir(batch)  # quantify . from inside the batch folder: ./thioquant-results is in it
    before = _snapshot(batch)
    code, err = _run(["quantify", ".", *FAST], capsys)
    assert code == 5, err
    assert "thioquant-results/thiopurines_lcmsms/lcmsms: the output folder would be written inside the batch " \
           "folder (.)" in err
    assert "set THIOQUANT_RESULTS to a folder outside it, or give --out" in err
    assert _snapshot(batch) == before
    monkeypatch.setenv(RESULTS_ENV, str(lab / "results-root"))  # the way out it names
    main(["quantify", ".", *FAST])
    assert (lab / "results-root" / "thiopurines_lcmsms" / "lcmsms" / "results.csv").is_file()
    assert _snapshot(batch) == before


def test_review_of_a_batch_finds_its_default_output_folder_or_an_earlier_versions(lab, sample_batch,
                                                                                  review_setup):
    from thioquant.review.session import find_output_dir

    batch = sample_batch("lcmsms", lab / "share" / "lcmsms")
    assert find_output_dir(batch) == Path("thioquant-results", "thiopurines_lcmsms", "lcmsms")  # to be made
    old, _ = review_setup  # a run that an earlier version wrote into BATCH/results is still reviewed
    shutil.copytree(old, batch / "results")
    assert find_output_dir(batch) == batch / "results"
    main(["quantify", str(batch), *FAST])  # once the default one exists, it is the one
    assert find_output_dir(batch) == Path("thioquant-results", "thiopurines_lcmsms", "lcmsms")
    (batch / "batch.toml").unlink()  # quantified with --method: the output folder must be named
    with pytest.raises(InputError, match="method is not named by batch.toml .*give its output folder"):
        find_output_dir(batch)


def test_validate_writes_its_reports_outside_the_package(lab, repo_root, capsys):
    pkg = lab / "share" / "validation_lcmsms"
    pkg.mkdir(parents=True)
    (pkg / "package.toml").write_text("[package]\nmethod = \"thiopurines_lcmsms\"\n", encoding="utf-8")
    code, err = _run(["validate", str(pkg), "--out", str(pkg / "validation")], capsys)
    assert code == 5 and "the validation reports would be written inside the validation package" in err, err
    assert sorted(p.name for p in pkg.iterdir()) == ["package.toml"]
    from thioquant.locations import default_validation_dir

    assert default_validation_dir(pkg) == Path("thioquant-results", "validation", "validation_lcmsms")
    assert os.environ.get(RESULTS_ENV) is None
