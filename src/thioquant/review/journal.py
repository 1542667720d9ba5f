"""The review journal: ``OUT/review/journal.jsonl``, hash-chained and append-only.

Every action of a review is one line, written (and fsynced) before the screen shows its effect:
sign-ins, manual integrations and their removal, calibrator exclusions and inclusions, undo,
signatures and releases, each with the user, the time (UTC), the reason and the state before and
after. Lines are chained as in ``audit.jsonl`` (``seq``, ``prev``, ``hash``; see
:mod:`thioquant.audit`), and the first line records the sha256 of the output folder's
``audit.jsonl`` that the review started from. The review state is rebuilt by replaying the
journal, so a review interrupted (the browser closed, the server stopped) goes on where it was.
A signed version copies the journal's entries into its own sealed ``audit.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thioquant.audit import GENESIS, _canonical, _now, check_chain


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(body)).hexdigest()


class Journal:
    """Append-only, hash-chained JSON-lines file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.entries: list[dict[str, Any]] = read_journal(self.path) if self.path.is_file() else []

    @property
    def last_hash(self) -> str:
        return self.entries[-1]["hash"] if self.entries else GENESIS

    def append(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """Chain ``entry`` (``time`` added when absent) and append it durably; returns it."""
        body = {"time": _now(), **entry, "seq": len(self.entries), "prev": self.last_hash}
        full = {**body, "hash": _digest(body)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(full, sort_keys=True, ensure_ascii=False, default=str) + "\n"
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        self.entries.append(full)
        return full


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every entry of a journal, in order (no check: see :func:`verify_journal`)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def verify_journal(path: Path) -> list[str]:
    """Problems of a journal's hash chain (empty when intact), each naming the file and line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [f"{path}: cannot be read ({exc.strerror or exc})"]
    return [f"{path.name} {x}" for x in check_chain(raw)[1]]
