"""The QC/Westgard history identifies a batch by its folder name AND its raw data
(thioquant.qc.runkey): two batches of the same folder name (two instruments' ``2026-12-05``, a
batch acquired again) are two runs in the series; a re-run of the same batch keeps its place; a
history written when the folder name alone was the key still loads, and a re-run of a batch it
holds takes over its rows only when its output folder proves that it is that batch."""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from thioquant.cli import main
from thioquant.locations import RESULTS_ENV
from thioquant.qc.westgard import QCHistory, adopt_run, guarded_history

FAST = ["--quiet", "--no-report", "--no-pdf"]
ROOT = Path("thioquant-results", "thiopurines_lcmsms")


@pytest.fixture
def lab(tmp_path, repo_root, monkeypatch) -> Path:
    """A lab folder (methods in calibrations/, batches under share/), thioquant run in lab/work."""
    (tmp_path / "calibrations").mkdir()
    shutil.copy(repo_root / "calibrations" / "thiopurines_lcmsms.toml", tmp_path / "calibrations")
    (tmp_path / "work").mkdir()
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def _acquired_again(batch: Path) -> Path:
    """The batch with other raw bytes, as another acquisition has (a QC file's trailing newline:
    the values stay, only the data's identity changes)."""
    qc = next(p for p in sorted((batch / "raw").iterdir()) if "QCL" in p.name)
    qc.write_bytes(qc.read_bytes() + b"\n")
    return batch


def _ids(history: Path, analyte: str = "6-TG", level: str = "QCL") -> list[str]:
    with sqlite3.connect(history) as conn:
        return [r[0] for r in conn.execute("SELECT run_id FROM qc_value WHERE analyte=? AND level=? "
                                           "ORDER BY timestamp, id", (analyte, level))]


def test_two_batches_with_the_same_folder_name_both_stay_in_the_westgard_history(lab, sample_batch):
    a = sample_batch("lcmsms", lab / "share" / "qtrap1" / "2026-12-05")
    b = _acquired_again(sample_batch("lcmsms", lab / "share" / "qtrap2" / "2026-12-05"))
    main(["quantify", str(a), *FAST])
    time.sleep(1.05)  # whole-second timestamps
    # the second instrument's batch of the same name: its own output folder, the method's history
    main(["quantify", str(b), "--out", str(ROOT / "2026-12-05-qtrap2"), *FAST])
    ids = _ids(ROOT / "qc_history.sqlite")
    # was: ["2026-12-05", "2026-12-05"], the second batch's values in place of the first's
    assert len(ids) == 4 and len(set(ids)) == 2 and all(re.fullmatch(r"2026-12-05@[0-9a-f]{12}", i) for i in ids)
    assert ids[0] == ids[1] != ids[2] == ids[3]
    with QCHistory(ROOT / "qc_history.sqlite") as h:
        lj = h.levey_jennings("6-TG", "QCL")
    assert lj["run_id"] == ids and len(lj["value"]) == 4
    # Westgard on the second batch sees the first's values (was: "no earlier QC values")
    qc = (ROOT / "2026-12-05-qtrap2" / "qc.csv").read_text(encoding="utf-8")
    assert "6-TG QCL: Westgard rules not evaluated: no target mean/SD set and only 2 earlier QC values" in qc
    audit = (ROOT / "2026-12-05" / "audit.jsonl").read_text(encoding="utf-8")
    assert f'"qc_run_id": "{ids[0]}"' in audit  # the run's key is in its audit trail


def _old_keying(monkeypatch):
    """Quantify as the previous version did: the QC history keyed by the folder name alone."""
    import thioquant.qc.runkey as rk

    monkeypatch.setattr(rk, "measured_run_id", lambda batch_dir, entries, measurements: rk.folder_name(batch_dir))


