"""Conformance: every real instrument file in ../shared/data opens, and decoded values match
the vendor's or a reference decoding. Skips (with the reason shown) without ../shared/data."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from thioquant.io import detect_format, read_run

# (path under shared/data, expected format, expected number of traces)
REAL_FILES = [
    ("agilent_chemstation/PyExpLabSys_NV-F0101.D", "agilent_d", 3),
    ("agilent_chemstation/chromConverterExtraTests/chemstation_181.D", "agilent_d", 1),
    ("agilent_chemstation/mocca_knoevenagel_H_1mM.D", "agilent_d", 8),
    ("agilent_chemstation/rainbow/brown.D", "agilent_d", 5),
    ("agilent_chemstation/rainbow/pink.D", "agilent_d", 6),
    ("agilent_chemstation/rainbow/red.D", "agilent_d", 3),
    ("agilent_chemstation/rainbow/yellow.D", "agilent_d", 1),
    ("agilent_chemstation/chromConverter/dad1.uv", "agilent_uv", 101),
    (
        "agilent_chemstation/chromConverterExtraTests/ch_versions/chemstation_130.ch",
        "agilent_ch",
        1,
    ),
    (
        "agilent_chemstation/chromConverterExtraTests/ch_versions/chemstation_179_mustang.ch",
        "agilent_ch",
        1,
    ),
    ("agilent_chemstation/chromConverterExtraTests/ch_versions/chemstation_30.ch", "agilent_ch", 1),
    ("agilent_chemstation/chromConverterExtraTests/ch_versions/chemstation_81.ch", "agilent_ch", 1),
    ("agilent_chemstation/chromConverterExtraTests/ch_versions/openlab_179.ch", "agilent_ch", 1),
    ("agilent_openlab/rainbow/teal.dx", "agilent_dx", 2),
    ("waters_raw/rainbow/violet.raw", "waters_raw", 4),
    ("andi_cdf/cheminfo_netcdf-gcms/agilent-gcms-tic.cdf", "aia", 1),
    ("andi_cdf/cheminfo_netcdf-gcms/agilent-hplc.cdf", "aia", 1),
    ("andi_cdf/cheminfo_netcdf-gcms/agilent-hplc2.cdf", "aia", 1),
    ("andi_cdf/chromConverterExtraTests/HP_MS.CDF", "aia", 1),
    ("andi_cdf/chromConverterExtraTests/VARIAN1.CDF", "aia", 1),
    ("chromeleon/chromConverterExtraTests/chromeleon_comma.txt", "chromeleon", 1),
    *[
        (f"chromeleon/smartPeakPy_HPLC_UV_Standards/chromatograms/{n}.txt", "chromeleon", 1)
        for n in (
            "0p5ug",
            "1ug",
            "2p5ug",
            "5ug",
            "10ug",
            "25ug",
            "50ug",
            "100ug",
            "250ug",
            "500ug",
            "750ug",
            "1000ug",
            "2500ug",
            "5000ug",
        )
    ],
    ("mzml_srm/OpenMS/class_tests/ChromeleonFile_commas.txt", "chromeleon", 1),
    ("mzml_srm/OpenMS/class_tests/ChromeleonFile_new_header.txt", "chromeleon", 1),
    *[
        (f"shimadzu_labsolutions/Analysis_Lab_standards/STD_{n}.txt", "shimadzu", 3)
        for n in ("100", "50", "25", "12.5", "6.25")
    ],
    ("shimadzu_labsolutions/chromConverter/ladder_FS19_214_GC-FID.txt", "shimadzu", 1),
    ("waters_arw/chromConverterExtraTests/waters.arw", "waters_arw", 1),
    ("agilent_chemstation/chromConverter/dad1_chemstation_export_220nm.csv", "chemstation_csv", 1),
    ("mzml_srm/OpenMS/class_tests/FeatureFinderAlgorithmMRM_input.mzML", "mzml", 3),
    ("mzml_srm/OpenMS/topp/MRMMapping_input.chrom.mzML", "mzml", 6),
    ("mzml_srm/OpenMS/topp/MRMTransitionGroupPicker_1_input.mzML", "mzml", 30),
    ("mzml_srm/OpenMS/topp/OpenSwathAnalyzer_1_input_chrom.mzML", "mzml", 5),
    (
        "mzml_srm/smartPeakPy_QTRAP5500_BloodProject_QC/150601_0_BloodProject01_PLT_QC_Broth-1.mzML",
        "mzml",
        325,
    ),
    ("mzml_srm/smartPeakPy_yeast_unknowns/170808_Jonathan_yeast_Sacc1_1x.mzML", "mzml", 340),
    *[
        (f"hplc_py/lactose_calibration/calibration/lactose_mM_{n}.csv", "delimited", 1)
        for n in ("0.5", "1", "3", "6")
    ],
    ("hplc_py/tests_test_data/test_SNIP_chrom.csv", "delimited", 2),
]


@pytest.mark.parametrize(
    ("rel", "fmt", "ntraces"), REAL_FILES, ids=[r[0].split("/")[-1] for r in REAL_FILES]
)
def test_real_file_opens(shared_data: Path, rel: str, fmt: str, ntraces: int) -> None:
    path = shared_data / rel
    assert detect_format(path) == fmt
    run = read_run(path)
    assert run.format == fmt
    assert len(run.traces) == ntraces
    assert len(run.sha256 or "") == 64
    for tr in run.traces:
        assert len(tr) >= 1  # the yeast file has single-point SRM chromatograms
        assert np.all(np.diff(tr.time_min) > 0)
        assert np.all(np.isfinite(tr.signal))


def _rel_dev(got: np.ndarray, ref: np.ndarray) -> float:
    """Max |got - ref| relative to the largest |ref| (the trace's scale)."""
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-300))


