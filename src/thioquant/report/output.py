"""Writing an output folder safely.

Everything is written into a hidden sibling folder first and renamed into place in one step, so
an interrupted or failed run leaves no half-written result files, and an existing output folder is
never replaced without ``force``, nor ever when it is or contains an input, nor when it is not an
earlier thioquant output folder (a folder of someone's documents given as ``--out``). Nothing is
written inside an input folder (the batch folder, a folder of raw files): :func:`check_outside`.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from thioquant.errors import OutputError

#: files every output folder holds; with the other names below, what ``--force`` may replace
ALWAYS_WRITTEN = ("results.csv", "results.json", "results.xlsx", "calibration.json", "qc.csv", "messages.txt")
OUTPUT_NAMES = frozenset((*ALWAYS_WRITTEN, "interpretation.csv", "report.html", "report.pdf", "audit.jsonl"))


def is_output_name(name: str) -> bool:
    """Whether ``name`` (relative POSIX path in an output folder) is one the writer writes."""
    return name in OUTPUT_NAMES or (name.startswith("patients/") and name.count("/") == 1 and name.endswith(".pdf"))


#: signals whose handlers must not run while the output folder is being swapped or cleaned up
_DEFERRED = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s)


def _resolved(p: str | Path) -> Path:
    return Path(os.path.abspath(Path(p).expanduser())).resolve()


def check_not_input(out_dir: str | Path, inputs: Iterable[tuple[str | Path, str]]) -> None:
    """Raise OutputError when ``out_dir`` is an input or would hold one.

    Parameters
    ----------
    out_dir : the output folder.
    inputs : (path, what) pairs, e.g. ``(batch_dir, "the batch folder")``. An output folder that
        is one of these paths or contains one is refused whether or not it exists: replacing it
        (``--force``) would delete the input, and writing into it would mix outputs with inputs.
        An output folder *inside* an input folder is refused by :func:`check_outside`.
    """
    out = _resolved(out_dir)
    folders: dict[str, Path] = {}  # a batch's raw files share a folder: resolve it once

    def resolved(path: str | Path) -> Path:
        a = Path(os.path.abspath(Path(path).expanduser()))
        parent = folders.get(str(a.parent))
        if parent is None:
            parent = folders[str(a.parent)] = a.parent.resolve()
        q = parent / a.name
        return q.resolve() if q.is_symlink() else q  # Path.resolve of 960 raw files took 82 ms

    inside = str(out).rstrip(os.sep) + os.sep
    for path, what in inputs:
        p = resolved(path)
        if p == out:
            raise OutputError(f"the output folder is {what}; choose another --out (--force would delete it)",
                              path=out_dir)
        if str(p).startswith(inside):  # (out in p.parents builds every parent: 40 ms for 960)
            raise OutputError(f"the output folder contains {what} ({path}); choose another --out "
                              "(--force would delete it)", path=out_dir)


def check_outside(written: Iterable[tuple[str | Path, str]], folders: Iterable[tuple[str | Path, str]],
                  *, hint: str = "choose another --out") -> None:
    """Raise OutputError when a path to be written lies inside an input folder.

    Parameters
    ----------
    written : (path, what) pairs of everything the run writes, e.g. ``(out, "the output folder")``,
        the QC history and the measurement cache beside it.
    folders : (folder, what) pairs of input folders, e.g. ``(batch_dir, "the batch folder")``.
        Nothing is ever written into one: raw data often sits on a read-only instrument share, and
        outputs mixed into a batch folder would be taken for inputs.
    hint : what the user can do instead, appended to the message.
    """
    resolved = [(_resolved(f), f, what) for f, what in folders]
    for path, what in written:
        p = _resolved(path)
        for folder, typed, folder_what in resolved:
            if p != folder and folder in p.parents:
                raise OutputError(f"{what} would be written inside {folder_what} ({typed}); thioquant never "
                                  f"writes into an input folder: {hint}", path=path)


def ensure_free(out_dir: str | Path, *, force: bool = False) -> None:
    """Raise OutputError when ``out_dir`` exists and may not be replaced (checked before any work).

    With ``force`` an existing folder is replaced only when it is empty or an earlier thioquant
    output folder (:func:`replaceable_reason`): ``--force`` must never delete anything else.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder; choose another --out", path=out_dir)
    if out.exists() and not force:
        raise OutputError("output folder already exists; use --force to replace it or --out to choose another",
                          path=out_dir)
    if out.exists():
        why = replaceable_reason(out)
        if why is not None:
            raise OutputError(f"--force replaces only an earlier thioquant output folder, and {why}; "
                              "choose another --out (or move the folder away)", path=out_dir)


