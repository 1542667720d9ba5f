"""The output folder: never an input, never half-written, every failure named (exit codes)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from thioquant.cli import main


@pytest.fixture
def batch(tmp_path, sample_batch) -> Path:
    return sample_batch(dst=tmp_path / "batch")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code), capsys.readouterr().err


FAST = ["--no-history", "--no-cache", "--quiet", "--no-report"]


@pytest.mark.parametrize("where, reason", [
    (lambda b: b, "is the batch folder"),
    (lambda b: b.parent, "contains the batch folder"),
    (lambda b: b / "raw", "contains raw file raw/001_BLANK-1.mzML"),
])
def test_force_never_replaces_an_input_folder(batch, capsys, where, reason):
    before = _tree(batch.parent)
    out = where(batch)
    code, err = _run(["quantify", str(batch), "--out", str(out), "--force", *FAST], capsys)
    assert code == 5 and str(out) in err and reason in err
    assert _tree(batch.parent) == before  # nothing deleted, nothing written


def test_force_never_replaces_a_folder_holding_an_input_file(batch, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    ov = out / "overrides.csv"
    ov.write_text("sample_id,analyte,start_min,end_min,reason\n")
    code, err = _run(["quantify", str(batch), "--out", str(out), "--force", "--overrides", str(ov), *FAST], capsys)
    assert code == 5 and "contains the overrides file" in err and ov.is_file()
    hist = out / "qc.sqlite"
    code, err = _run(["quantify", str(batch), "--out", str(out), "--force", "--history", str(hist),
                      "--no-cache", "--quiet"], capsys)
    assert code == 5 and "contains the QC history file" in err and ov.is_file()
    # the default output folder, outside the batch folder, is fine (and --force replaces it)
    from thioquant.locations import default_output_dir

    main(["quantify", str(batch), *FAST])
    main(["quantify", str(batch), "--force", *FAST])
    assert (default_output_dir(batch) / "results.csv").is_file() and (batch / "worklist.csv").is_file()


def test_an_output_folder_that_cannot_be_created_is_named_before_the_work(batch, tmp_path, capsys, monkeypatch):
    import thioquant.pipeline

    def no_work(*a, **k):
        raise AssertionError("the batch was quantified before the output folder was checked")

    monkeypatch.setattr(thioquant.pipeline, "quantify", no_work)
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    code, err = _run(["quantify", str(batch), "--out", str(afile / "out"), *FAST], capsys)
    assert code == 5 and f"{afile / 'out'}: cannot create the output folder" in err
    assert "exists and is not a folder" in err
    if sys.platform.startswith("linux") and Path("/proc/self").is_dir():
        code, err = _run(["quantify", str(batch), "--out", "/proc/tq_out", *FAST], capsys)
        assert code == 5 and "/proc/tq_out: cannot create the output folder" in err


def test_disk_full_while_writing_fails_and_keeps_the_previous_output(batch, tmp_path, capsys, monkeypatch):
    import errno

    import thioquant.report.html
    from thioquant.audit import verify

    out = tmp_path / "out"
    main(["quantify", str(batch), "--out", str(out), "--no-history", "--no-cache", "--quiet", "--no-pdf"])
    before = _tree(out)

    def full(path, *a, **k):
        Path(path).write_text("<!DOCTYPE html><html>")  # a part written before the disk filled up
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(thioquant.report.html, "write_html", full)
    code, err = _run(["quantify", str(batch), "--out", str(out), "--force", "--no-history", "--no-cache",
                      "--quiet"], capsys)
    assert code == 5, err
    assert f"{out / 'report.html'}: cannot be written: No space left on device" in err
    assert _tree(out) == before and verify(out).ok  # the earlier results, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "out"]  # no staging folder left
    code, err = _run(["quantify", str(batch), "--out", str(tmp_path / "new"), "--no-history", "--no-cache",
                      "--quiet"], capsys)
    assert code == 5 and not (tmp_path / "new").exists()
    assert "Results written" not in capsys.readouterr().out


def test_long_sample_ids_give_bounded_distinct_patient_pdf_names(batch, tmp_path):
    import csv

    from thioquant.report.pdf import PATIENT_STEM_MAX, patient_filename

    rows = list(csv.DictReader((batch / "worklist.csv").open(newline="")))
    long_ids = {"P001": "P" * 300, "P002": "P" * 299 + "Q", "P003": "\u00e9" * 300}
    for r in rows:
        r["sample_id"] = long_ids.get(r["sample_id"], r["sample_id"])
    with (batch / "worklist.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "out"
    main(["quantify", str(batch), "--out", str(out), "--no-history", "--no-cache", "--quiet"])
    names = [p.name for p in (out / "patients").iterdir()]
    assert len(names) == 24 and all(len(n.encode()) <= PATIENT_STEM_MAX + 4 for n in names)
    assert all(n.endswith(".pdf") for n in names)
    a, b = (patient_filename({"sample_id": s}) for s in ("P" * 300, "P" * 299 + "Q"))
    assert a != b and a.startswith("P" * 50)
    assert patient_filename({"patient_id": "PT1", "sample_id": "P001"}) == "PT1_P001.pdf"  # short: unchanged


def _not_sqlite(path: Path) -> bytes:
    data = bytes(range(256)) * 20
    path.write_bytes(data)
    return data


def _wrong_schema(path: Path, sql: str) -> bytes:
    import sqlite3

    con = sqlite3.connect(path)
    con.executescript(sql)
    con.commit()
    con.close()
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["bytes", "schema"])
def test_a_corrupt_cache_is_set_aside_and_a_new_one_started(batch, tmp_path, capsys, damage):
    cache = tmp_path / ".thioquant-cache.sqlite"  # beside the output folder (--out tmp_path/out)
    if damage == "bytes":
        data = _not_sqlite(cache)
    else:
        data = _wrong_schema(cache, "CREATE TABLE measurements (key TEXT PRIMARY KEY, other TEXT);")
    main(["quantify", str(batch), "--out", str(tmp_path / "out"), "--no-history", "--quiet", "--no-report"])
    err = capsys.readouterr().err
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(".thioquant-cache.sqlite.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == data  # kept for inspection, never deleted
    assert "warning:" in err and "not a usable cache" in err and aside[0].name in err
    messages = (tmp_path / "out" / "messages.txt").read_text()
    assert aside[0].name in messages and "0 reused, 42 measured" in messages
    main(["quantify", str(batch), "--out", str(tmp_path / "again"), "--no-history", "--quiet", "--no-report"])
    assert "42 reused, 0 measured" in (tmp_path / "again" / "messages.txt").read_text()
    assert (tmp_path / "again" / "results.csv").read_bytes() == (tmp_path / "out" / "results.csv").read_bytes()


def test_a_cache_failing_during_the_run_is_dropped(tmp_path):
    import sqlite3

    from thioquant.cache import MeasurementCache

    class Full:
        def execute(self, *a):
            raise sqlite3.OperationalError("database or disk is full")

        def close(self):
            pass

    with pytest.warns(RuntimeWarning, match="disk is full"), MeasurementCache(tmp_path / "c.sqlite") as store:
        store._con = Full()
        assert store.get("k", "f") is None and store.misses == 1
        assert store._con is None and "running on without it" in store.notes[0]
        store.get("k", "f")  # no second failure: the cache is no longer used


@pytest.mark.parametrize("damage", ["bytes", "schema", "other database"])
def test_an_unusable_qc_history_is_refused_before_the_work_and_left_unchanged(batch, tmp_path, capsys, damage):
    hist = tmp_path / "qc_history.sqlite"
    if damage == "bytes":
        data = _not_sqlite(hist)
    elif damage == "schema":
        data = _wrong_schema(hist, "CREATE TABLE qc_value (id INTEGER PRIMARY KEY, run TEXT);")
    else:
        data = _wrong_schema(hist, "CREATE TABLE invoices (id INTEGER PRIMARY KEY);")
    code, err = _run(["quantify", str(batch), "--out", str(tmp_path / "out"), "--history", str(hist),
                      "--no-cache", "--quiet"], capsys)
    assert code == 2 and f"{hist}: is not a usable QC history" in err and "left unchanged" in err
    assert hist.read_bytes() == data and not (tmp_path / "out").exists()
    from thioquant.errors import InputError
    from thioquant.qc.westgard import QCHistory

    with pytest.raises(InputError, match="not a usable QC history"):
        QCHistory(hist)
    assert hist.read_bytes() == data


def test_a_qc_history_write_that_fails_is_an_output_error(tmp_path):
    import sqlite3

    from thioquant.errors import OutputError
    from thioquant.qc.westgard import QCHistory

    hist = tmp_path / "h.sqlite"
    with QCHistory(hist) as h:
        h.add_run("r1", "2026-01-01", "6-TG", "QCL", [1.0])
        h._conn.close()
        h._conn = sqlite3.connect(f"{hist.as_uri()}?mode=ro", uri=True)  # as a full disk would refuse
        with pytest.raises(OutputError, match="cannot record run r2 in the QC history"):
            h.add_run("r2", "2026-01-02", "6-TG", "QCL", [2.0])
        assert [r for r, _, _ in h.series("6-TG", "QCL")] == ["r1"]


_SIGNALLED = """
import os, signal, sys, time
from pathlib import Path
import thioquant.report.html
from thioquant.cli import main

