"""Writing an output folder safely.

Everything is written into a hidden sibling folder first and renamed into place in one step, so
an interrupted run leaves no half-written result files, and an existing output folder is never
replaced without ``force``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from thioquant.errors import OutputError


def ensure_free(out_dir: str | Path, *, force: bool = False) -> None:
    """Raise OutputError when ``out_dir`` exists and may not be replaced (checked before any work)."""
    if Path(out_dir).exists() and not force:
        raise OutputError("output folder already exists; use --force to replace it or --out to choose another",
                          path=out_dir)


@contextmanager
def staged_output(out_dir: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a staging folder; on success it becomes ``out_dir`` atomically.

    Raises OutputError before any work when ``out_dir`` exists and ``force`` is False.
    """
    out = Path(out_dir)
    ensure_free(out, force=force)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
