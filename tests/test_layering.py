"""Imports point down the data flow: the modules below the batch pipeline never import it (the
measurement records they share live in thioquant.measurement). Checked on the source, so a lazy
import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "thioquant"
#: may import the pipeline: the package's facade, the command line, the review app and the
#: validation runner, which all sit above it
ABOVE = {"__init__.py", "pipeline.py", "cli", "review", "validation"}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_modules_below_the_pipeline_do_not_import_it():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ABOVE:
            continue
        if any(m == "thioquant.pipeline" or m.startswith("thioquant.pipeline.") for m in _imports(path)):
            offenders.append(str(rel))
    assert offenders == [], f"import the records from thioquant.measurement instead: {offenders}"


def test_measurement_records_sit_below_cache_and_report():
    imports = _imports(SRC / "measurement.py")
    assert not {m for m in imports if m.startswith(("thioquant.cache", "thioquant.report", "thioquant.pipeline"))}
