"""The README's first two commands, run in the order given on a fresh copy of the repository,
must not make the test suite fail (issue 22: quantify left sample_data/lcmsms/results/ and a test
then failed on FileExistsError). Tests must not depend on what a user's run left in the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: what a fresh clone does not have: the environment, VCS data, caches and a user's runs
_NOT_IN_A_CLONE = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis",
                   ".ipynb_checkpoints", "_work"}
_LEFT_BY_A_RUN = re.compile(r"results|validation|\.thioquant-cache\.sqlite.*|qc_history\.sqlite.*")


def _ignore(root: Path):
    def ignore(folder: str, names: list[str]) -> set[str]:
        out = {n for n in names if n in _NOT_IN_A_CLONE or n.endswith(".egg-info")}
        if Path(folder) == root:
            out |= {n for n in names if n == "thioquant-results"}  # the default results root
        if Path(folder).parent == root / "sample_data":
            out |= {n for n in names if _LEFT_BY_A_RUN.fullmatch(n)}
        return out

    return ignore


def test_readme_commands_in_order_on_a_fresh_copy(repo_root, tmp_path):
    exe = Path(sys.executable).with_name("thioquant")
    if not exe.is_file():
        pytest.skip("the thioquant command is not installed beside this Python")
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    first = re.search(r"^uv run (thioquant quantify \S+)", readme, flags=re.M)
    second = re.search(r"^uv run (pytest)\s", readme, flags=re.M)
    assert first and second and first.start() < second.start(), "the README's two commands moved"
    copy = tmp_path / "repo"
    shutil.copytree(repo_root, copy, ignore=_ignore(repo_root), symlinks=True)
    # as for a user: the default results root in the folder the command runs in
    env = {**{k: v for k, v in os.environ.items() if k != "THIOQUANT_RESULTS"}, "PYTHONDONTWRITEBYTECODE": "1"}
    # 1. the README's quantify command, through the installed CLI, in the fresh copy
    args = first.group(1).split()[1:]
    done = subprocess.run([str(exe), *args], cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = re.search(r"^Results written to (\S+)", readme, flags=re.M)
    assert written, "the README no longer shows where the results go"
    assert f"Results written to {written.group(1)} " in done.stdout  # where the README says
    assert (copy / written.group(1) / "results.csv").is_file()  # it left its outputs, as for a user
    assert not (copy / args[-1] / "results").exists()  # and nothing in the batch folder
    # 2. then the tests that read sample_data (a small subset: the suite itself runs elsewhere)
    subset = ["tests/test_simulate_force.py", "tests/test_worklist_dilution.py::test_pipeline_flags_implausible_dilution"]
    subset = [t for t in subset if (copy / t.split("::")[0]).is_file()]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-o", "addopts=",
                           *subset], cwd=copy, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
