"""Vendor text exports: Thermo Chromeleon, Shimadzu LabSolutions ASCII, Agilent ChemStation
CSV (UTF-16) and Waters Empower ``.arw``.

Each vendor writes numbers in the locale of the acquisition PC, so the decimal separator is
decided per file from the time column (``0,016667`` vs ``0.016667``) and thousands separators
are removed accordingly.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.errors import InputError
from thioquant.io._common import (
    channel_from_label,
    check_path,
    decode_text,
    split_unit,
    time_factor_from_label,
    validate_xy,
)
from thioquant.io._common import (
    decimal_comma as _decimal_comma,
)
from thioquant.model import Channel, ReferencePeak, Run, Trace


def _read_text(path: str | Path) -> tuple[Path, list[str]]:
    p = check_path(path)
    text = decode_text(p.read_bytes(), p)
    return p, text.lstrip("\ufeff").splitlines()


def _numbers(tokens: list[str], decimal_comma: bool, path: Path, row: int) -> np.ndarray:
    """Parse numeric tokens under one locale; raises InputError naming the row."""
    if decimal_comma:
        toks = [t.strip().replace(".", "").replace(",", ".") for t in tokens]
    else:
        toks = [t.strip().replace(",", "") for t in tokens]
    try:
        return np.array(toks, dtype=float)
    except ValueError:
        bad = next((t for t in tokens if not _is_float(t, decimal_comma)), tokens[0])
        raise InputError(f"not a number: '{bad[:40]}'", path=path, row=row) from None


def _is_float(t: str, dc: bool) -> bool:
    s = t.strip().replace(".", "").replace(",", ".") if dc else t.strip().replace(",", "")
    try:
        float(s)
    except ValueError:
        return False
    return True


def _column(rows: list[list[str]], idx: int, dc: bool, path: Path, first_row: int) -> np.ndarray:
    col = []
    for k, r in enumerate(rows):
        if idx >= len(r):
            raise InputError(
                f"row has {len(r)} fields, expected at least {idx + 1}",
                path=path,
                row=first_row + k,
            )
        col.append(r[idx])
    return _numbers(col, dc, path, first_row)


# ---------------------------------------------------------------------------------------------
# Thermo Chromeleon


def read_chromeleon(path: str | Path) -> Run:
    """Read a Chromeleon 6/7 text export (``Raw Data:`` or ``Chromatogram Data:`` block).

    Returns
    -------
    Run
        One trace named after the channel (``UV_VIS_2``), in the unit of the ``Value (...)``
        column; the wavelength comes from ``Signal Info  WVL:280 nm``. Header lines become
        metadata.
    """
    p, lines = _read_text(path)
    meta: dict[str, Any] = {}
    start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.lower() in ("raw data:", "chromatogram data:", "chromatogram:"):
            start = i + 1
            break
        if "\t" in line:
            key, _, val = line.partition("\t")
            key, val = key.strip(), val.strip()
            if key and val and key not in meta:
                meta[key] = val
    if start is None or start >= len(lines):
        raise InputError(
            "no 'Raw Data:' or 'Chromatogram Data:' block (not a Chromeleon export?)", path=p
        )
    header = [h.strip() for h in lines[start].split("\t")]
    vcol = next((j for j, h in enumerate(header) if h.lower().startswith("value")), len(header) - 1)
    if vcol < 1:
        raise InputError(f"unexpected data header '{lines[start][:60]}'", path=p)
    rows = [ln.split("\t") for ln in lines[start + 1 :] if ln.strip()]
    if not rows:
        raise InputError("the data block has no rows", path=p)
    dc = _decimal_comma(rows, vcol + 1)
    t = _column(rows, 0, dc, p, start + 2) * time_factor_from_label(header[0])
    y = _column(rows, vcol, dc, p, start + 2)
    _, unit = split_unit(header[vcol])
    unit = unit or str(meta.get("Signal Unit", ""))
    name = str(meta.get("Channel", "") or "signal")
    ch = channel_from_label(str(meta.get("Signal Info", "")))
    if ch["kind"] == "detector":
        ch = channel_from_label(name)
    t, y = validate_xy(t, y, path=p, name=name)
    tr = Trace(name=name, time_min=t, signal=y, signal_unit=unit, channel=Channel(**ch))
    return Run(traces=(tr,), source=str(p), format="chromeleon", metadata=meta)


# ---------------------------------------------------------------------------------------------
# Shimadzu LabSolutions ASCII

_SECTION = re.compile(r"^\[(.+)\]\s*$")
_CHROM = re.compile(r"^(?:(LC|GC|PDA|MS)\s+)?(Chromatogram|Status Trace)\s*\((.+)\)$", re.I)
_PEAKS = re.compile(r"^Peak Table\s*\((.+)\)$", re.I)


def _sections(lines: list[str]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    cur, begin = None, 0
    for i, line in enumerate(lines):
        m = _SECTION.match(line.strip())
        if m:
            if cur is not None:
                out.append((cur, begin, i))
            cur, begin = m.group(1).strip(), i + 1
    if cur is not None:
        out.append((cur, begin, len(lines)))
    return out


def _tabbed(lines: list[str]) -> list[str]:
    """The lines of a LabSolutions/LCsolution export with tabs as separators.

    LCsolution can also export with commas (``Application Name,LCsolution``,
    ``0.00000,-132``); the layout is otherwise the same, and a comma-separated export always
    writes decimal points, so its commas become tabs. A tab-separated export is returned as is.
    """
    head = [ln for ln in lines[:40] if ln.strip() and not ln.lstrip().startswith("[")]
    if not head or any("\t" in ln for ln in head) or not all("," in ln for ln in head[:3]):
        return lines
    return [ln.replace(",", "\t") for ln in lines]


def read_shimadzu(path: str | Path, *, status_traces: bool = False) -> Run:
    """Read a Shimadzu LabSolutions ASCII export (``[Header]``, ``[LC Chromatogram(...)]``...).

    Parameters
    ----------
    path : str or Path
        The ``.txt`` export.
    status_traces : bool
        Also return instrument status traces (pump pressure, oven temperature...).

    Returns
    -------
    Run
        One trace per chromatogram section (``Detector A-Ch1``), scaled by its
        ``Intensity Multiplier`` into ``Intensity Units`` (mV); the in-file peak tables as
        reference peaks (times in minutes; areas as exported, in raw detector counts x s,
        i.e. uV*s for a mV channel with multiplier 0.001).
    """
    p, lines = _read_text(path)
    lines = _tabbed(lines)
    secs = _sections(lines)
    if not secs:
        raise InputError("no [Section] headers (not a LabSolutions export?)", path=p)
    meta: dict[str, Any] = {}
    traces: list[Trace] = []
    raw_scale: dict[str, tuple[float, str]] = {}
    tables: list[tuple[str, int, int]] = []
    skipped: list[str] = []
    for name, b, e in secs:
        m = _CHROM.match(name)
        if m:
            if m.group(2).lower().startswith("status") and not status_traces:
                skipped.append(m.group(3).strip())
                continue
            tr, mult = _shimadzu_trace(
                lines, b, e, m.group(3).strip(), p, status=m.group(2).lower().startswith("status")
            )
            traces.append(tr)
            raw_scale[tr.name] = (mult, tr.signal_unit)
            continue
        if _PEAKS.match(name):
            tables.append((name, b, e))
            continue
        if name.lower().startswith(("compound results", "group results", "fraction")):
            continue
        for line in lines[b:e]:
            key, sep, val = line.partition("\t")
            if sep and key.strip() and val.strip() and key.strip() not in meta:
                meta[key.strip()] = val.strip()
            elif not sep and line.strip() and name == "File Description":
                meta.setdefault("File Description", line.strip())
    if skipped:
        meta["status_traces"] = skipped
    if not traces:
        raise InputError("no chromatogram sections found", path=p)
    peaks: list[ReferencePeak] = []
    for name, b, e in tables:
        peaks.extend(
            _shimadzu_peaks(
                lines,
                b,
                e,
                _PEAKS.match(name).group(1).strip(),  # type: ignore[union-attr]
                traces,
                raw_scale,
                p,
            )
        )
    return Run(
        traces=tuple(traces),
        source=str(p),
        format="shimadzu",
        metadata=meta,
        reference_peaks=tuple(peaks),
    )


def _shimadzu_trace(
    lines: list[str], b: int, e: int, name: str, p: Path, status: bool
) -> tuple[Trace, float]:
    info: dict[str, str] = {}
    data_start = None
    for i in range(b, e):
        key, sep, val = lines[i].partition("\t")
        if key.strip().lower().startswith("r.time"):
            data_start = i + 1
            break
        if sep:
            info[key.strip()] = val.strip()
    if data_start is None:
        raise InputError(f"chromatogram '{name}' has no 'R.Time' data header", path=p)
    rows = [ln.split("\t") for ln in lines[data_start:e] if ln.strip()]
    if not rows:
        raise InputError(f"chromatogram '{name}' has no data rows", path=p)
    dc = _decimal_comma(rows)
    t = _column(rows, 0, dc, p, data_start + 1)
    y = _column(rows, 1, dc, p, data_start + 1)
    mult_txt = info.get("Intensity Multiplier", "1") or "1"
    try:
        mult = float(mult_txt.replace(",", ".")) if dc else float(mult_txt)
    except ValueError:
        raise InputError(f"bad Intensity Multiplier '{mult_txt}' in '{name}'", path=p) from None
    unit = info.get("Intensity Units", "")
    wl_txt = info.get("Wavelength(nm)", "")
    ch: dict[str, Any] = {"kind": "detector"}
    try:
        wl = float(wl_txt.replace(",", "."))
        if 150 <= wl <= 1100:
            ch = {"kind": "uv", "wavelength_nm": wl}
    except ValueError:
        pass
    t, y = validate_xy(t, y * mult, path=p, name=name)
    md: dict[str, Any] = {k: v for k, v in info.items() if v}
    if status:
        md["status_trace"] = True
    return Trace(
        name=name, time_min=t, signal=y, signal_unit=unit, channel=Channel(**ch), metadata=md
    ), mult


def _shimadzu_peaks(
    lines: list[str],
    b: int,
    e: int,
    det: str,
    traces: list[Trace],
    raw_scale: dict[str, tuple[float, str]],
    p: Path,
) -> list[ReferencePeak]:
    body = [ln for ln in lines[b:e] if ln.strip()]
    if not body or not body[0].lower().startswith("# of peaks"):
        return []
    try:
        n = int(body[0].split("\t")[1])
    except (IndexError, ValueError):
        raise InputError(f"bad '# of Peaks' line in peak table '{det}'", path=p) from None
    if n == 0 or len(body) < 2:
        return []
    head = [h.strip() for h in body[1].split("\t")]
    col = {h: j for j, h in enumerate(head)}
    trace = next((tr.name for tr in traces if tr.name == det), None) or next(
        (tr.name for tr in traces if tr.name.startswith(det)), det
    )
    mult, unit = raw_scale.get(trace, (1.0, ""))
    area_unit = (
        "uV*s"
        if (unit.lower() == "mv" and abs(mult - 0.001) < 1e-12)
        else (f"{unit}/{mult:g}*s" if unit and mult != 1 else (f"{unit}*s" if unit else "counts*s"))
    )

    def num(r: list[str], key: str) -> float:
        j = col.get(key)
        if j is None or j >= len(r) or not r[j].strip():
            return math.nan
        try:
            return float(r[j].strip().replace(",", "."))
        except ValueError:
            return math.nan

    out = []
    for k, ln in enumerate(body[2 : 2 + n]):
        r = ln.split("\t")
        rt = num(r, "R.Time")
        if not math.isfinite(rt):
            raise InputError(f"peak table '{det}' row {k + 1}: no retention time", path=p)
        name_j = col.get("Name")
        mark_j = col.get("Mark")
        out.append(
            ReferencePeak(
                rt_min=rt,
                area=num(r, "Area"),
                height=num(r, "Height"),
                start_min=num(r, "I.Time"),
                end_min=num(r, "F.Time"),
                name=r[name_j].strip() if name_j is not None and name_j < len(r) else "",
                trace=trace,
                area_unit=area_unit,
                code=r[mark_j].strip() if mark_j is not None and mark_j < len(r) else "",
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Agilent ChemStation CSV export


def read_chemstation_csv(path: str | Path) -> Run:
    """Read a ChemStation "Export to CSV" signal file (UTF-16, ``,220.00000`` header line).

    The header's only field is the signal's wavelength (nm) for a DAD signal; time is in
    minutes.
    """
    p, lines = _read_text(path)
    rows: list[list[str]] = []
    label = ""
    first = None
    for i, ln in enumerate(lines):
        if not ln.strip():
            continue
        parts = [x.strip() for x in ln.split(",")]
        if first is None and not _is_float(parts[0], False):
            label = ",".join(parts[1:]) if parts[0] == "" else ln.strip()
            continue
        if first is None:
            first = i + 1
        rows.append(parts)
    if not rows:
        raise InputError("no numeric rows (ChemStation CSV exports are 'time,value' lines)", path=p)
    if any(len(r) != 2 for r in rows[:5]):
        raise InputError(
            "expected two columns (time, signal): a report table, not a signal?", path=p
        )
    t = _column(rows, 0, False, p, first or 1)
    y = _column(rows, 1, False, p, first or 1)
    ch = channel_from_label(label) if label else {"kind": "detector"}
    name = f"DAD {ch['wavelength_nm']:g} nm" if ch.get("wavelength_nm") else (label or "signal")
    t, y = validate_xy(t, y, path=p, name=name)
    tr = Trace(name=name, time_min=t, signal=y, signal_unit="", channel=Channel(**ch))
    return Run(
        traces=(tr,),
        source=str(p),
        format="chemstation_csv",
        metadata={"header": label} if label else {},
    )


# ---------------------------------------------------------------------------------------------
# Waters Empower .arw


def read_arw(path: str | Path) -> Run:
    """Read a Waters Empower ``.arw`` export: a quoted header row, a value row, then data.

    Time is in minutes (Empower's export unit). The channel name (e.g. ``PDA 254.0 nm`` or
    ``2475ChA ex280/em350``) gives the trace name and, for PDA channels, the wavelength.
    """
    p, lines = _read_text(path)
    meta: dict[str, Any] = {}
    data_from = 0
    if lines and lines[0].lstrip().startswith('"'):
        keys = [k.strip().strip('"') for k in lines[0].split("\t")]
        vals = [v.strip().strip('"') for v in lines[1].split("\t")] if len(lines) > 1 else []
        meta = {k: v for k, v in zip(keys, vals, strict=False) if k and v}
        data_from = 2
    rows = [ln.split("\t") for ln in lines[data_from:] if ln.strip()]
    if not rows:
        raise InputError("no data rows after the .arw header", path=p)
    dc = _decimal_comma(rows)
    t = _column(rows, 0, dc, p, data_from + 1)
    y = _column(rows, 1, dc, p, data_from + 1)
    name = str(meta.get("Channel", "") or meta.get("Channel Name", "") or "signal")
    ch = channel_from_label(name)
    if re.search(r"\bex\s*\d+.*\bem\s*\d+", name, re.I):
        ch = {"kind": "detector"}  # fluorescence: excitation/emission, not absorbance
    unit = str(meta.get("Units", "") or meta.get("Channel Units", "") or "")
    t, y = validate_xy(t, y, path=p, name=name)
    tr = Trace(name=name, time_min=t, signal=y, signal_unit=unit, channel=Channel(**ch))
    return Run(traces=(tr,), source=str(p), format="waters_arw", metadata=meta)


# ---------------------------------------------------------------------------------------------
# Writers: vendor-shaped text, so that simulated data can exercise the vendor readers


def _fmt(x: float, decimal_comma: bool) -> str:
    s = repr(float(x))
    return s.replace(".", ",") if decimal_comma else s


def write_chromeleon(
    path: str | Path,
    trace: Trace,
    metadata: dict[str, Any] | None = None,
    *,
    decimal_comma: bool = False,
) -> Path:
    """Write one trace as a Chromeleon 7 text export (``Chromatogram Data:`` block).

    Numbers are written with the shortest repr that round-trips float64 (with ``,`` as the
    decimal separator if asked), so :func:`read_chromeleon` gives the trace back exactly.
    ``metadata`` goes into the ``Injection Information:`` block.
    """
    t, y = trace.time_min, trace.signal
    if len(t) == 0:
        raise InputError("cannot write an empty trace", path=path)
    ch = trace.channel
    info = f"WVL:{ch.wavelength_nm:g} nm" if ch.kind == "uv" and ch.wavelength_nm else ""
    lines = [
        f"File Path\tthioquant://{trace.name}",
        f"Channel\t{trace.name}",
        "",
        "Injection Information:",
        *(f"{k}\t{v}" for k, v in (metadata or {}).items()),
        "",
        "Chromatogram Data Information:",
        f"Time Min. (min)\t{_fmt(t[0], decimal_comma)}",
        f"Time Max. (min)\t{_fmt(t[-1], decimal_comma)}",
        f"Data Points\t{len(t)}",
        f"Signal Unit\t{trace.signal_unit}",
        f"Signal Min.\t{_fmt(y.min(), decimal_comma)}",
        f"Signal Max.\t{_fmt(y.max(), decimal_comma)}",
        f"Channel\t{trace.name}",
        "",
        "Signal Parameter Information:",
        f"Signal Info\t{info}",
        "",
        "Chromatogram Data:",
        f"Time (min)\tStep (s)\tValue ({trace.signal_unit})",
    ]
    step = np.concatenate([[np.nan], np.diff(t) * 60.0])
    for ti, si, yi in zip(t.tolist(), step.tolist(), y.tolist(), strict=True):
        s = "n.a." if math.isnan(si) else _fmt(si, decimal_comma)
        lines.append(f"{_fmt(ti, decimal_comma)}\t{s}\t{_fmt(yi, decimal_comma)}")
    p = Path(path)
    p.write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    return p


def write_shimadzu(
    path: str | Path,
    traces: list[Trace] | Run,
    metadata: dict[str, Any] | None = None,
    reference_peaks: list[ReferencePeak] | tuple[ReferencePeak, ...] = (),
) -> Path:
    """Write traces (and peak tables) as a Shimadzu LabSolutions ASCII export.

    Each trace becomes an ``[LC Chromatogram(<name>)]`` section with ``Intensity Multiplier 1``
    and its wavelength, each trace's reference peaks a ``[Peak Table(<name>)]``; ``metadata``
    goes into ``[Sample Information]``. :func:`read_shimadzu` reads it back exactly.
    """
    trs = list(traces.traces) if isinstance(traces, Run) else list(traces)
    if isinstance(traces, Run) and not reference_peaks:
        reference_peaks = traces.reference_peaks
    if not trs:
        raise InputError("nothing to write: no traces", path=path)
    lines = [
        "[Header]",
        "Application Name\tLabSolutions",
        "Version\tthioquant",
        "",
        "[Sample Information]",
    ]
    lines += [f"{k}\t{v}" for k, v in (metadata or {}).items()]
    lines.append("")
    for tr in trs:
        pks = [pk for pk in reference_peaks if pk.trace == tr.name]
        if not pks:
            continue
        lines += [
            f"[Peak Table({tr.name})]",
            f"# of Peaks\t{len(pks)}",
            "Peak#\tR.Time\tI.Time\tF.Time\tArea\tHeight\tMark\tName",
        ]
        for i, pk in enumerate(pks, 1):
            vals = [pk.rt_min, pk.start_min, pk.end_min, pk.area, pk.height]
            lines.append(
                "\t".join(
                    [
                        str(i),
                        *("" if math.isnan(v) else repr(float(v)) for v in vals),
                        pk.code,
                        pk.name,
                    ]
                )
            )
        lines.append("")
    for tr in trs:
        t = tr.time_min
        wl = tr.channel.wavelength_nm if tr.channel.kind == "uv" else None
        dt_ms = tr.sampling_interval_min * 60000.0 if len(t) > 1 else 0.0
        lines += [
            f"[LC Chromatogram({tr.name})]",
            f"Interval(msec)\t{dt_ms:.10g}",
            f"# of Points\t{len(t)}",
            f"Start Time(min)\t{t[0]!r}" if len(t) else "Start Time(min)\t0",
            f"End Time(min)\t{t[-1]!r}" if len(t) else "End Time(min)\t0",
            f"Intensity Units\t{tr.signal_unit}",
            "Intensity Multiplier\t1",
            f"Wavelength(nm)\t{wl:g}" if wl else "Wavelength(nm)\tnm",
            "R.Time (min)\tIntensity",
        ]
        lines += [f"{a!r}\t{b!r}" for a, b in zip(t.tolist(), tr.signal.tolist(), strict=True)]
        lines.append("")
    p = Path(path)
    p.write_text("\n".join(lines), encoding="utf-8")
    return p
