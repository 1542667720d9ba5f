"""Fast, safe batches: cache, parallel determinism, audit trail, pseudonymisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thioquant.audit import verify
from thioquant.cli import main
from thioquant.pipeline import quantify
from thioquant.report.tables import results_csv


@pytest.fixture
def batch(tmp_path, sample_batch) -> Path:
    return sample_batch(dst=tmp_path / "batch")


def test_cache_reuses_unchanged_and_remeasures_changed(batch, tmp_path):
    cache = tmp_path / "cache.sqlite"
    first = quantify(batch, cache=cache)
    assert any("0 reused, 42 measured" in m for m in first.messages)
    again = quantify(batch, cache=cache)
    assert any("42 reused, 0 measured" in m for m in again.messages)
    assert results_csv(again.results) == results_csv(first.results)
    # A manual integration re-measures only the injection it touches.
    ov = tmp_path / "ov.csv"
    ov.write_text("sample_id,analyte,start_min,end_min,reason\nP002,6-TG,1.30,1.62,split peak\n")
    manual = quantify(batch, cache=cache, overrides=ov)
    assert any("41 reused, 1 measured" in m for m in manual.messages)
    r = next(x for x in manual.results if x.sample_id == "P002" and x.analyte == "6-TG")
    assert "MANUAL" in r.flags
    # A changed raw file is measured again (the cache is keyed by content, not by name).
    with open(batch / "raw" / "020_P006.mzML", "ab") as fh:
        fh.write(b"\n")
    changed = quantify(batch, cache=cache)
    assert any("41 reused, 1 measured" in m for m in changed.messages)


def test_a_new_peak_engine_revision_remeasures_everything(batch, tmp_path, monkeypatch):
    import thioquant.cache

    cache = tmp_path / "cache.sqlite"
    quantify(batch, cache=cache)
    monkeypatch.setattr(thioquant.cache, "ENGINE_REVISION", "next")
    after = quantify(batch, cache=cache)
    assert any("0 reused, 42 measured" in m for m in after.messages)


def test_cache_stores_under_the_measured_bytes_and_commits_in_batches(batch, tmp_path, monkeypatch):
    """Entries are keyed by the hash of the bytes measured (a file replaced after the lookup is
    not cached under its old content), and commits are grouped, not one fsync per injection."""
    import sqlite3

    import thioquant.io
    from thioquant import executors, measure, pipeline
    from thioquant.cache import MeasurementCache, cache_key, measurement_hash

    target = batch / "raw" / "020_P006.mzML"
    original = target.read_bytes()
    real_hash = thioquant.io.file_sha256
    stale = "0" * 64  # the lookup saw other content than what was then measured

    def lookup_hash(path):
        return stale if Path(path) == target else real_hash(path)

    monkeypatch.setattr(thioquant.io, "file_sha256", lookup_hash)
    monkeypatch.setattr(MeasurementCache, "COMMIT_EVERY", 5)
    commits = []
    orig_commit = MeasurementCache.commit
    monkeypatch.setattr(MeasurementCache, "commit", lambda self: (commits.append(1), orig_commit(self)))
    cache = tmp_path / "cache.sqlite"
    res = pipeline.quantify(batch, cache=cache)
    m = pipeline._resolve_method(batch, None)
    with sqlite3.connect(cache) as con:
        keys = {k for (k,) in con.execute("SELECT key FROM measurements")}
    import hashlib

    # a patient is measured with the calibrators' widths as its expected widths (issue 18)
    widths = measure.calibrator_widths(res.worklist.entries, res.measurements)
    assert widths and cache_key(stale, measurement_hash(m), None) not in keys
    digest = executors.measurement_digest(m, widths=widths)
    assert cache_key(hashlib.sha256(original).hexdigest(), digest, None) in keys
    assert cache_key(stale, digest, None) not in keys
    assert len(keys) == 42
    assert 8 <= len(commits) <= 10  # 42 puts in groups of 5, plus the final commit on close


def test_parallel_gives_identical_results(batch):
    one = quantify(batch, jobs=1)
    two = quantify(batch, jobs=2)
    assert results_csv(one.results) == results_csv(two.results)


def test_dask_executor_gives_identical_results(batch):
    pytest.importorskip("dask.distributed")
    one = quantify(batch, jobs=1)
    dask = quantify(batch, jobs=2, executor="dask")
    assert results_csv(one.results) == results_csv(dask.results)


def test_audit_trail_detects_tampering(batch, tmp_path):
    out = tmp_path / "out"
    main(["quantify", str(batch), "--out", str(out), "--quiet", "--no-cache"])
    check = verify(out)
    assert check.ok and check.entries > 45
    lines = (out / "audit.jsonl").read_text().splitlines()
    events = [json.loads(x)["event"] for x in lines]
    assert events[0] == "run_start" and events[-1] == "run_end"
    assert {"method", "worklist", "input", "verdict", "output"} <= set(events)
    first = json.loads(lines[0])
    assert first["software"]["thioquant"] and first["user"]
    # Edit one entry.
    edited = lines.copy()
    edited[3] = edited[3].replace('"input"', '"inputs"')
    (out / "audit.jsonl").write_text("\n".join(edited) + "\n")
    assert not verify(out).ok and "edited" in " ".join(verify(out).problems)
    # Remove one entry.
    (out / "audit.jsonl").write_text("\n".join(lines[:5] + lines[6:]) + "\n")
    probs = " ".join(verify(out).problems)
    assert "removed or moved" in probs and "does not chain" in probs
    (out / "audit.jsonl").write_text("\n".join(lines) + "\n")
    assert verify(out).ok


def test_pseudonymise_removes_patient_identifiers_everywhere(batch, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("THIOQUANT_PSEUDONYM_KEY", "a-very-secret-key-0123")
    main(["quantify", str(batch), "--out", str(out), "--quiet", "--no-cache", "--pseudonymise"])
    text = "".join(p.read_text(errors="ignore") for p in out.iterdir() if p.is_file())
    for ident in ("P001", "P012", "PT1001", "PT1012", "021_P007"):
        assert ident not in text, ident
    assert "CAL1" in text and "QCM-1" in text  # non-patient samples keep their names
    results = (out / "results.csv").read_text()
    assert "S-" in results and "PT-" in results
    assert ",raw/S-" in results  # the raw file keeps its folder: only its name is replaced
    # Same key -> same pseudonyms (linkable by the key holder).
    out2 = tmp_path / "out2"
    main(["quantify", str(batch), "--out", str(out2), "--quiet", "--no-cache", "--pseudonymise"])
    assert (out2 / "results.csv").read_text() == results


def _output_text(out: Path) -> str:
    """Every output file as a person or a program reads it: text files as text, the workbook's
    XML parts, the PDFs' text (through poppler's pdftotext when installed), and the file names."""
    import shutil
    import subprocess
    import zipfile

    parts = []
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        parts.append(str(p.relative_to(out)))
        if p.suffix == ".xlsx":
            with zipfile.ZipFile(p) as z:
                parts += [z.read(n).decode(errors="ignore") for n in z.namelist()]
        elif p.suffix == ".pdf":
            if shutil.which("pdftotext"):
                parts.append(subprocess.run(["pdftotext", str(p), "-"], capture_output=True, text=True,
                                            check=True).stdout)
        else:
            parts.append(p.read_text(errors="ignore"))
    return "\n".join(parts)


def test_pseudonymise_hides_ids_in_qc_messages(batch, tmp_path, monkeypatch, capsys):
    """QC rules that list the injections they flag (ion ratio here, made to fail for every
    injection by a 0.5 % tolerance) must quote pseudonyms: qc.csv, messages, the verdict in
    results.json and the report showed P001 ... before."""
    import csv
    import re

    method = tmp_path / "tight.toml"
    method.write_text((Path(__file__).parents[1] / "calibrations" / "thiopurines_lcmsms.toml").read_text()
                      + "\n[qc]\nion_ratio_tolerance_pct = 0.5\n")
    # a rule's message lists the first 10 injections it flags, and on the bundled batch those are
    # calibrators and QCs: P002 is moved up to the third injection so that a patient is among them
    with open(batch / "worklist.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        cols, rows = reader.fieldnames, list(reader)
    rows.insert(2, rows.pop(next(k for k, r in enumerate(rows) if r["sample_id"] == "P002")))
    for k, r in enumerate(rows, start=1):
        r["injection"] = str(k)
    with open(batch / "worklist.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "out"
    monkeypatch.setenv("THIOQUANT_PSEUDONYM_KEY", "a-very-secret-key-0123")
    main(["quantify", str(batch), "--method", str(method), "--out", str(out), "--no-cache", "--no-history",
          "--pseudonymise"])
    printed = capsys.readouterr().out
    qc = (out / "qc.csv").read_text()
    ion = [line for line in qc.splitlines() if line.startswith("ION_RATIO,")]
    assert ion and all(",fail" in line for line in ion)  # the failure the test is about happened
    # and names the patient by pseudonym
    assert all(re.search(r"S-[0-9a-f]{12} \(", line) for line in ion)
    ids = [line.split(",")[1] for line in (batch / "worklist.csv").read_text().splitlines()[1:]
           if ",unknown," in line]
    pids = [line.split(",")[7] for line in (batch / "worklist.csv").read_text().splitlines()[1:]
            if ",unknown," in line]
    assert len(ids) == 24 and all(pids)
    text = _output_text(out) + printed
    leaked = sorted({i for i in ids + pids if i in text})
    assert not leaked, leaked


def test_pseudonymise_needs_a_key(batch, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("THIOQUANT_PSEUDONYM_KEY", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["quantify", str(batch), "--out", str(tmp_path / "o"), "--pseudonymise"])
    assert exc.value.code == 2 and "pseudonym-key" in capsys.readouterr().err


def test_interrupted_run_leaves_no_partial_output(batch, tmp_path, monkeypatch):
    import thioquant.report.writer as writer

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "calibration_json", boom)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["quantify", str(batch), "--out", str(out), "--quiet", "--no-cache"])
    assert exc.value.code == 130
    assert not out.exists()
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_profile_per_run_changes_the_interpretation(batch):
    default = {r["sample_id"]: r for r in quantify(batch).interpretations}
    ratio20 = {r["sample_id"]: r for r in quantify(batch, profile="ratio20").interpretations}
    assert default["P002"]["profile"] == "default" and ratio20["P002"]["profile"] == "ratio20"
    # P005 (6-TGN 110, 6-MMPN 2900, ratio ~26) shunts under both; P003 (ratio ~14) only under ratio > 11.
    assert default["P003"]["category"] == "preferential_methylation"
    assert ratio20["P003"]["category"] != "preferential_methylation"


def test_report_views_from_workers_equal_rereading_the_files(batch):
    """Chromatogram panels computed by the workers are exactly those from re-reading the raw files."""
    import math

    import numpy as np

    from thioquant.report.chrom import collect_panels

    def same(p, q):
        if p is None or q is None:
            return p is q
        a, b = p.as_dict(), q.as_dict()
        return all((isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k] for k in a)

    plain, kept = quantify(batch), quantify(batch, keep_views=True, jobs=2)
    assert kept.measurements[5].views and not plain.measurements[5].views
    pa, pb = collect_panels(plain), collect_panels(kept)
    assert len(pa) == len(pb) == 84
    for x, y in zip(pa, pb, strict=True):
        for f in ("time", "signal", "is_time", "is_signal", "area_time", "area_signal"):
            u, v = getattr(x, f), getattr(y, f)
            assert (u is None and v is None) or np.array_equal(u, v), (x.sample_id, f)
        assert (x.trace_name, x.is_name, x.error) == (y.trace_name, y.is_name, y.error)
        assert same(x.peak, y.peak) and same(x.is_peak, y.is_peak)


def test_cache_hash_handles_vendor_folders(shared_data):
    """The cache keys raw data by the same hash as Run.sha256, folders (.D, .raw) included."""
    from thioquant.cache import cache_key
    from thioquant.io import file_sha256, read_run

    folder = shared_data / "agilent_chemstation" / "rainbow" / "red.D"
    digest = file_sha256(folder)
    assert digest == read_run(folder).sha256
    assert cache_key(digest, "m", None) != cache_key(digest, "m", {"6-TG": (1.0, 2.0)})


def test_an_internal_error_in_one_injection_does_not_stop_the_batch(batch, monkeypatch):
    # a bug in the peak engine on one file: that injection is flagged and named, the batch goes on
    import thioquant.peaks as peaks

    real = peaks.find_target

    def flaky(trace, *a, **k):
        if flaky.path == "P005":
            raise ValueError("simulated bug")
        return real(trace, *a, **k)

    def measure(path, *a, **k):
        flaky.path = "P005" if "P005" in str(path) else ""
        return original(path, *a, **k)

    import thioquant.executors as executors

    original = executors.measure_injection
    monkeypatch.setattr(peaks, "find_target", flaky)
    monkeypatch.setattr(executors, "measure_injection", measure)
    b = quantify(batch, jobs=1, cache=None)
    bad = [r for r in b.results if r.sample_id == "P005"]
    assert bad and all("MEASURE_FAILED" in r.flags for r in bad)
    assert any("P005" in m and "internal error (ValueError: simulated bug)" in m for m in b.messages)
    others = [r for r in b.results if r.sample_type == "unknown" and r.sample_id != "P005"]
    assert others and all("MEASURE_FAILED" not in r.flags for r in others)
    assert b.accepted


def _interpretation(b, sid):
    return next(r for r in b.interpretations if r["sample_id"] == sid)


def test_a_missing_channel_is_no_result_not_undetectable(batch):
    # a file without the 6-TG chromatogram: "not detected" would read as undetectable 6-TGN and
    # the pair as sub-therapeutic; it must be no result, and the pair not interpreted
    f = batch / "raw" / "017_P003.mzML"
    s = f.read_text()
    a = s.index('<chromatogram id="6-TG" ')
    f.write_text(s[:a] + s[s.index("</chromatogram>", a) + len("</chromatogram>"):])
    b = quantify(batch, jobs=1, cache=None)
    tg = next(r for r in b.results if r.sample_id == "P003" and r.analyte == "6-TG")
    assert "NO_TRACE" in tg.flags and "NOT_DETECTED" not in tg.flags
    assert tg.response != tg.response and tg.reported != tg.reported  # NaN
    row = _interpretation(b, "P003")
    assert row["category"] == "not_interpretable" and "NO_TRACE" in row["notes"]
    mmp = next(r for r in b.results if r.sample_id == "P003" and r.analyte == "6-MMP")
    assert mmp.reported > 0 and not {"NO_TRACE", "NOT_DETECTED"} & set(mmp.flags)


def test_a_truncated_trace_is_out_of_trace_not_undetectable(sample_batch):
    # a DAD export cut at a line boundary reads as a shorter trace; 6-MMP's window (10.2 min)
    # then lies beyond its end
    batch = sample_batch("hplcuv")
    f = batch / "raw" / "017_P003.csv"
    lines = f.read_text().splitlines(keepends=True)
    f.write_text("".join(lines[: len(lines) // 2]))
    b = quantify(batch, jobs=1, cache=None)
    mmp = next(r for r in b.results if r.sample_id == "P003" and r.analyte == "6-MMP")
    assert "OUT_OF_TRACE" in mmp.flags and "NOT_DETECTED" not in mmp.flags
    assert mmp.reported != mmp.reported
    assert any("P003" in m and "not within the recorded trace" in m for m in b.messages)
    assert _interpretation(b, "P003")["category"] == "not_interpretable"


def test_a_failed_manual_integration_loses_only_its_channel(batch, tmp_path):
    ov = tmp_path / "ov.csv"
    ov.write_text("sample_id,analyte,start_min,end_min,reason\nP004,6-TG,50,60,outside the run\n")
    b = quantify(batch, jobs=1, cache=None, overrides=ov)
    tg, mmp = (next(r for r in b.results if r.sample_id == "P004" and r.analyte == a) for a in ("6-TG", "6-MMP"))
    assert "MANUAL_FAILED" in tg.flags and "MISSING_FILE" not in tg.flags and tg.reported != tg.reported
    assert mmp.reported > 0 and "MISSING_FILE" not in mmp.flags
    assert any("P004" in m and "lies outside the trace" in m for m in b.messages)


def test_a_rejected_run_gives_no_clinical_categories(batch):
    from dataclasses import replace

    from thioquant.assay.method import find_method_file, load_method

    m = load_method(find_method_file("thiopurines_lcmsms", start=batch))
    b = quantify(batch, method=replace(m, qc={**m.qc, "qc_tolerance_pct": 1.0}), jobs=1, cache=None)
    assert not b.accepted
    unknown = [r for r in b.results if r.sample_type == "unknown"]
    assert unknown and all("RUN_INVALID" in r.flags for r in unknown)
    assert any(r.reported > 0 for r in unknown)  # kept in results.csv for the investigation
    assert b.interpretations and all(r["category"] == "not_interpretable" for r in b.interpretations)
    assert all("RUN_INVALID" in r["notes"] for r in b.interpretations)


def test_a_qc_typo_does_not_release_patient_results(batch):
    # QC levels mistyped (QC-L for QCL): no usable QC; accepting on the calibration alone would
    # release patient results that no QC has verified
    wl = batch / "worklist.csv"
    wl.write_text(wl.read_text().replace(",qc,QC", ",qc,QC-"))
    b = quantify(batch, jobs=1, cache=None)
    assert not b.accepted and b.verdict.deciding_rule == "qc"
    assert any(r.startswith("QC_MISSING") and "6 QC row(s) in the worklist, none usable" in r
               for r in b.verdict.reasons)
    assert all(r["category"] == "not_interpretable" for r in b.interpretations)


def test_the_console_counts_qcs_against_the_qc_limits(batch):
    from dataclasses import replace

    from thioquant.assay.method import find_method_file, load_method
    from thioquant.report.summary import summary_text

    m = load_method(find_method_file("thiopurines_lcmsms", start=batch))
    b = quantify(batch, method=replace(m, qc={**m.qc, "qc_tolerance_pct": 1.0}), jobs=1, cache=None)
    qc_line = next(ln for ln in summary_text(b).splitlines() if ln.startswith("QC: "))
    n_ok = sum(1 for r in b.results if r.sample_type == "qc" and "QC_FAIL" not in r.flags)
    assert qc_line == f"QC: {n_ok}/12 within +/-1 %" and n_ok < 12


@pytest.mark.parametrize("drop", ["blank", "zero"])
def test_a_run_with_patients_and_no_blank_or_zero_is_rejected(batch, drop):
    # ICH M10's curve is blank + zero + >= 6 levels; without them carry-over and interference
    # read "not evaluated" and the run was accepted
    wl = batch / "worklist.csv"
    lines = wl.read_text().splitlines(keepends=True)
    wl.write_text("".join(ln for ln in lines if f",{drop}," not in ln))
    b = quantify(batch, jobs=1, cache=None)
    assert not b.accepted and b.verdict.deciding_rule == "calibration"
    assert any(r.startswith("NO_BLANK_ZERO") and f"no usable, measured {drop} sample" in r for r in b.verdict.reasons)


def test_require_blank_zero_can_be_turned_off(batch):
    from dataclasses import replace

    from thioquant.assay.method import find_method_file, load_method

    wl = batch / "worklist.csv"
    wl.write_text("".join(ln for ln in wl.read_text().splitlines(keepends=True) if ",zero," not in ln))
    m = load_method(find_method_file("thiopurines_lcmsms", start=batch))
    assert quantify(batch, method=replace(m, qc={**m.qc, "require_blank_zero": False}), jobs=1,
                    cache=None).accepted


def test_a_qc_sample_type_typo_is_named_as_such(batch):
    wl = batch / "worklist.csv"
    wl.write_text(wl.read_text().replace(",qc,", ",QC sample,"))
    b = quantify(batch, jobs=1, cache=None)
    assert not b.accepted
    assert any(r.startswith("QC_MISSING") and "no QC sample in the worklist (a sample_type typo?" in r
               for r in b.verdict.reasons)


def test_an_unreadable_blank_is_not_a_clean_blank(batch):
    # a blank whose file cannot be read (or lacks the analyte's channel) read as area 0: carry-over
    # and interference passed as "clean" and the run was accepted
    for f in batch.glob("raw/*BLANK*"):
        f.write_text("garbage")
    b = quantify(batch, jobs=1, cache=None)
    assert not b.accepted
    assert any(r.startswith("NO_BLANK_ZERO") and "no usable, measured blank" in r for r in b.verdict.reasons)
    co = [o for o in b.qc_outcomes if o.rule == "carryover"]
    assert co and all(o.status == "not_evaluated" and "could not be measured" in o.message for o in co)
    inter = [o for o in b.qc_outcomes if o.rule == "interference"]
    assert all("3 blank/zero" not in o.message for o in inter)  # only the zeros are left


def test_a_blank_without_the_analyte_channel_is_not_clean(batch):
    for f in batch.glob("raw/*BLANK*"):
        s = f.read_text()
        a = s.index('<chromatogram id="6-TG" ')
        f.write_text(s[:a] + s[s.index("</chromatogram>", a) + len("</chromatogram>"):])
    b = quantify(batch, jobs=1, cache=None)
    assert not b.accepted
    co = next(o for o in b.qc_outcomes if o.rule == "carryover" and "6-TG" in o.message)
    assert co.status == "not_evaluated"
    mmp = next(o for o in b.qc_outcomes if o.rule == "carryover" and "6-MMP" in o.message)
    assert mmp.status == "pass"  # the 6-MMP channel was there and measured


def _page_text(doc) -> bytes:
    import zlib

    return b"".join(zlib.decompress(s) for p in doc.pages for s in p.streams())


def test_report_marks_qcs_by_the_qc_rule_and_patients_not_reported_as_such(batch):
    # a run rejected at +/-1 %: the QC table was captioned "+/-15 %" (the calibrators' tolerance)
    # with every QC green; a patient PDF said "undetectable / not reported" for values that were
    # not reportable (RUN_INVALID), where "undetectable" reads as non-adherence
    from dataclasses import replace

    from thioquant.assay.method import find_method_file, load_method
    from thioquant.report import content as C
    from thioquant.report.pdf import build_patient_page

    m = load_method(find_method_file("thiopurines_lcmsms", start=batch))
    b = quantify(batch, method=replace(m, qc={**m.qc, "qc_tolerance_pct": 1.0}), jobs=1, cache=None)
    rows = C.qc_sample_rows(b)
    assert C.qc_tolerance_text(b) == "1"
    assert {r["state"] for r in rows} == {"pass", "fail"}
    assert all((r["state"] == "fail") == ("QC_FAIL" in r["flags"]) for r in rows)
    ranges = C.reference_ranges(b)
    text = _page_text(build_patient_page(b, C.patient_rows(b, ranges)[1], ranges=ranges))
    assert b"not reported \\(see notes\\)" in text and b"undetectable" not in text  # PDF-escaped
    ok = quantify(batch, jobs=1, cache=None)  # P001: both undetectable, the finding itself
    p001 = next(r for r in C.patient_rows(ok, ranges) if r["sample_id"] == "P001")
    assert b"undetectable" in _page_text(build_patient_page(ok, p001, ranges=ranges))


def test_no_dosing_text_beside_a_result_that_is_not_interpreted(batch):
    from dataclasses import replace

    from thioquant.assay.method import find_method_file, load_method

    m = load_method(find_method_file("thiopurines_lcmsms", start=batch))
    ok = quantify(batch, jobs=1, cache=None)
    assert any(r["dose_band"] for r in ok.interpretations)  # the bundled batch records doses
    b = quantify(batch, method=replace(m, qc={**m.qc, "qc_tolerance_pct": 1.0}), jobs=1, cache=None)
    assert all(r["category"] == "not_interpretable" and not r["dose_band"] for r in b.interpretations)
