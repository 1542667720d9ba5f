"""Write a simulated validation package: run folders (normal batches), ``package.toml``, ``truth.csv``.

Each run folder is a batch that :func:`thioquant.pipeline.quantify` processes as it is
(``worklist.csv`` + ``raw/`` + ``batch.toml``). Injections come from
:func:`thioquant.simulate.simulate_injection`; this module adds what a validation needs on top:
matrix factors per lot for analyte and internal standard (applied to the traces), storage losses,
carry-over between consecutive injections, and the deliberate failures of
:data:`~thioquant.validation.design.FAILURES`.

Raw files are mzML for both techniques, zlib-compressed with MS-Numpress (linear time,
positive-integer intensities), which keeps a 189-injection package near 5 MB. LC-MS/MS signals
are counts; HPLC-UV diode-array signals are stored in micro-absorbance units (uAU, integers),
the resolution of a DAD's integer export. Every injection has its own random stream
(``seed``, run, injection number), so the same seed writes the same bytes and a package with one
deliberate failure differs from the clean one only where the failure acts.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from thioquant.assay.method import Method, find_method_file, load_method
from thioquant.errors import OutputError
from thioquant.model import Channel, Trace
from thioquant.simulate import DEFAULT_NOISE, DEFAULT_SEED, Noise, check_noise, simulate_injection
from thioquant.validation.design import Design, Planned, check_failures, plan_package

CARRYOVER_FAILURE_FRACTION = 0.005
#: first line of every package.toml the simulator writes (with truth.csv, its mark on a folder)
HEADER = "# Simulated method-validation package (thioquant). Each folder under runs/ is a normal batch;"
#: top-level entries of a simulated package (validation/ is where ``thioquant validate`` reports)
SIMULATED_ENTRIES = frozenset({"package.toml", "truth.csv", "runs", "validation"})
TRUTH_COLUMNS = ["run", "injection", "sample_id", "sample_type", "experiment", "analyte", "true_conc",
                 "true_vial_conc", "conc_unit", "dilution", "matrix_factor", "is_matrix_factor"]


def _factor(method: Method, p: Planned, name: str, channel: Channel) -> float:
    """The injection's matrix factor for one trace (1 for a trace no analyte owns)."""
    f = 1.0
    lcms = method.technique == "lcmsms"
    for a in method.analytes:
        if lcms:
            if name in (a.name, f"{a.name} qualifier"):
                f = p.mf.get(a.name, 1.0)
            elif a.internal_standard and name == a.internal_standard:
                f = p.mf_is.get(a.name, 1.0)
        elif channel.wavelength_nm is not None and a.channel.wavelength_nm is not None and \
                abs(channel.wavelength_nm - a.channel.wavelength_nm) < 1.0:
            f = p.mf.get(a.name, 1.0)
    return f


def _scaled(method: Method, traces: list[Trace], p: Planned, *, factors: bool = True) -> list[Trace]:
    """Apply the injection's matrix factors to its traces (unless the simulator already applied them
    before the detector noise: ``factors=False``) and quantise them for storage."""
    out = []
    lcms = method.technique == "lcmsms"
    for tr in traces:
        f = _factor(method, p, tr.name, tr.channel) if factors else 1.0
        if lcms:
            out.append(replace(tr, signal=np.round(tr.signal * f)))
        else:  # mAU -> integer uAU
            out.append(replace(tr, signal=np.round(tr.signal * f * 1000.0), signal_unit="uAU"))
    return out


def _store_compressed(src: Path, dst: Path) -> None:
    """Re-store an mzML file with zlib + MS-Numpress (linear time, pic intensities)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import pyopenms as oms

    exp = oms.MSExperiment()
    f = oms.MzMLFile()
    f.load(str(src), exp)
    opts = f.getOptions()
    opts.setCompression(True)
    coder = oms.MSNumpressCoder.NumpressCompression
    t = oms.NumpressConfig()
    t.np_compression = coder.LINEAR
    t.estimate_fixed_point = False
    t.numpressFixedPoint = 1.0e5
    t.numpressErrorTolerance = -1.0
    opts.setNumpressConfigurationMassTime(t)
    i = oms.NumpressConfig()
    i.np_compression = coder.PIC
    i.estimate_fixed_point = True
    i.numpressErrorTolerance = -1.0
    opts.setNumpressConfigurationIntensity(i)
    f.setOptions(opts)
    f.store(str(dst), exp)


def _injection_key(m: Method, seed: int, r_idx: int, inj: int, run_id: str, p: Planned,
                   carry: Mapping[str, float], noise: Noise = "legacy") -> str:
    """Hash of everything that determines an injection's bytes."""
    import hashlib

    s = p.spec
    parts = [m.sha256 or m.name, m.technique, seed, r_idx, inj, run_id, s.sample_id, s.sample_type, s.level,
             sorted(s.conc.items()), s.rbc, s.dilution, sorted(p.mf.items()), sorted(p.mf_is.items()),
             sorted(carry.items()), _FORMAT_VERSION]
    if noise != "legacy":
        parts.append(repr(noise))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


