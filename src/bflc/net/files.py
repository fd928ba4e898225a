"""Writing files so that they appear whole or not at all."""

from __future__ import annotations

from pathlib import Path

from bflc.errors import ConfigError
from bflc.files import write_atomically


def atomic_write(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A crash leaves either the old file or the new one, never a partial file.

    Raises
    ------
    ConfigError
        If the directory does not exist or is not writable.
    """
    try:
        return write_atomically(path, data, mode)
    except OSError as error:
        raise ConfigError(
            f"cannot write {path}: {error}", "check that its directory exists and is writable, and free disk space"
        ) from None
