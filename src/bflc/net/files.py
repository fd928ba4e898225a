"""Writing files so that they appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from bflc.errors import ConfigError


def atomic_write(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A crash leaves either the old file or the new one, never a partial file.

    Raises
    ------
    ConfigError
        If the directory does not exist or is not writable.
    """
    path = Path(path)
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    except OSError as error:
        raise ConfigError(f"cannot write {path}: {error}", "check that its directory exists and is writable") from None
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), mode)
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        if isinstance(error, OSError):
            raise ConfigError(f"cannot write {path}: {error}", "check free disk space and that the path is not a directory") from None
        raise
    return path
