"""A fast reader for the chromatograms of an mzML file, without pyopenms.

A batch reads hundreds of small MRM files, and pyopenms spends most of its time on each on fixed
work (its handler re-reads the PSI-MS CV mapping for every file; importing pyopenms costs 0.13 s
per process). So this module reads the chromatograms itself. The base64 text of the arrays (nine
tenths of the bytes) and the spectra are cut out first; expat parses the rest, its start-tag
callbacks following mzML's schema order of elements; binascii, zlib and numpy decode the arrays.

It gives the same numbers as OpenMS: times in seconds as 64-bit floats (minutes converted the
way OpenMS converts them), intensities rounded to the 32-bit floats OpenMS holds, the same m/z
targets, user parameters typed as OpenMS types them. The tests compare it with pyopenms on every
mzML file at hand and on mutated files.

It reads only what it fully understands. Anything else raises :class:`Unsupported`, and the
caller reads the file with pyopenms instead: comments or CDATA, namespace prefixes, UTF-16/32
text, a term whose name does not match its accession (OpenMS ignores those), unknown
chromatogram types or time units, and any file that is not well-formed (so a truncated file gets
pyopenms's diagnosis). MS-Numpress arrays are decoded here with pyopenms's own numpress coder.

A file that contradicts itself raises :class:`Damaged` and is read by nobody: base64 text that is
not strictly base64 (a stray ``!`` inside an array was silently skipped by pyopenms's lenient
decoder and changed the apex 16-fold), a zlib stream that does not inflate, a byte count that is
not a whole number of values, arrays shorter or longer than the chromatogram's
``defaultArrayLength``, time and intensity arrays of different lengths, times out of order (OpenMS
sorts them in silence), and any DOCTYPE or entity declaration (mzML has none; entity expansion is
how a "billion laughs" file makes a parser eat memory). :func:`check_arrays` applies the same
array checks to a file that goes to pyopenms.
"""

from __future__ import annotations

import binascii
import math
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Unsupported(Exception):
    """The file holds something this reader does not handle; read it with pyopenms."""


class Damaged(Exception):
    """The file contradicts itself (damaged base64, a declared length that is not its arrays'
    length, times out of order, a DOCTYPE): a damaged file, which no reader should quantify."""


