"""File readers and writers: one entry point, :func:`read_run`, for every supported format.

The reader is chosen from the file's content (magic bytes, first lines) and only then from its
extension, so a mislabelled file still opens with the right reader. Each reader lives in its
own module and is imported on first use.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Any

from thioquant.errors import InputError
from thioquant.io._common import check_path, decode_text, file_sha256
from thioquant.model import Run

# format name -> (module, reader function)
READERS: dict[str, tuple[str, str]] = {
    "mzml": ("thioquant.io.mzml", "read_mzml"),
    "aia": ("thioquant.io.aia", "read_aia"),
    "delimited": ("thioquant.io.delimited", "read_delimited"),
    "chromeleon": ("thioquant.io.vendor_text", "read_chromeleon"),
    "chromeleon_results": ("thioquant.io.chromeleon_results", "read_chromeleon_results"),
    "chemstation_report": ("thioquant.io.chemstation_report", "read_chemstation_report"),
    "shimadzu": ("thioquant.io.vendor_text", "read_shimadzu"),
    "chemstation_csv": ("thioquant.io.vendor_text", "read_chemstation_csv"),
    "waters_arw": ("thioquant.io.vendor_text", "read_arw"),
    "agilent_d": ("thioquant.io.rainbow_io", "read_agilent"),
    "agilent": ("thioquant.io.rainbow_io", "read_agilent"),
    "agilent_ch": ("thioquant.io.rainbow_io", "read_agilent"),
    "agilent_uv": ("thioquant.io.rainbow_io", "read_agilent"),
    "agilent_dx": ("thioquant.io.rainbow_io", "read_agilent"),
    "waters_raw": ("thioquant.io.rainbow_io", "read_waters"),
}

_EXTENSIONS = {
    ".mzml": "mzml",
    ".cdf": "aia",
    ".nc": "aia",
    ".csv": "delimited",
    ".tsv": "delimited",
    ".txt": "delimited",
    ".dat": "delimited",
    ".arw": "waters_arw",
    ".ch": "agilent_ch",
    ".uv": "agilent_uv",
    ".dx": "agilent_dx",
    ".d": "agilent_d",
    ".raw": "waters_raw",
}


def detect_format(path: str | Path) -> str:
    """Name of the format of ``path``, from its content first and its extension second.

    Returns one of the keys of :data:`READERS` (``"mzml"``, ``"aia"``, ``"delimited"``,
    ``"chromeleon"``, ``"shimadzu"``, ``"chemstation_csv"``, ``"waters_arw"``, ``"agilent_d"``,
    ``"agilent_ch"``, ``"agilent_uv"``, ``"agilent_dx"``, ``"waters_raw"``).

    Raises
    ------
    InputError
        Missing or empty file, or content that no reader recognises.
    """
    p = check_path(path, allow_dir=True)
    ext = p.suffix.lower()
    if p.is_dir():
        names = {q.name.lower() for q in p.iterdir()}
        if ext == ".raw" or "_functns.inf" in names or any(n.startswith("_chro") for n in names):
            return "waters_raw"
        if ext == ".d" or any(n.endswith((".ch", ".uv", ".ms")) for n in names):
            return "agilent_d"
        raise InputError("folder is neither an Agilent .D nor a Waters .raw folder", path=p)
    with p.open("rb") as fh:
        head = fh.read(8192)
    if head[:4] in (b"CDF\x01", b"CDF\x02"):
        return "aia"
    if head[:5] == b"%PDF-":
        raise InputError("PDF document, not a chromatogram (vendor report?)", path=p)
    if head[:4] == b"\x89HDF":
        raise InputError(
            "netCDF-4/HDF5 file: only netCDF-3 (ANDI/AIA) chromatography files are supported",
            path=p,
        )
    if head[:4] == b"PK\x03\x04":
        if ext == ".dx" or b"[Content_Types].xml" in head or b".rels" in head:
            return "agilent_dx"
        raise InputError("zip archive that is not an Agilent OpenLab .dx file", path=p)
    # ChemStation binaries: a length byte, then the version as ASCII digits ("30", "130", "179"...)
    if len(head) > 4 and 1 <= head[0] <= 3 and head[1 : 1 + head[0]].isdigit():
        return "agilent_uv" if ext == ".uv" else "agilent_ch"
    try:
        text = _decode_head(head, p)
    except InputError:
        if ext in (".ch", ".uv", ".dx"):
            return _EXTENSIONS[ext]
        raise  # binary content, or text that does not decode: the reason is in the message
    low = text.lstrip("\ufeff").lstrip().lower()
    if low.startswith("<?xml") or low.startswith("<indexedmzml") or low.startswith("<mzml"):
        if "<mzml" in low or "<indexedmzml" in low:
            return "mzml"
        raise InputError("XML file that is not mzML", path=p)
    if "[header]" in low[:200] and (
        "labsolutions" in low or "lcsolution" in low or "[chromatogram" in low or "[lc chromatogram" in low
    ):
        return "shimadzu"
    from thioquant.io.chromeleon_results import looks_like_results

    if looks_like_results(text):
        return "chromeleon_results"
    if low.startswith("data file ") and ("area percent report" in low or "external standard report" in low
                                         or "internal standard report" in low or "\n=====" in low):
        return "chemstation_report"
    if (
        low.startswith("file path\t")
        or ("raw data:" in low and "injection information" in low)
        or ("chromatogram data information" in low)
    ):
        return "chromeleon"
    if low.startswith('"samplename"') or (ext == ".arw" and "\t" in low):
        return "waters_arw"
    if text.lstrip("\ufeff").startswith(","):
        return "chemstation_csv"  # ChemStation "Export to CSV": empty time header, UTF-16
    if ext in (".ch", ".uv", ".dx", ".cdf", ".mzml"):
        raise InputError(f"content does not match the '{ext}' extension (text file)", path=p)
    return "delimited"


def _decode_head(head: bytes, path: Path) -> str:
    """Decode the first bytes of a file, allowing the 8 KB cut to split a multi-byte character."""
    if len(head) < 8192:
        return decode_text(head, path)
    error: InputError | None = None
    for back in range(4):  # UTF-8 sequences and UTF-16 surrogate pairs are at most 4 bytes
        try:
            return decode_text(head[: len(head) - back], path)
        except InputError as exc:
            error = error or exc
    assert error is not None
    raise error


# Options that only some readers use; others ignore them, so a pipeline can pass the same
# options (e.g. the method's wavelengths) whatever format each injection comes in.
_SHARED_OPTIONS = frozenset({"wavelengths", "bandwidth_nm", "xic", "time_unit", "status_traces"})


@functools.lru_cache(maxsize=64)
def _accepted(reader: Any) -> frozenset[str]:
    import inspect

    return frozenset(inspect.signature(reader).parameters)


def _options_for(reader: Any, fmt: str, options: dict[str, Any], path: Path) -> dict[str, Any]:
    if not options:
        return {}
    accepted = _accepted(reader)
    unknown = set(options) - accepted - _SHARED_OPTIONS
    if unknown:
        raise InputError(
            f"option(s) {sorted(unknown)} not understood by the {fmt} reader "
            f"(it takes {sorted(accepted - {'path'}) or 'no options'})",
            path=path,
        )
    return {k: v for k, v in options.items() if k in accepted}


def read_run(path: str | Path, *, format: str | None = None, **options: Any) -> Run:
    """Read one injection from any supported file or folder.

    Parameters
    ----------
    path : str or Path
        The file (``.mzML``, ``.cdf``, ``.ch``, ``.uv``, ``.dx``, ``.arw``, ``.txt``, ``.csv``...)
        or folder (Agilent ``.D``, Waters ``.raw``).
    format : str, optional
        Force a reader (a key of :data:`READERS`) instead of detecting it.
    **options
        Passed to the reader: ``wavelengths=[342, 303]`` and ``bandwidth_nm=4`` for DAD files,
        ``xic=[(mz, tol, "ppm"|"Da")]`` for full-scan mzML, ``time_unit="s"`` for delimited text.

    Returns
    -------
    Run
        With ``source`` (the path), ``sha256`` (of the file bytes, or of a folder's files in
        sorted order) and ``format`` filled.
    """
    p = check_path(path, allow_dir=True)
    fmt = format or detect_format(p)
    if fmt not in READERS:
        raise InputError(f"unknown format '{fmt}'; known: {', '.join(sorted(READERS))}", path=p)
    module, func = READERS[fmt]
    try:
        reader = getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError):
        raise InputError(f"no reader available yet for format '{fmt}'", path=p) from None
    try:
        run = reader(p, **_options_for(reader, fmt, options, p))
    except InputError:
        raise
    except (MemoryError, RecursionError):
        raise InputError(f"too large or too deeply nested to read as {fmt}", path=p) from None
    except Exception as exc:  # noqa: BLE001 - a reader's or library's error on bad bytes
        # a file a reader or its library chokes on is this injection's problem, never the batch's
        raise InputError(f"could not be read as {fmt} ({type(exc).__name__}: {str(exc)[:200]})",
                         path=p) from None
    from dataclasses import replace

    # a reader that already hashed the bytes it parsed (mzML) saves a second read
    digest = run.sha256 if (run.sha256 and p.is_file()) else file_sha256(p)
    return replace(run, source=str(p), sha256=digest, format=fmt)


def __getattr__(name: str) -> Any:
    # Writers and readers re-exported lazily so that importing thioquant.io stays cheap.
    lazy = {
        "read_mzml": "thioquant.io.mzml",
        "write_mzml": "thioquant.io.mzml",
        "read_delimited": "thioquant.io.delimited",
        "write_delimited": "thioquant.io.delimited",
        "read_aia": "thioquant.io.aia",
        "write_aia": "thioquant.io.aia",
        "read_agilent": "thioquant.io.rainbow_io",
        "read_waters": "thioquant.io.rainbow_io",
        "read_chromeleon": "thioquant.io.vendor_text",
        "read_shimadzu": "thioquant.io.vendor_text",
        "read_chemstation_csv": "thioquant.io.vendor_text",
        "read_arw": "thioquant.io.vendor_text",
        "write_chromeleon": "thioquant.io.vendor_text",
        "write_shimadzu": "thioquant.io.vendor_text",
    }
    if name in lazy:
        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'thioquant.io' has no attribute '{name}'")


__all__ = [
    "READERS",
    "detect_format",
    "read_run",
    "read_mzml",
    "write_mzml",
    "read_delimited",
    "write_delimited",
    "read_aia",
    "write_aia",
    "read_agilent",
    "read_waters",
    "read_chromeleon",
    "read_shimadzu",
    "read_chemstation_csv",
    "read_arw",
    "write_chromeleon",
    "write_shimadzu",
]
