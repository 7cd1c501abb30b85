"""Secrets a stack home keeps: each made at random the first time it is asked for and kept in a
file only its owner can read, so `make run` finds the same ones after a restart while a fresh
home (a test run) gets fresh ones."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def secret_path(home: Path, name: str) -> Path:
    return home / "secrets" / name


def kept_secret(home: Path, name: str, length_bytes: int = 32) -> str:
    """The secret `name` of this home; made now if it has none. URL-safe characters only, so it
    goes into a DSN or an environment variable as it is."""
    path = secret_path(home, name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        # Created 0600 from the start: never readable by others, not even for a moment.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this home made it a moment ago
            return path.read_text().strip()
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(length_bytes))
    return path.read_text().strip()
