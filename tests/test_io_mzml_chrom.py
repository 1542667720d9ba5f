"""thioquant's own mzML chromatogram reader against pyopenms, file by file and value by value."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

from thioquant.errors import InputError
from thioquant.io import read_run
from thioquant.io.mzml import read_mzml, write_mzml
from thioquant.io.mzml_chrom import Damaged, Unsupported, read_chromatograms
from thioquant.model import Channel, Run, Trace

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REAL = sorted(glob.glob(str(SHARED / "**" / "*.mzML"), recursive=True))


def assert_same_run(a: Run, b: Run) -> None:
    """Same traces (names, channels, units, metadata, every value bit for bit) and run metadata."""
    assert len(a.traces) == len(b.traces)
    for x, y in zip(a.traces, b.traces, strict=True):
        assert (x.name, x.channel, x.signal_unit) == (y.name, y.channel, y.signal_unit)
        assert dict(x.metadata) == dict(y.metadata)
        assert x.time_min.dtype == y.time_min.dtype and x.signal.dtype == y.signal.dtype
        assert np.array_equal(x.time_min, y.time_min) and np.array_equal(x.signal, y.signal), x.name
    assert dict(a.metadata) == dict(b.metadata)
    assert a.sha256 == b.sha256


def _own_only(path: Path) -> Run:
    return read_mzml(path, engine="thioquant")


@pytest.mark.skipif(not REAL, reason="../shared/data not available")
@pytest.mark.parametrize("path", REAL, ids=lambda p: Path(p).name)
def test_real_files_read_as_pyopenms_reads_them(path: str) -> None:
    # Sciex QTRAP exports by ProteoWizard (zlib, times in minutes, 325-340 chromatograms, polarity
    # terms) and OpenMS's own test files (32-bit intensities, offsets in the isolation windows)
    assert_same_run(_own_only(Path(path)), read_mzml(path, engine="pyopenms"))


def test_bundled_files_read_as_pyopenms_reads_them() -> None:
    files = sorted((ROOT / "sample_data" / "lcmsms" / "raw").glob("*.mzML"))
    assert len(files) == 42
    for p in files[::7]:
        assert_same_run(_own_only(p), read_mzml(p, engine="pyopenms"))


def _kinds() -> list[Trace]:
    t = np.linspace(0.0, 5.0, 601)
    y = 1e3 * np.exp(-0.5 * ((t - 2.0) / 0.04) ** 2) + 7.25
    return [
        Trace("6-TG", t, y, "cps", Channel("srm", precursor_mz=168.0, product_mz=151.0)),
        Trace("UV 342nm", t, y / 1e3, "mAU", Channel("uv", wavelength_nm=342.0, bandwidth_nm=4.0)),
        Trace("TIC", t, y * 3, "counts", Channel("tic")),
        Trace("XIC 168", t, y / 2, "counts", Channel("xic", precursor_mz=168.0)),
        Trace("FLD", t, y / 7, "LU", Channel("fluorescence"), metadata={"gain": 10, "lamp": "Xe", "ex_nm": 280.5}),
        Trace("empty", np.empty(0), np.empty(0), "counts", Channel("srm", precursor_mz=1.0, product_mz=2.0)),
    ]


def test_every_kind_and_typed_metadata_round_trip(tmp_path: Path) -> None:
    p = write_mzml(tmp_path / "k.mzML", _kinds(), {"sample_id": "P&1 <x>", "injection": 3, "rbc": 4.5})
    own = _own_only(p)
    assert_same_run(own, read_mzml(p, engine="pyopenms"))
    assert [t.channel.kind for t in own.traces] == ["srm", "uv", "tic", "xic", "fluorescence", "srm"]
    assert own.traces[1].channel.wavelength_nm == 342.0 and own.traces[1].channel.bandwidth_nm == 4.0
    assert dict(own.traces[4].metadata) == {"gain": 10, "lamp": "Xe", "ex_nm": 280.5}
    assert own.metadata["sample_id"] == "P&1 <x>" and own.metadata["injection"] == 3
    assert own.traces[5].time_min.size == 0


def _store(exp: object, path: Path, *, zlib: bool, int32: bool, numpress: bool = False) -> Path:
    import pyopenms as oms

    f = oms.MzMLFile()
    o = f.getOptions()
    o.setCompression(zlib)
    o.setIntensity32Bit(int32)
    if numpress:
        cfg = oms.NumpressConfig()
        cfg.setCompression("slof")
        o.setNumpressConfigurationIntensity(cfg)
    f.setOptions(o)
    f.store(str(path), exp)
    return path


def _experiment(traces: list[Trace], folder: Path) -> object:
    import pyopenms as oms

    exp = oms.MSExperiment()
    oms.MzMLFile().load(str(write_mzml(folder / "written.mzML", traces)), exp)
    return exp


@pytest.mark.parametrize(("zlib", "int32"), [(True, True), (True, False), (False, True)])
def test_compression_and_precision(tmp_path: Path, zlib: bool, int32: bool) -> None:
    p = _store(_experiment(_kinds()[:3], tmp_path), tmp_path / "c.mzML", zlib=zlib, int32=int32)
    text = p.read_text()
    assert ("zlib compression" in text) == zlib and ("32-bit float" in text) == int32
    assert_same_run(_own_only(p), read_mzml(p, engine="pyopenms"))


def test_numpress_is_decoded_by_pyopenms_coder_and_checked(tmp_path: Path) -> None:
    p = _store(_experiment(_kinds()[:2], tmp_path), tmp_path / "n.mzML", zlib=False, int32=False, numpress=True)
    assert "MS-Numpress" in p.read_text()
    # the own parser reads the file (numpress arrays through pyopenms's coder): the same numbers
    assert len(read_chromatograms(p.read_bytes()).chromatograms) == 2
    assert_same_run(_own_only(p), read_mzml(p, engine="pyopenms"))
    assert_same_run(read_run(p), read_mzml(p, engine="pyopenms"))
    # and checked as any array: a stray character in numpress base64 is refused, not skipped
    text = p.read_text()
    i = text.index("<binary>", text.index("MS-Numpress")) + 20
    p.write_text(text[:i] + "!" + text[i + 1 :])
    with pytest.raises(InputError, match="chromatogram .*not valid base64"):
        read_run(p)


def _edited(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    src = ROOT / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML"
    text = src.read_text(encoding="latin-1")
    assert old in text
    p = tmp_path / "edited.mzML"
    p.write_text(text.replace(old, new, count), encoding="latin-1")
    return p


def test_time_in_minutes_converted_as_openms_does(tmp_path: Path) -> None:
    p = _edited(tmp_path, 'unitAccession="UO:0000010" unitName="second"',
                'unitAccession="UO:0000031" unitName="minute"', 3)
    own = _own_only(p)
    assert_same_run(own, read_mzml(p, engine="pyopenms"))
    # the first three traces now in minutes: 60 times the times of the others
    assert own.traces[0].time_min[-1] == pytest.approx(60 * own.traces[3].time_min[-1])


def test_selected_ion_and_isolation_window_as_openms_reads_them(tmp_path: Path) -> None:
    # a precursor whose selected ion differs from its isolation window's target
    p = _edited(tmp_path, 'name="selected ion m/z" value="168"', 'name="selected ion m/z" value="168.5"')
    own = _own_only(p)
    assert_same_run(own, read_mzml(p, engine="pyopenms"))


def test_referenceable_param_groups(tmp_path: Path) -> None:
    # precision and compression given once in a group and referenced by every array
    group = (
        '<referenceableParamGroupList count="1"><referenceableParamGroup id="arr64">'
        '<cvParam cvRef="MS" accession="MS:1000523" name="64-bit float" />'
        '<cvParam cvRef="MS" accession="MS:1000576" name="no compression" />'
        "</referenceableParamGroup></referenceableParamGroupList>\n\t<sampleList"
    )
    p = _edited(tmp_path, "<sampleList", group)
    text = p.read_text(encoding="latin-1").replace(
        '<cvParam cvRef="MS" accession="MS:1000523" name="64-bit float" />\n\t\t\t\t\t\t'
        '<cvParam cvRef="MS" accession="MS:1000576" name="no compression" />',
        '<referenceableParamGroupRef ref="arr64"/>',
    )
    assert text.count("<referenceableParamGroupRef") == 12
    p.write_text(text, encoding="latin-1")
    assert_same_run(_own_only(p), read_mzml(p, engine="pyopenms"))


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("<chromatogramList", "<!-- a comment --><chromatogramList", "comment"),
        ('unitAccession="UO:0000010" unitName="second"', 'unitAccession="UO:0000028" unitName="millisecond"',
         "time unit"),
        ('accession="MS:1001473" name="selected reaction monitoring chromatogram"',
         'accession="MS:1000000" name="some other chromatogram"', "chromatogram term"),
    ],
)
def test_what_it_does_not_know_goes_to_pyopenms(tmp_path: Path, old: str, new: str, reason: str) -> None:
    p = _edited(tmp_path, old, new)
    with pytest.raises(Unsupported, match=reason):
        read_chromatograms(p.read_bytes())
    # auto: read (or diagnosed) by pyopenms, as before this reader existed
    try:
        ref = read_mzml(p, engine="pyopenms")
    except InputError as exc:
        with pytest.raises(InputError) as got:
            read_run(p)
        assert str(got.value) == str(exc)
    else:
        assert_same_run(read_run(p), ref)


def test_comment_does_not_change_the_numbers(tmp_path: Path) -> None:
    p = _edited(tmp_path, "<chromatogramList", "<!-- <binary>AAAA</binary> --><chromatogramList")
    ref = read_mzml(ROOT / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML")
    run = read_run(p)
    for a, b in zip(run.traces, ref.traces, strict=True):
        assert np.array_equal(a.signal, b.signal)


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.93, 0.999])
def test_truncated_file_gets_pyopenms_diagnosis(tmp_path: Path, cut: float) -> None:
    raw = (ROOT / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML").read_bytes()
    p = tmp_path / "t.mzML"
    p.write_bytes(raw[: int(len(raw) * cut)])
    with pytest.raises(Unsupported):
        read_chromatograms(p.read_bytes())
    with pytest.raises(InputError, match="t.mzML"):
        read_run(p)


@pytest.mark.parametrize("junk", ["@@", "!", "A"])
def test_damaged_base64_is_refused_not_read_leniently(tmp_path: Path, junk: str) -> None:
    # pyopenms's decoder skipped a stray '!' and read the 6-TG apex 16 times larger (issue 22):
    # stray characters and a bad length are damage, refused with file, chromatogram and reason
    p = _edited(tmp_path, "<binary>", "<binary>" + junk)
    why = "chromatogram '6-TG': binary data (is not valid base64|of 7689 bytes is not a whole number)"
    with pytest.raises(Damaged, match=why):
        read_chromatograms(p.read_bytes())
    with pytest.raises(InputError, match="edited.mzML: damaged mzML: " + why):
        read_run(p)
    with pytest.raises(InputError, match="damaged mzML"):  # also when pyopenms is asked for
        read_mzml(p, engine="pyopenms")


def test_line_wrapped_base64_is_read(tmp_path: Path) -> None:
    # whitespace inside <binary> is legal XML and changes no value
    p = _edited(tmp_path, "<binary>", "<binary>\n  ")
    ref = read_mzml(ROOT / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML")
    own = _own_only(p)
    for a, b in zip(own.traces, ref.traces, strict=True):
        assert np.array_equal(a.time_min, b.time_min) and np.array_equal(a.signal, b.signal)


def test_checks_apply_on_the_pyopenms_path_too(tmp_path: Path) -> None:
    # a comment sends the file to pyopenms, which sorts times in silence: refused all the same
    import base64

    raw = (ROOT / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML").read_bytes()
    c = raw.index(b'<chromatogram id="6-MMP" ')
    i = raw.index(b"<binary>", c) + 8
    j = raw.index(b"</binary>", i)
    t = np.frombuffer(base64.b64decode(raw[i:j]), "<f8").copy()
    t[[10, 11]] = t[[11, 10]]
    bad = raw[:i] + base64.b64encode(t.tobytes()) + raw[j:]
    bad = bad.replace(b"<chromatogramList", b"<!-- note --><chromatogramList", 1)
    p = tmp_path / "c.mzML"
    p.write_bytes(bad)
    with pytest.raises(Unsupported, match="comment"):
        read_chromatograms(bad)
    with pytest.raises(InputError, match="chromatogram '6-MMP': times out of order"):
        read_run(p)
    # a declared length that is not the arrays' length, on the same path
    p.write_bytes(bad.replace(t_bytes := base64.b64encode(t.tobytes()), base64.b64encode(t[:-1].tobytes())))
    assert t_bytes in bad
    with pytest.raises(InputError, match="6-MMP.*defaultArrayLength"):
        read_run(p)


def test_unknown_engine() -> None:
    with pytest.raises(InputError, match="unknown mzML engine"):
        read_mzml(ROOT / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML", engine="fast")


def test_differential_fuzz_never_reads_other_numbers(tmp_path: Path) -> None:
    """Mutated files: the own parser refuses, or reads exactly what pyopenms reads (or what it refuses).

    6,000 such mutations were run by hand while writing the parser; these 300 keep it so.
    """
    import random

    rng = random.Random(20261203)
    seeds = [(ROOT / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML").read_bytes()]
    seeds += [Path(p).read_bytes() for p in REAL if Path(p).stat().st_size < 50_000]
    tokens = [b'"', b"<", b">", b"/", b"=", b" ", b"&amp;", b"&#1;", b"A", b"\n", b"MS:1000574", b"MS:1000521",
              b"UO:0000031", b'<cvParam accession="MS:1000521"/>', b"</precursor>", b"<!--x-->", b"9"]
    p = tmp_path / "f.mzML"
    counts = {"refused": 0, "same": 0, "pyopenms refuses": 0}
    for _ in range(300):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op, i = rng.random(), rng.randrange(len(raw))
            if op < 0.3:
                raw[i] = rng.randrange(256)
            elif op < 0.5:
                raw[i:i] = rng.choice(tokens)
            elif op < 0.7:
                del raw[i : i + rng.randint(1, 40)]
            elif op < 0.8:
                raw = raw[:i]
            elif (j := raw.find(b'value="', i)) > 0:
                raw[j + 7 : j + 7] = rng.choice([b"1e5", b"-", b"x", b"0.", b"nan"])
        p.write_bytes(bytes(raw))
        try:
            read_chromatograms(bytes(raw))
        except (Unsupported, Damaged):
            counts["refused"] += 1
            continue
        try:
            ref = read_mzml(p, engine="pyopenms")
        except InputError as exc:
            counts["pyopenms refuses"] += 1
            if "non-finite" in str(exc) or "time points" in str(exc):  # our validation: same for both
                with pytest.raises(InputError, match="non-finite|time points"):
                    _own_only(p)
            continue
        assert_same_run(_own_only(p), ref)
        counts["same"] += 1
    assert counts["same"] > 20 and counts["refused"] > 100, counts
