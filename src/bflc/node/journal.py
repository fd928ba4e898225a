"""The node's structured log: one JSON line per action, echoed for humans.

Each line of ``node.log`` is an object with ``time`` (UTC, ISO 8601),
``level`` (``info``, ``warning`` or ``error``), ``event`` (a stable name such
as ``update_submitted``), ``message`` (one readable sentence) and the
event's fields (``round``, ``update_id``, ``blob``, ...).

No secret leaves the node through it: every string of a line (the message
and each field, however deeply nested) has its URLs redacted
(:func:`redacted`; an exception's text often quotes the RPC or store URL
with its credentials).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from bflc.redact import redact_text

LEVELS = ("info", "warning", "error")


def redacted(value: Any) -> Any:
    """``value`` with every string in it (in lists, tuples and dict values too) passed through :func:`redact_text`."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    return value


class Journal:
    """Writes structured log lines to a file and a short form to a stream.

    Parameters
    ----------
    path:
        The JSON-lines file, appended to (``None``: no file).
    echo:
        Where the readable form goes (``None``: nowhere).
    """

    def __init__(self, path: Path | None, echo: TextIO | None = sys.stderr) -> None:
        self.path = path
        self.echo = echo

    def event(self, event: str, message: str, level: str = "info", **fields: Any) -> None:
        """Record one action.

        Parameters
        ----------
        event:
            Stable machine-readable name, e.g. ``scores_submitted``.
        message:
            What happened, in one sentence.
        level:
            ``info``, ``warning`` or ``error``.
        **fields:
            JSON-serialisable details.
        """
        if level not in LEVELS:
            raise ValueError(f"unknown log level {level!r}")
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        message = redact_text(message)
        record = {"time": stamp, "level": level, "event": event, "message": message, **redacted(fields)}
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record, default=str) + "\n")
        if self.echo is not None:
            prefix = "" if level == "info" else f"{level}: "
            print(f"{time.strftime('%H:%M:%S', time.localtime(now))} {prefix}{message}", file=self.echo, flush=True)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every record of a ``node.log`` file (skipping a torn last line)."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
