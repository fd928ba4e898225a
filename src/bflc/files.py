"""Writing files so that they appear whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


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


# Bytes that never open or close structure and never follow a backslash in a
# string: dropped first, so that the scan below looks at little more than
# strings, brackets and words.
_NUMBERS_AND_SPACE = b"0123456789.,:+-eE \t\r\n"
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_LETTER = re.compile(rb"[A-Za-z]")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_structure(data: bytes) -> tuple[int, bool]:
    """How deep the arrays and objects of the JSON text ``data`` nest, and whether it holds a bare word.

    A scan without parsing, for text from someone else: Python's JSON parser
    recurses once per level, and in a process whose recursion limit was raised
    (py_ecc, which web3 imports, sets it to 100,000) a deep enough text
    overflows the C stack instead of raising an error. Brackets and letters
    inside strings do not count; a bare word is ``true``, ``false``,
    ``null``, ``NaN``, ``Infinity`` or any other unquoted letters.

    >>> json_structure(b'{"a": [[1, 2], {"b": "[[[x"}], "c": true}')
    (3, True)
    """
    skeleton = _STRING.sub(b"", data.translate(None, _NUMBERS_AND_SPACE))
    brackets = np.frombuffer(skeleton.translate(None, _NOT_BRACKETS), np.uint8)
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    depth = int(np.cumsum(steps).max()) if steps.size else 0
    return max(depth, 0), _LETTER.search(skeleton) is not None
