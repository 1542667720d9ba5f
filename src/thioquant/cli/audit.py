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
    """Verify OUT_DIR/audit.jsonl: the hash chain and its closing entry, and every file in OUT_DIR
    against its recorded hash; then the review journal and every signed version in
    OUT_DIR/versions (exit 6 when broken)."""
    from thioquant.audit import verify as check

    result = check(out_dir)
    if result.ok:
        if result.warnings:  # an older trail: say plainly which files it could not vouch for
            click.echo(f"audit trail intact: {result.entries} entries, every recorded output file matches its "
                       f"hash; {len(result.warnings)} file(s) not verified:")
            for w in result.warnings:
                click.echo(f"  - {w}", err=True)
            return
        click.echo(f"audit trail intact: {result.entries} entries, every output file matches its hash")
        versions = sorted(p.name for p in (out_dir / "versions").glob("v*")) if (out_dir / "versions").is_dir() else []
        if versions or (out_dir / "review").is_dir():
            click.echo(f"review journal intact; {len(versions)} signed version(s) verified"
                       + (f" ({', '.join(versions)}), each with its reviewed and authorised signatures"
                          if versions else ""))
        return
    click.secho(f"audit trail BROKEN ({len(result.problems)} problem(s)):", fg="red", err=True)
    for p in result.problems:
        click.echo(f"  - {p}", err=True)
    sys.exit(6)
