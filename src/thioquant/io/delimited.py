"""Generic delimited text: CSV, TSV, semicolon or whitespace columns, with or without a header.

The first column is time (minutes unless its header says seconds or milliseconds); every other
column is a signal. ``# key: value`` comment lines at the top become run metadata, which is how
:func:`write_delimited` stores metadata so that :func:`read_delimited` gets it back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.errors import InputError
from thioquant.io._common import (
    as_trace_list,
    channel_from_label,
    check_path,
    decimal_comma,
    decode_text,
    split_unit,
    time_factor_from_label,
    validate_xy,
)
from thioquant.model import Channel, Run, Trace

# Written by write_delimited so that trace names survive the round trip; never user metadata.
_NAMES_KEY = "thioquant.trace_names"
_NUM = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")


def _is_num(tok: str) -> bool:
    return bool(_NUM.match(tok.strip().strip('"')))


def _sniff(line: str) -> tuple[str | None, bool]:
    """(delimiter, decimal_comma) for one data line; delimiter None means runs of whitespace."""
    for d in ("\t", ";"):
        if d in line:
            toks = [t for t in line.split(d) if t.strip()]
            return d, any("," in t for t in toks)
    if "," in line:
        ws = line.split()
        # '1,5 2,3' (whitespace columns, decimal commas) vs '1.5,2.3' or '1,2' (comma columns)
        if len(ws) >= 2 and all(_is_num(t) for t in ws):
            return None, True
        return ",", False
    return None, False


def _split(line: str, delim: str | None) -> list[str]:
    toks = line.split(delim) if delim else line.split()
    return [t.strip().strip('"').strip() for t in toks]


def _parse_meta_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_delimited(
    path: str | Path, *, time_unit: str | None = None, text: str | None = None
) -> Run:
    """Read a delimited text chromatogram.

    Parameters
    ----------
    path : str or Path
        The file.
    time_unit : {"min", "s", "ms"}, optional
        Force the unit of the first column; by default it is taken from the header ("(s)",
        "sec", "ms"...), else minutes.
    text : str, optional
        Already decoded content, when the caller has it (the file is then not read).

    Returns
    -------
    Run
        One trace per signal column. Column headers give the channel (``342nm``, ``DAD 342 nm``,
        ``UV342``, ``Sig=342,4`` -> UV; ``SRM 168 -> 151`` -> SRM) and, in brackets, the signal unit.
    """
    p = Path(path)
    if text is None:
        p = check_path(p)
        text = decode_text(p.read_bytes(), p)
    lines = text.splitlines()
    meta: dict[str, Any] = {}
    header: list[str] | None = None
    preamble: list[str] = []
    first = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            key, sep, val = s.lstrip("#").partition(":")
            if sep and key.strip():
                meta[key.strip()] = _parse_meta_value(val.strip())
            continue
        delim, dc = _sniff(s)
        toks = [t for t in _split(s, delim) if t != ""]
        if len(toks) >= 2 and all(_is_num(t) for t in toks):
            first = i
            break
        preamble.append(s)
        if i > 200:
            break
    if first is None:
        raise InputError("no numeric data rows found (expected time and signal columns)", path=p)
    delim, dc = _sniff(lines[first].strip())
    if preamble:
        last = preamble[-1]
        hd = "\t" if "\t" in last else ";" if ";" in last else "," if "," in last else None
        header = _split(last, hd if hd is not None or delim is None else delim)
        ncol0 = len([t for t in _split(lines[first].strip(), delim) if t != ""])
        if hd is None and len(header) != ncol0:
            # whitespace columns whose names contain spaces ('Time (min)   Signal (mAU)')
            header = [h.strip() for h in re.split(r"\s{2,}", last.strip())]
        if len(preamble) > 1:
            meta.setdefault("preamble", preamble[:-1])
    fast = _fast_block(lines, first, delim)
    if fast is not None:
        data, ncol, dc = fast, fast.shape[1], False
    else:
        data, ncol, dc = _slow_block(lines, first, delim, dc, p)
    if ncol < 2:
        raise InputError("need at least two columns (time and signal)", path=p)
    return _build_run(p, data, ncol, header, meta, time_unit)


def _fast_block(lines: list[str], first: int, delim: str | None) -> np.ndarray | None:
    """Parse a clean numeric block in one numpy call; None when the block needs the careful path.

    Clean means: one delimiter that cannot be a decimal separator, no quotes, comments, blank
    lines or trailing delimiters. Writer output and most instrument CSVs are clean, and this
    path is several times faster than splitting every line in Python.
    """
    import warnings

    body = lines[first:]
    while body and not body[-1].strip():
        body.pop()
    if not body or delim is None:
        return None
    block = "\n".join(body)
    if '"' in block or "#" in block or (delim != "," and "," in block):
        return None
    ncol = body[0].count(delim) + 1
    if body[0].rstrip().endswith(delim) or any(not ln.strip() for ln in body):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # malformed text: numpy warns (or raises) and stops
        try:
            arr = np.fromstring(block.replace("\n", delim), sep=delim)
        except ValueError:
            return None
    if arr.size != len(body) * ncol:
        return None
    return arr.reshape(len(body), ncol)


def _data_resumes(lines: list[str], start: int, delim: str | None, ncol: int) -> bool:
    """Whether a numeric row of ``ncol`` fields appears after line ``start`` (damage, not a footer)."""
    for ln in lines[start:]:
        s = ln.strip()
        if not s or s.startswith("#"):
            continue
        toks = _split(s, delim)
        while toks and toks[-1] == "":
            toks.pop()
        if len(toks) == ncol and all(_is_num(t) for t in toks):
            return True
    return False


def _slow_block(
    lines: list[str], first: int, delim: str | None, dc: bool, p: Path
) -> tuple[np.ndarray, int, bool]:
    rows: list[list[str]] = []
    ncol = None
    for j in range(first, len(lines)):
        s = lines[j].strip()
        if not s or s.startswith("#"):
            continue
        toks = _split(s, delim)
        # trailing delimiters ('1.0,2.0,') leave empty fields that are not data
        while toks and toks[-1] == "":
            toks.pop()
        if ncol is None:
            ncol = len(toks)
        if len(toks) != ncol:
            if not any(_is_num(t) for t in toks):
                if _data_resumes(lines, j + 1, delim, ncol):
                    # not a footer: numeric rows follow, so the data block is damaged here, and
                    # stopping would silently drop the rest of the chromatogram
                    raise InputError(f"not a data row: '{s[:40]}' (numeric rows follow)", path=p,
                                     row=j + 1)
                break  # a trailing table or footer after the data block
            raise InputError(f"row has {len(toks)} fields, expected {ncol}", path=p, row=j + 1)
        rows.append(toks)
    assert ncol is not None
    if ncol < 2:
        raise InputError("need at least two columns (time and signal)", path=p)
    if delim != ",":
        # decide over many rows: a first row like '0;0' has no separator to judge by
        dc = decimal_comma(rows, ncol)
    try:
        if dc:
            data = np.array([[t.replace(",", ".") for t in r] for r in rows], dtype=float)
        else:
            data = np.array(rows, dtype=float)
    except ValueError:
        for k, r in enumerate(rows):
            for t in r:
                if not _is_num(t) and t.lower() not in ("nan", "inf", "-inf"):
                    raise InputError(
                        f"not a number: '{t[:40]}'", path=p, row=first + k + 1
                    ) from None
        raise InputError("unparseable numbers in data rows", path=p) from None
    return data, ncol, dc


def _build_run(
    p: Path,
    data: np.ndarray,
    ncol: int,
    header: list[str] | None,
    meta: dict[str, Any],
    time_unit: str | None,
) -> Run:
    if header is None or len(header) < ncol:
        header = (header or []) + [""] * (ncol - len(header or []))
        if all(h == "" for h in header):
            header = ["time"] + [f"signal{k}" if ncol > 2 else "signal" for k in range(1, ncol)]
    header = [h if h else f"signal{k}" for k, h in enumerate(header[:ncol])]
    factor = {"min": 1.0, "s": 1 / 60, "ms": 1 / 60000}.get(time_unit or "")
    if time_unit is not None and factor is None:
        raise InputError(f"unknown time_unit '{time_unit}' (use min, s or ms)", path=p)
    if factor is None:
        factor = time_factor_from_label(header[0])
    t = data[:, 0] * factor
    names = meta.pop(_NAMES_KEY, None)
    traces = []
    for k in range(1, ncol):
        label, unit = split_unit(header[k])
        ch = Channel(**channel_from_label(label))
        name = label or f"signal{k}"
        if isinstance(names, list) and len(names) == ncol - 1:
            name = str(names[k - 1])
        tt, yy = validate_xy(t, data[:, k], path=p, name=name)
        traces.append(Trace(name=name, time_min=tt, signal=yy, signal_unit=unit, channel=ch))
    return Run(traces=tuple(traces), source=str(p), format="delimited", metadata=meta)


def column_label(tr: Trace) -> str:
    """Header written for a trace: its channel in a form the reader parses back, plus unit."""
    ch = tr.channel
    if ch.kind == "uv" and ch.wavelength_nm is not None:
        lab = f"UV {ch.wavelength_nm:.10g} nm" + (
            f" bw {ch.bandwidth_nm:.10g}" if ch.bandwidth_nm else ""
        )
    elif ch.kind == "srm" and ch.precursor_mz is not None and ch.product_mz is not None:
        lab = f"SRM {ch.precursor_mz!r} -> {ch.product_mz!r}"
    elif ch.kind == "xic" and ch.precursor_mz is not None:
        tol = f" +/- {ch.tolerance!r} {ch.tolerance_unit}" if ch.tolerance else ""
        lab = f"XIC {ch.precursor_mz!r}{tol}"
    else:
        lab = tr.name.replace(",", " ").replace("(", "").replace(")", "")
    return f"{lab} ({tr.signal_unit})" if tr.signal_unit else lab


def _meta_text(v: Any) -> str:
    if isinstance(v, str):
        try:
            json.loads(v)
        except ValueError:
            if "\n" not in v and v == v.strip():
                return v
        return json.dumps(v)
    return json.dumps(v, default=str)


def write_delimited(
    path: str | Path,
    traces: Trace | Run | Iterable[Trace],
    metadata: Mapping[str, Any] | None = None,
    *,
    delimiter: str = ",",
) -> Path:
    """Write traces that share one time axis as one CSV file.

    The first column is ``time_min``; each trace becomes one column headed like
    ``UV 342 nm (mAU)``. Numbers are written with the shortest repr that round-trips float64,
    so reading the file back is exact. ``metadata`` goes into ``# key: value`` lines at the top
    (values that are not plain strings are JSON-encoded and decoded again on reading).

    Returns
    -------
    Path
        The path written.
    """
    trs = as_trace_list(traces)
    if isinstance(traces, Run) and metadata is None:
        metadata = dict(traces.metadata)
    if not trs:
        raise InputError("nothing to write: no traces", path=path)
    t0 = trs[0].time_min
    for tr in trs[1:]:
        if tr.time_min.shape != t0.shape or not np.array_equal(tr.time_min, t0):
            raise InputError(
                f"trace '{tr.name}' does not share the time axis of '{trs[0].name}'", path=path
            )
    out = []
    for k, v in (metadata or {}).items():
        key = str(k).replace(":", "_").replace("\n", " ")
        out.append(f"# {key}: {_meta_text(v)}")
    out.append(f"# {_NAMES_KEY}: {json.dumps([tr.name for tr in trs])}")
    out.append(delimiter.join(["time_min"] + [column_label(tr) for tr in trs]))
    cols = [t0.tolist()] + [tr.signal.tolist() for tr in trs]
    out.extend(delimiter.join(map(repr, row)) for row in zip(*cols, strict=True))
    p = Path(path)
    p.write_text("\n".join(out) + "\n", encoding="utf-8")
    return p
