"""Agilent ChemStation/OpenLab and Waters MassLynx binaries through rainbow-api.

rainbow decodes the vendor binaries; this module turns its DataFiles into traces: one per
single-channel file (``.ch``, Waters ``_CHROnnn.DAT``), and for a diode-array cube (``.uv``)
one per requested wavelength, averaged over the requested bandwidth the way ChemStation
builds a signal (``Sig=342,4`` is the mean of 340-344 nm).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.errors import InputError
from thioquant.io._common import channel_from_label, check_path, validate_xy
from thioquant.model import Channel, Run, Trace

_BW_AT = re.compile(r"@\s*(\d+(?:\.\d+)?)\s*nm", re.I)  # Waters "PDA Ch1 220nm@4.8nm"


def _clean_meta(meta: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in meta.items():
        if v is None or v == "":
            continue
        out[str(k)] = v.item() if isinstance(v, np.generic) else v
    return out


def _rb_error(path: Path, exc: BaseException) -> InputError:
    msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
    return InputError(f"rainbow could not decode this file ({msg})", path=path)


def _single_channel(df: Any, stem: str, path: Path) -> Trace:
    meta = _clean_meta(dict(df.metadata))
    unit = str(meta.pop("unit", "") or "")
    signal = str(meta.get("signal") or meta.get("description") or "")
    if df.detector == "UV":
        wl = meta.get("wavelength")
        if wl is None:
            lab = df.ylabels[0] if df.ylabels.size else ""
            try:
                wl = float(lab)
            except (TypeError, ValueError):
                wl = channel_from_label(signal).get("wavelength_nm")
        bw = meta.get("bandwidth")
        if bw is None:
            m = _BW_AT.search(signal)
            bw = float(m.group(1)) if m else None
        ch = Channel(
            kind="uv",
            wavelength_nm=None if wl is None else float(wl),
            bandwidth_nm=None if bw is None else float(bw),
        )
    else:
        ch = Channel(kind="detector")
    if df.detector:
        meta["detector"] = df.detector
    t = np.asarray(df.xlabels, dtype=float)
    n = df.data.shape[0]
    if t.size != n and t.size >= 2:
        # rainbow sizes the time axis of double-delta (v181) files from the file length, which
        # can be off by a few points; first and last times are right, so respace them.
        meta["time_axis_note"] = f"time axis respaced to {n} points (rainbow gave {t.size})"
        t = np.linspace(t[0], t[-1], n)
    t, y = validate_xy(
        t,
        np.asarray(df.data[:, 0], dtype=float),
        path=path,
        name=stem,
    )
    return Trace(name=stem, time_min=t, signal=y, signal_unit=unit, channel=ch, metadata=meta)


def _cube_traces(
    df: Any, stem: str, path: Path, wavelengths: Sequence[float] | None, bandwidth_nm: float | None
) -> list[Trace]:
    meta = _clean_meta(dict(df.metadata))
    unit = str(meta.pop("unit", "") or "")
    try:
        wls = np.asarray(df.ylabels, dtype=float)
    except (TypeError, ValueError):
        raise InputError("diode-array file with non-numeric wavelength labels", path=path) from None
    t = np.asarray(df.xlabels, dtype=float)
    data = np.asarray(df.data, dtype=float)
    out = []
    if wavelengths is None:
        for j, wl in enumerate(wls):
            name = f"{stem} {wl:g} nm"
            tt, yy = validate_xy(t, data[:, j], path=path, name=name)
            out.append(
                Trace(
                    name=name,
                    time_min=tt,
                    signal=yy,
                    signal_unit=unit,
                    channel=Channel(kind="uv", wavelength_nm=float(wl)),
                    metadata=meta,
                )
            )
        return out
    bw = 0.0 if bandwidth_nm is None else float(bandwidth_nm)
    for wl in wavelengths:
        wl = float(wl)
        sel = np.abs(wls - wl) <= bw / 2 + 1e-9
        if not sel.any():
            raise InputError(
                f"wavelength {wl:g} nm (bandwidth {bw:g}) not in the diode-array range "
                f"{wls.min():g}-{wls.max():g} nm (step {np.median(np.diff(wls)):g} nm)",
                path=path,
            )
        name = f"{stem} {wl:g} nm"
        tt, yy = validate_xy(t, data[:, sel].mean(axis=1), path=path, name=name)
        m = dict(meta, bandwidth_columns=int(sel.sum()))
        out.append(
            Trace(
                name=name,
                time_min=tt,
                signal=yy,
                signal_unit=unit,
                channel=Channel(kind="uv", wavelength_nm=wl, bandwidth_nm=bw or None),
                metadata=m,
            )
        )
    return out


def _ms_tic(df: Any, stem: str, path: Path) -> Trace:
    t = np.asarray(df.xlabels, dtype=float)
    y = np.asarray(df.data, dtype=float).sum(axis=1)
    t, y = validate_xy(t, y, path=path, name=f"{stem} TIC")
    return Trace(
        name=f"{stem} TIC",
        time_min=t,
        signal=y,
        signal_unit="counts",
        channel=Channel(kind="tic"),
        metadata=_clean_meta(dict(df.metadata)),
    )


def _ms_xics(df: Any, stem: str, path: Path, xic: Sequence[tuple[float, float, str]]) -> list[Trace]:
    """Extracted-ion chromatograms from an MS data file that rainbow decoded (an Agilent ``.ms``,
    a Waters MS scan or SIR function): the intensities of the m/z columns within the tolerance
    of each target, summed per scan, as ``read_mzml`` does for full-scan mzML."""
    t = np.asarray(df.xlabels, dtype=float)
    mzs = np.asarray(df.ylabels, dtype=float)
    data = np.asarray(df.data, dtype=float)
    out = []
    for item in xic:
        try:
            mz, tol, unit = float(item[0]), float(item[1]), str(item[2])
        except (TypeError, ValueError, IndexError):
            raise InputError(f"bad xic spec {item!r}: expected (mz, tolerance, 'ppm'|'Da')", path=path) from None
        if unit.lower() == "ppm":
            half, unit = mz * tol * 1e-6, "ppm"
        elif unit.lower() == "da":
            half, unit = tol, "Da"
        else:
            raise InputError(f"bad xic tolerance unit '{unit}' (use 'ppm' or 'Da')", path=path)
        cols = np.flatnonzero(np.abs(mzs - mz) <= half)
        name = f"{stem} XIC {mz:g}"
        tt, y = validate_xy(t, data[:, cols].sum(axis=1), path=path, name=name)
        out.append(Trace(name=name, time_min=tt, signal=y, signal_unit="counts",
                         channel=Channel(kind="xic", precursor_mz=mz, tolerance=tol, tolerance_unit=unit),
                         metadata={"mz_columns": int(cols.size)}))
    return out


def _traces_from(
    datafiles: Sequence[Any],
    path: Path,
    wavelengths: Sequence[float] | None,
    bandwidth_nm: float | None,
    xic: Sequence[tuple[float, float, str]] | None = None,
) -> tuple[list[Trace], dict[str, Any]]:
    traces: list[Trace] = []
    notes: dict[str, Any] = {}
    has_single_uv = any(df.detector == "UV" and df.data.shape[1] == 1 for df in datafiles)
    for df in datafiles:
        stem = Path(df.name).stem
        if df.data.ndim != 2 or df.data.shape[0] == 0:
            raise InputError(f"'{df.name}' holds no data points", path=path)
        if df.detector == "MS":
            traces.append(_ms_tic(df, stem, path))
            if xic:
                traces.extend(_ms_xics(df, stem, path, xic))
        elif df.data.shape[1] == 1:
            traces.append(_single_channel(df, stem, path))
        elif wavelengths is None and has_single_uv:
            # A folder with ready-made signals: list the cube without expanding it.
            wls = np.asarray(df.ylabels, dtype=float)
            notes[f"{df.name}"] = (
                f"diode-array spectra {wls.min():g}-{wls.max():g} nm, {wls.size} wavelengths; "
                "pass wavelengths=[...] to extract traces"
            )
        else:
            traces.extend(_cube_traces(df, stem, path, wavelengths, bandwidth_nm))
    return traces, notes


def read_agilent(
    path: str | Path,
    *,
    wavelengths: Sequence[float] | None = None,
    bandwidth_nm: float | None = 4.0,
    xic: Sequence[tuple[float, float, str]] | None = None,
) -> Run:
    """Read an Agilent ``.D`` folder, a single ``.ch``/``.uv`` file or an OpenLab ``.dx`` archive.

    Parameters
    ----------
    path : str or Path
        The folder or file.
    wavelengths : sequence of float, optional
        Wavelengths (nm) to extract from diode-array spectra (``.uv``). Without it a lone
        ``.uv`` file yields every wavelength it holds, and a folder lists its spectra in the
        metadata next to its ready-made ``.ch`` signals.
    bandwidth_nm : float, optional
        Full width of the band averaged around each wavelength (ChemStation's ``Sig=342,4``);
        ``None`` or 0 takes the single nearest recorded wavelength.
    xic : sequence of (mz, tolerance, unit), optional
        Extracted-ion chromatograms from the MS data files (``.ms``) besides their TIC.

    Returns
    -------
    Run
        Traces named after their file (``DAD1A``, ``DAD1 342 nm``, ``MSD1 XIC 168``), time in minutes.
    """
    import rainbow as rb
    from rainbow.agilent import chemstation as cs

    p = check_path(path, allow_dir=True)
    meta: dict[str, Any] = {}
    try:
        if p.is_dir() or p.suffix.lower() == ".dx" or _is_zip(p):
            if p.is_dir():
                for f in p.iterdir():
                    if f.suffix.lower() == ".ch":
                        _check_ch_length(f)
                dd = rb.read(str(p), format="agilent")
            else:
                from rainbow.agilent import openlab

                dd = openlab.read(str(p))
            datafiles = list(dd.datafiles)
            meta.update(_clean_meta(dict(dd.metadata)))
        else:
            with p.open("rb") as fh:
                head = fh.read(4)
            version = head[1 : 1 + head[0]].decode("ascii", "replace") if head else ""
            if p.suffix.lower() == ".uv" or version in ("131", "31"):
                df = cs.parse_uv(str(p))
            else:
                _check_ch_length(p)
                df = cs.parse_ch(str(p))
            if df is None and version in ("8", "81"):
                return _read_ch81(p, version)
            if df is None and version in ("30", "130", "179", "181", "31", "131"):
                raise InputError(f"ChemStation v{version} file could not be decoded", path=p)
            if df is None:
                raise InputError(
                    f"ChemStation file version '{version}' is not supported by rainbow "
                    "(supported .ch: 30, 130, 179, 181; .uv: 131)",
                    path=p,
                )
            datafiles = [df]
            meta.update({k: v for k, v in _clean_meta(dict(df.metadata)).items() if k != "unit"})
    except InputError:
        raise
    except Exception as exc:  # rainbow raises bare Exception/AssertionError/struct.error
        raise _rb_error(p, exc) from None
    if not datafiles:
        raise InputError("no chromatogram files (.ch, .uv, .ms) found", path=p)
    traces, notes = _traces_from(datafiles, p, wavelengths, bandwidth_nm, xic)
    if notes:
        meta["spectra"] = notes
    if not traces:
        raise InputError("no traces could be built from this folder", path=p)
    peaks, note = chemstation_reference_peaks(p, traces) if p.is_dir() else ((), "")
    if note:
        meta["reference_peaks_note"] = note
    return Run(
        traces=tuple(traces), source=str(p), format="agilent", metadata=meta, reference_peaks=peaks
    )


def _check_ch_length(p: Path) -> None:
    """Reject a visibly truncated ChemStation ``.ch`` file (rainbow decodes what is there).

    Checks only what the real files in ../shared/data all satisfy: v30/v130 store the file
    length in 512-byte blocks at 0x116; v179 stores 8-byte values after a 0x1800 header, with
    the point count at 0x116 in the "Mustang" layout (0x108 == 9).
    """
    import struct

    size = p.stat().st_size
    with p.open("rb") as fh:
        head = fh.read(0x11A)
    if len(head) < 0x11A or not (1 <= head[0] <= 3):
        raise InputError("ChemStation file truncated inside its header", path=p)
    version = head[1 : 1 + head[0]].decode("ascii", "replace")
    layout, count = (
        struct.unpack(">i", head[0x108:0x10C])[0],
        struct.unpack(">i", head[0x116:0x11A])[0],
    )
    short = ""
    if version in ("30", "130") and count > 0 and size <= (count - 1) * 512:
        short = f"header says {count} blocks of 512 bytes, file has {size} bytes"
    elif version == "179" and layout == 9 and size < 0x1800 + 8 * count:
        short = f"header says {count} points, file has room for {max(size - 0x1800, 0) // 8}"
    elif version == "179" and layout != 9 and (size < 0x1800 or (size - 0x1800) % 8):
        short = f"{size} bytes is not a whole number of 8-byte values after the header"
    if short:
        raise InputError(f"ChemStation v{version} file is truncated ({short})", path=p)


def _pascal(raw: bytes, offset: int) -> str:
    n = raw[offset] if offset < len(raw) else 0
    return raw[offset + 1 : offset + 1 + n].decode("latin-1", "replace").strip()


def _read_ch81(p: Path, version: str) -> Run:
    """ChemStation GC ``.ch`` version 8/81 (double-delta encoded), which rainbow does not read.

    Header layout as documented by the Aston/entab projects: start and end times (float32,
    ms) at 0x11A, data from 0x400. The file stores no scaling factor: values are raw
    detector counts.
    """
    import struct

    from rainbow.agilent.chemstation import decode_double_delta

    raw = p.read_bytes()
    if len(raw) < 0x402:
        raise InputError(f"ChemStation v{version} file truncated before its data", path=p)
    t0, t1 = struct.unpack(">ff", raw[0x11A:0x122])
    try:
        with p.open("rb") as fh:
            y = np.asarray(decode_double_delta(fh, 0x400), dtype=float)
    except struct.error:
        raise InputError(f"ChemStation v{version} data block is truncated", path=p) from None
    if y.size < 2 or not (math.isfinite(t0) and math.isfinite(t1)) or t1 <= t0:
        raise InputError(f"ChemStation v{version} header has no usable time range", path=p)
    t = np.linspace(t0, t1, y.size) / 60000.0
    t, y = validate_xy(t, y, path=p, name=p.stem)
    meta = {
        "sample": _pascal(raw, 0x18),
        "operator": _pascal(raw, 0x94),
        "date": _pascal(raw, 0xB2),
        "instrument": _pascal(raw, 0xD0),
        "method": _pascal(raw, 0xE4),
        "version": version,
        "note": "v8/81 files carry no scaling factor: signal in raw detector counts",
    }
    meta = {k: v for k, v in meta.items() if v}
    tr = Trace(name=p.stem, time_min=t, signal=y, signal_unit="counts", channel=Channel())
    return Run(traces=(tr,), source=str(p), format="agilent", metadata=meta)


def _is_zip(p: Path) -> bool:
    with p.open("rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def read_waters(
    path: str | Path,
    *,
    wavelengths: Sequence[float] | None = None,
    bandwidth_nm: float | None = 4.0,
    xic: Sequence[tuple[float, float, str]] | None = None,
) -> Run:
    """Read a Waters MassLynx ``.raw`` folder: analog/PDA channels (``_CHROnnn.DAT``).

    Falls back to the analog channels alone when the spectral functions (``_FUNCnnn``)
    are missing or unreadable, as in exported subsets of a ``.raw`` folder.

    Parameters
    ----------
    path : str or Path
        The ``.raw`` folder.
    wavelengths, bandwidth_nm
        As for :func:`read_agilent`, for a PDA spectral function.
    xic
        As for :func:`read_agilent`, for the MS functions (scan or SIR; rainbow does not tell an
        MRM function's precursors, so MRM data go through mzML: docs/formats.md).

    Returns
    -------
    Run
        One trace per channel; PDA channels as ``kind="uv"`` with the wavelength and
        bandwidth from the channel name (``PDA Ch1 220nm@4.8nm``).
    """
    import rainbow as rb
    from rainbow.waters import masslynx

    p = check_path(path, allow_dir=True)
    if not p.is_dir():
        raise InputError("a Waters .raw run is a folder, not a file", path=p)
    meta: dict[str, Any] = {}
    try:
        try:
            dd = rb.read(str(p), format="waters")
            datafiles = list(dd.datafiles)
            meta.update(_clean_meta(dict(dd.metadata)))
        except Exception:
            datafiles = list(masslynx.parse_analog(str(p)))
            meta.update(_clean_meta(masslynx.parse_metadata(str(p))))
            meta["note"] = "spectral functions (_FUNC*) missing or unreadable: analog channels only"
    except Exception as exc:
        raise _rb_error(p, exc) from None
    if not datafiles:
        raise InputError("no chromatogram channels found in the .raw folder", path=p)
    traces, notes = _traces_from(datafiles, p, wavelengths, bandwidth_nm, xic)
    if notes:
        meta["spectra"] = notes
    # Waters states PDA wavelengths only in the channel name
    fixed = []
    for tr in traces:
        if tr.channel.kind == "uv" and tr.channel.wavelength_nm is None:
            guess = channel_from_label(str(tr.metadata.get("signal", "")))
            m = _BW_AT.search(str(tr.metadata.get("signal", "")))
            wl = guess.get("wavelength_nm")
            bw = float(m.group(1)) if m else tr.channel.bandwidth_nm
            if wl is not None and math.isfinite(wl):
                from dataclasses import replace

                tr = replace(tr, channel=Channel(kind="uv", wavelength_nm=wl, bandwidth_nm=bw))
        fixed.append(tr)
    return Run(traces=tuple(fixed), source=str(p), format="waters_raw", metadata=meta)


# ---------------------------------------------------------------------------------------------
# ChemStation's own integration results inside a .D folder


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _match_trace(desc: str, traces: Sequence[Trace]) -> str:
    """Trace name for a ChemStation signal description ('DAD1 A, Sig=210,4 ...' -> 'DAD1A')."""
    key = desc.split(",")[0].replace(" ", "").lower()
    for tr in traces:
        if tr.name.replace(" ", "").lower() == key:
            return tr.name
    return desc.strip()


def _result_xml_peaks(path: Path, traces: Sequence[Trace]) -> tuple[list[Any], list[str]]:
    import xml.etree.ElementTree as ET

    from thioquant.model import ReferencePeak

    try:
        root = ET.fromstring(path.read_bytes())
    except (ET.ParseError, OSError):
        return [], []

    def num(el: Any, name: str) -> float:
        for child in el:
            if _local(child.tag) == name and child.text:
                try:
                    return float(child.text)
                except ValueError:
                    return math.nan
        return math.nan

    def text(el: Any, name: str) -> tuple[str, str]:
        for child in el:
            if _local(child.tag) == name:
                return (child.text or "").strip(), child.attrib.get("Unit", "")
        return "", ""

    # acquisition times of the signals the results were computed on, to check against the data
    dates = [
        (el.text or "").strip() for el in root.iter() if _local(el.tag) == "DateTime" and el.text
    ]
    ints = [el for el in root.iter() if _local(el.tag) == "IntegrationResults"]
    peaks = [el for el in root.iter() if _local(el.tag) == "Peak"]
    out = []
    for i, ir in enumerate(ints):
        rt = num(ir, "RetTime")
        # the <Peak> list carries signal, type, name and units, in the same order
        pk = peaks[i] if i < len(peaks) and abs(num(peaks[i], "MeasRetTime") - rt) < 1e-6 else None
        desc, _ = text(pk, "SignalDesc") if pk is not None else ("", "")
        ptype, _ = text(pk, "PeakType") if pk is not None else ("", "")
        name, _ = text(pk, "Name") if pk is not None else ("", "")
        _, unit = text(pk, "Area") if pk is not None else ("", "")
        out.append(
            ReferencePeak(
                rt_min=rt,
                area=num(ir, "Area"),
                height=num(ir, "Height"),
                start_min=num(ir, "TimeStart"),
                end_min=num(ir, "TimeEnd"),
                baseline_start=num(ir, "BaselineStart"),
                baseline_end=num(ir, "BaselineEnd"),
                name=name,
                trace=_match_trace(desc, traces) if desc else "",
                area_unit=unit,
                code=ptype.strip(),
            )
        )
    return out, dates


def _report_csv_peaks(folder: Path, traces: Sequence[Trace]) -> list[Any]:
    import csv
    import io

    from thioquant.io._common import decode_text
    from thioquant.model import ReferencePeak

    index = next((f for f in folder.iterdir() if f.name.lower() == "report00.csv"), None)
    if index is None:
        return []
    rows = list(csv.reader(io.StringIO(decode_text(index.read_bytes(), index))))
    signals: dict[int, str] = {}
    columns: dict[int, tuple[str, str]] = {}
    for r in rows:
        if len(r) >= 2 and r[0].startswith("Signal ") and r[0][7:].strip().isdigit():
            signals[int(r[0][7:])] = r[1]
        if len(r) >= 2 and r[0].startswith("Column ") and r[0][7:].strip().isdigit():
            unit = r[2].strip().strip("[]").strip() if len(r) > 2 else ""
            columns[int(r[0][7:])] = (r[1].strip().lower(), unit)
    col = {name: (j - 1, unit) for j, (name, unit) in columns.items()}
    out = []
    for n, desc in sorted(signals.items()):
        f = next((x for x in folder.iterdir() if x.name.lower() == f"report{n:02d}.csv"), None)
        if f is None:
            continue
        trace = _match_trace(desc, traces)
        for r in csv.reader(io.StringIO(decode_text(f.read_bytes(), f))):
            if not r or not r[0].strip().isdigit():
                continue

            def get(name: str, r: list[str] = r) -> float:
                j = col.get(name, (None, ""))[0]
                try:
                    return float(r[j]) if j is not None and j < len(r) else math.nan
                except ValueError:
                    return math.nan

            j_type = col.get("peak type", (None, ""))[0]
            j_name = col.get("compound name", (None, ""))[0]
            out.append(
                ReferencePeak(
                    rt_min=get("retention time"),
                    area=get("area"),
                    height=get("height"),
                    name=r[j_name].strip() if j_name is not None and j_name < len(r) else "",
                    trace=trace,
                    area_unit=col.get("area", (None, ""))[1],
                    code=r[j_type].strip() if j_type is not None and j_type < len(r) else "",
                )
            )
    return out


def _with_report_txt(folder: Path, traces: Sequence[Trace], peaks: list[Any]) -> list[Any]:
    """Area units from ``Report.TXT`` for the CSV report's peaks (its ``Report00.CSV`` leaves the
    unit empty when signals differ: pA*s on an FID, 25 uV*s on a TCD), or the text report's own
    peaks when there is no CSV report."""
    from dataclasses import replace

    from thioquant.io.chemstation_report import read_report_file, report_peaks

    txt = next((f for f in folder.iterdir() if f.name.lower() == "report.txt"), None)
    if txt is None:
        return peaks
    tables = read_report_file(txt)
    trace_of = {tb.number: _match_trace(tb.description, traces) for tb in tables}
    if not peaks:
        return report_peaks(tables, trace_of)
    unit_of = {trace_of[tb.number]: tb.area_unit for tb in tables if tb.area_unit}
    return [pk if pk.area_unit else replace(pk, area_unit=unit_of.get(pk.trace, "")) for pk in peaks]


def chemstation_reference_peaks(
    folder: Path, traces: Sequence[Trace]
) -> tuple[tuple[Any, ...], str]:
    """ChemStation's own peak table for a ``.D`` folder, and a warning ('' if none).

    ``Result.xml`` (with start/end and baseline levels) when present, else the
    ``Report00.CSV`` + ``REPORTnn.CSV`` area-percent report (retention time, type, area,
    height). Unreadable reports give no peaks. When ``Result.xml`` names acquisition times
    that none of the signal files has, the results belong to another injection and the
    warning says so.
    """
    note = ""
    try:
        xml = next((f for f in folder.iterdir() if f.name.lower() == "result.xml"), None)
        peaks, dates = _result_xml_peaks(xml, traces) if xml is not None else ([], [])
        if peaks:
            trace_dates = {str(tr.metadata.get("date", "")).strip() for tr in traces} - {""}
            if dates and trace_dates and trace_dates.isdisjoint(dates):
                note = (
                    f"Result.xml was computed on data acquired {dates[0]}, but the signal "
                    f"files were acquired {sorted(trace_dates)[0]}: the reference peaks belong "
                    "to another injection"
                )
        else:
            peaks = _report_csv_peaks(folder, traces)
            peaks = _with_report_txt(folder, traces, peaks)
    except (OSError, InputError, UnicodeError, ValueError):
        return (), ""
    return tuple(pk for pk in peaks if math.isfinite(pk.rt_min)), note
