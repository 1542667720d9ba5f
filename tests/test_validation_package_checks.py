"""package.toml mistakes that used to pass silently: a folder shared by two runs, unknown keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from thioquant.errors import InputError, MethodError
from thioquant.validation import read_package

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "sample_data" / "validation_lcmsms"


@pytest.fixture()
def skeleton(tmp_path: Path) -> Path:
    """The bundled package without its raw files (read_package needs only the worklists)."""
    pkg = tmp_path / "pkg"
    for r in ("R1", "R2", "R3"):
        (pkg / "runs" / r).mkdir(parents=True)
        shutil.copyfile(BUNDLED / "runs" / r / "worklist.csv", pkg / "runs" / r / "worklist.csv")
    shutil.copyfile(BUNDLED / "package.toml", pkg / "package.toml")
    return pkg


def _edit(pkg: Path, old: str, new: str) -> None:
    cfg = pkg / "package.toml"
    text = cfg.read_text(encoding="utf-8")
    assert old in text
    cfg.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_skeleton_reads(skeleton: Path) -> None:
    assert [r.run_id for r in read_package(skeleton).runs] == ["R1", "R2", "R3"]


def test_two_runs_in_one_folder_are_refused(skeleton: Path) -> None:
    # R1's injections would count twice towards ">= 3 runs"
    _edit(skeleton, 'folder = "runs/R2"', 'folder = "runs/R1"')
    with pytest.raises(InputError, match=r"runs R1 and R2 both use the folder") as exc:
        read_package(skeleton)
    assert "package.toml" in str(exc.value)


def test_same_folder_written_differently_is_refused(skeleton: Path) -> None:
    _edit(skeleton, 'folder = "runs/R3"', 'folder = "runs/../runs/R1/"')
    with pytest.raises(InputError, match=r"runs R1 and R3"):
        read_package(skeleton)


def test_duplicate_run_id_is_refused(skeleton: Path) -> None:
    _edit(skeleton, 'id = "R3"', 'id = "R2"')
    with pytest.raises(InputError, match="'R2' is listed twice"):
        read_package(skeleton)


def test_unknown_package_key_is_refused(skeleton: Path) -> None:
    _edit(skeleton, "[package]\n", '[package]\nsede = "Basel"\n')
    with pytest.raises(InputError, match=r"package.toml: key 'package.sede': unknown key in \[package\]"):
        read_package(skeleton)


def test_unknown_table_and_run_key_are_refused(skeleton: Path) -> None:
    text = (skeleton / "package.toml").read_text(encoding="utf-8")
    (skeleton / "package.toml").write_text(text + "\n[criterion]\nap_cv_pct = 20\n", encoding="utf-8")
    with pytest.raises(InputError, match="key 'criterion'"):
        read_package(skeleton)
    (skeleton / "package.toml").write_text(text, encoding="utf-8")
    _edit(skeleton, 'folder = "runs/R2"', 'foldr = "runs/R2"')
    with pytest.raises(InputError, match="key 'runs.foldr'"):
        read_package(skeleton)


@pytest.mark.parametrize("line, key", [("calibration_r2_mn = 0.99", "criteria.calibration_r2_mn"),
                                       ("ap_cv_pct = -1", "criteria.ap_cv_pct")])
def test_criteria_errors_name_package_toml(skeleton: Path, line: str, key: str) -> None:
    _edit(skeleton, "[design]\n", f"[criteria]\n{line}\n\n[design]\n")
    with pytest.raises(MethodError) as exc:
        read_package(skeleton)
    assert exc.value.path == str(skeleton / "package.toml") and exc.value.key == key
    assert str(exc.value).startswith(f"{skeleton / 'package.toml'}: key '{key}'")
