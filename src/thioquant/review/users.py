"""The local user file of the review: names, roles and password hashes (argon2id).

A JSON file (default ``~/.config/thioquant/users.json``, or ``THIOQUANT_USERS``, or ``--users``)::

    {"schema": "thioquant.users/1",
     "users": {"alice": {"role": "analyst", "full_name": "Alice A.", "hash": "$argon2id$...",
                         "created": "2026-..."}}}

Passwords are hashed with argon2-cffi's :class:`~argon2.PasswordHasher` (a kept library, not a
hand-written scheme); the file never holds a password. It is written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thioquant.errors import InputError, ReviewError

ROLES = ("analyst", "authoriser")
SCHEMA = "thioquant.users/1"
MIN_PASSWORD = 8
ENV = "THIOQUANT_USERS"


def default_users_path() -> Path:
    """``THIOQUANT_USERS`` when set, else ``~/.config/thioquant/users.json``."""
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    return Path.home() / ".config" / "thioquant" / "users.json"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    full_name: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"user": self.name, "role": self.role, "full_name": self.full_name or self.name}


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


class UserStore:
    """The users of one lab, read from and written to ``path``."""

    def __init__(self, path: str | Path | None = None, hasher: Any = None) -> None:
        self.path = Path(path) if path is not None else default_users_path()
        #: argon2's PasswordHasher with its default (RFC 9106 low-memory) parameters; a stored
        #: hash carries its own parameters, so a hasher with other ones still verifies it
        self.hasher = hasher or _hasher()

    def _load(self) -> dict[str, Any]:
        if not self.path.is_file():
            return {"schema": SCHEMA, "users": {}}
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the user file: {exc}", path=self.path) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("users"), dict):
            raise InputError("not a thioquant user file (no 'users' object)", path=self.path)
        return doc

    def users(self) -> list[User]:
        return [User(n, u.get("role", ""), u.get("full_name", "")) for n, u in sorted(self._load()["users"].items())]

    def get(self, name: str) -> User | None:
        u = self._load()["users"].get(name)
        return None if u is None else User(name, u.get("role", ""), u.get("full_name", ""))

    def add(self, name: str, role: str, password: str, full_name: str = "", *, replace: bool = False) -> User:
        """Add (or with ``replace``, change) a user; the password is stored as an argon2id hash."""
        name = name.strip()
        if not name or any(c.isspace() for c in name):
            raise InputError(f"user name {name!r} must be one word")
        if role not in ROLES:
            raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise InputError(f"the password must have at least {MIN_PASSWORD} characters")
        doc = self._load()
        if name in doc["users"] and not replace:
            raise InputError(f"user {name!r} exists (use --replace to change the role or password)",
                             path=self.path)
        doc["users"][name] = {"role": role, "full_name": full_name or name, "hash": self.hasher.hash(password),
                              "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        self._write(doc)
        return User(name, role, full_name or name)

    def _write(self, doc: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=1, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def authenticate(self, name: str, password: str) -> User:
        """The user when ``password`` is theirs; :class:`ReviewError` otherwise (the same
        message for an unknown user and a wrong password)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        u = self._load()["users"].get(name)
        if u is None:
            self.hasher.hash(password)  # about the same time as a real check: no user enumeration
            raise ReviewError("unknown user or wrong password")
        try:
            self.hasher.verify(u["hash"], password)
        except (VerificationError, InvalidHashError):
            raise ReviewError("unknown user or wrong password") from None
        return User(name, u.get("role", ""), u.get("full_name", ""))
