"""The patient over time: a store of released results, delta checks and therapy-phase context.

One SQLite file per lab (``patient_history`` in ``batch.toml`` or ``quantify --patient-history``)
holds every *released* result: after an accepted run, or, with the review workflow, when a
version is authorised (the review app calls :func:`record_release`). A rejected run writes
nothing; a result held for review (flag ``HELD``) is not released and not recorded. The store
reads what a run released, its ``results.json``, not the pipeline's internals.

Before a run's outputs are written, :func:`annotate` compares each patient sample with the
patient's earlier results from the same method family (flag ``DELTA`` beyond the method's limit,
by default the reference change value), works out the therapy phase from the history and the
worklist (first level after starting, after a dose change, re-introduction after a hepatotoxic
episode) and attaches both to the batch, so the reports show them with the trend.

Everything here is decision support: the notes say what was recorded and what the sources say,
never what to do. Details and figures: docs/history.md.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from thioquant.errors import InputError, OutputError
from thioquant.flags import UNMEASURED, register

SCHEMA_NAME = "thioquant.patient_history"
SCHEMA_VERSION = 1

DELTA = register("DELTA", "change from the patient's previous result of this analyte (same method family) "
                 "beyond the method's delta limit (default: the reference change value); see the notes")
#: a result held for review (``HELD`` or ``HELD:<reason>``): never released, recorded or sent
HELD = "HELD"


#: flags that say whose result it is cannot be told (or the run failed): never released
UNRELEASABLE = frozenset({"DUPLICATE_ID", "NO_SAMPLE_ID", "DUPLICATE_FILE", "BAD_ROW", "BAD_TYPE",
                          "RUN_INVALID"}) | UNMEASURED  # an unmeasured analyte has no value to send


def is_held(flags: Iterable[str]) -> bool:
    """True when a result's flags hold it for review (``HELD`` or ``HELD:<reason>``)."""
    return any(f == HELD or f.startswith(HELD + ":") for f in flags or ())

#: worklist columns copied into the store as named columns (every other clinical column the run
#: had, blood counts and co-medication included, is kept in ``context`` as given)
CONTEXT_COLUMNS = ("collected_at", "drug", "dose_mg", "weight_kg", "tpmt", "nudt15", "alt_x_uln", "ast_x_uln",
                   "bilirubin_x_uln", "therapy_event", "therapy_start")
#: every worklist column carried into results.json and the history: the clinical context, the
#: therapy columns, blood counts and co-medication. Other columns are not carried: a free column
#: ("name", "ward") may identify the patient, which --pseudonymise would not catch.
CARRIED_COLUMNS = frozenset({
    *CONTEXT_COLUMNS, "received_at", "indication", "room_temperature", "storage", "weeks_on_dose",
    "tpmt_genotype", "nudt15_genotype", "tpmt_activity",
    "wbc", "neutrophils", "lymphocytes", "platelets", "hb", "haemoglobin", "hemoglobin", "mcv",
    "comedication", "co_medication", "allopurinol",
})
THERAPY_EVENTS = {"start": "start", "started": "start", "dose_change": "dose_change", "dose change": "dose_change",
                  "hepatotoxicity": "hepatotoxicity", "hepatotoxic": "hepatotoxicity",
                  "hepatotoxic_episode": "hepatotoxicity", "stop": "stopped", "stopped": "stopped",
                  "reintroduction": "reintroduction", "re-introduction": "reintroduction",
                  "restart": "reintroduction", "maintenance": "maintenance"}

STEADY_STATE_SOURCE = ("steady state: CPIC 2018 (about 2 weeks in normal, 2-4 in intermediate, 4-6 in poor TPMT "
                       "metabolisers after each dose change; sampling at about 4 weeks), as summarised in "
                       "thioquant's domain notes")
REINTRODUCTION_SOURCE = ("secondary summary, not a guideline and unverified: the re-introduction schedule the "
                         "lab specified for thioquant (no guideline giving it was located); the liver limits "
                         "match the dosing source used for the clinical rules. Check it against the local "
                         "guideline")
