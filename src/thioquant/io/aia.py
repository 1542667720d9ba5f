"""ANDI/AIA chromatography netCDF (ASTM E1947), read and written with ``scipy.io.netcdf_file``.

AIA files store one detector trace (``ordinate_values``) sampled every
``actual_sampling_interval`` seconds from ``actual_delay_time``, or at the explicit times of
``raw_data_retention``, plus the vendor's peak table. Peak times are in ``retention_unit``
(seconds unless stated); they become minutes in :class:`~thioquant.model.ReferencePeak`, while
areas keep the vendor's unit (``detector_unit*s``, e.g. ``mAU*s``), recorded in ``area_unit``.
ANDI-MS files (ASTM E2077) are read too: their total-ion chromatogram, and XICs on request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.errors import InputError
from thioquant.io._common import channel_from_label, check_path, validate_xy
from thioquant.model import Channel, ReferencePeak, Run, Trace

_FILL = 9.0e36  # netCDF default fill for floats is 9.96921e36; anything this large is "missing"
_RET_FACTORS = {
    "seconds": 1 / 60,
    "second": 1 / 60,
    "s": 1 / 60,
    "sec": 1 / 60,
    "minutes": 1.0,
    "minute": 1.0,
    "min": 1.0,
    "milliseconds": 1 / 60000,
    "ms": 1 / 60000,
}


def _text(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("latin-1").replace("\x00", "").strip()
    if isinstance(v, np.ndarray) and v.size == 1:
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _open(path: Path) -> Any:
    from scipy.io import netcdf_file

    try:
        return netcdf_file(str(path), "r", mmap=False)
    except Exception as exc:  # scipy raises TypeError/ValueError/struct.error/... on bad bytes
        raise InputError(
            f"not a readable netCDF-3 file ({type(exc).__name__}: {str(exc)[:120]})", path=path
        ) from None


# Bulk arrays kept as stored; every other 32-bit float variable is decoded to the shortest
# decimal that rounds to it (0.4000000059604645 -> 0.4), the value the vendor wrote and prints.
_BULK = frozenset({"ordinate_values", "intensity_values", "mass_values", "total_intensity"})


def _var(nc: Any, name: str, path: Path) -> np.ndarray | None:
    v = nc.variables.get(name)
    if v is None:
        return None
    try:
        data = np.array(v.data, copy=True)
    except Exception as exc:
        raise InputError(f"variable '{name}' is unreadable ({exc})", path=path) from None
    if data.dtype.kind in "fiu":
        with np.errstate(invalid="ignore", over="ignore"):  # corrupt bytes may not cast cleanly
            if data.dtype.itemsize == 4 and data.dtype.kind == "f" and name not in _BULK:
                finite = np.isfinite(data)
                short = np.full(data.shape, np.nan)
                short[finite] = data[finite].astype(str).astype(float)
                data = short
            else:
                data = data.astype(float)
            data[~(np.abs(data) <= _FILL)] = np.nan
    return data


def _scalar(nc: Any, name: str, path: Path) -> float:
    d = _var(nc, name, path)
    if d is None or d.size == 0 or d.dtype.kind == "S":
        return math.nan
    return float(d.ravel()[0])


def _strings(nc: Any, name: str, n: int, path: Path) -> list[str]:
    d = _var(nc, name, path)
    if d is None or d.dtype.kind != "S":
        return [""] * n
    if d.ndim == 1:
        d = d.reshape(1, -1) if n == 1 else d.reshape(-1, 1)
    out = [b"".join(row).decode("latin-1").replace("\x00", "").strip() for row in d]
    return (out + [""] * n)[:n]


def read_aia(
    path: str | Path,
    *,
    xic: Sequence[tuple[float, float, str]] | None = None,
) -> Run:
    """Read an ANDI/AIA chromatography (or ANDI-MS) netCDF file.

    Parameters
    ----------
    path : str or Path
        The ``.cdf`` file.
    xic : sequence of (mz, tolerance, unit), optional
        For ANDI-MS files: extracted-ion chromatograms to build from the scans (``"ppm"``/``"Da"``).

    Returns
    -------
    Run
        One detector trace (time in minutes, ``signal_unit`` = ``detector_unit``), the global
        attributes as metadata, and the vendor peak table as ``reference_peaks``.
    """
    p = check_path(path)
    nc = _open(p)
    try:
        attrs = {k: _text(v) for k, v in nc._attributes.items()}
        meta = {k: v for k, v in attrs.items() if v not in ("", None)}
        if "ordinate_values" not in nc.variables:
            if "total_intensity" in nc.variables and "scan_acquisition_time" in nc.variables:
                return _read_andi_ms(nc, p, meta, xic)
            raise InputError(
                "netCDF file without 'ordinate_values': not an AIA chromatogram", path=p
            )
        if xic:
            raise InputError("xic needs an ANDI-MS file with mass spectra", path=p)
        y = _var(nc, "ordinate_values", p)
        assert y is not None
        if y.dtype.kind not in "fiu":
            raise InputError(
                f"'ordinate_values' holds {'text' if y.dtype.kind in 'SU' else y.dtype}, not numbers",
                path=p,
            )
        y = y.ravel()
        ret_unit = str(attrs.get("retention_unit", "seconds") or "seconds").lower()
        factor = _RET_FACTORS.get(ret_unit)
        if factor is None:
            raise InputError(f"unknown retention_unit '{ret_unit}'", path=p)
        rt = _var(nc, "raw_data_retention", p)
        if rt is not None and rt.dtype.kind not in "fiu":
            raise InputError("'raw_data_retention' holds text, not numbers", path=p)
        if rt is not None and rt.size == y.size and y.size > 0:
            t = rt.ravel() * factor
        else:
            if rt is not None and rt.size and y.size:
                _retention_mismatch(nc, p, rt.ravel(), y.size, meta)
            dt = _scalar(nc, "actual_sampling_interval", p)
            t0 = _scalar(nc, "actual_delay_time", p)
            if not math.isfinite(dt) or dt <= 0:
                raise InputError(
                    "no usable 'actual_sampling_interval' and no 'raw_data_retention'", path=p
                )
            t = ((0.0 if not math.isfinite(t0) else t0) + dt * np.arange(y.size)) * factor
            meta["actual_sampling_interval_s"] = dt * factor * 60.0
        for key in (
            "actual_run_time_length",
            "actual_delay_time",
            "detector_maximum_value",
            "detector_minimum_value",
        ):
            v = _scalar(nc, key, p)
            if math.isfinite(v):
                meta[key] = v
        unit = str(attrs.get("detector_unit", "") or "")
        det = str(attrs.get("detector_name", "") or "")
        own = str(meta.pop("thioquant_channel", "") or "")  # written by write_aia
        label = channel_from_label(own or det) if (own or det) else {"kind": "detector"}
        if label["kind"] == "detector":
            for alt in ("detector_method_comments", "detection_method_name"):
                guess = channel_from_label(str(attrs.get(alt, "") or ""))
                if guess["kind"] != "detector":
                    label = guess
                    break
        name = det or "signal"
        t, y = validate_xy(t, y, path=p, name=name)
        trace = Trace(name=name, time_min=t, signal=y, signal_unit=unit, channel=Channel(**label))
        area_unit = str(attrs.get("peak_area_unit", "") or "")
        peaks = _peak_table(nc, p, factor, name, area_unit)
        if peaks and not area_unit:
            area_unit = _infer_area_unit(trace, peaks, factor, unit, ret_unit)
            if area_unit:
                peaks = tuple(replace(pk, area_unit=area_unit) for pk in peaks)
            else:
                meta["peak_area_unit_note"] = (
                    "vendor areas could not be matched to the trace: area unit unknown"
                )
        return Run(
            traces=(trace,), source=str(p), format="aia", metadata=meta, reference_peaks=peaks
        )
    finally:
        nc.close()


def _retention_mismatch(nc: Any, p: Path, rt: np.ndarray, n: int, meta: dict[str, Any]) -> None:
    """A ``raw_data_retention`` whose length is not ``ordinate_values``'s.

    ASTM E1947 dimensions both by ``point_number``: the n-th time belongs to the n-th value, so
    arrays of different lengths cannot be paired, and the explicit times are not used. The times
    are then the ones the standard's required ``actual_delay_time`` and
    ``actual_sampling_interval`` give, but only when the retention times that are there agree
    with them (a file cut short, or written with a wrong dimension); otherwise nobody can say
    when a point was sampled, and the file is refused.
    """
    dt = _scalar(nc, "actual_sampling_interval", p)
    t0 = _scalar(nc, "actual_delay_time", p)
    t0 = 0.0 if not math.isfinite(t0) else t0
    what = f"'raw_data_retention' has {rt.size} points but 'ordinate_values' {n}"
    if not math.isfinite(dt) or dt <= 0:
        raise InputError(f"{what}, and no usable 'actual_sampling_interval' to time them", path=p)
    m = min(rt.size, n)
    regular = t0 + dt * np.arange(m)
    if not np.allclose(rt[:m], regular, rtol=0, atol=max(1e-6, 0.01 * dt), equal_nan=False):
        raise InputError(f"{what}, and its times do not follow 'actual_delay_time' + i x "
                         "'actual_sampling_interval': the sampling times are unknown", path=p)
    notes = list(meta.get("reader_notes", []))
    notes.append(f"{what} (ASTM E1947 dimensions both by point_number): the retention array is "
                 f"ignored and times are taken from actual_delay_time + i x actual_sampling_interval "
                 f"({dt:g}), which its {m} times agree with")
    meta["reader_notes"] = notes


def _infer_area_unit(
    trace: Trace, peaks: tuple[ReferencePeak, ...], factor: float, unit: str, ret_unit: str
) -> str:
    """The unit of the vendor areas, or '' when they cannot be confirmed from the trace.

    AIA does not state the area unit. By convention it is detector unit x retention unit;
    we accept that only when trapezoids over the vendor's own bounds, minus its baseline,
    reproduce the vendor areas (median ratio within 2 %). Varian files, for one, do not.
    """
    ratios = []
    t, y = trace.time_min, trace.signal
    for pk in peaks:
        if not (math.isfinite(pk.start_min) and math.isfinite(pk.end_min) and pk.area > 0):
            continue
        m = (t >= pk.start_min - 1e-9) & (t <= pk.end_min + 1e-9)
        if m.sum() < 3:
            continue
        tt, yy = t[m], y[m]
        b0 = pk.baseline_start if math.isfinite(pk.baseline_start) else yy[0]
        b1 = pk.baseline_end if math.isfinite(pk.baseline_end) else yy[-1]
        base = b0 + (b1 - b0) * (tt - tt[0]) / (tt[-1] - tt[0])
        area = float(np.sum(0.5 * (yy[1:] + yy[:-1] - base[1:] - base[:-1]) * np.diff(tt)))
        ratios.append(area / factor / pk.area)
    if not ratios or not unit:
        return ""
    if abs(float(np.median(ratios)) - 1.0) > 0.02:
        return ""
    return f"{unit}*{'s' if factor == 1 / 60 else 'min' if factor == 1.0 else ret_unit}"


def _peak_table(
    nc: Any, p: Path, factor: float, trace: str, area_unit: str
) -> tuple[ReferencePeak, ...]:
    rt = _var(nc, "peak_retention_time", p)
    if rt is None or rt.size == 0:
        return ()
    n = rt.size

    def col(name: str, scale: float = 1.0) -> np.ndarray:
        d = _var(nc, name, p)
        if d is None or d.size != n or d.dtype.kind == "S":
            return np.full(n, np.nan)
        return d.ravel() * scale

    area = col("peak_area")
    height = col("peak_height")
    if np.all(height == -1.0):  # Varian writes -1 where it has no height
        height = np.full(n, np.nan)
    start, end = col("peak_start_time", factor), col("peak_end_time", factor)
    b0, b1 = col("baseline_start_value"), col("baseline_stop_value")
    names = _strings(nc, "peak_name", n, p)
    c0 = _strings(nc, "peak_start_detection_code", n, p)
    c1 = _strings(nc, "peak_stop_detection_code", n, p)
    out = []
    for i in range(n):
        if not math.isfinite(rt[i]):
            continue
        out.append(
            ReferencePeak(
                rt_min=float(rt[i] * factor),
                area=float(area[i]),
                height=float(height[i]),
                start_min=float(start[i]),
                end_min=float(end[i]),
                baseline_start=float(b0[i]),
                baseline_end=float(b1[i]),
                name=names[i],
                trace=trace,
                area_unit=area_unit,
                code=(c0[i] + c1[i]).strip(),
            )
        )
    return tuple(out)


def _read_andi_ms(nc: Any, p: Path, meta: dict[str, Any], xic: Any) -> Run:
    t_s = _var(nc, "scan_acquisition_time", p)
    tic = _var(nc, "total_intensity", p)
    assert t_s is not None and tic is not None
    t = t_s.ravel() / 60.0
    t, y = validate_xy(t, tic.ravel(), path=p, name="TIC")
    traces = [
        Trace(name="TIC", time_min=t, signal=y, signal_unit="counts", channel=Channel(kind="tic"))
    ]
    if xic:
        mz = _var(nc, "mass_values", p)
        inten = _var(nc, "intensity_values", p)
        idx = _var(nc, "scan_index", p)
        cnt = _var(nc, "point_count", p)
        if mz is None or inten is None or idx is None or cnt is None:
            raise InputError("ANDI-MS file without mass_values/intensity_values/scan_index", path=p)
        for item in xic:
            try:
                target, tol, unit = float(item[0]), float(item[1]), str(item[2])
            except (TypeError, ValueError, IndexError):
                raise InputError(f"bad xic spec {item!r}", path=p) from None
            if unit.lower() not in ("ppm", "da"):
                raise InputError(f"bad xic tolerance unit '{unit}' (use 'ppm' or 'Da')", path=p)
            half = target * tol * 1e-6 if unit.lower() == "ppm" else tol
            sel = np.abs(mz - target) <= half
            # sum the selected points scan by scan
            scan_of_point = np.repeat(np.arange(idx.size), np.nan_to_num(cnt).astype(int))
            if scan_of_point.size != mz.size:
                raise InputError("scan_index/point_count do not match mass_values", path=p)
            ys = np.bincount(
                scan_of_point[sel], weights=np.nan_to_num(inten[sel]), minlength=idx.size
            )
            traces.append(
                Trace(
                    name=f"XIC {target:g}",
                    time_min=t,
                    signal=ys,
                    signal_unit="counts",
                    channel=Channel(
                        kind="xic",
                        precursor_mz=target,
                        tolerance=tol,
                        tolerance_unit="ppm" if unit.lower() == "ppm" else "Da",
                    ),
                )
            )
    return Run(traces=tuple(traces), source=str(p), format="aia", metadata=meta)


def _attr_value(v: Any) -> Any:
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int | float | np.integer | np.floating):
        return v
    return str(v).encode("latin-1", errors="replace")


# Attributes write_aia derives from the trace itself; metadata from a read file must not
# override them (a file read in minutes is written in seconds).
_WRITER_OWNED = frozenset(
    {
        "retention_unit",
        "detector_unit",
        "detector_name",
        "thioquant_channel",
        "peak_area_unit",
        "dataset_completeness",
        "aia_template_revision",
        "netcdf_revision",
    }
)


def write_aia(
    path: str | Path,
    trace: Trace,
    metadata: Mapping[str, Any] | None = None,
    reference_peaks: Iterable[ReferencePeak] = (),
) -> Path:
    """Write one trace (and optionally a peak table) as an ANDI/AIA chromatography netCDF file.

    Times are written in seconds (``retention_unit = "seconds"``) as 64-bit
    ``raw_data_retention`` next to ``actual_sampling_interval``, and signals as 64-bit
    ``ordinate_values``, so :func:`read_aia` gives the trace back to float64 rounding.
    ``metadata`` entries become global attributes (e.g. ``sample_name``, ``operator_name``,
    ``injection_date_time_stamp``). Peak times in ``reference_peaks`` are in minutes and are
    written in seconds; areas are written as given, their unit in the ``peak_area_unit``
    attribute.

    Returns
    -------
    Path
        The path written.
    """
    from scipy.io import netcdf_file

    if not isinstance(trace, Trace):
        raise InputError(
            "write_aia writes one Trace (AIA holds a single detector trace)", path=path
        )
    p = Path(path)
    peaks = list(reference_peaks)
    t_s = np.asarray(trace.time_min, dtype=float) * 60.0
    y = np.asarray(trace.signal, dtype=float)
    ch = trace.channel
    attrs: dict[str, Any] = {
        "dataset_completeness": "C1+C2",
        "aia_template_revision": "1.0",
        "netcdf_revision": "2.3",
        "languages": "English",
        "separation_experiment_type": "liquid chromatography",
        "detector_name": trace.name,
        "detector_unit": trace.signal_unit,
        "retention_unit": "seconds",
    }
    if ch.kind != "detector":
        from thioquant.io.delimited import column_label

        attrs["thioquant_channel"] = column_label(Trace(trace.name, [], [], "", ch))
    for k, v in (metadata or {}).items():
        if v is None:
            continue
        key = "".join(c if c.isalnum() or c == "_" else "_" for c in str(k)) or "_"
        if key in _WRITER_OWNED:
            continue  # these describe the data as written here, not as it was read
        if isinstance(v, dict | list | tuple):
            import json

            v = json.dumps(v, default=str)
        attrs[key] = v
    area_units = {pk.area_unit for pk in peaks if pk.area_unit}
    if area_units:
        attrs["peak_area_unit"] = sorted(area_units)[0]
    try:
        with netcdf_file(str(p), "w", version=1) as nc:
            for k, v in attrs.items():
                setattr(nc, k, _attr_value(v))
            for n in (2, 4, 8, 16, 32, 64, 255):
                nc.createDimension(f"_{n}_byte_string", n)
            nc.createDimension("point_number", y.size)
            nc.createDimension("error_number", 1)
            err = nc.createVariable("error_log", "c", ("error_number", "_64_byte_string"))
            err[:] = np.zeros((1, 64), dtype="S1")

            def scalar(name: str, value: float) -> None:
                v = nc.createVariable(name, "f", ())
                # Variable.assignValue fails on 0-d variables in scipy 1.1x: write in place
                v.data[()] = np.float32(value if math.isfinite(value) else 0.0)

            scalar("detector_maximum_value", float(y.max()) if y.size else 0.0)
            scalar("detector_minimum_value", float(y.min()) if y.size else 0.0)
            scalar("actual_run_time_length", float(t_s[-1] - t_s[0]) if y.size else 0.0)
            dt = float(np.median(np.diff(t_s))) if y.size > 1 else 0.0
            scalar("actual_sampling_interval", dt)
            scalar("actual_delay_time", float(t_s[0]) if y.size else 0.0)
            ov = nc.createVariable("ordinate_values", "d", ("point_number",))
            ov[:] = y
            uniform = y.size > 2 and np.allclose(np.diff(t_s), dt, rtol=1e-6, atol=0)
            ov.uniform_sampling_flag = b"Y" if uniform else b"N"
            rt = nc.createVariable("raw_data_retention", "d", ("point_number",))
            rt[:] = t_s
            if peaks:
                _write_peaks(nc, peaks)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"cannot write AIA file ({type(exc).__name__}: {exc})", path=p) from None
    return p


def _write_peaks(nc: Any, peaks: list[ReferencePeak]) -> None:
    n = len(peaks)
    nc.createDimension("peak_number", n)

    def fvar(name: str, values: list[float], scale: float = 1.0) -> None:
        v = nc.createVariable(name, "f", ("peak_number",))
        arr = np.array(values, dtype=float) * scale
        v[:] = np.where(np.isfinite(arr), arr, 9.96921e36).astype(np.float32)

    def dvar(name: str, values: list[float], scale: float = 1.0) -> None:
        # 64-bit where the reader must get the value back exactly
        v = nc.createVariable(name, "d", ("peak_number",))
        arr = np.array(values, dtype=float) * scale
        v[:] = np.where(np.isfinite(arr), arr, 9.96921e36)

    def svar(name: str, values: list[str], width: int) -> None:
        v = nc.createVariable(name, "c", ("peak_number", f"_{width}_byte_string"))
        arr = np.zeros((n, width), dtype="S1")
        for i, s in enumerate(values):
            b = s.encode("latin-1", errors="replace")[:width]
            arr[i, : len(b)] = np.frombuffer(b, dtype="S1")
        v[:] = arr

    dvar("peak_retention_time", [pk.rt_min for pk in peaks], 60.0)
    dvar("peak_start_time", [pk.start_min for pk in peaks], 60.0)
    dvar("peak_end_time", [pk.end_min for pk in peaks], 60.0)
    dvar("peak_area", [pk.area for pk in peaks])
    dvar("peak_height", [pk.height for pk in peaks])
    fvar("baseline_start_time", [pk.start_min for pk in peaks], 60.0)
    dvar("baseline_start_value", [pk.baseline_start for pk in peaks])
    fvar("baseline_stop_time", [pk.end_min for pk in peaks], 60.0)
    dvar("baseline_stop_value", [pk.baseline_end for pk in peaks])
    svar("peak_name", [pk.name for pk in peaks], 32)
    svar("peak_start_detection_code", [pk.code[:1] for pk in peaks], 2)
    svar("peak_stop_detection_code", [pk.code[1:2] for pk in peaks], 2)