def test_a_history_of_the_previous_keying_loads_and_its_runs_keep_their_place(lab, sample_batch, monkeypatch):
    day1 = sample_batch("lcmsms", lab / "share" / "day1")
    day2 = sample_batch("lcmsms", lab / "share" / "day2")
    with monkeypatch.context() as mp:
        _old_keying(mp)
        main(["quantify", str(day1), *FAST])
        time.sleep(1.05)
        main(["quantify", str(day2), *FAST])
    hist = ROOT / "qc_history.sqlite"
    assert _ids(hist) == ["day1", "day1", "day2", "day2"]
    old = hist.read_bytes()

    # the old file loads and is evaluated as it is
    with QCHistory(hist) as h:
        assert h.levey_jennings("6-TG", "QCL")["run_id"] == ["day1", "day1", "day2", "day2"]
    # day1 quantified again (--force): its output folder's audit trail proves it is the batch the
    # history holds as "day1", so the run takes over those rows and their place (before day2)
    main(["quantify", str(day1), "--force", *FAST])
    ids = _ids(hist)
    assert re.fullmatch(r"day1@[0-9a-f]{12}", ids[0]) and ids[1:] == [ids[0], "day2", "day2"]
    qc = (ROOT / "day1" / "qc.csv").read_text(encoding="utf-8")
    assert "no target mean/SD set and no earlier QC values" in qc  # day2 is still after it

    # another batch named day2 (acquired again elsewhere) does not take the old day2's rows: its
    # output folder is another, which proves nothing about them
    other = _acquired_again(sample_batch("lcmsms", lab / "share" / "again" / "day2"))
    main(["quantify", str(other), "--out", str(ROOT / "day2-again"), *FAST])
    ids = _ids(hist)
    assert ids[:4] == [ids[0], ids[0], "day2", "day2"] and len(ids) == 6
    assert re.fullmatch(r"day2@[0-9a-f]{12}", ids[4]) and ids[4] == ids[5]
    # nor does day2 itself when its output folder was replaced by another batch's meanwhile
    hist.write_bytes(old)
    shutil.rmtree(ROOT / "day2")
    main(["quantify", str(other), "--out", str(ROOT / "day2"), *FAST])
    assert _ids(hist)[:4] == ["day1", "day1", "day2", "day2"] and len(_ids(hist)) == 6


def test_a_failed_run_puts_back_the_rows_it_took_over(tmp_path):
    hist = tmp_path / "qc_history.sqlite"
    with QCHistory(hist) as h:
        h.add_run("plate1", "2026-12-01T08:00:00+00:00", "6-TG", "QCL", [250.0, 248.0])
        h.add_run("plate2", "2026-12-02T08:00:00+00:00", "6-TG", "QCL", [251.0, 252.0])
    with pytest.raises(KeyboardInterrupt), guarded_history(hist) as guard:
        guard("plate1@0123456789ab", legacy="plate1")  # as the pipeline calls it, once measured
        assert guard.adopted == "plate1" and _ids(hist) == ["plate1@0123456789ab"] * 2 + ["plate2"] * 2
        with QCHistory(hist) as h:  # the run then records its values (replacing those it took over)
            h.add_run("plate1@0123456789ab", "2026-12-01T08:00:00+00:00", "6-TG", "QCL", [240.0, 241.0])
        raise KeyboardInterrupt
    assert _ids(hist) == ["plate1", "plate1", "plate2", "plate2"]
    with QCHistory(hist) as h:
        assert [v for _, _, v in h.series("6-TG", "QCL")] == [250.0, 248.0, 251.0, 252.0]
    assert not adopt_run(hist, "plate3", "plate3@0123456789ab")  # nothing to take over
    # a run that fails before it is measured (the guard never called) changes nothing
    with pytest.raises(KeyboardInterrupt), guarded_history(hist):
        raise KeyboardInterrupt
    assert _ids(hist) == ["plate1", "plate1", "plate2", "plate2"]


def test_a_review_keeps_the_runs_key(lab, sample_batch, review_users):
    from thioquant.review.session import ReviewSession

    batch = sample_batch("lcmsms", lab / "share" / "plate1")
    main(["quantify", str(batch), *FAST])
    hist = ROOT / "qc_history.sqlite"
    before = _ids(hist)
    s = ReviewSession(ROOT / "plate1", review_users)
    s.exclude(review_users.get("alice"), "CAL3", "6-TG", "pipetting error", rev=s.rev)
    assert s.batch.qc_run_id == before[0] and _ids(hist) == before  # the same run, not a second one
