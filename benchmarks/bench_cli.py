"""Start-up time of the command line: `thioquant --help` and `thioquant quantify --help`.

    uv run python benchmarks/bench_cli.py

Runs each command 15 times through the installed console script and reports the median and the
worst wall time (target: under 0.5 s), plus which heavy modules the help path imported.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pyopenms", "pybaselines", "matplotlib", "scipy", "rainbow", "numpy")


def timed(cmd: list[str], n: int = 15) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    exe = shutil.which("thioquant") or str(Path(sys.executable).with_name("thioquant"))
    rows = []
    for args in (["--help"], ["quantify", "--help"]):
        t = timed([exe, *args])
        rows.append((" ".join(args), statistics.median(t), max(t)))
    probe = ("import sys, runpy; sys.argv=['thioquant','quantify','--help']\n"
             "from thioquant.cli import cli\n"
             "try:\n    cli.main(standalone_mode=False)\nexcept SystemExit:\n    pass\n"
             f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout
    heavy = next((x[6:] for x in out.splitlines() if x.startswith("HEAVY:")), "?")
    lines = ["| command | median s | worst s | target |", "|---|---|---|---|"]
    lines += [f"| `thioquant {a}` | {m:.3f} | {w:.3f} | < 0.5 |" for a, m, w in rows]
    lines.append(f"\nHeavy modules imported by `quantify --help`: {heavy or 'none'}")
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results_cli.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
