"""Read a validation package: ``package.toml`` (runs and experiment map) beside its run folders."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thioquant.errors import InputError, MethodError
from thioquant.validation.criteria import Criteria

EXPERIMENTS = (
    "system_suitability", "calibration", "accuracy_precision", "limits", "selectivity", "carryover",
    "matrix_effect", "dilution_integrity", "stability", "isr",
)
#: top-level tables of package.toml ([design] records how a simulated package was made)
TOP_LEVEL_KEYS = frozenset({"package", "criteria", "design", "runs", "experiments"})
#: keys of [package]; the simulator writes all of them, a hand-written package needs only method
PACKAGE_KEYS = frozenset({"name", "method", "method_sha256", "seed", "failures", "failure_effects", "conc_unit"})
#: keys of each [[runs]] entry
RUN_KEYS = frozenset({"id", "day", "folder"})


@dataclass(frozen=True)
class RunInfo:
    """One analytical run of the package: an ordinary batch folder."""

    run_id: str
    day: int
    folder: Path


@dataclass(frozen=True)
class Injection:
    """One injection's role in the validation (from ``[experiments] injections``)."""

    run: str
    sample_id: str
    experiment: str
    info: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.info.get(key, default)

    @property
    def nominal(self) -> Mapping[str, float]:
        return self.info.get("nominal", {}) or {}


@dataclass(frozen=True)
class Package:
    """A validation package as read from disk."""

    path: Path
    name: str
    method: str
    runs: tuple[RunInfo, ...]
    injections: tuple[Injection, ...]
    criteria: Mapping[str, Any] = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict)

    def of(self, experiment: str) -> list[Injection]:
        """Injections of one experiment, in run and injection order."""
        return [i for i in self.injections if i.experiment == experiment]

    def run(self, run_id: str) -> RunInfo:
        for r in self.runs:
            if r.run_id == run_id:
                return r
        raise KeyError(run_id)


def read_package(path: str | Path) -> Package:
    """Read ``package.toml`` of a validation package folder.

    Raises
    ------
    InputError : missing or malformed ``package.toml``, an unknown table or key (in the file, in
        ``[package]`` or in a ``[[runs]]`` entry), unknown experiment, missing run folder, two runs
        with one id or one folder.
    MethodError : a ``[criteria]`` override that is unknown or out of range (naming the file).
    """
    root = Path(path)
    cfg = root / "package.toml"
    if not root.is_dir():
        raise InputError("validation package folder not found", path=root)
    if not cfg.is_file():
        raise InputError("not a validation package: no package.toml", path=root)
    try:
        data = tomllib.loads(cfg.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid package.toml: {exc}", path=cfg) from None
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:  # a misspelt table ([criterion]) would otherwise be ignored without a word
        raise InputError(f"unknown table or key (known: {', '.join(sorted(TOP_LEVEL_KEYS))})", path=cfg,
                         key=unknown[0])
    pkg = data.get("package", {})
    if not isinstance(pkg, Mapping):
        raise InputError("[package] must be a table", path=cfg)
    unknown = sorted(set(pkg) - PACKAGE_KEYS)
    if unknown:
        raise InputError(f"unknown key in [package] (known: {', '.join(sorted(PACKAGE_KEYS))})", path=cfg,
                         key=f"package.{unknown[0]}")
    runs: list[RunInfo] = []
    folders: dict[Path, str] = {}
    raw_runs = data.get("runs", [])
    if not isinstance(raw_runs, list):
        raise InputError("runs must be an array of tables ([[runs]])", path=cfg, key="runs")
    for i, r in enumerate(raw_runs):
        if not isinstance(r, Mapping) or "id" not in r:
            raise InputError(f"[[runs]] entry {i + 1} needs an id", path=cfg)
        rid = str(r["id"])
        unknown = sorted(set(r) - RUN_KEYS)
        if unknown:  # a misspelt 'folder' would silently fall back to runs/<id>
            raise InputError(f"run {rid}: unknown key (known: {', '.join(sorted(RUN_KEYS))})", path=cfg,
                             key=f"runs.{unknown[0]}")
        if any(x.run_id == rid for x in runs):
            raise InputError(f"run id {rid!r} is listed twice in [[runs]]", path=cfg)
        try:
            day = int(r.get("day", 1))
        except (TypeError, ValueError):
            raise InputError(f"run {rid}: day must be a whole number, got {r.get('day')!r}", path=cfg,
                             key="runs.day") from None
        folder = root / str(r.get("folder", f"runs/{rid}"))
        if not (folder / "worklist.csv").is_file():
            raise InputError(f"run {rid}: no worklist.csv in {folder}", path=cfg)
        # two runs reading one folder would count the same injections twice (">= 3 runs")
        same = folders.get(folder.resolve())
        if same is not None:
            raise InputError(f"runs {same} and {rid} both use the folder {folder}: each run needs its own "
                             "batch folder", path=cfg)
        folders[folder.resolve()] = rid
        runs.append(RunInfo(rid, day, folder))
    if not runs:
        raise InputError("package.toml lists no [[runs]]", path=cfg)
    run_ids = {r.run_id for r in runs}
    injections = []
    for i, s in enumerate(data.get("experiments", {}).get("injections", [])):
        if not isinstance(s, Mapping) or "run" not in s or "sample_id" not in s:
            raise InputError(f"[experiments] injection {i + 1} needs run and sample_id", path=cfg)
        exp = str(s.get("experiment", ""))
        if exp and exp not in EXPERIMENTS:
            raise InputError(f"injection {s['sample_id']}: unknown experiment {exp!r} "
                             f"(known: {', '.join(EXPERIMENTS)})", path=cfg)
        if s["run"] not in run_ids:
            raise InputError(f"injection {s['sample_id']}: unknown run {s['run']!r}", path=cfg)
        info = {k: v for k, v in s.items() if k not in ("run", "sample_id", "experiment")}
        injections.append(Injection(str(s["run"]), str(s["sample_id"]), exp, info))
    crit = data.get("criteria", {})
    if not isinstance(crit, Mapping):
        raise InputError("[criteria] must be a table", path=cfg)
    try:  # judge the overrides now, so that an error names this file
        Criteria.from_mapping(crit)
    except MethodError as exc:
        raise MethodError(exc.reason, path=cfg, key=exc.key) from None
    method = pkg.get("method", "")
    return Package(root, str(pkg.get("name", root.name)), str(method), tuple(runs), tuple(injections),
                   dict(crit), tuple(pkg.get("failures", ())), data)
