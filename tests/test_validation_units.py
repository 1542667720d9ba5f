"""Pure parts of the validation package: statistics, criteria, design, failures, CLI errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from thioquant.assay.method import load_method
from thioquant.errors import InputError, MethodError, OutputError
from thioquant.validation import Criteria, Design, simulate_package
from thioquant.validation.design import FAILURES, check_failures, plan_package, remaining_fraction
from thioquant.validation.experiments import anova_cv, bias_pct, cv_pct

ROOT = Path(__file__).resolve().parents[1]


def test_statistics() -> None:
    assert math.isclose(cv_pct([90, 100, 110]), 10.0)
    assert math.isnan(cv_pct([100.0]))
    assert math.isclose(bias_pct(115.0, 100.0), 15.0)
    # identical runs: no between-run variance; within-run CV = pooled SD / grand mean
    w, b = anova_cv([[99, 101], [99, 101], [99, 101]])
    assert math.isclose(w, 100 * math.sqrt(2) / 100, rel_tol=1e-9) and b == 0.0
    w, b = anova_cv([[89, 91], [99, 101], [109, 111]])
    assert b > 9 and w < 2


def test_criteria_defaults_overrides_and_errors() -> None:
    c = Criteria()
    assert (c.ap_bias_pct, c.ap_bias_lloq_pct, c.ap_cv_pct, c.carryover_pct, c.carryover_is_pct) == (15, 20, 15, 20, 5)
    assert (c.isr_diff_pct, round(c.isr_min_fraction, 4), c.matrix_min_lots, c.selectivity_min_sources) == (20, 0.6667, 6, 6)
    assert Criteria.from_mapping({"ap_min_replicates": 3.0}).ap_min_replicates == 3
    assert Criteria.from_mapping({"isr_diff_pct": 30}).overridden() == {"isr_diff_pct": 30}
    with pytest.raises(MethodError, match="unknown criterion"):
        Criteria.from_mapping({"nonsense": 1})
    with pytest.raises(MethodError, match="fraction"):
        Criteria(isr_min_fraction=1.5)
    with pytest.raises(MethodError):
        Criteria(ap_cv_pct=-1)


def test_failure_names() -> None:
    assert check_failures("precision, isr") == {"precision", "isr"}
    assert check_failures(None) == frozenset()
    with pytest.raises(InputError, match="unknown failure"):
        check_failures(["precison"])
    assert set(FAILURES) == {"accuracy", "precision", "carryover", "selectivity", "matrix", "dilution",
                             "stability", "isr"}


def test_degradation_follows_domain_rates() -> None:
    d = Design()
    bench, ft, lt = d.stability
    assert math.isclose(remaining_fraction(d, "6-TG", bench), 0.97)  # 3 %/day at room temperature, 24 h
    assert math.isclose(remaining_fraction(d, "6-TG", ft), 0.99**3)
    assert remaining_fraction(d, "6-TG", lt) == 1.0  # none at -70 C
    assert remaining_fraction(d, "6-MMP", bench) == 1.0
    from dataclasses import replace

    assert remaining_fraction(d, "6-TG", replace(bench, days=7)) < 0.85  # the 'stability' failure


def test_plan_is_ich_m10_sized_ordered_and_deterministic() -> None:
    m = load_method(ROOT / "calibrations" / "thiopurines_lcmsms.toml")
    plan = plan_package(m, Design(), frozenset(), 7)
    assert [(r.run_id, r.day) for r in plan] == [("R1", 1), ("R2", 1), ("R3", 2)]
    assert sum(len(r.injections) for r in plan) == 189
    for r in plan:
        ids = [p.spec.sample_id for p in r.injections]
        co = ids.index("BLANK-CO")
        assert ids[co - 1] == "CAL8" and ids[co - 10:co - 8] == ["BLANK-1", "ZERO-1"]
        keys = [p.key for p in r.injections[co + 1:]]
        assert keys == sorted(keys)  # ascending concentration after the carry-over blank
        assert sum(i.startswith("AP-") for i in ids) == 20
    again = plan_package(m, Design(), frozenset(), 7)
    assert [p.spec.conc for r in plan for p in r.injections] == [p.spec.conc for r in again for p in r.injections]
    broken = plan_package(m, Design(), frozenset({"precision"}), 7)
    changed = {p.spec.sample_id for r, s in zip(plan, broken, strict=True)
               for p, q in zip(r.injections, s.injections, strict=True) if p.spec.conc != q.spec.conc}
    assert changed and all(c.startswith("AP-QCM-") for c in changed)
    qcm = [q.spec.conc["6-TG"] / p.spec.conc["6-TG"] for r, s in zip(plan, broken, strict=True)
           for p, q in zip(r.injections, s.injections, strict=True) if p.spec.sample_id.startswith("AP-QCM")]
    assert np.isclose(np.mean(qcm), 1.0) and max(qcm) > 1.19


def test_simulate_refuses_to_overwrite_other_folders(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="not empty"):
        simulate_package(tmp_path, method=ROOT / "calibrations" / "thiopurines_lcmsms.toml")
    with pytest.raises(OutputError, match="not a simulated validation package"):
        simulate_package(tmp_path, method=ROOT / "calibrations" / "thiopurines_lcmsms.toml", overwrite=True)
    assert (tmp_path / "keep.txt").exists()


def test_cli_validate_and_simulate_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from thioquant.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["validate", str(tmp_path / "pkg"), "--simulate", "--fail", "nonsense"])
    assert exc.value.code == 2
    assert "unknown failure" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(tmp_path)])
    assert exc.value.code == 2
    assert "package.toml" in capsys.readouterr().err
