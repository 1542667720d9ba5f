"""The review of one output folder: edits, undo, signatures and signed versions.

A :class:`ReviewSession` rebuilds the batch of an output folder written by ``thioquant quantify``
(from its ``audit.jsonl``: batch folder, method, overrides, profile, cache; the raw files must
still have the hashes recorded there), then applies the reviewer's actions:

- a manual integration (start and end in minutes, with a reason) or its removal ("back to
  automatic"): the injection is measured again through the measurement cache and the batch
  re-quantified (:func:`thioquant.pipeline.requantify`);
- a calibrator excluded or included again, with a reason;
- undo of the last edit;
- a signature: user name, password re-entered, meaning ("reviewed", then "authorised" by another
  user with the authoriser role) and time; the authorisation releases a new signed version
  ``OUT/versions/vN`` (see :mod:`thioquant.review` and docs/review.md), whose ``overrides.csv``
  holds every decision in force (:mod:`thioquant.assay.decisions`), so that ``quantify
  --overrides`` reproduces it; the decisions a run was quantified with are in force from the start.

Every action goes first into the hash-chained journal ``OUT/review/journal.jsonl``
(:mod:`thioquant.review.journal`); the state is rebuilt by replaying it. ``rev`` counts the state
changes: an edit made on a view older than the current ``rev`` (another tab changed the state in
between) is refused so that neither edit is lost silently.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from thioquant.audit import AUDIT_FILE, first_entry, is_thioquant_run
from thioquant.errors import InputError, MethodError, ReviewError, ThioquantError
from thioquant.review.journal import Journal
from thioquant.review.users import User, UserStore

REVIEW_DIR = "review"
JOURNAL = "journal.jsonl"
VERSIONS_DIR = "versions"
VERSION_FILE = "version.json"
OVERRIDES_FILE = "overrides.csv"
MEANINGS = {"reviewed": "technical review", "authorised": "authorisation for release"}
#: reasons offered for a manual integration (free text is accepted too)
INTEGRATION_REASONS = (
    "peak split / shoulder not integrated",
    "baseline drawn through noise or drift",
    "wrong peak picked (interference)",
    "tailing cut off",
    "co-eluting peak included",
)
EDIT_EVENTS = ("review_manual_integration", "review_automatic_integration", "review_exclude_calibrator",
               "review_include_calibrator", "review_undo")

Key = tuple[str, str]  # (sample_id, analyte)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def find_output_dir(path: str | Path) -> Path:
    """The output folder to review: ``path`` itself when it holds a thioquant ``audit.jsonl``;
    for a batch folder, the output folder ``thioquant quantify BATCH`` writes by default
    (:func:`thioquant.locations.default_output_dir`), or ``BATCH/results`` when only an earlier
    version's run is there."""
    from thioquant.locations import default_output_dir, legacy_output_dir

    p = Path(path)
    if is_thioquant_run(first_entry(p / AUDIT_FILE)):
        return p
    if (p / "worklist.csv").is_file():
        try:
            out = default_output_dir(p)
        except MethodError as exc:  # the method names the default output folder's parent
            raise InputError(f"a batch folder whose method is not named by batch.toml ({exc.reason}): give "
                             "its output folder instead", path=p) from None
        legacy = legacy_output_dir(p)
        if not out.exists() and is_thioquant_run(first_entry(legacy / AUDIT_FILE)):
            return legacy
        return out
    raise InputError("neither a thioquant output folder (no audit.jsonl from a run) nor a batch folder "
                     "(no worklist.csv)", path=p)


