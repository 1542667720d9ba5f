"""``validate --simulate --force`` replaces only a folder the simulator wrote, never a laboratory's package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from thioquant.cli import main
from thioquant.errors import OutputError
from thioquant.validation import Design, simulate_package

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "sample_data" / "validation_lcmsms"


def _lab_package(tmp_path: Path) -> Path:
    """A hand-written package: the bundled package.toml without the simulator's header, no truth.csv."""
    pkg = tmp_path / "lab"
    (pkg / "runs" / "R1").mkdir(parents=True)
    shutil.copyfile(BUNDLED / "runs" / "R1" / "worklist.csv", pkg / "runs" / "R1" / "worklist.csv")
    text = (BUNDLED / "package.toml").read_text(encoding="utf-8")
    (pkg / "package.toml").write_text(text[text.index("[package]"):], encoding="utf-8")
    return pkg


def test_simulate_force_refuses_a_laboratory_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pkg = _lab_package(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(pkg), "--simulate", "--design", "small", "--force"])
    assert exc.value.code == 5
    err = capsys.readouterr().err
    assert str(pkg) in err and "not a simulated validation package" in err
    assert (pkg / "package.toml").is_file() and (pkg / "runs" / "R1" / "worklist.csv").is_file()


def test_simulate_force_refuses_a_package_with_a_copied_truth_file_but_foreign_header(tmp_path: Path) -> None:
    pkg = _lab_package(tmp_path)
    shutil.copyfile(BUNDLED / "truth.csv", pkg / "truth.csv")
    with pytest.raises(OutputError, match="not a simulated validation package"):
        simulate_package(pkg, method=ROOT / "calibrations" / "thiopurines_lcmsms.toml", design=Design.small(),
                         overwrite=True)
    assert (pkg / "runs" / "R1" / "worklist.csv").is_file()


def test_simulate_force_replaces_its_own_package_but_not_other_files_in_it(tmp_path: Path) -> None:
    pkg = tmp_path / "sim"
    (pkg / "runs").mkdir(parents=True)  # the simulator's marks, without simulating a whole package
    shutil.copyfile(BUNDLED / "package.toml", pkg / "package.toml")
    shutil.copyfile(BUNDLED / "truth.csv", pkg / "truth.csv")
    (pkg / "notes.docx").write_text("lab notes", encoding="utf-8")
    with pytest.raises(OutputError, match="notes.docx"):
        simulate_package(pkg, method=ROOT / "calibrations" / "thiopurines_lcmsms.toml", design=Design.small(),
                         overwrite=True)
    assert (pkg / "notes.docx").is_file()
    (pkg / "notes.docx").unlink()
    (pkg / "validation").mkdir()  # the reports of an earlier validate go with the package
    (pkg / "validation" / "validation.html").write_text("old", encoding="utf-8")
    simulate_package(pkg, method=ROOT / "calibrations" / "thiopurines_lcmsms.toml", design=Design.small(),
                     overwrite=True)
    assert (pkg / "truth.csv").is_file() and not (pkg / "validation").exists()
    assert len(list(pkg.glob("runs/*/raw/*.mzML"))) > 50