# The PSI-MS terms this reader acts on, with their names. OpenMS ignores a term whose name does
# not match its accession, so such a term makes a file Unsupported rather than read differently.
TERM_NAMES = {
    "MS:1000235": "total ion current chromatogram",
    "MS:1000628": "basepeak chromatogram",
    "MS:1000627": "selected ion current chromatogram",
    "MS:1001472": "selected ion monitoring chromatogram",
    "MS:1001473": "selected reaction monitoring chromatogram",
    "MS:1000810": "ion current chromatogram",
    "MS:1000811": "electromagnetic radiation chromatogram",
    "MS:1000812": "absorption chromatogram",
    "MS:1000813": "emission chromatogram",
    "MS:1000129": "negative scan",
    "MS:1000130": "positive scan",
    "MS:1000827": "isolation window target m/z",
    "MS:1000744": "selected ion m/z",
    "MS:1000595": "time array",
    "MS:1000515": "intensity array",
    "MS:1000521": "32-bit float",
    "MS:1000523": "64-bit float",
    "MS:1000519": "32-bit integer",
    "MS:1000522": "64-bit integer",
    "MS:1000576": "no compression",
    "MS:1000574": "zlib compression",
    # other data arrays: decoded by OpenMS as extra arrays, unused by thioquant
    "MS:1000514": "m/z array",
    "MS:1000516": "charge array",
    "MS:1000517": "signal to noise array",
    "MS:1000617": "wavelength array",
    "MS:1000786": "non-standard data array",
    "MS:1000820": "flow rate array",
    "MS:1000821": "pressure array",
    "MS:1000822": "temperature array",
    "MS:1002478": "mean charge array",
    "MS:1002529": "resolution array",
    "MS:1002530": "baseline array",
    "MS:1002742": "noise array",
    "MS:1002743": "sampled noise m/z array",
    "MS:1002744": "sampled noise intensity array",
    "MS:1002745": "sampled noise baseline array",
    "MS:1002893": "ion mobility array",
    "MS:1003006": "mean inverse reduced ion mobility array",
    "MS:1003007": "raw ion mobility array",
    "MS:1003008": "raw inverse reduced ion mobility array",
}
# chromatogram type terms -> the names used by thioquant.io.mzml
CHROMATOGRAM_TYPES = {
    "MS:1000235": "tic",
    "MS:1000628": "basepeak",
    "MS:1000627": "sic",
    "MS:1001472": "sim",
    "MS:1001473": "srm",
    "MS:1000810": "mass",
    "MS:1000811": "emr",
    "MS:1000812": "absorption",
    "MS:1000813": "emission",
}
_CHROM_IGNORED = {"MS:1000129", "MS:1000130"}  # polarity, which OpenMS does not keep there
_ISOLATION_TARGET = "MS:1000827"
_SELECTED_ION_MZ = "MS:1000744"
_DTYPES = {"MS:1000521": "<f4", "MS:1000523": "<f8", "MS:1000519": "<i4", "MS:1000522": "<i8"}
_NO_COMPRESSION, _ZLIB = "MS:1000576", "MS:1000574"
_TIME_ARRAY, _INTENSITY_ARRAY = "MS:1000595", "MS:1000515"
# precision, compression and array-type terms of a binaryDataArray
_ARRAY_TERMS = (
    set(TERM_NAMES)
    - set(CHROMATOGRAM_TYPES)
    - _CHROM_IGNORED
    - {_ISOLATION_TARGET, _SELECTED_ION_MZ}
)
# MS-Numpress array terms -> (numpress method, followed by zlib)
_NUMPRESS = {
    "MS:1002312": ("LINEAR", False),
    "MS:1002313": ("PIC", False),
    "MS:1002314": ("SLOF", False),
    "MS:1002746": ("LINEAR", True),
    "MS:1002747": ("PIC", True),
    "MS:1002748": ("SLOF", True),
}
_TIME_UNITS = {"": 1.0, "UO:0000010": 1.0, "UO:0000031": 60.0}  # -> seconds
# instrumentConfiguration cvParams that do not name the instrument model
_NOT_MODEL = {"MS:1000031", "MS:1000529", "MS:1000032"}
# userParam types that OpenMS reads as integers and as floating-point numbers
_USER_INT = {
    "xsd:int",
    "xsd:integer",
    "xsd:long",
    "xsd:short",
    "xsd:byte",
    "xsd:nonNegativeInteger",
    "xsd:positiveInteger",
    "xsd:unsignedInt",
    "xsd:unsignedLong",
    "xsd:unsignedShort",
}
_USER_FLOAT = {"xsd:double", "xsd:float", "xsd:decimal"}


@dataclass
class Chromatogram:
    """One chromatogram as read: its id, type, m/z targets, user parameters and arrays."""

    native_id: str
    ctype: str | None  # a value of CHROMATOGRAM_TYPES, or None when the file gives none
    precursor_mz: float = 0.0
    product_mz: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    declared_length: int | None = None  # defaultArrayLength
    time_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    intensity: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass
class ChromatogramFile:
    """What :func:`read_chromatograms` returns: the chromatograms, run metadata, spectrum count."""

    chromatograms: list[Chromatogram]
    metadata: dict[str, Any]
    n_spectra: int


def _user_value(typ: str, value: str) -> Any:
    """A userParam value typed as OpenMS types it."""
    try:
        if typ in _USER_INT:
            return int(value)
        if typ in _USER_FLOAT:
            return float(value)
    except ValueError:
        raise Unsupported(f"userParam value {value!r} is not a {typ}") from None
    return value


def _b64(text: bytes) -> bytes:
    """Strict base64: XML whitespace is dropped (line-wrapped arrays are legal XML), anything else
    that is not base64, or bad padding, raises :class:`Damaged`."""
    if not text:
        return b""
    try:
        # binascii's strict mode is base64.b64decode(validate=True) without its regex pass
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error as exc:
        stripped = text.translate(None, b" \t\r\n")
        if len(stripped) != len(text):
            return _b64(stripped)
        raise Damaged(f"binary data is not valid base64 ({exc})") from None


