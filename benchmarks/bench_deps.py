"""What the hand-written copies of kept libraries save, measured (docs/dependencies.md).

For each place where thioquant does by hand what a kept library does, this measures:

* the import of the library in a fresh interpreter (numpy already imported; median of
  ``--starts`` interpreter starts);
* the run time of the part, own code against the library, on the bundled 42-injection LC-MS/MS
  batch and on the 960-injection batch that ``bench_batch.py`` builds (median of ``--repeat``);
* whether the output is byte-identical between two runs.

The own implementations that the project dropped (xlsx writer) are loaded from a git revision
(``--rev``, default: the last commit that had them), so the comparison runs on today's code either
way; the PDF libraries are measured through drop-in replacements of ``thioquant.report.pdfdoc``
(benchmarks/pdfdoc_fpdf2.py, benchmarks/pdfdoc_reportlab.py) under today's layout code.
Run: ``uv run python benchmarks/bench_deps.py [--quick]``; prints Markdown tables and writes them to
``benchmarks/results_deps.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

#: the last commit with the hand-written xlsx writer, Student's t and PDF writer
OWN_REV = "e884792"


def import_time(stmt: str, starts: int) -> float:
    """Median wall time of ``stmt`` in a fresh interpreter, after ``import numpy``."""
    code = f"import time, numpy\nt = time.perf_counter()\n{stmt}\nprint(time.perf_counter() - t)"
    runs = []
    for _ in range(starts):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        runs.append(float(res.stdout.strip().splitlines()[-1]))
    return statistics.median(runs)


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median of ``repeat`` timed calls after one untimed call (imports and caches warm: the
    imports are measured apart)."""
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def own_module(path: str, name: str, rev: str, replace: dict[str, types.ModuleType] | None = None) -> types.ModuleType:
    """Module ``name`` built from ``path`` at git revision ``rev`` (its absolute imports resolve to
    today's package, except the modules in ``replace``)."""
    src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    mod = types.ModuleType(name)
    mod.__file__ = f"{rev}:{path}"
    saved = {k: sys.modules.get(k) for k in (replace or {})}
    sys.modules.update(replace or {})
    try:
        sys.modules[name] = mod
        exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return mod


