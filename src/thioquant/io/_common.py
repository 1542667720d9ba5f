"""Helpers shared by the readers: hashing, text decoding, validation of time/signal arrays."""

from __future__ import annotations

import hashlib
import re
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.errors import InputError

# Time-unit words found in vendor headers -> factor to minutes.
TIME_FACTORS = {
    "min": 1.0,
    "minutes": 1.0,
    "minute": 1.0,
    "s": 1.0 / 60.0,
    "sec": 1.0 / 60.0,
    "secs": 1.0 / 60.0,
    "second": 1.0 / 60.0,
    "seconds": 1.0 / 60.0,
    "ms": 1.0 / 60000.0,
    "msec": 1.0 / 60000.0,
    "h": 60.0,
    "hr": 60.0,
    "hours": 60.0,
}


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, or of a folder's files taken in sorted relative-path order.

    Raises InputError for a file that is not a regular file (FIFO, device, socket), which would
    block or never end, before opening it.

    For a folder each file contributes its relative POSIX path, a NUL byte and its bytes, so
    renaming a file inside the folder changes the hash.
    """
    p = Path(path)
    mode = p.stat().st_mode  # OSError (FileNotFoundError...) for a missing file, as before
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):  # a FIFO would block; /dev/zero never ends
        raise InputError(f"not a regular file ({_KIND.get(stat.S_IFMT(mode), 'special file')})", path=p)
    h = hashlib.sha256()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for f in files:
        if p.is_dir():
            h.update(f.relative_to(p).as_posix().encode())
            h.update(b"\0")
        with f.open("rb") as fh:  # streamed: .D folders can hold GB-sized MS files
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


_KIND = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def check_path(path: str | Path, *, allow_dir: bool = False) -> Path:
    """The path as a Path, or InputError when it is missing, a folder, or an empty file."""
    p = Path(path)
    try:
        st = p.stat()  # one system call (it was three: exists, is_dir, stat)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError("file not found", path=p) from None
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror or exc}", path=p) from None
    if stat.S_ISDIR(st.st_mode):
        if not allow_dir:
            raise InputError("is a folder, expected a file", path=p)
        return p
    if not stat.S_ISREG(st.st_mode):
        # a FIFO blocks the reader (and the cache's hash) forever; /dev/zero never ends
        raise InputError(f"not a regular file ({_KIND.get(stat.S_IFMT(st.st_mode), 'special file')})",
                         path=p)
    if st.st_size == 0:
        raise InputError("file is empty", path=p)
    return p


def decode_text(raw: bytes, path: str | Path) -> str:
    """Decode a text export: BOM-marked UTF-8/16/32, BOM-less UTF-16, UTF-8, then cp1252.

    Binary content (NUL bytes that are not UTF-16 padding) raises InputError.
    """
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return _decode(raw, "utf-32", path)
    if raw.startswith(b"\xef\xbb\xbf"):
        return _decode(raw[3:], "utf-8", path)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode(raw, "utf-16", path)
    head = raw[:4096]
    if len(head) >= 4 and head.count(b"\0") > 0.3 * len(head):
        # BOM-less UTF-16 (ChemStation exports without BOM): every other byte is NUL.
        if head[1::2].count(b"\0") > 0.9 * len(head[1::2]):
            return _decode(raw, "utf-16-le", path)
        if head[0::2].count(b"\0") > 0.9 * len(head[0::2]):
            return _decode(raw, "utf-16-be", path)
    if b"\0" in head:
        raise InputError("binary content where text was expected", path=path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _decode(raw: bytes, enc: str, path: str | Path) -> str:
    try:
        return raw.decode(enc)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot decode as {enc}: {exc.reason} at byte {exc.start}", path=path
        ) from None


def validate_xy(
    time_min: Any, signal: Any, *, path: str | Path, name: str, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Check a decoded trace: same length, finite values, strictly increasing time.

    Returns float64 arrays; raises InputError naming the file, trace and reason.
    """
    try:
        t = np.asarray(time_min, dtype=float)
        y = np.asarray(signal, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"trace '{name}': values that are not numbers ({exc})", path=path) from None
    if t.ndim != 1 or t.shape != y.shape:
        raise InputError(
            f"trace '{name}': time and signal lengths differ ({t.size} vs {y.size})", path=path
        )
    if t.size == 0 and not allow_empty:
        raise InputError(f"trace '{name}' has no data points", path=path)
    # fast path first (ndarray methods, no np.diff): this runs for every trace of every file
    if np.isfinite(t).all() and np.isfinite(y).all() and (t[1:] > t[:-1]).all():
        return t, y
    if not np.all(np.isfinite(t)):
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise InputError(f"trace '{name}': non-finite time at point {i}", path=path)
    if not np.all(np.isfinite(y)):
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise InputError(
            f"trace '{name}': non-finite signal (NaN/inf) at point {i} (t={t[i]:g} min)", path=path
        )
    d = np.diff(t)
    i = int(np.flatnonzero(d <= 0)[0])
    what = "duplicated" if d[i] == 0 else "non-monotonic"
    raise InputError(
        f"trace '{name}': {what} time points at {i}-{i + 1} ({t[i]:g}, {t[i + 1]:g} min)",
        path=path,
    )


