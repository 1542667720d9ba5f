"""Five simulated runs of one patient (start, dose increase, hepatotoxic episode, stop,
re-introduction), built from the bundled LC-MS/MS batch: in each run one patient row of the
worklist is given to patient PT9001 with that visit's worklist columns."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATIENT = "PT9001"

#: (source sample whose raw file stands for the visit, worklist columns of the visit)
VISITS = [
    # (P016, P015, P013, P001, P018 until the bundled batch was regenerated with the measured
    # noise of 2026-12-05, which held P015's 6-MMP and put P018's 6-TG on the RCV; these rows tell
    # the same story; the values are those of the batch regenerated with the corrected dropouts)
    ("P003", {"collected_at": "2026-01-05", "dose_mg": "100", "therapy_event": "start",
              "therapy_start": "2025-12-08", "alt_x_uln": "0.8"}),                        # 151.1 / 2105
    ("P002", {"collected_at": "2026-02-16", "dose_mg": "150", "therapy_event": "",
              "alt_x_uln": "1.1"}),                                                        # 291.5 / 5395 (dose up)
    ("P013", {"collected_at": "2026-03-30", "dose_mg": "150", "therapy_event": "hepatotoxicity",
              "alt_x_uln": "5.6", "ast_x_uln": "3.2"}),                                   # 257.1 / 14057
    ("P001", {"collected_at": "2026-04-20", "dose_mg": "", "therapy_event": "stopped",
              "alt_x_uln": "1.9"}),                                                        # undetectable
    ("P016", {"collected_at": "2026-06-01", "dose_mg": "50", "therapy_event": "",
              "alt_x_uln": "1.0"}),                                                        # 185.3 / 1138 (restart)
]

EXTRA = ["collected_at", "therapy_event", "therapy_start", "alt_x_uln", "ast_x_uln"]


def method_with_delta(dst: Path, cvi_tgn: float = 20.0, cvi_mmp: float = 30.0) -> Path:
    """A copy of the LC-MS/MS method with the delta settings docs/history.md suggests: the
    analytical CV of Moon 2018 (8.1 %) and a within-subject CV (a lab's own figure: none is
    published; the shipped method sets neither)."""
    text = (REPO / "calibrations" / "thiopurines_lcmsms.toml").read_text(encoding="utf-8")
    text += ('\n[delta.cv_analytical_pct]\n"6-TG" = 8.1\n"6-MMP" = 8.1\n'
             f'\n[delta.cv_within_subject_pct]\n"6-TG" = {cvi_tgn}\n"6-MMP" = {cvi_mmp}\n')
    dst.write_text(text, encoding="utf-8")
    return dst


def make_run(k: int, root: Path, method: Path, *, history: Path | None = None, cache: Path | None = None) -> Path:
    """Batch folder ``root/run<k>`` (k = 1..5) for visit k."""
    source, cols = VISITS[k - 1]
    dst = root / f"run{k}"
    shutil.copytree(REPO / "sample_data" / "lcmsms", dst,
                    ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
    if cache is not None and cache.is_file():
        shutil.copy(cache, dst / ".thioquant-cache.sqlite")
    wl = dst / "worklist.csv"
    with open(wl, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0].keys()) + EXTRA
    for r in rows:
        for c in EXTRA:
            r.setdefault(c, "")
        if r["sample_id"] == source:
            r["patient_id"] = PATIENT
            r["drug"] = "azathioprine"
            r["weight_kg"] = "70"
            r.update(cols)
    with open(wl, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    lines = [f'method = "{method.as_posix()}"']
    if history is not None:
        lines.append(f'patient_history = "{history.as_posix()}"')
    (dst / "batch.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return dst
