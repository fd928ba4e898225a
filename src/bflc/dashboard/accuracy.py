"""Accuracy of each global model: the mean of what the node daemons measured.

Every ``bflc node`` with data evaluates each new global model on its own
local test data and writes a ``model_evaluated`` line (``blob``,
``accuracy``) to ``node.log`` in its state directory. The dashboard reads
those lines from the state directories under one folder (``bflc cluster``
puts them in ``DIR/nodes``) and reports, per model hash, the mean over the
nodes that measured it. It never downloads a model or holds data itself, so
it stays a read-only page that needs no training stack.

The logs are read incrementally (each file from where the last read
stopped), and the reports are kept per hash: a model's accuracy is taken
from the logs once, whichever round it appears in again (carried over,
failback).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

LOG_NAME = "node.log"
EVALUATED = "model_evaluated"


@dataclass(frozen=True)
class Accuracy:
    """The nodes' mean accuracy of one model and how many nodes reported it."""

    mean: float
    reports: int


class NodeReports:
    """Model accuracies from the daemons' logs under ``nodes_dir``.

    Parameters
    ----------
    nodes_dir:
        A folder whose subfolders are node state directories; ``None`` for
        no accuracies at all.
    """

    def __init__(self, nodes_dir: Path | None) -> None:
        self.nodes_dir = nodes_dir
        self._offsets: dict[Path, int] = {}
        self._by_hash: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        """``node-reports`` when a nodes folder is set, else ``none``."""
        return "none" if self.nodes_dir is None else "node-reports"

    def by_hash(self) -> dict[str, Accuracy]:
        """The mean reported accuracy of every model some node reported, by blob hash.

        It first reads what the logs gained since the last call.
        """
        with self._lock:
            self._read_new_lines()
            return {
                blob: Accuracy(mean=sum(reports.values()) / len(reports), reports=len(reports))
                for blob, reports in self._by_hash.items()
            }

    def _read_new_lines(self) -> None:
        if self.nodes_dir is None or not self.nodes_dir.is_dir():
            return
        for log in sorted(self.nodes_dir.glob(f"*/{LOG_NAME}")):
            try:
                with log.open("rb") as handle:
                    handle.seek(self._offsets.get(log, 0))
                    chunk = handle.read()
            except OSError:
                continue
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written is read next time
            self._offsets[log] = self._offsets.get(log, 0) + len(complete)
            for line in complete.splitlines():
                self._record(log.parent.name, line)

    def _record(self, node: str, line: bytes) -> None:
        try:
            entry = json.loads(line)
            if entry.get("event") == EVALUATED:
                self._by_hash.setdefault(str(entry["blob"]), {})[node] = float(entry["accuracy"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return
