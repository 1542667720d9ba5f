"""Formats added for issue 23, each on its real file from ../shared/data (skipped when absent):
the Shimadzu LCsolution ASCII export with commas, Chromeleon Calibration and Summary result tables,
and the area units of ChemStation's Report.TXT."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from thioquant.io import detect_format, read_run

COMMA = "shimadzu_labsolutions/lcsolution_comma/Output-sample 0.txt"
RESULTS = Path("chromeleon/smartPeakPy_HPLC_UV_Standards/chromeleon_vendor_results")


def test_lcsolution_comma_export(shared_data):
    path = shared_data / COMMA
    assert detect_format(path) == "shimadzu"
    run = read_run(path)
    [tr] = run.traces  # AD2 and PDA hold no chromatogram section
    assert tr.name == "Detector A-Ch1" and tr.signal_unit == "mV"
    assert tr.channel.kind == "uv" and tr.channel.wavelength_nm == 215
    assert len(tr) == 1801 and tr.time_min[0] == 0 and tr.time_min[-1] == pytest.approx(15.0)
    assert np.allclose(np.diff(tr.time_min), 0.5 / 60, atol=1e-5)  # Interval(msec) 500
    # "0.00000,-132" (the row the tab-only reader stopped at) x Intensity Multiplier 0.001
    assert tr.signal[0] == pytest.approx(-0.132) and tr.signal[2] == pytest.approx(-0.052)
    assert run.metadata["Application Name"] == "LCsolution" and run.metadata["Sample Name"] == "0"
    peaks = run.reference_peaks
    assert len(peaks) == 14 and {p.area_unit for p in peaks} == {"uV*s"}
    main = max(peaks, key=lambda p: p.area)
    assert (main.rt_min, main.area, main.height, main.start_min, main.end_min, main.name, main.code) == \
        (8.063, 2838883.0, 74297.0, 7.442, 8.95, "RT8.063", "V")
    # the five highest vendor apexes are local maxima of the exported trace, within two samples
    for p in sorted(peaks, key=lambda p: -p.height)[:5]:
        i = int(np.argmin(abs(tr.time_min - p.rt_min)))
        assert np.argmax(tr.signal[i - 6: i + 7]) in range(4, 9), p.rt_min


def test_tab_export_is_not_taken_for_commas(shared_data):
    # the tab-separated LabSolutions export keeps its decimal commas and free-text commas
    run = read_run(shared_data / "shimadzu_labsolutions/Analysis_Lab_standards/STD_100.txt")
    assert len(run.traces) >= 2 and all(np.isfinite(t.signal).all() for t in run.traces)


def test_chromeleon_calibration_table(shared_data):
    path = shared_data / RESULTS / "blank M9 ISO_Calibration_Serotonin.txt"
    assert detect_format(path) == "chromeleon_results"
    run = read_run(path)
    assert run.traces == () and run.metadata["sheet"] == "Calibration"
    assert run.metadata["compound"] == "Serotonin (5-HT)" and run.metadata["channel"] == "UV_VIS_2"
    assert run.metadata["units"] == {"Concentration": "mg/L", "Area": "mAU*min", "Height": "mAU"}
    rows = run.metadata["results"]
    assert len(rows) == 14 and rows[0]["injection"] == "0,5 ug/ml ISO"
    r10 = next(r for r in rows if r["injection"] == "10 ug/ml ISO")
    assert (r10["no."], r10["calibration level"], r10["concentration"], r10["area"], r10["height"]) == \
        ("87", "05", 10.0, 0.269, 2.990)
    assert math.isnan(rows[0]["area"])  # "n.a.": no peak
    # reference peaks: the injections with a peak, each named, with its unit and injection
    assert len(run.reference_peaks) == 12
    pk = next(p for p in run.reference_peaks if p.injection == "1000 ug/ml HIGH")
    assert (pk.area, pk.height, pk.name, pk.trace, pk.area_unit) == \
        (19.605, 113.370, "Serotonin (5-HT)", "UV_VIS_2", "mAU*min")
    assert math.isnan(pk.rt_min)  # the sheet prints none


def test_every_chromeleon_result_table_opens(shared_data):
    files = sorted((shared_data / RESULTS).glob("*.txt"))
    assert len(files) == 11
    compounds = set()
    for f in files:
        run = read_run(f)
        assert run.format == "chromeleon_results" and run.metadata["results"], f.name
        compounds.add(run.metadata.get("compound"))
    assert len(compounds - {None}) == 10


def test_chromeleon_summary_table(shared_data):
    run = read_run(shared_data / RESULTS / "blank M9 ISO_Summary_All Conc.txt")
    assert run.metadata["sheet"] == "Summary" and run.metadata["units"] == {"amount": "mg/L"}
    assert run.metadata["Name"] == "20171013_HMP_C61_metk" and run.metadata["No. of Injections"] == "99"
    rows = run.metadata["results"]
    assert len(rows) == 99 and run.reference_peaks == ()
    one = next(r for r in rows if r["injection"] == "1 ug/ml ISO")
    assert one["Melatonin (UV_VIS_2)"] == 1.09 and one["Anthranilic Acid (UV_VIS_1)"] == 1.24
    assert one["Tryptamine (UV_VIS_2)"] == 1.0546
    assert math.isnan(rows[0]["Riboflavin (UV_VIS_2)"])


def test_chemstation_report_txt_keeps_area_units(shared_data):
    folder = shared_data / "agilent_chemstation/PyExpLabSys_NV-F0101.D"
    run = read_run(folder)
    units = {p.trace: p.area_unit for p in run.reference_peaks}
    assert units == {"FID1A": "pA*s", "FID2B": "pA*s", "TCD3C": "25 µV*s"}  # Report00.CSV leaves them blank
    h2 = next(p for p in run.reference_peaks if p.name == "H2")
    assert h2.area == pytest.approx(1809.60595703125) and h2.trace == "TCD3C"
    alone = read_run(folder / "Report.TXT")
    assert alone.format == "chemstation_report" and alone.metadata["area_units"] == {1: "pA*s", 2: "pA*s",
                                                                                     3: "25 µV*s"}
    assert [(p.rt_min, p.area, p.code) for p in alone.reference_peaks if p.name == "Ar"] == [(8.955, 7526.13818, "BB")]


def test_chemstation_report_txt_with_heights(shared_data):
    run = read_run(shared_data / "agilent_chemstation/chromConverter/RUTIN2.D_Report.TXT")
    assert len(run.metadata["signals"]) == 5 and set(run.metadata["area_units"].values()) == {"mAU*s"}
    first = run.reference_peaks[0]
    assert (first.rt_min, first.area, first.height, first.code) == (1.442, 831.18597, 22.49623, "BV")
    small = [p for p in run.reference_peaks if p.rt_min == 14.102][0]
    assert small.height == pytest.approx(0.648446)  # "6.48446e-1"
    total = sum(p.area for p in run.reference_peaks if p.trace.startswith("DAD1 A"))
    assert total == pytest.approx(1.88706e4, rel=1e-5)  # the report's own "Totals" line


def test_rainbow_ms_data_give_extracted_ion_chromatograms(tmp_path):
    # an MS data file as rainbow decodes an Agilent .ms or a Waters MS function: scans x m/z
    from rainbow.datafile import DataFile

    from thioquant.io.rainbow_io import _traces_from

    t = np.linspace(0.0, 3.0, 181)
    mzs = np.array([150.9, 151.0, 151.1, 152.0, 168.0])
    peak = np.exp(-0.5 * ((t - 1.45) / 0.03) ** 2)
    data = np.column_stack([10 * peak, 100 * peak, 7 * peak, np.ones_like(t), 50 * peak])
    df = DataFile(str(tmp_path / "MSD1.MS"), "MS", t, mzs, data, {})
    traces, _ = _traces_from([df], tmp_path, None, None, [(151.0, 0.15, "Da"), (168.0, 50, "ppm")])
    tic, x151, x168 = traces
    assert tic.channel.kind == "tic" and np.allclose(tic.signal, data.sum(axis=1))
    assert x151.channel.describe() == "XIC 151.0000 +/- 0.15 Da" and x151.metadata["mz_columns"] == 3
    assert np.allclose(x151.signal, 117 * peak)  # 150.9, 151.0 and 151.1, not 152.0
    assert np.allclose(x168.signal, 50 * peak) and x168.channel.tolerance_unit == "ppm"
    only_tic, _ = _traces_from([df], tmp_path, None, None)
    assert len(only_tic) == 1


_RESULTS_TEXT = (
    "Calibration\t\t\t\n\t\t\t\nCalibration Type\t\tLin\t\t\tCal mode\t\tn.a.\t\n\t\t\t\n"
    "Calibration Results\t\tn.a.\t\t\t\nNo. \tInjection Name\tCalibration\tConcentration\tArea \tHeight \n"
    "\t\tLevel\tmg/L\tmAU*min\tmAU\n\t\t\tSerotonin\tSerotonin\tSerotonin\n\t\t\tUV_VIS_2\tUV_VIS_2\tUV_VIS_2\n"
    "83\t1 ug/ml\t01\t1.0\t0.029\t0.329\n84\t2 ug/ml\t02\t2.0\tn.a.\tn.a.\n\t\t\t\t\t\n")
_REPORT_TEXT = (
    "Data File C:\\x.D\nSample Name: s\n=====================================================================\n"
    "                         Area Percent Report\n=====================================================================\n\n"
    "Signal 1: DAD1 A, Sig=254,8 Ref=off\n\nPeak RetTime Type  Width     Area      Height     Area  \n"
    "  #   [min]        [min]   [mAU*s]     [mAU]        %\n----|-------|----|-------|----------|----------|--------|\n"
    "   1   1.442 BV    0.4671  831.18597   22.49623   4.4047\n   2   2.348 BV    0.1901  496.12753   37.55152   2.6291\n"
    "Totals :                  1327.31350   60.04775\n")


@pytest.mark.parametrize("text", [_RESULTS_TEXT, _REPORT_TEXT], ids=["chromeleon_results", "chemstation_report"])
def test_new_text_readers_read_their_layout_and_fail_only_with_input_errors(tmp_path, text):
    # the layout itself reads; then every single-line deletion, truncation and cell mutation of it
    # gives a run or an InputError naming the file, never another exception
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from thioquant.errors import InputError

    p = tmp_path / "results.txt"
    p.write_text(text, encoding="utf-8")
    assert read_run(p).reference_peaks

    @settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(cut=st.integers(0, len(text)), drop=st.integers(0, text.count("\n")),
           junk=st.text(alphabet="0123456789.,-eE \tn.a|[]*%", max_size=6), at=st.integers(0, len(text)))
    def fuzz(cut, drop, junk, at):
        lines = text.splitlines(keepends=True)
        mutated = "".join(lines[:drop] + lines[drop + 1:])
        mutated = (mutated[:at] + junk + mutated[at:])[: max(cut, 40)]
        p.write_text(mutated, encoding="utf-8")
        try:
            run = read_run(p)
        except InputError as exc:
            assert str(p) in str(exc)
            return
        assert all(isinstance(pk.area, float) for pk in run.reference_peaks)

    fuzz()


def test_inspect_shows_a_result_table_as_strict_json_and_by_injection(shared_data):
    import json

    from click.testing import CliRunner

    from thioquant.cli import cli

    path = str(shared_data / RESULTS / "blank M9 ISO_Calibration_Serotonin.txt")
    res = CliRunner().invoke(cli, ["inspect", path, "--json"])
    assert res.exit_code == 0, res.output

    def no_constants(name):
        raise AssertionError(f"{name} in --json output")

    doc = json.loads(res.output, parse_constant=no_constants)  # "n.a." cells are null, not NaN
    assert doc["format"] == "chromeleon_results" and doc["metadata"]["results"][0]["area"] is None
    text = CliRunner().invoke(cli, ["inspect", path, "--max-peaks", "2"]).output
    assert "injection" in text and "1 ug/ml ISO" in text and "mAU*min" in text
