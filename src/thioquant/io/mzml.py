"""mzML through pyopenms: SRM/MRM and UV chromatograms, and XICs from full-scan spectra.

mzML stores chromatogram time in seconds; traces hold minutes. Chromatogram intensities are
held as 32-bit floats inside OpenMS, so signals round-trip to float32 precision.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.errors import InputError
from thioquant.io._common import as_trace_list, channel_from_label, check_path, validate_xy
from thioquant.io._openms import _pyopenms
from thioquant.model import Channel, Run, Trace

# Meta values written on each chromatogram so that the channel and unit survive a round trip.
_WL_KEYS = ("wavelength_nm", "wavelength", "thioquant:wavelength_nm")
_KIND_KEY = "thioquant:kind"
_UNIT_KEY = "thioquant:signal_unit"
_BW_KEY = "thioquant:bandwidth_nm"

def _meta_dict(obj: Any) -> dict[str, Any]:
    if obj.isMetaEmpty():
        return {}
    keys: list[bytes | str] = []
    obj.getKeys(keys)
    out: dict[str, Any] = {}
    for k in keys:
        ks = k.decode() if isinstance(k, bytes) else str(k)
        v = obj.getMetaValue(ks)
        out[ks] = v.decode() if isinstance(v, bytes) else v
    return out


def _load(path: Path, raw: bytes, with_spectra: bool) -> Any:
    """The pyopenms experiment parsed from the file's bytes.

    ``MzMLFile.loadBuffer`` on bytes read once (and hashed from the same read) is faster than
    ``MzMLFile.load``, which reads the file again.
    """
    oms = _pyopenms()
    exp = oms.MSExperiment()
    f = oms.MzMLFile()
    if not with_spectra:
        opts = f.getOptions()
        # An MS level that no spectrum has: OpenMS skips decoding every spectrum.
        opts.setMSLevels([99])
        f.setOptions(opts)
    try:
        f.loadBuffer(raw, exp)
    except Exception as exc:  # pyopenms raises RuntimeError/ParseError with C++ messages
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = msg.replace("the file 'memory' could not be found", "unparseable XML")
        raise InputError(f"not a readable mzML file ({msg[:200]})", path=path) from None
    return exp


READER_ENGINES = ("auto", "thioquant", "pyopenms")

#: default size limit of an mzML file (MiB); THIOQUANT_MZML_MAX_MB changes it. A chromatogram file
#: of a batch is tens of kB; the limit keeps a wrong or hostile file from taking the memory.
MZML_MAX_MB = 1024


def max_mzml_bytes() -> int:
    """The size limit of an mzML file in bytes (THIOQUANT_MZML_MAX_MB, default MZML_MAX_MB)."""
    n = os.environ.get("THIOQUANT_MZML_MAX_MB", "")
    return (int(n) if n.isdigit() and int(n) > 0 else MZML_MAX_MB) * 2**20


def read_mzml(
    path: str | Path,
    *,
    xic: Sequence[tuple[float, float, str]] | None = None,
    ms_level: int = 1,
    engine: str = "auto",
) -> Run:
    """Read every chromatogram of an mzML file, and XICs from its spectra when asked.

    Parameters
    ----------
    path : str or Path
        The mzML file.
    xic : sequence of (mz, tolerance, unit), optional
        Extracted-ion chromatograms to build from the full-scan spectra; ``unit`` is ``"ppm"``
        or ``"Da"``. Each becomes a trace named ``XIC <mz>``.
    ms_level : int
        MS level of the spectra used for XICs.
    engine : {"auto", "thioquant", "pyopenms"}
        Who parses the file. ``"auto"`` (the default) reads chromatograms with thioquant's own
        parser (:mod:`thioquant.io.mzml_chrom`, the same numbers as OpenMS, without importing
        pyopenms) and hands the file to pyopenms when it holds anything that parser does not
        handle, or when ``xic`` asks for spectra. ``"thioquant"`` raises InputError instead of
        handing over; ``"pyopenms"`` always uses pyopenms.

    Returns
    -------
    Run
        SRM/MRM chromatograms as ``Channel(kind="srm")`` traces named by their native id;
        absorption chromatograms as ``kind="uv"`` (wavelength from a ``wavelength_nm`` meta
        value); TIC as ``kind="tic"``. Time in minutes.

    Raises
    ------
    InputError
        A file that cannot be read, or a damaged one (see :mod:`thioquant.io.mzml_chrom`: base64
        that is not strictly base64, arrays of another length than declared, times out of order, a
        DOCTYPE), whichever parser would read it; a file over the size limit
        (``THIOQUANT_MZML_MAX_MB``, default :data:`MZML_MAX_MB` MiB).
    """
    if engine not in READER_ENGINES:
        raise InputError(
            f"unknown mzML engine {engine!r} (choose {', '.join(READER_ENGINES)})", path=path
        )
    import hashlib

    p = check_path(path)
    limit = max_mzml_bytes()
    size = p.stat().st_size
    if size > limit:
        raise InputError(f"mzML of {size / 2**20:.0f} MiB is larger than the limit of "
                         f"{limit / 2**20:.0f} MiB (THIOQUANT_MZML_MAX_MB)", path=p)
    raw = p.read_bytes()
    from thioquant.io.mzml_chrom import Damaged, Unsupported, check_arrays, read_chromatograms

    parsed = None
    try:
        if engine != "pyopenms" and not xic:
            try:
                parsed = _own(p, read_chromatograms(raw))
            except Unsupported as exc:
                if engine == "thioquant":
                    raise InputError(f"mzML not readable without pyopenms: {exc}", path=p) from None
        if parsed is None:
            # pyopenms decodes base64 leniently and sorts times: the same checks first
            check_arrays(raw)
    except Damaged as exc:
        raise InputError(f"damaged mzML: {exc}", path=p) from None
    traces, metadata, n_spectra = parsed or _with_pyopenms(p, raw, xic, ms_level)
    if not traces:
        hint = (
            ""
            if xic
            else " (pass xic=[(mz, tol, 'ppm')] to extract ion chromatograms from spectra)"
        )
        raise InputError(
            f"no chromatograms in mzML{hint}" + (f"; {n_spectra} spectra" if n_spectra else ""),
            path=p,
        )
    return Run(
        traces=_unique_names(traces),
        source=str(p),
        sha256=hashlib.sha256(raw).hexdigest(),
        format="mzml",
        metadata=metadata,
    )


def _own(p: Path, parsed: Any) -> tuple[list[Trace], dict[str, Any], int]:
    """Traces, run metadata and spectrum count from :func:`~thioquant.io.mzml_chrom.read_chromatograms`."""
    traces = [
        _trace(p, c.native_id, c.ctype, c.precursor_mz, c.product_mz, c.meta, c.time_s, c.intensity)
        for c in parsed.chromatograms
    ]
    return traces, parsed.metadata, parsed.n_spectra


# OpenMS chromatogram types -> the names thioquant.io.mzml_chrom gives them
_OMS_TYPES = {
    "SELECTED_REACTION_MONITORING_CHROMATOGRAM": "srm",
    "ABSORPTION_CHROMATOGRAM": "absorption",
    "ELECTROMAGNETIC_RADIATION_CHROMATOGRAM": "emr",
    "EMISSION_CHROMATOGRAM": "emission",
    "TOTAL_ION_CURRENT_CHROMATOGRAM": "tic",
    "BASEPEAK_CHROMATOGRAM": "basepeak",
    "SELECTED_ION_CURRENT_CHROMATOGRAM": "sic",
    "SELECTED_ION_MONITORING_CHROMATOGRAM": "sim",
    "MASS_CHROMATOGRAM": "mass",
}


def _with_pyopenms(
    p: Path, raw: bytes, xic: Sequence[tuple[float, float, str]] | None, ms_level: int
) -> tuple[list[Trace], dict[str, Any], int | None]:
    """Traces, run metadata and (when spectra were read, for ``xic``) spectrum count, by pyopenms."""
    oms = _pyopenms()
    exp = _load(p, raw, with_spectra=bool(xic))
    CT = oms.ChromatogramSettings.ChromatogramType
    names = {getattr(CT, k): v for k, v in _OMS_TYPES.items()}
    traces: list[Trace] = []
    for c in exp.getChromatograms():
        name = c.getNativeID()
        name = name.decode() if isinstance(name, bytes) else str(name)
        t_s, y = c.get_peaks()
        traces.append(
            _trace(
                p,
                name,
                names.get(c.getChromatogramType()),
                c.getPrecursor().getMZ(),
                c.getProduct().getMZ(),
                _meta_dict(c),
                t_s,
                y,
            )
        )
    if xic:
        traces.extend(_extract_xics(exp, xic, ms_level, p))
    return traces, _run_metadata(exp), exp.getNrSpectra() if xic else None


def _unique_names(traces: list[Trace]) -> tuple[Trace, ...]:
    """Native ids must be unique in mzML, but be lenient with writers: "id", "id#1", ..."""
    from dataclasses import replace

    seen: dict[str, int] = {}
    out = []
    for tr in traces:
        if tr.name in seen:
            seen[tr.name] += 1
            tr = replace(tr, name=f"{tr.name}#{seen[tr.name]}")
        else:
            seen[tr.name] = 0
        out.append(tr)
    return tuple(out)


def _trace(
    p: Path,
    name: str,
    ctype: str | None,
    q1: float,
    q3: float,
    meta: dict[str, Any],
    t_s: Any,
    y: Any,
) -> Trace:
    """A Trace from one chromatogram: its channel from the type, m/z targets and meta values."""
    kind = meta.pop(_KIND_KEY, None)
    own_unit = _UNIT_KEY in meta  # written by write_mzml, possibly empty
    unit = str(meta.pop(_UNIT_KEY, ""))
    bw = meta.pop(_BW_KEY, None)
    wl = next((float(meta.pop(k)) for k in _WL_KEYS if k in meta), None)
    if kind is None:
        if ctype == "srm" or (q1 > 0 and q3 > 0):
            kind = "srm"
        elif ctype in ("absorption", "emr") or wl is not None:
            kind = "uv"
        elif ctype in ("tic", "basepeak"):
            kind = "tic"
        elif ctype in ("sic", "sim", "mass") and q1 > 0:
            kind = "xic"
        else:
            kind = "detector"
    if kind == "srm":
        ch = Channel(kind="srm", precursor_mz=float(q1), product_mz=float(q3))
    elif kind == "uv":
        if wl is None:  # converters often put the wavelength in the id only ("UV 254nm")
            wl = channel_from_label(name).get("wavelength_nm")
        ch = Channel(kind="uv", wavelength_nm=wl, bandwidth_nm=float(bw) if bw else None)
    elif kind == "xic":
        ch = Channel(kind="xic", precursor_mz=float(q1))
    else:
        ch = Channel(kind=str(kind))
    if not own_unit and kind in ("srm", "xic", "tic"):
        unit = "counts"  # mzML's intensity array of MS chromatograms: detector counts
    t, yy = validate_xy(np.asarray(t_s, dtype=float) / 60.0, y, path=p, name=name, allow_empty=True)
    return Trace(name=name, time_min=t, signal=yy, signal_unit=unit, channel=ch, metadata=meta)


def _run_metadata(exp: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    try:
        dt = exp.getDateTime().get()
        dt = dt.decode() if isinstance(dt, bytes) else dt
        if dt and not str(dt).startswith("0000"):
            meta["acquired"] = str(dt)
        name = exp.getSample().getName()
        name = name.decode() if isinstance(name, bytes) else name
        if name:
            meta["sample_name"] = name
        inst = exp.getInstrument().getName()
        inst = inst.decode() if isinstance(inst, bytes) else inst
        if inst:
            meta["instrument"] = inst
        srcs = [s.getNameOfFile() for s in exp.getSourceFiles()]
        srcs = [s.decode() if isinstance(s, bytes) else s for s in srcs if s]
        if srcs:
            meta["source_files"] = srcs
        meta.update(_meta_dict(exp))
    except Exception:  # metadata is best effort; the traces are what matters
        pass
    return meta


def _extract_xics(
    exp: Any, xic: Sequence[tuple[float, float, str]], ms_level: int, path: Path
) -> list[Trace]:
    specs = [s for s in exp.getSpectra() if s.getMSLevel() == ms_level]
    if not specs:
        raise InputError(f"xic requested but the file has no MS{ms_level} spectra", path=path)
    rt = np.array([s.getRT() for s in specs], dtype=float) / 60.0
    peaks = [s.get_peaks() for s in specs]
    out = []
    for item in xic:
        try:
            mz, tol, unit = float(item[0]), float(item[1]), str(item[2])
        except (TypeError, ValueError, IndexError):
            raise InputError(
                f"bad xic spec {item!r}: expected (mz, tolerance, 'ppm'|'Da')", path=path
            ) from None
        if unit.lower() == "ppm":
            half = mz * tol * 1e-6
            unit = "ppm"
        elif unit.lower() == "da":
            half = tol
            unit = "Da"
        else:
            raise InputError(f"bad xic tolerance unit '{unit}' (use 'ppm' or 'Da')", path=path)
        y = np.empty(len(specs))
        for i, (mzs, ints) in enumerate(peaks):
            lo, hi = np.searchsorted(mzs, [mz - half, mz + half], side="left")
            hi = np.searchsorted(mzs, mz + half, side="right")
            y[i] = float(np.sum(ints[lo:hi], dtype=float))
        name = f"XIC {mz:g}"
        t, yy = validate_xy(rt, y, path=path, name=name)
        out.append(
            Trace(
                name=name,
                time_min=t,
                signal=yy,
                signal_unit="counts",
                channel=Channel(kind="xic", precursor_mz=mz, tolerance=tol, tolerance_unit=unit),
            )
        )
    return out


def write_mzml(
    path: str | Path,
    traces: Trace | Run | Iterable[Trace],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write traces as mzML chromatograms through pyopenms.

    SRM traces become SRM chromatograms with precursor/product isolation-window targets; UV
    traces absorption chromatograms with a ``wavelength_nm`` user parameter; others keep their
    kind in a ``thioquant:kind`` user parameter. Time is written in seconds (64-bit), signals
    at OpenMS's chromatogram precision (32-bit). ``metadata`` values become run-level user
    parameters (strings, numbers).

    Returns
    -------
    Path
        The path written.
    """
    oms = _pyopenms()

    trs = as_trace_list(traces)
    if isinstance(traces, Run) and metadata is None:
        metadata = dict(traces.metadata)
    CT = oms.ChromatogramSettings.ChromatogramType
    exp = oms.MSExperiment()
    for tr in trs:
        c = oms.MSChromatogram()
        c.setNativeID(tr.name)
        ch = tr.channel
        if ch.kind == "srm":
            c.setChromatogramType(CT.SELECTED_REACTION_MONITORING_CHROMATOGRAM)
            pre = oms.Precursor()
            pre.setMZ(float(ch.precursor_mz or 0.0))
            c.setPrecursor(pre)
            prod = oms.Product()
            prod.setMZ(float(ch.product_mz or 0.0))
            c.setProduct(prod)
        elif ch.kind == "uv":
            c.setChromatogramType(CT.ABSORPTION_CHROMATOGRAM)
            if ch.wavelength_nm is not None:
                c.setMetaValue("wavelength_nm", float(ch.wavelength_nm))
            if ch.bandwidth_nm:
                c.setMetaValue(_BW_KEY, float(ch.bandwidth_nm))
        elif ch.kind == "tic":
            c.setChromatogramType(CT.TOTAL_ION_CURRENT_CHROMATOGRAM)
        elif ch.kind == "xic":
            c.setChromatogramType(CT.SELECTED_ION_CURRENT_CHROMATOGRAM)
            pre = oms.Precursor()
            pre.setMZ(float(ch.precursor_mz or 0.0))
            c.setPrecursor(pre)
        else:
            c.setChromatogramType(CT.EMISSION_CHROMATOGRAM)
        c.setMetaValue(_KIND_KEY, ch.kind)
        c.setMetaValue(_UNIT_KEY, tr.signal_unit)
        for k, v in tr.metadata.items():
            if isinstance(v, str | int | float) and not isinstance(v, bool):
                c.setMetaValue(str(k), v)
        c.set_peaks(
            (
                np.ascontiguousarray(tr.time_min * 60.0),
                np.ascontiguousarray(tr.signal, dtype=np.float32),
            )
        )
        exp.addChromatogram(c)
    for k, v in (metadata or {}).items():
        if isinstance(v, str | int | float) and not isinstance(v, bool):
            exp.setMetaValue(str(k), v)
        elif v is not None:
            exp.setMetaValue(str(k), str(v))
    f = oms.MzMLFile()
    opts = f.getOptions()
    opts.setIntensity32Bit(False)
    f.setOptions(opts)
    p = Path(path)
    try:
        f.store(str(p), exp)
    except Exception as exc:
        raise InputError(f"cannot write mzML ({str(exc)[:200]})", path=p) from None
    return p
