"""``thioquant inspect FILE``: list the traces, metadata and vendor peaks a raw file holds."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

import click


def run_summary(run: Any) -> dict[str, Any]:
    """A JSON-ready description of a :class:`~thioquant.model.Run` (no signal arrays)."""
    traces = []
    for tr in run.traces:
        n = len(tr)
        traces.append(
            {
                "name": tr.name,
                "channel": tr.channel.describe(),
                "channel_fields": {k: v for k, v in asdict(tr.channel).items() if v is not None},
                "points": n,
                "start_min": float(tr.time_min[0]) if n else None,
                "end_min": float(tr.time_min[-1]) if n else None,
                "sampling_interval_s": (tr.sampling_interval_min * 60.0) if n > 1 else None,
                "signal_unit": tr.signal_unit,
                "signal_min": float(tr.signal.min()) if n else None,
                "signal_max": float(tr.signal.max()) if n else None,
            }
        )
    peaks = [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(pk).items()}
        for pk in run.reference_peaks
    ]
    return {
        "source": run.source,
        "sha256": run.sha256,
        "format": run.format,
        "traces": traces,
        "metadata": _no_nan(dict(run.metadata)),
        "reference_peaks": peaks,
    }


def _no_nan(value: Any) -> Any:
    """``value`` with NaN floats as None at any depth (a result table's "n.a." cells), so that
    ``--json`` prints valid JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    right = {i for i, h in enumerate(header) if h in ("points", "start min", "end min", "dt s")}

    def fmt(r: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def _g(x: Any, spec: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return format(x, spec) if isinstance(x, int | float) else str(x)


@click.command("inspect")
@click.argument("file", type=click.Path(exists=False, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON description instead of tables.")
@click.option(
    "--wavelength",
    "-w",
    "wavelengths",
    type=float,
    multiple=True,
    help="Wavelength (nm) to extract from diode-array spectra; repeatable.",
)
@click.option(
    "--bandwidth",
    "bandwidth_nm",
    type=float,
    default=4.0,
    show_default=True,
    help="Band (nm) averaged around each --wavelength.",
)
@click.option(
    "--xic",
    "xics",
    multiple=True,
    metavar="MZ[:TOL[ppm|Da]]",
    help="Extracted-ion chromatogram from full-scan spectra, e.g. 168.034:10ppm.",
)
@click.option(
    "--max-peaks",
    type=int,
    default=50,
    show_default=True,
    help="Reference peaks to print (all are in --json).",
)
def inspect(
    file: str,
    as_json: bool,
    wavelengths: tuple[float, ...],
    bandwidth_nm: float,
    xics: tuple[str, ...],
    max_peaks: int,
) -> None:
    """List the traces, metadata and vendor peak tables FILE holds."""
    from thioquant.io import read_run

    options: dict[str, Any] = {}
    if wavelengths:
        options["wavelengths"] = list(wavelengths)
        options["bandwidth_nm"] = bandwidth_nm
    if xics:
        options["xic"] = [_parse_xic(x) for x in xics]
    run = read_run(file, **options)
    summary = run_summary(run)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
        return
    click.echo(f"{run.source}")
    click.echo(f"format: {run.format}    sha256: {run.sha256}")
    click.echo("")
    rows = [
        [
            t["name"],
            t["channel"],
            str(t["points"]),
            _g(t["start_min"], ".4f"),
            _g(t["end_min"], ".4f"),
            _g(t["sampling_interval_s"], ".4g"),
            t["signal_unit"],
        ]
        for t in summary["traces"]
    ]
    click.echo(f"{len(rows)} trace(s)")
    click.echo(_table(rows, ["name", "channel", "points", "start min", "end min", "dt s", "unit"]))
    if summary["metadata"]:
        click.echo("")
        click.echo("metadata")
        for k, v in summary["metadata"].items():
            text = v if isinstance(v, str) else json.dumps(v, default=str)
            click.echo(f"  {k}: {text if len(text) <= 100 else text[:97] + '...'}")
    peaks = summary["reference_peaks"]
    if peaks:
        click.echo("")
        units = sorted({p["area_unit"] for p in peaks if p["area_unit"]}) or ["unit unknown"]
        click.echo(
            f"{len(peaks)} reference peak(s) from the vendor (times in min, area in {', '.join(units)})"
        )
        by_injection = any(p.get("injection") for p in peaks)  # a result table of a sequence
        prow = [
            [
                *([p["injection"]] if by_injection else []),
                p["trace"],
                p["name"],
                _g(p["rt_min"], ".4f"),
                _g(p["start_min"], ".4f"),
                _g(p["end_min"], ".4f"),
                _g(p["area"], ".6g"),
                _g(p["height"], ".6g"),
                p["code"],
            ]
            for p in peaks[:max_peaks]
        ]
        click.echo(_table(prow, [*(["injection"] if by_injection else []),
                                 "trace", "name", "rt", "start", "end", "area", "height", "code"]))
        if len(peaks) > max_peaks:
            click.echo(f"... {len(peaks) - max_peaks} more (use --max-peaks or --json)")


def _parse_xic(text: str) -> tuple[float, float, str]:
    import re

    from thioquant.errors import InputError

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d+(?:\.\d+)?)\s*(ppm|da)?)?\s*", text, re.I)
    if not m:
        raise InputError(f"bad --xic '{text}': expected MZ[:TOL[ppm|Da]], e.g. 168.034:10ppm")
    tol = float(m.group(2)) if m.group(2) else 10.0
    unit = "Da" if (m.group(3) or "ppm").lower() == "da" else "ppm"
    return float(m.group(1)), tol, unit
