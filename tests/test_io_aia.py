"""ANDI/AIA netCDF: writer/reader round trip, real vendor files, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from thioquant.errors import InputError
from thioquant.io import detect_format, read_run
from thioquant.io.aia import read_aia, write_aia
from thioquant.model import Channel, ReferencePeak, Trace

AIA = "andi_cdf/cheminfo_netcdf-gcms/agilent-hplc.cdf"


def _trace() -> Trace:
    t = np.arange(0, 15.0, 0.2 / 60)
    y = 80.0 * np.exp(-0.5 * ((t - 5.3) / 0.05) ** 2) + 0.01 * np.sin(t)
    return Trace("UV342", t, y, "mAU", Channel("uv", wavelength_nm=342.0, bandwidth_nm=4.0))


def test_aia_round_trip(tmp_path: Path) -> None:
    tr = _trace()
    peaks = [
        ReferencePeak(
            rt_min=5.3,
            area=612.5,
            height=80.0,
            start_min=5.1,
            end_min=5.5,
            baseline_start=0.01,
            baseline_end=0.02,
            name="6-TG",
            area_unit="mAU*s",
            code="BB",
        ),
        ReferencePeak(rt_min=10.2, area=12.0, name="AMTCI", area_unit="mAU*s"),
    ]
    meta = {"sample_name": "CAL 3", "operator_name": "ana", "injection_volume_ul": 100.0}
    p = write_aia(tmp_path / "inj.cdf", tr, meta, peaks)
    assert detect_format(p) == "aia"
    run = read_run(p)
    assert run.format == "aia"
    got = run.traces[0]
    assert got.name == "UV342"
    assert got.channel == tr.channel
    assert got.signal_unit == "mAU"
    np.testing.assert_allclose(got.time_min, tr.time_min, rtol=1e-14, atol=1e-13)
    np.testing.assert_array_equal(got.signal, tr.signal)
    for k, v in meta.items():
        assert run.metadata[k] == v
    assert len(run.reference_peaks) == 2
    for a, b in zip(run.reference_peaks, peaks, strict=True):
        for f in (
            "rt_min",
            "area",
            "height",
            "start_min",
            "end_min",
            "baseline_start",
            "baseline_end",
        ):
            x, y = getattr(a, f), getattr(b, f)
            assert (math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, rel=1e-12), f
        assert (a.name, a.area_unit, a.code) == (b.name, b.area_unit, b.code)


def test_aia_writer_needs_one_trace(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="one Trace"):
        write_aia(tmp_path / "x.cdf", [_trace(), _trace()])  # type: ignore[arg-type]


def test_aia_truncated_and_corrupt(tmp_path: Path) -> None:
    p = write_aia(tmp_path / "inj.cdf", _trace())
    raw = p.read_bytes()
    for cut in (8, 100, len(raw) // 2, len(raw) - 10):
        bad = tmp_path / f"cut{cut}.cdf"
        bad.write_bytes(raw[:cut])
        with pytest.raises(InputError) as exc:
            read_run(bad)
        assert str(bad) in str(exc.value)
    wrong = tmp_path / "text.cdf"
    wrong.write_text("time,signal\n0,1\n")
    with pytest.raises(InputError, match="extension"):
        read_run(wrong)


def test_aia_nan_signal_is_rejected(tmp_path: Path) -> None:
    tr = _trace()
    y = tr.signal.copy()
    y[10] = np.inf
    p = write_aia(tmp_path / "nan.cdf", Trace("x", tr.time_min, y))
    with pytest.raises(InputError, match="non-finite"):
        read_aia(p)


# ---- real vendor files (skip without ../shared/data) ------------------------------------


def test_agilent_hplc_aia_vendor_peaks(shared_data: Path) -> None:
    run = read_run(shared_data / AIA)
    tr = run.traces[0]
    assert tr.channel.wavelength_nm == 254.0 and tr.channel.bandwidth_nm == 4.0
    assert tr.signal_unit == "mAU" and len(tr) == 4651
    # 32-bit header values decode to what the vendor wrote: 0.4 s, 0.012 s, 196.06514 s
    assert run.metadata["actual_sampling_interval_s"] == 0.4
    np.testing.assert_allclose(tr.time_min[:3] * 60, [0.012, 0.412, 0.812], rtol=1e-15)
    assert run.metadata["sample_name"] == "MW-2-6-6 IC 90"
    peaks = run.reference_peaks
    assert len(peaks) == 8
    assert all(pk.area_unit == "mAU*s" for pk in peaks)
    assert peaks[0].rt_min == 196.06514 / 60 and peaks[0].area == 556.765
    assert peaks[0].code == "BB"
    # vendor area = trapezoid over the vendor bounds minus the vendor baseline, in mAU*s
    close = 0
    for pk in peaks:
        m = (tr.time_min >= pk.start_min - 1e-9) & (tr.time_min <= pk.end_min + 1e-9)
        t = tr.time_min[m]
        base = pk.baseline_start + (pk.baseline_end - pk.baseline_start) * (t - pk.start_min) / (
            pk.end_min - pk.start_min
        )
        area_mau_s = np.trapezoid(tr.signal[m] - base, t * 60.0)
        close += abs(area_mau_s / pk.area - 1) < 1e-6
    assert close >= 6


@pytest.mark.parametrize(
    ("name", "kind", "npts", "npeaks", "unit"),
    [
        ("andi_cdf/cheminfo_netcdf-gcms/agilent-gcms-tic.cdf", "tic", 1645, 43, "counts*s"),
        ("andi_cdf/cheminfo_netcdf-gcms/agilent-hplc2.cdf", "tic", 1645, 86, "counts*s"),
        ("andi_cdf/chromConverterExtraTests/VARIAN1.CDF", "uv", 1302, 8, ""),
        ("andi_cdf/chromConverterExtraTests/HP_MS.CDF", "tic", 621, 0, ""),
    ],
)
def test_real_aia_files_open(
    shared_data: Path, name: str, kind: str, npts: int, npeaks: int, unit: str
) -> None:
    run = read_run(shared_data / name)
    assert run.format == "aia"
    assert run.traces[0].channel.kind == kind
    assert len(run.traces[0]) == npts
    assert len(run.reference_peaks) == npeaks
    assert all(pk.area_unit == unit for pk in run.reference_peaks)
    assert len(run.sha256 or "") == 64


def test_varian_peak_table(shared_data: Path) -> None:
    run = read_run(shared_data / "andi_cdf/chromConverterExtraTests/VARIAN1.CDF")
    assert run.traces[0].channel.wavelength_nm == 210.0
    pk = run.reference_peaks[0]
    assert pk.rt_min == pytest.approx(118.551285 / 60, rel=1e-6)
    assert pk.area == pytest.approx(59741.594, rel=1e-6)
    assert math.isnan(pk.height)  # Varian writes -1 for "no height"
    assert "unknown" in run.metadata["peak_area_unit_note"]


def test_andi_ms_xic(shared_data: Path) -> None:
    run = read_run(
        shared_data / "andi_cdf/chromConverterExtraTests/HP_MS.CDF", xic=[(28.0, 0.5, "Da")]
    )
    tic, x = run.traces
    assert x.channel.kind == "xic" and x.channel.tolerance_unit == "Da"
    assert np.all(x.signal <= tic.signal + 1e-6)
    assert x.signal.max() > 0


def test_aia_rewrite_of_a_vendor_file(shared_data: Path, tmp_path: Path) -> None:
    run = read_run(shared_data / AIA)
    tr = run.traces[0]
    p = write_aia(tmp_path / "copy.cdf", tr, dict(run.metadata), run.reference_peaks)
    again = read_run(p)
    got = again.traces[0]
    assert got.channel == tr.channel and got.signal_unit == tr.signal_unit
    np.testing.assert_allclose(got.time_min, tr.time_min, rtol=1e-14)
    np.testing.assert_array_equal(got.signal, tr.signal)
    assert again.metadata["sample_name"] == run.metadata["sample_name"]
    assert [pk.area for pk in again.reference_peaks] == [pk.area for pk in run.reference_peaks]
    assert all(pk.area_unit == "mAU*s" for pk in again.reference_peaks)
    assert again.reference_peaks[3].rt_min == pytest.approx(
        run.reference_peaks[3].rt_min, rel=1e-12
    )
