"""The bad-input corpus (tests/bad_inputs/manifest.csv): every entry gives a clear message naming
the file, row or key, the batch goes on where it can, and no traceback reaches the user."""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import pytest

from thioquant.assay.method import load_method
from thioquant.cli import main
from thioquant.errors import InputError, MethodError
from thioquant.io import read_run
from thioquant.pipeline import quantify

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
with open(CORPUS / "manifest.csv", newline="") as _fh:
    MANIFEST = list(csv.DictReader(_fh))


def _cases(kind: str) -> list:
    return [pytest.param(m, id=m["path"]) for m in MANIFEST if m["kind"] == kind]


def test_corpus_is_large_enough():
    assert len(MANIFEST) >= 40
    assert {m["kind"] for m in MANIFEST} == {"raw", "worklist", "method", "batch"}
    for m in MANIFEST:
        assert (CORPUS / m["path"]).exists(), m["path"]


@pytest.mark.parametrize("case", _cases("raw"))
def test_raw_file(case):
    path = CORPUS / case["path"]
    if case["expect"] == "ok":
        run = read_run(path)
        assert len(run.traces) == int(case["needle"])
        return
    with pytest.raises(InputError) as exc:
        read_run(path)
    msg = str(exc.value)
    assert path.name in msg, msg
    assert case["needle"].lower() in msg.lower(), msg


@pytest.mark.parametrize("case", _cases("method"))
def test_method_file(case):
    path = CORPUS / case["path"]
    with pytest.raises(MethodError) as exc:
        load_method(path)
    msg = str(exc.value)
    assert str(path) in msg and case["needle"] in msg, msg


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache") / "cache.sqlite"


def _batch(tmp_path: Path, repo_root: Path) -> Path:
    src = repo_root / "sample_data" / "lcmsms"
    b = tmp_path / "batch"
    (b / "raw").mkdir(parents=True)
    for f in (src / "raw").iterdir():
        (b / "raw" / f.name).symlink_to(f)
    (b / "corpus").symlink_to(CORPUS / "raw")
    shutil.copy(src / "worklist.csv", b / "worklist.csv")
    (b / "batch.toml").write_text(f'method = "{repo_root / "calibrations" / "thiopurines_lcmsms.toml"}"\n')
    return b


@pytest.mark.parametrize("case", _cases("worklist"))
def test_worklist(case, tmp_path, repo_root, cache, capsys):
    b = _batch(tmp_path, repo_root)
    shutil.copy(CORPUS / case["path"], b / "worklist.csv")
    if case["expect"] == "error":
        with pytest.raises(InputError) as exc:
            quantify(b, cache=cache)
        assert case["needle"] in str(exc.value) and "worklist.csv" in str(exc.value)
        # Through the CLI: one clear line, exit code 2, no traceback.
        with pytest.raises(SystemExit) as sysexit:
            main(["quantify", str(b), "--no-history"])
        err = capsys.readouterr().err
        assert sysexit.value.code == 2 and err.startswith("error:") and "Traceback" not in err
        return
    res = quantify(b, cache=cache)
    flagged = [r for r in res.results if case["needle"] in r.flags]
    assert flagged, case
    # The message names the row; the rest of the batch is still calibrated and reported.
    assert any("row " in m for m in res.messages)
    assert all(oc is not None and oc.passed for oc in res.calibrations.values())
    reported = [r for r in res.results if r.sample_type == "unknown" and math.isfinite(r.reported)]
    assert len(reported) >= 30


@pytest.mark.parametrize("case", _cases("batch"))
def test_peak_level_problem(case, tmp_path, repo_root, cache):
    b = _batch(tmp_path, repo_root)
    target = b / "raw" / "016_P002.mzML"
    target.unlink()
    shutil.copy(CORPUS / case["path"], target)
    res = quantify(b, cache=cache)
    flags = {f for r in res.results if r.sample_id == "P002" for f in r.flags}
    assert case["needle"] in flags, flags
    others = [r for r in res.results if r.sample_type == "unknown" and r.sample_id != "P002"]
    assert sum(math.isfinite(r.reported) for r in others) >= 30


def test_batch_toml_with_a_misspelt_key_is_refused(tmp_path, repo_root):
    b = _batch(tmp_path, repo_root)
    (b / "batch.toml").write_text('method = "thiopurines_lcmsms"\nmethdo_version = "2"\n')
    with pytest.raises(MethodError, match="unknown key.*methdo_version.*batch.toml.*keys are .*method"):
        quantify(b)
