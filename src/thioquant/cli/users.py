"""``thioquant users add NAME --role analyst|authoriser``: the local user file of the review."""

from __future__ import annotations

import sys
from pathlib import Path

import click

USERS_OPTION = click.option("--users", "users_file", type=click.Path(dir_okay=False, path_type=Path),
                            default=None, envvar="THIOQUANT_USERS",
                            help="User file (default ~/.config/thioquant/users.json).")


@click.group()
def users() -> None:
    """Users who may edit and sign in ``thioquant review``."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["analyst", "authoriser"]), required=True)
@click.option("--full-name", default="", help="Printed name shown with the signature (default: NAME).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@click.option("--replace", is_flag=True, help="Change the role or password of an existing user.")
@USERS_OPTION
def add(name: str, role: str, full_name: str, password_stdin: bool, replace: bool, users_file: Path | None) -> None:
    """Add user NAME with ROLE; the password (prompted twice, or read from stdin) is stored as an
    argon2id hash."""
    from thioquant.review.users import UserStore

    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = UserStore(users_file)
    user = store.add(name, role, password, full_name, replace=replace)
    click.echo(f"user {user.name} ({user.role}) saved in {store.path}")


@users.command("list")
@USERS_OPTION
def list_users(users_file: Path | None) -> None:
    """List the users and their roles (never a password or hash)."""
    from thioquant.review.users import UserStore

    store = UserStore(users_file)
    for u in store.users():
        click.echo(f"{u.name}\t{u.role}\t{u.full_name}")