def _numpress(data: bytes, method: str, zlib_after: bool) -> np.ndarray:
    """A numpress array decoded by pyopenms's coder (the only thing handed to pyopenms here)."""
    import base64 as b64

    from thioquant.io._openms import _pyopenms

    oms = _pyopenms()
    coder = oms.MSNumpressCoder()
    cfg = oms.NumpressConfig()
    cfg.np_compression = getattr(coder.NumpressCompression, method)
    out: list[float] = []
    try:
        coder.decodeNP(b64.b64encode(data).decode("ascii"), out, zlib_after, cfg)
    except Exception as exc:  # noqa: BLE001 - the C++ decoder's own error
        raise Damaged(f"MS-Numpress data does not decode ({str(exc)[:120]})") from None
    return np.asarray(out, dtype=np.float64)


def _array(text: bytes, params: list[str]) -> tuple[str | None, np.ndarray]:
    """(array type accession, decoded values) of one binaryDataArray."""
    dtype, kind, compressed, numpress = None, None, False, None
    for acc in params:
        if acc in _DTYPES:
            dtype = _DTYPES[acc]
        elif acc == _ZLIB:
            compressed = True
        elif acc in (_TIME_ARRAY, _INTENSITY_ARRAY):
            kind = acc
        elif acc in _NUMPRESS:
            numpress = _NUMPRESS[acc]
        elif acc not in _ARRAY_TERMS:
            raise Unsupported(f"binary data array term {acc}")
    if dtype is None and numpress is None:
        raise Unsupported("binary data array without a precision term")  # OpenMS refuses it
    data = _b64(text)
    if numpress is not None:
        return kind, (_numpress(data, *numpress) if data else np.empty(0))
    if compressed and data:
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise Damaged(f"zlib-compressed binary data does not inflate ({exc})") from None
    if len(data) % np.dtype(dtype).itemsize:
        raise Damaged(f"binary data of {len(data)} bytes is not a whole number of "
                      f"{np.dtype(dtype).itemsize}-byte values")
    return kind, np.frombuffer(data, dtype=dtype)


def _strip(raw: bytes) -> tuple[bytes, dict[int, bytes]]:
    """The bytes without the spectra and the base64 text of ``<binary>`` elements; that text by offset.

    The XML parser then never scans the arrays (nine tenths of a chromatogram file); each
    ``<binary>`` tag's offset in the stripped bytes finds its text again. Spectra are not read
    here (XICs from spectra go through pyopenms), so their list is emptied.
    """
    find = raw.find
    i = find(b"<spectrumList")
    if i >= 0:
        gt = find(b">", i)
        if gt > 0 and raw[gt - 1 : gt] != b"/" and (j := find(b"</spectrumList>", gt)) > 0:
            raw = raw[: gt + 1] + raw[j:]
            find = raw.find
    parts: list[bytes] = []
    blobs: dict[int, bytes] = {}
    pos = size = 0
    while (i := find(b"<binary>", pos)) >= 0:
        j = find(b"</binary>", i + 8)
        if j < 0:
            break  # truncated: left to the parser to report
        parts.append(raw[pos : i + 8])
        blobs[size + i - pos] = raw[i + 8 : j]
        size += i + 8 - pos
        pos = j
    parts.append(raw[pos:])
    return b"".join(parts), blobs


