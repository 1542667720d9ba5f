"""Westgard multirules across runs on a QC history kept in SQLite, with Levey-Jennings data.

The history file is created on open; every write is one transaction. Values are ordered by run
timestamp (ISO 8601 text) and, within a run, by insertion order. A run is filed under its
``run_id``: for a batch, ``<folder name>@<hash of its raw data>`` (:mod:`thioquant.qc.runkey`,
which says why); histories whose runs are keyed by the folder name alone load unchanged.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from thioquant import flags
from thioquant.errors import InputError, MethodError, OutputError

from .rules import RuleOutcome
from .settings import WESTGARD_RULES

CODES = {
    "1-2s": flags.register("WG_1_2S", "Westgard 1-2s warning: a QC value beyond 2 SD of its target"),
    "1-3s": flags.register("WG_1_3S", "Westgard 1-3s: a QC value beyond 3 SD of its target (random error)"),
    "2-2s": flags.register("WG_2_2S", "Westgard 2-2s: two consecutive QC values beyond 2 SD on the same side (systematic error)"),
    "R-4s": flags.register("WG_R_4S", "Westgard R-4s: QC values within a run differ by more than 4 SD (random error)"),
    "4-1s": flags.register("WG_4_1S", "Westgard 4-1s: four consecutive QC values beyond 1 SD on the same side (systematic error)"),
    "10x": flags.register("WG_10X", "Westgard 10x: ten consecutive QC values on the same side of the mean (systematic error)"),
}
WG_NO_TARGET = flags.register(
    "WG_NO_TARGET",
    "Westgard rules not evaluated: no target mean/SD set and too few earlier QC values to estimate one")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS qc_value (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    analyte TEXT NOT NULL,
    level TEXT NOT NULL,
    replicate INTEGER NOT NULL,
    value REAL,
    UNIQUE (run_id, analyte, level, replicate)
);
CREATE INDEX IF NOT EXISTS qc_value_series ON qc_value (analyte, level, timestamp);
CREATE TABLE IF NOT EXISTS qc_target (
    analyte TEXT NOT NULL,
    level TEXT NOT NULL,
    mean REAL NOT NULL,
    sd REAL NOT NULL,
    PRIMARY KEY (analyte, level)
);
"""


#: columns this version reads and writes, per table
_COLUMNS = {
    "qc_value": {"id", "run_id", "timestamp", "analyte", "level", "replicate", "value"},
    "qc_target": {"analyte", "level", "mean", "sd"},
}
_UNUSABLE = ("is not a usable QC history ({}); it was left unchanged: repair it or move it aside, "
             "or choose another --history (or --no-history)")


