"""Run the thioquant command line in process, as the tests of a signed or decided run need it."""

from __future__ import annotations


def cli_exit_code(args: list[str]) -> int:
    """``thioquant ARGS`` in this process; its exit code (0 when it returns normally)."""
    from thioquant.cli import main

    try:
        main(args)
    except SystemExit as exc:
        return exc.code or 0
    return 0