REINTRODUCTION_FOLLOW_UP = (
    "Re-introduction after a hepatotoxic episode - follow-up as a secondary summary describes it: restart at a "
    "low dose; liver tests (ALT/AST) weekly until a stable dose is reached, then every 2 weeks for 2 months, then "
    "every 1-3 months; stop at ALT/AST >= 5x ULN, consider stopping at >= 3x ULN, and stop at bilirubin >= 2x ULN "
    "with raised transaminases.")

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS releases (
    id INTEGER PRIMARY KEY,
    batch TEXT NOT NULL, sample_id TEXT NOT NULL, version INTEGER NOT NULL,
    patient_id TEXT NOT NULL,
    collected_at TEXT, drug TEXT, dose_mg REAL, weight_kg REAL, tpmt TEXT, nudt15 TEXT,
    alt_x_uln REAL, ast_x_uln REAL, bilirubin_x_uln REAL, therapy_event TEXT, therapy_start TEXT,
    context TEXT NOT NULL,
    method_family TEXT NOT NULL, method_name TEXT, method_sha256 TEXT,
    category TEXT, comment TEXT,
    released_at TEXT NOT NULL, released_by TEXT, source TEXT,
    UNIQUE (batch, sample_id, version)
);
CREATE INDEX IF NOT EXISTS releases_patient ON releases (patient_id);
CREATE TABLE IF NOT EXISTS release_results (
    release_id INTEGER NOT NULL REFERENCES releases (id),
    analyte TEXT NOT NULL, species TEXT NOT NULL,
    value REAL, text TEXT NOT NULL, unit TEXT NOT NULL, flags TEXT NOT NULL,
    PRIMARY KEY (release_id, analyte)
);
CREATE TABLE IF NOT EXISTS lis_sent (
    batch TEXT NOT NULL, sample_id TEXT NOT NULL, version INTEGER NOT NULL, format TEXT NOT NULL,
    status TEXT NOT NULL, file TEXT NOT NULL, sent_at TEXT NOT NULL,
    PRIMARY KEY (batch, sample_id, version, format)
);
"""


# --- the store ---------------------------------------------------------------------------------


def _connect(path: str | Path, *, create: bool) -> sqlite3.Connection:
    p = Path(path)
    if not create and not p.is_file():
        raise InputError("no patient history at this path", path=p)
    if p.exists() and not p.is_file():
        raise InputError("is not a file, so not a patient history", path=p)
    if create:
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"patient history folder cannot be created ({exc.strerror or exc})", path=p) from exc
    try:
        conn = sqlite3.connect(p, timeout=30, isolation_level=None)  # transactions are explicit
        conn.execute("PRAGMA foreign_keys = ON")
        _check_schema(conn, p, create=create)
    except sqlite3.Error as exc:
        raise InputError(f"not a usable patient history ({exc})", path=p) from exc
    return conn


def _check_schema(conn: sqlite3.Connection, p: Path, *, create: bool) -> None:
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        if not create:
            raise InputError("empty file, not a patient history", path=p)
        conn.execute("BEGIN IMMEDIATE")  # statement by statement: executescript would commit first
        for stmt in _DDL.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute("INSERT INTO meta VALUES ('schema', ?), ('version', ?)", (SCHEMA_NAME, str(SCHEMA_VERSION)))
        conn.execute("COMMIT")
        return
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
    if meta.get("schema") != SCHEMA_NAME:
        raise InputError(f"this SQLite file is not a thioquant patient history (tables: {', '.join(sorted(tables))}); "
                         "it is left unchanged", path=p)
    if int(meta.get("version", "0")) > SCHEMA_VERSION:
        raise InputError(f"patient history schema {meta.get('version')} is newer than this thioquant "
                         f"({SCHEMA_VERSION}); upgrade thioquant", path=p)


def check_history_file(path: str | Path) -> None:
    """Raise InputError when ``path`` exists and is not a usable patient history (read only).

    Called before a run's work, so a mistyped path to some other database fails at once (exit 2)
    and the file is never changed. A missing file is fine: the first release creates it.
    """
    p = Path(path)
    if not p.exists():
        return
    if not p.is_file():
        raise InputError("is not a file, so not a patient history", path=p)
    try:
        with closing(sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            _check_schema(conn, p, create=False)
    except sqlite3.Error as exc:
        raise InputError(f"not a usable patient history ({exc})", path=p) from exc


def species(name: str, reports_as: str = "") -> str:
    """The reported species an analyte stands for: ``6-TGN``, ``6-MMPN`` or its own name."""
    label = (reports_as or name).upper()
    if "MMP" in label or "AMTCI" in label:
        return "6-MMPN"
    if "TG" in label:
        return "6-TGN"
    return reports_as or name


@dataclass(frozen=True)
class ReleaseSummary:
    """What :func:`record_release` did."""

    status: str  # "recorded", "rejected" (nothing written), "nothing" (no patient sample)
    batch: str
    version: int
    recorded: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()


def read_results(out_dir: str | Path) -> dict[str, Any]:
    """The ``results.json`` of an output folder (InputError naming it when unusable)."""
    p = Path(out_dir) / "results.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no results.json: not a thioquant output folder (written without --no-report?)",
                         path=p) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"results.json cannot be read ({exc})", path=p) from None
    if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("thioquant.results/"):
        raise InputError("not a thioquant results.json", path=p)
    return doc


def folder_version(out_dir: str | Path) -> int | None:
    """The number of a signed version folder of the review workflow (its ``version.json``
    names ``"vN"``), else None."""
    p = Path(out_dir) / "version.json"
    try:
        name = str(json.loads(p.read_text(encoding="utf-8")).get("version", ""))
    except (OSError, ValueError, AttributeError):
        return None
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() and int(name[1:]) >= 1 else None


def release_version(doc: Mapping[str, Any], version: int | None = None, out_dir: str | Path | None = None) -> int:
    """The output version: given, else the signed version the folder is (``version.json``),
    else the one ``results.json`` names, else 1."""
    if version is not None:
        return int(version)
    if out_dir is not None and (v := folder_version(out_dir)) is not None:
        return v
    for holder in (doc.get("release") or {}, doc.get("signature") or {}, doc):
        v = holder.get("version") if isinstance(holder, Mapping) else None
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            return v
    return 1


def batch_id(doc: Mapping[str, Any]) -> str:
    """A batch's identity in the history and in LIS messages: its folder's name."""
    return Path(str((doc.get("batch") or {}).get("folder", "batch"))).name or "batch"


def accepted(doc: Mapping[str, Any]) -> bool:
    v = doc.get("verdict") or {}
    return bool(v.get("accepted")) if isinstance(v, Mapping) else False


@dataclass(frozen=True)
class ReleasedSample:
    """One patient sample of a ``results.json`` as it would be released."""

    sample_id: str
    patient_id: str
    injection: int
    context: Mapping[str, str]
    results: tuple[Mapping[str, Any], ...]  # results.json rows, in method order
    interpretation: Mapping[str, Any]
    held: bool
    #: flags of :data:`UNRELEASABLE` on the sample's results (a duplicate sample id...)
    blocked: tuple[str, ...] = ()


def released_samples(doc: Mapping[str, Any]) -> list[ReleasedSample]:
    """The patient samples of a ``results.json``, each with its rows, context and interpretation."""
    contexts = {s.get("sample_id"): s for s in doc.get("samples") or []}
    interp = {i.get("sample_id"): i for i in doc.get("interpretation") or []}
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for r in doc.get("results") or []:
        if r.get("sample_type") == "unknown":
            rows.setdefault(str(r.get("sample_id")), []).append(r)
    out = []
    for sid, rs in rows.items():
        s = contexts.get(sid, {})
        out.append(ReleasedSample(
            sample_id=sid, patient_id=str(rs[0].get("patient_id") or s.get("patient_id") or ""),
            injection=int(rs[0].get("injection") or 0), context=dict(s.get("context") or {}),
            results=tuple(rs), interpretation=dict(interp.get(sid, {})),
            held=any(is_held(r.get("flags") or []) for r in rs),
            blocked=tuple(sorted({f for r in rs for f in (r.get("flags") or []) if f in UNRELEASABLE}))))
    out.sort(key=lambda x: x.injection)
    return out


def _num(v: Any) -> float | None:
    try:
        f = float(str(v).strip().replace(",", "."))
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _value_text(row: Mapping[str, Any], interp: Mapping[str, Any], sp: str) -> str:
    """The result as shown (the interpretation's text for the species, else from the flags)."""
    key = {"6-TGN": "tgn_pmol_8e8", "6-MMPN": "mmp_pmol_8e8"}.get(sp)
    if key and interp.get(key) not in (None, ""):
        return str(interp[key])
    v = row.get("reported")
    if isinstance(v, int | float):
        return f"{v:.1f}"
    flags = row.get("flags") or []
    if "NOT_DETECTED" in flags or "BELOW_LLOQ" in flags:
        return "<LLOQ"
    if "ABOVE_ULOQ" in flags:
        return ">ULOQ"
    return "not reported"


def record_release(out_dir: str | Path, history: str | Path, *, version: int | None = None,
                   released_at: str | None = None, released_by: str | None = None) -> ReleaseSummary:
    """Record the released results of an output folder in the patient history.

    Call it after an accepted run has written its outputs, or from the review app when a version
    is authorised (``version`` = the signed output version). Idempotent by batch, sample and
    version: recording the same release again changes nothing; a *different* result under a
    key already recorded is not overwritten (``conflicts``: release it as a new version). A
    rejected run records nothing and leaves the file untouched. Samples with a result held for
    review (``HELD``) are not recorded. One transaction: all of the run's samples or none.

    Parameters
    ----------
    out_dir : output folder holding ``results.json``
    history : the patient history file (created when missing)
    version : output version (default: the one in ``results.json``, else 1)
    released_at : ISO time of release (default: now, with its UTC offset)
    released_by : who authorised it (the review app's user), optional
    """
    doc = read_results(out_dir)
    ver = release_version(doc, version, out_dir)
    bid = batch_id(doc)
    if not accepted(doc):
        return ReleaseSummary("rejected", bid, ver, messages=("run rejected: nothing recorded in the patient history",))
    samples = [s for s in released_samples(doc) if s.patient_id]
    held = tuple(s.sample_id for s in samples if s.held)
    blocked = [s for s in samples if s.blocked and not s.held]
    samples = [s for s in samples if not s.held and not s.blocked]
    blocked_msgs = tuple(f"{s.sample_id}: {', '.join(s.blocked)}: whose result it is cannot be told, not recorded"
                         for s in blocked)
    if not samples:
        return ReleaseSummary("nothing", bid, ver, held=held, messages=blocked_msgs)
    method = doc.get("method") or {}
    analytes = {a["name"]: a.get("reports_as", "") for a in (doc.get("release") or {}).get("analytes") or []}
    when = released_at or datetime.now().astimezone().isoformat(timespec="seconds")
    recorded, unchanged, conflicts = [], [], []
    conn = _connect(history, create=True)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for s in samples:
                ctx = s.context
                values = []
                for r in s.results:
                    sp = species(str(r.get("analyte")), analytes.get(str(r.get("analyte")), ""))
                    v = r.get("reported")
                    values.append((str(r.get("analyte")), sp, v if isinstance(v, int | float) else None,
                                   _value_text(r, s.interpretation, sp), str(r.get("reported_unit") or ""),
                                   ";".join(r.get("flags") or [])))
                old = conn.execute("SELECT id FROM releases WHERE batch = ? AND sample_id = ? AND version = ?",
                                   (bid, s.sample_id, ver)).fetchone()
                if old is not None:
                    stored = sorted(conn.execute("SELECT analyte, species, value, text, unit, flags FROM "
                                                 "release_results WHERE release_id = ?", (old[0],)).fetchall())
                    same = sorted(values) == stored
                    (unchanged if same else conflicts).append(s.sample_id)
                    continue
                cur = conn.execute(
                    "INSERT INTO releases (batch, sample_id, version, patient_id, collected_at, drug, dose_mg, "
                    "weight_kg, tpmt, nudt15, alt_x_uln, ast_x_uln, bilirubin_x_uln, therapy_event, therapy_start, "
                    "context, method_family, method_name, method_sha256, category, comment, released_at, "
                    "released_by, source) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (bid, s.sample_id, ver, s.patient_id, ctx.get("collected_at") or None, ctx.get("drug") or None,
                     _num(ctx.get("dose_mg")), _num(ctx.get("weight_kg")), ctx.get("tpmt") or None,
                     ctx.get("nudt15") or None, _num(ctx.get("alt_x_uln")), _num(ctx.get("ast_x_uln")),
                     _num(ctx.get("bilirubin_x_uln")), _event(ctx.get("therapy_event")),
                     ctx.get("therapy_start") or None, json.dumps(dict(ctx), sort_keys=True),
                     str(method.get("family") or ""), method.get("name"), method.get("sha256"),
                     s.interpretation.get("category"), s.interpretation.get("comment"), when, released_by,
                     str(Path(out_dir))))
                conn.executemany("INSERT INTO release_results VALUES (?,?,?,?,?,?,?)",
                                 [(cur.lastrowid, *v) for v in values])
                recorded.append(s.sample_id)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise OutputError(f"patient history could not be written ({exc}); nothing was recorded (release it again "
                          f"with: thioquant release {out_dir})", path=history) from exc
    finally:
        conn.close()
    msgs = [f"{sid}: already recorded as batch {bid} version {ver} with other values; not overwritten "
            f"(release the change as a new version: thioquant release OUT_DIR --version {ver + 1})"
            for sid in conflicts]
    msgs += [f"{sid}: held for review, not recorded" for sid in held]
    msgs += blocked_msgs
    return ReleaseSummary("recorded", bid, ver, tuple(recorded), tuple(unchanged), tuple(conflicts), held,
                          tuple(msgs))


