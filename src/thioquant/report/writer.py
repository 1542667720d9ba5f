"""Write a batch's output folder: results.csv, calibration.json, interpretation.csv, qc.csv,
messages.txt; all staged and renamed into place in one step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from thioquant.report.output import staged_output
from thioquant.report.tables import calibration_json, results_csv, table_csv

QC_COLUMNS = ["code", "analyte", "severity", "passed", "message"]


def write_outputs(
    batch: Any,
    out_dir: str | Path,
    *,
    force: bool = False,
    extra_text: Mapping[str, str] | None = None,
    finalise: Callable[[Path], None] | None = None,
) -> Path:
    """Write every output file of ``batch`` (a :class:`~thioquant.pipeline.BatchResult`).

    ``extra_text`` maps further file names to their text (the audit trail, for example); they are
    written into the same staged folder, so they appear atomically with the rest. ``finalise`` is
    called with the staged folder once every file is written and before it is renamed into place
    (the audit trail uses it to record the hash of every output file).
    """
    out = Path(out_dir)
    with staged_output(out, force=force) as stage:
        for name, text in (extra_text or {}).items():
            (stage / name).write_text(text, encoding="utf-8", newline="")
        (stage / "results.csv").write_text(results_csv(batch.results), encoding="utf-8", newline="")
        (stage / "calibration.json").write_text(
            calibration_json(batch.method, batch.calibrations), encoding="utf-8"
        )
        qc_rows = [
            {
                "code": o.code, "analyte": (o.details or {}).get("analyte", ""), "severity": o.severity,
                "passed": o.passed, "message": o.message,
            }
            for o in batch.qc_outcomes
        ]
        (stage / "qc.csv").write_text(table_csv(qc_rows, QC_COLUMNS), encoding="utf-8", newline="")
        if batch.interpretations:
            from thioquant.assay.interpret import INTERPRETATION_COLUMNS

            (stage / "interpretation.csv").write_text(
                table_csv(batch.interpretations, INTERPRETATION_COLUMNS), encoding="utf-8", newline=""
            )
        (stage / "messages.txt").write_text("".join(f"{m}\n" for m in batch.messages), encoding="utf-8")
        if finalise is not None:
            finalise(stage)
    return out
