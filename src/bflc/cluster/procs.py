"""Detached processes that outlive the command that started them, found again and stopped by PID.

A PID alone can be reused by an unrelated process after ours exits, so each
record also keeps the process's start time (``/proc/PID/stat``, field 22):
a process is ours only if both match.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bflc.errors import ConfigError


@dataclass(frozen=True)
class ProcessRecord:
    """A process started by :func:`spawn`.

    Parameters
    ----------
    pid:
        Its process id (also its process group id).
    start_time:
        Its start time in clock ticks since boot (``None`` where ``/proc`` is missing).
    command:
        What was run.
    log:
        Where its stdout and stderr go.
    """

    pid: int
    start_time: int | None
    command: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object (``command`` as a list)."""
        return {**asdict(self), "command": list(self.command)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ProcessRecord:
        """The record that :meth:`to_json` wrote as ``doc``."""
        return cls(int(doc["pid"]), doc.get("start_time"), tuple(doc["command"]), str(doc["log"]))


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time) of ``pid`` from /proc, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name may hold spaces
    return fields[0], int(fields[19])


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, if /proc knows it."""
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def spawn(command: Sequence[str], log: Path, env: Mapping[str, str] | None = None) -> ProcessRecord:
    """Start ``command`` in its own session, its output appended to ``log``.

    In its own session, a Ctrl-C in the terminal does not reach it.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if env is None else dict(env),
        )
    return ProcessRecord(process.pid, start_time(process.pid), tuple(command), str(log))


def is_running(record: ProcessRecord) -> bool:
    """Whether the process of ``record`` still runs (a zombie child is reaped and counts as gone)."""
    stat = _proc_stat(record.pid)
    if stat is None:
        if record.start_time is not None:
            return False
        try:  # no /proc: fall back on signal 0
            os.kill(record.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    state, started = stat
    if record.start_time is not None and started != record.start_time:
        return False  # the PID was reused
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record.pid, os.WNOHANG)
        return False
    return True


def stop(records: Mapping[str, ProcessRecord], grace_seconds: float = 15.0) -> dict[str, str]:
    """Stop processes by PID: SIGTERM, then SIGKILL for those still running after the grace period.

    Each signal goes to the process group the process leads.

    Returns
    -------
    dict[str, str]
        Name -> ``"stopped"`` (exited after SIGTERM), ``"killed"`` or ``"not running"``.
    """
    outcome = {}
    for name, record in records.items():
        if is_running(record):
            _signal(record, signal.SIGTERM)
            outcome[name] = "stopped"
        else:
            outcome[name] = "not running"
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and any(is_running(records[n]) for n, o in outcome.items() if o == "stopped"):
        time.sleep(0.1)
    for name, result in outcome.items():
        if result == "stopped" and is_running(records[name]):
            _signal(records[name], signal.SIGKILL)
            outcome[name] = "killed"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_running(records[n]) for n, o in outcome.items() if o == "killed"):
        time.sleep(0.1)
    return outcome


def _signal(record: ProcessRecord, signum: int) -> None:
    """Signal the process's whole group (it leads one: see :func:`spawn`).

    That way a wrapper's children (npm's anvil launcher) go too.
    """
    try:
        os.killpg(record.pid, signum)
    except ProcessLookupError:
        pass
    except PermissionError as error:
        raise ConfigError(f"not allowed to signal process {record.pid}: {error}") from error
