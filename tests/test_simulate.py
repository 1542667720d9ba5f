"""The simulator: deterministic, matches the bundled data, and its truth is physically right."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from thioquant.io import read_run
from thioquant.simulate import Failures, emg, read_truth, simulate_batch


def _digest(folder, names=None):
    """sha256 of the files the simulator writes (not results, caches or QC histories)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    rel = {p.relative_to(folder).as_posix(): p for p in files}
    keep = names if names is not None else [
        n for n in rel if n.startswith("raw/") or n in ("worklist.csv", "truth.csv", "batch.toml")
    ]
    return {n: hashlib.sha256(rel[n].read_bytes()).hexdigest() if n in rel else None for n in keep}


@pytest.mark.parametrize("name,method", [("lcmsms", "thiopurines_lcmsms"), ("hplcuv", "thiopurines_hplcuv")])
def test_bundled_sample_data_is_regenerated_byte_for_byte(tmp_path, repo_root, name, method):
    out = simulate_batch(tmp_path / name, method=repo_root / "calibrations" / f"{method}.toml")
    fresh = _digest(out)
    assert len(fresh) == 45  # 42 injections + worklist, truth, batch.toml
    assert fresh == _digest(repo_root / "sample_data" / name, names=list(fresh))


def test_other_seed_gives_other_data(tmp_path, repo_root):
    m = repo_root / "calibrations" / "thiopurines_lcmsms.toml"
    a = simulate_batch(tmp_path / "a", method=m, seed=1, n_patients=2)
    b = simulate_batch(tmp_path / "b", method=m, seed=2, n_patients=2)
    assert _digest(a) != _digest(b)


@pytest.mark.parametrize("tau", [0.0, 0.02, 0.1, 0.5])
def test_emg_area_is_exact(tau):
    t = np.linspace(0, 30, 300001)
    assert np.trapezoid(emg(t, 3.7, 8.0, 0.1, tau), t) == pytest.approx(3.7, rel=1e-6)


def test_batch_design_and_truth(tmp_path, repo_root):
    out = simulate_batch(tmp_path / "b", method=repo_root / "calibrations" / "thiopurines_lcmsms.toml",
                         n_patients=24)
    truth = read_truth(out)
    types = {}
    for (sid, _), t in truth.items():
        types.setdefault(t["sample_type"], set()).add(sid)
    assert len(types["calibrator"]) >= 6 and types["blank"] and types["zero"]
    assert len(types["qc"]) == 6 and len(types["unknown"]) == 24
    tgn = [float(t["true_reported"]) for (s, a), t in truth.items() if a == "6-TG" and t["sample_type"] == "unknown"]
    mmp = [float(t["true_reported"]) for (s, a), t in truth.items() if a == "6-MMP" and t["sample_type"] == "unknown"]
    assert min(tgn) == 0 and max(tgn) > 1000 and max(mmp) > 10000
    rbc = [float(t["rbc_count"]) for t in truth.values() if t["rbc_count"]]
    assert min(rbc) >= 3.5 and max(rbc) <= 5.5
    # Physics: LC-MS/MS vial conc = reported x RBC / 0.8 (domain.md section 2).
    t = truth[("P002", "6-TG")]
    assert float(t["true_conc"]) == pytest.approx(284 * float(t["rbc_count"]) / 0.8, rel=1e-5)
    run = read_run(out / "raw" / "003_CAL1.mzML")
    assert {tr.channel.kind for tr in run.traces} == {"srm"} and len(run.traces) == 6


def test_failures_option_changes_the_data(tmp_path, repo_root):
    m = repo_root / "calibrations" / "thiopurines_lcmsms.toml"
    out = simulate_batch(tmp_path / "f", method=m, n_patients=2, failures=Failures(qc_bias_pct=30))
    truth = read_truth(out)
    qc = truth[("QCM-1", "6-TG")]
    assert float(qc["true_conc"]) == pytest.approx(4000 * 1.3, rel=0.05)
    assert not math.isnan(float(qc["true_conc"]))


def test_a_method_in_umol_per_l_simulates_the_same_patients(tmp_path, repo_root):
    # the simulator's patients and slopes are in nmol/L; a umol/L method gets the same batch in its unit
    import tomllib

    from thioquant.assay.method import parse_method
    from thioquant.pipeline import quantify

    path = repo_root / "calibrations" / "thiopurines_lcmsms.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["method"]["conc_unit"] = "umol/L"
    for table in ("calibrators", "qcs"):
        for level in data[table].values():
            for a in level:
                level[a] /= 1000
    umol = parse_method(data, source=str(path))
    t_nmol = read_truth(simulate_batch(tmp_path / "n", method=path, n_patients=4))
    out = simulate_batch(tmp_path / "u", method=umol, n_patients=4)
    t_umol = read_truth(out)
    assert t_umol.keys() == t_nmol.keys()
    for k, row in t_umol.items():
        assert row["conc_unit"] == "umol/L"
        assert row["true_reported"] == t_nmol[k]["true_reported"]
        assert float(row["true_conc"]) == pytest.approx(float(t_nmol[k]["true_conc"]) / 1000, rel=1e-5)
    b = quantify(out, umol)
    assert b.accepted
    reported = [r for r in b.results if r.sample_type == "unknown" and math.isfinite(r.reported)]
    assert len(reported) >= 6
    for r in reported:
        assert r.reported == pytest.approx(float(t_umol[(r.sample_id, r.analyte)]["true_reported"]), rel=0.1)
