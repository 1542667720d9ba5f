"""Westgard multirules on an SQLite QC history: each rule violated on purpose."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from thioquant import flags
from thioquant.qc import (
    QCHistory,
    RuleOutcome,
    default_history_path,
    plot_levey_jennings,
    run_verdict,
)

MEAN, SD = 100.0, 5.0


def _history(tmp_path, z_values, replicates=None):
    h = QCHistory(tmp_path / "hist.sqlite")
    for i, z in enumerate(z_values):
        vals = [MEAN + SD * v for v in (z if isinstance(z, list | tuple) else [z])]
        h.add_run(f"R{i:03d}", f"2026-01-{1 + i // 24:02d}T{i % 24:02d}:00:00", "6-TGN", "LQC", vals)
    return h


def _violated(outcomes):
    return {o.rule.split(":")[1] for o in outcomes if not o.passed}


@pytest.mark.parametrize(
    "z,expected",
    [
        ([0.3, -0.5, 0.1, 2.5], {"1-2s"}),
        ([0.3, -0.5, 0.1, 3.4], {"1-2s", "1-3s"}),
        ([0.3, -0.5, 2.3, 2.6], {"1-2s", "2-2s"}),
        ([0.3, -0.5, 0.1, [2.4, -2.2]], {"1-2s", "R-4s"}),
        ([0.3, -0.5, 1.2, 1.5, 1.1, 1.4], {"4-1s"}),
        ([-0.2, 0.3, 0.2, 0.5, 0.1, 0.8, 0.4, 0.6, 0.2, 0.3, 0.7], {"10x"}),
        ([0.3, -0.5, 0.1, -0.8, 0.9], set()),
    ],
)
def test_each_rule_fires_on_its_pattern(tmp_path, z, expected):
    h = _history(tmp_path, z)
    out = h.evaluate("6-TGN", "LQC", MEAN, SD)
    assert len(out) == 6
    assert _violated(out) == expected
    sev = {o.rule.split(":")[1]: o.severity for o in out}
    assert sev["1-2s"] == "warn" and sev["1-3s"] == "reject"
    v = run_verdict(out)
    assert v.accepted == (not (expected - {"1-2s"}))
    if not v.accepted:
        assert v.deciding_rule.startswith("westgard:")
    h.close()


def test_old_violation_does_not_reject_the_current_run(tmp_path):
    h = _history(tmp_path, [3.5, 0.1, -0.2])
    assert _violated(h.evaluate("6-TGN", "LQC", MEAN, SD)) == set()
    # but evaluating that earlier run does
    assert "1-3s" in _violated(h.evaluate("6-TGN", "LQC", MEAN, SD, run_id="R000"))


def test_target_estimated_from_history_or_not_evaluated(tmp_path):
    rng = np.random.default_rng(0)
    h = _history(tmp_path, list(rng.normal(0, 1, 5)))
    out = h.evaluate("6-TGN", "LQC")
    assert len(out) == 1 and out[0].code == "WG_NO_TARGET" and out[0].status == "not_evaluated"
    assert "only 4 earlier QC values" in out[0].message and "20 needed" in out[0].message
    h.close()
    h = _history(tmp_path / "b", [*list(np.clip(rng.normal(0, 1, 25), -1.5, 1.5)), 6.0])
    out = h.evaluate("6-TGN", "LQC")
    assert "1-3s" in _violated(out)
    assert "estimated from 25 prior values" in out[0].details["target_source"]
    h.set_target("6-TGN", "LQC", MEAN, SD)
    assert h.evaluate("6-TGN", "LQC")[0].details["target_source"] == "stored"


def test_fresh_history_is_not_evaluated_not_failed(tmp_path):
    """No target and no earlier runs: WG_NO_TARGET is "not evaluated", which neither fails, warns
    nor touches the verdict, even with Westgard set to reject."""
    h = QCHistory(tmp_path / "fresh.sqlite")
    assert h.evaluate("6-TGN", "LQC")[0].status == "not_evaluated"  # nothing stored at all yet
    h.add_run("R1", "2026-01-01T08:00", "6-TGN", "LQC", [MEAN + 3.5 * SD])  # would violate 1-3s
    h.add_run("R1", "2026-01-01T08:00", "6-TGN", "HQC", [MEAN - 2.5 * SD])
    out = h.evaluate_run("6-TGN", "R1", severity="reject")
    assert [(o.code, o.status) for o in out] == [("WG_NO_TARGET", "not_evaluated")] * 2
    o = out[0]
    assert not o.passed and not o.failed and not o.evaluated and not o.rejects and not o.warns
    assert o.as_dict()["status"] == "not_evaluated"
    assert "no target mean/SD set and no earlier QC values" in o.message
    assert o.code in flags.FLAGS and "not evaluated" in flags.FLAGS[o.code]
    qc = RuleOutcome("qc", "QC_FAIL", True, "reject", "QC acceptance met")
    v = run_verdict([qc, *out])
    assert v.accepted and v.deciding_rule == "qc"
    assert v.warnings == () and len(v.not_evaluated) == 2
    assert all(r.startswith("WG_NO_TARGET: ") for r in v.not_evaluated)
    assert not any("Westgard" in r for r in v.reasons)
    assert run_verdict(out).accepted  # on their own, too
    h.close()


def test_same_rule_is_evaluated_once_the_history_is_long_enough(tmp_path):
    """The first ``min_history`` runs only build the history; from then on the rules are evaluated
    against the mean/SD of the earlier runs, and pass or fail."""
    rng = np.random.default_rng(1)
    h = QCHistory(tmp_path / "h.sqlite")
    z = np.clip(rng.normal(0, 1, 6), -1.5, 1.5)
    for i, zi in enumerate(z):
        h.add_run(f"R{i}", f"2026-01-0{i + 1}T08:00", "6-TGN", "LQC", [MEAN + SD * zi])
        out = h.evaluate("6-TGN", "LQC", min_history=5)
        if i < 5:  # 0..4 earlier values
            assert [o.status for o in out] == ["not_evaluated"], i
            assert not run_verdict(out).warnings
        else:
            assert len(out) == 6 and {o.status for o in out} == {"pass"}
            assert "estimated from 5 prior values" in out[0].details["target_source"]
    prior = [v for _, _, v in h.series("6-TGN", "LQC")]
    mean, sd = float(np.mean(prior)), float(np.std(prior, ddof=1))
    h.add_run("R6", "2026-01-07T08:00", "6-TGN", "LQC", [mean + 4 * sd])
    out = {o.rule: o for o in h.evaluate("6-TGN", "LQC", min_history=5)}
    assert out["westgard:1-3s"].status == "fail" and out["westgard:1-3s"].rejects
    assert out["westgard:1-2s"].status == "fail" and out["westgard:1-2s"].warns
    assert out["westgard:10x"].status == "pass"
    v = run_verdict(out.values())
    assert not v.accepted and v.deciding_rule == "westgard:1-3s" and v.not_evaluated == ()
    h.close()


def test_constant_history_is_not_evaluated_with_its_reason(tmp_path):
    h = _history(tmp_path, [0.0] * 4)
    out = h.evaluate("6-TGN", "LQC", min_history=3)
    assert out[0].status == "not_evaluated" and "do not vary" in out[0].message


def test_sqlite_persistence_schema_and_rerun_replaces(tmp_path):
    p = tmp_path / "sub" / "hist.sqlite"
    with QCHistory(p) as h:
        h.add_run("R1", "2026-01-01T08:00", "6-TGN", "LQC", [101.0, 99.0])
        h.add_run("R1", "2026-01-01T08:00", "6-TGN", "LQC", [102.0])  # re-processing replaces
        h.add_run("R2", "2026-01-02T08:00", "6-TGN", "LQC", [98.0, float("nan")])
    with QCHistory(p) as h:
        assert [v for _, _, v in h.series("6-TGN", "LQC")] == [102.0, 98.0]
    con = sqlite3.connect(p)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"qc_value", "qc_target"} <= tables
    con.close()


def test_levey_jennings_data(tmp_path):
    h = _history(tmp_path, [0.0, 1.0, -2.0, 0.5])
    lj = h.levey_jennings("6-TGN", "LQC", MEAN, SD)
    assert lj["run_id"] == ["R000", "R001", "R002", "R003"]
    assert lj["z"] == pytest.approx([0.0, 1.0, -2.0, 0.5])
    assert lj["lines"]["+2sd"] == 110.0 and lj["lines"]["-3sd"] == 85.0
    lj2 = h.levey_jennings("6-TGN", "LQC")
    assert lj2["z"] == [None] * 4 and lj2["target_source"].startswith("series statistics")


def test_default_history_path_is_beside_the_output(tmp_path):
    assert default_history_path(tmp_path / "out") == (tmp_path / "qc_history.sqlite").resolve()


def test_across_levels_within_run(tmp_path):
    h = QCHistory(tmp_path / "h.sqlite")
    targets = {"LQC": (1.0, 0.1), "HQC": (10.0, 1.0)}
    h.add_run("R1", "2026-01-01T08:00", "6-TGN", "LQC", [1.25])  # z = +2.5
    h.add_run("R1", "2026-01-01T08:00", "6-TGN", "HQC", [12.3])  # z = +2.3
    out = h.evaluate_run("6-TGN", "R1", targets=targets)
    across = {o.rule: o for o in out if "across" in o.rule}
    assert not across["westgard:2-2s across levels"].passed
    assert across["westgard:R-4s across levels"].passed
    h.add_run("R2", "2026-01-02T08:00", "6-TGN", "LQC", [0.75])  # z = -2.5
    h.add_run("R2", "2026-01-02T08:00", "6-TGN", "HQC", [12.2])  # z = +2.2
    out = h.evaluate_run("6-TGN", "R2", targets=targets)
    across = {o.rule: o for o in out if "across" in o.rule}
    assert not across["westgard:R-4s across levels"].passed
    assert "level HQC above +2 SD, LQC below -2 SD" in across["westgard:R-4s across levels"].message
    assert not run_verdict(out).accepted


def test_levey_jennings_plot(tmp_path):
    h = _history(tmp_path, [0.0, 1.0, -2.0, 2.5])
    p = plot_levey_jennings(h.levey_jennings("6-TGN", "LQC", MEAN, SD), tmp_path / "lj.png")
    assert p.stat().st_size > 1000


def test_not_positive_target_sd_is_not_evaluated_with_its_reason(tmp_path):
    h = _history(tmp_path, [0.1, 0.2])
    out = h.evaluate("6-TGN", "LQC", MEAN, 0.0)
    assert out[0].status == "not_evaluated" and "target SD is not positive" in out[0].message
    out = h.evaluate("6-TGN", "LQC", None, SD)  # an SD alone is no target
    assert out[0].status == "not_evaluated" and "no target mean/SD set and only 1 earlier QC value " in out[0].message
