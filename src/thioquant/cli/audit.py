"""``thioquant audit verify OUT_DIR``: check an output folder's hash-chained audit trail."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group()
def audit() -> None:
    """Audit-trail commands."""


@audit.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def verify(out_dir: Path) -> None:
    """Verify OUT_DIR/audit.jsonl: the hash chain, and every output file against its recorded hash."""
    from thioquant.audit import verify as check

    result = check(out_dir)
    if result.ok:
        click.echo(f"audit trail intact: {result.entries} entries, every output file matches its hash")
        return
    click.secho(f"audit trail BROKEN ({len(result.problems)} problem(s)):", fg="red", err=True)
    for p in result.problems:
        click.echo(f"  - {p}", err=True)
    sys.exit(6)
