"""The README's Python example runs as written, and its commands exist."""

from __future__ import annotations

import re

from click.testing import CliRunner

from thioquant.cli import cli


def test_readme_python_block_runs(repo_root, monkeypatch):
    text = (repo_root / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    monkeypatch.chdir(repo_root)
    ns: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    peak = ns["peak"]
    assert abs(peak.rt_min - 1.45) < 0.05 and peak.area > 0 and peak.sn > 10
    assert ns["cal"].r2 > 0.99 and abs(ns["cal"].inverse(0.5) - 2450) < 100
    assert len(ns["df"]) == 84 and {"sample_id", "reported", "flags"} <= set(ns["df"].columns)


def test_readme_commands_exist(repo_root):
    text = (repo_root / "README.md").read_text()
    names = set(re.findall(r"`thioquant (\w+)", text))
    runner = CliRunner()
    listed = runner.invoke(cli, ["--help"]).output
    for name in names:
        assert name in listed, name