RAINBOW_REF = [
    ("agilent_chemstation/rainbow/brown.D", "brown", ["dad1A", "dad1B", "dad1C", "dad1D", "dad1E"]),
    ("agilent_chemstation/rainbow/pink.D", "pink", ["DAD1A", "DAD1C"]),
    ("agilent_chemstation/rainbow/red.D", "red", ["ADC1A", "DAD1B", "DAD1C"]),
    ("agilent_chemstation/rainbow/yellow.D", "yellow", ["FID1A"]),
    ("agilent_openlab/rainbow/teal.dx", "teal", ["DAD1A", "DAD1H"]),
    ("waters_raw/rainbow/violet.raw", "violet", ["_CHRO002"]),
]


@pytest.mark.parametrize(("rel", "ref", "names"), RAINBOW_REF, ids=[r[1] for r in RAINBOW_REF])
def test_matches_rainbow_expected_decoding(
    shared_data: Path, rel: str, ref: str, names: list[str]
) -> None:
    run = read_run(shared_data / rel)
    base = shared_data / rel.split("/")[0] / "rainbow" / "expected_decoded" / ref
    for name in names:
        expected = np.loadtxt(base / f"{name}.csv", delimiter=",", skiprows=1)
        tr = run.trace(name)
        assert len(tr) == expected.shape[0]
        assert _rel_dev(tr.time_min, expected[:, 0]) < 1e-6
        assert _rel_dev(tr.signal, expected[:, 1]) < 1e-6


def test_dad_uv_matches_chemstation_export(shared_data: Path) -> None:
    base = shared_data / "agilent_chemstation/chromConverter"
    ref = np.loadtxt(
        base / "dad1_chemstation_export_220nm.csv", delimiter=",", skiprows=1, encoding="utf-16"
    )
    tr = read_run(base / "dad1.uv", wavelengths=[220], bandwidth_nm=None).traces[0]
    assert tr.channel.wavelength_nm == 220.0
    # the export prints 13 decimals in time and 10 significant digits in signal
    np.testing.assert_allclose(tr.time_min, ref[:, 0], rtol=0, atol=1e-12)
    assert _rel_dev(tr.signal, ref[:, 1]) < 1e-9
    # and reading the export itself gives the same numbers
    exp = read_run(base / "dad1_chemstation_export_220nm.csv").traces[0]
    assert exp.channel.wavelength_nm == 220.0
    assert _rel_dev(exp.signal, tr.signal) < 1e-9


