"""``thioquant release``: release an output folder by hand: patient history and LIS messages."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--patient-history", "history", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Patient history (default: the one the run was quantified with).")
@click.option("--to", "outbox", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="LIS outbox (default: the run's --lis-outbox; none: no messages).")
@click.option("--version", "version", type=click.IntRange(1), default=None,
              help="Output version (default: the signed version the folder is, else results.json's, else 1).")
@click.option("--by", "released_by", default=None, help="Who authorised the release (recorded).")
def release(out_dir: Path, history: Path | None, outbox: Path | None, version: int | None,
            released_by: str | None) -> None:
    """Record OUT_DIR's results in the patient history and write its LIS messages.

    For a corrected run released as a new version (--version 2), or a lab that releases by hand.
    A rejected run is released nowhere; results held for review are left out.
    """
    from thioquant.errors import InputError
    from thioquant.history import accepted, check_history_file, read_results
    from thioquant.lis.history import record_release

    if not accepted(read_results(out_dir)):
        raise InputError("the run was rejected: nothing of it is released", path=out_dir)
    if history is not None:
        check_history_file(history)
    done = record_release(out_dir, history, version=version, outbox=outbox, released_by=released_by)
    if done.history is None and done.lis is None:
        raise InputError("no patient history and no outbox: give --patient-history and/or --to")
    if done.history is not None:
        h = done.history
        click.echo(f"Patient history: {len(h.recorded)} sample(s) recorded as version {h.version}"
                   + (f", {len(h.unchanged)} already there" if h.unchanged else ""))
        for m in h.messages:
            click.secho(f"warning: {m}", fg="yellow", err=True)
    if done.lis is not None:
        e = done.lis
        click.echo(f"LIS: {len(e.written)} message(s) written"
                   + (f" ({len(e.corrections)} sample(s) as corrections)" if e.corrections else ""))
