"""read_run, detect_format, delimited and mzML readers/writers on synthetic files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from thioquant.errors import InputError
from thioquant.io import detect_format, read_run
from thioquant.io.delimited import read_delimited, write_delimited
from thioquant.io.mzml import read_mzml, write_mzml
from thioquant.model import Channel, Trace


def _uv_traces(n: int = 4501) -> list[Trace]:
    t = np.linspace(0.0, 15.0, n)
    rng = np.random.default_rng(1)
    out = []
    for wl, rt in ((342, 5.3), (322, 6.0), (303, 10.2)):
        y = 120.0 * np.exp(-0.5 * ((t - rt) / 0.05) ** 2) + rng.normal(0, 0.05, n)
        out.append(Trace(f"UV{wl}", t, y, "mAU", Channel("uv", wavelength_nm=wl)))
    return out


def _srm_traces() -> list[Trace]:
    t = np.arange(0, 3.0, 0.5 / 60)
    specs = [("6-TG", 168.034, 151.0), ("6-TG q", 168.034, 134.0), ("6-MMP", 167.039, 126.0)]
    return [
        Trace(
            n,
            t,
            1e4 * np.exp(-0.5 * ((t - 1.2) / 0.03) ** 2) + 50.0,
            "counts",
            Channel("srm", precursor_mz=q1, product_mz=q3),
        )
        for n, q1, q3 in specs
    ]


def test_delimited_round_trip_is_exact(tmp_path: Path) -> None:
    trs = _uv_traces()
    meta = {"sample_id": "CAL1", "rbc_1e12_per_l": 4.5, "injection": 3, "looks_numeric": "007"}
    p = write_delimited(tmp_path / "inj.csv", trs, meta)
    run = read_run(p)
    assert run.format == "delimited"
    assert run.source == str(p)
    assert run.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert dict(run.metadata) == meta
    assert [t.name for t in run.traces] == ["UV342", "UV322", "UV303"]
    for got, want in zip(run.traces, trs, strict=True):
        assert got.channel == want.channel
        assert got.signal_unit == "mAU"
        np.testing.assert_array_equal(got.time_min, want.time_min)
        np.testing.assert_array_equal(got.signal, want.signal)


def test_delimited_writer_rejects_different_time_axes(tmp_path: Path) -> None:
    a, b = _uv_traces()[:2]
    b2 = Trace("x", b.time_min[:-1], b.signal[:-1])
    with pytest.raises(InputError, match="time axis"):
        write_delimited(tmp_path / "x.csv", [a, b2])


@pytest.mark.parametrize(
    ("header", "kind", "wl", "unit"),
    [
        ("342nm", "uv", 342.0, ""),
        ("DAD 342 nm (mAU)", "uv", 342.0, "mAU"),
        ("UV342", "uv", 342.0, ""),
        ("Wavelength 342 nm [mAU]", "uv", 342.0, "mAU"),
        ("DAD1 A, Sig=342.4 Ref=off", "uv", 342.0, ""),
        ("intensity (counts)", "detector", None, "counts"),
    ],
)
def test_delimited_header_channels(
    tmp_path: Path, header: str, kind: str, wl: float | None, unit: str
) -> None:
    p = tmp_path / "h.tsv"
    p.write_text(f"Time (min)\t{header}\n0.0\t1.0\n0.1\t2.0\n0.2\t3.0\n")
    tr = read_run(p).traces[0]
    assert tr.channel.kind == kind
    assert tr.channel.wavelength_nm == wl
    assert tr.signal_unit == unit


def test_chemstation_style_bandwidth(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_text("time;DAD1 A, Sig=342,4 Ref=off\n0,0;1,5\n0,1;2,5\n")
    tr = read_delimited(p).traces[0]
    assert tr.channel.wavelength_nm == 342.0 and tr.channel.bandwidth_nm == 4.0
    np.testing.assert_array_equal(tr.signal, [1.5, 2.5])


@pytest.mark.parametrize(
    ("text", "t", "y"),
    [
        ("0.5,10\n1.0,20\n1.5,30\n", [0.5, 1.0, 1.5], [10, 20, 30]),  # no header
        ("time;signal\n0,5;1,25\n1,0;2,5\n", [0.5, 1.0], [1.25, 2.5]),  # decimal commas
        ("0,5\t1,25\n1,0\t2,5\n", [0.5, 1.0], [1.25, 2.5]),
        ("0,5 1,25\n1,0 2,5\n", [0.5, 1.0], [1.25, 2.5]),  # whitespace columns, decimal commas
        ("Time (s),y\n30,1\n60,2\n", [0.5, 1.0], [1, 2]),  # seconds
        ("time_sec,y\n30,1\n60,2\n", [0.5, 1.0], [1, 2]),
        ("Time [ms],y\n30000,1\n60000,2\n", [0.5, 1.0], [1, 2]),
        ('"x","y"\n"0.5","1"\n"1.0","2"\n', [0.5, 1.0], [1, 2]),  # quoted fields
        ("t,y,\n0.5,1,\n1.0,2,\n", [0.5, 1.0], [1, 2]),  # trailing delimiter
    ],
)
def test_delimited_variants(tmp_path: Path, text: str, t: list[float], y: list[float]) -> None:
    p = tmp_path / "v.txt"
    p.write_text(text)
    tr = read_run(p).traces[0]
    np.testing.assert_allclose(tr.time_min, t, rtol=1e-12)
    np.testing.assert_allclose(tr.signal, y, rtol=1e-12)


def test_delimited_utf16_and_bom(tmp_path: Path) -> None:
    p = tmp_path / "u16.csv"
    p.write_bytes("time,UV 303 nm\n0.0,1.0\n0.5,2.0\n".encode("utf-16"))
    tr = read_run(p).traces[0]
    assert tr.channel.wavelength_nm == 303.0
    p2 = tmp_path / "bom.csv"
    p2.write_bytes(b"\xef\xbb\xbftime,y\n0,1\n1,2\n")
    assert len(read_run(p2).traces[0]) == 2


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("t,y\n0,1\n0,2\n", "duplicated"),
        ("t,y\n0,1\n1,2\n0.5,3\n", "non-monotonic"),
        ("t,y\n0,1\n1,nan\n", "NaN"),
        ("t,y\n0,1\n1,inf\n", "NaN/inf"),
        ("t,y\n0,1\n1,2,3\n", "fields"),
        ("t,y\n0,1\n1,abc\n2,3\n", "not a number: 'abc'"),
        ("t,y\n0,1\n1,2\n\n2,3e\n", "not a number"),
        ("just some words\nand more words\n", "no numeric data"),
        ("1\n2\n3\n", "no numeric data"),
        # a damaged line in a three-column block with data after it: not a footer to stop at
        ("t,a,b\n0,1,1\n1,2,2\nERROR ERROR\n2,3,3\n", "row 4: not a data row: 'ERROR ERROR'"),
    ],
)
def test_delimited_bad_input(tmp_path: Path, text: str, reason: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=reason) as exc:
        read_run(p)
    assert str(p) in str(exc.value)


def test_a_footer_after_the_data_block_still_ends_it(tmp_path: Path) -> None:
    p = tmp_path / "footer.csv"
    p.write_text("t,a,b\n0,1,1\n1,2,2\n2,3,3\nEnd of data\nOperator: someone\n")
    assert len(read_run(p).traces[0]) == 3


def test_missing_empty_garbage(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_run(tmp_path / "nope.csv")
    empty = tmp_path / "empty.mzML"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_run(empty)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(InputError) as exc:
        read_run(garbage)
    assert exc.value.path == str(garbage)
    folder = tmp_path / "plain_folder"
    folder.mkdir()
    with pytest.raises(InputError, match="folder"):
        read_run(folder)
    # a symbolic-link loop is not "missing": the reason is named (it was "file not found"). A
    # permission error, which root cannot provoke here, takes the same path (it was an OSError)
    (tmp_path / "a.mzML").symlink_to(tmp_path / "b.mzML")
    (tmp_path / "b.mzML").symlink_to(tmp_path / "a.mzML")
    with pytest.raises(InputError, match="cannot be read: Too many levels of symbolic links") as exc:
        read_run(tmp_path / "a.mzML")
    assert exc.value.path == str(tmp_path / "a.mzML")


def test_mzml_round_trip(tmp_path: Path) -> None:
    trs = _srm_traces() + _uv_traces(301)[:1]
    p = write_mzml(tmp_path / "inj.mzML", trs, {"sample_id": "QC-L", "injection": 7})
    assert detect_format(p) == "mzml"
    run = read_run(p)
    assert run.format == "mzml"
    assert run.metadata["sample_id"] == "QC-L" and run.metadata["injection"] == 7
    assert [t.name for t in run.traces] == [t.name for t in trs]
    for got, want in zip(run.traces, trs, strict=True):
        assert got.channel == want.channel
        assert got.signal_unit == want.signal_unit
        np.testing.assert_allclose(got.time_min, want.time_min, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(got.signal, want.signal, rtol=2e-7)  # float32 in OpenMS


def test_mzml_detected_by_content_not_extension(tmp_path: Path) -> None:
    p = write_mzml(tmp_path / "inj.mzML", _srm_traces())
    disguised = tmp_path / "inj.csv"
    disguised.write_bytes(p.read_bytes())
    assert detect_format(disguised) == "mzml"
    assert len(read_run(disguised).traces) == 3


def test_mzml_whose_declared_length_contradicts_its_arrays_is_damaged(tmp_path: Path) -> None:
    import re

    p = write_mzml(tmp_path / "inj.mzML", _srm_traces())
    text = p.read_text()
    n = re.search(r'defaultArrayLength="(\d+)"', text).group(1)
    p.write_text(text.replace(f'defaultArrayLength="{n}"', f'defaultArrayLength="{int(n) + 7}"', 1))
    with pytest.raises(InputError, match=rf"damaged mzML: .*declares {int(n) + 7} points .*hold {n}") as exc:
        read_run(p)
    assert str(p) in str(exc.value)


def test_mzml_truncated_and_corrupt(tmp_path: Path) -> None:
    p = write_mzml(tmp_path / "inj.mzML", _srm_traces())
    raw = p.read_bytes()
    cut = tmp_path / "cut.mzML"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="mzML") as exc:
        read_run(cut)
    assert str(cut) in str(exc.value)
    nochrom = tmp_path / "none.mzML"
    write_mzml(nochrom, [])
    with pytest.raises(InputError, match="no chromatograms"):
        read_mzml(nochrom)


def test_read_run_unknown_option_and_format(tmp_path: Path) -> None:
    p = write_delimited(tmp_path / "a.csv", _uv_traces(11))
    with pytest.raises(InputError, match="option"):
        read_run(p, wavelenghts=[342])
    with pytest.raises(InputError, match="unknown format"):
        read_run(p, format="nope")


def test_folder_hash_is_order_independent_and_content_sensitive(tmp_path: Path) -> None:
    from thioquant.io._common import file_sha256

    d = tmp_path / "x.D"
    d.mkdir()
    (d / "b.ch").write_bytes(b"B")
    (d / "a.ch").write_bytes(b"A")
    h1 = file_sha256(d)
    (d / "a.ch").write_bytes(b"A2")
    assert file_sha256(d) != h1


def test_xic_from_full_scan_spectra(tmp_path: Path) -> None:
    import pyopenms as oms

    exp = oms.MSExperiment()
    rts = np.arange(0, 120.0, 0.5)  # seconds
    for rt in rts:
        s = oms.MSSpectrum()
        s.setMSLevel(1)
        s.setRT(float(rt))
        h = 1e5 * np.exp(-0.5 * ((rt - 60.0) / 3.0) ** 2)
        # 6-TG [M+H]+ at 168.0342, a neighbour 20 ppm away, and background
        s.set_peaks((np.array([150.0, 168.0342, 168.0376, 200.0]), np.array([10.0, h, 7.0, 5.0])))
        exp.addSpectrum(s)
    p = tmp_path / "fullscan.mzML"
    oms.MzMLFile().store(str(p), exp)
    with pytest.raises(InputError, match=r"xic=.*; 240 spectra"):
        read_run(p)  # the own chromatogram parser counts the spectra it skipped
    run = read_run(p, xic=[(168.0342, 10, "ppm"), (168.0342, 0.01, "Da")])
    narrow, wide = run.traces
    assert narrow.channel == Channel(
        "xic", precursor_mz=168.0342, tolerance=10, tolerance_unit="ppm"
    )
    np.testing.assert_allclose(narrow.time_min, rts / 60.0)
    expected = 1e5 * np.exp(-0.5 * ((rts - 60.0) / 3.0) ** 2)
    np.testing.assert_allclose(narrow.signal, expected, rtol=1e-6, atol=1e-3)  # neighbour out
    np.testing.assert_allclose(wide.signal, expected + 7.0, rtol=1e-6, atol=1e-3)  # and in
    with pytest.raises(InputError, match="tolerance unit"):
        read_run(p, xic=[(168.0, 5, "mmu")])


def test_encodings(tmp_path: Path) -> None:
    text = "Zeit (min);UV 342 nm (mAU)\n0,0;1,5\n0,5;2,5\n"
    for enc in ("utf-32", "utf-16-le", "cp1252", "utf-8"):
        p = tmp_path / f"{enc}.csv"
        p.write_bytes(text.encode(enc))
        tr = read_run(p).traces[0]
        np.testing.assert_array_equal(tr.signal, [1.5, 2.5])
    bad = tmp_path / "bad16.csv"
    bad.write_bytes(b"\xff\xfe" + "t,y\n0,1\n".encode("utf-16-le") + b"\x00\xd8")  # lone surrogate
    with pytest.raises(InputError, match="cannot decode as utf-16"):
        read_run(bad)


def test_decimal_comma_decided_over_rows(tmp_path: Path) -> None:
    p = tmp_path / "dc.txt"
    p.write_text("Zeit\tUV 342 nm\n0\t0\n0,5\t1,25\n1\t2,5\n1,5\t3,75\n")
    tr = read_run(p).traces[0]
    np.testing.assert_array_equal(tr.time_min, [0, 0.5, 1, 1.5])
    np.testing.assert_array_equal(tr.signal, [0, 1.25, 2.5, 3.75])


def test_foreign_mzml_uv_and_units(tmp_path: Path) -> None:
    import pyopenms as oms

    exp = oms.MSExperiment()
    CT = oms.ChromatogramSettings.ChromatogramType
    uv = oms.MSChromatogram()
    uv.setNativeID("UV 254nm")
    uv.setChromatogramType(CT.ELECTROMAGNETIC_RADIATION_CHROMATOGRAM)
    uv.set_peaks((np.array([0.0, 6.0, 12.0]), np.array([1.0, 2.0, 3.0], dtype=np.float32)))
    srm = oms.MSChromatogram()
    srm.setNativeID("SRM SIC 168,151")
    pre, pro = oms.Precursor(), oms.Product()
    pre.setMZ(168.0)
    pro.setMZ(151.0)
    srm.setPrecursor(pre)
    srm.setProduct(pro)
    srm.set_peaks((np.array([0.0, 6.0]), np.array([5.0, 6.0], dtype=np.float32)))
    exp.addChromatogram(uv)
    exp.addChromatogram(srm)
    p = tmp_path / "foreign.mzML"
    oms.MzMLFile().store(str(p), exp)
    a, b = read_run(p).traces
    assert a.channel == Channel("uv", wavelength_nm=254.0)
    np.testing.assert_allclose(a.time_min, [0.0, 0.1, 0.2])
    assert b.channel == Channel("srm", precursor_mz=168.0, product_mz=151.0)
    assert b.signal_unit == "counts"


def test_shared_options_ignored_by_readers_that_do_not_use_them(tmp_path: Path) -> None:
    p = write_delimited(tmp_path / "a.csv", _uv_traces(11))
    run = read_run(p, wavelengths=[342, 303], bandwidth_nm=4, xic=None)
    assert len(run.traces) == 3


def test_whitespace_columns_with_spaced_names(tmp_path: Path) -> None:
    p = tmp_path / "ws.txt"
    p.write_text("Time (s)    UV 342 nm (mAU)\n  30   1.5\n  60   2.5\n")
    tr = read_run(p).traces[0]
    assert tr.channel.wavelength_nm == 342.0 and tr.signal_unit == "mAU"
    np.testing.assert_array_equal(tr.time_min, [0.5, 1.0])


def test_detection_survives_a_character_cut_at_8_kb(tmp_path: Path) -> None:
    # a UTF-16 file whose 8 KB detection window ends inside a surrogate pair
    head = "# note: " + "x" * 4086 + "\U0001f600" + "\ntime,y\n"
    p = tmp_path / "u16.csv"
    p.write_bytes((head + "0,1\n1,2\n").encode("utf-16"))
    assert detect_format(p) == "delimited"
    assert len(read_run(p).traces[0]) == 2


def test_openmp_pool_limited_in_every_reading_thread(tmp_path: Path) -> None:
    import ctypes
    import threading

    p = write_mzml(tmp_path / "a.mzML", _srm_traces())
    read_run(p, engine="pyopenms")
    maps = Path("/proc/self/maps")
    text = maps.read_text() if maps.exists() else ""
    libs = [ln.split()[-1] for ln in text.splitlines() if "libgomp" in ln]
    if not libs:
        pytest.skip("no GNU OpenMP runtime loaded (not Linux, or pyopenms built without it)")
    get = ctypes.CDLL(libs[0]).omp_get_max_threads
    seen = []

    def work() -> None:
        read_run(p, engine="pyopenms")
        seen.append(get())

    th = threading.Thread(target=work)
    th.start()
    th.join()
    assert get() == 1 and seen == [1]
