"""Each deliberate failure of a simulated validation package fails exactly its experiment.

A small design keeps this fast: the clean package is simulated once, and each broken package
re-simulates (simulation cache) and re-measures (measurement cache) only the injections its
failure changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from thioquant.validation import FAILURES, Design, simulate_package, validate_package

ROOT = Path(__file__).resolve().parents[1]
LCMS = ROOT / "calibrations" / "thiopurines_lcmsms.toml"
UV = ROOT / "calibrations" / "thiopurines_hplcuv.toml"

#: criteria a failure may break (the first set must all be among the failed ones)
EXPECTED = {
    "accuracy": ({"intra_run_bias", "inter_run_bias"}, {"intra_run_bias", "inter_run_bias"}),
    "precision": ({"intra_run_cv", "inter_run_cv"}, {"intra_run_cv", "inter_run_cv"}),
    "carryover": ({"analyte_carryover"}, {"analyte_carryover"}),
    "selectivity": ({"interference"}, {"interference"}),
    "matrix": ({"lot_accuracy", "is_normalised_mf_cv"}, {"lot_accuracy", "lot_cv", "is_normalised_mf_cv"}),
    "dilution": ({"accuracy"}, {"accuracy", "cv"}),
    "stability": ({"accuracy"}, {"accuracy"}),
    "isr": ({"agreement"}, {"agreement"}),
}


@pytest.fixture(scope="session")
def small_packages(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("validation_small")
    caches = {"sim": root / "simcache", "meas": root / "measurements.sqlite"}
    made: dict[tuple[str, str], object] = {}

    def get(method: Path, failure: str = ""):
        key = (method.stem, failure)
        if key not in made:
            pkg = simulate_package(root / f"{method.stem}_{failure or 'clean'}", method=method,
                                   design=Design.small(), failures=[failure] if failure else None,
                                   cache_dir=caches["sim"] / method.stem)
            made[key] = validate_package(pkg, cache=caches["meas"])
        return made[key]

    get.measurement_cache = caches["meas"]  # type: ignore[attr-defined]
    return get


def test_small_clean_package_passes(small_packages) -> None:
    report = small_packages(LCMS)
    assert report.passed, report.to_dataframe("checks").query("result == 'FAIL'")
    # the small design lowers the M10 minima in package.toml, and the report says so
    assert report.criteria.ap_min_replicates == 2
    assert "ap_min_replicates" in report.criteria.overridden()


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_each_failure_breaks_exactly_its_experiment(small_packages, failure: str) -> None:
    report = small_packages(LCMS, failure)
    assert not report.passed
    assert report.failed_experiments == [FAILURES[failure]]
    failed = {c.criterion for c in report.checks if not c.passed}
    must, may = EXPECTED[failure]
    assert must & failed, failed
    assert failed <= may, failed


def test_failures_hit_the_right_items(small_packages) -> None:
    def failing(failure: str) -> list:
        return [c for c in small_packages(LCMS, failure).checks if not c.passed]

    assert {c.item.split()[0] for c in failing("precision")} == {"QCM"}
    assert {c.item.split()[0] for c in failing("accuracy")} == {"QCL"}
    stab = failing("stability")
    assert {c.analyte for c in stab} == {"6-TG"}  # 6-MMP is stable; only 6-TG degrades at room temperature
    assert {c.item.split()[0] for c in stab} == {"bench_top"}
    assert {c.analyte for c in failing("selectivity")} == {"6-TG"}
    co = small_packages(LCMS, "carryover").experiment("carryover").tables["blanks_after_uloq"]
    assert all(r["pct_of_lloq"] > 20 for r in co)


def test_broken_package_differs_only_where_the_failure_acts(tmp_path: Path) -> None:
    # a tiny design, simulated twice without any cache: same seed, same bytes wherever the failure
    # does not act (each injection has its own random stream)
    from thioquant.validation.design import StabilityCondition

    tiny = Design(runs=(("R1", 1), ("R2", 2)), ap_replicates=1, sst_injections=1, selectivity_sources=1,
                  matrix_lots=1, matrix_replicates=1, neat_replicates=1, dilution_replicates=2,
                  stability=(StabilityCondition("bench_top", "room", 1.0),), stability_replicates=1, isr_samples=1)
    clean = simulate_package(tmp_path / "clean", method=LCMS, design=tiny)
    broken = simulate_package(tmp_path / "broken", method=LCMS, design=tiny, failures="dilution")
    files = sorted(clean.glob("runs/*/raw/*.mzML"))
    assert len(files) > 30
    changed = [f.name for f in files if f.read_bytes() != (broken / f.relative_to(clean)).read_bytes()]
    assert [n for n in changed if "DIL-" in n] and len(changed) <= 2 * 2  # the diluted ones and the next
    assert (clean / "truth.csv").read_bytes() != (broken / "truth.csv").read_bytes()


@pytest.mark.parametrize("failure", ["matrix", "stability"])
def test_hplcuv_failures(small_packages, failure: str) -> None:
    assert small_packages(UV).passed
    report = small_packages(UV, failure)
    assert report.failed_experiments == [FAILURES[failure]]


def test_cli_exit_codes(small_packages, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from thioquant.cli import main

    cache = str(small_packages.measurement_cache)
    clean = small_packages(LCMS).package.path
    main(["validate", str(clean), "--out", str(tmp_path / "ok"), "--cache", cache, "--quiet"])
    assert "Validation PASSED" in capsys.readouterr().out
    assert (tmp_path / "ok" / "validation.html").is_file() and (tmp_path / "ok" / "validation.xlsx").is_file()
    from thioquant.locations import default_validation_dir

    main(["validate", str(clean), "--cache", cache, "--quiet"])  # by default outside the package
    assert (default_validation_dir(clean) / "validation.html").is_file() and not (clean / "validation").exists()
    broken = small_packages(LCMS, "isr").package.path
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(broken), "--out", str(tmp_path / "bad"), "--cache", cache])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "Validation FAILED: isr" in out and "Incurred-sample reanalysis" in out
    with pytest.raises(SystemExit) as exc:  # existing reports are kept unless --force
        main(["validate", str(clean), "--out", str(tmp_path / "ok"), "--cache", cache])
    assert exc.value.code == 5


def test_criteria_are_settings(small_packages) -> None:
    clean = small_packages(LCMS)
    strict = validate_package(clean.package.path, criteria={"isr_diff_pct": 0.01},
                              cache=small_packages.measurement_cache)
    assert strict.failed_experiments == ["isr"]
    assert strict.criteria.overridden()["isr_diff_pct"] == 0.01
    assert strict.criteria.ap_min_replicates == 2  # the package's own [criteria] still apply
    row = strict.to_dataframe("criteria").set_index("setting").loc["isr_diff_pct"]
    assert bool(row["overridden"]) and row["default"] == "20"


def test_a_run_that_cannot_be_quantified_is_reported(small_packages, tmp_path: Path) -> None:
    import shutil

    pkg = shutil.copytree(small_packages(LCMS).package.path, tmp_path / "pkg")
    for f in (pkg / "runs" / "R2" / "raw").glob("*_CAL*.mzML"):
        f.unlink()
    wl = pkg / "runs" / "R1" / "worklist.csv"
    wl.write_text(wl.read_text(encoding="utf-8").replace("SEL-S1", "SEL-SX"), encoding="utf-8")
    report = validate_package(pkg, cache=small_packages.measurement_cache)
    assert not report.passed and set(report.run_errors) == {"R2"}
    assert any("SEL-S1" in m for m in report.messages)
    assert "accuracy_precision" in report.failed_experiments  # only 2 runs left
    assert not report.experiment("dilution_integrity").performed  # its only run is gone
    html, _ = report.write(tmp_path / "out")
    assert "could not be quantified" in html.read_text(encoding="utf-8")
