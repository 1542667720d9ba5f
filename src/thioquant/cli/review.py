"""``thioquant review BATCH_OR_OUTPUT_DIR``: review, correct and sign a run in the browser."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("target", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Print the URL only; do not open a browser.")
@click.option("--users", "users_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="THIOQUANT_USERS", help="User file (default ~/.config/thioquant/users.json).")
@click.option("--pseudonym-key", envvar="THIOQUANT_PSEUDONYM_KEY", default=None,
              help="The key a run was pseudonymised with (quantify --pseudonymise; or the "
                   "THIOQUANT_PSEUDONYM_KEY environment variable): the review shows pseudonyms only.")
@click.pass_context
def review(ctx: click.Context, target: Path, port: int, no_browser: bool, users_file: Path | None,
           pseudonym_key: str | None) -> None:
    """Open the review of TARGET (an output folder, or a batch folder: its results/ folder, which is
    quantified first when absent) on http://127.0.0.1 with a random token."""
    from thioquant.review.session import ReviewSession, find_output_dir
    from thioquant.review.users import UserStore

    out = find_output_dir(target)
    if not (out / "audit.jsonl").is_file():
        from thioquant.cli.quantify import quantify

        click.echo(f"{out} does not exist yet: quantifying {target} first")
        ctx.invoke(quantify, batch_dir=target, quiet=True)
    store = UserStore(users_file)
    if not store.users():
        click.secho(f"warning: no users in {store.path}; add them with 'thioquant users add NAME --role "
                    "analyst|authoriser' to edit and sign", fg="yellow", err=True)
    session = ReviewSession(out, store, pseudonym_key=pseudonym_key)
    from thioquant.review.app import ReviewServer

    server = ReviewServer(session, port=port)
    click.echo(f"Reviewing {out}\nOpen {server.url}\n(Ctrl-C to stop; the review journal keeps every action)")
    if not no_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        server.close()
