"""The short terminal summary printed by ``thioquant quantify``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from thioquant.flags import FLAGS


def _num(v: float, digits: int = 4) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"


def summary_text(batch: Any, out_dir: Path | None = None, *, quiet: bool = False, color: bool = False,
                 pseudonymised: bool = False) -> str:
    """Run verdict, calibration per analyte, QC pass rate and patient results, as text
    (``pseudonymised``: the review command named at the end needs the run's key)."""

    def style(text: str, **kw: Any) -> str:
        return click.style(text, **kw) if color else text

    v = batch.verdict
    verdict = "ACCEPTED" if batch.accepted else "REJECTED"
    head = style(f"Run {verdict}", fg="green" if batch.accepted else "red", bold=True)
    rule = getattr(v, "deciding_rule", "") or ""
    from thioquant.report.content import held_rows, held_text

    held = held_rows(batch)
    n_held = held_text(len(held))
    lines = [(f"{head}: {rule}" if rule else head) + (f"; {style(n_held, fg='magenta', bold=True)}" if held else "")]
    if quiet:
        return lines[0]
    if held:  # first: these must not be released as they stand
        lines.append(style("Held for review (not interpreted; see report.html):", fg="magenta", bold=True))
        for h in held[:20]:
            val = _num(h["value"], 5)
            lines.append(f"  {h['sample_id']:8s} {h['analyte']:6s} {val:>10s} {h['unit']:16s} {h['reasons']}")
        if len(held) > 20:
            lines.append(f"  ... and {len(held) - 20} more (report.html, results.json)")
    outcomes = list(getattr(v, "outcomes", ()) or ())
    evaluated = [o for o in outcomes if o.evaluated]
    if batch.accepted:
        n_pass = sum(1 for o in evaluated if o.passed)
        lines.append(f"  {n_pass}/{len(evaluated)} QC rules passed (details in qc.csv)")
    else:
        for reason in list(getattr(v, "reasons", []) or [])[:8]:
            lines.append(f"  - {reason}")
    for warning in list(getattr(v, "warnings", ()) or ())[:8]:
        lines.append("  " + style(f"warning: {warning}", fg="yellow"))
    # Rules that could not be evaluated (no Westgard target yet, no blank after the top
    # calibrator...) are neither passes nor failures: one line per reason code.
    skipped: dict[str, list[Any]] = {}
    for o in outcomes:
        if not o.evaluated:
            skipped.setdefault(o.code, []).append(o)
    if skipped:
        lines.append("  " + style("not evaluated (does not count against the run):", fg="cyan"))
    for code, group in list(skipped.items())[:8]:
        text = f"{code}: {group[0].message}" if len(group) == 1 else \
            f"{len(group)} x {code}: {FLAGS.get(code, group[0].message)}"
        lines.append("    " + style(text, fg="cyan"))
    m = batch.method
    lines.append(f"Method: {m.name} ({Path(m.source).name})")
    lines.append("Calibration:")
    for name, oc in batch.calibrations.items():
        if oc is None:
            lines.append(f"  {name:8s} not calibrated")
            continue
        cal = oc.calibration
        n_in = sum(p.included for p in oc.points)
        lines.append(
            f"  {name:8s} {cal.model}, {cal.weighting}: r^2 {cal.r2:.5f}, {n_in}/{len(oc.points)} calibrators, "
            f"range {_num(oc.lloq)}-{_num(oc.uloq)} {m.conc_unit} "
            + style("pass" if oc.passed else "FAIL", fg="green" if oc.passed else "red")
        )
    qcs = [r for r in batch.results if r.sample_type == "qc"]
    if qcs:
        # the QC rule's own limits (QC_FAIL marks a QC outside its level's tolerance, the LLOQ
        # QC's being wider), not the calibrators': a run rejected at +/-1 % printed "12/12 within
        # +/-15 %"
        from thioquant.report.content import qc_tolerance_text

        ok = sum(1 for r in qcs if math.isfinite(r.accuracy_pct) and "QC_FAIL" not in r.flags)
        lines.append(f"QC: {ok}/{len(qcs)} within +/-{qc_tolerance_text(batch)} %")
    if batch.interpretations:
        lines.append(f"Patients ({m.reported_unit}):")
        lines.append(f"  {'sample':8s} {'6-TGN':>12s} {'6-MMPN':>12s} {'ratio':>6s}  category")
        # rows the worklist made unusable (a file named by 10,000 rows...) are in interpretation.csv
        unusable = {e.sample_id for e in getattr(getattr(batch, "worklist", None), "entries", ()) if not e.usable}
        shown = [it for it in batch.interpretations if it["sample_id"] not in unusable]
        if len(shown) < len(batch.interpretations):
            lines.append(f"  ({len(batch.interpretations) - len(shown)} patient row(s) not used, flagged in the "
                         "worklist, not listed: see messages.txt and interpretation.csv)")
        for it in shown:
            lines.append(
                f"  {it['sample_id']:8s} {it['tgn_pmol_8e8']:>12s} {it['mmp_pmol_8e8']:>12s} "
                f"{it['ratio'] or '-':>6s}  {it['category']}"
            )
    # the measurement cache's statistic and notes are about the cache, not the input
    n_msg = sum(not m.startswith("measurement cache ") for m in batch.messages)
    if n_msg:
        lines.append(f"{n_msg} message(s) about the input: see messages.txt")
    if out_dir is not None:
        report = Path(out_dir) / "report.html"
        tail = f" (open {report} to read the report)" if report.is_file() else ""
        lines.append(f"Results written to {out_dir}{tail}")
        key = " --pseudonym-key KEY (this run's key, or THIOQUANT_PSEUDONYM_KEY)" if pseudonymised else ""
        lines.append(f"Review, correct and sign in the browser: thioquant review {out_dir}{key}")
    return "\n".join(lines)
