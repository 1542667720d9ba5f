"""``validate_package``: quantify every run of a package, compute and judge every experiment."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thioquant.assay.method import Method, find_method_file, load_method
from thioquant.errors import MethodError, ThioquantError
from thioquant.validation.criteria import Criteria
from thioquant.validation.experiments import ALL, Check, Experiment, collect
from thioquant.validation.package import Package, read_package


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """Every experiment of a package with its tables and judged criteria.

    ``passed`` is True when every performed experiment passes. ``batches`` maps run id to the
    :class:`~thioquant.pipeline.BatchResult` of that run (None when the run could not be
    quantified; ``run_errors`` says why).
    """

    package: Package
    method: Method
    criteria: Criteria
    experiments: tuple[Experiment, ...]
    batches: Mapping[str, Any]
    run_errors: Mapping[str, str] = field(default_factory=dict)
    messages: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.run_errors and all(e.passed for e in self.experiments if e.performed)

    @property
    def checks(self) -> list[Check]:
        return [c for e in self.experiments for c in e.checks]

    @property
    def failed_experiments(self) -> list[str]:
        return [e.key for e in self.experiments if e.performed and not e.passed]

    def experiment(self, key: str) -> Experiment:
        for e in self.experiments:
            if e.key == key:
                return e
        raise KeyError(key)

    def summary_rows(self) -> list[dict[str, Any]]:
        """One row per experiment: title, guideline, verdict and the failed criteria."""
        rows = []
        for e in self.experiments:
            n_fail = sum(not c.passed for c in e.checks)
            rows.append({"experiment": e.key, "title": e.title, "reference": e.reference,
                         "result": "not performed" if not e.performed else ("pass" if e.passed else "FAIL"),
                         "criteria_judged": len(e.checks), "criteria_failed": n_fail,
                         "failed": ", ".join(e.failed_criteria)})
        return rows

    def run_rows(self) -> list[dict[str, Any]]:
        rows = []
        for r in self.package.runs:
            b = self.batches.get(r.run_id)
            rows.append({"run": r.run_id, "day": r.day, "folder": str(r.folder.relative_to(self.package.path)),
                         "injections": len(b.worklist.entries) if b is not None else 0,
                         "pipeline_verdict": (getattr(b.verdict, "message", "") if b is not None
                                              else f"not quantified: {self.run_errors.get(r.run_id, '')}")})
        return rows

    def criteria_rows(self) -> list[dict[str, Any]]:
        from thioquant.validation.criteria import SOURCES

        over = self.criteria.overridden()
        default = Criteria().as_dict()
        return [{"setting": k, "value": _fmt(v), "default": _fmt(default[k]), "source": SOURCES.get(k, ""),
                 "overridden": k in over} for k, v in self.criteria.as_dict().items()]

    def to_dataframe(self, table: str | None = None) -> Any:
        """A table as a pandas DataFrame.

        ``table`` is ``"summary"`` (default), ``"checks"``, ``"runs"``, ``"criteria"`` or
        ``"<experiment>.<table>"`` such as ``"accuracy_precision.inter_run"``.
        """
        import pandas as pd

        if table in (None, "summary"):
            return pd.DataFrame(self.summary_rows())
        if table == "checks":
            return pd.DataFrame([c.as_dict() for c in self.checks])
        if table == "runs":
            return pd.DataFrame(self.run_rows())
        if table == "criteria":
            return pd.DataFrame(self.criteria_rows())
        exp, _, name = str(table).partition(".")
        e = self.experiment(exp)
        if not name:
            if len(e.tables) != 1:
                raise KeyError(f"{exp} has tables {sorted(e.tables)}; ask for '{exp}.<table>'")
            name = next(iter(e.tables))
        return pd.DataFrame(e.tables[name])

    def write(self, out_dir: str | Path, *, force: bool = False) -> tuple[Path, Path]:
        """Write ``validation.html`` and ``validation.xlsx`` into ``out_dir``, both or neither.

        Both are written to temporary files beside the targets and renamed into place only when
        both were written, so that an HTML and an XLSX on disk always come from the same run.

        Raises
        ------
        OutputError : a report exists (without ``force``), a target is not a file, or a file cannot
            be written or renamed; earlier reports are then left as they were.
        """
        from thioquant.errors import OutputError
        from thioquant.validation.report import write_html, write_xlsx

        out = Path(out_dir)
        targets = (out / "validation.html", out / "validation.xlsx")
        for p in targets:
            if p.exists() and not p.is_file():
                raise OutputError("exists and is not a file; remove it or use --out to choose another folder",
                                  path=p)
            if p.exists() and not force:
                raise OutputError("exists; use --force to replace it", path=p)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output folder: {exc.strerror or exc}", path=out) from None
        tag = f".tmp{os.getpid()}"
        tmps = [p.with_name(f".{p.stem}{tag}{p.suffix}") for p in targets]
        backups = [p.with_name(f".{p.stem}{tag}.old{p.suffix}") for p in targets]
        current = targets[0]
        try:
            write_html(self, tmps[0])
            current = targets[1]
            write_xlsx(self, tmps[1])
            _swap_in(tmps, targets, backups)
        except OSError as exc:
            raise OutputError(f"cannot be written: {exc.strerror or exc}; no report was replaced",
                              path=getattr(exc, "target", current)) from None
        finally:
            for t in (*tmps, *backups):
                t.unlink(missing_ok=True)
        return targets


def _swap_in(new: Sequence[Path], targets: Sequence[Path], backups: Sequence[Path]) -> None:
    """Rename each ``new`` file onto its target; on failure put every old target back."""
    moved: list[int] = []  # targets whose old file is now at its backup name
    placed: list[int] = []  # targets that hold the new file
    try:
        for i, (t, b) in enumerate(zip(targets, backups, strict=True)):
            if t.exists():
                os.replace(t, b)
                moved.append(i)
        for i, (n, t) in enumerate(zip(new, targets, strict=True)):
            try:
                os.replace(n, t)
            except OSError as exc:
                exc.target = t  # type: ignore[attr-defined]  # which file failed, for the message
                raise
            placed.append(i)
    except OSError:
        for i in placed:
            targets[i].unlink(missing_ok=True)
        for i in moved:
            os.replace(backups[i], targets[i])
        raise


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "off" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def resolve_method(package: Package, method: str | Path | Method | None) -> Method:
    """The method given, or the one named in ``package.toml``."""
    if isinstance(method, Method):
        return method
    ref = method or package.method
    if not ref:
        raise MethodError("no method given and package.toml names none (use --method)", path=package.path)
    return load_method(find_method_file(ref, start=package.path))


def validate_package(
    package_dir: str | Path,
    method: str | Path | Method | None = None,
    *,
    criteria: Criteria | Mapping[str, Any] | None = None,
    cache: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Quantify every run of a validation package and judge every experiment.

    Parameters
    ----------
    package_dir : the package folder (``package.toml`` + run folders).
    method : method file or name (default: ``package.toml``'s ``method``).
    criteria : acceptance criteria; a mapping overrides the package's ``[criteria]``, which
        overrides the guideline defaults of :class:`Criteria`.
    cache : optional SQLite measurement cache shared by the runs (see :mod:`thioquant.cache`).
    progress : optional callback receiving one line per quantified run.

    Returns
    -------
    ValidationReport
    """
    from thioquant.pipeline import quantify

    pkg = read_package(package_dir)
    m = resolve_method(pkg, method)
    base = Criteria.from_mapping(pkg.criteria)
    crit = criteria if isinstance(criteria, Criteria) else Criteria.from_mapping(criteria, base)
    batches: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for r in pkg.runs:
        try:
            kw: dict[str, Any] = {"cache": cache} if cache is not None else {}
            batches[r.run_id] = quantify(r.folder, m, **kw)
        except ThioquantError as exc:
            batches[r.run_id] = None
            errors[r.run_id] = str(exc)
        if progress:
            b = batches[r.run_id]
            progress(f"run {r.run_id}: " + (f"{len(b.worklist.entries)} injections quantified" if b is not None
                                             else f"failed: {errors[r.run_id]}"))
    data = collect(pkg, m, batches)
    messages = []
    expected_sha = str(pkg.raw.get("package", {}).get("method_sha256", ""))
    if expected_sha and m.sha256 and expected_sha != m.sha256:
        messages.append(f"the method file used ({m.source}) differs from the one the package was made with "
                        f"(sha256 {expected_sha[:12]}, now {m.sha256[:12]})")
    messages += _excluded_messages(data)
    seen = {(o.run, o.sample_id) for o in data.obs + data.excluded}
    for inj in pkg.injections:
        if batches.get(inj.run) is not None and (inj.run, inj.sample_id) not in seen:
            messages.append(f"package.toml lists {inj.sample_id} in run {inj.run}, but its worklist has no such sample")
    experiments = tuple(fn(data, crit) for fn in ALL)
    return ValidationReport(pkg, m, crit, experiments, batches, errors, tuple(messages))


def _excluded_messages(data: Any) -> list[str]:
    """One line per injection that was left out because its file or a channel could not be measured."""
    from thioquant.flags import FLAGS

    by_inj: dict[tuple[str, int, str, str], dict[str, str]] = {}
    for o in data.excluded:
        by_inj.setdefault((o.run, o.injection, o.sample_id, o.file), {})[o.analyte] = o.unmeasured
    out = []
    for (run, _, sample_id, file), why in by_inj.items():
        role = next((o.role for o in data.excluded if o.run == run and o.sample_id == sample_id and o.role), None)
        reasons = set(why.values())
        if len(reasons) == 1 and len(why) == len(data.analytes):
            what = next(iter(reasons))
        else:
            what = "; ".join(f"{a}: {r}" for a, r in why.items())
        code = next(iter(reasons)).split(",")[0].split(":")[0].split(" ")[0]
        meaning = f" ({FLAGS[code]})" if code in FLAGS else ""
        exp = f", {role.experiment}" if role is not None and role.experiment else ""
        out.append(f"run {run}: {sample_id} ({file}{exp}) could not be measured: {what}{meaning}; "
                   "excluded from every experiment")
    return out