class _Handler:
    """expat start-tag callbacks collecting chromatograms and run metadata.

    No end-tag callbacks (they would double the Python calls): each element's context is
    known from the start tags before it, in mzML's schema order of child elements.
    """

    def __init__(self, blobs: dict[int, bytes], parser: Any) -> None:
        self.blobs = blobs
        self.parser = parser
        self.zone = ""  # whose params come next: chrom, precursor.iso, array, config, run, ...
        self.section = ""  # precursor / product
        self.groups: dict[str, list[tuple[str, dict[str, str]]]] = {}  # referenceableParamGroups
        self.group: list[tuple[str, dict[str, str]]] | None = None
        self.chroms: list[Chromatogram] = []
        self.chrom: Chromatogram | None = None
        self.arrays: dict[str, np.ndarray] = {}
        self.array_params: list[str] | None = None
        self.array_text = b""
        self.time_factor = 1.0
        self.meta: dict[str, Any] = {}
        self.run_user: dict[str, Any] = {}
        self.sources: list[str] = []
        self.models: dict[str, str] = {}  # instrumentConfiguration id -> model name
        self.config = ""
        self.default_config = ""
        self.n_spectra = 0

    def param(self, tag: str, a: dict[str, str]) -> None:
        """A cvParam or userParam, inline or from a referenced group, in the current zone."""
        zone = self.zone
        if tag == "cvParam":
            acc = a.get("accession", "")
            if acc in TERM_NAMES and a.get("name") != TERM_NAMES[acc] and zone in _CHECKED_ZONES:
                raise Unsupported(f"term {acc} named {a.get('name')!r}, not {TERM_NAMES[acc]!r}")
            if zone == "array":
                self.array_params.append(acc)  # type: ignore[union-attr]
                if acc == _TIME_ARRAY:
                    unit = a.get("unitAccession", "")
                    if unit not in _TIME_UNITS:
                        raise Unsupported(f"time unit {unit}")
                    self.time_factor = _TIME_UNITS[unit]
            elif zone == "chrom":
                if acc in CHROMATOGRAM_TYPES:
                    self.chrom.ctype = CHROMATOGRAM_TYPES[acc]  # type: ignore[union-attr]
                elif acc not in _CHROM_IGNORED:
                    raise Unsupported(f"chromatogram term {acc}")
            elif self.chrom is not None and (
                (zone == "iso" and acc == _ISOLATION_TARGET)
                or (zone == "ion" and acc == _SELECTED_ION_MZ)
            ):
                try:
                    mz = float(a.get("value", ""))
                except ValueError:
                    mz = math.nan
                if not math.isfinite(mz):
                    raise Unsupported(f"m/z value {a.get('value')!r}")
                if self.section == "precursor":
                    self.chrom.precursor_mz = mz  # type: ignore[union-attr]
                else:
                    self.chrom.product_mz = mz  # type: ignore[union-attr]
            elif zone == "config" and acc not in _NOT_MODEL and self.config not in self.models:
                self.models[self.config] = a.get("name", "")
        elif tag == "userParam":
            if zone == "chrom":
                self.chrom.meta[a.get("name", "")] = _user_value(  # type: ignore[union-attr]
                    a.get("type", ""), a.get("value", "")
                )
            elif zone == "run":
                self.run_user[a.get("name", "")] = _user_value(
                    a.get("type", ""), a.get("value", "")
                )

    def start(self, tag: str, a: dict[str, str]) -> None:
        if tag == "cvParam" or tag == "userParam":
            if self.zone == "group":
                self.group.append((tag, a))  # type: ignore[union-attr]
            elif self.zone:
                self.param(tag, a)
            return
        if self.zone == "group":
            self.zone = ""
        if tag == "binary":
            self.array_text = self.blobs.get(self.parser.CurrentByteIndex, b"")
        elif tag == "binaryDataArray":
            self.end_array()
            self.array_params = []
            self.zone = "array"
        elif tag == "isolationWindow" or tag == "selectedIon" or tag == "activation":
            self.zone = "iso" if tag == "isolationWindow" else "ion" if tag == "selectedIon" else ""
        elif tag == "chromatogram":
            self.end_chromatogram()
            n_decl = a.get("defaultArrayLength", "")
            self.chrom = Chromatogram(native_id=a.get("id", ""), ctype=None,
                                      declared_length=int(n_decl) if n_decl.isdigit() else None)
            self.zone = "chrom"
        elif tag == "precursor" or tag == "product":
            self.section = tag
            self.zone = ""
        elif tag == "referenceableParamGroupRef":
            for gtag, ga in self.groups.get(a.get("ref", ""), ()):
                if self.zone:
                    self.param(gtag, ga)
        elif tag == "referenceableParamGroup":
            self.group = self.groups.setdefault(a.get("id", ""), [])
            self.zone = "group"
        elif tag == "instrumentConfiguration":
            self.config = a.get("id", "")
            self.zone = "config"
        elif tag == "run":
            self.default_config = a.get("defaultInstrumentConfigurationRef", "")
            stamp = a.get("startTimeStamp", "")
            if stamp:
                self.meta["mzml_start_time_stamp"] = stamp
                if _STAMP.match(stamp) and not stamp.startswith("0000"):
                    self.meta["acquired"] = stamp[:10] + " " + stamp[11:19]
            self.zone = "run"
        elif tag == "spectrumList":
            try:
                self.n_spectra = int(a.get("count", "0") or 0)
            except ValueError:
                raise Unsupported("spectrumList count is not a number") from None
            self.zone = ""
        elif ":" in tag:
            raise Unsupported("namespace prefix")
        elif tag == "mzML":
            if a.get("id"):
                self.meta["mzml_id"] = a["id"]
        elif tag == "sample":
            if a.get("name") and "sample_name" not in self.meta:
                self.meta["sample_name"] = a["name"]
        elif tag == "sourceFile":
            if a.get("name"):
                # OpenMS keeps the file name only, without a file:// or folder part
                self.sources.append(re.split(r"[/\\]", a["name"])[-1])
        else:
            # any other element ends the zone whose params were being read (mzML's schema
            # puts an element's own params before its child elements)
            self.zone = "" if self.zone in ("config", "run", "chrom") else self.zone

    def end_array(self) -> None:
        if self.array_params is None:
            return
        try:
            kind, values = _array(self.array_text, self.array_params)
        except Damaged as exc:
            name = self.chrom.native_id if self.chrom is not None else "?"
            raise Damaged(f"chromatogram {name!r}: {exc}") from None
        if kind == _TIME_ARRAY and self.time_factor != 1.0:
            values = values.astype(np.float64) * self.time_factor
        if kind is not None:
            self.arrays[kind] = values
        self.array_params, self.array_text, self.time_factor = None, b"", 1.0

    def end_chromatogram(self) -> None:
        self.end_array()
        chrom = self.chrom
        if chrom is None:
            return
        t = self.arrays.get(_TIME_ARRAY)
        y = self.arrays.get(_INTENSITY_ARRAY)
        if t is None or y is None:
            if t is not None or y is not None:
                raise Damaged(
                    f"chromatogram {chrom.native_id!r} lacks a time or intensity array"
                )
            t = y = np.empty(0)
        elif len(t) != len(y):
            raise Damaged(f"chromatogram {chrom.native_id!r}: time array of {len(t)} points but "
                          f"intensity array of {len(y)}")
        if chrom.declared_length is not None and len(t) != chrom.declared_length:
            raise Damaged(f"chromatogram {chrom.native_id!r} declares {chrom.declared_length} points "
                          f"(defaultArrayLength) but its arrays hold {len(t)}")
        chrom.time_s = np.asarray(t, dtype=np.float64)
        _check_order(chrom.native_id, chrom.time_s)
        # OpenMS holds chromatogram intensities as 32-bit floats
        with np.errstate(over="ignore"):  # beyond float32: inf, as in OpenMS (then refused)
            chrom.intensity = np.asarray(y, dtype=np.float32).astype(np.float64)
        self.chroms.append(chrom)
        self.chrom, self.arrays, self.zone = None, {}, ""

    def metadata(self) -> dict[str, Any]:
        """Run metadata under the keys thioquant.io.mzml gives from pyopenms."""
        models = self.models
        model = models.get(self.default_config) or next(iter(models.values()), "")
        out: dict[str, Any] = {}
        if "acquired" in self.meta:
            out["acquired"] = self.meta["acquired"]
        if "sample_name" in self.meta:
            out["sample_name"] = self.meta["sample_name"]
        if model:
            out["instrument"] = model
        if self.sources:
            out["source_files"] = self.sources
        for k in ("mzml_id", "mzml_start_time_stamp"):
            if k in self.meta:
                out[k] = self.meta[k]
        out.update(self.run_user)
        return out