def test_dad_bandwidth_is_mean_of_band(shared_data: Path) -> None:
    path = shared_data / "agilent_chemstation/chromConverter/dad1.uv"
    band = read_run(path, wavelengths=[220], bandwidth_nm=4).traces[0]
    cols = read_run(path, wavelengths=[218, 220, 222], bandwidth_nm=None).traces
    np.testing.assert_allclose(band.signal, np.mean([c.signal for c in cols], axis=0), rtol=1e-12)
    assert band.channel.bandwidth_nm == 4.0


def test_dad_wavelength_out_of_range(shared_data: Path) -> None:
    from thioquant.errors import InputError

    with pytest.raises(InputError, match="not in the diode-array range"):
        read_run(shared_data / "agilent_chemstation/chromConverter/dad1.uv", wavelengths=[150])


def _header_value(path: Path, key: str) -> str:
    text = path.read_text(encoding="utf-8-sig")
    m = re.search(rf"^{re.escape(key)}\t(.*)$", text, re.M)
    assert m, key
    return m.group(1).strip()


@pytest.mark.parametrize(
    "rel",
    [
        "chromeleon/chromConverterExtraTests/chromeleon_comma.txt",
        "chromeleon/smartPeakPy_HPLC_UV_Standards/chromatograms/5000ug.txt",
        "chromeleon/smartPeakPy_HPLC_UV_Standards/chromatograms/0p5ug.txt",
    ],
)
def test_chromeleon_matches_its_own_header(shared_data: Path, rel: str) -> None:
    path = shared_data / rel
    tr = read_run(path).traces[0]

    def num(key: str) -> float:
        v = _header_value(path, key)
        if "," in v and "." not in v:
            v = v.replace(",", ".")
        return float(v.replace(",", ""))

    assert len(tr) == int(num("Data Points"))
    assert tr.time_min[0] == pytest.approx(num("Time Min. (min)"), abs=1e-6)
    assert tr.time_min[-1] == pytest.approx(num("Time Max. (min)"), abs=1e-6)
    assert tr.signal.min() == pytest.approx(num("Signal Min."), abs=1e-6)
    assert tr.signal.max() == pytest.approx(num("Signal Max."), abs=1e-6)
    assert tr.signal_unit == _header_value(path, "Signal Unit")


def test_chromeleon_uv_wavelength(shared_data: Path) -> None:
    tr = read_run(
        shared_data / "chromeleon/smartPeakPy_HPLC_UV_Standards/chromatograms/0p5ug.txt"
    ).traces[0]
    assert tr.channel.kind == "uv" and tr.channel.wavelength_nm == 280.0
    assert tr.signal_unit == "mAU"


def test_shimadzu_peak_tables_and_units(shared_data: Path) -> None:
    base = shared_data / "shimadzu_labsolutions/Analysis_Lab_standards"
    glucose = {}
    for n in ("6.25", "12.5", "25", "50", "100"):
        run = read_run(base / f"STD_{n}.txt")
        pk = next(p for p in run.reference_peaks if p.name == "Glucose")
        assert pk.trace == "Detector B-Ch1" and pk.area_unit == "uV*s"
        glucose[n] = pk.area
    assert [glucose[n] for n in ("6.25", "12.5", "25", "50", "100")] == [
        58060,
        115920,
        209408,
        449494,
        904583,
    ]
    # vendor areas are raw counts x s: the trace (mV = counts x 0.001) integrates back to them
    run = read_run(base / "STD_100.txt")
    tr = run.trace("Detector A-Ch2")
    pk = next(
        p for p in run.reference_peaks if p.trace == tr.name and abs(p.rt_min - 18.011) < 1e-6
    )
    m = (tr.time_min >= pk.start_min - 1e-6) & (tr.time_min <= pk.end_min + 1e-6)
    t, y = tr.time_min[m], tr.signal[m] / 0.001
    base_line = y[0] + (y[-1] - y[0]) * (t - t[0]) / (t[-1] - t[0])
    assert np.trapezoid(y - base_line, t * 60) == pytest.approx(pk.area, rel=1e-3)


