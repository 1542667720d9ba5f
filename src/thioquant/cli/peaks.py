"""``thioquant peaks FILE``: every peak of a raw file with its metrics."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from thioquant.errors import InputError


def peak_record(pk: Any) -> dict[str, Any]:
    """JSON-ready dict of a :class:`~thioquant.model.Peak` (short keys first; NaN/inf -> null)."""
    d = pk.as_dict()
    out: dict[str, Any] = {
        "trace": d.pop("trace"),
        "rt": d.pop("rt_min"),
        "start": d.pop("start_min"),
        "end": d.pop("end_min"),
        "area": d.pop("area"),
        "height": d.pop("height"),
        "sn": d.pop("sn"),
    }
    out.update(d)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def _g(x: Any, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "inf" if isinstance(x, float) and math.isinf(x) else ""
    return format(x, spec)


@click.command("peaks")
@click.argument("file", type=click.Path(exists=False, dir_okay=True))
@click.option("--trace", "trace_name", default=None, help="Only this trace (default: every trace).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of peaks.")
@click.option("--sn-min", type=float, default=3.0, show_default=True, help="Minimum S/N.")
@click.option(
    "--baseline",
    type=click.Choice(["local", "arpls", "asls", "snip", "none"]),
    default="local",
    show_default=True,
    help="Local drop line or a global pybaselines baseline.",
)
@click.option(
    "--fused",
    type=click.Choice(["auto", "drop", "valley", "skim", "exp_skim", "deconvolve"]),
    default="auto",
    show_default=True,
    help="Rule for overlapping peaks.",
)
@click.option(
    "--detect",
    type=click.Choice(["sn", "events"]),
    default="sn",
    show_default=True,
    help="Accept peaks by S/N, or vendor-like by height/area reject (docs/peaks.md).",
)
@click.option("--height-reject", type=float, default=None,
              help="With --detect events: minimum height, signal units (default: 5 noise SDs).")
@click.option("--area-reject", type=float, default=0.0, show_default=True,
              help="With --detect events: minimum area, signal x minutes.")
@click.option("--blank", "blank_file", type=click.Path(exists=False, dir_okay=True), default=None,
              help="A blank injection: each peak's S/N noise is measured in its trace of the same "
                   "name, around the peak (USP <621>).")
def peaks(file: str, trace_name: str | None, as_json: bool, sn_min: float, baseline: str,
          fused: str, detect: str, height_reject: float | None, area_reject: float,
          blank_file: str | None) -> None:
    """Print every peak of FILE with its metrics (times in minutes, area in signal x min)."""
    from thioquant.io import read_run
    from thioquant.peaks import find_peaks

    run = read_run(file)
    traces = run.traces
    if trace_name is not None:
        traces = tuple(t for t in traces if t.name == trace_name)
        if not traces:
            raise InputError(f"no trace '{trace_name}'; have {[t.name for t in run.traces]}",
                             path=file)
    else:
        traces, skipped = run.peak_traces()
        if skipped:
            click.echo(f"note: {', '.join(skipped)} not analysed: the sum over MRM transitions is no "
                       "chromatogram (--trace to analyse it)", err=True)
    blanks = {}
    if blank_file is not None:
        blanks = {t.name: t for t in read_run(blank_file).traces if len(t) >= 3}
        lacking = [t.name for t in traces if t.name not in blanks]
        if lacking:
            click.echo(f"warning: {blank_file} has no trace {', '.join(lacking)}: their noise is "
                       "measured in the sample", err=True)
    found = []
    for tr in traces:
        if len(tr) < 3:
            continue
        found.extend(find_peaks(tr, sn_min=sn_min, baseline=baseline, fused=fused, detect=detect,
                                height_reject=height_reject, area_reject=area_reject,
                                blank=blanks.get(tr.name)))
    if as_json:
        click.echo(json.dumps([peak_record(p) for p in found], indent=1))
        return
    header = ["trace", "rt", "start", "end", "area", "height", "S/N", "w50", "plates", "sym",
              "area%", "integ", "flags"]
    rows = [
        [p.trace[:28], _g(p.rt_min, ".3f"), _g(p.start_min, ".3f"), _g(p.end_min, ".3f"),
         _g(p.area), _g(p.height), _g(p.sn, ".1f"), _g(p.width_50_min, ".4f"),
         _g(p.plates_usp, ".0f"), _g(p.symmetry_usp, ".2f"), _g(p.area_pct, ".2f"),
         p.integration, ",".join(p.flags)]
        for p in found
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, ["-" * w for w in widths], *rows]]
    click.echo("\n".join(lines))
    click.echo(f"{len(found)} peak(s) in {len(traces)} trace(s); area in signal x minutes")
