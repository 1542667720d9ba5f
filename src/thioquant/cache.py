"""A measurement cache, so that re-running a batch re-does only what changed.

Each injection's peaks are stored in SQLite under a key made of the raw file's sha256, a hash of
the parts of the method that affect integration (compounds, channels, windows, integration
settings), the manual integrations applied to that injection, the thioquant version and the peak
engine's revision (``thioquant.peaks.settings.ENGINE_REVISION``). A
calibration or QC tweak therefore reuses every measurement; an integration tweak or a new manual
integration re-measures only what it touches. Values are JSON (never pickle), so a cache file
cannot execute code.

The cache is only an accelerator, so a cache file that is not one (random bytes, another schema)
is set aside as ``<name>.corrupt-<UTC time>`` (kept for inspection, never deleted) and a new one
is started; a cache that cannot be opened or fails during the run (disk full, a damaged page) is
dropped for the rest of the run. Each such event is a note in :attr:`MeasurementCache.notes`
(and a RuntimeWarning): the results are the same, only measured again.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import sqlite3
import warnings
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from thioquant import __version__
from thioquant.model import Peak
from thioquant.peaks.settings import ENGINE_REVISION

SCHEMA = """
CREATE TABLE IF NOT EXISTS measurements (
    key TEXT PRIMARY KEY,
    file_sha256 TEXT NOT NULL,
    value TEXT NOT NULL
);
"""


def measurement_hash(method: Any) -> str:
    """Hash of the method settings that change a measurement (not calibration or QC)."""
    doc = {
        "compounds": [asdict(c) for c in method.analytes + method.internal_standards],
        "integration": asdict(method.integration),
        "version": __version__,
        "engine": ENGINE_REVISION,
        "record": 3,  # 2: InjectionMeasurement.problems; 3: .notes
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def cache_key(file_digest: str, method_digest: str, manual: Mapping[str, tuple[float, float]] | None) -> str:
    manual_txt = json.dumps(sorted((k, list(v)) for k, v in (manual or {}).items()))
    return hashlib.sha256(f"{file_digest}|{method_digest}|{manual_txt}".encode()).hexdigest()


def _encode(meas: Any) -> str:
    return json.dumps({
        "file": meas.file, "sha256": meas.sha256, "missing_traces": list(meas.missing_traces),
        "problems": [list(p) for p in meas.problems], "notes": list(meas.notes),
        "peaks": {k: (None if p is None else p.as_dict()) for k, p in meas.peaks.items()},
    }, allow_nan=True)


def _decode(text: str, file: str) -> Any:
    from thioquant.measurement import InjectionMeasurement

    d = json.loads(text)
    peaks = {k: (None if v is None else Peak(**{**v, "flags": tuple(v["flags"])})) for k, v in d["peaks"].items()}
    return InjectionMeasurement(file, d["sha256"], peaks, tuple(d["missing_traces"]),
                                problems=tuple(tuple(p) for p in d.get("problems", ())),
                                notes=tuple(d.get("notes", ())))


#: the columns this version reads and writes
COLUMNS = frozenset({"key", "file_sha256", "value"})


def _open_checked(path: Path) -> sqlite3.Connection:
    """Open ``path`` as a measurement cache; sqlite3.DatabaseError when it is not one."""
    con = sqlite3.connect(path)
    try:
        con.executescript(SCHEMA)  # "file is not a database" for anything but SQLite
        cols = {r[1] for r in con.execute("PRAGMA table_info(measurements)")}
        if not cols >= COLUMNS:
            raise sqlite3.DatabaseError(f"table measurements has columns {sorted(cols)}, not {sorted(COLUMNS)}")
    except BaseException:
        con.close()
        raise
    return con


def open_cache(path: str | Path) -> tuple[sqlite3.Connection | None, list[str]]:
    """Open (or create) the cache at ``path``; returns the connection (None: run without a
    cache) and notes on what was done about a file that could not be used."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _open_checked(path), []
    except sqlite3.DatabaseError as exc:
        if not path.is_file():
            return None, [f"measurement cache {path} cannot be opened ({exc}); running without it"]
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():  # rename would replace an earlier one set aside in the same second
            aside, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
        try:
            path.rename(aside)
            con = _open_checked(path)
        except (OSError, sqlite3.Error) as again:
            return None, [f"measurement cache {path} is not a usable cache ({exc}) and could not be "
                          f"replaced ({again}); running without it"]
        return con, [f"measurement cache {path} was not a usable cache ({exc}); set aside as {aside.name} "
                     "and a new one started (every injection is measured again)"]
    except OSError as exc:
        return None, [f"measurement cache {path} cannot be opened ({exc}); running without it"]


def check_cache(path: str | Path) -> list[str]:
    """Set aside an unusable cache file before a run, as :class:`MeasurementCache` would; the notes."""
    con, notes = open_cache(path)
    if con is not None:
        con.close()
    return notes


class MeasurementCache:
    """SQLite-backed store of :class:`~thioquant.measurement.InjectionMeasurement` records.

    Never raises for the cache file itself: see the module's notes on a corrupt or failing cache.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._con, self.notes = open_cache(self.path)
        for note in self.notes:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
        self.hits = 0
        self.misses = 0
        self._pending = 0

    def _drop(self, exc: sqlite3.Error) -> None:
        """Run on without the cache after a failure in the middle of the run (what was
        committed stays in the file)."""
        note = f"measurement cache {self.path} failed ({exc}); running on without it"
        self.notes.append(note)
        warnings.warn(note, RuntimeWarning, stacklevel=3)
        con, self._con = self._con, None
        if con is not None:
            with contextlib.suppress(sqlite3.Error):  # closing a broken connection may fail too
                con.close()

    def get(self, key: str, file: str) -> Any | None:
        row = None
        if self._con is not None:
            try:
                row = self._con.execute("SELECT value FROM measurements WHERE key = ?", (key,)).fetchone()
            except sqlite3.Error as exc:
                self._drop(exc)
        if row is None:
            self.misses += 1
            return None
        try:
            meas = _decode(row[0], file)
        except (ValueError, KeyError, TypeError):
            self.misses += 1  # an entry from an incompatible version: measure again
            return None
        self.hits += 1
        return meas

    #: puts per transaction: a commit (an fsync) per injection added 0.3-0.9 s per 960 injections
    COMMIT_EVERY = 256

    def put(self, key: str, meas: Any) -> None:
        if meas.error or self._con is None:
            return  # never cache a failure: the file may be fixed
        try:
            self._con.execute(
                "INSERT OR REPLACE INTO measurements (key, file_sha256, value) VALUES (?, ?, ?)",
                (key, meas.sha256, _encode(meas)),
            )
        except sqlite3.Error as exc:
            self._drop(exc)
            return
        self._pending += 1
        if self._pending >= self.COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        """Make the pending entries durable (also done every COMMIT_EVERY puts and on close)."""
        self._pending = 0
        if self._con is None:
            return
        try:
            self._con.commit()
        except sqlite3.Error as exc:  # a full disk, for instance: the results do not need the cache
            self._drop(exc)

    def close(self) -> None:
        # An interrupted batch keeps what was committed; the rest is simply measured again.
        self.commit()
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> MeasurementCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