def test_shimadzu_gc_ladder(shared_data: Path) -> None:
    run = read_run(shared_data / "shimadzu_labsolutions/chromConverter/ladder_FS19_214_GC-FID.txt")
    assert len(run.reference_peaks) == 83
    assert run.traces[0].sampling_interval_min * 60 == pytest.approx(
        0.04, rel=1e-2
    )  # times printed to 1e-5 min


def test_mzml_qtrap_matches_pyopenms(shared_data: Path) -> None:
    import pyopenms as oms

    path = (
        shared_data
        / "mzml_srm/smartPeakPy_QTRAP5500_BloodProject_QC/150601_0_BloodProject01_PLT_QC_Broth-1.mzML"
    )
    run = read_run(path)
    exp = oms.MSExperiment()
    oms.MzMLFile().load(str(path), exp)
    chroms = exp.getChromatograms()
    assert len(run.traces) == len(chroms)
    for tr, c in zip(run.traces[::40], chroms[::40], strict=True):
        t, y = c.get_peaks()
        np.testing.assert_allclose(tr.time_min, t / 60.0, rtol=1e-15)
        np.testing.assert_array_equal(tr.signal, y)
        if tr.channel.kind == "srm":
            assert tr.channel.precursor_mz == pytest.approx(c.getPrecursor().getMZ())
            assert tr.channel.product_mz == pytest.approx(c.getProduct().getMZ())
    assert sum(t.channel.kind == "srm" for t in run.traces) == len(run.traces) - 1
    assert run.metadata["instrument"] == "QTRAP 5500"


def test_waters_arw(shared_data: Path) -> None:
    run = read_run(shared_data / "waters_arw/chromConverterExtraTests/waters.arw")
    tr = run.traces[0]
    assert run.metadata["SampleName"] == "14"
    assert tr.channel.kind == "detector"  # fluorescence ex280/em350 is not a UV wavelength
    assert tr.time_min[-1] == pytest.approx(55.0)


def test_waters_raw_pda_channels(shared_data: Path) -> None:
    run = read_run(shared_data / "waters_raw/rainbow/violet.raw")
    pda = [t for t in run.traces if t.channel.kind == "uv"]
    assert [t.channel.wavelength_nm for t in pda] == [220.0, 254.0, 280.0]
    assert all(t.channel.bandwidth_nm == 4.8 and t.signal_unit == "AU" for t in pda)


def test_agilent_dad_signals_with_bandwidth(shared_data: Path) -> None:
    run = read_run(shared_data / "agilent_chemstation/mocca_knoevenagel_H_1mM.D")
    tr = run.find_trace(wavelength_nm=347)
    assert tr is not None and tr.name == "DAD1D"
    assert tr.channel.bandwidth_nm == 4.0 and tr.signal_unit == "mAU"
    assert run.metadata["sample"] == "H 1 mM"


