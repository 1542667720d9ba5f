"""``thioquant simulate``: write a simulated batch with its truth file."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--method", "method", default="thiopurines_lcmsms", show_default=True,
              help="Method file, or a method name in calibrations/.")
@click.option("--seed", default=20261122, show_default=True, help="Random seed (same seed, same bytes).")
@click.option("--patients", default=24, show_default=True, type=click.IntRange(1, 10000),
              help="Number of patient samples.")
@click.option("--force", is_flag=True,
              help="Replace a batch folder the simulator wrote, deleting with it what quantifying it left "
                   "there with earlier versions (thioquant output folders such as results/, the QC history, "
                   "the measurement cache; quantify now writes outside the batch folder), each named as it "
                   "goes; never a real batch, nor a folder holding anything else.")
@click.option("--noise", type=click.Choice(["default", "measured", "legacy"]), default="default", show_default=True,
              help="Detector noise: measured on real QTRAP and UV/DAD files (docs/noise.md), or the earlier "
                   "almost noiseless model; default: the simulator's DEFAULT_NOISE.")
def simulate(out_dir: Path, method: str, seed: int, patients: int, force: bool, noise: str) -> None:
    """Write a simulated batch (raw files, worklist.csv, truth.csv, batch.toml) to OUT_DIR."""
    from thioquant.simulate import DEFAULT_NOISE, simulate_batch

    def deleting(what: list[str]) -> None:
        click.echo(f"replacing the simulated batch {out_dir}: deleting " + ", ".join(what), err=True)

    path = simulate_batch(out_dir, method=method, seed=seed, n_patients=patients, overwrite=force,
                          noise=DEFAULT_NOISE if noise == "default" else noise, on_replace=deleting)
    n = len(list((path / "raw").iterdir()))
    click.echo(f"wrote {n} injections to {path} (seed {seed})")