_CHECKED_ZONES = {"array", "chrom", "iso", "ion"}
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def read_chromatograms(raw: bytes) -> ChromatogramFile:
    """Parse the chromatograms and run metadata of mzML bytes.

    Raises
    ------
    Unsupported
        The bytes hold something this reader does not handle (see the module docstring).
    """
    import xml.parsers.expat

    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:256]:
        raise Unsupported("UTF-16/32 text")
    refuse_doctype(raw)
    doc, blobs = _strip(raw)
    if b"<!" in doc:
        # a comment or CDATA section could hide a "<binary>" the stripping took for a real one
        raise Unsupported("comment or CDATA")
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    h = _Handler(blobs, parser)
    parser.StartElementHandler = h.start
    try:
        parser.Parse(doc, True)
        h.end_chromatogram()
    except (xml.parsers.expat.ExpatError, LookupError) as exc:  # LookupError: unknown encoding
        raise Unsupported(f"not well-formed XML ({exc})") from None
    except (ValueError, OverflowError) as exc:
        raise Unsupported(str(exc)) from None
    return ChromatogramFile(chromatograms=h.chroms, metadata=h.metadata(), n_spectra=h.n_spectra)


def _check_order(name: str, t: np.ndarray) -> None:
    """Times must not go backwards (OpenMS would sort them in silence; equal times are left to
    the caller's validation, which names them)."""
    if t.size > 1 and not (t[1:] >= t[:-1]).all():
        i = int(np.flatnonzero(t[1:] < t[:-1])[0])
        what = "reversed" if (t[1:] < t[:-1]).all() else "out of order"
        raise Damaged(f"chromatogram {name!r}: times {what} (point {i + 1}: {t[i + 1]:g} s after "
                      f"{t[i]:g} s)")


