"""The import graph keeps its arrows pointing down (developers' guide, "Architecture and style").

Read from the source with :mod:`ast`, so lazy imports inside functions count too: a lazy import
hides a cycle from the interpreter, not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Layers, lowest first. A module may import from its own layer's modules and from lower layers.
LAYERS: dict[str, int] = {
    "errors": 0, "flags": 0, "model": 0, "csvcell": 0, "noise_model": 0, "__version__": 0,
    "io": 1, "peaks": 1, "calibration": 1, "privacy": 1,
    "assay": 2, "measurement": 2, "views": 2, "qc": 2, "clinical": 2, "audit": 2,
    "cache": 3, "history": 3, "locations": 3, "measure": 3, "quantitation": 3,
    "report": 4, "lis": 4, "plot": 4, "simulate": 4,
        "executors": 6,
    "pipeline": 7,
    "review": 8, "validation": 8,
    "cli": 9, "__main__": 10,
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in (SRC / "thioquant").rglob("*.py"):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = p
    return out


def _edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the thioquant modules it imports (``from pkg import sub`` names ``pkg.sub``)."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        pkg = m if p.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = pkg.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    target = sub if sub in mods else base
                    if target in mods and target != m:
                        edges[m].add(target)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods and alias.name != m:
                        edges[m].add(alias.name)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back() -> None:
    cycles = _cycles(_edges(_modules()))
    assert not cycles, f"import cycles (lazy imports included): {cycles}"


def test_every_top_level_part_has_a_layer() -> None:
    tops = {_top(m) for m in _modules() if m != "thioquant"}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS: {sorted(tops - set(LAYERS))}"


#: imports allowed to point up: a compatibility re-export kept for scripts written before
#: clinical/ left assay/
ALLOWED_UPWARD = {("thioquant.assay.interpret", "thioquant.clinical")}


@pytest.mark.parametrize("allow", sorted(ALLOWED_UPWARD))
def test_known_exceptions_still_exist(allow: tuple[str, str]) -> None:
    # an allowance whose import is gone must be removed from ALLOWED_UPWARD
    edges = _edges(_modules())
    assert any(t == allow[1] or t.startswith(allow[1] + ".") for t in edges[allow[0]])


def test_imports_point_down() -> None:
    bad = []
    for m, targets in _edges(_modules()).items():
        if m == "thioquant":
            continue
        for t in targets:
            if t == "thioquant" or (m, t) in ALLOWED_UPWARD or (m, _top_pkg(t)) in ALLOWED_UPWARD:
                continue
            if LAYERS[_top(t)] > LAYERS[_top(m)]:
                bad.append(f"{m} -> {t}")
    assert not bad, "imports pointing up a layer:\n" + "\n".join(sorted(bad))


def _top_pkg(module: str) -> str:
    return ".".join(module.split(".")[:2])
