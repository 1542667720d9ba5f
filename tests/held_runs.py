"""A run whose 6-TG calibration fails only because calibrators were set aside for a held
integration (``CAL_HELD``), built from the bundled LC-MS/MS batch.

CAL2, CAL4 and CAL6 were injected at 30 % of the volume: every 6-TG channel (quantifier,
qualifier, internal standard) is scaled by 0.3, so the internal-standard response is about 35 % of
the calibrator/QC mean (outside 50-150 %: the integration would be held) while the area ratio,
and so the back-calculated concentration, is right. With three of eight calibrators set aside the
curve fails ICH M10 (5/8 < 75 %, 5 levels < 6) and the run is rejected; a reviewer who looked at
the chromatograms and includes one of them makes it 6/8 and 6 levels: the curve passes.
CAL3's 6-MMP internal standard is cut to 30 % alone: its 6-MMP response reads 3.3x, so that
calibrator, set aside too, is one a reviewer should not put back (the accuracy rule takes it out).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LOW_VOLUME = ("CAL2", "CAL4", "CAL6")
TG_CHANNELS = (168.0, 171.0)  # 6-TG quantifier/qualifier and 6-TG-IS precursors
MMP_IS = 170.0


def _scale(f: Path, precursors: tuple[float, ...], factor: float) -> None:
    from thioquant.io import read_run
    from thioquant.io.mzml import write_mzml

    run = read_run(f)
    traces = [replace(tr, signal=np.asarray(tr.signal, dtype=float) * factor)
              if tr.channel.precursor_mz in precursors else tr for tr in run.traces]
    f.unlink()
    write_mzml(f, traces, metadata=dict(run.metadata))


def held_batch(dst: Path) -> Path:
    """A copy of the bundled batch at ``dst`` with the damage described above."""
    shutil.copytree(REPO / "sample_data" / "lcmsms", dst,
                    ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
    for cal in LOW_VOLUME:
        _scale(next((dst / "raw").glob(f"*_{cal}.mzML")), TG_CHANNELS, 0.3)
    _scale(next((dst / "raw").glob("*_CAL3.mzML")), (MMP_IS,), 0.3)
    return dst


def held_run(tmp_path: Path) -> Path:
    """The damaged batch quantified into ``tmp_path/out`` (explicit --out); the output folder."""
    from thioquant.cli import main

    batch = held_batch(tmp_path / "held")
    out = tmp_path / "out"
    try:
        main(["quantify", str(batch), "--out", str(out), "--quiet", "--no-history"])
    except SystemExit as exc:  # a rejected run is written and exits 0 without --strict
        assert not exc.code, exc.code
    assert (out / "audit.jsonl").is_file()
    return out
