"""``thioquant history``: a patient's released results over time, as a table and a trend figure."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("patient_id")
@click.option("--patient-history", "history", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              required=True, help="The lab's patient history file.")
@click.option("--png", "png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the trend (6-TGN, 6-MMPN, dose) into this PNG file (never overwritten).")
@click.option("--profile", default="default", show_default=True,
              help="Interpretation profile whose ranges the figure shows.")
def history(patient_id: str, history: Path, png: Path | None, profile: str) -> None:
    """List PATIENT_ID's released results, oldest first (with --pseudonymise: the pseudonym)."""
    from thioquant.errors import InputError, OutputError
    from thioquant.history import check_history_file, patient_series

    check_history_file(history)
    points = patient_series(history, patient_id)
    if not points:
        raise InputError(f"no released result of patient {patient_id!r}", path=history)
    click.echo(f"{'collected':<12} {'batch':<16} {'sample':<12} {'v':>2} {'dose mg':>8} {'6-TGN':>12} "
               f"{'6-MMPN':>12}  {'family':<9} event / category")
    for p in points:
        vals = p.get("values") or {}
        dose = p.get("dose_mg")
        click.echo(f"{str(p.get('collected_at') or '-'):<12} {str(p['batch'])[:16]:<16} {str(p['sample_id'])[:12]:<12} "
                   f"{p['version']:>2} {(f'{dose:g}' if dose is not None else '-'):>8} "
                   f"{(vals.get('6-TGN') or {}).get('text', '-'):>12} {(vals.get('6-MMPN') or {}).get('text', '-'):>12}"
                   f"  {str(p.get('method_family') or ''):<9} {p.get('therapy_event') or ''} {p.get('category') or ''}")
    if png is not None:
        if png.exists():
            raise OutputError("exists; choose another file name", path=png)
        from thioquant import plot
        from thioquant.assay.interpret import load_profile

        prof = load_profile(profile)
        fig = plot.patient_trend(points, {"tgn_low": prof.tgn_low, "tgn_high": prof.tgn_high,
                                          "mmp_high": prof.mmp_high}, title=f"{patient_id} ({prof.name})")
        try:
            with open(png, "xb") as fh:
                fh.write(plot.to_png(fig))
        except OSError as exc:
            raise OutputError(f"cannot be written ({exc.strerror or exc})", path=png) from exc
        click.echo(f"Trend written to {png}")