_COMMA_DEC = re.compile(r"^[-+]?\d*,\d+(?:[eE][-+]?\d+)?$")
_DOT_DEC = re.compile(r"^[-+]?\d*\.\d+(?:[eE][-+]?\d+)?$")


def decimal_comma(rows: list[list[str]], ncols: int = 2) -> bool:
    """Whether the data block uses ',' as decimal separator, by majority over its first rows.

    One row is not enough: a time of ``0`` or ``1e-12`` has no separator at all.
    """
    comma = dot = 0
    for r in rows[:200]:
        for tok in r[:ncols]:
            t = tok.strip()
            if _COMMA_DEC.match(t):
                comma += 1
            elif _DOT_DEC.match(t):
                dot += 1
    return comma > dot


_WL_PATTERNS = (
    re.compile(
        r"sig\s*=\s*(\d+(?:[.,]\d+)?)\s*[,.]\s*(\d+(?:[.,]\d+)?)", re.I
    ),  # ChemStation Sig=342,4
    re.compile(
        r"(?:wvl|wavelength|lambda|uv|dad|pda|vis)\D{0,12}?(\d{3}(?:\.\d+)?)\s*(?:nm)?", re.I
    ),
    re.compile(r"(\d{3}(?:\.\d+)?)\s*nm", re.I),
    re.compile(r"^\s*(\d{3}(?:\.\d+)?)\s*$"),
)
_BW_PATTERN = re.compile(r"\b(?:bw|bandwidth)\s*[=:]?\s*(\d+(?:\.\d+)?)", re.I)
_SRM_PATTERN = re.compile(r"(?:srm|mrm)?\s*(\d+(?:\.\d+)?)\s*(?:->|>|/)\s*(\d+(?:\.\d+)?)", re.I)
_XIC_PATTERN = re.compile(
    r"^\s*(?:xic|eic)\s*(?:m/z\s*)?(\d+(?:\.\d+)?)(?:\s*\+/-\s*(\d+(?:\.\d+)?)\s*(ppm|da))?", re.I
)
_UNIT_PATTERN = re.compile(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]\s*$")


def split_unit(header: str) -> tuple[str, str]:
    """('DAD 342 nm', 'mAU') from 'DAD 342 nm (mAU)' or '[mAU]'; unit '' when absent."""
    m = _UNIT_PATTERN.search(header)
    if not m:
        return header.strip(), ""
    return header[: m.start()].strip(), m.group(1)


def channel_from_label(label: str) -> dict[str, Any]:
    """Channel fields guessed from a column or channel label ('UV342', 'SRM 168 -> 151'...)."""
    m = _XIC_PATTERN.search(label)
    if m:
        tol = m.group(2)
        return {
            "kind": "xic",
            "precursor_mz": float(m.group(1)),
            "tolerance": float(tol) if tol else None,
            "tolerance_unit": ("Da" if m.group(3).lower() == "da" else "ppm") if tol else None,
        }
    if re.search(r"\b(?:srm|mrm)\b", label, re.I) or "->" in label:
        m = _SRM_PATTERN.search(label)
        if m:
            return {
                "kind": "srm",
                "precursor_mz": float(m.group(1)),
                "product_mz": float(m.group(2)),
            }
    if re.search(r"\btic\b|total ion", label, re.I):
        return {"kind": "tic"}
    for i, pat in enumerate(_WL_PATTERNS):
        m = pat.search(label)
        if m:
            wl = float(m.group(1).replace(",", "."))
            if not 150.0 <= wl <= 1100.0:
                continue
            out: dict[str, Any] = {"kind": "uv", "wavelength_nm": wl}
            if i == 0:
                out["bandwidth_nm"] = float(m.group(2).replace(",", "."))
            else:
                b = _BW_PATTERN.search(label)
                if b:
                    out["bandwidth_nm"] = float(b.group(1))
            return out
    return {"kind": "detector"}


def time_factor_from_label(label: str, default: float = 1.0) -> float:
    """Factor converting a time column to minutes, from its header ('Time (s)', 'sec', 'ms')."""
    low = label.lower()
    _, unit = split_unit(low)
    if unit and unit.strip() in TIME_FACTORS:
        return TIME_FACTORS[unit.strip()]
    for word in re.findall(r"[a-z]+", low):
        if word in ("ms", "msec", "millisecond", "milliseconds"):
            return TIME_FACTORS["ms"]
        if word in ("s", "sec", "secs", "second", "seconds"):
            return TIME_FACTORS["s"]
        if word in ("min", "mins", "minute", "minutes"):
            return 1.0
    return default


def as_trace_list(traces: Any) -> Sequence[Any]:
    """Accept a Run, one Trace, or an iterable of Traces."""
    from thioquant.model import Run, Trace

    if isinstance(traces, Run):
        return list(traces.traces)
    if isinstance(traces, Trace):
        return [traces]
    return list(traces)