def _event(v: Any) -> str | None:
    if v in (None, ""):
        return None
    return THERAPY_EVENTS.get(str(v).strip().lower(), str(v).strip().lower())


def patient_series(history: str | Path, patient_id: str) -> list[dict[str, Any]]:
    """Every released result of a patient, oldest first, the latest version of each sample.

    Each point: ``batch``, ``sample_id``, ``version``, ``collected_at``, ``released_at``, the
    clinical columns (``drug``, ``dose_mg``, ...), ``method_family``, ``category``, ``context``
    (all worklist columns the run had) and ``values``: species -> ``{"value", "text", "unit",
    "flags"}``.
    """
    if not Path(history).is_file():
        return []
    with closing(_connect(history, create=False)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT r.* FROM releases r JOIN (SELECT batch, sample_id, MAX(version) AS v FROM releases "
            "WHERE patient_id = ? GROUP BY batch, sample_id) last ON r.batch = last.batch AND "
            "r.sample_id = last.sample_id AND r.version = last.v", (patient_id,)).fetchall()
        points = []
        for r in rows:
            p = {k: r[k] for k in r.keys() if k not in ("id", "context")}  # noqa: SIM118 (Row iterates values)
            p["context"] = json.loads(r["context"])
            p["values"] = {x["species"]: {"value": x["value"], "text": x["text"], "unit": x["unit"],
                                          "flags": x["flags"].split(";") if x["flags"] else []}
                           for x in conn.execute("SELECT * FROM release_results WHERE release_id = ?", (r["id"],))}
            points.append(p)
    points.sort(key=_when_key)
    return points


def _when_key(p: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(p.get("collected_at") or p.get("released_at") or ""), str(p.get("batch")), str(p.get("sample_id")))


def _date(v: Any) -> date | None:
    if not v:
        return None
    try:
        return datetime.fromisoformat(str(v).strip()).date()
    except ValueError:
        return None


# --- delta check -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delta:
    """The comparison of one analyte with the patient's previous result."""

    species: str
    current: float | None
    previous: float | None = None
    previous_date: str | None = None
    previous_dose_mg: float | None = None
    current_dose_mg: float | None = None
    change_pct: float | None = None
    limit_pct: float | None = None
    flagged: bool = False
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def delta_check(current: float | None, previous_points: Sequence[Mapping[str, Any]], sp: str, *,
                family: str, limit: tuple[float | None, str], current_dose_mg: float | None) -> Delta | None:
    """Compare ``current`` with the latest earlier quantified result of species ``sp``.

    Only results of the same method family are compared (Lennard- and Dervieux-type results
    differ by an unverified factor). None when the patient has no earlier result of ``sp``.
    """
    prev = next((p for p in reversed(previous_points)
                 if p.get("method_family") == family and (p.get("values") or {}).get(sp, {}).get("value") is not None),
                None)
    other = [p for p in previous_points if p.get("method_family") != family and sp in (p.get("values") or {})]
    if prev is None:
        if other:
            return Delta(sp, current, note=f"{sp}: earlier results are from another method family "
                         f"({other[-1].get('method_family')}): not compared without a conversion")
        return None
    pv = float(prev["values"][sp]["value"])
    pdate = prev.get("collected_at") or str(prev.get("released_at") or "")[:10]
    pdose = prev.get("dose_mg")
    dose_txt = f", dose {pdose:g} mg" if isinstance(pdose, int | float) else ""
    head = f"{sp}: previous {pv:.1f} on {pdate}{dose_txt} (batch {prev.get('batch')})"
    if current is None:
        return Delta(sp, None, pv, pdate, pdose, current_dose_mg,
                     note=f"{head}; today's result is not quantified, so no change is computed")
    lim, how = limit
    change = 100.0 * (current - pv) / pv if pv > 0 else math.inf
    dose_change = ""
    if isinstance(pdose, int | float) and current_dose_mg is not None and abs(pdose - current_dose_mg) > 1e-9:
        dose_change = f"; the recorded dose changed from {pdose:g} to {current_dose_mg:g} mg between them"
    elif isinstance(pdose, int | float) != (current_dose_mg is not None):
        dose_change = "; the dose is recorded for only one of the two samples"
    if lim is None:
        return Delta(sp, current, pv, pdate, pdose, current_dose_mg, change, None, False,
                     f"{head}; change {change:+.1f} % ({how}){dose_change}")
    flagged = abs(change) > lim
    verdict = "beyond" if flagged else "within"
    return Delta(sp, current, pv, pdate, pdose, current_dose_mg, change, lim, flagged,
                 f"{head}; change {change:+.1f} %, {verdict} the delta limit: {how}{dose_change}")


# --- therapy phase -----------------------------------------------------------------------------


def _liver_notes(ctx: Mapping[str, Any]) -> list[str]:
    alt, ast, bili = (_num(ctx.get(k)) for k in ("alt_x_uln", "ast_x_uln", "bilirubin_x_uln"))
    trans = max((v for v in (alt, ast) if v is not None), default=None)
    notes = []
    if trans is not None and trans >= 5:
        notes.append(f"ALT/AST {trans:g}x ULN: at or above the summary's stop criterion (5x ULN)")
    elif trans is not None and trans >= 3:
        notes.append(f"ALT/AST {trans:g}x ULN: at or above 3x ULN, where the summary says stopping may be considered")
    if bili is not None and bili >= 2 and trans is not None and trans > 1:
        notes.append(f"bilirubin {bili:g}x ULN with raised transaminases: the summary's stop criterion")
    return notes


def _hepatotoxic(p: Mapping[str, Any]) -> bool:
    """A recorded hepatotoxic episode: so named in the worklist, or ALT/AST >= 3x ULN."""
    if p.get("therapy_event") == "hepatotoxicity":
        return True
    trans = max((v for v in (_num(p.get("alt_x_uln")), _num(p.get("ast_x_uln"))) if v is not None), default=None)
    return trans is not None and trans >= 3


def _episode(points: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The latest hepatotoxic episode since the latest recorded start, if any."""
    for p in reversed(points):
        if _hepatotoxic(p):
            return p
        if p.get("therapy_event") == "start":
            return None
    return None


def therapy_phase(previous_points: Sequence[Mapping[str, Any]], ctx: Mapping[str, Any]) -> dict[str, Any]:
    """The therapy phase of a sample from the patient's history and its worklist row.

    The worklist's ``therapy_event`` (start, dose_change, hepatotoxicity, stopped,
    reintroduction) wins; without it the phase is inferred: no earlier result -> first level;
    a dose different from the last recorded one -> after a dose change; a dose after a recorded
    hepatotoxic episode or stop -> re-introduction. Returns ``kind``, ``text``, ``source`` and,
    for a re-introduction, ``follow_up`` (a secondary summary, labelled as such).
    """
    event = _event(ctx.get("therapy_event"))
    dose = _num(ctx.get("dose_mg"))
    last = previous_points[-1] if previous_points else None
    last_dose = last.get("dose_mg") if last else None
    when = _date(ctx.get("collected_at"))
    if event is None:
        if last is None:  # no earlier result here does not mean the drug was just started
            event = "start" if ctx.get("therapy_start") else "first_recorded"
        elif dose is not None and (_hepatotoxic(last) or last.get("therapy_event") == "stopped"):
            # a restart: after a hepatotoxic episode when one is recorded since the last start
            event = "reintroduction" if _episode(previous_points) is not None else "start"
        elif dose is not None and isinstance(last_dose, int | float) and abs(dose - last_dose) > 1e-9:
            event = "dose_change"
        else:
            event = "maintenance"
    out: dict[str, Any] = {"kind": event, "source": STEADY_STATE_SOURCE, "inferred": not ctx.get("therapy_event")}
    weeks = None
    if event == "start":
        start = _date(ctx.get("therapy_start"))
        if start and when:
            weeks = (when - start).days / 7
        text = "First level after starting therapy" if not previous_points else "Level after a (re)start of therapy"
        if weeks is not None:
            text += f", {weeks:.1f} weeks after the recorded start"
        text += (": steady state is reached about 4 weeks after starting (later in intermediate and poor "
                 "TPMT metabolisers)")
        if weeks is not None and weeks < 4:
            text += "; this sample may be below the steady-state level"
    elif event == "dose_change":
        pdate = _date(last.get("collected_at")) if last else None
        change = (f" from {last_dose:g} to {dose:g} mg" if isinstance(last_dose, int | float) and dose is not None
                  else "")
        text = f"Level after a dose change{change}"
        if pdate and when:
            weeks = (when - pdate).days / 7
            text += f" ({weeks:.1f} weeks after the previous sample)"
        text += ": steady state about 4 weeks after the change"
    elif event == "first_recorded":
        text = ("First result in the patient history (therapy start not recorded): a level reflects the dose "
                "about 4 weeks after starting or after a dose change (later in intermediate and poor TPMT "
                "metabolisers)")
    elif event == "hepatotoxicity":
        text = "Recorded hepatotoxic episode"
    elif event == "stopped":
        text = "Therapy recorded as stopped"
    elif event == "reintroduction":
        dose_txt = f" at {dose:g} mg" if dose is not None else ""
        prior = _episode(previous_points)
        text = f"Re-introduction{dose_txt} after a hepatotoxic episode"
        if prior is not None:
            text += f" (recorded {prior.get('collected_at') or prior.get('released_at', '')[:10]})"
        out["follow_up"] = REINTRODUCTION_FOLLOW_UP
        out["follow_up_source"] = REINTRODUCTION_SOURCE
    elif dose is None or not isinstance(last_dose, int | float):
        text = "No dose change recorded since the previous sample"
    else:
        text = f"Maintenance: dose {dose:g} mg as at the previous sample"
    wod = _num(ctx.get("weeks_on_dose"))
    if wod is not None and event != "stopped":
        text += f"; {wod:g} weeks on the current dose (worklist)"
        if wod < 4:
            text += ", less than the about 4 weeks to steady state"
    liver = _liver_notes(ctx)
    if liver:
        text += "; " + "; ".join(liver)
        out["follow_up_source"] = REINTRODUCTION_SOURCE
    out["text"] = text + "."
    if weeks is not None:
        out["weeks"] = round(weeks, 1)
    return out


# --- annotating a run --------------------------------------------------------------------------


def _current_point(batch: Any, e: Any, interp: Mapping[str, Any], results: Iterable[Any]) -> dict[str, Any]:
    analytes = {a.name: a.reports_as for a in batch.method.analytes}
    ctx = dict(e.extra)
    values = {}
    for r in results:
        sp = species(r.analyte, analytes.get(r.analyte, ""))
        v = r.reported if math.isfinite(r.reported) else None
        row = {"reported": v, "flags": list(r.flags)}
        values[sp] = {"value": v, "text": _value_text(row, interp, sp), "unit": r.reported_unit, "flags": list(r.flags)}
    return {"batch": Path(batch.batch_dir).name, "sample_id": e.sample_id, "version": None,
            "collected_at": ctx.get("collected_at") or None, "dose_mg": _num(ctx.get("dose_mg")),
            "drug": ctx.get("drug") or None, "therapy_event": _event(ctx.get("therapy_event")),
            "alt_x_uln": _num(ctx.get("alt_x_uln")), "ast_x_uln": _num(ctx.get("ast_x_uln")),
            "method_family": batch.method.family, "category": interp.get("category"), "values": values,
            "current": True}


def annotate(batch: Any, history: str | Path | None) -> Any:
    """A copy of ``batch`` with each patient sample compared with the patient's history.

    Adds ``DELTA`` to a result (and its interpretation row) whose change from the previous
    result of the same patient, analyte and method family exceeds the method's ``[delta]``
    limit; appends the delta and therapy-phase notes to the interpretation row; fills
    ``batch.patient_history`` (sample id -> earlier points, the current point, deltas, phase)
    for the trend figure. A rejected run is returned unchanged: nothing of it is interpreted.
    Results of this batch already in the history (a re-run) are not compared with themselves.
    """
    from thioquant.assay.release_settings import method_delta

    if history is None or not getattr(batch, "accepted", False):
        return batch
    settings = method_delta(batch.method)
    bid = Path(batch.batch_dir).name
    by_sample: dict[str, list[Any]] = {}
    for r in batch.results:
        if r.sample_type == "unknown":
            by_sample.setdefault(r.sample_id, []).append(r)
    interp = {row.get("sample_id"): row for row in batch.interpretations}
    analytes = {a.name: a.reports_as for a in batch.method.analytes}
    delta_flags: set[tuple[str, str]] = set()
    notes: dict[str, list[str]] = {}
    context: dict[str, Any] = {}
    series_cache: dict[str, list[dict[str, Any]]] = {}
    for e in batch.worklist.entries:
        if (e.sample_type != "unknown" or not e.patient_id or e.sample_id not in by_sample
                or UNRELEASABLE & set(e.flags)):  # a duplicate id: whose result is it?
            continue
        if e.patient_id not in series_cache:
            series_cache[e.patient_id] = patient_series(history, e.patient_id)
        when = _date(e.extra.get("collected_at"))
        prev = [p for p in series_cache[e.patient_id] if not (p["batch"] == bid and p["sample_id"] == e.sample_id)
                and (when is None or _date(p.get("collected_at")) is None or _date(p.get("collected_at")) <= when)]
        row = interp.get(e.sample_id, {})
        current = _current_point(batch, e, row, by_sample[e.sample_id])
        deltas = []
        for r in by_sample[e.sample_id]:
            sp = species(r.analyte, analytes.get(r.analyte, ""))
            held = is_held(r.flags)
            d = delta_check(None if held or not math.isfinite(r.reported) else float(r.reported), prev, sp,
                            family=batch.method.family, limit=settings.limit(r.analyte),
                            current_dose_mg=current["dose_mg"])
            if d is None:
                continue
            deltas.append(d.as_dict())
            notes.setdefault(e.sample_id, []).append("Delta check - " + d.note)
            if d.flagged:
                delta_flags.add((e.sample_id, r.analyte))
                current["values"][sp]["flags"].append(DELTA)  # the trend marks it like the history
        phase = therapy_phase(prev, e.extra)
        notes.setdefault(e.sample_id, []).append(f"Therapy phase ({'inferred from the history' if phase['inferred'] else 'worklist'}): "
                                                 f"{phase['text']}")
        context[e.sample_id] = {"patient_id": e.patient_id, "points": [*prev, current], "deltas": deltas,
                                "phase": phase}
    if not context:
        return batch
    results = tuple(replace(r, flags=(*r.flags, DELTA)) if (r.sample_id, r.analyte) in delta_flags else r
                    for r in batch.results)
    flagged_samples = {s for s, _ in delta_flags}
    rows = []
    for row in batch.interpretations:
        sid = row.get("sample_id")
        if sid in notes:
            row = dict(row)
            row["notes"] = "; ".join(x for x in (row.get("notes") or "", *notes[sid]) if x)
            if sid in flagged_samples:
                row["flags"] = ";".join(x for x in (row.get("flags") or "", DELTA) if x)
        rows.append(row)
    return replace(batch, results=results, interpretations=tuple(rows), patient_history=context)


# --- batch.toml --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRelease:
    """Where a batch's released results go, from ``batch.toml``."""

    patient_history: Path | None = None
    lis_outbox: Path | None = None
    lis_formats: tuple[str, ...] = ("hl7", "fhir")
    #: "accept": an accepted run is released by quantify; "authorisation": by the review app
    release_on: str = "accept"
    messages: tuple[str, ...] = field(default_factory=tuple)


def batch_release_settings(batch_dir: str | Path) -> BatchRelease:
    """``patient_history``, ``lis_outbox`` and ``lis_formats`` of a batch's ``batch.toml``
    (paths relative to the batch folder). Nothing is required."""
    import tomllib

    cfg = Path(batch_dir) / "batch.toml"
    if not cfg.is_file():
        return BatchRelease()
    try:
        doc = tomllib.loads(cfg.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return BatchRelease()  # the pipeline reports it as a method error

    def path(key: str) -> Path | None:
        v = doc.get(key)
        if v is None:
            return None
        if not isinstance(v, str) or not v.strip():
            raise InputError(f"{key} must be a path", path=cfg, key=key)
        p = Path(v).expanduser()
        return p if p.is_absolute() else Path(batch_dir) / p

    formats = doc.get("lis_formats", ["hl7", "fhir"])
    if not isinstance(formats, list) or not formats or set(formats) - {"hl7", "fhir"}:
        raise InputError('lis_formats must be a list of "hl7" and/or "fhir"', path=cfg, key="lis_formats")
    release_on = doc.get("release_on", "accept")
    if release_on not in RELEASE_ON:
        raise InputError(f'release_on must be one of {", ".join(RELEASE_ON)}', path=cfg, key="release_on")
    return BatchRelease(path("patient_history"), path("lis_outbox"), tuple(formats), release_on)


RELEASE_ON = ("accept", "authorisation")


__all__ = ["DELTA", "HELD", "BatchRelease", "Delta", "ReleaseSummary", "ReleasedSample", "annotate",
           "batch_release_settings", "check_history_file", "delta_check", "patient_series", "read_results",
           "record_release", "release_version", "released_samples", "species", "therapy_phase"]
