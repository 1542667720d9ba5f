"""An injection whose file (or channel) could not be read is left out of every experiment and named.

It used to count as a clean blank (area 0): an unreadable selectivity source passed "6/6 sources
clean" and an unreadable carry-over blank reported 0 % carry-over.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from thioquant.validation import Design, simulate_package, validate_package

ROOT = Path(__file__).resolve().parents[1]
LCMS = ROOT / "calibrations" / "thiopurines_lcmsms.toml"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("unreadable")
    pkg = simulate_package(root / "clean", method=LCMS, design=Design.small())
    return pkg, root / "measurements.sqlite"


def _copy(small: tuple[Path, Path], dst: Path) -> Path:
    return Path(shutil.copytree(small[0], dst))


def test_unreadable_blanks_are_excluded_and_fail_their_experiments(small, tmp_path: Path) -> None:
    pkg = _copy(small, tmp_path / "pkg")
    (blank_co,) = (pkg / "runs" / "R1" / "raw").glob("*_BLANK-CO.mzML")
    blank_co.write_text("junk\n", encoding="utf-8")
    sel = sorted(pkg.glob("runs/*/raw/*SEL-S3*"))
    assert sel
    for f in sel:
        f.write_bytes(b"")
    report = validate_package(pkg, cache=small[1])
    assert not report.passed
    assert set(report.failed_experiments) == {"selectivity", "carryover"}
    msgs = "\n".join(report.messages)
    assert "run R1: BLANK-CO" in msgs and "SEL-S3" in msgs and "MISSING_FILE" in msgs
    assert "excluded from every experiment" in msgs
    se = report.experiment("selectivity")
    assert {c.criterion for c in se.checks if not c.passed} == {"sources"}  # 2 of 3 sources left
    assert all(c.value == 2 for c in se.checks if c.criterion == "sources")
    s3 = [r for r in se.tables["blanks"] if r["sample_id"] == "SEL-S3"]
    assert s3 and all(r["blank_area"] is None and r["passed"] is None and "MISSING_FILE" in r["not_measured"]
                      for r in s3)
    co = [c for c in report.experiment("carryover").checks if c.item == "R1"]
    assert co and all(not c.passed and "not measured" in c.detail for c in co)
    # nothing else moved: the other experiments are computed as before
    clean = validate_package(small[0], cache=small[1])
    for key in ("accuracy_precision", "matrix_effect", "isr"):
        assert report.experiment(key).tables == clean.experiment(key).tables


def test_an_experiment_with_no_readable_injection_fails(small, tmp_path: Path) -> None:
    pkg = _copy(small, tmp_path / "pkg")
    files = sorted(pkg.glob("runs/*/raw/*DIL*"))
    assert files
    for f in files:
        f.unlink()
    report = validate_package(pkg, cache=small[1])
    e = report.experiment("dilution_integrity")
    assert e.performed and not e.passed  # not "not performed", which the verdict would skip
    assert {c.criterion for c in e.checks} == {"injections_measured"}
    assert report.failed_experiments == ["dilution_integrity"]
    assert len([m for m in report.messages if "excluded from every experiment" in m]) == len(files)


def test_unreadable_lloq_calibrator_is_not_replaced_by_the_next_level(small, tmp_path: Path) -> None:
    pkg = _copy(small, tmp_path / "pkg")
    (cal1,) = (pkg / "runs" / "R1" / "raw").glob("*_CAL1.mzML")
    cal1.write_bytes(b"")
    report = validate_package(pkg, cache=small[1])
    se = report.experiment("selectivity")
    assert not se.passed  # the blanks have no LLOQ response of their run to be judged against
    assert all(r["lloq_area"] is None for r in se.tables["blanks"] if r["run"] == "R1")


def test_a_dead_channel_is_unmeasured_not_a_clean_blank():
    """A dead channel (all zero, constant) gives no peak; in a validation package it must be
    excluded like an unreadable file, never counted as a blank with area 0."""
    from thioquant.validation.experiments import _unmeasured

    assert _unmeasured(["DEAD_CHANNEL"], None, None, None, frozenset()).startswith("DEAD_CHANNEL")
    assert _unmeasured(["NOT_DETECTED"], None, None, None, frozenset()) == ""