def _check_schema(conn: sqlite3.Connection) -> None:
    """sqlite3.DatabaseError unless ``conn`` is an empty database or a QC history."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables.discard("sqlite_sequence")
    if tables and "qc_value" not in tables:  # another application's database: never add to it
        raise sqlite3.DatabaseError(f"an SQLite file with tables {sorted(tables)} and no qc_value")
    for table, cols in _COLUMNS.items():
        if table in tables:
            have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            if not have >= cols:
                raise sqlite3.DatabaseError(f"table {table} lacks columns {sorted(cols - have)}")


def check_history_file(path: str | Path) -> None:
    """Raise InputError when ``path`` exists and is not a usable QC history (read only; a
    missing file is fine, it is created by the run). Called before a run's work."""
    p = Path(path)
    if not p.exists():
        return
    if not p.is_file():
        raise InputError("is not a file, so not a QC history", path=p)
    try:
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
        try:
            _check_schema(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise InputError(_UNUSABLE.format(exc), path=p) from exc


_ROW_COLUMNS = "run_id, timestamp, analyte, level, replicate, value"


def _run_rows(path: Path, run_id: str) -> list[tuple[Any, ...]]:
    """The rows of ``run_id`` in the history at ``path`` (in insertion order); none when unreadable."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute(f"SELECT {_ROW_COLUMNS} FROM qc_value WHERE run_id=? ORDER BY id",
                                (str(run_id),)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def _put_back(path: Path, run_id: str, rows: Sequence[tuple[Any, ...]], *, remove_if_empty: bool) -> None:
    """Replace the rows of ``run_id`` by ``rows``, in one transaction (best effort: the run failed)."""
    if not path.is_file():
        return
    try:
        conn = sqlite3.connect(path)
        try:
            with conn:
                conn.execute("DELETE FROM qc_value WHERE run_id=?", (str(run_id),))
                conn.executemany(f"INSERT INTO qc_value ({_ROW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)
            empty = (remove_if_empty and conn.execute("SELECT COUNT(*) FROM qc_value").fetchone()[0] == 0
                     and conn.execute("SELECT COUNT(*) FROM qc_target").fetchone()[0] == 0)
        finally:
            conn.close()
    except sqlite3.Error:
        return
    if empty:
        path.unlink(missing_ok=True)


class HistoryGuard:
    """What :func:`guarded_history` yields: called with the run's key once it is known (the
    pipeline's ``history_hook``, after the measurements and before the QC history is written),
    it notes that run's rows as they are, and takes over the rows of the previous keying's id of
    the run when the output folder ``out_dir`` proves them to be this batch's
    (:func:`thioquant.qc.runkey.legacy_run_id`, :func:`adopt_run`)."""

    def __init__(self, path: str | Path | None, out_dir: str | Path | None = None) -> None:
        self.path = None if path is None or str(path) == ":memory:" else Path(path)
        self.out_dir = out_dir
        self.run_id: str | None = None
        self.adopted: str | None = None
        self._rows: dict[str, list[tuple[Any, ...]]] = {}
        self._existed = False

    def __call__(self, run_id: str, legacy: str | None = None) -> None:
        if self.path is None or self.run_id is not None:
            return
        if legacy is None and self.out_dir is not None:
            from .runkey import legacy_run_id

            legacy = legacy_run_id(self.out_dir, run_id)
        self._existed = self.path.is_file()
        ids = list(dict.fromkeys([run_id, *([legacy] if legacy else [])]))
        self._rows = {i: _run_rows(self.path, i) if self._existed else [] for i in ids}
        self.run_id = run_id
        if legacy and adopt_run(self.path, legacy, run_id):
            self.adopted = legacy

    def put_back(self) -> None:
        """The rows of the run (and of the id it took over) as they were before it."""
        if self.path is None or self.run_id is None:
            return
        for i in reversed(list(self._rows)):  # the run's own id last: it removes a file it created
            _put_back(self.path, i, self._rows[i], remove_if_empty=not self._existed and i == self.run_id)


@contextmanager
def guarded_history(path: str | Path | None, out_dir: str | Path | None = None) -> Iterator[HistoryGuard]:
    """Take the run back out of the QC history when the block fails.

    A run records its QC values while it is evaluated, before its outputs are written; a run whose
    outputs then fail (disk full, interrupted) must not stay in the history, nor replace the
    values of an earlier, written run of the same batch. The run's key is known only once it is
    measured (it is formed from the raw files' sha256, :mod:`thioquant.qc.runkey`): pass the
    yielded guard as the pipeline's ``history_hook``. When the block fails, the run's rows, and
    those it took over, are put back as they were (one transaction each); what other runs recorded
    meanwhile in the shared history stays, and a history file the run created is removed when
    nothing else is in it."""
    guard = HistoryGuard(path, out_dir)
    try:
        yield guard
    except BaseException:
        guard.put_back()
        raise


def adopt_run(path: str | Path | None, old_id: str | None, run_id: str) -> bool:
    """File the rows of run ``old_id`` under ``run_id`` (one transaction), keeping their timestamps
    and so the run's place in the series: a run recorded by the previous keying (folder name) that
    :func:`thioquant.qc.runkey.legacy_run_id` proved to be this batch. Nothing is done when
    ``run_id`` already has rows, ``old_id`` has none, or the file does not exist. True when done."""
    if path is None or not old_id or old_id == run_id or str(path) == ":memory:" or not Path(path).is_file():
        return False
    with QCHistory(path) as h:
        if h.run_timestamp(run_id) is not None or h.run_timestamp(old_id) is None:
            return False
        h._write("UPDATE qc_value SET run_id=? WHERE run_id=?", [(str(run_id), str(old_id))],
                 what=f"run {old_id} as {run_id}")
    return True


def default_history_path(output_dir: str | Path) -> Path:
    """Default history file: ``qc_history.sqlite`` beside the output folder (in its parent)."""
    out = Path(output_dir).resolve()
    return out.parent / "qc_history.sqlite"


class QCHistory:
    """QC values of past runs in an SQLite file, with Westgard evaluation.

    Parameters
    ----------
    sqlite_path : str or Path
        File to open or create (":memory:" works for tests).
    """

    def __init__(self, sqlite_path: str | Path) -> None:
        self.path = str(sqlite_path)
        if self.path != ":memory:":
            check_history_file(self.path)  # a record: refused, never repaired or replaced
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise OutputError(f"cannot create the QC history's folder ({exc.strerror or exc})",
                                  path=self.path) from exc
        try:
            self._conn = sqlite3.connect(self.path)
        except sqlite3.Error as exc:
            raise OutputError(f"cannot create the QC history ({exc})", path=self.path) from exc
        try:
            _check_schema(self._conn)
            with self._conn:
                self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._conn.close()
            raise InputError(_UNUSABLE.format(exc), path=self.path) from exc

    def _write(self, sql: str, rows: Sequence[Sequence[Any]], *, delete: tuple[str, Sequence[Any]] | None = None,
               what: str) -> None:
        """One transaction; a failure (disk full) rolls back and is an OutputError naming the file."""
        try:
            with self._conn:
                if delete is not None:
                    self._conn.execute(*delete)
                self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise OutputError(f"cannot record {what} in the QC history ({exc}); it was left as it was",
                              path=self.path) from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> QCHistory:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def add_run(
        self, run_id: str, timestamp: str, analyte: str, level: str, values: Sequence[float]
    ) -> None:
        """Store the QC values of one run (replaces that run's values for analyte/level)."""
        vals = [float(v) for v in np.atleast_1d(np.asarray(values, dtype=float))]
        self._write(
            "INSERT INTO qc_value (run_id, timestamp, analyte, level, replicate, value) VALUES (?, ?, ?, ?, ?, ?)",
            [(str(run_id), str(timestamp), str(analyte), str(level), i, v if math.isfinite(v) else None)
             for i, v in enumerate(vals)],
            delete=("DELETE FROM qc_value WHERE run_id=? AND analyte=? AND level=?",
                    (str(run_id), str(analyte), str(level))),
            what=f"run {run_id}",
        )

    def set_target(self, analyte: str, level: str, mean: float, sd: float) -> None:
        """Store the target mean and SD of a QC level (used when evaluate gets none)."""
        if not (math.isfinite(mean) and math.isfinite(sd) and sd > 0):
            raise MethodError(f"target mean must be finite and SD positive, got {mean}, {sd}")
        self._write("INSERT OR REPLACE INTO qc_target (analyte, level, mean, sd) VALUES (?, ?, ?, ?)",
                    [(str(analyte), str(level), float(mean), float(sd))], what=f"the target of {analyte} {level}")

    # ------------------------------------------------------------------ reading

    def series(self, analyte: str, level: str) -> list[tuple[str, str, float]]:
        """(run_id, timestamp, value) in time order; missing values are skipped."""
        cur = self._conn.execute(
            "SELECT run_id, timestamp, value FROM qc_value WHERE analyte=? AND level=? "
            "AND value IS NOT NULL ORDER BY timestamp, id",
            (str(analyte), str(level)),
        )
        return [(r, t, float(v)) for r, t, v in cur.fetchall()]

    def run_timestamp(self, run_id: str) -> str | None:
        """When ``run_id`` was first recorded (its place in the series), or None when it is not."""
        row = self._conn.execute("SELECT MIN(timestamp) FROM qc_value WHERE run_id=?", (str(run_id),)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def target(self, analyte: str, level: str) -> tuple[float, float] | None:
        row = self._conn.execute(
            "SELECT mean, sd FROM qc_target WHERE analyte=? AND level=?", (str(analyte), str(level))
        ).fetchone()
        return None if row is None else (float(row[0]), float(row[1]))

    def _resolve_target(
        self, analyte: str, level: str, target_mean: float | None, target_sd: float | None,
        prior: list[float], min_history: int,
    ) -> tuple[float, float, str] | None:
        stored = self.target(analyte, level)
        mean = target_mean if target_mean is not None else (stored[0] if stored else None)
        sd = target_sd if target_sd is not None else (stored[1] if stored else None)
        source = "given" if target_mean is not None and target_sd is not None else "stored"
        if mean is None or sd is None:
            if len(prior) < min_history:
                return None
            arr = np.asarray(prior)
            mean = float(arr.mean()) if mean is None else mean
            sd = float(arr.std(ddof=1)) if sd is None else sd
            source = f"estimated from {len(prior)} prior values"
        if not (sd > 0):
            return None
        return float(mean), float(sd), source

    def levey_jennings(
        self, analyte: str, level: str, target_mean: float | None = None, target_sd: float | None = None,
        *, min_history: int = 20,
    ) -> dict[str, Any]:
        """Levey-Jennings chart data: points in time order with z-scores and the SD lines.

        Returns a JSON-ready dict with ``run_id``, ``timestamp``, ``value``, ``z`` (lists), ``mean``,
        ``sd``, ``target_source`` and ``lines`` (mean and +/- 1, 2, 3 SD). ``z`` is None when no
        target is available (then mean/sd are the plain statistics of the series, if any).
        """
        s = self.series(analyte, level)
        vals = [v for _, _, v in s]
        tgt = self._resolve_target(analyte, level, target_mean, target_sd, vals, min_history)
        if tgt is None and len(vals) >= 2:
            mean, sd, src = float(np.mean(vals)), float(np.std(vals, ddof=1)), "series statistics (no target)"
        elif tgt is None:
            mean, sd, src = math.nan, math.nan, "none"
        else:
            mean, sd, src = tgt
        z = [(v - mean) / sd if (tgt is not None) else None for v in vals]
        lines = {k: mean + f * sd for k, f in
                 (("-3sd", -3), ("-2sd", -2), ("-1sd", -1), ("mean", 0), ("+1sd", 1), ("+2sd", 2), ("+3sd", 3))}
        return {
            "analyte": analyte, "level": level,
            "run_id": [r for r, _, _ in s], "timestamp": [t for _, t, _ in s], "value": vals, "z": z,
            "mean": mean, "sd": sd, "target_source": src,
            "lines": {k: (v if math.isfinite(v) else None) for k, v in lines.items()},
        }

    # ------------------------------------------------------------------ rules

    def evaluate(
        self,
        analyte: str,
        level: str,
        target_mean: float | None = None,
        target_sd: float | None = None,
        *,
        run_id: str | None = None,
        rules: Sequence[str] = WESTGARD_RULES,
        min_history: int = 20,
        severity: str = "reject",
    ) -> list[RuleOutcome]:
        """Westgard rules for the latest run (or ``run_id``) of one analyte/level.

        The target mean/SD come from the arguments, else from :meth:`set_target`, else from the
        values of earlier runs (needs ``min_history`` of them). Rules (z = (value - mean) / sd):

        * 1-2s (warn): a value of this run with ``|z| > 2``.
        * 1-3s (reject): a value of this run with ``|z| > 3``.
        * 2-2s (reject): two consecutive values, the later in this run, both ``z > 2`` or both
          ``z < -2`` (within the run or across the previous run).
        * R-4s (reject): within this run, one value ``z > 2`` and another ``z < -2`` (a range
          above 4 SD); needs replicates in the run.
        * 4-1s (reject): four consecutive values ending in this run beyond 1 SD on the same side.
        * 10x (reject): ten consecutive values ending in this run on the same side of the mean.

        ``severity`` applies to every rule but 1-2s, which always only warns.

        Returns one :class:`RuleOutcome` per rule in ``rules`` (rule name "westgard:<rule>", code
        ``WG_...``), or, when no target exists, a single "westgard" outcome ``WG_NO_TARGET`` with
        status "not_evaluated" (it neither rejects nor warns) whose message says what is missing.
        """
        if severity not in ("reject", "warn"):
            raise MethodError(f"severity must be 'reject' or 'warn', got {severity!r}")
        for r in rules:
            if r not in WESTGARD_RULES:
                raise MethodError(f"unknown Westgard rule {r!r}; known: {list(WESTGARD_RULES)}")
        s = self.series(analyte, level)
        if not s:
            return [RuleOutcome.not_evaluated(
                "westgard", WG_NO_TARGET,
                f"{analyte} {level}: Westgard rules not evaluated: no QC values in the history yet",
                {"analyte": analyte, "level": level, "n_prior": 0, "min_history": min_history},
                severity=severity)]
        run = run_id if run_id is not None else s[-1][0]
        idx_run = [i for i, (r, _, _) in enumerate(s) if r == run]
        if not idx_run:
            raise MethodError(f"run {run!r} has no values for {analyte} {level}")
        end = idx_run[-1] + 1
        s = s[:end]  # evaluate as of this run
        prior = [v for r, _, v in s if r != run]
        tgt = self._resolve_target(analyte, level, target_mean, target_sd, prior, min_history)
        if tgt is None:
            n = len(prior)
            stored = self.target(analyte, level) is not None
            has_mean, has_sd = target_mean is not None or stored, target_sd is not None or stored
            if n < min_history and not (has_mean and has_sd):
                have = "no" if n == 0 else f"only {n}"
                why = (f"no target mean/SD set and {have} earlier QC value{'' if n == 1 else 's'} in the "
                       f"history ({min_history} needed to estimate one)")
            else:
                why = ("the target SD is not positive" if has_sd
                       else f"the {n} earlier QC values do not vary, so no target SD can be estimated")
            return [RuleOutcome.not_evaluated(
                "westgard", WG_NO_TARGET, f"{analyte} {level}: Westgard rules not evaluated: {why}",
                {"analyte": analyte, "level": level, "run_id": run, "n_prior": n, "min_history": min_history},
                severity=severity,
            )]
        mean, sd, src = tgt
        z = np.array([(v - mean) / sd for _, _, v in s])
        zr = z[idx_run[0]:end]
        first = idx_run[0]
        base = {"analyte": analyte, "level": level, "run_id": run, "mean": mean, "sd": sd,
                "target_source": src, "z_run": zr.tolist()}
        out: list[RuleOutcome] = []

        def runs_same_side(k: int, thr: float) -> bool:
            """k consecutive z beyond thr on one side, the window ending inside this run."""
            for e in range(max(first, k - 1), end):
                w = z[e - k + 1:e + 1]
                if w.size == k and (np.all(w > thr) or np.all(w < -thr)):
                    return True
            return False

        for rule in rules:
            if rule == "1-2s":
                hit = bool(np.any(np.abs(zr) > 2))
                sev = "warn"
            elif rule == "1-3s":
                hit = bool(np.any(np.abs(zr) > 3))
                sev = severity
            elif rule == "2-2s":
                hit = runs_same_side(2, 2.0)
                sev = severity
            elif rule == "R-4s":
                hit = bool(zr.size >= 2 and zr.max() > 2 and zr.min() < -2)
                sev = severity
            elif rule == "4-1s":
                hit = runs_same_side(4, 1.0)
                sev = severity
            else:  # 10x
                hit = runs_same_side(10, 0.0)
                sev = severity
            msg = (
                f"{analyte} {level}: {flags.FLAGS[CODES[rule]]}" if hit
                else f"{analyte} {level}: Westgard {rule} not violated"
            )
            out.append(RuleOutcome(f"westgard:{rule}", CODES[rule], not hit, sev, msg, base))
        return out

    def levels(self, analyte: str) -> list[str]:
        """QC levels stored for ``analyte``."""
        cur = self._conn.execute(
            "SELECT DISTINCT level FROM qc_value WHERE analyte=? ORDER BY level", (str(analyte),)
        )
        return [r[0] for r in cur.fetchall()]

    def evaluate_run(
        self,
        analyte: str,
        run_id: str,
        *,
        levels: Sequence[str] | None = None,
        targets: dict[str, tuple[float, float]] | None = None,
        rules: Sequence[str] = WESTGARD_RULES,
        min_history: int = 20,
        severity: str = "reject",
    ) -> list[RuleOutcome]:
        """Per-level rules (:meth:`evaluate`) for every level of a run, plus the across-level
        within-run rules: **2-2s** (two levels of this run beyond 2 SD on the same side) and
        **R-4s** (one level above +2 SD and another below -2 SD). Across-level outcomes have the
        rule name "westgard:<rule> across levels".
        """
        targets = dict(targets or {})
        lv = list(levels) if levels is not None else self.levels(analyte)
        out: list[RuleOutcome] = []
        zs: list[tuple[str, float]] = []
        for level in lv:
            s = self.series(analyte, level)
            if not any(r == run_id for r, _, _ in s):
                continue
            mean, sd = targets.get(level, (None, None))
            res = self.evaluate(analyte, level, mean, sd, run_id=run_id, rules=rules,
                                min_history=min_history, severity=severity)
            out.extend(res)
            if res and res[0].evaluated:
                zs.extend((level, z) for z in res[0].details["z_run"])
        if len({lvl for lvl, _ in zs}) >= 2:
            hi = sorted({lvl for lvl, z in zs if z > 2})
            lo = sorted({lvl for lvl, z in zs if z < -2})
            base = {"analyte": analyte, "run_id": run_id, "z": [[lvl, z] for lvl, z in zs]}
            if "2-2s" in rules:
                hit = len(hi) >= 2 or len(lo) >= 2
                which = hi if len(hi) >= 2 else lo
                msg = (f"{analyte}: {flags.FLAGS[CODES['2-2s']]} (levels {', '.join(which)} in this run)"
                       if hit else f"{analyte}: Westgard 2-2s across levels not violated")
                out.append(RuleOutcome("westgard:2-2s across levels", CODES["2-2s"], not hit, severity, msg, base))
            if "R-4s" in rules:
                hit = bool(hi) and bool(lo)
                msg = (f"{analyte}: {flags.FLAGS[CODES['R-4s']]} (level {hi[0]} above +2 SD, "
                       f"{lo[0]} below -2 SD)" if hit else f"{analyte}: Westgard R-4s across levels not violated")
                out.append(RuleOutcome("westgard:R-4s across levels", CODES["R-4s"], not hit, severity, msg, base))
        return out


def plot_levey_jennings(data: dict[str, Any], path: str | Path) -> Path:
    """Draw a Levey-Jennings chart from :meth:`QCHistory.levey_jennings` data into ``path``
    (PNG, SVG or PDF by extension)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vals = data["value"]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(range(1, len(vals) + 1), vals, "o-", color="k", ms=4, lw=1)
    styles = {"mean": ("g", "-"), "+1sd": ("0.6", ":"), "-1sd": ("0.6", ":"), "+2sd": ("orange", "--"),
              "-2sd": ("orange", "--"), "+3sd": ("r", "--"), "-3sd": ("r", "--")}
    for k, (c, ls) in styles.items():
        v = data["lines"].get(k)
        if v is not None:
            ax.axhline(v, color=c, ls=ls, lw=1)
            ax.annotate(k, (1.0, v), xycoords=("axes fraction", "data"), fontsize=7, va="center")
    ax.set_xticks(range(1, len(vals) + 1))
    ax.set_xticklabels(data["run_id"], rotation=90, fontsize=6)
    ax.set_ylabel("QC value")
    ax.set_title(f"Levey-Jennings: {data['analyte']} {data['level']} ({data['target_source']})", fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
