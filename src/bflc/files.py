"""Writing files so that they appear whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomically(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` through a temporary file, fsync and a rename.

    A crash leaves either the old file or the new one, never a partial file;
    the directory is fsynced too, so the rename survives a power loss.

    Raises
    ------
    OSError
        If the directory does not exist or the write fails (no temporary file
        is left behind).
    """
    path = Path(path)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as temp:
            os.fchmod(temp.fileno(), mode)  # mkstemp makes 0600
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


def json_bytes(document: Any) -> bytes:
    """``document`` as the JSON bflc keeps on disk: sorted keys, one-space indent, a final newline."""
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("utf-8")
