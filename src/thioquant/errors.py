"""One small exception hierarchy; the CLI maps each class to a message and an exit code."""

from __future__ import annotations

from pathlib import Path


class ThioquantError(Exception):
    """Base class of every error thioquant raises on purpose."""

    exit_code = 1

    def __init__(
        self,
        reason: str,
        *,
        path: str | Path | None = None,
        row: int | str | None = None,
        key: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = None if path is None else str(path)
        self.row = row
        self.key = key
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.key:
            where.append(f"key '{self.key}'")
        return f"{': '.join(where)}: {self.reason}" if where else self.reason


class InputError(ThioquantError):
    """A raw file, worklist or override file that cannot be used as given."""

    exit_code = 2


class MethodError(ThioquantError):
    """A method or profile file that is missing, malformed or out of range."""

    exit_code = 3


class CalibrationError(ThioquantError):
    """A calibration that cannot be fitted or evaluated (too few usable calibrators...)."""

    exit_code = 4


class OutputError(ThioquantError):
    """An output location that would be overwritten or cannot be written."""

    exit_code = 5


class ReviewError(ThioquantError):
    """A review action refused: a wrong password, a user without the role, the same person
    authorising what they reviewed, an edit made on a stale view, a signed version to replace."""

    exit_code = 7