def test_chemstation_report_peaks(shared_data: Path) -> None:
    run = read_run(shared_data / "agilent_chemstation/mocca_knoevenagel_H_1mM.D")
    peaks = run.reference_peaks
    assert len(peaks) == 23
    first = peaks[0]
    assert (first.trace, first.code, first.area_unit) == ("DAD1A", "VB R", "mAU*s")
    assert first.rt_min == pytest.approx(0.349450647830963, rel=1e-12)
    assert first.area == pytest.approx(92.2689743041992, rel=1e-12)
    # the vendor apexes sit on the decoded traces' maxima (within one sampling interval)
    offsets = []
    for pk in peaks:
        tr = run.trace(pk.trace)
        m = np.abs(tr.time_min - pk.rt_min) < 0.02
        offsets.append(abs(tr.time_min[m][np.argmax(tr.signal[m])] - pk.rt_min))
    assert np.median(offsets) < run.traces[0].sampling_interval_min


def test_chemstation_result_xml_from_another_injection_is_flagged(shared_data: Path) -> None:
    run = read_run(shared_data / "agilent_chemstation/chromConverterExtraTests/chemstation_181.D")
    assert len(run.reference_peaks) == 36
    pk = run.reference_peaks[0]
    assert (pk.area_unit, pk.code, pk.trace) == ("pA*s", "BV", "FID1A")
    assert pk.start_min == pytest.approx(0.128731) and pk.baseline_end == pytest.approx(28.159346)
    assert "another injection" in run.metadata["reference_peaks_note"]


@pytest.mark.parametrize(
    "rel",
    [
        "agilent_chemstation/chromConverterExtraTests/ch_versions/chemstation_30.ch",
        "agilent_chemstation/chromConverterExtraTests/ch_versions/chemstation_130.ch",
        "agilent_chemstation/chromConverterExtraTests/ch_versions/chemstation_179_mustang.ch",
        "agilent_chemstation/chromConverterExtraTests/ch_versions/openlab_179.ch",
        "agilent_chemstation/chromConverter/dad1.uv",
        "agilent_openlab/rainbow/teal.dx",
        "andi_cdf/cheminfo_netcdf-gcms/agilent-hplc.cdf",
    ],
)
def test_truncated_vendor_binaries_raise(shared_data: Path, tmp_path: Path, rel: str) -> None:
    from thioquant.errors import InputError

    raw = (shared_data / rel).read_bytes()
    for frac in (0.005, 0.3, 0.77):
        bad = tmp_path / f"cut{frac}{Path(rel).suffix}"
        bad.write_bytes(raw[: int(len(raw) * frac)])
        with pytest.raises(InputError) as exc:
            read_run(bad, wavelengths=[220])
        assert str(bad) in str(exc.value)


def test_wrong_extension_still_opens(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "andi_cdf/cheminfo_netcdf-gcms/agilent-hplc.cdf"
    disguised = tmp_path / "export.txt"
    disguised.write_bytes(src.read_bytes())
    assert read_run(disguised).format == "aia"
    ch = tmp_path / "signal.dat"
    ch.write_bytes((shared_data / "agilent_chemstation/rainbow/pink.D/DAD1A.ch").read_bytes())
    run = read_run(ch)
    assert run.format == "agilent_ch" and run.traces[0].channel.wavelength_nm == 210.0


@pytest.mark.parametrize(("signal", "wl"), [("DAD1B", 280.0), ("DAD1C", 220.0)])
def test_dad_extraction_matches_chemstation_signal(
    shared_data: Path, signal: str, wl: float
) -> None:
    # red.D holds both the DAD spectra (2 nm steps) and ChemStation's own Sig=wl,4 Ref=off
    # signals: the band mean of the spectra reproduces them to a few tenths of a percent (the
    # instrument builds its signals from finer diode data than the stored spectra).
    run = read_run(
        shared_data / "agilent_chemstation/rainbow/red.D", wavelengths=[wl], bandwidth_nm=4
    )
    ch = run.trace(signal)
    ext = next(t for t in run.traces if t.name == f"DAD1 {wl:g} nm")
    np.testing.assert_allclose(ext.time_min, ch.time_min, rtol=0, atol=1e-9)
    assert np.max(np.abs(ext.signal - ch.signal)) < 0.005 * np.ptp(ch.signal)
