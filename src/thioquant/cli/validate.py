"""``thioquant validate``: judge a method-validation package (or simulate one with ``--simulate``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("package_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--method", "method", default=None,
              help="Method file or name in calibrations/ (default: the one package.toml names).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where validation.html and validation.xlsx go, outside the package (default: "
                   "thioquant-results/validation/PACKAGE in the current folder, or under $THIOQUANT_RESULTS).")
@click.option("--force", is_flag=True, help="Replace existing reports (or, with --simulate, an existing package).")
@click.option("--cache", "cache", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite measurement cache shared by the runs (re-validation re-measures only what changed).")
@click.option("--simulate", is_flag=True,
              help="Write a simulated validation package to PACKAGE_DIR instead of validating one.")
@click.option("--fail", "fail", default="", metavar="LIST",
              help="With --simulate: deliberate failures, comma-separated (accuracy, precision, carryover, "
                   "selectivity, matrix, dilution, stability, isr).")
@click.option("--seed", default=20261122, show_default=True, help="With --simulate: random seed.")
@click.option("--design", "design", type=click.Choice(["full", "small"]), default="full", show_default=True,
              help="With --simulate: ICH M10-sized design, or a small one for quick looks.")
@click.option("--noise", type=click.Choice(["default", "measured", "legacy"]), default="default", show_default=True,
              help="With --simulate: detector noise (docs/noise.md).")
@click.option("--quiet", is_flag=True, help="Print only the verdict line.")
def validate(package_dir: Path, method: str | None, out_dir: Path | None, force: bool, cache: Path | None,
             simulate: bool, fail: str, seed: int, design: str, noise: str, quiet: bool) -> None:
    """Compute every ICH M10 experiment of PACKAGE_DIR, judge it and write validation.html/.xlsx.

    Exit code 0 when every experiment passes, 1 when any fails. With --simulate, write a
    simulated package to PACKAGE_DIR (for --method, default thiopurines_lcmsms) and stop.
    """
    if simulate:
        from thioquant.simulate import DEFAULT_NOISE
        from thioquant.validation import Design, simulate_package

        chosen = DEFAULT_NOISE if noise == "default" else noise
        cmd = (f"thioquant validate {package_dir.as_posix()} --simulate --method {method or 'thiopurines_lcmsms'} "
               f"--design {design} --seed {seed}" + (f" --fail {fail}" if fail else "")
               + (f" --noise {chosen}" if chosen != "legacy" else ""))
        path = simulate_package(package_dir, method=method or "thiopurines_lcmsms", seed=seed,
                                design=Design.small() if design == "small" else Design(),
                                failures=fail or None, overwrite=force, command=cmd, noise=chosen)
        n = sum(1 for _ in path.glob("runs/*/raw/*"))
        click.echo(f"wrote a validation package of {n} injections to {path} (seed {seed}"
                   + (f", failures: {fail}" if fail else "") + ")")
        return
    if fail:
        raise click.UsageError("--fail only applies with --simulate")
    if noise != "default":
        raise click.UsageError("--noise only applies with --simulate")
    from thioquant.errors import InputError, OutputError
    from thioquant.locations import default_validation_dir
    from thioquant.report.output import check_not_input, check_outside
    from thioquant.validation import validate_package

    if not package_dir.is_dir():
        raise InputError("validation package folder not found", path=package_dir)
    out = out_dir or default_validation_dir(package_dir)
    # never into the package (an input folder, perhaps on a read-only share)
    check_not_input(out, [(package_dir, "the validation package")])
    check_outside([(out, "the validation reports")], [(package_dir, "the validation package")],
                  hint="choose --out outside it" if out_dir else
                  "run thioquant from another folder, set THIOQUANT_RESULTS to a folder outside it, or give --out")
    if out.exists() and not out.is_dir():  # an output problem: exit 5, not click's usage error
        raise OutputError("exists and is not a folder; choose another --out", path=out)
    for name in ("validation.html", "validation.xlsx"):  # fail before the work, not after it
        if (out / name).exists() and not (out / name).is_file():
            raise OutputError("exists and is not a file; remove it or use --out to choose another folder",
                              path=out / name)
        if (out / name).exists() and not force:
            raise OutputError("exists; use --force to replace it or --out to choose another folder", path=out / name)
    report = validate_package(package_dir, method, cache=cache,
                              progress=None if quiet else (lambda line: click.echo(line, err=True)))
    html, xlsx = report.write(out, force=True)
    verdict = "PASSED" if report.passed else "FAILED"
    if not quiet:
        for row in report.summary_rows():
            state = row["result"]
            extra = f"  ({row['failed']})" if row["failed"] else ""
            click.echo(f"  {row['title']:<40} {state}{extra}")
        click.echo(f"Reports: {html} and {xlsx}")
    color = "green" if report.passed else "red"
    click.secho(f"Validation {verdict}" + ("" if report.passed else ": " + ", ".join(report.failed_experiments)),
                fg=color if sys.stdout.isatty() else None)
    if not report.passed:
        sys.exit(1)