_DOCTYPE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)


def refuse_doctype(raw: bytes) -> None:
    """:class:`Damaged` for a DOCTYPE or ENTITY declaration, in UTF-8 or UTF-16/32 text.

    mzML declares none; entities are how a "billion laughs" file expands a few kB into GBs inside
    any parser that expands them (pyopenms's does), so the file is refused before any parser runs.
    """
    text = raw
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:256]:
        for enc in ("utf-32", "utf-16", "utf-16-le", "utf-16-be"):
            try:
                text = raw.decode(enc).encode("utf-8", "replace")
                break
            except UnicodeDecodeError:
                continue
    if _DOCTYPE.search(text):
        raise Damaged("DOCTYPE or ENTITY declaration (mzML has none; entity expansion is refused)")


_CHROM_TAG = re.compile(rb"<chromatogram\b([^>]*)>(.*?)</chromatogram>", re.S)
_ARRAY_TAG = re.compile(rb"<binaryDataArray\b[^>]*>(.*?)</binaryDataArray>", re.S)
_ACC = re.compile(rb'accession="([^"]*)"')
_BINARY = re.compile(rb"<binary>(.*?)</binary>", re.S)
_LEN_ATTR = re.compile(rb'defaultArrayLength="([^"]*)"')
_ID_ATTR = re.compile(rb'\bid="([^"]*)"')
_COMMENT = re.compile(rb"<!--.*?-->", re.S)


def check_arrays(raw: bytes) -> None:
    """The array checks of :func:`read_chromatograms`, for a file read by pyopenms instead.

    Every ``<binary>`` text must be strict base64; in each chromatogram, every array whose
    encoding is given inline (pyopenms's decoding of the rest is taken as is) must decode, hold
    ``defaultArrayLength`` values, and a time array must not go backwards. Raises
    :class:`Damaged`.
    """
    refuse_doctype(raw)
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:256]:
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return  # left to pyopenms's diagnosis
    raw = _COMMENT.sub(b"", raw)
    for m in _BINARY.finditer(raw):
        _b64(m.group(1))
    for cm in _CHROM_TAG.finditer(raw):
        ida = _ID_ATTR.search(cm.group(1))
        name = ida.group(1).decode("utf-8", "replace") if ida else "?"
        la = _LEN_ATTR.search(cm.group(1))
        declared = int(la.group(1)) if la and la.group(1).isdigit() else None
        for am in _ARRAY_TAG.finditer(cm.group(2)):
            body = am.group(1)
            b = _BINARY.search(body)
            head = body[: b.start()] if b else body
            accs = [a.decode("ascii", "replace") for a in _ACC.findall(head)]
            try:
                kind, values = _array(b.group(1) if b else b"", accs)
            except Unsupported:
                continue  # an encoding given by a group reference, or unknown: pyopenms decides
            except Damaged as exc:
                raise Damaged(f"chromatogram {name!r}: {exc}") from None
            if declared is not None and values.size != declared:
                raise Damaged(f"chromatogram {name!r} declares {declared} points (defaultArrayLength) "
                              f"but an array holds {values.size}")
            if kind == _TIME_ARRAY:
                _check_order(name, values)
