"""Hostile inputs of issue 22: time and peak memory of the cases that hung or blew up.

    uv run python benchmarks/bench_hostile.py

Each case runs ``thioquant quantify`` (or ``inspect``) as a subprocess on a copy of the bundled
LC-MS/MS batch and records wall time, peak resident memory of the process and its children
(``RUSAGE_CHILDREN``), exit code and output size. Targets (issue 22): no case hangs, none uses more
than 500 MB, none exits 70. Writes ``benchmarks/results_hostile.md``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "bad_inputs" / "raw"


def _batch(root: Path) -> Path:
    b = root / "batch"
    shutil.copytree(ROOT / "sample_data" / "lcmsms", b, ignore=shutil.ignore_patterns(
        "results", ".thioquant-cache.sqlite*", "qc_history.sqlite*", ".thioquant-simulated.json"))
    (b / "batch.toml").write_text(f'method = "{ROOT / "calibrations" / "thiopurines_lcmsms.toml"}"\n')
    return b


def _duplicates(b: Path, n: int) -> None:
    lines = (b / "worklist.csv").read_text().splitlines()
    row = next(x for x in lines[1:] if ",P002," in x).split(",")
    extra = [",".join([str(1000 + i), f"X{i}", *row[2:]]) for i in range(n)]
    (b / "worklist.csv").write_text("\n".join(lines + extra) + "\n")


def _run(args: list[str], cwd: Path, timeout: float = 600) -> tuple[float, int, float]:
    """(wall s, exit code, peak RSS MB of this child) for one command in its own process."""
    exe = str(Path(sys.executable).with_name("thioquant"))
    code = ("import resource, subprocess, sys\n"
            f"r = subprocess.run({[exe, *args]!r}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    rc, kb = out.stdout.split()
    return wall, int(rc), int(kb) / 1024


def _size_mb(p: Path) -> float:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 2**20 if p.exists() else 0.0


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = []

        def case(name: str, setup, args) -> None:
            cases.append((name, setup, args))

        case("10,000 rows naming one file, no --large", lambda b: _duplicates(b, 10_000),
             ["quantify", "batch", "--no-history", "--out", "out"])
        case("10,000 rows naming one file, --large, reports and PDFs", lambda b: _duplicates(b, 10_000),
             ["quantify", "batch", "--no-history", "--large", "--out", "out"])
        case("billion-laughs mzML as P002", lambda b: shutil.copy(CORPUS / "billion_laughs.mzML",
                                                                   b / "raw" / "016_P002.mzML"),
             ["quantify", "batch", "--no-history", "--no-report", "--out", "out"])
        case("FIFO as P002's raw file (with the cache)",
             lambda b: ((b / "raw" / "016_P002.mzML").unlink(), os.mkfifo(b / "raw" / "016_P002.mzML")),
             ["quantify", "batch", "--no-history", "--no-report", "--out", "out"])
        case("'!' in the base64 of P002's 6-TG apex", lambda b: shutil.copy(CORPUS / "bang_in_base64.mzML",
                                                                             b / "raw" / "016_P002.mzML"),
             ["quantify", "batch", "--no-history", "--no-report", "--out", "out"])
        for name, setup, args in cases:
            for p in root.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            b = _batch(root)
            setup(b)
            wall, rc, mb = _run(args, root)
            rows.append((name, wall, mb, rc, _size_mb(root / "out")))
            print(f"{name}: {wall:.1f} s, {mb:.0f} MB, exit {rc}, output {_size_mb(root / 'out'):.1f} MB", flush=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"# Hostile inputs (issue 22), {stamp}", "",
             "`uv run python benchmarks/bench_hostile.py`: `thioquant quantify` on a copy of the bundled "
             "LC-MS/MS batch, one subprocess per case; peak RSS of the largest process.", "",
             "| case | wall s | peak RSS MB | exit | output MB |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {w:.1f} | {m:.0f} | {c} | {s:.1f} |" for n, w, m, c, s in rows]
    (ROOT / "benchmarks" / "results_hostile.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