def replaceable_reason(out: Path) -> str | None:
    """Why ``out`` (an existing folder) is not an earlier thioquant output folder; None when it is.

    Replaceable: an empty folder; or one whose ``audit.jsonl`` starts with a thioquant run and
    whose every file is recorded in that trail or has the name of a file the writer writes; or,
    written without an audit trail (``write_outputs`` called from Python), one holding the files
    the writer always writes and nothing else. Anything else, a user's document put into the
    folder included, is refused rather than deleted.
    """
    from thioquant import audit

    trail = out / audit.AUDIT_FILE
    try:
        files = [*audit.output_files(out), *([audit.AUDIT_FILE] if trail.is_file() else [])]
        dirs = [p for p in out.rglob("*") if p.is_dir()]
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if not files and not dirs:
        return None
    allowed: set[str] = set()
    if trail.is_file():
        if not audit.is_thioquant_run(audit.first_entry(trail)):
            return f"its {audit.AUDIT_FILE} does not start with a thioquant run"
        allowed = audit.recorded_files(trail) | {audit.AUDIT_FILE}
    elif not all((out / name).is_file() for name in ALWAYS_WRITTEN):
        return f"it has no {audit.AUDIT_FILE} (nor the files thioquant always writes)"
    foreign = [f for f in files if f not in allowed and not is_output_name(f)]
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        return f"it holds files thioquant did not write there ({', '.join(foreign[:3])}{more})"
    other_dirs = [d for d in dirs if d.relative_to(out).as_posix() != "patients"]
    if other_dirs:
        return f"it holds a folder thioquant does not write ({other_dirs[0].relative_to(out).as_posix()})"
    return None


def check_writable(out_dir: str | Path) -> None:
    """Raise OutputError unless the staging folder for ``out_dir`` can be created (before any work).

    Creates the missing parent folders, as writing would, and removes the probe it makes.
    """
    _make_stage(Path(out_dir)).rmdir()


def _output_error(exc: OSError, out: Path, stage: Path | None = None, doing: str = "cannot be written") -> OutputError:
    """An OutputError naming the file (as it will be called once in place) and the OS's reason."""
    name = exc.filename
    if name is not None and stage is not None and Path(name).is_relative_to(stage):
        name = out / Path(name).relative_to(stage)  # as the user will know it, not the hidden stage
    reason = exc.strerror or str(exc)
    return OutputError(f"{doing}: {reason}", path=name if name is not None else out)


def _umask() -> int:
    """The process's umask (read by setting it and putting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _make_stage(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        # mkdtemp makes the folder 0700, which would become the output folder: others on a shared
        # lab PC could not open report.html. A folder as mkdir makes it (0755 under umask 022).
        stage.chmod(0o777 & ~_umask())
        return stage
    except OSError as exc:
        where = "" if exc.filename is None or Path(exc.filename).name.startswith(f".{out.name}.partial-") \
            else f"{exc.filename}: "
        reason = "exists and is not a folder" if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
        raise OutputError(f"cannot create the output folder ({where}{reason})", path=out) from exc


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP while a few renames or a clean-up run, so that an interrupt
    cannot land between them (they are delivered when the block ends)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def staged_output(out_dir: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes ``out_dir`` atomically.

    Raises OutputError before any work when ``out_dir`` exists and ``force`` is False, or when it
    cannot be created. Any exception inside the block (an interrupt included) removes the staging
    folder and leaves an existing ``out_dir`` untouched; an OSError (disk full, permission denied)
    is raised as OutputError naming the file.
    """
    out = Path(out_dir)
    ensure_free(out, force=force)
    stage = _make_stage(out)
    try:
        yield stage
    except BaseException as exc:
        with _signals_deferred():
            shutil.rmtree(stage, ignore_errors=True)
        if isinstance(exc, OSError):
            raise _output_error(exc, out, stage) from exc
        raise
    with _signals_deferred():
        _commit(stage, out)


def _commit(stage: Path, out: Path) -> None:
    """Rename ``stage`` to ``out``, replacing an existing ``out`` only once the new one is in place."""
    old = None
    try:
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(stage, out)
    except OSError as exc:
        if old is not None and not out.exists():
            os.replace(old, out)  # put the previous results back
        shutil.rmtree(stage, ignore_errors=True)
        raise _output_error(exc, out, stage, doing="cannot be put in place") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
