"""``thioquant quantify``: a batch folder in, results and a summary out."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("batch_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--method", "method", default=None, help="Method file or name (default: batch.toml's).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder (default: BATCH_DIR/results).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--overrides", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Manual integration CSV: sample_id, analyte, start_min, end_min, reason.")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Worker processes for reading and integrating injections.")
@click.option("--strict", is_flag=True, help="Exit with code 1 when the run is rejected.")
@click.option("--quiet", is_flag=True, help="Print only the verdict line.")
def quantify(batch_dir: Path, method: str | None, out_dir: Path | None, force: bool, overrides: Path | None,
             jobs: int, strict: bool, quiet: bool) -> None:
    """Quantify BATCH_DIR (worklist.csv + raw files) and write results to the output folder."""
    from thioquant.pipeline import quantify as run_quantify
    from thioquant.report.summary import summary_text
    from thioquant.report.writer import write_outputs

    out = out_dir or batch_dir / "results"
    if out.exists() and not force:
        # Fail before the work, not after it.
        from thioquant.errors import OutputError

        raise OutputError("output folder already exists; use --force to replace it or --out to choose another", path=out)
    batch = run_quantify(batch_dir, method, overrides=overrides, jobs=jobs)
    write_outputs(batch, out, force=force)
    click.echo(summary_text(batch, out, quiet=quiet, color=sys.stdout.isatty()))
    if strict and not batch.accepted:
        sys.exit(1)
