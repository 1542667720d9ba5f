"""A measurement cache, so that re-running a batch re-does only what changed.

Each injection's peaks are stored in SQLite under a key made of the raw file's sha256, a hash of
the parts of the method that affect integration (compounds, channels, windows, integration
settings), the manual integrations applied to that injection, the thioquant version and the peak
engine's revision (``thioquant.peaks.settings.ENGINE_REVISION``). A
calibration or QC tweak therefore reuses every measurement; an integration tweak or a new manual
integration re-measures only what it touches. Values are JSON (never pickle), so a cache file
cannot execute code.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
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
        "record": 2,  # 2: InjectionMeasurement.problems
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def cache_key(file_digest: str, method_digest: str, manual: Mapping[str, tuple[float, float]] | None) -> str:
    manual_txt = json.dumps(sorted((k, list(v)) for k, v in (manual or {}).items()))
    return hashlib.sha256(f"{file_digest}|{method_digest}|{manual_txt}".encode()).hexdigest()


def _encode(meas: Any) -> str:
    return json.dumps({
        "file": meas.file, "sha256": meas.sha256, "missing_traces": list(meas.missing_traces),
        "problems": [list(p) for p in meas.problems],
        "peaks": {k: (None if p is None else p.as_dict()) for k, p in meas.peaks.items()},
    }, allow_nan=True)


def _decode(text: str, file: str) -> Any:
    from thioquant.pipeline import InjectionMeasurement

    d = json.loads(text)
    peaks = {k: (None if v is None else Peak(**{**v, "flags": tuple(v["flags"])})) for k, v in d["peaks"].items()}
    return InjectionMeasurement(file, d["sha256"], peaks, tuple(d["missing_traces"]),
                                problems=tuple(tuple(p) for p in d.get("problems", ())))


class MeasurementCache:
    """SQLite-backed store of :class:`~thioquant.pipeline.InjectionMeasurement` records."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path)
        self._con.executescript(SCHEMA)
        self.hits = 0
        self.misses = 0
        self._pending = 0

    def get(self, key: str, file: str) -> Any | None:
        row = self._con.execute("SELECT value FROM measurements WHERE key = ?", (key,)).fetchone()
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
        if meas.error:
            return  # never cache a failure: the file may be fixed
        self._con.execute(
            "INSERT OR REPLACE INTO measurements (key, file_sha256, value) VALUES (?, ?, ?)",
            (key, meas.sha256, _encode(meas)),
        )
        self._pending += 1
        if self._pending >= self.COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        """Make the pending entries durable (also done every COMMIT_EVERY puts and on close)."""
        self._con.commit()
        self._pending = 0

    def close(self) -> None:
        # An interrupted batch keeps what was committed; the rest is simply measured again.
        self.commit()
        self._con.close()

    def __enter__(self) -> MeasurementCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
