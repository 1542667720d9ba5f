"""A terminal progress bar for long batches (click.progressbar, only when attached to a TTY)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def batch_progress(enabled: bool, label: str = "Measuring injections") -> Iterator[Callable[[int, int], None] | None]:
    """Yield a ``progress(done, total)`` callback drawing a bar on stderr, or None when disabled.

    The bar is created on the first call (when the total is known) and closed on exit.
    """
    if not enabled:
        yield None
        return
    import click

    state: dict[str, Any] = {"bar": None, "done": 0}

    def progress(done: int, total: int) -> None:
        bar = state["bar"]
        if bar is None:
            bar = click.progressbar(length=total, label=label, file=sys.stderr,
                                    show_pos=True, show_eta=True, width=30)
            bar.__enter__()
            state["bar"] = bar
        bar.update(done - state["done"])
        state["done"] = done

    try:
        yield progress
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)


__all__ = ["batch_progress"]