_FORMAT_VERSION = 1


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, Iterable):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else _toml_value(str(k))


def _toml_table(name: str, d: Mapping[str, Any]) -> str:
    lines = [f"[{name}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in d.items()]
    return "\n".join(lines) + "\n"


def _resolve(method: str | Path | Method, start: Path) -> tuple[Method, str]:
    if isinstance(method, Method):
        return method, (Path(method.source).stem if method.source else method.name)
    path = find_method_file(method, start=start)
    return load_method(path), path.stem


def simulate_package(
    out_dir: str | Path,
    *,
    method: str | Path | Method = "thiopurines_lcmsms",
    seed: int = DEFAULT_SEED,
    design: Design | None = None,
    failures: Iterable[str] | str | None = None,
    overwrite: bool = False,
    command: str = "",
    cache_dir: str | Path | None = None,
    noise: Noise = DEFAULT_NOISE,
) -> Path:
    """Write a simulated validation package and return its path.

    Parameters
    ----------
    out_dir : folder to create (must not exist or be empty, unless ``overwrite`` and it holds a
        package this simulator wrote: ``package.toml`` with its header and ``truth.csv``).
    method : a :class:`~thioquant.assay.method.Method`, a method file, or a name in ``calibrations/``.
    seed : random seed; the same seed writes the same bytes.
    design : sizes and physics (:class:`~thioquant.validation.design.Design`; default ICH M10-sized).
    failures : deliberate failures, names of :data:`~thioquant.validation.design.FAILURES`
        (a list or a comma-separated string); each breaks exactly one experiment.
    overwrite : replace an existing package.
    command : the command line that made the package, recorded in ``package.toml``.
    cache_dir : optional folder of simulated raw files keyed by everything that determines their
        bytes (method, seed, run, injection, sample, matrix factors, carry-over); a package that
        differs from an earlier one in a few injections then re-simulates only those.
    noise : detector noise (:mod:`thioquant.simulate`: ``"measured"`` or ``"legacy"``); with a
        measured model the matrix factors act before the noise, as on an instrument.

    Raises
    ------
    InputError : unknown failure name.
    OutputError : an output folder that is not empty (without ``overwrite``) or, with ``overwrite``,
        that the simulator did not write.
    """
    out = Path(out_dir)
    fails = check_failures(failures)
    noise = check_noise(noise)
    design = design or Design()
    m, method_ref = _resolve(method, out.parent if out.parent.exists() else Path.cwd())
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise OutputError("output folder exists and is not empty (use overwrite / --force)", path=out)
        _check_replaceable(out)
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_package(m, design, fails, seed)
    fraction = CARRYOVER_FAILURE_FRACTION if "carryover" in fails else design.carryover_fraction
    from thioquant.assay.worklist import write_worklist
    from thioquant.io.mzml import write_mzml

    truth: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    runs_meta: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_file = Path(tmp) / "injection.mzML"
        for r_idx, run in enumerate(plan, start=1):
            folder = out / "runs" / run.run_id
            (folder / "raw").mkdir(parents=True, exist_ok=True)
            rows = []
            carry: dict[str, float] = {}
            for inj, p in enumerate(run.injections, start=1):
                s = p.spec
                rng = np.random.default_rng([seed, r_idx, inj])
                carry_in = carry
                legacy = noise == "legacy"  # the legacy packages scaled after the noise: same bytes
                traces, areas = simulate_injection(
                    m, s, rng, carry, noise=noise,
                    scale=None if legacy else (lambda name, ch, p=p: _factor(m, p, name, ch)))
                carry = {a: v * p.mf.get(a, 1.0) * fraction for a, v in areas.items()}
                fname = f"raw/{inj:03d}_{s.sample_id}.mzML"
                meta = {"sample_id": s.sample_id, "injection": inj, "run": run.run_id,
                        "instrument": "thioquant validation simulator", "seed": seed}
                cached = None
                if cache_dir is not None:
                    key = _injection_key(m, seed, r_idx, inj, run.run_id, p, carry_in, noise)
                    cached = Path(cache_dir) / f"{key}.mzML"
                if cached is not None and cached.is_file():
                    shutil.copyfile(cached, folder / fname)
                else:
                    write_mzml(tmp_file, _scaled(m, traces, p, factors=legacy), meta)
                    _store_compressed(tmp_file, folder / fname)
                    if cached is not None:
                        cached.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(folder / fname, cached)
                rows.append({
                    "injection": inj, "sample_id": s.sample_id, "file": fname, "sample_type": s.sample_type,
                    "level": s.level, "rbc_count": "" if math.isnan(s.rbc) else f"{s.rbc:.2f}",
                    "dilution": "" if s.dilution == 1.0 else f"{s.dilution:g}",
                    "patient_id": p.info.get("pair", ""),
                })
                samples.append({"run": run.run_id, "injection": inj, **_clean(p.info)})
                for a in m.analytes:
                    truth.append({
                        "run": run.run_id, "injection": inj, "sample_id": s.sample_id, "sample_type": s.sample_type,
                        "experiment": p.experiment, "analyte": a.name,
                        "true_conc": f"{p.true_sample.get(a.name, 0.0):.6g}",
                        "true_vial_conc": f"{s.conc.get(a.name, 0.0):.6g}", "conc_unit": m.conc_unit,
                        "dilution": f"{s.dilution:g}", "matrix_factor": f"{p.mf.get(a.name, 1.0):.6g}",
                        "is_matrix_factor": f"{p.mf_is.get(a.name, 1.0):.6g}" if a.internal_standard else "",
                    })
            write_worklist(folder / "worklist.csv", rows,
                           ["injection", "sample_id", "file", "sample_type", "level", "rbc_count", "dilution",
                            "patient_id"])
            (folder / "batch.toml").write_text(
                f"# Run {run.run_id} (day {run.day}) of a simulated validation package (seed {seed})\n"
                f'method = "{method_ref}"\n', encoding="utf-8")
            runs_meta.append({"id": run.run_id, "day": run.day, "folder": f"runs/{run.run_id}"})
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=TRUTH_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(truth)
    _write_package_toml(out / "package.toml", m, method_ref, seed, design, fails, runs_meta, samples, command)
    return out


def _check_replaceable(out: Path) -> None:
    """Refuse to delete ``out`` unless the simulator wrote it.

    A laboratory's own package also has a ``package.toml``; only a simulated one starts with the
    simulator's header and holds ``truth.csv`` with its columns, and nothing else beside them.

    Raises
    ------
    OutputError : ``out`` is not a simulated package, or holds files the simulator did not write.
    """
    cfg, truth = out / "package.toml", out / "truth.csv"
    try:
        first = cfg.read_text(encoding="utf-8").splitlines()[:1] if cfg.is_file() else []
        head = truth.read_text(encoding="utf-8").splitlines()[:1] if truth.is_file() else []
    except (OSError, UnicodeDecodeError):
        first = head = []
    if first != [HEADER] or head != [",".join(TRUTH_COLUMNS)]:
        raise OutputError("refusing to replace a folder that is not a simulated validation package (its "
                          "package.toml and truth.csv were not written by the simulator): choose another "
                          "folder", path=out)
    extra = sorted(p.name for p in out.iterdir() if p.name not in SIMULATED_ENTRIES)
    if extra:
        raise OutputError(f"refusing to replace a simulated package that also holds {', '.join(extra[:5])}"
                          + (" ..." if len(extra) > 5 else "") + ": move them or choose another folder", path=out)


def _clean(info: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in info.items():
        if isinstance(v, Mapping):
            v = {a: float(f"{x:.6g}") for a, x in v.items()}
        out[k] = v
    return out


def _write_package_toml(path: Path, m: Method, method_ref: str, seed: int, design: Design, fails: frozenset[str],
                        runs: list[dict[str, Any]], samples: list[dict[str, Any]], command: str) -> None:
    from thioquant.validation.design import FAILURE_EFFECTS

    header = [
        HEADER,
        "# this file says which injection belongs to which ICH M10 experiment. Validate with:",
        f"#   thioquant validate <this folder> --method {method_ref}",
    ]
    if command:
        header.append(f"# Made with: {command}")
    parts = ["\n".join(header) + "\n"]
    parts.append(_toml_table("package", {
        "name": f"{m.name} - simulated validation", "method": method_ref, "method_sha256": m.sha256,
        "seed": int(seed),
        "failures": sorted(fails), "failure_effects": [FAILURE_EFFECTS[f] for f in sorted(fails)],
        "conc_unit": m.conc_unit,
    }))
    overrides = design.criteria_overrides()
    if overrides:
        parts.append("# This design is smaller than ICH M10 asks; the minima below are lowered to match it.\n"
                     + _toml_table("criteria", overrides))
    d = design.as_dict()
    scalars = {k: v for k, v in d.items() if not isinstance(v, list | Mapping)}
    parts.append(_toml_table("design", scalars))
    parts.append(_toml_table("design.degradation_pct_per_day", d["degradation_pct_per_day"]))
    parts.append(_toml_table("design.freeze_thaw_loss_pct", d["freeze_thaw_loss_pct"]))
    for c in d["stability"]:
        parts.append("[[design.stability]]\n" + "\n".join(f"{k} = {_toml_value(v)}" for k, v in c.items()) + "\n")
    for r in runs:
        parts.append("[[runs]]\n" + "\n".join(f"{k} = {_toml_value(v)}" for k, v in r.items()) + "\n")
    parts.append("# One entry per injection: its run, experiment and design (level, replicate, source, lot,\n"
                 "# condition, pair, role) and nominal concentrations of the sample before dilution.\n"
                 "[experiments]\ninjections = [\n" + "".join(f"  {_toml_value(s)},\n" for s in samples) + "]\n")
    path.write_text("\n".join(parts), encoding="utf-8")
