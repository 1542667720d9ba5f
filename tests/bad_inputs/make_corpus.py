"""Regenerate the bad-input corpus from the bundled sample data.

    uv run python tests/bad_inputs/make_corpus.py

Every file is listed in ``manifest.csv`` with what thioquant must do with it: raise an
``InputError``/``MethodError`` whose message contains ``needle`` (``error``), put the flag
``needle`` on the affected rows while the rest of the batch goes on (``flag``), or read it
correctly despite the oddity (``ok``).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LCMS = ROOT / "sample_data" / "lcmsms"
UV = ROOT / "sample_data" / "hplcuv"
METHOD = ROOT / "calibrations" / "thiopurines_lcmsms.toml"

MANIFEST: list[tuple[str, str, str, str, str]] = []  # (path, kind, expect, needle, what)


def add(path: str, kind: str, expect: str, needle: str, what: str) -> None:
    MANIFEST.append((path, kind, expect, needle, what))


def raw(name: str, data: bytes, expect: str, needle: str, what: str) -> None:
    (HERE / "raw" / name).write_bytes(data)
    add(f"raw/{name}", "raw", expect, needle, what)


def make_raw() -> None:
    (HERE / "raw").mkdir(exist_ok=True)
    mz = (LCMS / "raw" / "003_CAL1.mzML").read_bytes()
    uv = (UV / "raw" / "003_CAL1.csv").read_bytes()
    rng = np.random.default_rng(7)
    garbage = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    raw("empty.mzML", b"", "error", "empty", "zero-byte mzML")
    raw("truncated_half.mzML", mz[: len(mz) // 2], "error", "truncated_half.mzML", "mzML cut in half")
    raw("truncated_head.mzML", mz[:300], "error", "truncated_head.mzML", "only the XML header")
    raw("garbage.mzML", garbage, "error", "garbage.mzML", "random bytes named .mzML")
    raw("plain_text.mzML", b"this is not an mzML file\n", "error", "plain_text.mzML", "text named .mzML")
    raw("wrong_root.mzML", b'<?xml version="1.0"?>\n<html><body>hello</body></html>\n', "error",
        "wrong_root.mzML", "XML that is not mzML")
    raw("csv_named.mzML", uv, "error", "does not match", "a DAD text export named .mzML")
    raw("mzml_named.csv", mz, "ok", "6", "an mzML file with a .csv extension (6 traces)")
    raw("empty.csv", b"", "error", "empty", "zero-byte CSV")
    raw("header_only.csv", b"time_min,UV 342 nm (mAU)\n", "error", "header_only.csv", "header, no data")
    raw("text_values.csv", b"time_min,signal\n0.0,abc\n0.1,def\n0.2,ghi\n", "error", "text_values.csv",
        "non-numeric signal")
    raw("nan_values.csv", b"time_min,signal\n0.0,1\n0.1,nan\n0.2,3\n0.3,4\n", "error", "nan",
        "NaN in the signal")
    raw("inf_values.csv", b"time_min,signal\n0.0,1\n0.1,inf\n0.2,3\n0.3,4\n", "error", "inf",
        "infinite signal")
    raw("nonmonotonic.csv", b"time_min,signal\n0.0,1\n0.2,2\n0.1,3\n0.3,4\n", "error", "monoton",
        "time goes backwards")
    raw("duplicate_time.csv", b"time_min,signal\n0.0,1\n0.1,2\n0.1,3\n0.2,4\n", "error", "duplicate",
        "a repeated time point")
    raw("one_column.csv", b"signal\n1\n2\n3\n", "error", "one_column.csv", "no time column")
    raw("binary.csv", garbage, "error", "binary.csv", "binary bytes named .csv")
    raw("utf16_garbled.csv", "time_min,signal\n0,1\n".encode("utf-16-le")[:-3], "error", "utf16_garbled.csv",
        "truncated UTF-16 text")
    raw("one_point.csv", b"time_min,signal\n0.0,1\n", "ok", "1", "a single data point (the peak engine flags it)")
    cdf = (ROOT.parent / "shared" / "data" / "andi_cdf").rglob("*.cdf")
    src = next(iter(sorted(cdf)), None)
    raw("empty.cdf", b"", "error", "empty", "zero-byte AIA file")
    raw("garbage.cdf", b"CDF\x01" + garbage, "error", "garbage.cdf", "netCDF magic then garbage")
    if src is not None:
        raw("truncated.cdf", src.read_bytes()[:2000], "error", "truncated.cdf", "AIA file cut short")
    else:  # a minimal netCDF header cut short, so the corpus builds without ../shared
        raw("truncated.cdf", b"CDF\x01\x00\x00\x00\x01\x00\x00\x00\x0a", "error", "truncated.cdf",
            "AIA file cut short")
    raw("garbage.ch", b"\x02\x33\x31\x00" + garbage, "error", "garbage.ch", "ChemStation .ch header then garbage")
    raw("empty.ch", b"", "error", "empty", "zero-byte ChemStation file")
    raw("truncated.arw", b'"SampleName"\t"x"\n"Channel"\n', "error", "truncated.arw", "Empower export with no data")
    raw("chromeleon_truncated.txt", b"Raw Data:\nTime (min)\tStep (s)\tValue (mAU)\n", "error",
        "chromeleon_truncated.txt", "Chromeleon export with no data rows")
    raw("shimadzu_truncated.txt", b"[Header]\nApplication Name\tLabSolutions\n[Chromatogram (Detector A-Ch1)]\n",
        "error", "shimadzu_truncated.txt", "LabSolutions ASCII with no data")
    (HERE / "raw" / "empty.D").mkdir(exist_ok=True)
    (HERE / "raw" / "empty.D" / ".keep").write_text("")
    add("raw/empty.D", "raw", "error", "empty.D", "Agilent .D folder with no signal files")


def _worklist_rows() -> tuple[list[str], list[dict[str, str]]]:
    with open(LCMS / "worklist.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return list(rows[0]), rows


def worklist(name: str, edit, expect: str, needle: str, what: str, *, raw_text: bytes | None = None) -> None:
    out = HERE / "worklists" / name
    if raw_text is not None:
        out.write_bytes(raw_text)
    else:
        cols, rows = _worklist_rows()
        res = edit(cols, rows)
        if res is not None:
            cols, rows = res
        with open(out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    add(f"worklists/{name}", "worklist", expect, needle, what)


def _set(sid: str, col: str, value: str):
    def edit(cols, rows):
        next(r for r in rows if r["sample_id"] == sid)[col] = value
    return edit


def make_worklists() -> None:
    (HERE / "worklists").mkdir(exist_ok=True)

    def drop(col):
        return lambda cols, rows: ([c for c in cols if c != col], rows)

    worklist("no_sample_type.csv", drop("sample_type"), "error", "sample_type", "required column missing")
    worklist("no_file_column.csv", drop("file"), "error", "missing required column", "file column missing")
    worklist("no_sample_id.csv", drop("sample_id"), "error", "sample_id", "sample_id column missing")
    worklist("empty.csv", None, "error", "empty", "zero-byte worklist", raw_text=b"")
    worklist("header_only.csv", None, "error", "no rows", "header without rows",
             raw_text=b"sample_id,file,sample_type\n")
    worklist("latin1.csv", None, "error", "UTF-8", "not UTF-8",
             raw_text="sample_id,file,sample_type\nPatient-\xe9,raw/x.mzML,unknown\n".encode("latin-1"))
    worklist("duplicate_column.csv", None, "error", "duplicate column", "a column named twice",
             raw_text=b"sample_id,file,sample_type,file\nA,raw/003_CAL1.mzML,blank,x\n")
    worklist("duplicate_id.csv", _set("P006", "sample_id", "P002"), "flag", "DUPLICATE_ID", "two rows share an id")
    worklist("unknown_type.csv", _set("P005", "sample_type", "patient"), "flag", "BAD_TYPE", "sample_type 'patient'")
    worklist("unknown_cal_level.csv", _set("CAL3", "level", "CAL33"), "flag", "BAD_LEVEL", "calibrator level not in method")
    worklist("unknown_qc_level.csv", _set("QCM-2", "level", "QCX"), "flag", "BAD_LEVEL", "QC level not in method")
    worklist("negative_rbc.csv", _set("P003", "rbc_count", "-4.2"), "flag", "BAD_RBC", "negative RBC count")
    worklist("absurd_rbc.csv", _set("P003", "rbc_count", "450"), "flag", "BAD_RBC", "RBC entered in 10^10/L")
    worklist("text_rbc.csv", _set("P003", "rbc_count", "four"), "flag", "BAD_RBC", "RBC count as text")
    worklist("missing_rbc.csv", _set("P003", "rbc_count", ""), "flag", "NO_RBC", "patient without RBC count")
    worklist("zero_dilution.csv", _set("P003", "dilution", "0"), "flag", "BAD_DILUTION", "dilution factor 0")
    worklist("text_dilution.csv", _set("P003", "dilution", "x2"), "flag", "BAD_DILUTION", "dilution as text")
    worklist("missing_file.csv", _set("P003", "file", "raw/does_not_exist.mzML"), "flag", "MISSING_FILE",
             "raw file not on disk")
    worklist("corrupt_file.csv", _set("P003", "file", "corpus/truncated_half.mzML"), "flag", "MISSING_FILE",
             "raw file corrupt")
    worklist("empty_file_name.csv", _set("P003", "file", ""), "flag", "MISSING_FILE", "no raw file named")


def method(name: str, old: str, new: str, needle: str, what: str) -> None:
    text = METHOD.read_text()
    assert old in text, old
    (HERE / "methods" / name).write_text(text.replace(old, new, 1))
    add(f"methods/{name}", "method", "error", needle, what)


def make_methods() -> None:
    (HERE / "methods").mkdir(exist_ok=True)
    method("typo_key.toml", "sn_min = 3.0", "sn_minn = 3.0", "integration.sn_minn", "misspelt setting")
    method("window_too_wide.toml", "window_min = 0.20", "window_min = 25", "window_min", "window out of range")
    method("negative_rt.toml", "rt_min = 1.45", "rt_min = -1", "rt_min", "negative retention time")
    method("unknown_model.toml", 'model = "linear"', 'model = "cubic"', "calibration.model", "unknown model")
    method("unknown_weighting.toml", 'weighting = "1/x^2"', 'weighting = "1/x^3"', "calibration.weighting",
           "unknown weighting")
    method("missing_method_table.toml", "[method]", "[methods]", "methods", "misspelt [method] table")
    method("bad_toml.toml", "[integration]", "[integration", "invalid TOML", "broken TOML syntax")
    method("missing_is.toml", 'internal_standard = "6-TG-IS"', 'internal_standard = "6-TG-d3"',
           "internal_standard", "IS name not defined")
    method("unknown_analyte_level.toml", '"6-TG" = 200.0', '"6-TGX" = 200.0', "6-TGX", "level for an unknown analyte")
    method("tolerance_zero.toml", "tolerance_pct = 15.0", "tolerance_pct = 0", "calibration.tolerance_pct",
           "zero acceptance tolerance")
    method("string_number.toml", "rt_min = 2.35", 'rt_min = "2.35"', "rt_min", "a number given as text")
    method("rrt_on_internal_standard.toml", 'name = "6-TG-IS"', 'name = "6-TG-IS"\nrrt = 1.0',
           "internal_standards[6-TG-IS].rrt", "relative retention given to an internal standard")
    method("rrt_zero.toml", "molar_mass_g_mol = 167.19", "molar_mass_g_mol = 167.19\nrrt = 0", "rrt",
           "relative retention of zero")
    method("compound_integration_typo.toml", "molar_mass_g_mol = 167.19",
           'molar_mass_g_mol = 167.19\nintegration = { fusd = "valley" }', "fusd",
           "misspelt key in an analyte's own integration settings")
    method("noise_source_unknown.toml", "sn_min = 3.0", 'sn_min = 3.0\nnoise_source = "baseline"',
           "integration.noise_source", "unknown noise source")


def make_batch_raw() -> None:
    """Raw files that read fine but fail at the peak level: no IS, saturation."""
    from thioquant.io import read_run
    from thioquant.io.mzml import write_mzml
    from thioquant.model import Trace

    (HERE / "batch").mkdir(exist_ok=True)
    p2 = read_run(LCMS / "raw" / "016_P002.mzML")
    no_is = [t for t in p2.traces if not t.name.endswith("-IS")]
    write_mzml(HERE / "batch" / "no_internal_standard.mzML", no_is, metadata={"sample_id": "P002"})
    add("batch/no_internal_standard.mzML", "batch", "flag", "NO_IS", "IS channels missing (replaces P002)")
    cal8 = read_run(LCMS / "raw" / "010_CAL8.mzML")
    sat = []
    for t in cal8.traces:
        if t.name == "6-MMP":
            cap = 0.4 * float(t.signal.max())
            t = Trace(t.name, t.time_min, np.minimum(t.signal, cap), t.signal_unit, t.channel, t.metadata)
        sat.append(t)
    write_mzml(HERE / "batch" / "saturated.mzML", sat, metadata={"sample_id": "P002"})
    add("batch/saturated.mzML", "batch", "flag", "SATURATED", "flat-topped 6-MMP peak (replaces P002)")


def _chrom_arrays(text: bytes, chrom_id: str) -> tuple[int, int, int, int]:
    """(start, end) offsets of the base64 text of the time and intensity arrays of one chromatogram."""
    c = text.index(f'<chromatogram id="{chrom_id}" '.encode())
    spans = []
    pos = c
    for _ in range(2):
        i = text.index(b"<binary>", pos) + 8
        j = text.index(b"</binary>", i)
        spans += [i, j]
        pos = j
    return tuple(spans)  # type: ignore[return-value]


def make_hostile_raw() -> None:
    """Damaged files that a lenient reader read as other numbers, or that blew up a reader (issue 22)."""
    import base64

    p2 = (LCMS / "raw" / "016_P002.mzML").read_bytes()
    t0, t1, y0, y1 = _chrom_arrays(p2, "6-TG")
    y = np.frombuffer(base64.b64decode(p2[y0:y1]), "<f8")
    apex = int(np.argmax(y))
    k = y0 + apex * 8 // 3 * 4 + 9  # the base64 character of the apex value's exponent: read 16x
    bang = p2[:k] + b"!" + p2[k + 1 :]
    raw("bang_in_base64.mzML", bang, "error", "base64",
        "one '!' inside the base64 of the 6-TG apex point (a lenient decoder read the apex 16x larger)")
    t = np.frombuffer(base64.b64decode(p2[t0:t1]), "<f8")

    def with_arrays(tt: np.ndarray, yy: np.ndarray) -> bytes:
        return (p2[:t0] + base64.b64encode(tt.astype("<f8").tobytes()) + p2[t1:y0]
                + base64.b64encode(yy.astype("<f8").tobytes()) + p2[y1:])

    raw("time_reversed.mzML", with_arrays(t[::-1], y[::-1]), "error", "reversed",
        "the 6-TG time array stored in reverse (a reader that sorts hides it)")
    swap = np.arange(t.size)
    swap[[100, 101]] = swap[[101, 100]]
    raw("time_out_of_order.mzML", with_arrays(t[swap], y[swap]), "error", "out of order",
        "two time points of the 6-TG trace swapped")
    laughs = b'<!DOCTYPE indexedmzML [\n<!ENTITY l0 "ha">\n' + b"".join(
        f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">\n'.encode() for i in range(1, 10)) + b"]>\n"
    head = p2.index(b"<indexedmzML")
    body = p2[head:].replace(b'value="P002"', b'value="&l9;"', 1)
    raw("billion_laughs.mzML", p2[:head] + laughs + body, "error", "DOCTYPE",
        "a 'billion laughs' DOCTYPE (entity expansion to GBs)")
    (HERE / "batch").mkdir(exist_ok=True)
    (HERE / "batch" / "bang_in_base64.mzML").write_bytes(bang)
    add("batch/bang_in_base64.mzML", "batch", "flag", "MISSING_FILE",
        "'!' in the base64 of the 6-TG apex (replaces P002): refused, never interpreted")
    _aia_cases()


def _aia_cases() -> None:
    """AIA files: text where numbers belong; a retention array half as long as the signal."""
    from scipy.io import netcdf_file

    from thioquant.io import read_run
    from thioquant.io.aia import write_aia

    run = read_run(UV / "raw" / "016_P002.csv")
    tr = run.traces[0]
    good = HERE / "raw" / "_good.cdf"
    write_aia(good, tr)

    def rewrite(name: str, edit) -> None:
        src = netcdf_file(str(good), "r", mmap=False)
        out = netcdf_file(str(HERE / "raw" / name), "w", version=1)
        for k, v in src._attributes.items():
            setattr(out, k, v)
        for d, n in src.dimensions.items():
            out.createDimension(d, n)
        for vname, var in src.variables.items():
            edit(out, vname, var)
        out.close()
        src.close()

    def text_values(out, vname, var):
        if vname == "ordinate_values":  # one character per point, as a broken export wrote it
            v = out.createVariable(vname, "c", ("point_number",))
            chars = np.array([str(int(x) % 10).encode() for x in var.data], dtype="S1")
            chars[5] = b"x"
            v[:] = chars
            return
        _copy(out, vname, var)

    def half_retention(out, vname, var):
        if vname == "raw_data_retention":
            n = var.data.size // 2
            out.createDimension("_half", n)
            v = out.createVariable(vname, var.data.dtype.char, ("_half",))
            v[:] = var.data[:n]
            return
        _copy(out, vname, var)

    rewrite("text_ordinate.cdf", text_values)
    add("raw/text_ordinate.cdf", "raw", "error", "ordinate_values", "text in ordinate_values (was exit 70)")
    rewrite("retention_half.cdf", half_retention)
    add("raw/retention_half.cdf", "raw", "ok", "1",
        "raw_data_retention half as long as ordinate_values: times from the sampling interval, with a note")
    good.unlink()


def _copy(out, vname, var) -> None:
    v = out.createVariable(vname, var.data.dtype.char, var.dimensions)
    np.copyto(v.data, var.data)
    for k, a in var._attributes.items():
        setattr(v, k, a)


def main() -> None:
    for sub in ("raw", "worklists", "methods", "batch"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    make_raw()
    make_worklists()
    make_methods()
    make_batch_raw()
    make_hostile_raw()
    with open(HERE / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["path", "kind", "expect", "needle", "what"])
        w.writerows(MANIFEST)
    print(f"{len(MANIFEST)} bad inputs written to {HERE}")


if __name__ == "__main__":
    main()
