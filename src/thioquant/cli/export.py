"""``thioquant export``: an output folder's released results out to the LIS (HL7 v2, FHIR R4)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--hl7", "hl7", is_flag=True, help="Write HL7 v2.5.1 ORU^R01 messages (.hl7).")
@click.option("--fhir", "fhir", is_flag=True, help="Write FHIR R4 Bundles (.fhir.json).")
@click.option("--to", "outbox", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Outbox folder the LIS interface reads (never inside OUT_DIR).")
@click.option("--version", "version", type=click.IntRange(1), default=None,
              help="Output version (default: the one results.json names, else 1).")
@click.option("--patient-history", "history", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Patient history: record what was sent; earlier versions sent make this a correction.")
def export(out_dir: Path, hl7: bool, fhir: bool, outbox: Path, version: int | None, history: Path | None) -> None:
    """Write one message per patient sample of OUT_DIR into the outbox (--hl7 and/or --fhir).

    A rejected run is never sent; results held for review are left out; a sample already sent
    in an earlier version goes out as a correction; an existing message is never overwritten.
    """
    from thioquant.errors import InputError
    from thioquant.lis.export import export_lis

    formats = [f for f, on in (("hl7", hl7), ("fhir", fhir)) if on]
    if not formats:
        raise InputError("choose --hl7 and/or --fhir")
    if history is not None:
        from thioquant.history import check_history_file

        check_history_file(history)
    s = export_lis(out_dir, outbox, formats=formats, version=version, history=history)
    click.echo(f"{len(s.written)} message(s) written to {outbox}"
               + (f", {len(s.already)} already there (not rewritten)" if s.already else "")
               + (f", {len(s.corrections)} sample(s) sent as corrections" if s.corrections else ""))
    for m in s.messages:
        click.echo(f"  {m}")
