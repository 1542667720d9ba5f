"""Command-line entry point: a lazy click group.

Each command lives in its own module under ``thioquant.cli`` and is imported only when it is
invoked, so ``thioquant --help`` stays instant. Errors from the ThioquantError hierarchy become
one-line messages with the class's exit code; nothing else reaches the user as a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import signal
import sys
import threading

import click

from thioquant import __version__
from thioquant.errors import ThioquantError

# command name -> (module, function, one-line help shown by --help without importing)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "quantify": ("thioquant.cli.quantify", "quantify", "Quantify a batch folder end to end."),
    "simulate": ("thioquant.cli.simulate", "simulate", "Write a simulated batch with its truth file."),
    "inspect": ("thioquant.cli.inspect", "inspect", "List the traces and metadata a raw file holds."),
    "peaks": ("thioquant.cli.peaks", "peaks", "Print every peak of a raw file with its metrics."),
    "interpret": ("thioquant.cli.interpret", "interpret", "Interpret a pair of 6-TGN / 6-MMP results."),
    "validate": ("thioquant.cli.validate", "validate", "Compute an ICH M10 validation package."),
    "audit": ("thioquant.cli.audit", "audit", "Verify an output folder's audit trail."),
    "export": ("thioquant.cli.export", "export", "Send an output folder's results to the LIS (HL7 v2, FHIR R4)."),
    "release": ("thioquant.cli.release", "release", "Release an output folder: patient history and LIS messages."),
    "history": ("thioquant.cli.history", "history", "A patient's released results over time (table, trend PNG)."),
    "review": ("thioquant.cli.review", "review", "Review, correct and sign a run in the browser."),
    "users": ("thioquant.cli.users", "users", "Add or list the users who review and sign."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, (mod, _, _) in COMMANDS.items() if importlib.util.find_spec(mod))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None or importlib.util.find_spec(entry[0]) is None:
            return None
        return getattr(importlib.import_module(entry[0]), entry[1])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][2]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="thioquant")
def cli() -> None:
    """thioquant: raw chromatograms to thiopurine metabolite results (pmol/8x10^8 RBC)."""


#: signals that stop a command like Ctrl-C (SIGINT), so that its clean-up runs: the default action
#: of SIGTERM or SIGHUP would end the process at once and leave the hidden staging folder behind
_STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGTERM", "SIGHUP")) if s)


def _install_stop_handlers(received: list[int]) -> dict[int, object]:
    """Make SIGTERM/SIGHUP raise KeyboardInterrupt in this process, noting each in ``received``;
    returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    pid = os.getpid()

    def stop(signum: int, frame: object) -> None:
        if os.getpid() != pid:  # a forked writer or worker: end as the signal would have ended it
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)
        raise KeyboardInterrupt

    return {s: signal.signal(s, stop) for s in _STOP_SIGNALS}


def _interrupted(received: list[int]) -> None:
    signum = received[-1] if received else signal.SIGINT
    click.echo(f"interrupted by {signal.Signals(signum).name}", err=True)
    sys.exit(128 + int(signum))  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: map thioquant errors to a message and exit code."""
    received: list[int] = []  # the stop signals this call has received
    previous = _install_stop_handlers(received)
    try:
        _main(argv, received)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)  # type: ignore[arg-type]


def _main(argv: list[str] | None, received: list[int]) -> None:
    try:
        cli.main(args=argv, prog_name="thioquant", standalone_mode=False)
    except ThioquantError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:  # click's form of KeyboardInterrupt
        _interrupted(received)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted(received)
    except Exception as exc:  # the last line of defence: no traceback reaches the user
        if os.environ.get("THIOQUANT_DEBUG"):
            raise
        click.secho(
            f"internal error: {type(exc).__name__}: {exc} (set THIOQUANT_DEBUG=1 for the traceback "
            "and please report it)",
            fg="red", err=True,
        )
        sys.exit(70)