def mpl_chromatogram_svg(panel: Any) -> bytes:
    """The content of :func:`thioquant.report.svg.chromatogram_svg` drawn with matplotlib's SVG
    backend (object-oriented API, no pyplot): trace, internal standard, area, baseline, window,
    apex, axis labels and title."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    matplotlib.rcParams["svg.hashsalt"] = "thioquant"  # element ids from a fixed salt: same bytes

    from thioquant.report.svg import COLORS, panel_geometry

    g = panel_geometry(panel)
    fig = Figure(figsize=(3.2, 1.6), dpi=100)
    FigureCanvasSVG(fig)
    ax = fig.add_axes((0.11, 0.12, 0.87, 0.77))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xticks([])
    ax.set_yticks([])
    if g.trace is not None:
        if g.window is not None:
            ax.axvspan(g.window[0], g.window[1], color=COLORS["window"], lw=0)
        if g.area is not None:
            ax.fill(g.area[0], g.area[1], color=COLORS["area"], alpha=0.8, lw=0)
        if g.baseline is not None:
            ua, va, ub, vb = g.baseline
            ax.plot([ua, ub], [va, vb], color=COLORS["baseline"], lw=1.2)
        if g.internal_standard is not None:
            ax.plot(*g.internal_standard, color=COLORS["is"], lw=0.9, ls="--")
        ax.plot(*g.trace, color=COLORS["trace"], lw=1.1)
        if g.apex is not None:
            ax.axvline(g.apex, 0, 0.05, color=COLORS["apex"], lw=1.5)
        for key, (x, y, ha) in {"tmin": (0, -0.12, "left"), "tmax": (1, -0.12, "right"),
                                "yhi": (-0.01, 0.95, "right"), "ylo": (-0.01, 0, "right"),
                                "info": (1, 1.05, "right")}.items():
            ax.text(x, y, g.labels.get(key, ""), ha=ha, fontsize=7, transform=ax.transAxes)
    ax.set_title(g.labels.get("title", ""), fontsize=8, loc="left")
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="bundled batch only, fewer repeats")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--rev", default=OWN_REV)
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    lines: list[str] = [f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
                        f"{os.cpu_count()} cores, own code from {args.rev}", ""]

    def out(s: str = "") -> None:
        print(s, flush=True)
        lines.append(s)

    out("| import (fresh interpreter, after numpy) | median s |")
    out("|---|---:|")
    for stmt in ("import scipy.special", "import openpyxl",
                 "from matplotlib.figure import Figure; import matplotlib.backends.backend_svg",
                 "from matplotlib.figure import Figure; import matplotlib.backends.backend_pdf",
                 "import fpdf", "from reportlab.pdfgen import canvas", "import dask.distributed",
                 "import pyopenms"):
        try:
            out(f"| `{stmt}` | {import_time(stmt, args.starts):.3f} |")
        except subprocess.CalledProcessError:
            out(f"| `{stmt}` | not installed |")

    from thioquant.pipeline import quantify
    from thioquant.report.chrom import collect_panels
    from thioquant.report.svg import chromatogram_svg
    from thioquant.report.xlsx import write_xlsx

    batches = [("bundled 42", ROOT / "sample_data" / "lcmsms")]
    if not args.quick:
        from bench_batch import build_batch

        batches.append(("960", build_batch("lcmsms", 960)))
    own_xlsx = own_module("src/thioquant/report/xlsx.py", "_own_xlsx", args.rev)
    tmp = Path(tempfile.mkdtemp(prefix="bench_deps_"))
    out("")
    out("| batch | part | own s | library s | library - own s | batch end to end s (quantify, --jobs 2, in process) | identical bytes on rerun (own / library) |")
    out("|---|---|---:|---:|---:|---:|---|")
    for label, folder in batches:
        t = time.perf_counter()
        b = quantify(folder, jobs=2, keep_views=True)
        t_batch = time.perf_counter() - t

        def xlsx_own(p: Path, b: Any = b) -> None:
            own_xlsx.write_xlsx(b, p)

        def xlsx_lib(p: Path, b: Any = b) -> None:
            write_xlsx(b, p)

        t_own = median_time(lambda: xlsx_own(tmp / "own.xlsx"), repeat)
        t_lib = median_time(lambda: xlsx_lib(tmp / "lib.xlsx"), repeat)
        xlsx_own(tmp / "own2.xlsx")
        xlsx_lib(tmp / "lib2.xlsx")
        same = ((tmp / "own.xlsx").read_bytes() == (tmp / "own2.xlsx").read_bytes(),
                (tmp / "lib.xlsx").read_bytes() == (tmp / "lib2.xlsx").read_bytes())
        out(f"| {label} | results.xlsx: own SpreadsheetML vs openpyxl (write-only) | {t_own:.3f} | {t_lib:.3f} | "
            f"{t_lib - t_own:+.3f} | {t_batch:.2f} | {same[0]} / {same[1]} |")

        panels = collect_panels(b)
        t_own = median_time(lambda panels=panels: [chromatogram_svg(p) for p in panels], repeat)
        # matplotlib costs ~0.1 s per panel: measured on the first 84 panels, scaled to all
        sample = panels[:84]
        t_lib = median_time(lambda sample=sample: [mpl_chromatogram_svg(p) for p in sample], repeat)
        t_lib *= len(panels) / len(sample)
        scaled = "" if len(sample) == len(panels) else f" (matplotlib timed on {len(sample)}, scaled)"
        same = (chromatogram_svg(panels[0]) == chromatogram_svg(panels[0]),
                mpl_chromatogram_svg(panels[0]) == mpl_chromatogram_svg(panels[0]))
        out(f"| {label} | {len(panels)} chromatogram SVGs: own vs matplotlib SVG backend{scaled} | {t_own:.3f} | "
            f"{t_lib:.3f} | {t_lib - t_own:+.3f} | {t_batch:.2f} | {same[0]} / {same[1]} |")

        pdf_rows = _pdf_rows(b, panels, tmp, args.rev, repeat)
        for part, t_own, t_lib, same in pdf_rows:
            out(f"| {label} | {part} | {t_own:.3f} | {t_lib:.3f} | {t_lib - t_own:+.3f} | {t_batch:.2f} | "
                f"{same[0]} / {same[1]} |")
    (ROOT / "benchmarks" / "results_deps.md").write_text("\n".join(lines) + "\n")


def _pdf_rows(b: Any, panels: list[Any], tmp: Path, rev: str, repeat: int) -> list[tuple[str, float, float, tuple[bool, bool]]]:
    """report.pdf and the patient PDFs: today's writer (``thioquant.report.pdf`` over the own
    ``pdfdoc``) against the same layout code over a library (benchmarks/pdfdoc_fpdf2.py,
    benchmarks/pdfdoc_reportlab.py, when the library is installed: ``uv sync --group bench``)."""
    from thioquant.report import pdf as today

    rows = []
    for adapter, lib in (("pdfdoc_fpdf2", "fpdf"), ("pdfdoc_reportlab", "reportlab")):
        if importlib.util.find_spec(lib) is None:
            continue
        doc = importlib.import_module(adapter)
        other = own_module("src/thioquant/report/pdf.py", f"_pdf_{lib}", "HEAD",
                           replace={"thioquant.report.pdfdoc": doc})
        for part, fn_old, fn_new in (
            ("report.pdf", lambda p: today.write_report_pdf(b, p, panels),
             lambda p, o=other: o.write_report_pdf(b, p, panels)),
            ("patients", lambda p: today.write_patient_pdfs(b, p, panels),
             lambda p, o=other: o.write_patient_pdfs(b, p, panels)),
        ):
            own, libp = tmp / f"own_{lib}_{part}", tmp / f"lib_{lib}_{part}"
            t_own = median_time(lambda fn=fn_old, own=own: fn(own), repeat)
            t_lib = median_time(lambda fn=fn_new, libp=libp: fn(libp), repeat)
            fn_old(own.with_name(own.name + "_2"))
            fn_new(libp.with_name(libp.name + "_2"))
            rows.append((f"{part}: own PDF writer vs {lib}", t_own, t_lib,
                         (_same(own, own.with_name(own.name + "_2")), _same(libp, libp.with_name(libp.name + "_2")))))
    return rows


def _same(a: Path, b: Path) -> bool:
    if a.is_dir():
        return sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir()) and all(
            (a / p.name).read_bytes() == (b / p.name).read_bytes() for p in a.iterdir())
    return a.read_bytes() == b.read_bytes()


if __name__ == "__main__":
    if importlib.util.find_spec("thioquant") is None:
        sys.exit("run inside the project's environment: uv run python benchmarks/bench_deps.py")
    main()