class ReviewSession:
    """The review state of one output folder (thread-safe: one lock around every action)."""

    def __init__(self, out_dir: str | Path, users: UserStore | None = None, *,
                 release_hooks: tuple[Callable[[Path], Any], ...] | None = None,
                 pseudonym_key: str | None = None) -> None:
        from thioquant.audit import verify

        self.out = Path(out_dir)
        self.users = users or UserStore()
        self.lock = threading.RLock()
        audit_path = self.out / AUDIT_FILE
        start = first_entry(audit_path)
        if not is_thioquant_run(start):
            raise InputError("not a thioquant output folder (no audit.jsonl written by a run)", path=self.out)
        check = verify(self.out)
        if not check.ok:
            raise ReviewError("the output folder's audit trail is broken; it cannot be reviewed: "
                              + "; ".join(check.problems[:3]), path=self.out)
        self.base_audit_sha256 = _sha256_bytes(audit_path.read_bytes())
        params = dict(start.get("parameters") or {})
        # a pseudonymised run is reviewed under its pseudonyms: the batch is measured again from
        # the raw files (named by the lab's ids), and every state, page, journal entry and signed
        # version is made from the batch pseudonymised with the run's key, as quantify does
        self._key: str | None = None
        self._shown: dict[str, str] = {}  # real sample id -> pseudonym (patient samples only)
        self._real: dict[str, str] = {}
        self._sub: Callable[[str], str] = lambda text: text
        if params.get("pseudonymise"):
            if not pseudonym_key:
                raise ReviewError("this run was pseudonymised (quantify --pseudonymise): review it with the key "
                                  "it was made with (thioquant review --pseudonym-key KEY, or the "
                                  "THIOQUANT_PSEUDONYM_KEY environment variable); the review then shows "
                                  "pseudonyms only", path=self.out)
            self._key = pseudonym_key
        self.batch_dir, base = _locate_batch(Path(start["batch_dir"]), self.out, params.get("cwd"))
        for key in ("method", "overrides", "profile", "cache", "history"):
            # paths as typed at the quantify run, relative to the folder it ran in
            val = params.get(key)
            if val and base is not None and not Path(val).is_absolute() and (base / val).exists():
                params[key] = str(base / val)
        self.params = params
        self.batch_dir = self.batch_dir.resolve()
        # quantify keeps its cache beside the output folder (made absolute here), never in the batch
        self.cache = self.out.resolve().parent / Path(params["cache"]).name if params.get("cache") else None
        hist = params.get("history")
        self.history = Path(hist) if hist and Path(hist).is_file() else None
        self.release_hooks = default_release_hooks() if release_hooks is None else release_hooks
        self._load_base()
        self.journal = Journal(self.out / REVIEW_DIR / JOURNAL)
        if self.journal.entries and self.journal.entries[0].get("base_audit_sha256") != self.base_audit_sha256:
            raise ReviewError("the output folder was replaced since its review started (its audit.jsonl "
                              f"differs from the one recorded in {REVIEW_DIR}/{JOURNAL})", path=self.out)
        # user name -> (wrong passwords, locked until on the monotonic clock); rebuilt from the
        # journal so that restarting the review server neither clears a lock nor the count
        self._failures: dict[str, tuple[int, float]] = self._replay_failures()
        self._replay()

    # ------------------------------------------------------------------ loading

    def _load_base(self) -> None:
        from thioquant.assay.method import load_method
        from thioquant.assay.worklist import MAX_ROWS
        from thioquant.pipeline import quantify

        p = self.params
        recorded: dict[str, Any] = {}
        method_entry: dict[str, Any] = {}
        for line in (self.out / AUDIT_FILE).read_text(encoding="utf-8").splitlines():
            e = json.loads(line)
            if e.get("event") == "input":
                recorded[e.get("sample_id")] = e.get("sha256")
            elif e.get("event") == "method":
                method_entry = e
        # the very method file the run used (recorded with its sha256), wherever this runs from
        method: Any = p.get("method")
        if method_entry.get("file") and Path(method_entry["file"]).is_file():
            method = load_method(method_entry["file"])
            if method_entry.get("sha256") and method.sha256 != method_entry["sha256"]:
                raise ReviewError(f"the method file {method_entry['file']} changed since the run (its sha256 "
                                  "differs from audit.jsonl)", path=self.out)
        def adopt(run_id: str) -> None:  # the run as the previous keying filed it, when this folder proves it
            from thioquant.qc.runkey import legacy_run_id
            from thioquant.qc.westgard import adopt_run

            adopt_run(self.history, legacy_run_id(self.out, run_id), run_id)

        try:
            self.base = quantify(self.batch_dir, method, overrides=p.get("overrides"), pseudonym_key=self._key,
                                 cache=self.cache, history=self.history, history_hook=adopt, profile=p.get("profile"),
                                 max_rows=p.get("max_rows", MAX_ROWS))  # as the run was allowed
        except ThioquantError as exc:
            raise ReviewError(f"the batch of this output folder cannot be quantified again: {exc}",
                              path=self.out) from None
        entries = self.base.worklist.entries
        if self._key is not None:
            from thioquant.privacy import pseudonym_map, text_replacer

            mapping = pseudonym_map(entries, self._key)
            self._sub = text_replacer(mapping)
            self._shown = {e.sample_id: mapping[e.sample_id] for e in entries if e.sample_id in mapping}
            self._real = {v: k for k, v in self._shown.items()}
            wrong = sum(v not in recorded for v in self._shown.values())
            if wrong:  # counted, never named: a name here would be the lab's id
                raise ReviewError(f"the pseudonym key does not give this run's pseudonyms ({wrong} of "
                                  f"{len(self._shown)} patient samples differ from audit.jsonl): give the key "
                                  "the run was quantified with", path=self.out)
        for e, meas in zip(entries, self.base.measurements, strict=True):
            if recorded.get(self._shown.get(e.sample_id, e.sample_id)) != (meas.sha256 or None):
                raise ReviewError(self._sub(f"raw file {e.file} ({e.sample_id}) is not the one this output folder "
                                            "was made from (its sha256 differs from audit.jsonl)"),
                                  path=self.batch_dir if self._key is None else self.out)

    def _replay(self) -> None:
        self.manual: dict[Key, dict[str, Any]] = {}
        for r in self.base.manual:
            sid = self._shown.get(str(r["sample_id"]), str(r["sample_id"]))
            self.manual[(sid, str(r["analyte"]))] = {**dict(r), "sample_id": sid}
        # calibrator decisions the run was quantified with (quantify --overrides with a decisions
        # file, e.g. an earlier version's overrides.csv) are in force until the reviewer changes them
        self.exclusions: dict[Key, str] = {(str(r["sample_id"]), str(r["analyte"])): str(r["reason"])
                                           for r in self.base.exclusions}
        #: calibrators with a held integration (CAL_HELD) the reviewer included in the fit
        self.inclusions: dict[Key, str] = {(str(r["sample_id"]), str(r["analyte"])): str(r["reason"])
                                           for r in self.base.inclusions}
        self.undo_stack: list[tuple[dict[Key, dict[str, Any]], dict[Key, str], dict[Key, str]]] = []
        self.signatures: list[dict[str, Any]] = []
        self.rev = 0
        for e in self.journal.entries[1:]:
            ev = e.get("event")
            if ev in EDIT_EVENTS:
                if ev == "review_undo":
                    if self.undo_stack:
                        self.manual, self.exclusions, self.inclusions = self.undo_stack.pop()
                else:
                    self.undo_stack.append((dict(self.manual), dict(self.exclusions), dict(self.inclusions)))
                    self._apply_event(e)
                self.rev += 1
                self.signatures = []
            elif ev == "signature":
                self.signatures.append(_signature_view(e))
            elif ev == "release":
                self.signatures = []
        self.batch = self._compute(self.manual, self.exclusions, self.inclusions)

    def _replay_failures(self) -> dict[str, tuple[int, float]]:
        """Wrong-password counts and running locks from the journal's refusals and sign-ins."""
        import datetime as dt
        import time

        counts: dict[str, int] = {}
        locked_at: dict[str, dt.datetime] = {}
        for e in self.journal.entries[1:]:
            ev, name = e.get("event"), str(e.get("user", ""))
            if ev in ("sign_in", "signature"):
                counts.pop(name, None)
                locked_at.pop(name, None)
            elif ev in ("sign_in_refused", "signature_refused") and not e.get("while_locked"):
                if e.get("locked"):
                    counts.pop(name, None)
                    locked_at[name] = dt.datetime.fromisoformat(e["time"])
                else:
                    counts[name] = counts.get(name, 0) + 1
        now_utc, now_mono = dt.datetime.now(dt.UTC), time.monotonic()
        out: dict[str, tuple[int, float]] = {n: (c, 0.0) for n, c in counts.items()}
        for name, at in locked_at.items():
            left_s = self.LOCK_S - (now_utc - at).total_seconds()
            if left_s > 0:
                out[name] = (counts.get(name, 0), now_mono + left_s)
        return out

    def _apply_event(self, e: Mapping[str, Any]) -> None:
        key = (str(e["sample_id"]), str(e["analyte"]))
        ev = e["event"]
        if ev == "review_manual_integration":
            after = e["after"]
            self.manual[key] = {"sample_id": key[0], "analyte": key[1], "start_min": after["start_min"],
                                "end_min": after["end_min"], "reason": e["reason"], "user": e.get("user", "")}
        elif ev == "review_automatic_integration":
            self.manual.pop(key, None)
        elif ev == "review_exclude_calibrator":
            self.inclusions.pop(key, None)  # a held calibrator the reviewer had put back goes out again
            if not e.get("held_override"):
                self.exclusions[key] = e["reason"]
        elif ev == "review_include_calibrator":
            if e.get("held_override"):
                self.inclusions[key] = e["reason"]
            else:
                self.exclusions.pop(key, None)

    def _compute(self, manual: Mapping[Key, Mapping[str, Any]], exclusions: Mapping[Key, str],
                 inclusions: Mapping[Key, str]) -> Any:
        """The batch in the given state: the same re-quantification for every edit (a manual
        integration, a calibrator excluded or included), pseudonymised when the run was."""
        from thioquant.pipeline import requantify

        def real(k: Key) -> Key:
            return (self._real.get(k[0], k[0]), k[1])

        try:
            batch = requantify(self.base, [{**manual[k], "sample_id": real(k)[0]} for k in sorted(manual)],
                               {real(k): v for k, v in exclusions.items()},
                               inclusions={real(k): v for k, v in inclusions.items()},
                               cache=self.cache, history=self.history)
        except ThioquantError as exc:
            raise ReviewError(self._sub(f"this change leaves a batch that cannot be evaluated: {exc}")) from None
        if self._key is not None:
            from thioquant.privacy import pseudonymise

            batch = pseudonymise(batch, self._key)
        return batch

    # ------------------------------------------------------------------ helpers

    def _log(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append ``entry`` to the journal, which is started (with the sha256 of the output
        folder's audit.jsonl) by the first action: merely looking leaves no trace in the folder."""
        if not self.journal.entries:
            self.journal.append({"event": "review_start", "output_dir": str(self.out),
                                 "batch_dir": str(self.batch_dir), "base_audit_sha256": self.base_audit_sha256})
        return self.journal.append(entry)

    def entry(self, sample_id: str) -> Any:
        for e in self.batch.worklist.entries:
            if e.sample_id == sample_id:
                return e
        raise InputError(f"no injection {sample_id!r} in this batch")

    def measurement(self, sample_id: str) -> Any:
        for e, meas in zip(self.batch.worklist.entries, self.batch.measurements, strict=True):
            if e.sample_id == sample_id:
                return meas
        raise InputError(f"no injection {sample_id!r} in this batch")

    def _compound(self, name: str) -> Any:
        m = self.batch.method
        for c in m.analytes + m.internal_standards:
            if c.name == name or f"{c.name} qualifier" == name:
                return c
        raise InputError(f"no compound {name!r} in the method")

    def _peak_doc(self, sample_id: str, key: str) -> dict[str, Any] | None:
        pk = self.measurement(sample_id).peaks.get(key)
        if pk is None:
            return None
        return {"start_min": _finite(pk.start_min), "end_min": _finite(pk.end_min), "rt_min": _finite(pk.rt_min),
                "area": _finite(pk.area)}

    def _check_rev(self, rev: int | None) -> None:
        if rev is not None and int(rev) != self.rev:
            raise ReviewError(f"the batch was changed elsewhere (another tab or user) since this view was "
                              f"loaded (revision {rev}, now {self.rev}): reload to see the change, then "
                              "redo yours if still needed")

    def _edit(self, event: dict[str, Any], manual: dict[Key, dict[str, Any]], exclusions: dict[Key, str],
              rev: int | None, inclusions: dict[Key, str] | None = None) -> dict[str, Any]:
        """Compute the new state; only when that works, journal the event and switch to it."""
        with self.lock:
            self._check_rev(rev)
            inclusions = dict(self.inclusions) if inclusions is None else inclusions
            batch = self._compute(manual, exclusions, inclusions)
            entry = self._log(event)
            self.undo_stack.append((self.manual, self.exclusions, self.inclusions))
            self.manual, self.exclusions, self.inclusions, self.batch = manual, exclusions, inclusions, batch
            self.rev += 1
            self.signatures = []  # a signature covers the state it was given on
            return entry

    @staticmethod
    def _reason(reason: str) -> str:
        reason = (reason or "").strip()
        if not reason:
            raise InputError("a reason is required (it goes into the audit trail)")
        return reason

    def _result(self, batch: Any, sample_id: str, analyte: str) -> dict[str, Any]:
        for r in batch.results:
            if r.sample_id == sample_id and r.analyte == analyte:
                return {"area": _finite(r.area), "conc": _finite(r.conc), "reported": _finite(r.reported)}
        return {}

    def _cal_point(self, sample_id: str, analyte: str) -> dict[str, Any] | None:
        """The calibration point of calibrator ``sample_id`` for ``analyte`` in the current state."""
        oc = self.batch.calibrations.get(analyte)
        if oc is None:
            return None
        # the outcome's points follow the calibrators with a nominal value, in run order
        ids = [e.sample_id for e in self.batch.worklist.entries if e.sample_type == "calibrator" and e.usable
               and math.isfinite(self.batch.method.nominal("calibrator", e.level, analyte))]
        for sid, p in zip(ids, oc.points, strict=False):
            if sid == sample_id:
                return {"level": p.level, "included": bool(p.included), "reason": p.reason,
                        "accuracy_pct": _finite(p.accuracy_pct)}
        return None

    def _has_flag(self, sample_id: str, analyte: str, flag: str) -> bool:
        return any(r.sample_id == sample_id and r.analyte == analyte and flag in r.flags
                   for r in self.batch.results)

    def _is_held(self, sample_id: str, analyte: str) -> bool:
        """Set aside before the fit because its integration would be held (``CAL_HELD``)."""
        return self._has_flag(sample_id, analyte, "CAL_HELD")

    def _held_reason(self, sample_id: str, analyte: str) -> str:
        pt = self._cal_point(sample_id, analyte)
        return pt["reason"] if pt else "integration held for review"

    # ------------------------------------------------------------------ edits

    def integrate(self, user: User, sample_id: str, analyte: str, start_min: float, end_min: float,
                  reason: str, rev: int | None = None) -> dict[str, Any]:
        """Integrate ``analyte`` (a compound or ``"<name> qualifier"``) of ``sample_id`` manually."""
        with self.lock:
            self.entry(sample_id)
            self._compound(analyte)
            reason = self._reason(reason)
            start, end = _finite(start_min), _finite(end_min)
            if start is None or end is None or start < 0 or not end > start:
                raise InputError(f"manual integration needs 0 <= start < end, got {start_min!r}-{end_min!r} min")
            key = (sample_id, analyte)
            manual = dict(self.manual)
            manual[key] = {"sample_id": sample_id, "analyte": analyte, "start_min": start, "end_min": end,
                           "reason": reason, "user": user.name}
            before = self._peak_doc(sample_id, analyte)
            event = {"event": "review_manual_integration", "user": user.name, "sample_id": sample_id,
                     "analyte": analyte, "reason": reason, "was_manual": key in self.manual,
                     "before": before, "after": {"start_min": start, "end_min": end},
                     "result_before": self._result(self.batch, sample_id, analyte)}
            entry = self._edit(event, manual, dict(self.exclusions), rev)
            return {**entry, "peak_after": self._peak_doc(sample_id, analyte),
                    "result_after": self._result(self.batch, sample_id, analyte)}

    def automatic(self, user: User, sample_id: str, analyte: str, reason: str = "back to automatic integration",
                  rev: int | None = None) -> dict[str, Any]:
        """Remove the manual integration of ``analyte`` in ``sample_id``."""
        with self.lock:
            key = (sample_id, analyte)
            if key not in self.manual:
                raise InputError(f"{sample_id} {analyte} is not integrated manually")
            manual = dict(self.manual)
            del manual[key]
            event = {"event": "review_automatic_integration", "user": user.name, "sample_id": sample_id,
                     "analyte": analyte, "reason": self._reason(reason),
                     "before": self._peak_doc(sample_id, analyte), "after": None,
                     "result_before": self._result(self.batch, sample_id, analyte)}
            return self._edit(event, manual, dict(self.exclusions), rev)

    def exclude(self, user: User, sample_id: str, analyte: str, reason: str,
                rev: int | None = None) -> dict[str, Any]:
        """Exclude the calibrator ``sample_id`` from ``analyte``'s curve."""
        with self.lock:
            e = self.entry(sample_id)
            if e.sample_type != "calibrator":
                raise InputError(f"{sample_id} is not a calibrator")
            if analyte not in {a.name for a in self.batch.method.analytes}:
                raise InputError(f"no analyte {analyte!r} in the method")
            key = (sample_id, analyte)
            if key in self.exclusions:
                raise InputError(f"calibrator {sample_id} is already excluded from {analyte}")
            inclusions = {k: v for k, v in self.inclusions.items() if k != key}
            if key in self.inclusions and self._has_flag(sample_id, analyte, "CAL_HELD_INCLUDED"):
                # put back by the reviewer: out again, as the hold rule says
                event = {"event": "review_exclude_calibrator", "user": user.name, "sample_id": sample_id,
                         "analyte": analyte, "level": e.level, "reason": self._reason(reason),
                         "held_override": True, "before": {"included": True, "reason": self.inclusions[key]},
                         "after": {"included": False, "reason": "set aside for its held integration"}}
                return self._edit(event, dict(self.manual), dict(self.exclusions), rev, inclusions)
            if self._is_held(sample_id, analyte):
                raise InputError(f"calibrator {sample_id} is already excluded from {analyte} before the fit "
                                 f"({self._held_reason(sample_id, analyte)})")
            # (an inclusion left from a hold that a re-integration has since cleared goes with it)
            exclusions = {**self.exclusions, key: self._reason(reason)}
            event = {"event": "review_exclude_calibrator", "user": user.name, "sample_id": sample_id,
                     "analyte": analyte, "level": e.level, "reason": exclusions[key],
                     "before": {"included": True}, "after": {"included": False}}
            return self._edit(event, dict(self.manual), exclusions, rev, inclusions)

    def include(self, user: User, sample_id: str, analyte: str, reason: str,
                rev: int | None = None) -> dict[str, Any]:
        """Include again a calibrator the reviewer excluded, or include one that was excluded before
        the fit because its integration would be held (``CAL_HELD``): the reviewer looked at the
        chromatogram and judges the integration fine. The ICH M10 rules then judge it by its
        accuracy, as any calibrator."""
        with self.lock:
            key = (sample_id, analyte)
            if key not in self.exclusions and self._is_held(sample_id, analyte):
                held = self._held_reason(sample_id, analyte)
                inclusions = {**self.inclusions, key: self._reason(reason)}
                event = {"event": "review_include_calibrator", "user": user.name, "sample_id": sample_id,
                         "analyte": analyte, "level": self.entry(sample_id).level, "reason": inclusions[key],
                         "held_override": True, "before": {"included": False, "reason": held},
                         "after": {"included": True}}
                entry = self._edit(event, dict(self.manual), dict(self.exclusions), rev, inclusions)
                pt = self._cal_point(sample_id, analyte)
                return {**entry, "point_after": pt}
            if key not in self.exclusions:
                why = (f"calibrator {sample_id} was not excluded from {analyte} by a reviewer nor set aside for a "
                       "held integration")
                pt = self._cal_point(sample_id, analyte)
                if pt and not pt["included"] and pt["reason"]:
                    why += f"; it is excluded by a rule that stays in force ({pt['reason']})"
                raise InputError(why)
            exclusions = dict(self.exclusions)
            del exclusions[key]
            event = {"event": "review_include_calibrator", "user": user.name, "sample_id": sample_id,
                     "analyte": analyte, "level": self.entry(sample_id).level, "reason": self._reason(reason),
                     "before": {"included": False, "reason": self.exclusions[key]}, "after": {"included": True}}
            return self._edit(event, dict(self.manual), exclusions, rev)

    def undo(self, user: User, rev: int | None = None) -> dict[str, Any]:
        """Go back to the state before the last edit (itself an audited action)."""
        with self.lock:
            self._check_rev(rev)
            if not self.undo_stack:
                raise InputError("nothing to undo")
            manual, exclusions, inclusions = self.undo_stack[-1]
            batch = self._compute(manual, exclusions, inclusions)
            last = next(e for e in reversed(self.journal.entries) if e.get("event") in EDIT_EVENTS
                        and e.get("event") != "review_undo")
            entry = self._log({
                "event": "review_undo", "user": user.name, "undone_seq": last["seq"],
                "undone_event": last["event"], "reason": "undo",
                "before": {"manual": _state_doc(self.manual), "exclusions": _excl_doc(self.exclusions),
                           "inclusions": _excl_doc(self.inclusions)},
                "after": {"manual": _state_doc(manual), "exclusions": _excl_doc(exclusions),
                          "inclusions": _excl_doc(inclusions)}})
            self.undo_stack.pop()
            self.manual, self.exclusions, self.inclusions, self.batch = manual, exclusions, inclusions, batch
            self.rev += 1
            self.signatures = []
            return entry

    #: consecutive wrong passwords for a user name before it is locked, and for how long (21 CFR
    #: 11.300(d): safeguards against attempts at unauthorised use); per output folder, kept in its
    #: review journal, so a restarted review server keeps the lock
    MAX_FAILURES, LOCK_S = 5, 900.0

    def _authenticate(self, name: str, password: str, purpose: str) -> User:
        """The user, or :class:`ReviewError` (journaled) for a wrong password or a locked name."""
        import time

        with self.lock:
            fails, until = self._failures.get(name, (0, 0.0))
            if until > time.monotonic():
                self._log({"event": "sign_in_refused" if purpose == "sign_in" else "signature_refused",
                           "user": name, "purpose": purpose, "reason": "locked after repeated wrong passwords",
                           "while_locked": True})
                raise ReviewError(f"{name} is locked for {self.LOCK_S / 60:.0f} min after {self.MAX_FAILURES} "
                                  "wrong passwords; ask another user or wait")
        try:
            user = self.users.authenticate(name, password)
        except ReviewError as exc:
            with self.lock:
                fails += 1
                locked = fails >= self.MAX_FAILURES
                self._failures[name] = (0, time.monotonic() + self.LOCK_S) if locked else (fails, 0.0)
                self._log({"event": "sign_in_refused" if purpose == "sign_in" else "signature_refused",
                           "user": name, "purpose": purpose, "reason": str(exc),
                           **({"locked": True} if locked else {})})
            raise
        with self.lock:
            self._failures.pop(name, None)
        return user

    def sign_in(self, name: str, password: str) -> User:
        user = self._authenticate(name, password, "sign_in")
        with self.lock:
            self._log({"event": "sign_in", "user": user.name, "role": user.role})
        return user

    # ------------------------------------------------------------------ signatures and versions

    def results_sha256(self) -> str:
        """sha256 of what a signature covers: the results document of the current state."""
        from thioquant.report.json_out import results_document

        doc = results_document(self.batch)
        doc.pop("messages", None)  # cache notes vary between sessions; the numbers do not
        return _sha256_bytes(json.dumps(doc, sort_keys=True, default=str).encode())

    def sign(self, name: str, password: str, meaning: str, rev: int | None = None) -> dict[str, Any]:
        """Sign the current state (21 CFR 11.50: printed name, date and time, meaning).

        ``reviewed`` by any user; ``authorised`` by a user with the authoriser role, other than the
        one who reviewed this state. The authorisation releases a signed version.
        Returns the signature entry (with ``version`` when a version was released).
        """
        if meaning not in MEANINGS:
            raise InputError(f"meaning must be one of {', '.join(MEANINGS)}")
        user = self._authenticate(name, password, meaning)
        with self.lock:
            self._check_rev(rev)
            refused = self._refusal(user, meaning)
            if refused:
                self._log({"event": "signature_refused", "user": user.name, "meaning": meaning,
                                     "reason": refused})
                raise ReviewError(refused)
            entry = self._log({
                "event": "signature", "user": user.name, "full_name": user.full_name or user.name,
                "role": user.role, "meaning": meaning, "meaning_text": MEANINGS[meaning],
                "state_rev": self.rev, "results_sha256": self.results_sha256(),
                "password_reentered": True})
            self.signatures.append(_signature_view(entry))
            out = dict(entry)
            if meaning == "authorised":
                out["version"] = self.release()
            return out

    def _refusal(self, user: User, meaning: str) -> str:
        reviewed = [s for s in self.signatures if s["meaning"] == "reviewed"]
        if meaning == "reviewed":
            if reviewed:
                return f"this state is already reviewed by {reviewed[-1]['user']}"
            return ""
        if user.role != "authoriser":
            return f"{user.name} has the role {user.role}; authorisation needs the authoriser role"
        if not reviewed:
            return "authorisation needs a technical review (a 'reviewed' signature) of this state first"
        if reviewed[-1]["user"] == user.name:
            return (f"{user.name} reviewed this state; the authorisation must be signed by another person "
                    "(two-person rule)")
        return ""

    def versions(self) -> list[dict[str, Any]]:
        """The signed versions, oldest first (from their ``version.json``)."""
        root = self.out / VERSIONS_DIR
        out = []
        for d in sorted(root.glob("v*"), key=_version_number) if root.is_dir() else []:
            f = d / VERSION_FILE
            if d.is_dir() and f.is_file() and _version_number(d) > 0:
                out.append(json.loads(f.read_text(encoding="utf-8")))
        return out

    def release(self) -> str:
        """Write the current state, with its signatures, as the next signed version; its name."""
        from thioquant.assay.decisions import decisions_csv
        from thioquant.audit import run_entries, write_audit
        from thioquant.report.writer import write_outputs

        with self.lock:
            vers = self.versions()
            n = max((_version_number(Path(v["version"])) for v in vers), default=0) + 1
            name = f"v{n}"
            supersedes = vers[-1]["version"] if vers else None
            vdir = self.out / VERSIONS_DIR / name
            sigs = [dict(s) for s in self.signatures]
            batch = replace(self.batch, signatures=tuple(sigs))
            info = {"schema": "thioquant.version/1", "version": name, "supersedes": supersedes,
                    "released": sigs[-1]["time"], "output_dir": str(self.out),
                    "base_audit_sha256": self.base_audit_sha256, "signatures": sigs,
                    "manual_integrations": _state_doc(self.manual),
                    # a decision the run took from a decisions file keeps its source (file, row, version)
                    "calibrator_exclusions": _with_sources(_excl_doc(self.exclusions), self.batch.exclusions),
                    "calibrator_inclusions": _with_sources(_excl_doc(self.inclusions), self.batch.inclusions),
                    "results_sha256": self.results_sha256(), "journal_hash": self.journal.last_hash}
            params = {**self.params, "out": str(vdir), "review_of": str(self.out)}
            entries = run_entries(batch, params, self.journal.entries[0]["time"])
            entries += [{"event": "review", "journal_seq": e["seq"], "journal_hash": e["hash"],
                         **{k: v for k, v in e.items() if k not in ("seq", "prev", "hash", "event")},
                         "review_event": e["event"]} for e in self.journal.entries]
            entries.append({"event": "version", "version": name, "supersedes": supersedes,
                            "base_audit_sha256": self.base_audit_sha256,
                            "journal_hash": self.journal.last_hash})
            entries += [{"event": "signature", **s} for s in sigs]

            def finalise(stage: Path) -> None:
                (stage / VERSION_FILE).write_text(json.dumps(info, indent=1, sort_keys=True), encoding="utf-8")
                # the reviewer's decisions in force (manual integrations, calibrator exclusions and
                # inclusions), as the file quantify --overrides reads: the version is reproducible
                (stage / OVERRIDES_FILE).write_text(
                    decisions_csv(_state_doc(self.manual), self.exclusions, self.inclusions),
                    encoding="utf-8", newline="")
                write_audit(stage, entries)

            (self.out / VERSIONS_DIR).mkdir(exist_ok=True)
            write_outputs(batch, vdir, force=False, finalise=finalise, history=self.history)
            for f in vdir.rglob("*"):  # a signed version is read-only (and never replaced: force=False)
                if f.is_file():
                    f.chmod(0o444)
            audit_sha = _sha256_bytes((vdir / AUDIT_FILE).read_bytes())
            self._log({"event": "release", "version": name, "supersedes": supersedes,
                                 "audit_sha256": audit_sha, "signatures": [s["user"] for s in sigs]})
            self.signatures = []
        hook_notes = []
        for hook in self.release_hooks:
            try:
                hook(vdir)
            except Exception as exc:  # noqa: BLE001 - a released version stays released
                hook_notes.append(f"{getattr(hook, '__name__', hook)}: {exc}")
        if hook_notes:
            with self.lock:
                self._log({"event": "release_hook_failed", "version": name, "problems": hook_notes})
        return name

    # ------------------------------------------------------------------ views

    def state(self) -> dict[str, Any]:
        """Everything the pages show, as one JSON-ready document."""
        from thioquant.report.json_out import results_document

        with self.lock:
            doc = results_document(self.batch)
            doc["results"].sort(key=lambda r: ("HELD" not in (r.get("flags") or []),))  # held first
            doc["review"] = {
                "rev": self.rev, "output_dir": str(self.out),
                "manual": _state_doc(self.manual),
                "exclusions": _with_sources(_excl_doc(self.exclusions), self.batch.exclusions),
                "inclusions": _with_sources(_excl_doc(self.inclusions), self.batch.inclusions),
                "pseudonymised": self._key is not None,
                "signatures": list(self.signatures), "versions": self.versions(),
                "can_undo": bool(self.undo_stack), "reasons": list(INTEGRATION_REASONS),
                "journal": [{k: e.get(k) for k in ("seq", "time", "event", "user", "sample_id", "analyte",
                                                    "reason", "meaning", "version")}
                            for e in self.journal.entries[-40:]],
            }
            doc["injections"] = [{"sample_id": e.sample_id, "sample_type": e.sample_type, "level": e.level,
                                  "injection": e.injection, "file": e.file, "patient_id": e.patient_id}
                                 for e in self.batch.worklist.entries]
            return doc

    def injection(self, sample_id: str) -> dict[str, Any]:
        """Traces (quantifier, qualifier, internal standard) and peaks of one injection."""
        from thioquant.io import read_run
        from thioquant.measurement import trace_for as _trace_for

        with self.lock:
            e = self.entry(sample_id)
            meas = self.measurement(sample_id)
            m = self.batch.method
            manual = {k[1]: v for k, v in self.manual.items() if k[0] == sample_id}
        # the raw file by its own name (a pseudonymised batch shows S-... names that are not on disk)
        real = next(x for x in self.base.worklist.entries if x.row == e.row)
        try:
            run = read_run(self.batch_dir / real.file)
        except ThioquantError as exc:
            return {"sample_id": sample_id, "error": self._sub(str(exc)), "analytes": []}
        out = []
        for comp in m.analytes:
            chans = []
            for key, c, qual, role in ((comp.name, comp, False, "quantifier"),
                                       (f"{comp.name} qualifier", comp, True, "qualifier")):
                tr = _trace_for(run, c, qualifier=qual)
                if tr is not None:
                    chans.append(_channel(role, key, tr, meas.peaks.get(key), key in manual))
            if comp.internal_standard:
                is_comp = next((c for c in m.internal_standards if c.name == comp.internal_standard), None)
                tr = _trace_for(run, is_comp) if is_comp is not None else None
                if tr is not None:
                    chans.append(_channel("internal standard", is_comp.name, tr, meas.peaks.get(is_comp.name),
                                          is_comp.name in manual))
            from thioquant.measurement import searched_rt

            rt = searched_rt(comp, meas.peaks)
            out.append({"analyte": comp.name, "search_rt_min": _finite(rt), "window_min": comp.window_min,
                        "rrt": comp.rrt, "channels": chans,
                        "manual": manual.get(comp.name)})
        return {"sample_id": sample_id, "file": e.file, "sample_type": e.sample_type, "level": e.level,
                "analytes": out, "rev": self.rev}


def _locate_batch(recorded: Path, out: Path, cwd: str | None = None) -> tuple[Path, Path | None]:
    """The batch folder of a run, and the folder its relative paths were typed from.

    ``quantify`` records the batch folder as typed; a relative one is relative to the folder the
    run was started in (recorded as the ``cwd`` parameter), which may not be this process's.
    Tried: an absolute path as recorded, then relative to the recorded ``cwd``, then relative to
    this process's folder, then the output folder's parent (earlier versions' default
    ``BATCH/results``, whose runs recorded no ``cwd``). ``None`` for the base when the paths need
    no translation.
    """
    if recorded.is_absolute():
        return recorded, None
    if cwd and (Path(cwd) / recorded / "worklist.csv").is_file():
        return Path(cwd) / recorded, Path(cwd)
    if (recorded / "worklist.csv").is_file():
        return recorded, None
    found = out.resolve().parent
    if not (found / "worklist.csv").is_file():
        raise InputError(f"the batch folder {recorded} of this run cannot be found (it was recorded relative "
                         f"to the folder quantify ran in{f', {cwd}' if cwd else ''}); review from that folder",
                         path=out)
    parts = recorded.parts
    base = Path(*found.parts[:len(found.parts) - len(parts)]) if found.parts[-len(parts):] == parts else None
    return found, base


def _channel(role: str, key: str, tr: Any, pk: Any, manual: bool) -> dict[str, Any]:
    import numpy as np

    t, y = np.asarray(tr.time_min, float), np.asarray(tr.signal, float)
    step = max(1, t.size // 4000)  # plenty for a screen; SRM traces are far shorter
    peak = None
    if pk is not None:
        peak = {k: _finite(getattr(pk, k)) for k in ("rt_min", "start_min", "end_min", "baseline_start",
                                                     "baseline_end", "area", "height", "sn")}
        peak["flags"] = list(pk.flags)
    return {"role": role, "key": key, "trace": tr.name, "unit": getattr(tr, "signal_unit", ""),
            "t": [round(v, 5) for v in t[::step].tolist()], "y": [float(f"{v:.6g}") for v in y[::step].tolist()],
            "peak": peak, "manual": manual}


def _signature_view(e: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: e.get(k) for k in ("user", "full_name", "role", "meaning", "meaning_text", "time", "state_rev",
                                 "results_sha256")}
    out["journal_seq"], out["journal_hash"] = e.get("seq"), e.get("hash")
    return out


def _state_doc(manual: Mapping[Key, Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(manual[k]) for k in sorted(manual)]


def _excl_doc(exclusions: Mapping[Key, str]) -> list[dict[str, str]]:
    return [{"sample_id": k[0], "analyte": k[1], "reason": v} for k, v in sorted(exclusions.items())]


def _with_sources(docs: list[dict[str, str]], decided: Any) -> list[dict[str, str]]:
    """``docs`` with the ``source`` of each decision the batch took from a decisions file (the
    file, its row, its signed version), so that the page does not credit it to the reviewer."""
    src = {(str(d["sample_id"]), str(d["analyte"])): d["source"] for d in decided if d.get("source")}
    return [{**d, **({"source": src[(d["sample_id"], d["analyte"])]} if (d["sample_id"], d["analyte"]) in src else {})}
            for d in docs]


def _version_number(p: Path) -> int:
    name = p.name
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else 0


def default_release_hooks() -> tuple[Callable[[Path], Any], ...]:
    """What runs after a version is released: the patient history and the HL7/FHIR outbox
    (:func:`thioquant.lis.history.record_release`, which does nothing when the batch names no
    history or outbox)."""
    from thioquant.lis.history import record_release

    return (record_release,)