def killed(path, *a, **k):
    Path(path).write_text("<!DOCTYPE html><html>")  # half a page when the signal comes
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    time.sleep(5)  # the handler interrupts this
    raise AssertionError("the signal did not stop the run")

thioquant.report.html.write_html = killed
main(["quantify", sys.argv[2], "--out", sys.argv[3], "--no-history", "--no-cache", "--quiet"])
"""


@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGINT", 130), ("SIGHUP", 129)])
def test_a_signal_while_writing_removes_the_staging_folder(batch, tmp_path, signame, code):
    """In a child process: on the old code SIGTERM ended the process and left .out.partial-*."""
    import os
    import signal
    import subprocess

    if getattr(signal, signame, None) is None:
        pytest.skip(f"no {signame} here")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", _SIGNALLED, signame, str(batch), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert f"interrupted by {signame}" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch"]  # no .out.partial-* left


def test_main_puts_the_previous_signal_handlers_back(batch, tmp_path):
    import signal

    before = signal.getsignal(signal.SIGTERM)
    main(["quantify", str(batch), "--out", str(tmp_path / "out"), *FAST])
    assert signal.getsignal(signal.SIGTERM) == before


def _history_rows(path: Path) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT run_id, timestamp, analyte, level, replicate, value FROM qc_value "
                            "ORDER BY id").fetchall()


def test_a_run_whose_outputs_fail_leaves_the_qc_history_as_it_was(batch, tmp_path, capsys, monkeypatch):
    import errno

    import thioquant.report.html
    from thioquant.qc.westgard import QCHistory

    hist, out = tmp_path / "qc_history.sqlite", tmp_path / "out"
    main(["quantify", str(batch), "--out", str(out), "--history", str(hist), "--no-cache", "--quiet", "--no-pdf"])
    before = _history_rows(hist)
    run = before[0][0]
    assert run.startswith("batch@") and {r[0] for r in before} == {run}  # the folder name and a hash of the raw data

    def full(path, *a, **k):
        # meanwhile another batch's run records its QCs in the shared history (a second user)
        with QCHistory(hist) as h:
            h.add_run("other-batch", "2026-12-05T00:00:00+00:00", "6-TG", "QCL", [251.0, 249.0])
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(thioquant.report.html, "write_html", full)
    code, _ = _run(["quantify", str(batch), "--out", str(tmp_path / "out2"), "--history", str(hist),
                    "--no-cache", "--quiet"], capsys)
    # the failed run is not in the record, its earlier written run is as it was, and the other
    # run's values survive (was: the whole file put back, erasing them)
    after = _history_rows(hist)
    assert code == 5 and [r for r in after if r[0] == run] == before
    assert [r[0] for r in after if r[0] != run] == ["other-batch", "other-batch"]
    fresh = tmp_path / "fresh.sqlite"
    code, _ = _run(["quantify", str(batch), "--out", str(tmp_path / "out3"), "--history", str(fresh),
                    "--no-cache", "--quiet"], capsys)
    assert code == 5 and not fresh.exists()


def test_an_output_folder_holding_raw_files_is_refused_with_a_semicolon_worklist(batch, tmp_path, capsys):
    wl = batch / "worklist.csv"
    wl.write_text(wl.read_text().replace(",", ";"))
    before = sorted(p.name for p in (batch / "raw").iterdir())
    code, err = _run(["quantify", str(batch), "--out", str(batch / "raw"), "--force", *FAST], capsys)
    assert code == 5 and "contains raw file" in err, err
    assert sorted(p.name for p in (batch / "raw").iterdir()) == before
