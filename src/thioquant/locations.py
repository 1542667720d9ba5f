"""Where a batch's outputs go when no ``--out`` is given: never into the batch folder.

Raw data often sits on a read-only instrument share, and the developers' guide forbids writing
into an input folder. The default output folders therefore live under a *results root*,
``./thioquant-results`` in the folder thioquant is run from (or the folder named by the
``THIOQUANT_RESULTS`` environment variable), one folder per method and, inside it, one output
folder per batch::

    thioquant-results/
        thiopurines_lcmsms/           <- the method (file name without .toml)
            qc_history.sqlite         <- QC history: Westgard sees every earlier batch of the method
            .thioquant-cache.sqlite   <- measurement cache
            lcmsms/                   <- output folder of batch folder .../lcmsms
            2026-12-04_plate1/
        thiopurines_hplcuv/
            ...
        validation/
            validation_lcmsms/        <- thioquant validate's reports (validation.html/.xlsx)

The QC history and cache sit beside the output folders (in their parent), as they do for any
``--out``, so they accumulate across batches. The method level keeps apart the QC series of
methods whose analyte and QC level names coincide (6-TG QCL is 250 nmol/L by LC-MS/MS and
50 pmol by HPLC-UV): one history mixing them would estimate nonsense Westgard targets.
"""

from __future__ import annotations

import os
from pathlib import Path

from thioquant.errors import MethodError

#: environment variable naming the results root (default ``./thioquant-results``)
RESULTS_ENV = "THIOQUANT_RESULTS"
#: the results root's name in the current folder when ``THIOQUANT_RESULTS`` is unset
DEFAULT_ROOT = "thioquant-results"
#: where earlier versions wrote by default (``BATCH/results``): still found for review
LEGACY_NAME = "results"


def results_root() -> Path:
    """The results root: ``$THIOQUANT_RESULTS``, else ``./thioquant-results`` (relative, as typed)."""
    env = os.environ.get(RESULTS_ENV, "").strip()
    return Path(env).expanduser() if env else Path(DEFAULT_ROOT)


def _stem(ref: str | Path) -> str:
    name = Path(ref).name
    return name[:-5] if name.lower().endswith(".toml") else name


def method_key(batch_dir: str | Path, method: str | Path | None = None) -> str:
    """The method's folder name under the results root: ``method`` (a name or a file) without its
    folder and ``.toml``, else the ``method`` of the batch's ``batch.toml``.

    Raises
    ------
    MethodError
        When no method is given and ``batch.toml`` names none (the pipeline would refuse the
        batch for the same reason).
    """
    if method is not None and str(method).strip():
        return _stem(method)
    import tomllib

    cfg = Path(batch_dir) / "batch.toml"
    if not cfg.is_file():
        raise MethodError("no method given and no batch.toml in the batch folder (use --method)", path=batch_dir)
    try:
        ref = tomllib.loads(cfg.read_text(encoding="utf-8")).get("method")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MethodError(f"invalid batch.toml: {exc}", path=cfg) from None
    if not isinstance(ref, str) or not ref.strip():
        raise MethodError("batch.toml needs method = \"<method file or name>\"", path=cfg, key="method")
    return _stem(ref)


def batch_name(batch_dir: str | Path) -> str:
    """The batch folder's own name (``.`` and trailing slashes resolved against the current folder)."""
    return Path(os.path.abspath(batch_dir)).name or "batch"


def default_output_dir(batch_dir: str | Path, method: str | Path | None = None) -> Path:
    """The output folder ``thioquant quantify BATCH`` writes when no ``--out`` is given:
    ``<results root>/<method>/<batch folder name>``."""
    return results_root() / method_key(batch_dir, method) / batch_name(batch_dir)


def default_validation_dir(package_dir: str | Path) -> Path:
    """Where ``thioquant validate PACKAGE`` writes its reports when no ``--out`` is given:
    ``<results root>/validation/<package folder name>``."""
    return results_root() / "validation" / batch_name(package_dir)


def recorded_batch(out_dir: str | Path) -> Path | None:
    """The batch folder (absolute) whose run wrote the output folder ``out_dir``, as its audit trail
    records it (a relative one joined to the ``cwd`` the run recorded); None when it cannot tell
    (no thioquant trail, or a relative path from a version that recorded no ``cwd``)."""
    from thioquant.audit import AUDIT_FILE, first_entry, is_thioquant_run

    entry = first_entry(Path(out_dir) / AUDIT_FILE)
    if not is_thioquant_run(entry) or not isinstance(entry.get("batch_dir"), str):
        return None
    p = Path(entry["batch_dir"])
    if not p.is_absolute():
        cwd = (entry.get("parameters") or {}).get("cwd")
        if not isinstance(cwd, str):
            return None
        p = Path(cwd) / p
    return Path(os.path.abspath(p))


def legacy_output_dir(batch_dir: str | Path) -> Path:
    """``BATCH/results``, the default output folder of earlier versions (read, never written)."""
    return Path(batch_dir) / LEGACY_NAME


__all__ = ["DEFAULT_ROOT", "LEGACY_NAME", "RESULTS_ENV", "batch_name", "default_output_dir",
           "default_validation_dir", "legacy_output_dir", "recorded_batch", "method_key", "results_root"]
